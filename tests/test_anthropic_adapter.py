"""AnthropicAdapter against Anthropic's Messages API wire (reference/providers-next.md §4)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import aclosing
from datetime import datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpx import HTTPXMock, IteratorStream

import llmroute.router
from llmroute.config import load_settings
from llmroute.errors import Cause, ErrorKind, ProviderError, StreamBroken
from llmroute.keys import ApiKey, KeySlot
from llmroute.policy import KeyEffect, RequestEffect, StateScope, action_for
from llmroute.providers import ADAPTERS, ClientPool
from llmroute.providers.anthropic import (
    API_VERSION,
    DEFAULT_MAX_TOKENS,
    AnthropicAdapter,
    classify_error,
    exhausted_reset,
    parse_timestamp,
)
from llmroute.providers.options import check_options
from llmroute.router import Router
from llmroute.store import Store
from llmroute.types import (
    Candidate,
    ChatRequest,
    ChatResult,
    KeyInfo,
    Message,
    ModelInfo,
    ReasoningDelta,
    StreamEnd,
    Target,
    TextDelta,
    Usage,
)
from tests.fakes import (
    FakeProvider,
    an_400_credit,
    an_401,
    an_429,
    an_529,
    an_spend_limit,
    an_stream_error,
    reply,
)

BASE = "https://api.anthropic.com"
URL = f"{BASE}/v1/messages"
MODELS_URL = f"{BASE}/v1/models"
SECRET = "sk-ant-api03-" + "Zq8" * 30
SLOT = KeySlot("anthropic", ApiKey("anthropic", "ANTHROPIC_API_KEY", SECRET))
CANDIDATE = Candidate(Target("anthropic", "claude-sonnet-4-5"), SLOT)
STREAM = ChatRequest.from_prompt("Hello")
NON_STREAM = ChatRequest.from_prompt("Hello", stream=False)
NOW = 1_740_435_900.0  # 2025-02-24T22:25:00Z, just before the reference's captured resets

# The reference's captured stream (§4), byte for byte: named events, Python-style ", " / ": " spacing.
CAPTURED_STREAM = b"""event: message_start
data: {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-3-5-sonnet-20241022", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 15}}

event: message_stop
data: {"type": "message_stop"}

"""
# The reference's response body (§4) with its "..." filled in.
BODY = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "Hi! My name is Claude."}],
    "model": "claude-sonnet-4-5-20250929",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 25, "output_tokens": 15, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
}
# Error bodies as the reference (and the captures it cites) quote them.
OVERLOADED_529 = (
    b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CZ..."}'
)
STREAM_ERROR = (
    b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
)
RATE_LIMIT_TEXT = (
    "This request would exceed the rate limit for your organization (...) of 20,000 input tokens per minute..."
)
CREDIT_TEXT = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."
USAGE_LIMITS_TEXT = (
    "You have reached your specified API usage limits. You will regain access on 2026-04-01 at 00:00 UTC."
)
# The reference's captured rate-limit headers (§4).
RATE_HEADERS = {
    "anthropic-ratelimit-requests-limit": "1000",
    "anthropic-ratelimit-requests-remaining": "999",
    "anthropic-ratelimit-requests-reset": "2025-02-24T22:25:30Z",
    "anthropic-ratelimit-tokens-limit": "96000",
    "anthropic-ratelimit-tokens-remaining": "90000",
    "anthropic-ratelimit-tokens-reset": "2025-02-24T22:25:32Z",
    "anthropic-ratelimit-input-tokens-limit": "80000",
    "anthropic-ratelimit-input-tokens-remaining": "78000",
    "anthropic-ratelimit-input-tokens-reset": "2025-02-24T22:25:32Z",
    "anthropic-ratelimit-output-tokens-limit": "16000",
    "anthropic-ratelimit-output-tokens-remaining": "12000",
    "anthropic-ratelimit-output-tokens-reset": "2025-02-24T22:25:47Z",
}


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def message_start(model: str = "claude-sonnet-4-5", **usage: int) -> bytes:
    message = {"id": "msg_x", "type": "message", "role": "assistant", "content": [], "model": model}
    return event(
        "message_start",
        {"type": "message_start", "message": {**message, "usage": usage or {"input_tokens": 9, "output_tokens": 1}}},
    )


def block_start(index: int, block: dict[str, Any]) -> bytes:
    return event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def delta(index: int, **fields: Any) -> bytes:
    return event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": fields})


def block_stop(index: int) -> bytes:
    return event("content_block_stop", {"type": "content_block_stop", "index": index})


def message_delta(stop_reason: str | None = "end_turn", **usage: int) -> bytes:
    return event(
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage},
    )


PING = event("ping", {"type": "ping"})
MESSAGE_STOP = event("message_stop", {"type": "message_stop"})


def text_stream(*parts: str, stop: bool = True) -> bytes:
    chunks = [message_start(), block_start(0, {"type": "text", "text": ""})]
    chunks += [delta(0, type="text_delta", text=part) for part in parts]
    chunks += [block_stop(0), message_delta(output_tokens=len(parts))]
    return b"".join(chunks) + (MESSAGE_STOP if stop else b"")


def error_body(error_type: str, message: str, **details: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if details:
        error["details"] = details
    return {"type": "error", "error": error, "request_id": "req_011CZLrUfBVkVHn5T6EqQaf7"}


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    clients = ClientPool("llmroute-test")
    yield clients
    await clients.aclose()


@pytest.fixture
def adapter(pool: ClientPool) -> AnthropicAdapter:
    return AnthropicAdapter("anthropic", BASE, pool)


async def run(adapter: AnthropicAdapter, request: ChatRequest = STREAM, candidate: Candidate = CANDIDATE) -> list[Any]:
    return [e async for e in adapter.chat(candidate, request, timeout=5)]


async def failure(
    adapter: AnthropicAdapter, request: ChatRequest = STREAM, seen: list[Any] | None = None
) -> ProviderError:
    """The error a chat ends with; ``seen`` collects what was yielded before it."""
    seen = [] if seen is None else seen
    with pytest.raises(ProviderError) as caught:
        async for item in adapter.chat(CANDIDATE, request, timeout=5):
            seen.append(item)
    assert SECRET not in caught.value.message and "\n" not in caught.value.message
    return caught.value


def text_of(events: Iterable[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def sent_body(httpx_mock: HTTPXMock) -> dict[str, Any]:
    sent = httpx_mock.get_request()
    assert sent is not None
    return json.loads(sent.content)


# --- the request -------------------------------------------------------------------------------------


async def test_posts_to_v1_messages_with_the_api_key_and_version_headers(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, method="POST", json=BODY)
    await run(adapter, NON_STREAM)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.headers["x-api-key"] == SECRET and sent.headers["anthropic-version"] == API_VERSION == "2023-06-01"
    assert "authorization" not in sent.headers and sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "Hello"}],
        "stream": False,
    }


async def test_the_system_prompt_is_top_level_and_turns_are_user_or_assistant(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    conversation = (
        Message("system", "Be terse."),
        Message("user", "Hi"),
        Message("assistant", "Hello."),
        Message("system", "Answer in French."),
        Message("user", "Capital of France?"),
    )
    await run(adapter, ChatRequest(conversation, stream=False))
    body = sent_body(httpx_mock)
    assert body["system"] == "Be terse.\n\nAnswer in French."
    assert body["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Capital of France?"},
    ]


async def test_neighbouring_turns_of_one_role_are_merged(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    turns = (
        Message("user", "one"),
        Message("tool", "two"),
        Message("assistant", "three"),
        Message("assistant", "four"),
    )
    await run(adapter, ChatRequest(turns, stream=False))
    assert sent_body(httpx_mock)["messages"] == [
        {"role": "user", "content": "one\n\ntwo"},
        {"role": "assistant", "content": "three\n\nfour"},
    ]


@pytest.mark.parametrize(
    ("max_tokens", "temperature", "sent_max", "sent_temperature"),
    [(None, None, 1024, None), (64, 0.3, 64, 0.3), (0, 1.7, 0, 1.0), (5, -0.5, 5, 0.0)],
)
async def test_max_tokens_is_always_sent_and_the_temperature_clamped_to_0_1(
    adapter: AnthropicAdapter,
    httpx_mock: HTTPXMock,
    max_tokens: int | None,
    temperature: float | None,
    sent_max: int,
    sent_temperature: float | None,
) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    await run(adapter, ChatRequest.from_prompt("hi", stream=False, max_tokens=max_tokens, temperature=temperature))
    body = sent_body(httpx_mock)
    assert body["max_tokens"] == sent_max and body.get("temperature") == sent_temperature


async def test_top_p_and_stop_sequences_are_sent(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    request = ChatRequest.from_prompt("hi", stream=False, top_p=0.9, stop=("\n\nHuman:", "END"), max_tokens=64)
    await run(adapter, request)
    assert sent_body(httpx_mock) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "top_p": 0.9,
        "stop_sequences": ["\n\nHuman:", "END"],
    }


async def test_a_seed_is_refused_before_sending(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    error = await failure(adapter, ChatRequest.from_prompt("hi", seed=42))
    assert (error.kind, error.status, error.provider) == (ErrorKind.BAD_REQUEST, None, "anthropic")
    assert error.message == "cannot send this request: seed: the Anthropic Messages API has no seed"
    assert httpx_mock.get_requests() == []


async def test_stop_sequences_match_what_the_official_client_sends(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock
) -> None:
    # The 2.x client sends ``anthropic-version: 2026-10-21``, which has no ``temperature`` / ``top_p`` / ``top_k``:
    # it cannot be asked for them, so only the fields it still has are compared.
    seen: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=BODY)

    http = httpx2.Client(transport=httpx2.MockTransport(answer))
    with anthropic.Anthropic(base_url=BASE, api_key=SECRET, max_retries=0, http_client=http) as client:
        client.messages.create(
            model="claude-opus-4-6",
            max_tokens=100,
            system="be brief",
            messages=[{"role": "user", "content": "hi"}],
            stop_sequences=["END", "\n\nHuman:"],
        )
    httpx_mock.add_response(url=URL, json=BODY)
    candidate = Candidate(Target("anthropic", "claude-opus-4-6"), SLOT)
    request = ChatRequest.from_prompt("hi", system="be brief", stream=False, max_tokens=100, stop=("END", "\n\nHuman:"))
    await run(adapter, request, candidate)
    body = sent_body(httpx_mock)
    assert body.pop("stream") is False  # the client leaves a non-streaming request's ``stream`` out
    assert body == json.loads(seen[0].content)


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ({"top_p": 0.5, "stop": tuple(str(n) for n in range(20)), "temperature": 0.3}, None),
        ({"seed": 0}, "seed"),
        ({"seed": 1, "stop": ("a",)}, "seed"),
    ],
)
def test_check_options_for_the_anthropic_wire(options: dict[str, Any], refused: str | None) -> None:
    reason = check_options("anthropic", ChatRequest.from_prompt("hi", **options))
    assert (reason.split(":")[0] if reason else None) == refused


async def test_a_stream_asks_for_events(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([CAPTURED_STREAM]))
    await run(adapter)
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["accept"] == "text/event-stream"
    assert json.loads(sent.content)["stream"] is True


async def test_a_base_url_ending_in_v1_is_not_doubled(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    await run(AnthropicAdapter("anthropic", f"{BASE}/v1/", pool), NON_STREAM)
    assert httpx_mock.get_request() is not None


async def test_configured_headers_travel_and_may_name_the_version_once(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    headers = (("anthropic-beta", "context-1m-2025-08-07"), ("Anthropic-Version", "2023-01-01"))
    await run(AnthropicAdapter("anthropic", BASE, pool, headers=headers), NON_STREAM)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert sent.headers.get_list("anthropic-version") == ["2023-01-01"]


async def test_a_keyless_gateway_gets_no_api_key_header(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    keyless = Candidate(Target("anthropic", "claude-sonnet-4-5"), KeySlot("anthropic"))
    await run(adapter, NON_STREAM, keyless)
    sent = httpx_mock.get_request()
    assert sent is not None and "x-api-key" not in sent.headers and sent.headers["anthropic-version"] == API_VERSION


# --- whole answers -----------------------------------------------------------------------------------


async def test_a_message_gives_its_text_model_usage_and_stop_reason(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    assert await run(adapter, NON_STREAM) == [
        TextDelta("Hi! My name is Claude."),
        StreamEnd("claude-sonnet-4-5-20250929", Usage(25, 15), "stop"),
    ]


async def test_thinking_blocks_are_reasoning_and_never_the_answer(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock
) -> None:
    content = [
        {"type": "thinking", "thinking": "The user greets me. ", "signature": "EqQBCgIYAhIM"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "text", "text": " there"},
    ]
    httpx_mock.add_response(url=URL, json={**BODY, "content": content, "stop_reason": "tool_use"})
    events = await run(adapter, NON_STREAM)
    assert events[:2] == [ReasoningDelta("The user greets me. "), TextDelta("Hi there")]
    assert isinstance(events[2], StreamEnd) and events[2].finish_reason == "tool_use"


async def test_cache_reads_and_writes_count_as_input(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    usage = {
        "input_tokens": 12,
        "output_tokens": 40,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 3000,
    }
    httpx_mock.add_response(url=URL, json={**BODY, "usage": usage})
    end = (await run(adapter, NON_STREAM))[-1]
    assert end.usage == Usage(input_tokens=4012, output_tokens=40)


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("stop_sequence", "stop_sequence"),
        ("tool_use", "tool_use"),
        ("pause_turn", "pause_turn"),
        ("refusal", "refusal"),
        (None, None),
    ],
)
async def test_stop_reasons_are_mapped(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock, stop_reason: str | None, finish: str | None
) -> None:
    httpx_mock.add_response(url=URL, json={**BODY, "stop_reason": stop_reason})
    assert (await run(adapter, NON_STREAM))[-1].finish_reason == finish


@pytest.mark.parametrize(
    "body",
    [
        b"<html><title>502 Bad Gateway</title></html>",
        b"[1, 2]",
        b'{"id": "msg_1", "type": "message"}',
        b'{"truncated": ',
    ],
)
async def test_a_body_that_is_not_a_message_is_a_bad_response(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock, body: bytes
) -> None:
    httpx_mock.add_response(url=URL, content=body)
    assert (await failure(adapter, NON_STREAM)).kind is ErrorKind.BAD_RESPONSE


async def test_an_error_object_in_a_200_body_is_classified(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=OVERLOADED_529, headers={"content-type": "application/json"})
    err = await failure(adapter, NON_STREAM)
    assert (err.kind, err.status, err.message) == (ErrorKind.OVERLOADED, 200, "overloaded_error: Overloaded")


# --- streams -----------------------------------------------------------------------------------------


async def test_the_captured_stream_is_read_exactly(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([CAPTURED_STREAM]))
    assert await run(adapter) == [TextDelta("Hello"), StreamEnd("claude-3-5-sonnet-20241022", Usage(25, 15), "stop")]


async def test_the_captured_stream_survives_any_cut_into_chunks(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock
) -> None:
    for size in (1, 7, 64):
        pieces = [CAPTURED_STREAM[i : i + size] for i in range(0, len(CAPTURED_STREAM), size)]
        httpx_mock.add_response(url=URL, stream=IteratorStream(pieces))
        assert text_of(await run(adapter)) == "Hello"


async def test_pings_anywhere_are_ignored(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    wire = b"".join(
        [
            PING,
            message_start(),
            PING,
            block_start(0, {"type": "text", "text": ""}),
            PING,
            delta(0, type="text_delta", text="Bon"),
            PING,
            PING,
            delta(0, type="text_delta", text="jour"),
            block_stop(0),
            PING,
            message_delta(output_tokens=2),
            PING,
            MESSAGE_STOP,
            PING,
        ]
    )
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    assert await run(adapter) == [
        TextDelta("Bon"),
        TextDelta("jour"),
        StreamEnd("claude-sonnet-4-5", Usage(9, 2), "stop"),
    ]


async def test_message_delta_usage_is_cumulative_and_the_last_one_counts(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock
) -> None:
    wire = b"".join(
        [
            message_start(input_tokens=472, output_tokens=2, cache_read_input_tokens=100),
            block_start(0, {"type": "text", "text": ""}),
            delta(0, type="text_delta", text="a"),
            message_delta(None, output_tokens=10),
            delta(0, type="text_delta", text="b"),
            block_stop(0),
            message_delta("max_tokens", output_tokens=15),
            MESSAGE_STOP,
        ]
    )
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    assert (await run(adapter))[-1] == StreamEnd("claude-sonnet-4-5", Usage(572, 15), "length")


async def test_a_message_delta_may_restate_the_input_usage(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    wire = text_stream("x").replace(
        b'"usage": {"output_tokens": 1}',
        b'"usage": {"input_tokens": 30, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 0, "output_tokens": 7}',
    )
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    assert (await run(adapter))[-1].usage == Usage(35, 7)


async def test_thinking_deltas_are_reasoning_and_signatures_and_tool_json_carry_nothing(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock
) -> None:
    wire = b"".join(
        [
            message_start(),
            block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
            PING,
            delta(0, type="thinking_delta", thinking="Let me add: "),
            delta(0, type="thinking_delta", thinking="2+2=4."),
            delta(0, type="signature_delta", signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"),
            block_stop(0),
            block_start(1, {"type": "text", "text": ""}),
            delta(1, type="text_delta", text="4"),
            block_stop(1),
            block_start(2, {"type": "tool_use", "id": "toolu_01", "name": "calc", "input": {}}),
            delta(2, type="input_json_delta", partial_json='{"expr": "2+'),
            delta(2, type="input_json_delta", partial_json='2"}'),
            block_stop(2),
            message_delta("tool_use", output_tokens=30),
            MESSAGE_STOP,
        ]
    )
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    assert await run(adapter) == [
        ReasoningDelta("Let me add: "),
        ReasoningDelta("2+2=4."),
        TextDelta("4"),
        StreamEnd("claude-sonnet-4-5", Usage(9, 30), "tool_use"),
    ]


async def test_a_block_may_open_with_text_already_in_it(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    wire = b"".join(
        [
            message_start(),
            block_start(0, {"type": "text", "text": "Pre"}),
            delta(0, type="text_delta", text="fix"),
            block_stop(0),
            message_delta(),
            MESSAGE_STOP,
        ]
    )
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    assert text_of(await run(adapter)) == "Prefix"


async def test_a_surrogate_pair_split_across_deltas_is_joined(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    wire = text_stream("smile ", "\ud83d", "\ude00")
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    assert text_of(await run(adapter)) == "smile \U0001f600"


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", ErrorKind.OVERLOADED),
        ("api_error", ErrorKind.SERVER),
        ("rate_limit_error", ErrorKind.RATE_LIMITED),
        ("timeout_error", ErrorKind.TIMEOUT),
        ("invalid_request_error", ErrorKind.BAD_REQUEST),
        ("authentication_error", ErrorKind.AUTH),
        ("billing_error", ErrorKind.QUOTA),
        ("some_new_error", ErrorKind.SERVER),
    ],
)
async def test_an_error_event_inside_a_200_stream_is_classified_by_its_type(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock, error_type: str, kind: ErrorKind
) -> None:
    wire = STREAM_ERROR.replace(b"overloaded_error", error_type.encode())
    httpx_mock.add_response(url=URL, stream=IteratorStream([message_start() + wire]))
    err = await failure(adapter)
    assert (err.kind, err.status, err.provider) == (kind, 200, "anthropic")


async def test_an_error_event_after_text_ends_the_stream_with_what_was_sent(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock
) -> None:
    wire = text_stream("Hel", "lo", stop=False).split(b"event: content_block_stop")[0] + STREAM_ERROR
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    seen: list[Any] = []
    err = await failure(adapter, seen=seen)
    assert seen == [TextDelta("Hel"), TextDelta("lo")]
    assert (err.kind, err.message) == (ErrorKind.OVERLOADED, "overloaded_error: Overloaded")


@pytest.mark.parametrize("cut", ["event: message_stop", "event: message_delta", "event: content_block_stop"])
async def test_a_stream_that_ends_without_message_stop_is_a_bad_response(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock, cut: str
) -> None:
    wire = text_stream("Hello").split(cut.encode())[0]
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    seen: list[Any] = []
    err = await failure(adapter, seen=seen)
    assert err.kind is ErrorKind.BAD_RESPONSE and "message_stop" in err.message
    assert not any(isinstance(e, StreamEnd) for e in seen)


async def test_nothing_after_message_stop_belongs_to_the_answer(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock
) -> None:
    wire = text_stream("done") + delta(0, type="text_delta", text="late") + STREAM_ERROR
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    events = await run(adapter)
    assert text_of(events) == "done" and isinstance(events[-1], StreamEnd)


async def test_malformed_event_data_is_a_bad_response(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=URL, stream=IteratorStream([message_start() + b"event: content_block_delta\ndata: {nope\n\n"])
    )
    assert (await failure(adapter)).kind is ErrorKind.BAD_RESPONSE


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["type", "message", "delta", "usage", "content_block", "error", "index"]),
            st.recursive(
                st.none()
                | st.booleans()
                | st.integers()
                | st.text(max_size=5)
                | st.sampled_from(
                    [
                        "message_start",
                        "content_block_delta",
                        "text_delta",
                        "thinking_delta",
                        "message_delta",
                        "message_stop",
                        "error",
                        "ping",
                    ]
                ),
                lambda children: (
                    st.lists(children, max_size=3)
                    | st.dictionaries(
                        st.sampled_from(["type", "text", "thinking", "stop_reason", "output_tokens", "input_tokens"]),
                        children,
                        max_size=4,
                    )
                ),
                max_leaves=8,
            ),
            max_size=4,
        ),
        max_size=6,
    )
)
async def test_any_event_sequence_ends_in_events_or_a_classified_error(payloads: list[dict[str, Any]]) -> None:
    wire = b"".join(event("x", p) for p in payloads)
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=wire)
    adapter = AnthropicAdapter("anthropic", BASE, ClientPool("llmroute-test"))
    try:
        events = [e async for e in adapter.read_stream(response, CANDIDATE, (SECRET,))]
    except ProviderError as exc:
        assert isinstance(exc.kind, ErrorKind)
    else:
        assert isinstance(events[-1], StreamEnd) and all(isinstance(e, TextDelta | ReasoningDelta) for e in events[:-1])


# --- classification ----------------------------------------------------------------------------------

RATE_EXHAUSTED = {**RATE_HEADERS, "anthropic-ratelimit-input-tokens-remaining": "0"}
TWO_EXHAUSTED = {**RATE_EXHAUSTED, "anthropic-ratelimit-output-tokens-remaining": "0"}
WEEKLY_EXHAUSTED = {
    **RATE_HEADERS,
    "anthropic-ratelimit-tokens-limit-weekly": "5000000",
    "anthropic-ratelimit-tokens-remaining-weekly": "0",
    "anthropic-ratelimit-tokens-reset-weekly": "2025-03-03T00:00:00Z",
}

# (name, status, error object, headers) -> (kind, cause, retry_at)
ROWS: list[tuple[str, int, dict[str, Any], dict[str, str], tuple[ErrorKind, Cause | None, float | None]]] = [
    (
        "400 invalid request",
        400,
        {"type": "invalid_request_error", "message": "max_tokens: Field required"},
        {},
        (ErrorKind.BAD_REQUEST, None, None),
    ),
    (
        "400 credit balance",
        400,
        {"type": "invalid_request_error", "message": CREDIT_TEXT},
        {},
        (ErrorKind.QUOTA, None, None),
    ),
    (
        "400 usage limits",
        400,
        {"type": "invalid_request_error", "message": USAGE_LIMITS_TEXT},
        {},
        (ErrorKind.QUOTA, None, at("2026-04-01T00:00:00+00:00")),
    ),
    (
        "400 organization on hold",
        400,
        {"type": "invalid_request_error", "message": "on hold", "details": {"error_code": "organization_on_hold"}},
        {},
        (ErrorKind.AUTH, None, None),
    ),
    (
        "401 authentication",
        401,
        {"type": "authentication_error", "message": "invalid x-api-key"},
        {},
        (ErrorKind.AUTH, None, None),
    ),
    (
        "402 billing",
        402,
        {"type": "billing_error", "message": CREDIT_TEXT},
        {"retry-after": "30"},
        (ErrorKind.QUOTA, None, None),
    ),
    (
        "403 permission",
        403,
        {"type": "permission_error", "message": "Permission denied"},
        {},
        (ErrorKind.AUTH, None, None),
    ),
    (
        "404 not found",
        404,
        {"type": "not_found_error", "message": "model: claude-opus-9"},
        {},
        (ErrorKind.MODEL_NOT_FOUND, None, None),
    ),
    (
        "413 too large",
        413,
        {"type": "request_too_large", "message": "Request exceeds the maximum allowed number of bytes."},
        {},
        (ErrorKind.BAD_REQUEST, None, None),
    ),
    (
        "429 retry-after",
        429,
        {"type": "rate_limit_error", "message": RATE_LIMIT_TEXT},
        {**RATE_EXHAUSTED, "retry-after": "20"},
        (ErrorKind.RATE_LIMITED, None, NOW + 20),
    ),
    (
        "429 exhausted reset",
        429,
        {"type": "rate_limit_error", "message": RATE_LIMIT_TEXT},
        RATE_EXHAUSTED,
        (ErrorKind.RATE_LIMITED, None, at("2025-02-24T22:25:32+00:00")),
    ),
    (
        "429 two exhausted",
        429,
        {"type": "rate_limit_error", "message": RATE_LIMIT_TEXT},
        TWO_EXHAUSTED,
        (ErrorKind.RATE_LIMITED, None, at("2025-02-24T22:25:47+00:00")),
    ),
    (
        "429 weekly exhausted",
        429,
        {"type": "rate_limit_error", "message": RATE_LIMIT_TEXT},
        WEEKLY_EXHAUSTED,
        (ErrorKind.RATE_LIMITED, None, at("2025-03-03T00:00:00+00:00")),
    ),
    (
        "429 nothing exhausted",
        429,
        {"type": "rate_limit_error", "message": RATE_LIMIT_TEXT},
        RATE_HEADERS,
        (ErrorKind.RATE_LIMITED, None, None),
    ),
    (
        "429 spend limit",
        429,
        {"type": "rate_limit_error", "message": "monthly", "details": {"error_code": "enforced_spend_limit_reached"}},
        {"retry-after": "60"},
        (ErrorKind.QUOTA, None, None),
    ),
    (
        "429 contract limit",
        429,
        {"type": "rate_limit_error", "message": "contract", "details": {"error_code": "contract_spend_limit_reached"}},
        {},
        (ErrorKind.QUOTA, None, None),
    ),
    (
        "500 api error",
        500,
        {"type": "api_error", "message": "Internal server error"},
        {},
        (ErrorKind.SERVER, None, None),
    ),
    (
        "504 timeout",
        504,
        {"type": "timeout_error", "message": "Request timed out"},
        {},
        (ErrorKind.TIMEOUT, None, None),
    ),
    (
        "529 overloaded",
        529,
        {"type": "overloaded_error", "message": "Overloaded"},
        {"x-should-retry": "true"},
        (ErrorKind.OVERLOADED, None, None),
    ),
    (
        "529 retry-after",
        529,
        {"type": "overloaded_error", "message": "Overloaded"},
        {"retry-after": "7"},
        (ErrorKind.OVERLOADED, None, NOW + 7),
    ),
    ("503 no type", 503, {"message": "HTTP 503: upstream connect error"}, {}, (ErrorKind.OVERLOADED, None, None)),
    (
        "200 stream overloaded",
        200,
        {"type": "overloaded_error", "message": "Overloaded"},
        {},
        (ErrorKind.OVERLOADED, None, None),
    ),
    (
        "200 stream rate limit",
        200,
        {"type": "rate_limit_error", "message": RATE_LIMIT_TEXT},
        RATE_EXHAUSTED,
        (ErrorKind.RATE_LIMITED, None, at("2025-02-24T22:25:32+00:00")),
    ),
]


@pytest.mark.parametrize(
    ("status", "error", "headers", "expected"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS]
)
def test_classification_table(
    status: int, error: dict[str, Any], headers: dict[str, str], expected: tuple[ErrorKind, Cause | None, float | None]
) -> None:
    err = classify_error(status, error, headers, (SECRET,), NOW, "anthropic")
    assert (err.kind, err.cause, err.retry_at) == expected
    assert err.status == status and err.provider == "anthropic"


def test_money_gone_never_stops_the_request_but_a_bad_request_does() -> None:
    bad = classify_error(400, {"type": "invalid_request_error", "message": "max_tokens: Field required"}, {}, (), NOW)
    credit = classify_error(400, {"type": "invalid_request_error", "message": CREDIT_TEXT}, {}, (), NOW)
    assert action_for(bad.kind, bad.cause).request is RequestEffect.STOP
    action = action_for(credit.kind, credit.cause)
    assert (action.request, action.key, action.scope) == (RequestEffect.NEXT_CANDIDATE, KeyEffect.COOL, StateScope.POOL)


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        (529, OVERLOADED_529, {"x-should-retry": "true", "request-id": "req_011CZ..."}, ErrorKind.OVERLOADED, None),
        (
            429,
            json.dumps(error_body("rate_limit_error", RATE_LIMIT_TEXT)).encode(),
            {**RATE_EXHAUSTED, "retry-after": "20"},
            ErrorKind.RATE_LIMITED,
            20,
        ),
        (401, json.dumps(error_body("authentication_error", "invalid x-api-key")).encode(), {}, ErrorKind.AUTH, None),
        (400, json.dumps(error_body("invalid_request_error", CREDIT_TEXT)).encode(), {}, ErrorKind.QUOTA, None),
        (
            502,
            b"<html><head><title>502 Bad Gateway</title></head></html>",
            {"content-type": "text/html"},
            ErrorKind.SERVER,
            None,
        ),
    ],
)
async def test_http_errors_are_classified_from_the_body_and_headers(
    adapter: AnthropicAdapter,
    httpx_mock: HTTPXMock,
    status: int,
    body: bytes,
    headers: dict[str, str],
    kind: ErrorKind,
    retry_after: int | None,
) -> None:
    httpx_mock.add_response(url=URL, status_code=status, content=body, headers=headers)
    before = time.time()
    err = await failure(adapter)
    assert (err.kind, err.status) == (kind, status)
    if retry_after is None:
        assert err.retry_at is None
    else:
        assert err.retry_at is not None and before + retry_after <= err.retry_at <= time.time() + retry_after


async def test_an_error_message_is_one_redacted_line(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    body = error_body("authentication_error", f"invalid x-api-key:\n{SECRET}")
    httpx_mock.add_response(url=URL, status_code=401, json=body)
    err = await failure(adapter)
    assert err.message.startswith("authentication_error: invalid x-api-key: sk-ant…")


def test_reset_timestamps_need_a_zone() -> None:
    assert parse_timestamp("2025-02-24T22:25:30Z") == at("2025-02-24T22:25:30+00:00")
    assert parse_timestamp("2025-02-24T23:25:30+01:00") == at("2025-02-24T22:25:30+00:00")
    assert parse_timestamp("2025-02-24T22:25:30") is None
    assert parse_timestamp("soon") is None and parse_timestamp(None) is None
    assert exhausted_reset({"anthropic-ratelimit-requests-remaining": "0"}) is None  # no reset to read


# --- the catalogue and the key check -----------------------------------------------------------------


def model_row(model: str, **fields: Any) -> dict[str, Any]:
    return {"type": "model", "id": model, "display_name": model.title(), "created_at": "2025-09-29T00:00:00Z", **fields}


async def test_probe_key_lists_one_model_with_the_headers(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    page = {
        "data": [model_row("claude-opus-4-6")],
        "first_id": "claude-opus-4-6",
        "last_id": "claude-opus-4-6",
        "has_more": True,
    }
    httpx_mock.add_response(url=f"{MODELS_URL}?limit=1", method="GET", json=page)
    assert await adapter.probe_key(SLOT, timeout=5) == KeyInfo()
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["x-api-key"] == SECRET and sent.headers["anthropic-version"] == API_VERSION


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, error_body("authentication_error", "invalid x-api-key"), ErrorKind.AUTH),
        (403, error_body("permission_error", "Permission denied"), ErrorKind.AUTH),
        (400, error_body("invalid_request_error", CREDIT_TEXT), ErrorKind.QUOTA),
        (529, error_body("overloaded_error", "Overloaded"), ErrorKind.OVERLOADED),
    ],
)
async def test_probe_key_failures_are_classified(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock, status: int, body: dict[str, Any], kind: ErrorKind
) -> None:
    httpx_mock.add_response(url=f"{MODELS_URL}?limit=1", status_code=status, json=body)
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(SLOT, timeout=5)
    assert caught.value.kind is kind and SECRET not in caught.value.message


async def test_list_models_follows_the_pages(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    first = [model_row("claude-opus-4-6", max_input_tokens=200000), model_row("claude-haiku-4-5")]
    second = [
        model_row("claude-sonnet-4-5", lifecycle="deprecated", retires_at="2026-11-30T00:00:00Z"),
        model_row("claude-3-opus-20240229", lifecycle="retired"),
    ]
    httpx_mock.add_response(
        url=f"{MODELS_URL}?limit=1000",
        json={"data": first, "first_id": "claude-opus-4-6", "last_id": "claude-haiku-4-5", "has_more": True},
    )
    httpx_mock.add_response(
        url=f"{MODELS_URL}?limit=1000&after_id=claude-haiku-4-5",
        json={"data": second, "first_id": "claude-sonnet-4-5", "last_id": "claude-3-opus-20240229", "has_more": False},
    )
    assert await adapter.list_models(SLOT, timeout=5) == [
        ModelInfo("anthropic", "claude-opus-4-6", name="Claude-Opus-4-6", context_length=200000),
        ModelInfo("anthropic", "claude-haiku-4-5", name="Claude-Haiku-4-5"),
        ModelInfo("anthropic", "claude-sonnet-4-5", name="Claude-Sonnet-4-5", expires="2026-11-30"),
    ]


async def test_list_models_stops_when_the_cursor_does_not_move(
    adapter: AnthropicAdapter, httpx_mock: HTTPXMock
) -> None:
    page = {
        "data": [model_row("claude-opus-4-6")],
        "first_id": "claude-opus-4-6",
        "last_id": "claude-opus-4-6",
        "has_more": True,
    }
    httpx_mock.add_response(url=re.compile(re.escape(MODELS_URL) + r"\?.*"), json=page, is_reusable=True)
    models = await adapter.list_models(SLOT, timeout=5)
    assert [m.model for m in models] == ["claude-opus-4-6", "claude-opus-4-6"]
    assert len(httpx_mock.get_requests()) == 2


async def test_a_model_list_without_data_is_a_bad_response(adapter: AnthropicAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{MODELS_URL}?limit=1000", json={"models": []})
    with pytest.raises(ProviderError) as caught:
        await adapter.list_models(SLOT, timeout=5)
    assert caught.value.kind is ErrorKind.BAD_RESPONSE


# --- against the fake Anthropic ----------------------------------------------------------------------

KEY_1 = "sk-ant-api03-" + "K1x" * 30
KEY_2 = "sk-ant-api03-" + "K2y" * 30


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(keys={KEY_1: "one", KEY_2: "two"}) as provider:
        yield provider
    assert provider.errors == []


def fake_candidate(key: str = KEY_1, model: str = "claude-haiku-4-5") -> Candidate:
    return Candidate(Target("anthropic", model), KeySlot("anthropic", ApiKey("anthropic", "ANTHROPIC_API_KEY", key)))


async def test_the_fake_answers_the_adapter_in_both_modes(fake: FakeProvider, pool: ClientPool) -> None:
    adapter = AnthropicAdapter("anthropic", fake.anthropic_url, pool)
    fake.script(KEY_1, reply("Bonjour à vous", reasoning="French, then."), reply("plain"))
    streamed = [
        e async for e in adapter.chat(fake_candidate(), ChatRequest.from_prompt("say hi", system="be kind"), timeout=5)
    ]
    assert "".join(e.text for e in streamed if isinstance(e, ReasoningDelta)) == "French, then."
    assert text_of(streamed) == "Bonjour à vous"
    assert streamed[-1] == StreamEnd("claude-haiku-4-5", Usage(4, 5), "stop")
    whole = [
        e
        async for e in adapter.chat(
            fake_candidate(), ChatRequest.from_prompt("hi", stream=False, max_tokens=1), timeout=5
        )
    ]
    assert whole == [TextDelta("plain"), StreamEnd("claude-haiku-4-5", Usage(1, 1), "stop")]
    sent = fake.requests_for(KEY_1)
    assert [r.headers["x-api-key"] for r in sent] == [KEY_1, KEY_1]
    assert sent[0].body["system"] == "be kind" and sent[1].body["max_tokens"] == 1
    assert all("authorization" not in r.headers for r in sent)


async def test_the_fake_stops_at_max_tokens(fake: FakeProvider, pool: ClientPool) -> None:
    adapter = AnthropicAdapter("anthropic", fake.anthropic_url, pool)
    events = [e async for e in adapter.chat(fake_candidate(), ChatRequest.from_prompt("hi", max_tokens=2), timeout=5)]
    assert text_of(events) == "Hello from" and events[-1].finish_reason == "length"


async def test_the_fakes_errors_reach_the_adapter_classified(fake: FakeProvider, pool: ClientPool) -> None:
    adapter = AnthropicAdapter("anthropic", fake.anthropic_url, pool)
    fake.script(
        KEY_1,
        an_429(retry_after=None, resets={"input-tokens": 40}),
        an_529(retry_after=3),
        an_400_credit(),
        an_spend_limit(),
    )
    before = time.time()
    kinds = []
    for _ in range(4):
        with pytest.raises(ProviderError) as caught:
            [e async for e in adapter.chat(fake_candidate(), ChatRequest.from_prompt("hi"), timeout=5)]
        kinds.append((caught.value.kind, caught.value.retry_at is not None))
        if caught.value.kind is ErrorKind.RATE_LIMITED:
            assert caught.value.retry_at is not None and before + 39 <= caught.value.retry_at <= time.time() + 41
    assert kinds == [
        (ErrorKind.RATE_LIMITED, True),
        (ErrorKind.OVERLOADED, True),
        (ErrorKind.QUOTA, False),
        (ErrorKind.QUOTA, False),
    ]
    with pytest.raises(ProviderError) as unknown:
        [e async for e in adapter.chat(fake_candidate(model="claude-opus-9"), ChatRequest.from_prompt("hi"), timeout=5)]
    assert unknown.value.kind is ErrorKind.MODEL_NOT_FOUND


async def test_the_fakes_stream_error_comes_after_the_text_already_sent(fake: FakeProvider, pool: ClientPool) -> None:
    adapter = AnthropicAdapter("anthropic", fake.anthropic_url, pool)
    fake.script(KEY_1, an_stream_error(after_tokens=2))
    seen: list[Any] = []
    with pytest.raises(ProviderError) as caught:
        async for item in adapter.chat(fake_candidate(), ChatRequest.from_prompt("hi"), timeout=5):
            seen.append(item)
    assert text_of(seen) == "Hello from" and caught.value.kind is ErrorKind.OVERLOADED and caught.value.status == 200


async def test_the_fake_answers_the_key_check_and_the_catalogue(fake: FakeProvider, pool: ClientPool) -> None:
    adapter = AnthropicAdapter("anthropic", fake.anthropic_url, pool)
    slot = fake_candidate().slot
    assert await adapter.probe_key(slot, timeout=5) == KeyInfo()
    models = await adapter.list_models(slot, timeout=5)
    assert [m.model for m in models] == ["claude-opus-4-6", "claude-haiku-4-5", "claude-sonnet-4-5"]
    assert models[2].expires == "2026-11-30" and models[0].name == "Claude Opus 4.6"
    assert fake.requests_to("/anthropic/v1/models")[0].query == "limit=1"
    fake.script(KEY_1, an_401(), path="/anthropic/v1/models")
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(slot, timeout=5)
    assert caught.value.kind is ErrorKind.AUTH
    bad_slot = KeySlot("anthropic", ApiKey("anthropic", "ANTHROPIC_API_KEY", "sk-ant-api03-" + "bad" * 30))
    with pytest.raises(ProviderError) as refused:
        await adapter.probe_key(bad_slot, timeout=5)
    assert refused.value.kind is ErrorKind.AUTH and "bad" * 5 not in refused.value.message


# --- the router over the fake: failover before the first token, a broken stream after ---------------


@pytest.fixture
async def router(fake: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Router]:
    monkeypatch.setitem(ADAPTERS, "anthropic", AnthropicAdapter)  # registered by the package's owner
    monkeypatch.setattr(llmroute.router, "RETRY_BACKOFF", (0.0, 0.0))
    env = {
        "LLMROUTE_HOME": str(tmp_path),
        "ANTHROPIC_API_KEY_1": KEY_1,
        "ANTHROPIC_API_KEY_2": KEY_2,
        "ANTHROPIC_BASE_URL": fake.anthropic_url,
    }
    settings = load_settings(env)
    routed = Router(settings, Store.open(settings.state_path))
    yield routed
    await routed.aclose()
    routed.store.close()


async def drive(router: Router, received: list[str]) -> ChatResult:
    result = None
    async with aclosing(router.stream(ChatRequest.from_prompt("hi", model="anthropic:claude-haiku-4-5"))) as items:
        async for item in items:
            if isinstance(item, TextDelta):
                received.append(item.text)
            elif isinstance(item, ChatResult):
                result = item
    assert result is not None
    return result


async def test_an_error_event_before_any_text_fails_over_to_the_next_key(fake: FakeProvider, router: Router) -> None:
    fake.script(KEY_1, an_stream_error())
    received: list[str] = []
    result = await drive(router, received)
    assert "".join(received) == "Hello from the fake provider." and result.key_label == "ANTHROPIC_API_KEY_2"
    assert [(a.key_label, a.error_kind) for a in result.attempts] == [
        ("ANTHROPIC_API_KEY_1", ErrorKind.OVERLOADED),
        ("ANTHROPIC_API_KEY_2", None),
    ]


async def test_an_error_event_after_text_breaks_the_stream(fake: FakeProvider, router: Router) -> None:
    fake.script(KEY_1, an_stream_error(after_tokens=2))
    received: list[str] = []
    with pytest.raises(StreamBroken):
        await drive(router, received)
    assert "".join(received) == "Hello from" and fake.requests_for(KEY_2) == []
