"""Upstream connection pools under concurrency (run by hand: ``python benchmarks/upstream_pool.py``).

The gateway makes many concurrent calls to a few providers; this measures what carries them. Against
:mod:`benchmarks.minimal_server` on 127.0.0.1 (in a process of its own, so that it does not share the client's
interpreter lock), ``C`` workers each send plain chat requests back to back for ``DURATION`` seconds, after a
warm-up, through:

- raw ``httpx.AsyncClient()`` with its default limits (httpcore's pool: 100 connections, 20 kept alive),
- raw ``aiohttp.ClientSession()`` (its default ``TCPConnector``: 100 connections),
- ``httpx.AsyncClient(transport=AiohttpTransport())``: llmroute's aiohttp transport under httpx's API, what
  ``Router(http_backend="aiohttp")`` uses,

at concurrency 1, 16, 32 and 64, and prints requests per second, the median and 99th-percentile latency, and
the TCP connections the server accepted. ``STREAM=1`` measures streamed answers instead; ``DURATION`` and
``CONCURRENCY`` (comma-separated) change the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECONDS = float(os.environ.get("DURATION", "3"))
CONCURRENCY = tuple(int(c) for c in os.environ.get("CONCURRENCY", "1,16,32,64").split(","))
STREAM = os.environ.get("STREAM", "") not in ("", "0")
WARM = 0.5
KEY = "sk-bench-" + "0" * 40 + "beef"
BODY = {"model": "bench-model", "messages": [{"role": "user", "content": "Hello"}], "stream": STREAM}
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

SERVER = """
import sys
sys.path.insert(0, {root!r})
from benchmarks.minimal_server import MinimalServer
server = MinimalServer().start()
print(server.port, flush=True)
for line in sys.stdin:
    print(server.connections, flush=True)
"""


class ServerProcess:
    """benchmarks.minimal_server in a child process; ``connections()`` asks it how many it accepted."""

    def __enter__(self) -> ServerProcess:
        code = SERVER.format(root=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}/v1/chat/completions"
        return self

    def connections(self) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(timeout=5)


Call = Callable[[], Awaitable[None]]
Client = Callable[[str], AbstractAsyncContextManager[Call]]


class RawHttpx:
    def __init__(self, url: str, transport: Any = None) -> None:
        import httpx

        self.url = url
        self.client = httpx.AsyncClient(transport=transport) if transport is not None else httpx.AsyncClient()
        self.payload = json.dumps(BODY).encode()

    async def __aenter__(self) -> Call:
        async def call() -> None:
            request = self.client.build_request("POST", self.url, content=self.payload, headers=HEADERS)
            response = await self.client.send(request, stream=True)
            try:
                async for _ in response.aiter_bytes():
                    pass
            finally:
                await response.aclose()

        return call

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()


class OurTransport(RawHttpx):
    def __init__(self, url: str) -> None:
        from llmroute.providers.aiohttp_transport import AiohttpTransport

        super().__init__(url, transport=AiohttpTransport())


class RawAiohttp:
    def __init__(self, url: str) -> None:
        self.url = url
        self.payload = json.dumps(BODY).encode()

    async def __aenter__(self) -> Call:
        import aiohttp

        self.session = aiohttp.ClientSession()

        async def call() -> None:
            async with self.session.post(self.url, data=self.payload, headers=HEADERS) as response:
                async for _ in response.content.iter_any():
                    pass

        return call

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()


CLIENTS: dict[str, Client] = {
    "raw httpx (default limits)": RawHttpx,
    "raw aiohttp": RawAiohttp,
    "httpx + AiohttpTransport": OurTransport,
}


async def measure(client: Client, url: str, concurrency: int) -> tuple[float, float, float]:
    """Requests per second, p50 and p99 in milliseconds."""
    async with client(url) as call:
        latencies: list[float] = []
        stop_warm = time.perf_counter() + WARM
        end = stop_warm + SECONDS

        async def worker() -> None:
            while True:
                started = time.perf_counter()
                if started >= end:
                    return
                await call()
                if started >= stop_warm:
                    latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - stop_warm
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies), p99


async def main() -> None:
    import aiohttp
    import httpx

    kind = "streamed" if STREAM else "plain"
    print(
        f"python {sys.version.split()[0]}, httpx {httpx.__version__}, aiohttp {aiohttp.__version__}, "
        f"{os.cpu_count()} CPUs; {kind} answers, {SECONDS:g} s per cell after a {WARM:g} s warm-up"
    )
    print(f"{'client':28} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'conns':>6}")
    for concurrency in CONCURRENCY:
        for name, client in CLIENTS.items():
            with ServerProcess() as server:
                rate, p50, p99 = await measure(client, server.url, concurrency)
                connections = server.connections()
            print(f"{name:28} {concurrency:>4} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f} {connections:>6}")


if __name__ == "__main__":
    asyncio.run(main())
