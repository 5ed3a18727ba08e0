"""The whole-suite canary: every key a unique random value, every command, every place a secret could land.

``tests/conftest.py`` already scans each ``cli(...)`` run's stdout and stderr and every file under each
test's home. It cannot cover ``--debug`` (it fails any run that prints a traceback), and it never looks at
the working directory or the temporary directory. This module runs a battery of commands that reaches every
exit code, ``-v``, ``--json``, ``--csv`` and ``--debug`` with bugs injected through a ``sitecustomize`` hook
(exceptions that carry the request's headers, so ``Authorization: Bearer <key>`` or Azure's ``api-key: <key>``,
raw, base64, hex, URL-encoded, chained, grouped and cut short), on every provider (OpenRouter, Ollama, OpenAI,
Azure OpenAI, Cloudflare Workers AI, Anthropic, Gemini, Bedrock), and after every run scans stdout, stderr and every file under
the home (the state file with its WAL and SHM), the working directory and ``TMPDIR`` for every canary in every
form the scanner knows. The scanner itself is tested first: a planted canary, in each form, must be found.
"""

from __future__ import annotations

import base64
import secrets
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llmroute.cli.failures import ExitStatus
from llmroute.keys import mask, redact
from tests.conftest import (
    ALL_SECRETS,
    ANTHROPIC_KEYS,
    AWS_ACCESS_KEY_IDS,
    AWS_SECRET_KEYS,
    AZURE_KEYS,
    CLOUDFLARE_ACCOUNTS,
    CLOUDFLARE_TOKENS,
    GEMINI_KEYS,
    OLLAMA_KEYS,
    OPENAI_KEYS,
    OR_KEYS,
    Cli,
    azure_env,
    find_leaks,
    keys_env,
    leaked_forms,
)
from tests.fakes import (
    BR_INVALID_TOKEN,
    ErrorResponse,
    FakeProvider,
    Reply,
    an_spend_limit,
    an_stream_error,
    anthropic_error,
    az_429,
    azure_error,
    bedrock_error,
    br_stream_exception,
    br_tokens_per_day,
    cf_3036,
    cf_error,
    error,
    gemini_error,
    gm_400_key_invalid,
    gm_429_per_day,
    hang,
    oa_401,
    oa_429_insufficient_quota,
    oa_429_rate_limit,
    oll_usage_limit,
    openai_error,
    or_401,
    or_daily_cap,
    reply,
    stream_reply,
)

MODEL = "openrouter:openai/gpt-4o-mini"

HOOK = '''
"""Injects bugs into llmroute for tests/test_canary.py; inert unless LLMROUTE_TEST_BUG is set."""
import base64
import os
import urllib.parse

BUG = os.environ.get("LLMROUTE_TEST_BUG", "")


def _auth(headers):
    """The credential a request carries: ``Authorization: Bearer <key>``, Azure's ``api-key: <key>``, Anthropic's
    ``x-api-key``, Gemini's ``x-goog-api-key``, or the AWS secret access key a SigV4 request was signed with."""
    for name in ("x-amz-secret-access-key", "Authorization", "authorization", "api-key", "x-api-key", "x-goog-api-key"):
        if headers.get(name):
            return headers[name]
    return ""


def _message(headers):
    value = _auth(headers)
    secret = value.removeprefix("Bearer ")
    return {
        "headers": f"injected bug: headers={headers!r}",
        "base64": f"injected bug: auth={base64.b64encode(value.encode()).decode()}",
        "urlsafe": f"injected bug: basic={base64.urlsafe_b64encode(('user:' + secret).encode()).decode()}",
        "hex": f"injected bug: key bytes {secret.encode().hex()}",
        "url": f"injected bug: https://example.invalid/?auth={urllib.parse.quote(value, safe='')}",
        "cut": f"injected bug: {'.' * 50}{secret[:40]}",
    }.get(BUG, f"injected bug: {headers!r}")


def _raise(headers, careless):
    """Fail the way ``BUG`` says, carrying ``headers``; ``careless()`` is what a careless log line would hold."""
    if BUG == "chained":
        try:
            raise KeyError(headers)
        except KeyError as inner:
            raise RuntimeError(f"while sending with {_auth(headers)}") from inner
    if BUG == "group":
        raise ExceptionGroup("injected", [ValueError(repr(headers)), TypeError(_auth(headers))])
    if BUG == "repr":
        raise RuntimeError(f"injected bug: {careless()}")
    raise RuntimeError(_message(headers))


if BUG:
    from llmroute.providers.anthropic import AnthropicAdapter
    from llmroute.providers.azure import AzureAdapter
    from llmroute.providers.bedrock import BedrockAdapter
    from llmroute.providers.cloudflare import CloudflareAdapter
    from llmroute.providers.gemini import GeminiAdapter
    from llmroute.providers.ollama import OllamaAdapter
    from llmroute.providers.openai_api import OpenAIAdapter
    from llmroute.providers.openrouter import OpenRouterAdapter

    def _broken(original):
        def request_headers(self, candidate, request):
            headers = original(self, candidate, request)
            # the candidate, its key slot, the URL (Cloudflare's holds the account, Gemini's the model and method)
            _raise(headers, lambda: f"{candidate!r} {candidate.slot!r} {self.chat_url(candidate)}")

        return request_headers

    def _broken_authorise(original):
        """Bedrock puts its credential on the built request (SigV4 or an API key), not in ``request_headers``: the
        bug strikes once it is signed, holding the signed headers (a session token in ``X-Amz-Security-Token``)
        and, for SigV4, the secret access key the signature was made with."""

        def authorise(self, request, slot):
            original(self, request, slot)
            headers = dict(request.headers)
            if slot.account and slot.key is not None:
                headers = {"x-amz-secret-access-key": slot.key.secret, **headers}
            _raise(headers, lambda: f"{slot!r} {slot.key!r} {request!r} {request.headers!r} {request.url}")

        return authorise

    def _broken_probe(original):
        async def probe_key(self, slot, *, timeout):
            raise RuntimeError(f"injected bug in probe_key({slot.key.secret!r})")

        return probe_key

    for _adapter in (
        OpenRouterAdapter,
        OllamaAdapter,
        OpenAIAdapter,
        AzureAdapter,
        CloudflareAdapter,
        AnthropicAdapter,
        GeminiAdapter,
        BedrockAdapter,
    ):
        if BUG == "probe":
            _adapter.probe_key = _broken_probe(_adapter.probe_key)
        elif _adapter is BedrockAdapter:
            _adapter.authorise = _broken_authorise(_adapter.authorise)
        else:
            _adapter.request_headers = _broken(_adapter.request_headers)
'''

BUGS = ("headers", "base64", "urlsafe", "hex", "url", "cut", "chained", "group")
NEW_BUGS = (*BUGS, "repr")


# --- the scanner ------------------------------------------------------------------------------------------------


def scan_tree(root: Path, skip: frozenset[Path] = frozenset(), extra: tuple[str, ...] = ()) -> list[str]:
    """Every leak in every file under ``root`` (raw bytes, so SQLite pages, WAL frames and free pages too), of
    ``ALL_SECRETS`` and of the ``extra`` secrets a test made up for itself."""
    found: list[str] = []
    for path in sorted(root.rglob("*")) if root.exists() else ():
        if path.is_file() and path not in skip:
            found += [f"{path.relative_to(root)}: {leak}" for leak in leaks_in(path.read_bytes(), extra)]
    return found


def leaks_in(data: bytes, extra: tuple[str, ...] = ()) -> list[str]:
    return find_leaks(data) + (find_leaks(data, list(extra)) if extra else [])


def test_the_scanner_finds_a_planted_canary_in_every_form(tmp_path: Path) -> None:
    """A self-test: if this fails, the zero below means nothing."""
    for index, secret in enumerate(ALL_SECRETS):
        header = f"Bearer {secret}".encode()
        planted = {
            "raw": secret.encode(),
            "base64 of the header": base64.b64encode(header),
            "base64 of the header, offset 1": base64.b64encode(b"x" + header),
            "base64 of the header, offset 2": base64.b64encode(b"xy" + header),
            "urlsafe base64 of user:key": base64.urlsafe_b64encode(b"user:" + secret.encode()),
            "hex": secret.encode().hex().encode(),
            "hex, upper case": secret.encode().hex().upper().encode(),
            "url-encoded header": urllib.parse.quote(header.decode(), safe="").encode(),
            "cut short after 30 characters": secret[:30].encode(),
            "the last 30 characters": secret[-30:].encode(),
        }
        for name, data in planted.items():
            assert find_leaks(b"noise " + data + b" noise") != [], f"ALL_SECRETS[{index}] {name}"
            file = tmp_path / "deep" / "dir" / f"{index}.bin"
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(b"\x00\x01" + data + b"\xff")
            assert scan_tree(tmp_path) != [], f"ALL_SECRETS[{index}] {name} in a file"
            file.unlink()
        db = tmp_path / f"planted{index}.db"
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE t (message TEXT)")
            conn.execute("INSERT INTO t VALUES (?)", (f"echo: {secret}",))
        conn.close()
        assert scan_tree(tmp_path) != [], f"ALL_SECRETS[{index}] in a SQLite file"
        db.unlink()
    assert scan_tree(tmp_path) == []


def test_the_scanner_ignores_masks_fingerprints_and_other_text() -> None:
    from llmroute.keys import fingerprint

    text = " ".join(f"{mask(s)} {fingerprint(s)} {s[:8]}" for s in ALL_SECRETS) + " sk-or-v1- OPENROUTER_API_KEY_1"
    assert find_leaks(text) == []
    assert all(len(leaked_forms(s)) >= 11 for s in ALL_SECRETS)


@pytest.mark.parametrize("index", range(len(ALL_SECRETS)))
def test_redaction_masks_every_form_the_scanner_looks_for(index: int) -> None:
    """What llmroute masks (``keys.redact``: every output line, every provider message) against what the scanner
    finds: a key whole, encoded, or cut short. (A key cut at its start is beyond it: no truncation does that.)"""
    secret = ALL_SECRETS[index]
    header = f"Bearer {secret}".encode()
    forms = [
        secret.encode(),
        base64.b64encode(header),
        base64.b64encode(b"x" + header),
        base64.urlsafe_b64encode(b"xy" + header),
        base64.urlsafe_b64encode(b"user:" + secret.encode()),
        secret.encode().hex().encode(),
        secret.encode().hex().upper().encode(),
        urllib.parse.quote(header.decode(), safe="").encode(),
        urllib.parse.quote_plus(header.decode()).encode(),
        secret[:30].encode() + "…".encode(),
    ]
    for form in forms:
        text = f"error: provider said {form.decode()} (twice: {form.decode()})"
        assert find_leaks(text, [secret]) != []
        redacted = redact(text, [secret])
        assert find_leaks(redacted, [secret]) == [], redacted
        assert mask(secret) in redacted


# --- the battery ----------------------------------------------------------------------------------------------


@dataclass
class Battery:
    """Runs the real CLI like the ``cli`` fixture does, but scans by itself (tracebacks allowed with ``--debug``)."""

    cli: Cli
    tmpdir: Path
    hook: Path
    dotenv: Path
    runs: list[str] = field(default_factory=list)
    codes: set[int] = field(default_factory=set)
    hits: list[str] = field(default_factory=list)
    scanned_bytes: int = 0
    extra: tuple[str, ...] = ()
    """Secrets beyond ``ALL_SECRETS`` that a test made up (AWS session tokens, Bedrock API keys): scanned for too."""

    def run(
        self, *args: str, expect: int, input: bytes | None = None, debug_bug: str | None = None, **env: str
    ) -> tuple[str, str]:
        extra = {"TMPDIR": str(self.tmpdir), "PYTHONPATH": str(self.hook), **env}
        if debug_bug:
            extra["LLMROUTE_TEST_BUG"] = debug_bug
        proc = subprocess.run(
            [*_command(), *args],
            env={**self.cli.env, **extra},
            cwd=self.cli.cwd,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        )
        return self.record(args, proc.returncode, proc.stdout, proc.stderr, expect)

    def record(self, args: tuple[str, ...], code: int, out: bytes, err: bytes, expect: int) -> tuple[str, str]:
        label = " ".join(a if len(a) < 40 else a[:12] + "…" for a in args)
        self.runs.append(label)
        self.codes.add(code)
        stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        assert code == expect, f"{label}: exit {code}, expected {expect}\n{stderr[-2000:]}"
        self.hits += [f"{label}: stdout: {leak}" for leak in leaks_in(out, self.extra)]
        self.hits += [f"{label}: stderr: {leak}" for leak in leaks_in(err, self.extra)]
        for where, root in (("home", self.cli.home), ("cwd", self.cli.cwd), ("TMPDIR", self.tmpdir)):
            found = scan_tree(root, skip=frozenset({self.dotenv}), extra=self.extra)
            self.hits += [f"{label}: {where}/{hit}" for hit in found]
        self.scanned_bytes += (
            len(out)
            + len(err)
            + sum(
                p.stat().st_size
                for root in (self.cli.home, self.cli.cwd, self.tmpdir)
                for p in root.rglob("*")
                if p.is_file()
            )
        )
        return stdout, stderr


def _command() -> list[str]:
    script = Path(sys.executable).with_name("llmroute")
    return [str(script)] if script.exists() else [sys.executable, "-m", "llmroute"]


@pytest.fixture
def battery(cli: Cli, tmp_path: Path) -> Iterator[Battery]:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent(HOOK))
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    # The third OpenRouter key comes from a .env in the working directory (the only file allowed to hold one),
    # under a variable the config file names: neither conventional nor known before the settings load.
    dotenv = cli.cwd / ".env"
    dotenv.write_text(f"MY_THIRD_ROUTER_CREDENTIAL={OR_KEYS[2]}\n")
    yield Battery(cli, tmpdir, hook, dotenv)


def test_every_command_leaks_no_canary_anywhere(battery: Battery, cloud: FakeProvider, local: FakeProvider) -> None:
    b = battery
    keys = keys_env(openrouter=2, ollama=2)
    (b.cli.home / "config.toml").write_text("[routing]\nmax_attempts = 6\n")
    (b.cli.home / "config.toml").chmod(0o600)
    b.cli.env |= keys | {"OLLAMA_HOST": local.ollama_url}
    third = {"OPENROUTER_API_KEY_3": OR_KEYS[2]}  # also under its own conventional name in some runs
    in_an_hour = int((time.time() + 3600) * 1000)

    # Successes, every output mode.
    b.run("chat", "-m", MODEL, "hi", expect=0)
    b.run("chat", "--json", "-m", MODEL, "hi", expect=0)
    b.run("chat", "-v", "--no-stream", "-m", "ollama:gpt-oss:120b", "hi", expect=0)
    cloud.script(OLLAMA_KEYS[0], oll_usage_limit("weekly"))
    b.run("chat", "-v", "--json", "-m", "kimi-k2.6", "hi", expect=0)
    b.run("chat", "-v", "-m", MODEL, input=f"the key is {OR_KEYS[0]}\n".encode(), expect=0)
    b.run("chat", "--json", "-m", MODEL, f"{OLLAMA_KEYS[1]}", **third, expect=0)

    # Provider errors that echo the key, raw and encoded: masked before they are shown or stored.
    for echo in (OR_KEYS[0], base64.b64encode(f"Bearer {OR_KEYS[0]}".encode()).decode(), OR_KEYS[0].encode().hex()):
        cloud.script(OR_KEYS[0], error(401, {"error": {"code": 401, "message": f"Invalid API key {echo} provided"}}))
        b.run("chat", "-v", "--json", "-m", MODEL, "hi", expect=0)
        b.run("reset-limits", expect=0)
    cloud.script(OLLAMA_KEYS[0], error(401, {"error": f"unauthorized: key {OLLAMA_KEYS[0]} is not valid"}))
    b.run("chat", "-v", "-m", "ollama:gpt-oss:120b", "hi", expect=0)

    # Every failure exit code.
    b.run("chat", "-m", MODEL, "", expect=ExitStatus.USAGE)
    b.run("chat", "--temperature", "9", "-m", MODEL, "hi", expect=ExitStatus.USAGE)
    b.run("chat", "-m", MODEL, "hi", OPENROUTER_BASE_URL=OR_KEYS[1], expect=ExitStatus.CONFIG)
    b.run("chat", "-m", MODEL, "hi", OPENROUTER_BASE_URL="http://openrouter.ai/api/v1", expect=ExitStatus.CONFIG)
    for key in OR_KEYS[:2]:
        cloud.script(key, error(500, {"error": {"code": 500, "message": f"upstream saw {key}"}}))
    b.run("chat", "-v", "-m", MODEL, "hi", expect=ExitStatus.ALL_FAILED)
    b.run("reset-limits", "--provider", "openrouter", expect=0)
    for key in OR_KEYS[:2]:
        cloud.script(key, or_daily_cap(in_an_hour))
    b.run("chat", "--json", "-m", MODEL, "hi", expect=ExitStatus.LIMITED)
    b.run("status", expect=0)
    b.run("status", "--json", expect=0)
    b.run("reset-limits", "--key", "OPENROUTER_API_KEY_1", expect=0)
    b.run("reset-limits", expect=0)
    cloud.script(OR_KEYS[0], error(400, {"error": {"code": 400, "message": f"bad input near {OR_KEYS[0]}"}}))
    b.run("chat", "-v", "-m", MODEL, "hi", expect=ExitStatus.REJECTED)
    cloud.script(OR_KEYS[0], stream_reply(error_after_tokens=2, error_message=f"died holding {OR_KEYS[0]}"))
    b.run("chat", "-m", MODEL, "hi", expect=ExitStatus.STREAM_BROKEN)
    local.script(None, error(503, {"error": "server busy, please try again.  maximum pending requests exceeded"}))
    b.run("chat", "--privacy", "critical", "-m", "kimi-k2.5", "secret", expect=ExitStatus.PRIVACY)

    # The other commands, each output mode.
    cloud.script(OR_KEYS[1], or_401(), path="/api/v1/key")
    b.run("test-keys", "-v", expect=ExitStatus.CHECKS_FAILED)
    b.run("test-keys", "--json", "--inference", expect=ExitStatus.CHECKS_FAILED)  # no default model served
    b.run("reset-limits", expect=0)
    b.run("models", "-v", "--refresh", expect=0)
    b.run("models", "--json", "--free", expect=0)
    b.run("costs", expect=0)
    b.run("costs", "--json", "--by", "model", expect=0)
    b.run("costs", "--csv", "--month", expect=0)
    b.run("config", "show", expect=0)
    b.run("config", "show", "--json", expect=0)
    b.run("config", "path", expect=0)

    # A key known only from the config file's key_variable and the .env file.
    (b.cli.home / "config.toml").write_text('[providers.openrouter]\nkey_variable = "MY_THIRD_ROUTER_CREDENTIAL"\n')
    b.run("config", "show", "--json", OPENROUTER_API_KEY_1="", OPENROUTER_API_KEY_2="", expect=0)
    b.run("chat", "-v", "-m", MODEL, "hi", expect=0)
    b.run("test-keys", "--provider", "openrouter", "--json", expect=0)
    (b.cli.home / "config.toml").write_text("[routing]\nmax_attempts = 6\n")

    # Bugs injected through the hook: one line without --debug, a redacted traceback with it.
    for bug in BUGS:
        _, err = b.run("chat", "-m", MODEL, "hi", debug_bug=bug, expect=ExitStatus.ERROR)
        assert err.startswith("error: internal error: ") and err.count("\n") == 1, err
        _, err = b.run("--debug", "chat", "-v", "-m", MODEL, "hi", debug_bug=bug, expect=ExitStatus.ERROR)
        assert "Traceback (most recent call last)" in err and "sitecustomize.py" in err, err
    _, err = b.run("--debug", "chat", "--json", "-m", "ollama:gpt-oss:120b", "hi", debug_bug="chained", expect=1)
    assert "The above exception was the direct cause" in err and mask(OLLAMA_KEYS[0]) in err
    _, err = b.run("--debug", "test-keys", "-v", debug_bug="probe", expect=ExitStatus.ERROR)
    assert "injected bug in probe_key(" in err
    b.run("test-keys", "--json", debug_bug="probe", expect=ExitStatus.ERROR)
    b.run("--debug", "status", debug_bug="headers", expect=0)

    # Interrupted mid-request.
    cloud.script(OR_KEYS[0], hang(30))
    before = len(cloud.chat_requests)
    proc = subprocess.Popen(
        [*_command(), "chat", "-v", "-m", MODEL, "hi"],
        env={**b.cli.env, "TMPDIR": str(b.tmpdir)},
        cwd=b.cli.cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while len(cloud.chat_requests) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err_bytes = proc.communicate(timeout=20)
    b.record(("chat", "(interrupted)"), proc.returncode, out, err_bytes, ExitStatus.INTERRUPTED)

    expected_codes = {int(s) for s in ExitStatus if s is not ExitStatus.BROKEN_PIPE}
    assert expected_codes <= b.codes, expected_codes - b.codes
    print(f"\ncanary battery: {len(b.runs)} runs, exit codes {sorted(b.codes)}, {b.scanned_bytes} bytes scanned")
    assert b.hits == [], "\n".join(b.hits)


def test_a_debug_traceback_is_printed_and_masked(battery: Battery) -> None:
    battery.cli.env |= keys_env(openrouter=1)
    _, err = battery.run("--debug", "chat", "-m", MODEL, "hi", debug_bug="headers", expect=ExitStatus.ERROR)
    assert err.startswith("Traceback (most recent call last):")
    assert f"'Authorization': 'Bearer {mask(OR_KEYS[0])}'" in err
    assert battery.hits == []


def test_a_provider_error_that_echoes_a_key_is_masked_in_the_state_file_too(
    battery: Battery, cloud: FakeProvider
) -> None:
    battery.cli.env |= keys_env(openrouter=2)
    cloud.script(OR_KEYS[0], error(401, {"error": {"code": 401, "message": f"Invalid API key {OR_KEYS[0]}"}}))
    cloud.script(OR_KEYS[1], reply())
    battery.run("chat", "-m", MODEL, "hi", expect=0)
    with sqlite3.connect(battery.cli.home / "state.db") as conn:
        stored = [row[0] for row in conn.execute("SELECT message FROM attempts WHERE message IS NOT NULL")]
    conn.close()
    assert stored == [f"Invalid API key {mask(OR_KEYS[0])}"]
    assert battery.hits == []


# --- the providers on the OpenAI wire ---------------------------------------------------------------------------

NEW_MODELS = {
    "openai": "openai:gpt-4o-mini",
    "azure": "azure:my-gpt4o-mini",
    "cloudflare": "cloudflare:@cf/meta/llama-3.1-8b-instruct",
}
NEW_KEYS = {"openai": OPENAI_KEYS, "azure": AZURE_KEYS, "cloudflare": CLOUDFLARE_TOKENS}
DEPLOYMENTS = '[providers.azure.deployments]\n"gpt-4o-mini" = "my-gpt4o-mini"\n'


def echoing(provider: str, status: int, secret: str, text: str) -> ErrorResponse:
    """An error in ``provider``'s own shape whose message quotes ``text`` (a key, raw or encoded)."""
    if provider == "openai":
        return openai_error(status, text, code="invalid_api_key" if status == 401 else None)
    if provider == "azure":
        return azure_error(status, str(status), text)
    account = CLOUDFLARE_ACCOUNTS[CLOUDFLARE_TOKENS.index(secret)]
    return cf_error(status, 10000 if status in (401, 403) else 3043, f"{text} (account {account})")


def forms_of(secret: str, header: str) -> tuple[str, ...]:
    """A key as a provider might echo it: raw, the whole auth header base64-encoded, hex."""
    return (secret, base64.b64encode(f"{header}{secret}".encode()).decode(), secret.encode().hex())


def test_the_openai_azure_and_cloudflare_keys_leak_nowhere(battery: Battery, cloud: FakeProvider) -> None:
    """Every OpenAI key, Azure key (sent as ``api-key``) and Cloudflare token (with its account id in every path) is a
    canary: through answers, their errors echoing the key, limits, every exit code, test-keys, status, costs,
    models, config, injected bugs with and without ``--debug``, and an interrupt."""
    b = battery
    b.cli.env |= keys_env(openai=2, azure=2, cloudflare=2) | azure_env(cloud)
    config = b.cli.home / "config.toml"
    config.write_text("[routing]\nmax_attempts = 6\n" + DEPLOYMENTS)
    config.chmod(0o600)
    header = {"openai": "Bearer ", "azure": "", "cloudflare": "Bearer "}

    # Answers, every output mode; a prompt holding the keys; the alias across OpenAI and the Azure deployment.
    for model in NEW_MODELS.values():
        b.run("chat", "-m", model, "hi", expect=0)
        b.run("chat", "-v", "--json", "--no-stream", "-m", model, "hi", expect=0)
    prompt = f"the keys are {OPENAI_KEYS[0]} {AZURE_KEYS[0]} {CLOUDFLARE_TOKENS[0]}\n"
    b.run("chat", "-v", "-m", "gpt-4o-mini", input=prompt.encode(), expect=0)
    cloud.script(OPENAI_KEYS[0], oa_401(OPENAI_KEYS[0]))  # the live 401 echoes the key masked: key 2, then Azure
    cloud.script(OPENAI_KEYS[1], oa_429_insufficient_quota())
    b.run("chat", "-v", "--json", "-m", "gpt-4o-mini", "hi", expect=0)
    b.run("reset-limits", expect=0)

    # 401s that echo the key, raw and encoded: masked before they are shown or stored; key 2 answers.
    for provider, model in NEW_MODELS.items():
        secret = NEW_KEYS[provider][0]
        status = 403 if provider == "cloudflare" else 401
        for echo in forms_of(secret, header[provider]):
            cloud.script(secret, echoing(provider, status, secret, f"Invalid credential {echo} provided"))
            b.run("chat", "-v", "--json", "-m", model, "hi", expect=0)
            b.run("reset-limits", "--provider", provider, expect=0)

    # Every failure exit code, on each provider.
    for provider, model in NEW_MODELS.items():
        first, second = NEW_KEYS[provider]
        for key in (first, second):  # exit 4: the last error quotes the key
            cloud.script(key, echoing(provider, 500, key, f"upstream saw {key}"))
        b.run("chat", "-v", "-m", model, "hi", expect=ExitStatus.ALL_FAILED)
        b.run("reset-limits", "--provider", provider, expect=0)
        cloud.script(first, echoing(provider, 400, first, f"bad input near {first}"))
        b.run("chat", "-v", "-m", model, "hi", expect=ExitStatus.REJECTED)
        cloud.script(first, stream_reply(error_after_tokens=2, error_message=f"died holding {first}"))
        b.run("chat", "-m", model, "hi", expect=ExitStatus.STREAM_BROKEN)
        b.run("reset-limits", "--provider", provider, expect=0)
    cloud.script(OPENAI_KEYS[0], oa_429_rate_limit(retry_after_ms=90000))
    cloud.script(OPENAI_KEYS[1], oa_429_insufficient_quota())
    b.run("chat", "--json", "-m", NEW_MODELS["openai"], "hi", expect=ExitStatus.LIMITED)
    for key in AZURE_KEYS:
        cloud.script(key, az_429(text="tokens"))
    b.run("chat", "-v", "-m", NEW_MODELS["azure"], "hi", expect=ExitStatus.LIMITED)
    for token in CLOUDFLARE_TOKENS:  # two accounts, two daily allocations used up
        cloud.script(token, cf_3036())
    b.run("chat", "-v", "--json", "-m", NEW_MODELS["cloudflare"], "hi", expect=ExitStatus.LIMITED)
    b.run("status", expect=0)
    b.run("status", "--json", expect=0)
    b.run("reset-limits", "--key", "AZURE_OPENAI_API_KEY", expect=0)
    b.run("reset-limits", expect=0)

    # A key pasted where an endpoint or account id belongs: refused without being quoted.
    b.run("chat", "-m", NEW_MODELS["openai"], "hi", OPENAI_BASE_URL=OPENAI_KEYS[1], expect=ExitStatus.CONFIG)
    b.run("chat", "-m", NEW_MODELS["azure"], "hi", AZURE_OPENAI_ENDPOINT=AZURE_KEYS[1], expect=ExitStatus.CONFIG)
    b.run(
        "chat",
        "-m",
        NEW_MODELS["cloudflare"],
        "hi",
        CLOUDFLARE_ACCOUNT_ID=CLOUDFLARE_TOKENS[1],
        expect=ExitStatus.CONFIG,
    )

    # The key checks: each provider's free probe refuses key 2 and quotes it.
    cloud.script(
        OPENAI_KEYS[1],
        echoing("openai", 401, OPENAI_KEYS[1], f"Incorrect key {OPENAI_KEYS[1]}"),
        path="/openai/v1/models",
    )
    cloud.script(
        AZURE_KEYS[1],
        echoing("azure", 401, AZURE_KEYS[1], f"Access denied for {AZURE_KEYS[1]}"),
        path="/azure/openai/v1/models",
    )
    token = CLOUDFLARE_TOKENS[1]
    for path in (
        "/cloudflare/client/v4/user/tokens/verify",
        f"/cloudflare/client/v4/accounts/{CLOUDFLARE_ACCOUNTS[1]}/tokens/verify",
    ):
        cloud.script(token, cf_error(401, 1000, f"Invalid API Token {token}"), path=path)
    b.run("test-keys", "-v", expect=ExitStatus.CHECKS_FAILED)
    b.run("reset-limits", expect=0)
    b.run("test-keys", "--json", "--provider", "cloudflare", expect=0)
    cloud.script(AZURE_KEYS[1], echoing("azure", 500, AZURE_KEYS[1], f"inference saw {AZURE_KEYS[1]}"))
    b.run("test-keys", "--json", "--inference", "--provider", "azure", expect=ExitStatus.CHECKS_FAILED)
    assert cloud.remaining(AZURE_KEYS[1]) == 0, "the inference check reached the deployment"
    b.run("reset-limits", expect=0)
    b.run("models", "-v", "--refresh", expect=0)
    b.run("models", "--json", expect=0)
    b.run("costs", expect=0)
    b.run("costs", "--json", "--by", "model", expect=0)
    b.run("costs", "--csv", "--month", expect=0)
    b.run("config", "show", expect=0)
    b.run("config", "show", "--json", expect=0)

    # Bugs injected through the hook: a redacted traceback with --debug, one line without.
    shown = {
        "openai": f"'Authorization': 'Bearer {mask(OPENAI_KEYS[0])}'",
        "azure": f"'api-key': '{mask(AZURE_KEYS[0])}'",
        "cloudflare": f"'Authorization': 'Bearer {mask(CLOUDFLARE_TOKENS[0])}'",
    }
    for provider, model in NEW_MODELS.items():
        for bug in NEW_BUGS:
            _, err = b.run("--debug", "chat", "-v", "-m", model, "hi", debug_bug=bug, expect=ExitStatus.ERROR)
            assert "Traceback (most recent call last)" in err and "sitecustomize.py" in err, err
            if bug == "headers":
                assert shown[provider] in err, err
        _, err = b.run("chat", "-m", model, "hi", debug_bug="headers", expect=ExitStatus.ERROR)
        assert err.startswith("error: internal error: ") and err.count("\n") == 1, err
    for bug in NEW_BUGS:  # the api-key header, each way a bug can carry it
        _, err = b.run("chat", "--json", "-m", NEW_MODELS["azure"], "hi", debug_bug=bug, expect=ExitStatus.ERROR)
        assert err.startswith("error: internal error: ") and err.count("\n") == 1, err
    _, err = b.run("--debug", "test-keys", "-v", debug_bug="probe", expect=ExitStatus.ERROR)
    assert "injected bug in probe_key(" in err
    b.run("test-keys", "--json", "--provider", "azure", debug_bug="probe", expect=ExitStatus.ERROR)
    b.run("--debug", "status", debug_bug="headers", expect=0)

    # Interrupted mid-request, on Azure.
    cloud.script(AZURE_KEYS[0], hang(30))
    before = len(cloud.chat_requests)
    proc = subprocess.Popen(
        [*_command(), "chat", "-v", "-m", NEW_MODELS["azure"], "hi"],
        env={**b.cli.env, "TMPDIR": str(b.tmpdir)},
        cwd=b.cli.cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while len(cloud.chat_requests) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err_bytes = proc.communicate(timeout=20)
    b.record(("chat", "(interrupted, azure)"), proc.returncode, out, err_bytes, ExitStatus.INTERRUPTED)

    reached = {int(s) for s in ExitStatus if s not in (ExitStatus.BROKEN_PIPE, ExitStatus.USAGE, ExitStatus.PRIVACY)}
    assert reached <= b.codes, reached - b.codes
    print(f"\nnew-provider canary: {len(b.runs)} runs, exit codes {sorted(b.codes)}, {b.scanned_bytes} bytes scanned")
    assert b.hits == [], "\n".join(b.hits)


# --- the native wires: Anthropic, Gemini, Bedrock -------------------------------------------------------------

NATIVE_MODELS = {
    "anthropic": "anthropic:claude-haiku-4-5",
    "gemini": "gemini:gemini-2.5-flash",
    "bedrock": "bedrock:anthropic.claude-3-5-haiku-20241022-v1:0",
}
AWS_SESSION_TOKEN = base64.b64encode(secrets.token_bytes(240)).decode()
"""Key 1's session token (``AWS_SESSION_TOKEN``): sent as ``X-Amz-Security-Token`` and signed; long base64 with
``+``, ``/`` and ``=`` like the real ones."""
BEDROCK_API_KEY = "ABSK" + base64.b64encode(secrets.token_bytes(90)).decode()
"""A Bedrock API key (``AWS_BEARER_TOKEN_BEDROCK``), sent as ``Authorization: Bearer``."""
NATIVE_EXTRA = (AWS_SESSION_TOKEN, BEDROCK_API_KEY)
"""Secrets this module makes up beside ``ALL_SECRETS`` (conftest scans for those only): the battery scans for these."""
NATIVE_SECRETS = {
    "anthropic": (ANTHROPIC_KEYS[0], ANTHROPIC_KEYS[1]),
    "gemini": (GEMINI_KEYS[0], GEMINI_KEYS[1]),
    "bedrock": (AWS_SECRET_KEYS[0], AWS_SECRET_KEYS[1], BEDROCK_API_KEY),
}
"""Each provider's secrets in key order; Bedrock's key 1 also carries ``AWS_SESSION_TOKEN``."""
NATIVE_IDS = {
    "anthropic": NATIVE_SECRETS["anthropic"],
    "gemini": NATIVE_SECRETS["gemini"],
    "bedrock": (AWS_ACCESS_KEY_IDS[0], AWS_ACCESS_KEY_IDS[1], BEDROCK_API_KEY),
}
"""What the fake scripts each key by: the key itself, or Bedrock's access key id (the API key for a bearer)."""
PROBE_PATHS = {
    "anthropic": "/anthropic/v1/models",
    "gemini": "/gemini/v1beta/models",
    "bedrock": "/bedrock/foundation-models",
}


def native_error(provider: str, status: int, text: str) -> ErrorResponse:
    """An error in ``provider``'s own shape whose message quotes ``text``: 401 (Gemini 400 API_KEY_INVALID, Bedrock
    403 UnrecognizedClient: the key is dead), 400 (a bad request), 500."""
    if provider == "anthropic":
        kind = {400: "invalid_request_error", 401: "authentication_error", 500: "api_error"}[status]
        return anthropic_error(status, kind, text)
    if provider == "gemini":
        if status == 401:
            return gm_400_key_invalid(f"API key not valid. Please pass a valid API key. ({text})")
        return gemini_error(status, {400: "INVALID_ARGUMENT", 500: "INTERNAL"}[status], text)
    if status == 401:
        return bedrock_error(403, "UnrecognizedClientException", f"{BR_INVALID_TOKEN} ({text})")
    return bedrock_error(status, {400: "ValidationException", 500: "InternalServerException"}[status], text)


def native_stream_error(provider: str, text: str) -> Reply:
    """A stream that breaks after two tokens with a message quoting ``text``."""
    if provider == "anthropic":
        return an_stream_error(after_tokens=2, message=text)
    if provider == "gemini":
        return stream_reply(error_after_tokens=2, error_message=text)
    return br_stream_exception("modelStreamErrorException", after_tokens=2, message=text)


def test_the_scanner_finds_the_made_up_native_secrets(tmp_path: Path) -> None:
    """The self-test for :data:`NATIVE_EXTRA`, which conftest's scanner does not know."""
    for index, secret in enumerate(NATIVE_EXTRA):
        for data in (
            secret.encode(),
            base64.b64encode(f"Bearer {secret}".encode()),
            secret.encode().hex().encode(),
            urllib.parse.quote(secret, safe="").encode(),
            secret[:30].encode(),
            secret[-30:].encode(),
        ):
            assert find_leaks(data) == [] and leaks_in(b"x" + data + b"y", NATIVE_EXTRA) != [], (index, data[:20])
            (tmp_path / "f.bin").write_bytes(b"\x00" + data)
            assert scan_tree(tmp_path, extra=NATIVE_EXTRA) != []
    (tmp_path / "f.bin").unlink()
    assert leaks_in(f"{mask(AWS_SESSION_TOKEN)} {mask(BEDROCK_API_KEY)}".encode(), NATIVE_EXTRA) == []


def test_the_anthropic_gemini_and_bedrock_secrets_leak_nowhere(battery: Battery, cloud: FakeProvider) -> None:
    """Every Anthropic key (``x-api-key``), Gemini key (``x-goog-api-key``), AWS secret access key, session token
    and Bedrock API key is a canary: through answers, errors echoing them (raw, base64, hex, and AWS's own
    InvalidSignature text, which quotes the canonical request with the session token in it), every exit code,
    test-keys, status, costs, models, config, bugs injected into the three adapters with and without ``--debug``,
    and an interrupt."""
    b = battery
    b.extra = NATIVE_EXTRA
    akid1 = AWS_ACCESS_KEY_IDS[0]
    b.cli.env |= keys_env(anthropic=2, gemini=2, bedrock=2)
    b.cli.env |= {"AWS_SESSION_TOKEN": AWS_SESSION_TOKEN, "AWS_BEARER_TOKEN_BEDROCK": BEDROCK_API_KEY}
    cloud.bedrock.session_tokens[akid1] = AWS_SESSION_TOKEN
    cloud.bedrock.api_keys = frozenset({BEDROCK_API_KEY})
    config = b.cli.home / "config.toml"
    config.write_text("[routing]\nmax_attempts = 6\n")
    config.chmod(0o600)

    # Answers, every output mode; a prompt holding every secret.
    for model in NATIVE_MODELS.values():
        b.run("chat", "-m", model, "hi", expect=0)
        b.run("chat", "-v", "--json", "--no-stream", "-m", model, "hi", expect=0)
    prompt = " ".join(s for group in NATIVE_SECRETS.values() for s in group) + f" {AWS_SESSION_TOKEN}\n"
    b.run("chat", "-v", "-m", "claude-sonnet", input=prompt.encode(), expect=0)
    b.run("chat", "-v", "--json", "-m", "gemini-flash", input=prompt.encode(), expect=0)
    assert cloud.keys_in_urls == []

    # Errors that echo the key, raw and encoded: masked before they are shown or stored; key 2 answers.
    for provider, model in NATIVE_MODELS.items():
        first = NATIVE_SECRETS[provider][0]
        echoes = forms_of(first, "")
        if provider == "bedrock":
            echoes += forms_of(AWS_SESSION_TOKEN, "")
        for echo in echoes:
            cloud.script(NATIVE_IDS[provider][0], native_error(provider, 401, f"Invalid credential {echo} provided"))
            b.run("chat", "-v", "--json", "-m", model, "hi", expect=0)
            b.run("reset-limits", "--provider", provider, expect=0)
    # AWS's own InvalidSignature text quotes the canonical request it expected: the signed X-Amz-Security-Token.
    cloud.bedrock.credentials[akid1] = "not-the-secret-key-1-signs-with"
    _, err = b.run("chat", "-v", "-m", NATIVE_MODELS["bedrock"], "hi", expect=0)
    assert "InvalidSignatureException" in err, err
    cloud.bedrock.credentials[akid1] = AWS_SECRET_KEYS[0]
    b.run("reset-limits", "--provider", "bedrock", expect=0)

    # Every failure exit code, on each provider.
    for provider, model in NATIVE_MODELS.items():
        ids, keys = NATIVE_IDS[provider], NATIVE_SECRETS[provider]
        for identity, key in zip(ids, keys, strict=True):  # exit 4: every key's error quotes it
            cloud.script(identity, native_error(provider, 500, f"upstream saw {key}"))
        b.run("chat", "-v", "-m", model, "hi", expect=ExitStatus.ALL_FAILED)
        b.run("reset-limits", "--provider", provider, expect=0)
        cloud.script(ids[0], native_error(provider, 400, f"bad input near {keys[0]}"))
        b.run("chat", "-v", "-m", model, "hi", expect=ExitStatus.REJECTED)
        cloud.script(ids[0], native_stream_error(provider, f"died holding {keys[0]}"))
        b.run("chat", "-m", model, "hi", expect=ExitStatus.STREAM_BROKEN)
        b.run("reset-limits", "--provider", provider, expect=0)
    for key in ANTHROPIC_KEYS:
        cloud.script(key, an_spend_limit())
    b.run("chat", "--json", "-m", NATIVE_MODELS["anthropic"], "hi", expect=ExitStatus.LIMITED)
    for key in GEMINI_KEYS:
        cloud.script(key, gm_429_per_day())
    b.run("chat", "-v", "-m", NATIVE_MODELS["gemini"], "hi", expect=ExitStatus.LIMITED)
    for identity in NATIVE_IDS["bedrock"]:
        cloud.script(identity, br_tokens_per_day())
    b.run("chat", "-v", "--json", "-m", NATIVE_MODELS["bedrock"], "hi", expect=ExitStatus.LIMITED)
    b.run("status", expect=0)
    b.run("status", "--json", expect=0)
    b.run("reset-limits", "--key", "AWS_ACCESS_KEY_ID", expect=0)
    b.run("reset-limits", expect=0)

    # A secret pasted where an endpoint or a region belongs: refused without being quoted.
    for variable, value, model in (
        ("ANTHROPIC_BASE_URL", ANTHROPIC_KEYS[1], NATIVE_MODELS["anthropic"]),
        ("GEMINI_BASE_URL", GEMINI_KEYS[1], NATIVE_MODELS["gemini"]),
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", AWS_SECRET_KEYS[1], NATIVE_MODELS["bedrock"]),
        ("AWS_REGION", AWS_SECRET_KEYS[0], NATIVE_MODELS["bedrock"]),
    ):
        b.run("chat", "-m", model, "hi", **{variable: value}, expect=ExitStatus.CONFIG)

    # The key checks: each provider's free probe refuses key 2 (and Bedrock's API key) and quotes it.
    for provider in NATIVE_MODELS:
        for identity, key in list(zip(NATIVE_IDS[provider], NATIVE_SECRETS[provider], strict=True))[1:]:
            cloud.script(identity, native_error(provider, 401, f"probe saw {key}"), path=PROBE_PATHS[provider])
    b.run("test-keys", "-v", expect=ExitStatus.CHECKS_FAILED)
    b.run("reset-limits", expect=0)
    b.run("test-keys", "--json", "--provider", "anthropic", expect=0)
    for provider in ("gemini", "bedrock"):  # named: these providers have no inference model of their own (see report)
        identity, key = NATIVE_IDS[provider][1], NATIVE_SECRETS[provider][1]
        cloud.script(identity, native_error(provider, 500, f"inference saw {key}"))
        model = ("--require-model", NATIVE_MODELS[provider])
        b.run("test-keys", "--json", "--inference", "--provider", provider, *model, expect=ExitStatus.CHECKS_FAILED)
        assert cloud.remaining(identity) == 0, f"the inference check did not reach {provider}"
        b.run("reset-limits", expect=0)
    b.run("models", "-v", "--refresh", expect=0)
    b.run("models", "--json", expect=0)
    b.run("costs", expect=0)
    b.run("costs", "--json", "--by", "model", expect=0)
    b.run("costs", "--csv", "--month", expect=0)
    b.run("config", "show", expect=0)
    b.run("config", "show", "--json", expect=0)

    # Bugs injected through the hook: a redacted traceback with --debug, one line without.
    shown = {
        "anthropic": [f"'x-api-key': '{mask(ANTHROPIC_KEYS[0])}'"],
        "gemini": [f"'x-goog-api-key': '{mask(GEMINI_KEYS[0])}'"],
        "bedrock": [
            f"'x-amz-secret-access-key': '{mask(AWS_SECRET_KEYS[0])}'",
            f"'x-amz-security-token': '{mask(AWS_SESSION_TOKEN)}'",
        ],
    }
    for provider, model in NATIVE_MODELS.items():
        for bug in NEW_BUGS:
            _, err = b.run("--debug", "chat", "-v", "-m", model, "hi", debug_bug=bug, expect=ExitStatus.ERROR)
            assert "Traceback (most recent call last)" in err and "sitecustomize.py" in err, err
            if bug == "headers":
                assert all(piece in err for piece in shown[provider]), err
        _, err = b.run("chat", "-m", model, "hi", debug_bug="headers", expect=ExitStatus.ERROR)
        assert err.startswith("error: internal error: ") and err.count("\n") == 1, err
    bearer_only = {"AWS_ACCESS_KEY_ID": "", "AWS_ACCESS_KEY_ID_2": ""}  # Bedrock's API key alone
    for bug in NEW_BUGS:
        _, err = b.run(
            "--debug",
            "chat",
            "-m",
            NATIVE_MODELS["bedrock"],
            "hi",
            debug_bug=bug,
            expect=ExitStatus.ERROR,
            **bearer_only,
        )
        if bug == "headers":
            assert f"Bearer {mask(BEDROCK_API_KEY)}" in err, err
    _, err = b.run("--debug", "test-keys", "-v", debug_bug="probe", expect=ExitStatus.ERROR)
    assert "injected bug in probe_key(" in err
    for provider in NATIVE_MODELS:
        b.run("test-keys", "--json", "--provider", provider, debug_bug="probe", expect=ExitStatus.ERROR)
    b.run("--debug", "status", debug_bug="headers", expect=0)
    assert cloud.keys_in_urls == []

    # Interrupted mid-request, on Bedrock (key 1: SigV4 with a session token).
    cloud.script(akid1, hang(30))
    before = len(cloud.chat_requests)
    proc = subprocess.Popen(
        [*_command(), "chat", "-v", "-m", NATIVE_MODELS["bedrock"], "hi"],
        env={**b.cli.env, "TMPDIR": str(b.tmpdir)},
        cwd=b.cli.cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while len(cloud.chat_requests) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err_bytes = proc.communicate(timeout=20)
    b.record(("chat", "(interrupted, bedrock)"), proc.returncode, out, err_bytes, ExitStatus.INTERRUPTED)

    reached = {int(s) for s in ExitStatus if s not in (ExitStatus.BROKEN_PIPE, ExitStatus.USAGE, ExitStatus.PRIVACY)}
    assert reached <= b.codes, reached - b.codes
    print(f"\nnative-wire canary: {len(b.runs)} runs, exit codes {sorted(b.codes)}, {b.scanned_bytes} bytes scanned")
    assert b.hits == [], "\n".join(b.hits)


# --- the conversation log ---------------------------------------------------------------------------------------


def test_the_conversation_log_holds_no_key_and_logs_shows_none(battery: Battery, cloud: FakeProvider) -> None:
    """A prompt, a system prompt and an answer that hold keys are logged with the keys masked (only the answering
    key's label is kept), a continued conversation re-sends the masked text, and ``llmroute logs`` in every form
    shows no key; the state file and every output are scanned after each run."""
    b = battery
    b.cli.env |= keys_env(openrouter=2)
    cloud.script(OR_KEYS[0], reply(text=f"noted: {OR_KEYS[1]} and {base64.b64encode(OR_KEYS[0].encode()).decode()}"))
    b.run(
        "chat", "--no-stream", "-m", MODEL, "-s", f"system knows {OR_KEYS[0]}",
        input=f"the key is {OR_KEYS[0]}\n".encode(), expect=0,
    )  # fmt: skip
    b.run("chat", "--json", "-c", "go on", expect=0)
    resent = " ".join(m["content"] for m in cloud.chat_requests[-1].body["messages"])
    assert find_leaks(resent) == [] and mask(OR_KEYS[0]) in resent and mask(OR_KEYS[1]) in resent
    for args in (("logs",), ("logs", "-n", "0"), ("logs", "--json"), ("logs", "--search", "key"), ("logs", "status")):
        b.run(*args, expect=0)
    with sqlite3.connect(b.cli.home / "state.db") as conn:
        rows = conn.execute("SELECT system, prompt, answer, key_label FROM responses ORDER BY id").fetchall()
    conn.close()
    assert len(rows) == 2 and rows[0][0] == f"system knows {mask(OR_KEYS[0])}"
    assert rows[0][1] == f"the key is {mask(OR_KEYS[0])}\n" and rows[0][3] == "OPENROUTER_API_KEY_1"
    assert b.hits == [], "\n".join(b.hits)
