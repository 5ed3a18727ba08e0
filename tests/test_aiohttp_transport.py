"""The aiohttp transport (``Router(http_backend="aiohttp")``, the gateway's) behaves as httpx's own pool does.

Real adapters answer through it, plain and streamed, on every native wire; the bytes a provider receives are
the ones httpx's pool sends. Every fault of the network and of the HTTP framing is classified exactly as on the
httpcore backend: the same ``ErrorKind``, ``Cause``, status and message, the same text delivered before the
failure, and the same connections opened to recover (one fault per row, run on both backends, compared).
The transport's own contract (a stream read again from where it stopped, duplicates kept both ways, the URL
sent byte for byte, proxies as httpx reads them) is checked on a raw socket. And the CLI never imports aiohttp.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmroute import ChatRequest, Router, Store, TextDelta, load_settings
from llmroute.config import Settings
from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.providers import ClientPool, build_adapter
from llmroute.types import Candidate, Target
from tests.conftest import (
    ANTHROPIC_KEYS,
    AWS_ACCESS_KEY_IDS,
    GEMINI_KEYS,
    OLLAMA_KEYS,
    OR_KEYS,
    Cli,
    keys_env,
)
from tests.fakes import (
    Behaviour,
    FakeProvider,
    drop_connection,
    error,
    hang,
    huge_error,
    ollama_error,
    openrouter_error,
    reply,
    stream_reply,
)

aiohttp_transport = pytest.importorskip("llmroute.providers.aiohttp_transport")
AiohttpTransport = aiohttp_transport.AiohttpTransport

BACKENDS = ("httpcore", "aiohttp")
ANSWER = "Hello from the fake provider."
MODELS = {
    "openrouter": ("openai/gpt-4o-mini", OR_KEYS[0]),
    "ollama": ("gpt-oss:120b", OLLAMA_KEYS[0]),
    "anthropic": ("claude-haiku-4-5", ANTHROPIC_KEYS[0]),
    "gemini": ("gemini-2.5-flash", GEMINI_KEYS[0]),
    "bedrock": ("anthropic.claude-3-5-haiku-20241022-v1:0", AWS_ACCESS_KEY_IDS[0]),  # ``:`` signed as ``%253A``
}
BASE_URL_VARIABLE = {
    "openrouter": "OPENROUTER_BASE_URL",
    "ollama": "OLLAMA_BASE_URL",
    "anthropic": "ANTHROPIC_BASE_URL",
    "gemini": "GEMINI_BASE_URL",
    "bedrock": "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
}
DNS_HOST = "llmroute-dns-test.invalid"


def environment(home: Path, cloud: FakeProvider, **base_urls: str) -> dict[str, str]:
    urls = {
        "openrouter": cloud.openrouter_url,
        "ollama": cloud.ollama_url,
        "anthropic": cloud.anthropic_url,
        "gemini": cloud.gemini_url,
        "bedrock": cloud.bedrock_url,
    } | base_urls
    return {
        "LLMROUTE_HOME": str(home),
        "LLMROUTE_ALLOW_INSECURE_HTTP": "1",  # the unresolvable host is plain http and not loopback
        **{BASE_URL_VARIABLE[wire]: url for wire, url in urls.items()},
        **keys_env(openrouter=1, ollama=1, anthropic=1, gemini=1, bedrock=1),
    }


# --------------------------------------------------------------------------- answers through the router


@pytest.fixture
async def router(tmp_path: Path, cloud: FakeProvider) -> AsyncIterator[Router]:
    settings = load_settings(environment(tmp_path, cloud))
    store = Store.open(settings.state_path)
    async with Router(settings, store, http_backend="aiohttp") as router:
        yield router
    store.close()


@pytest.mark.parametrize("provider", sorted(MODELS))
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
async def test_every_native_wire_answers_through_the_aiohttp_transport(
    router: Router, cloud: FakeProvider, provider: str, stream: bool
) -> None:
    model, _ = MODELS[provider]
    request = ChatRequest.from_prompt("Hello", model=f"{provider}:{model}", stream=stream)
    result = await router.complete(request)
    assert (result.text, result.provider) == (ANSWER, provider)
    deltas = [e.text async for e in router.stream(request) if isinstance(e, TextDelta)]
    assert "".join(deltas) == ANSWER
    if stream:
        assert len(deltas) > 1, "a stream is relayed as it comes, not buffered"
    client = router._clients.client(router.settings.provider(provider).base_url)  # type: ignore[union-attr]
    assert isinstance(client._transport, AiohttpTransport)
    assert cloud.chat_requests[-1].headers["user-agent"] == "llmroute"


@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_a_provider_receives_the_headers_httpx_builds_whatever_the_backend(
    tmp_path: Path, cloud: FakeProvider, provider: str
) -> None:
    """aiohttp adds nothing of its own (User-Agent, Accept, Content-Type) and drops nothing; Bedrock's signature
    (over the path's escapes and the headers) verifies at the fake on both."""
    model, _ = MODELS[provider]
    sent: dict[str, dict[str, str]] = {}
    for backend in BACKENDS:
        settings = load_settings(environment(tmp_path / backend, cloud))
        async with Router(settings, Store.open(settings.state_path), http_backend=backend) as router:
            result = await router.complete(ChatRequest.from_prompt("Hello", model=f"{provider}:{model}"))
            assert result.text == ANSWER
        headers = dict(cloud.chat_requests[-1].headers)
        if provider == "bedrock":  # SigV4 signs the time
            del headers["x-amz-date"], headers["authorization"]
        sent[backend] = headers
    assert sent["aiohttp"] == sent["httpcore"]


# --------------------------------------------------------------------------- faults, compared


@dataclass(frozen=True)
class Fault:
    behaviour: Behaviour | dict[str, Behaviour] | None = None
    stream: bool = True
    host: str = "fake"  # or "refused", "unresolvable", "blackhole"
    timeout: float = 5.0
    kind: ErrorKind | None = None
    """Expected on both backends (None: answered)."""
    words: str = ""
    """Expected in the message on both backends."""
    same_text: bool = True
    """Whether the text delivered before the failure must match (a reset may lose bytes still in flight)."""
    whole_body_unread: bool = False
    """The body arrived whole but was not read to its end (its decoding failed first): aiohttp puts a connection
    back in the pool as soon as its body has arrived, httpcore only once its reader saw the end, so the aiohttp
    backend reuses the connection where httpcore opens a new one."""


FAULTS: dict[str, Fault] = {
    "refused": Fault(host="refused", kind=ErrorKind.CONNECTION, words="refused the connection"),
    "unresolvable": Fault(host="unresolvable", kind=ErrorKind.CONNECTION, words=f"could not resolve {DNS_HOST}"),
    "connect-timeout": Fault(host="blackhole", timeout=0.5, kind=ErrorKind.TIMEOUT, words="timed out connecting"),
    "read-timeout": Fault(hang(30), timeout=0.5, kind=ErrorKind.TIMEOUT, words="timed out waiting for data"),
    "stall-mid-stream": Fault(
        stream_reply(stall_after_tokens=1), timeout=0.5, kind=ErrorKind.TIMEOUT, words="timed out waiting"
    ),
    "closed-before-answering": Fault(
        drop_connection(0), kind=ErrorKind.CONNECTION, words="Server disconnected without sending a response."
    ),
    "closed-mid-head": Fault(
        drop_connection(40), kind=ErrorKind.CONNECTION, words="Server disconnected without sending a response."
    ),
    "closed-mid-stream": Fault(
        stream_reply(drop_after_tokens=2), kind=ErrorKind.CONNECTION, words="(incomplete chunked read)"
    ),
    "closed-mid-body": Fault(drop_connection(300), stream=False, kind=ErrorKind.CONNECTION, words="bytes, expected"),
    "cut-mid-chunk": Fault(
        drop_connection(420, reply=stream_reply()), kind=ErrorKind.CONNECTION, words="(incomplete chunked read)"
    ),
    "reset-before-answering": Fault(drop_connection(0, reset=True), kind=ErrorKind.CONNECTION, words="was reset"),
    "reset-mid-stream": Fault(
        drop_connection(600, reset=True, reply=stream_reply()),
        kind=ErrorKind.CONNECTION,
        words="was reset",
        same_text=False,
    ),
    "gzip-stream": Fault(stream_reply(gzip=True)),
    "gzip-body": Fault(reply(gzip=True), stream=False),
    "gzip-error-body": Fault(
        {
            "openrouter": dataclasses.replace(openrouter_error(500, "Internal Server Error"), gzip=True),
            "ollama": error(500, {"error": "Internal Server Error"}, gzip=True),
        },
        kind=ErrorKind.SERVER,
        words="Internal Server Error",
    ),
    "corrupt-gzip": Fault(
        error(200, b"this is not gzip", headers={"Content-Encoding": "gzip"}),
        kind=ErrorKind.BAD_RESPONSE,
        words="could not be decoded",
        whole_body_unread=True,
    ),
    "huge-error-body-cut-at-the-limit": Fault(
        huge_error(502), kind=ErrorKind.SERVER, words="HTTP 502: <p>upstream said no."
    ),
    "huge-gzip-bomb-error-body": Fault(
        huge_error(502, gzip=True), kind=ErrorKind.SERVER, words="HTTP 502: <p>upstream said no."
    ),
    "huge-200-body": Fault(
        huge_error(200, content_type="application/json"),
        stream=False,
        kind=ErrorKind.BAD_RESPONSE,
        words="larger than 16 MiB",
    ),
    "invalid-utf8-error-body": Fault(
        {
            "openrouter": openrouter_error(502, "Provider returned error \udcff\udcfe"),
            "ollama": ollama_error(500, "runner crashed \udcff\udcfe"),
        },
        kind=ErrorKind.SERVER,
        words="\ufffd\ufffd",
    ),
}
WIRES = ("openrouter", "ollama")
BASE_PATH = {"openrouter": "/api/v1", "ollama": ""}


@dataclass(frozen=True)
class Outcome:
    kind: ErrorKind | None
    cause: Cause | None
    status: int | None
    message: str | None
    text: str
    after: str | None
    """The answer to a plain request made next on the same pool (None for an unreachable host)."""
    connections: int
    """Connections the fake accepted for the fault and the request after it."""


@pytest.fixture
def unresolvable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``DNS_HOST`` fails to resolve without asking the machine's resolver; every other name resolves."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name == DNS_HOST:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A loopback port whose accept queue is full: the kernel drops further SYNs, so a connect hangs."""
    if not sys.platform.startswith("linux"):
        pytest.skip("relies on Linux dropping SYNs to a full accept queue")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in (*fillers, server):
        sock.close()


async def run_fault(
    backend: str, wire: str, fault: Fault, tmp_path: Path, cloud: FakeProvider, base_url: str | None
) -> Outcome:
    model, key = MODELS[wire]
    home = tmp_path / f"{wire}-{backend}"
    settings: Settings = load_settings(environment(home, cloud, **({wire: base_url} if base_url else {})))
    provider = settings.provider(wire)
    assert provider is not None
    clients = ClientPool("llmroute", backend=backend)
    adapter = build_adapter(provider, clients)
    candidate = Candidate(Target(wire, model), settings.slots(wire)[0])
    behaviour = fault.behaviour[wire] if isinstance(fault.behaviour, dict) else fault.behaviour
    if behaviour is not None:
        cloud.script(key, behaviour)
    opened = cloud.connections_opened
    request = ChatRequest.from_prompt("hi", stream=fault.stream)
    text: list[str] = []
    failure: ProviderError | None = None
    try:
        try:
            async for event in adapter.chat(candidate, request, timeout=fault.timeout):
                if isinstance(event, TextDelta):
                    text.append(event.text)
        except ProviderError as exc:
            failure = exc
        after = None
        if base_url is None:
            async for event in adapter.chat(candidate, ChatRequest.from_prompt("again", stream=False), timeout=5):
                if isinstance(event, TextDelta):
                    after = (after or "") + event.text
    finally:
        await clients.aclose()
    assert cloud.remaining(key) == 0
    return Outcome(
        kind=failure.kind if failure else None,
        cause=failure.cause if failure else None,
        status=failure.status if failure else None,
        message=failure.message if failure else None,
        text="".join(text) if fault.same_text else "",
        after=after,
        connections=cloud.connections_opened - opened,
    )


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("name", sorted(FAULTS))
async def test_a_fault_is_classified_as_on_httpx_own_pool(
    request: pytest.FixtureRequest, tmp_path: Path, cloud: FakeProvider, wire: str, name: str
) -> None:
    fault = FAULTS[name]
    base_url = None
    if fault.host == "refused":
        base_url = f"http://127.0.0.1:{request.getfixturevalue('closed_port')}{BASE_PATH[wire]}"
    elif fault.host == "unresolvable":
        request.getfixturevalue("unresolvable")
        base_url = f"http://{DNS_HOST}{BASE_PATH[wire]}"
    elif fault.host == "blackhole":
        base_url = f"http://127.0.0.1:{request.getfixturevalue('blackhole')}{BASE_PATH[wire]}"
    outcomes = {backend: await run_fault(backend, wire, fault, tmp_path, cloud, base_url) for backend in BACKENDS}
    if fault.whole_body_unread:
        assert (outcomes["httpcore"].connections, outcomes["aiohttp"].connections) == (2, 1)
        outcomes = {backend: dataclasses.replace(seen, connections=0) for backend, seen in outcomes.items()}
    assert outcomes["aiohttp"] == outcomes["httpcore"]
    seen = outcomes["aiohttp"]
    assert seen.kind == fault.kind
    assert fault.words in (seen.message or "")
    if base_url is None:
        assert seen.after == ANSWER, "the pool recovers: the next request is answered"
    if fault.host in ("refused", "unresolvable"):
        assert seen.cause is Cause.UNREACHABLE


# --------------------------------------------------------------------------- the transport on a raw socket


@dataclass
class RawServer:
    """Answers every request with ``response`` (raw bytes) and keeps what it received."""

    response: bytes
    received: list[bytes]
    port: int = 0
    connections: int = 0
    close: bool = False
    """Close the connection after each response (with ``response`` cut short: a fault)."""


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    raw = RawServer(response=b"", received=[])

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                raw.received.append(head + await reader.readexactly(length))
                writer.write(raw.response)
                await writer.drain()
                if raw.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    raw.port = server.sockets[0].getsockname()[1]
    async with server:
        yield raw


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


async def test_requests_and_responses_keep_duplicate_headers_the_exact_url_and_the_http_version(
    raw_server: RawServer,
) -> None:
    raw_server.response = b"HTTP/1.1 201 Made Up\r\nX-Dup: one\r\nx-dup: two\r\nContent-Length: 2\r\n\r\nok"
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        url = f"http://127.0.0.1:{raw_server.port}/model/a%253Ab%3Ac/invoke?x=%2F&y=1"
        headers = [("X-Twice", "a"), ("X-Twice", "b"), ("User-Agent", "llmroute")]
        response = await client.post(url, content=b'{"a":1}', headers=headers)
    assert (response.status_code, response.reason_phrase, response.http_version) == (201, "Made Up", "HTTP/1.1")
    assert response.headers.get_list("x-dup") == ["one", "two"]
    assert response.text == "ok"
    sent = raw_server.received[0]
    head, _, body = sent.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /model/a%253Ab%3Ac/invoke?x=%2F&y=1 HTTP/1.1"
    assert body == b'{"a":1}'
    names = [line.split(b":", 1)[0].lower() for line in lines[1:]]
    assert names.count(b"x-twice") == 2
    assert sorted(names) == sorted(
        [
            b"host",
            b"accept",
            b"accept-encoding",
            b"connection",
            b"user-agent",
            b"content-length",
            b"x-twice",
            b"x-twice",
        ]
    )


async def test_a_stream_is_read_again_from_where_its_reader_stopped_and_then_its_connection_is_kept(
    raw_server: RawServer,
) -> None:
    """What ``providers.base.release`` relies on: the tail of a stream after its reader's own end is read by
    iterating ``response.stream`` again, and a body read whole leaves its connection in the pool."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw_server.response = head + chunked(b"data: one\n\n", b"data: [DONE]\n\n", b"\n")
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        for _ in range(3):
            response = await client.send(
                client.build_request("POST", f"http://127.0.0.1:{raw_server.port}/"), stream=True
            )
            seen = b""
            async for chunk in response.stream:  # type: ignore[union-attr]
                seen += chunk
                if b"[DONE]" in seen:
                    break
            async for chunk in response.stream:  # type: ignore[union-attr]
                seen += chunk
            await response.aclose()
            assert seen == b"data: one\n\ndata: [DONE]\n\n\n"
    assert (len(raw_server.received), raw_server.connections) == (3, 1)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_bytes_that_arrived_before_a_failure_are_read_before_it(raw_server: RawServer, backend: str) -> None:
    """aiohttp raises a stream's failure ahead of the bytes it still holds; the transport delivers them first,
    as httpcore does, even when the reader comes back only after the connection broke."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw_server.response = head + chunked(b"data: one\n")[: -len(b"0\r\n\r\n")]  # a chunk, then the server closes
    raw_server.close = True
    transport = AiohttpTransport() if backend == "aiohttp" else None
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.send(client.build_request("POST", f"http://127.0.0.1:{raw_server.port}/"), stream=True)
        await asyncio.sleep(0.2)  # the chunk and the close both arrive before anything is read
        seen = b""
        with pytest.raises(httpx.RemoteProtocolError, match=r"\(incomplete chunked read\)"):
            async for chunk in response.aiter_raw():
                seen += chunk
        await response.aclose()
    assert seen == b"data: one\n"


async def test_a_stream_closed_midway_closes_its_connection(raw_server: RawServer, cloud: FakeProvider) -> None:
    model, key = MODELS["openrouter"]
    cloud.script(key, stream_reply("one two three four five six", chunk_delay=0.2))
    transport = AiohttpTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        request = client.build_request(
            "POST", f"{cloud.openrouter_url}/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        response = await client.send(request, stream=True)
        async for _ in response.aiter_bytes():
            break
        await response.aclose()
        connector = transport._session.connector
        assert sum(len(idle) for idle in connector._conns.values()) + len(connector._acquired) == 0
        again = await client.post(
            f"{cloud.openrouter_url}/chat/completions",
            json={**body, "stream": False},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert again.status_code == 200
        assert sum(len(idle) for idle in connector._conns.values()) == 1


async def test_pool_timeout_is_told_from_connect_timeout(cloud: FakeProvider) -> None:
    model, key = MODELS["openrouter"]
    cloud.script(key, stream_reply(chunk_delay=0.5))
    async with httpx.AsyncClient(transport=AiohttpTransport(limit=1)) as client:
        url = f"{cloud.openrouter_url}/chat/completions"
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        auth = {"Authorization": f"Bearer {key}"}
        busy = await client.send(client.build_request("POST", url, json=body, headers=auth), stream=True)
        with pytest.raises(httpx.PoolTimeout):
            await client.post(url, json=body, headers=auth, timeout=httpx.Timeout(0.2))
        await busy.aclose()


async def test_proxies_from_the_environment_are_used_as_httpx_reads_them(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch, unresolvable: None
) -> None:
    raw_server.response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{raw_server.port}")
    monkeypatch.setenv("NO_PROXY", "localhost")
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        response = await client.get(f"http://{DNS_HOST}/v1/models")
    assert response.text == "ok"
    assert raw_server.received[0].startswith(f"GET http://{DNS_HOST}/v1/models HTTP/1.1\r\n".encode())

    monkeypatch.setenv("NO_PROXY", DNS_HOST)
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ConnectError, match="Name or service not known"):
            await client.get(f"http://{DNS_HOST}/v1/models")

    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("HTTP_PROXY", "socks5://127.0.0.1:1080")
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ProxyError, match="socks5 proxies are not supported"):
            await client.get(f"http://{DNS_HOST}/v1/models")


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown HTTP backend 'curl'"):
        ClientPool("llmroute", backend="curl")


# --------------------------------------------------------------------------- import cost


def test_the_http_module_and_the_default_pool_never_import_aiohttp() -> None:
    code = (
        "import sys, asyncio, llmroute.providers.http as http\n"
        "pool = http.ClientPool('llmroute')\n"
        "pool.client('http://127.0.0.1:9')\n"
        "asyncio.run(pool.aclose())\n"
        "print(sorted(m for m in ('aiohttp', 'yarl', 'multidict', 'llmroute.providers.aiohttp_transport') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_cli_chat_never_imports_aiohttp(cli: Cli) -> None:
    chat = ["chat", "--no-stdin", "-m", "openrouter:openai/gpt-4o-mini", "hi"]
    command = [sys.executable, "-X", "importtime", "-m", "llmroute", *chat]
    env = {**cli.env, **keys_env(openrouter=1)}
    proc = subprocess.run(command, env=env, cwd=cli.cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ANSWER + "\n"
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "httpx" in imported
    assert not imported & {"aiohttp", "yarl", "multidict", "llmroute.providers.aiohttp_transport"}
