"""What llmroute adds to one request, in-process (run by hand: ``python benchmarks/hot_path.py``).

Against :mod:`benchmarks.minimal_server` on 127.0.0.1, medians of ``N`` sequential requests after a warm-up:
- raw ``httpx.AsyncClient`` (one client, keep-alive): the yardstick,
- ``Router.complete`` through a custom OpenAI-compatible provider with a key, a rate limit and daily and
  monthly budgets configured (every ledger write kept: admission, settlement, key health),
- LiteLLM's ``Router`` when ``litellm`` is installed (skipped otherwise),
for plain and streamed answers; then the TCP connections each client opened for 100 requests, and the
first-token relay latency (time from the server writing the first token to the caller receiving it) with a
100 ms pause before the first token.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.minimal_server import MinimalServer, minimal_server  # noqa: E402

N = int(os.environ.get("N", "300"))
WARM = 30
KEY = "sk-bench-" + "0" * 40 + "beef"
BODY = {"model": "bench-model", "messages": [{"role": "user", "content": "Hello"}]}

CONFIG = """
[providers.bench]
protocol = "openai"
base_url = "{url}"
key_variable = "BENCH_API_KEY"

[providers.bench.prices]
"*" = [0.1, 0.1]

[routing]
provider_order = ["bench"]
"""
LIMITED = """
[keys.BENCH_API_KEY.limits]
per_minute = 100000

[keys.BENCH_API_KEY.budget]
daily = 1000.0
monthly = 10000.0
"""
"""A rate limit and daily and monthly budgets: every admission counts a window and sums two periods."""


async def timed(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    for _ in range(WARM):
        await call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


async def raw_httpx(server: MinimalServer, stream: bool, n: int) -> list[float]:
    import httpx

    async with httpx.AsyncClient() as client:
        headers = {"Authorization": f"Bearer {KEY}"}

        async def call() -> None:
            body = {**BODY, "stream": stream}
            async with client.stream("POST", f"{server.url}/chat/completions", json=body, headers=headers) as r:
                async for _ in r.aiter_lines():
                    pass

        return await timed(call, n)


def router_settings(server: MinimalServer, limited: bool = False) -> tuple[object, object]:
    home = Path(tempfile.mkdtemp(prefix="llmroute-bench-"))
    config = home / "config.toml"
    config.write_text(CONFIG.format(url=server.url) + (LIMITED if limited else ""))
    config.chmod(0o600)
    os.environ.update({"LLMROUTE_HOME": str(home), "BENCH_API_KEY": KEY})
    from llmroute import Store, load_environment, load_settings

    settings = load_settings(load_environment())
    return settings, Store.open(settings.state_path)


async def llmroute_router(server: MinimalServer, stream: bool, n: int, limited: bool = False) -> list[float]:
    from llmroute import ChatRequest, Router

    settings, store = router_settings(server, limited)
    async with Router(settings, store) as router:  # type: ignore[arg-type]

        async def call() -> None:
            request = ChatRequest.from_prompt("Hello", model="bench:bench-model", stream=stream)
            await router.complete(request)

        return await timed(call, n)


async def litellm_router(server: MinimalServer, stream: bool, n: int) -> list[float] | None:
    try:
        import litellm
    except ImportError:
        return None
    model = {"model_name": "bench", "litellm_params": {"model": "openai/bench-model", "api_base": server.url}}
    router = litellm.Router(model_list=[{**model, "litellm_params": {**model["litellm_params"], "api_key": KEY}}])

    async def call() -> None:
        answer = await router.acompletion(model="bench", messages=BODY["messages"], stream=stream)
        if stream:
            async for _ in answer:  # type: ignore[union-attr]
                pass

    return await timed(call, n)


async def connections_per_100(stream: bool) -> tuple[int, int]:
    from llmroute import ChatRequest, Router

    counts = []
    for use_router in (False, True):
        with minimal_server() as server:
            if use_router:
                settings, store = router_settings(server)
                async with Router(settings, store) as router:  # type: ignore[arg-type]
                    for _ in range(100):
                        await router.complete(ChatRequest.from_prompt("Hi", model="bench:bench-model", stream=stream))
            else:
                await raw_httpx(server, stream, 100 - WARM)
            counts.append(server.connections)
    return counts[0], counts[1]


async def first_token_relay(delay: float, n: int = 20) -> tuple[float, float]:
    """Median milliseconds past ``delay`` from request to first text, raw httpx and through the router."""
    import httpx

    from llmroute import ChatRequest, Router, TextDelta

    with minimal_server(first_token_delay=delay) as server:
        raw = []
        async with httpx.AsyncClient() as client:
            for _ in range(n):
                started = time.perf_counter()
                body = {**BODY, "stream": True}
                async with client.stream("POST", f"{server.url}/chat/completions", json=body) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data: "):
                            raw.append((time.perf_counter() - started - delay) * 1000)
                            break
        routed = []
        settings, store = router_settings(server)
        async with Router(settings, store) as router:  # type: ignore[arg-type]
            for _ in range(n):
                started = time.perf_counter()
                request = ChatRequest.from_prompt("Hi", model="bench:bench-model", stream=True)
                async for item in router.stream(request):
                    if isinstance(item, TextDelta):
                        routed.append((time.perf_counter() - started - delay) * 1000)
                        break
    return p50(raw), p50(routed)


async def main() -> None:
    print(f"python {sys.version.split()[0]}, {N} requests each after {WARM} warm-up, medians (ms)")
    for stream in (False, True):
        kind = "streamed" if stream else "plain"
        with minimal_server() as server:
            base = p50(await raw_httpx(server, stream, N))
        with minimal_server() as server:
            ours = p50(await llmroute_router(server, stream, N))
        with minimal_server() as server:
            limited = p50(await llmroute_router(server, stream, N, limited=True))
        line = (
            f"{kind:9} raw httpx {base:5.2f}   llmroute Router {ours:5.2f} (+{ours - base:.2f}),"
            f" with a limit and budgets {limited:5.2f} (+{limited - base:.2f})"
        )
        with minimal_server() as server:
            theirs = await litellm_router(server, stream, N)
        if theirs is not None:
            line += f"   LiteLLM Router {p50(theirs):6.2f} (+{p50(theirs) - base:.2f})"
        else:
            line += "   LiteLLM: not installed"
        print(line)
    for stream in (False, True):
        raw, routed = await connections_per_100(stream)
        kind = "streamed" if stream else "plain"
        print(f"connections per 100 {kind} requests: raw httpx {raw}, llmroute Router {routed}")
    raw, routed = await first_token_relay(0.1)
    print(f"first-token relay past a 100 ms pause: raw httpx +{raw:.2f} ms, llmroute Router +{routed:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
