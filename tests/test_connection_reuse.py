"""Connections are reused: a long-lived router (a library user, the gateway) pays one TCP (and TLS) handshake per
provider, not one per answer, whether the answer streamed, failed or was cut short by its caller.

Counted at the fake server, which sees every TCP connection the router opens. Every test runs on both HTTP
backends (``Router(http_backend=...)``): httpx's own pool and the aiohttp transport the gateway uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

import httpx

from llmroute import ChatRequest, Router, Store, TextDelta, load_settings
from tests.conftest import (
    ANTHROPIC_KEYS,
    AWS_ACCESS_KEY_IDS,
    GEMINI_KEYS,
    OLLAMA_KEYS,
    OPENAI_KEYS,
    OR_KEYS,
    keys_env,
)
from tests.fakes import FakeProvider, error, stream_reply

ROUNDS = 6

MODELS = {
    "openrouter": ("openrouter:moonshotai/kimi-k2.6", OR_KEYS[0]),
    "ollama": ("ollama:kimi-k2.6", OLLAMA_KEYS[0]),
    "openai": ("openai:gpt-4o-mini", OPENAI_KEYS[0]),
    "anthropic": ("anthropic:claude-sonnet-4-5", ANTHROPIC_KEYS[0]),
    "gemini": ("gemini:gemini-2.5-flash", GEMINI_KEYS[0]),
    "bedrock": ("bedrock:anthropic.claude-3-5-haiku-20241022-v1:0", AWS_ACCESS_KEY_IDS[0]),
}


def environment(home: Path, cloud: FakeProvider) -> dict[str, str]:
    return {
        "LLMROUTE_HOME": str(home),
        "OPENROUTER_BASE_URL": cloud.openrouter_url,
        "OLLAMA_BASE_URL": cloud.ollama_url,
        "OPENAI_BASE_URL": cloud.openai_url,
        "ANTHROPIC_BASE_URL": cloud.anthropic_url,
        "GEMINI_BASE_URL": cloud.gemini_url,
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": cloud.bedrock_url,
        **keys_env(openrouter=1, ollama=1, openai=1, anthropic=1, gemini=1, bedrock=1),
    }


@pytest.fixture(params=["httpcore", "aiohttp"])
async def router(request: pytest.FixtureRequest, tmp_path: Path, cloud: FakeProvider) -> AsyncIterator[Router]:
    settings = load_settings(environment(tmp_path, cloud))
    store = Store.open(settings.state_path)
    async with Router(settings, store, http_backend=request.param) as router:
        yield router
    store.close()


def pooled_connections(client: httpx.AsyncClient) -> int:
    """Connections the client's pool holds (idle or in use), whichever backend carries it."""
    transport = client._transport
    session = getattr(transport, "_session", None)
    if session is not None:  # the aiohttp transport
        connector = session.connector
        return sum(len(idle) for idle in connector._conns.values()) + len(connector._acquired)
    return len(transport._pool.connections)  # type: ignore[attr-defined]


def chat_connections(cloud: FakeProvider) -> Callable[[], int]:
    """Connections opened from now on."""
    start = cloud.connections_opened
    return lambda: cloud.connections_opened - start


@pytest.mark.parametrize("provider", sorted(MODELS))
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
async def test_answers_from_one_router_reuse_one_connection(
    router: Router, cloud: FakeProvider, provider: str, stream: bool
) -> None:
    model, _ = MODELS[provider]
    await router.complete(ChatRequest.from_prompt("warm", model=model, stream=stream))  # catalogue fetches, if any
    opened = chat_connections(cloud)
    for _ in range(ROUNDS):
        result = await router.complete(ChatRequest.from_prompt("Hello", model=model, stream=stream))
        assert result.text and result.provider == provider
    assert opened() == 0


async def test_a_failed_answer_leaves_its_connection_for_the_next_request(router: Router, cloud: FakeProvider) -> None:
    model, key = MODELS["openrouter"]
    await router.complete(ChatRequest.from_prompt("warm", model=model))
    opened = chat_connections(cloud)
    for _ in range(ROUNDS):
        cloud.script(key, error(400, {"error": {"code": 400, "message": "bad input"}}))
        with pytest.raises(Exception, match="bad input"):
            await router.complete(ChatRequest.from_prompt("Hello", model=model))
    assert opened() == 0


async def test_a_stream_its_caller_abandons_midway_closes_its_connection_and_the_next_request_still_answers(
    router: Router, cloud: FakeProvider
) -> None:
    model, key = MODELS["openrouter"]
    await router.complete(ChatRequest.from_prompt("warm", model=model))
    opened = chat_connections(cloud)
    cloud.script(key, stream_reply("one two three four five six seven eight", chunk_delay=0.2))
    stream = router.stream(ChatRequest.from_prompt("Hello", model=model))
    first = await anext(stream)
    assert isinstance(first, TextDelta)
    await stream.aclose()  # the caller walks away: the provider must learn it, so the connection is closed
    result = await router.complete(ChatRequest.from_prompt("again", model=model))
    assert result.text
    assert opened() == 1, "the abandoned stream's connection is closed, never handed to the next request"
    assert pooled_connections(router._clients.client(cloud.openrouter_url)) == 1


async def test_a_cookie_a_provider_sets_is_never_sent_back(router: Router, cloud: FakeProvider) -> None:
    model, key = MODELS["openrouter"]
    cloud.script(key, stream_reply(headers={"Set-Cookie": "__cf_bm=affinity-backend-7; Path=/; HttpOnly"}))
    await router.complete(ChatRequest.from_prompt("first", model=model))
    await router.complete(ChatRequest.from_prompt("second", model=model))
    assert "cookie" not in cloud.chat_requests[-1].headers
