"""The canary scan of ``llmroute serve``: every key a random canary, every byte the gateway sends or keeps scanned.

One real ``llmroute serve -v --port 0`` process with two keys of every provider (OpenRouter, Ollama Cloud, OpenAI,
Azure OpenAI, Cloudflare, Anthropic, Gemini, Bedrock with SigV4) and a gateway token. Through both APIs (OpenAI
and Ollama), whole and streamed, it answers, and meets provider errors that quote the key raw, base64-encoded and
as hex: 401s (the key is disabled, key 2 answers), 500s on both keys (a 502), 400s, 429s and streams that break
after their first token with the key in the error. Between the faults it is asked for everything else it serves:
``/v1/models``, ``/v1/models/{id}``, ``/api/tags``, ``/api/show``, ``/api/version``, ``/api/ps``, ``/``,
``/health``, ``/health/providers`` (key states with the providers' reasons), ``/metrics``, unknown routes and
refusals for a missing or wrong token (one of them a provider key sent as the gateway token). Then a server per
injected bug (``tests/test_canary.py``'s ``sitecustomize`` hook: exceptions that carry the request's headers, the
key raw, encoded, chained, grouped or cut short) answers 500s on both APIs.

Every response's status line, headers and body, the server's stderr (``-v``), and every file under the home (the
state file, its WAL and SHM), the working directory and ``TMPDIR`` are scanned for every canary in every form
:func:`tests.conftest.find_leaks` knows, and for the gateway token: 0 hits. Nothing the client sent to the
gateway (its ``Authorization`` header, the token, another header holding a secret) reaches the fake providers.
"""

from __future__ import annotations

import json
import secrets
import textwrap
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import (
    ALL_SECRETS,
    AWS_ACCESS_KEY_IDS,
    AWS_SECRET_KEYS,
    AZURE_KEYS,
    CLOUDFLARE_TOKENS,
    OLLAMA_KEYS,
    OPENAI_KEYS,
    OR_KEYS,
    Cli,
    azure_env,
    find_leaks,
    keys_env,
    with_env,
)
from tests.fakes import Behaviour, FakeProvider, error, stream_reply
from tests.test_canary import (
    DEPLOYMENTS,
    HOOK,
    NATIVE_MODELS,
    NEW_BUGS,
    NEW_MODELS,
    echoing,
    forms_of,
    native_error,
    native_stream_error,
    scan_tree,
)
from tests.test_server_openai import Served, serve, sse_events

TOKEN = "gw-" + secrets.token_urlsafe(32)
"""The gateway token (``LLMROUTE_SERVER_TOKEN``): clients send it, nothing else may show or forward it."""
CLIENT_SECRET = "client-" + secrets.token_urlsafe(32)
"""A secret a client sends the gateway in a header of its own: it must not reach a provider either."""
EXTRA = (TOKEN, CLIENT_SECRET)
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Client-Secret": CLIENT_SECRET}

MODELS = {
    "openrouter": "openrouter:openai/gpt-4o-mini",
    "ollama": "ollama:gpt-oss:120b",
    **NEW_MODELS,
    **NATIVE_MODELS,
}
SECRETS = {
    "openrouter": OR_KEYS[:2],
    "ollama": OLLAMA_KEYS[:2],
    "openai": OPENAI_KEYS[:2],
    "azure": AZURE_KEYS[:2],
    "cloudflare": CLOUDFLARE_TOKENS[:2],
    "anthropic": [s for s in ALL_SECRETS if s.startswith("sk-ant-api03-")][:2],
    "gemini": [s for s in ALL_SECRETS if s.startswith("AIza")][:2],
    "bedrock": AWS_SECRET_KEYS[:2],
}
"""Each provider's two secrets, in key order."""
IDS = {**SECRETS, "bedrock": AWS_ACCESS_KEY_IDS[:2]}
"""What the fake scripts each key by: the secret, or Bedrock's access key id."""
AUTH_HEADER = {"openrouter": "Bearer ", "ollama": "Bearer ", "openai": "Bearer ", "cloudflare": "Bearer "}
"""How each key travels (for the base64 echo of the whole header); the rest send the bare key."""


def echo_error(provider: str, status: int, secret: str, text: str) -> Behaviour:
    """``provider``'s error for ``status`` in its own shape, its message quoting ``text``."""
    if provider == "openrouter":
        return error(status, {"error": {"code": status, "message": text}})
    if provider == "ollama":
        return error(status, {"error": text})
    if provider in NEW_MODELS:
        status = 403 if provider == "cloudflare" and status == 401 else status
        return echoing(provider, status, secret, text)
    return native_error(provider, status, text)


def echo_stream_error(provider: str, text: str) -> Behaviour:
    """A stream that breaks after two tokens, its error quoting ``text``."""
    if provider in NATIVE_MODELS:
        return native_stream_error(provider, text)
    return stream_reply(error_after_tokens=2, error_message=text)


@dataclass
class Seen:
    """Every response the gateway sent: what the scan reads."""

    responses: list[tuple[str, int, bytes]] = field(default_factory=list)

    def add(self, label: str, response: httpx.Response) -> httpx.Response:
        head = f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n".encode()
        head += b"".join(f"{k}: {v}\r\n".encode() for k, v in response.headers.multi_items())
        self.responses.append((label, response.status_code, head + b"\r\n" + response.content))
        return response

    def leaks(self) -> list[str]:
        return [f"{label}: {leak}" for label, _, data in self.responses for leak in leaks(data)]


def leaks(data: bytes | str) -> list[str]:
    return find_leaks(data) + find_leaks(data, list(EXTRA))


@dataclass
class Client:
    """A client of one running gateway that records every response."""

    served: Served
    seen: Seen

    def request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        headers = {**(AUTH if auth else {}), **kwargs.pop("headers", {})}
        response = httpx.request(method, f"{self.served.url}{path}", headers=headers, timeout=30, **kwargs)
        return self.seen.add(f"{method} {path}", response)

    def chat(self, api: str, model: str, *, stream: bool, prompt: str = "hi") -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}
        return self.request("POST", "/v1/chat/completions" if api == "openai" else "/api/chat", json=body)

    def everything_else(self) -> None:
        """Every route that is not a chat, with the token, and the health and metrics documents."""
        for path in ("/v1/models", "/api/tags", "/api/version", "/api/ps", "/", "/health", "/metrics"):
            assert self.request("GET", path).status_code == 200, path
        assert self.request("GET", "/health/providers").status_code in (200, 503)
        assert self.request("GET", "/metrics", headers={"Accept": "application/openmetrics-text"}).status_code == 200
        for model in ("gpt-4o-mini", *MODELS.values()):
            self.request("POST", "/api/show", json={"model": model})
            self.request("GET", f"/v1/models/{model}")
        assert self.request("GET", "/v1/nothing").status_code == 404
        assert self.request("GET", "/api/nothing").status_code == 404
        assert self.request("DELETE", "/v1/chat/completions").status_code == 405


def served_with(cli: Cli, *, bug: str | None = None) -> Served:
    env = {"LLMROUTE_SERVER_TOKEN": TOKEN, "TMPDIR": str(cli.home.parent / "tmp")}
    if bug is not None:
        env |= {"PYTHONPATH": str(cli.home.parent / "hook"), "LLMROUTE_TEST_BUG": bug}
    return serve(cli, "-v", **env)


@pytest.fixture
def gateway_cli(cli: Cli, cloud: FakeProvider) -> Cli:
    every = keys_env(openrouter=2, ollama=2, openai=2, azure=2, cloudflare=2, anthropic=2, gemini=2, bedrock=2)
    configured = with_env(cli, every | azure_env(cloud))
    config = cli.home / "config.toml"
    config.write_text("[routing]\nmax_attempts = 6\n" + DEPLOYMENTS)
    config.chmod(0o600)
    (cli.home.parent / "tmp").mkdir()
    hook = cli.home.parent / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent(HOOK))
    return configured


def answered(response: httpx.Response, api: str, stream: bool) -> str:
    """The answer's text; fails on anything but a whole answer."""
    assert response.status_code == 200, response.text
    if not stream:
        document = response.json()
        return document["choices"][0]["message"]["content"] if api == "openai" else document["message"]["content"]
    if api == "openai":
        events = sse_events(response.text)
        assert events[-1] == "[DONE]", response.text
        return "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines[-1]["done"] is True, response.text
    return "".join(line["message"]["content"] for line in lines)


def error_message(response: httpx.Response, api: str) -> str:
    """The message of an error response, in the API's own shape."""
    document = response.json()
    if api == "openai":
        assert set(document["error"]) >= {"message", "type", "code"}, document
        return str(document["error"]["message"])
    assert isinstance(document["error"], str), document
    return document["error"]


def broken_stream_message(response: httpx.Response, api: str) -> str:
    """The error that ends a stream broken after its first token (no ``[DONE]``, no ``done: true``)."""
    assert response.status_code == 200, response.text
    if api == "openai":
        events = sse_events(response.text)
        assert "[DONE]" not in events and len(events) >= 2, response.text
        return str(json.loads(events[-1])["error"]["message"])
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert not any(line.get("done") for line in lines) and len(lines) >= 2, response.text
    return str(lines[-1]["error"])


def reset(cli: Cli) -> None:
    """Clear what the faults left (another process on the same state file, as in real use)."""
    result = cli("reset-limits")
    assert result.code == 0, result.stderr


def test_no_canary_in_any_response_log_or_state_file(gateway_cli: Cli, cloud: FakeProvider) -> None:
    cli, seen = gateway_cli, Seen()
    served = served_with(cli)
    client = Client(served, seen)
    try:
        # Refusals before anything else: no token, a wrong one, a provider key sent as the gateway token.
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {OR_KEYS[0]}"}):
            for method, path in (("POST", "/v1/chat/completions"), ("POST", "/api/chat"), ("GET", "/metrics")):
                response = client.request(method, path, auth=False, headers=headers, json={"model": "x"})
                assert response.status_code == 401
        assert len(cloud.requests) == 0

        # Answers from every provider, both APIs, whole and streamed; a prompt holding keys.
        for provider, model in MODELS.items():
            for api in ("openai", "ollama"):
                for stream in (False, True):
                    assert answered(client.chat(api, model, stream=stream), api, stream), (provider, api, stream)
        prompt = "the keys are " + " ".join(SECRETS["openrouter"] + SECRETS["azure"])
        answered(client.chat("openai", MODELS["openrouter"], stream=True, prompt=prompt), "openai", True)
        client.everything_else()

        # 401s quoting key 1 (raw, the auth header base64-encoded, hex): key 1 is disabled, key 2 answers.
        for round_ in range(3):
            for n, (provider, model) in enumerate(MODELS.items()):
                secret = SECRETS[provider][0]
                echo = forms_of(secret, AUTH_HEADER.get(provider, ""))[round_]
                cloud.script(IDS[provider][0], echo_error(provider, 401, secret, f"Invalid credential {echo} provided"))
                api, stream = ("openai", "ollama")[n % 2], bool(round_ % 2)
                response = client.chat(api, model, stream=stream)
                assert answered(response, api, stream), (provider, response.text)
                assert response.headers["x-llmroute-attempts"] == "2", (provider, response.headers)
            client.everything_else()
            reset(cli)

        # Every key answering 500 with its key in the message: a 502 whose message quotes the last error.
        for n, (provider, model) in enumerate(MODELS.items()):
            for identity, secret in zip(IDS[provider], SECRETS[provider], strict=True):
                cloud.script(identity, echo_error(provider, 500, secret, f"upstream saw {secret}"))
            api = ("openai", "ollama")[n % 2]
            response = client.chat(api, model, stream=bool(n % 3))
            assert response.status_code == 502, (provider, response.text)
            assert "upstream saw" in error_message(response, api), response.text
        client.everything_else()
        reset(cli)

        # A 400 quoting the key: the request is refused as the client's to fix.
        for n, (provider, model) in enumerate(MODELS.items()):
            secret = SECRETS[provider][0]
            cloud.script(IDS[provider][0], echo_error(provider, 400, secret, f"bad input near {secret}"))
            api = ("ollama", "openai")[n % 2]
            response = client.chat(api, model, stream=bool(n % 2))
            assert response.status_code == 400, (provider, response.text)
            assert "bad input near" in error_message(response, api), response.text

        # Streams that break after their first token, the error quoting the key: the end event or line says so.
        # Key 1 breaks the OpenAI stream and cools down; key 2 then breaks the Ollama one.
        for provider, model in MODELS.items():
            for index, api in enumerate(("openai", "ollama")):
                secret = SECRETS[provider][index]
                cloud.script(IDS[provider][index], echo_stream_error(provider, f"died holding {secret}"))
                assert "died holding" in broken_stream_message(client.chat(api, model, stream=True), api)
                assert cloud.remaining(IDS[provider][index]) == 0, (provider, api)
        client.everything_else()
        reset(cli)

        # 429s on both keys, quoting them: a 429 with Retry-After, then one refused at once (the held keys named).
        for secret in SECRETS["openrouter"]:
            cloud.script(
                secret, error(429, {"error": {"code": 429, "message": f"slow down {secret}"}}, {"Retry-After": "90"})
            )
        for secret in SECRETS["openai"]:
            cloud.script(secret, echoing("openai", 429, secret, f"Rate limit reached for {secret}"))
        for api, model in (("openai", MODELS["openrouter"]), ("ollama", MODELS["openai"])):
            for attempts in ("2", "0"):
                response = client.chat(api, model, stream=attempts == "0")
                assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1, response.text
                assert response.headers["x-llmroute-attempts"] == attempts, response.headers
        client.everything_else()

        # The catalogues cached: the model lists and /api/show describe them.
        assert cli("models", "--refresh").code == 0
        client.everything_else()
        reset(cli)
    finally:
        code = served.stop()
    assert code == 0, served.stderr
    stderr = served.stderr
    assert "Traceback" not in stderr, stderr
    assert "upstream saw" in stderr and "died holding" in stderr, "-v shows the providers' messages (masked)"

    # Bugs injected into every adapter (the key in the exception, raw, encoded, chained, grouped, cut short):
    # a 500 on both APIs, one masked line on stderr.
    bug_stderr = []
    for bug in NEW_BUGS:
        bugged = served_with(cli, bug=bug)
        bug_client = Client(bugged, seen)
        try:
            for n, (provider, model) in enumerate(MODELS.items()):
                api = ("openai", "ollama")[n % 2]
                response = bug_client.chat(api, model, stream=bool(n % 3))
                assert response.status_code == 500, (bug, provider, response.text)
                assert "internal error" in error_message(response, api), response.text
        finally:
            code = bugged.stop()
        assert code == 0, bugged.stderr
        assert "Traceback" not in bugged.stderr, bugged.stderr
        bug_stderr.append(bugged.stderr)

    # The client's credential and headers never reached a provider.
    requests = cloud.requests
    assert requests
    for request in requests:
        sent = json.dumps(request.headers).encode() + request.raw_body + request.path.encode() + request.query.encode()
        assert find_leaks(sent, list(EXTRA)) == [], (request.method, request.path)
        assert "x-client-secret" not in request.headers

    # The scan: every response, the server's stderr, the state files, the working directory and TMPDIR.
    hits = seen.leaks()
    hits += [f"stderr: {leak}" for leak in leaks(stderr)]
    hits += [f"stderr ({bug}): {leak}" for bug, err in zip(NEW_BUGS, bug_stderr, strict=True) for leak in leaks(err)]
    for where, root in (("home", cli.home), ("cwd", cli.cwd), ("TMPDIR", cli.home.parent / "tmp")):
        hits += [f"{where}/{hit}" for hit in scan_tree(root, extra=EXTRA)]
    statuses = sorted({status for _, status, _ in seen.responses})
    size = sum(len(data) for _, _, data in seen.responses) + len(stderr) + sum(map(len, bug_stderr))
    print(
        f"\nserve canary: {len(seen.responses)} responses (statuses {statuses}), {size} bytes scanned, {len(hits)} hits"
    )
    assert {200, 400, 401, 404, 405, 429, 500, 502} <= set(statuses)
    assert hits == [], "\n".join(hits)


def test_the_scan_finds_a_canary_in_a_response() -> None:
    """A self-test: a response quoting a key or the token, raw or encoded, is a hit."""
    seen = Seen()
    for secret in (OR_KEYS[0], AZURE_KEYS[1], TOKEN, CLIENT_SECRET):
        for form in (secret, json.dumps({"error": secret.encode().hex()}), f"x-y: {secret[:30]}"):
            seen.responses.clear()
            response = httpx.Response(502, headers={"x-echo": form.encode().hex()}, content=form.encode())
            seen.add("probe", response)
            assert seen.leaks() != [], form
