"""A minimal OpenAI-style chat server on 127.0.0.1 for the hot-path benchmarks: one write per response.

It does as little as an HTTP/1.1 server can, so that what a benchmark measures is
the client: keep-alive, ``Content-Length`` bodies for plain answers and one
chunked SSE stream (written at once, or with a pause before the first token to
measure first-token relay) for streamed ones. It counts the TCP connections it
accepts. Not a fake of any provider: the tests have those (``tests/fakes``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_790_000_000,
    "model": "bench-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8, "cost": 0.000001},
}


def _chunk(delta: dict[str, object], finish: str | None = None, usage: dict[str, object] | None = None) -> bytes:
    body: dict[str, object] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_790_000_000,
        "model": "bench-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


FIRST = _chunk({"role": "assistant", "content": "Hello"})
REST = (
    _chunk({"content": " there."})
    + _chunk({}, "stop", ANSWER["usage"])  # type: ignore[arg-type]
    + b"data: [DONE]\n\n"
)
PLAIN = json.dumps(ANSWER).encode()
PLAIN_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(PLAIN)).encode()
    + b"\r\n\r\n"
    + PLAIN
)
STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
STREAM_RESPONSE = STREAM_HEAD + _chunked(FIRST + REST) + b"0\r\n\r\n"


class MinimalServer:
    """Serve on a background thread's event loop; ``first_token_delay`` pauses a stream after its head."""

    def __init__(self, first_token_delay: float = 0.0) -> None:
        self.first_token_delay = first_token_delay
        self.connections = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=256))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                if b'"stream": true' in body or b'"stream":true' in body:
                    if self.first_token_delay:
                        writer.write(STREAM_HEAD)
                        await asyncio.sleep(self.first_token_delay)
                        writer.write(_chunked(FIRST) + _chunked(REST) + b"0\r\n\r\n")
                    else:
                        writer.write(STREAM_RESPONSE)
                else:
                    writer.write(PLAIN_RESPONSE)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def start(self) -> MinimalServer:
        self._thread.start()
        self._ready.wait()
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(timeout=5)


@contextmanager
def minimal_server(first_token_delay: float = 0.0) -> Iterator[MinimalServer]:
    server = MinimalServer(first_token_delay).start()
    try:
        yield server
    finally:
        server.stop()
