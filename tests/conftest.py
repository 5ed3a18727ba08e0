"""Shared fixtures: a clean environment, the real CLI as a subprocess, and a leak scanner.

Every CLI run's stdout and stderr, and every file under the test's
``LLMROUTE_HOME`` at teardown, is searched for every test secret in every form
:func:`leaked_forms` knows (raw, URL-encoded, hex, base64 at any alignment, and
pieces of a key cut short): a leak fails the test that caused it.
"""

from __future__ import annotations

import base64
import logging
import functools
import os
import secrets
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fakes import FakeProvider

OR_KEYS = [f"sk-or-v1-{secrets.token_hex(32)}" for _ in range(3)]
OLLAMA_KEYS = [secrets.token_hex(16) + "." + secrets.token_urlsafe(18) for _ in range(2)]
OPENAI_KEYS = [f"sk-proj-{secrets.token_urlsafe(36)}" for _ in range(2)]
AZURE_KEYS = [secrets.token_hex(16) for _ in range(2)]
CLOUDFLARE_TOKENS = [secrets.token_urlsafe(30) for _ in range(2)]
CLOUDFLARE_ACCOUNTS = [secrets.token_hex(16) for _ in range(2)]
"""Not secrets (Cloudflare says so): the account each token is paired with."""
ANTHROPIC_KEYS = [f"sk-ant-api03-{secrets.token_urlsafe(60)}" for _ in range(2)]
GEMINI_KEYS = [f"AIza{secrets.token_urlsafe(26)}" for _ in range(2)]
AWS_ACCESS_KEY_IDS = ["AKIA" + secrets.token_hex(8).upper() for _ in range(2)]
"""Identify a credential but are not secrets; the secret access keys are."""
AWS_SECRET_KEYS = [secrets.token_urlsafe(30) for _ in range(2)]
ALL_SECRETS = (
    OR_KEYS
    + OLLAMA_KEYS
    + OPENAI_KEYS
    + AZURE_KEYS
    + CLOUDFLARE_TOKENS
    + ANTHROPIC_KEYS
    + GEMINI_KEYS
    + AWS_SECRET_KEYS
)


#: A leaked piece of a secret at least ``2 * FRAGMENT - 1`` characters long is found (a key cut short by truncation).
FRAGMENT = 12
_PUBLIC_PREFIXES = ("sk-or-v1-", "sk-proj-", "sk-ant-api03-", "AIza")


def leaked_forms(secret: str) -> dict[str, str]:
    """Every form a leak of ``secret`` may take in text, by a name that does not reveal it.

    Raw, URL-encoded (``quote`` and ``quote_plus``), hex (both cases), base64 and URL-safe
    base64 at each of the three alignments a key can have inside a longer encoded value
    (``Bearer <key>``, ``user:key``): the run of characters that depends on the key alone.
    And every aligned ``FRAGMENT`` of the key past its public vendor prefix.
    """
    raw = secret.encode()
    forms = {
        "raw": secret,
        "url-encoded": urllib.parse.quote(secret, safe=""),
        "url-encoded (plus)": urllib.parse.quote_plus(secret),
        "hex": raw.hex(),
        "hex (upper case)": raw.hex().upper(),
    }
    for offset in range(3):
        start, end = (8 * offset + 5) // 6, 8 * (offset + len(raw)) // 6
        forms[f"base64 (offset {offset})"] = base64.b64encode(bytes(offset) + raw).decode()[start:end]
        forms[f"urlsafe base64 (offset {offset})"] = base64.urlsafe_b64encode(bytes(offset) + raw).decode()[start:end]
    body = next((secret[len(p) :] for p in _PUBLIC_PREFIXES if secret.startswith(p)), secret)
    for at in range(0, len(body) - FRAGMENT + 1, FRAGMENT):
        forms[f"fragment at {at}"] = body[at : at + FRAGMENT]
    return forms


@functools.cache
def _encoded_forms(secret: str) -> tuple[tuple[str, bytes], ...]:
    return tuple((name, form.encode()) for name, form in leaked_forms(secret).items())


def find_leaks(data: str | bytes, secrets: list[str] | None = None) -> list[str]:
    """Which secret leaked in which form (``"ALL_SECRETS[2] as hex"``), searched in the raw bytes."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    label = "ALL_SECRETS" if secrets is None else "secrets"
    return [
        f"{label}[{i}] as {name}"
        for i, secret in enumerate(ALL_SECRETS if secrets is None else secrets)
        for name, form in _encoded_forms(secret)
        if form in raw
    ]


def assert_no_secret(text: str | bytes, where: str) -> None:
    leaks = find_leaks(text)
    assert not leaks, f"a test secret leaked into {where}: {', '.join(leaks)}"


def _cli_command() -> list[str]:
    script = Path(sys.executable).with_name("llmroute")
    return [str(script)] if script.exists() else [sys.executable, "-m", "llmroute"]


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


@dataclass
class Cli:
    """Runs ``llmroute`` as a real subprocess with a clean, test-controlled environment."""

    home: Path
    env: dict[str, str]

    @property
    def cwd(self) -> Path:
        """The working directory of each run (where a ``.env`` is read), apart from the state home."""
        path = self.home.parent / "work"
        path.mkdir(exist_ok=True)
        return path

    def popen(self, *args: str, stdin: int | None = subprocess.DEVNULL, **env: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*_cli_command(), *args],
            env={**self.env, **env},
            cwd=self.cwd,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def __call__(self, *args: str, input: str | bytes | None = None, timeout: float = 60, **env: str) -> Result:
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(
            [*_cli_command(), *args],
            env={**self.env, **env},
            cwd=self.cwd,
            input=data,
            stdin=None if data is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
        return self.result(proc.returncode, proc.stdout, proc.stderr)

    @staticmethod
    def result(code: int, stdout: bytes, stderr: bytes) -> Result:
        assert_no_secret(stdout, "stdout")
        assert_no_secret(stderr, "stderr")
        assert "Traceback" not in stderr.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")
        return Result(code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))


def base_env(home: Path) -> dict[str, str]:
    """Only what a run needs: no real keys, proxies or config from the developer's machine."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "SYSTEMROOT", "LANG", "LC_ALL", "TMPDIR")}
    return {**keep, "HOME": str(home), "LLMROUTE_HOME": str(home), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    path.mkdir()
    yield path
    for file in path.rglob("*"):
        if file.is_file():
            assert_no_secret(file.read_bytes(), f"state file {file.name}")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cloud() -> Iterator[FakeProvider]:
    """A fake OpenRouter + Ollama Cloud on 127.0.0.1 that knows every test key."""
    from tests.fakes import FakeProvider

    keys = {k: f"or{i + 1}" for i, k in enumerate(OR_KEYS)} | {k: f"oll{i + 1}" for i, k in enumerate(OLLAMA_KEYS)}
    keys |= {k: f"oa{i + 1}" for i, k in enumerate(OPENAI_KEYS)} | {k: f"az{i + 1}" for i, k in enumerate(AZURE_KEYS)}
    keys |= {k: f"cf{i + 1}" for i, k in enumerate(CLOUDFLARE_TOKENS)}
    keys |= {k: f"an{i + 1}" for i, k in enumerate(ANTHROPIC_KEYS)} | {
        k: f"gm{i + 1}" for i, k in enumerate(GEMINI_KEYS)
    }
    accounts = dict(zip(CLOUDFLARE_TOKENS, CLOUDFLARE_ACCOUNTS, strict=True))
    models = {
        "openai/gpt-4o-mini",
        "moonshotai/kimi-k2.5",  # retired (2026-09-07, 2026-07-31) but still listed: `models` must say so
        "kimi-k2.5",
        "moonshotai/kimi-k2.6",
        "kimi-k2.6",
        "gpt-oss:120b",
        "meta-llama/llama-3.3-70b-instruct:free",
    }
    aws = dict(zip(AWS_ACCESS_KEY_IDS, AWS_SECRET_KEYS, strict=True))
    with FakeProvider(keys=keys, models=models, cloudflare_accounts=accounts, aws_credentials=aws) as fake:
        yield fake


@pytest.fixture
def local() -> Iterator[FakeProvider]:
    """A fake local Ollama (no auth) on 127.0.0.1."""
    from tests.fakes import FakeProvider

    with FakeProvider(keys={}, models={"llama3.2", "gpt-oss:20b", "kimi-k2.5"}, require_auth=False) as fake:
        yield fake


def keys_env(
    openrouter: int = 0,
    ollama: int = 0,
    openai: int = 0,
    azure: int = 0,
    cloudflare: int = 0,
    anthropic: int = 0,
    gemini: int = 0,
    bedrock: int = 0,
) -> dict[str, str]:
    env = {f"OPENROUTER_API_KEY_{i + 1}": OR_KEYS[i] for i in range(openrouter)}
    env |= {("OLLAMA_API_KEY" if i == 0 else f"OLLAMA_API_KEY_{i + 1}"): OLLAMA_KEYS[i] for i in range(ollama)}
    env |= {("OPENAI_API_KEY" if i == 0 else f"OPENAI_API_KEY_{i + 1}"): OPENAI_KEYS[i] for i in range(openai)}
    env |= {
        ("AZURE_OPENAI_API_KEY" if i == 0 else f"AZURE_OPENAI_API_KEY_{i + 1}"): AZURE_KEYS[i] for i in range(azure)
    }
    env |= {
        ("ANTHROPIC_API_KEY" if i == 0 else f"ANTHROPIC_API_KEY_{i + 1}"): ANTHROPIC_KEYS[i] for i in range(anthropic)
    }
    env |= {("GEMINI_API_KEY" if i == 0 else f"GEMINI_API_KEY_{i + 1}"): GEMINI_KEYS[i] for i in range(gemini)}
    for i in range(bedrock):
        suffix = "" if i == 0 else f"_{i + 1}"
        env |= {
            f"AWS_ACCESS_KEY_ID{suffix}": AWS_ACCESS_KEY_IDS[i],
            f"AWS_SECRET_ACCESS_KEY{suffix}": AWS_SECRET_KEYS[i],
        }
    if bedrock:
        env["AWS_REGION"] = "us-east-1"
    for i in range(cloudflare):
        suffix = "" if i == 0 else f"_{i + 1}"
        env |= {
            f"CLOUDFLARE_API_TOKEN{suffix}": CLOUDFLARE_TOKENS[i],
            f"CLOUDFLARE_ACCOUNT_ID{suffix}": CLOUDFLARE_ACCOUNTS[i],
        }
    return env


@pytest.fixture
def cli(home: Path, cloud: FakeProvider) -> Cli:
    """The CLI pointed at the fake cloud, with no keys yet (tests add them with ``keys_env``)."""
    env = base_env(home) | {"OPENROUTER_BASE_URL": cloud.openrouter_url, "OLLAMA_BASE_URL": cloud.ollama_url}
    env |= {"OPENAI_BASE_URL": cloud.openai_url, "CLOUDFLARE_BASE_URL": cloud.cloudflare_url}
    env |= {"ANTHROPIC_BASE_URL": cloud.anthropic_url, "GEMINI_BASE_URL": cloud.gemini_url}
    env |= {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": cloud.bedrock_url}
    return Cli(home=home, env=env)


def azure_env(cloud: FakeProvider, deployments: Mapping[str, str] | None = None) -> dict[str, str]:
    """Azure's endpoint (setting it enables Azure); deployments are mapped in the config file (see tests)."""
    return {"AZURE_OPENAI_ENDPOINT": cloud.azure_endpoint}


def with_env(cli: Cli, extra: Mapping[str, str]) -> Cli:
    return Cli(home=cli.home, env={**cli.env, **extra})


Warnings = Callable[[], list[str]]


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Warnings:
    """The ``llmroute`` logger's warnings, even after an in-process CLI run stopped it propagating."""
    monkeypatch.setattr(logging.getLogger("llmroute"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="llmroute")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "llmroute" and r.levelno >= logging.WARNING]
