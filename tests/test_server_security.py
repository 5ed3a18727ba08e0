"""``llmroute serve``'s security: loopback by default, the gateway token, body limits, timeouts, no key shown.

One real server per module with ``LLMROUTE_SERVER_TOKEN`` set; the timeouts are tested in process, on the same
application with short limits (the defaults are a minute).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import OR_KEYS, Cli, assert_no_secret, keys_env
from tests.fakes import DEFAULT_TEXT, FakeProvider, stream_reply
from tests.test_server_openai import MESSAGES, MODEL, Served, chat_body, cli_for, fake_cloud, serve

TOKEN = secrets.token_urlsafe(32)
API_ROUTES = [
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("GET", f"/v1/models/openrouter:{MODEL}"),
    ("GET", "/v1/nothing"),
    ("GET", "/"),
    ("POST", "/api/chat"),
    ("GET", "/api/tags"),
    ("GET", "/metrics"),
    ("GET", "/health/providers"),
]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with fake_cloud() as provider:
        yield provider


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("serve-security") / "home"
    home.mkdir()
    yield home
    for file in home.rglob("*"):
        if file.is_file():
            assert_no_secret(file.read_bytes(), f"state file {file.name}")


@pytest.fixture(scope="module")
def module_cli(module_home: Path, fake: FakeProvider) -> Cli:
    return cli_for(module_home, fake, **keys_env(openrouter=2))


@pytest.fixture(scope="module")
def server(module_cli: Cli) -> Iterator[Served]:
    served = serve(module_cli, "-v", LLMROUTE_SERVER_TOKEN=TOKEN)
    yield served
    assert served.stop() == 0
    served.check_output()
    assert TOKEN not in served.stderr


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------------------------------------ binding


@pytest.mark.parametrize(
    ("host", "token"),
    [("0.0.0.0", None), ("0.0.0.0", ""), ("0.0.0.0", "   "), ("::", None), ("192.0.2.1", None), ("", None)],
)
def test_a_non_loopback_address_needs_a_token(module_cli: Cli, host: str, token: str | None) -> None:
    env = {} if token is None else {"LLMROUTE_SERVER_TOKEN": token}
    result = module_cli("serve", "--host", host, "--port", "0", timeout=20, **env)
    assert result.code == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "LLMROUTE_SERVER_TOKEN" in lines[0]


def test_with_a_token_it_listens_on_every_address(module_cli: Cli) -> None:
    served = serve(module_cli, "--host", "0.0.0.0", LLMROUTE_SERVER_TOKEN=TOKEN)
    try:
        assert served.url.startswith("http://0.0.0.0:")
        port = served.url.rsplit(":", 1)[1]
        local = f"http://127.0.0.1:{port}/v1/models"
        assert httpx.get(local).status_code == 401
        assert httpx.get(local, headers=bearer(TOKEN)).status_code == 200
    finally:
        assert served.stop() == 0
    served.check_output()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("127.0.0.1.nip.io", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    from llmroute.errors import ConfigError
    from llmroute.server.run import check_bind, is_loopback

    assert is_loopback(host) is loopback
    check_bind(host, "a-token")
    if not loopback:
        with pytest.raises(ConfigError, match="LLMROUTE_SERVER_TOKEN"):
            check_bind(host, None)


# ------------------------------------------------------------------------------------------------ the token


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_every_api_route_needs_the_token(server: Served, fake: FakeProvider, method: str, path: str) -> None:
    before = len(fake.requests)
    body = json.dumps(chat_body()).encode() if method == "POST" else None
    for headers in (
        {},
        bearer("wrong"),
        bearer(TOKEN[:-1]),
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        response = httpx.request(method, f"{server.url}{path}", content=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        if path.startswith("/v1/"):
            assert response.json()["error"]["type"] == "authentication_error"
    assert len(fake.requests) == before  # a refused request never reaches a provider


def test_liveness_needs_no_token(server: Served) -> None:
    assert httpx.get(f"{server.url}/health").status_code != 401


def test_the_official_client_raises_authentication_error(server: Served, fake: FakeProvider) -> None:
    before = len(fake.requests)
    with pytest.raises(openai.AuthenticationError):
        server.client("not-the-token").chat.completions.create(model=MODEL, messages=MESSAGES)
    with pytest.raises(openai.AuthenticationError):
        server.client("not-the-token").models.list()
    assert len(fake.requests) == before


def test_the_client_authorization_is_never_forwarded(server: Served, fake: FakeProvider) -> None:
    completion = server.client(TOKEN).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert completion.choices[0].message.content == DEFAULT_TEXT
    upstream = fake.chat_requests[-1]
    assert upstream.bearer == OR_KEYS[0]
    assert TOKEN not in json.dumps(upstream.headers) and TOKEN.encode() not in upstream.raw_body


# ------------------------------------------------------------------------------------------------ limits


def test_a_body_over_the_limit_is_413(server: Served, fake: FakeProvider) -> None:
    before = len(fake.requests)
    big = b'{"model": "x", "messages": [{"role": "user", "content": "' + b"a" * (33 * 1024 * 1024) + b'"}]}'
    response = httpx.post(f"{server.url}/v1/chat/completions", content=big, headers=bearer(TOKEN), timeout=60)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert len(fake.requests) == before


def test_a_body_over_the_limit_in_chunks_is_413(server: Served) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(40):
            yield b"a" * (1024 * 1024)
        yield b'"}]}'

    response = httpx.post(f"{server.url}/v1/chat/completions", content=pieces(), headers=bearer(TOKEN), timeout=60)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_no_key_in_any_answer(server: Served) -> None:
    client = server.client(TOKEN)
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert_no_secret(raw.http_response.content, "a chat answer")
    assert_no_secret(json.dumps(dict(raw.headers)), "the answer's headers")
    with httpx.stream(
        "POST", f"{server.url}/v1/chat/completions", json=chat_body(stream=True), headers=bearer(TOKEN)
    ) as response:
        assert_no_secret(response.read(), "a streamed answer")
        assert_no_secret(json.dumps(dict(response.headers)), "the stream's headers")
    models = httpx.get(f"{server.url}/v1/models", headers=bearer(TOKEN))
    assert_no_secret(models.content, "the model list")


# ------------------------------------------------------------------------------------------------ timeouts
# In process: the same application, with timeouts of a fraction of a second.


@pytest.fixture
async def quick_server(tmp_path: Path, fake: FakeProvider) -> AsyncIterator[str]:
    """A server in this process with an idle timeout and a body timeout of half a second."""
    from llmroute.config import load_settings
    from llmroute.server.gateway import Gateway
    from llmroute.server.run import build_router, start
    from llmroute.store import Store

    env = cli_for(tmp_path, fake, **keys_env(openrouter=1)).env
    settings = load_settings(env)
    store = Store.open(settings.state_path)
    gateway = Gateway(settings, store, build_router(settings, store), token=TOKEN)
    server = await start(gateway, host="127.0.0.1", port=0, keepalive_timeout=0.5, body_timeout=0.5)
    try:
        yield server.url
    finally:
        await server.stop(grace=1)
        await gateway.aclose()
        store.close()


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(*_address(url))


async def test_a_slow_body_times_out_with_408(quick_server: str) -> None:
    reader, writer = await _connect(quick_server)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n"
    )
    writer.write(head.encode() + b'{"messages": [')
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), timeout=5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"request_timeout"' in answer


async def test_an_idle_connection_is_closed(quick_server: str) -> None:
    reader, writer = await _connect(quick_server)
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""
    writer.close()


async def test_slow_headers_are_cut_off(quick_server: str) -> None:
    reader, writer = await _connect(quick_server)
    writer.write(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""
    writer.close()


async def test_a_kept_alive_connection_is_closed_when_idle(quick_server: str) -> None:
    reader, writer = await _connect(quick_server)
    writer.write(f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    await writer.drain()
    first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    assert first.startswith(b"HTTP/1.1 200")
    length = int(
        next(line for line in first.split(b"\r\n") if line.lower().startswith(b"content-length")).split(b":")[1]
    )
    await reader.readexactly(length)
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # closed after the idle timeout
    writer.close()


def test_the_port_is_free_again_after_stop(module_cli: Cli) -> None:
    served = serve(module_cli)
    port = int(served.url.rsplit(":", 1)[1])
    assert served.stop() == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


async def test_a_client_that_stops_reading_is_given_up(
    quick_server: str, fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmroute.server import openai_api

    monkeypatch.setattr(openai_api, "WRITE_TIMEOUT", 0.5)
    fake.script(OR_KEYS[0], stream_reply("many words " * 500, repeat=100))
    reader, writer = await asyncio.open_connection(*_address(quick_server), limit=1024)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    body = json.dumps(chat_body(stream=True)).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    # ... and read nothing more: the server gives up on this client and cancels its request.
    deadline = asyncio.get_running_loop().time() + 15
    while ledger(tmp_path) != [("cancelled",)] and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    assert ledger(tmp_path) == [("cancelled",)]
    writer.close()


def ledger(home: Path) -> list[tuple[str]]:
    conn = sqlite3.connect(home / "state.db")
    try:
        return list(conn.execute("SELECT outcome FROM attempts"))
    finally:
        conn.close()
