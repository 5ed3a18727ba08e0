"""OpenAIAdapter (OpenAI and custom OpenAI-compatible endpoints) against OpenAI's wire (reference/providers-next.md §3).

Where it helps, the official ``openai`` client reads the very bytes fed to the adapter, or builds the
request the adapter is compared with: a fake it cannot parse, or a body it would not send, is wrong.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpx import HTTPXMock, IteratorStream

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.keys import ApiKey, KeySlot
from llmroute.policy import KeyEffect, RequestEffect, StateScope, action_for
from llmroute.providers import ADAPTERS, ClientPool, OpenAIAdapter
from llmroute.providers.openai_api import classify_error
from llmroute.providers.options import check_options
from llmroute.providers.resets import parse_go_duration
from llmroute.types import (
    Candidate,
    ChatRequest,
    KeyInfo,
    ModelInfo,
    ReasoningDelta,
    StreamEnd,
    Target,
    TextDelta,
    Usage,
)

BASE = "https://api.openai.com/v1"
URL = f"{BASE}/chat/completions"
LOCAL = "http://localhost:1234/v1"
SECRET = "sk-proj-Qm7c2XvN9pLr4TzW8yHk3BfJ6sDa1GeU5oIx0VbC7nMq2RtY9wE4uZ8kS3dF6hJ1"
SLOT = KeySlot("openai", ApiKey("openai", "OPENAI_API_KEY", SECRET))
CANDIDATE = Candidate(Target("openai", "gpt-4o-mini"), SLOT)
LOCAL_CANDIDATE = Candidate(Target("lmstudio", "qwen2.5-7b-instruct"), KeySlot("lmstudio"))
STREAM = ChatRequest.from_prompt("hi")
NON_STREAM = ChatRequest.from_prompt("hi", stream=False)
NOW = 1_000_000.0

# Bodies as quoted in reference/providers-next.md §3.
BODY = (
    b'{"id":"chatcmpl-A652F...","object":"chat.completion","created":1726012687,"model":"gpt-4-0613",\n'
    b' "choices":[{"index":0,"message":{"role":"assistant","content":"This is a test!","refusal":null},\n'
    b'             "logprobs":null,"finish_reason":"stop"}],\n'
    b' "usage":{"prompt_tokens":13,"completion_tokens":5,"total_tokens":18},"system_fingerprint":null}'
)
CHUNK_HI = b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
RESPONSES_ONLY_404 = b'{"error":{"message":"This model is only supported in v1/responses and not in v1/chat/completions.","type":"invalid_request_error","param":"model","code":null}}'
NOT_CHAT = "This is not a chat model and thus not supported in the v1/chat/completions endpoint"
TPM_429 = "Rate limit reached for gpt-4o in organization org-... on tokens per min (TPM): Limit 30000, Used 29937, Requested 385. Please try again in 644ms."
TOO_LARGE_429 = "Request too large for gpt-4o in organization org-... on tokens per min (TPM): Limit 30000, Requested 31538. The input or output tokens must be reduced..."
QUOTA_429 = "You exceeded your current quota, please check your plan and billing details."


def error_body(message: str, code: str | None = None, kind: str | None = None, param: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}}).encode()


def chunk(content: str | None = None, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    """A ``chat.completion.chunk`` as OpenAI streams it with ``include_usage``: ``usage: null`` on every content chunk."""
    body = {"content": content, **delta} if content is not None else delta
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1726012687,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": body, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }


USAGE_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1726012687,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [],
    "usage": {
        "prompt_tokens": 9,
        "completion_tokens": 2,
        "total_tokens": 11,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}


def sse(*chunks: dict[str, Any] | bytes, done: bool = True) -> bytes:
    parts = [c if isinstance(c, bytes) else b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks]
    return b"".join(parts) + (b"data: [DONE]\n\n" if done else b"")


STREAMED = sse(chunk("", role="assistant"), chunk("Hel"), chunk("lo"), chunk(None, "stop"), USAGE_CHUNK)


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    clients = ClientPool("llmroute-test")
    yield clients
    await clients.aclose()


@pytest.fixture
def adapter(pool: ClientPool) -> OpenAIAdapter:
    return OpenAIAdapter("openai", BASE, pool)


async def run(adapter: OpenAIAdapter, request: ChatRequest = STREAM, candidate: Candidate = CANDIDATE) -> list[Any]:
    return [event async for event in adapter.chat(candidate, request, timeout=5)]


async def failure(adapter: OpenAIAdapter, request: ChatRequest = STREAM) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await run(adapter, request)
    assert SECRET not in caught.value.message and "\n" not in caught.value.message
    return caught.value


def sent_body(httpx_mock: HTTPXMock) -> dict[str, Any]:
    sent = httpx_mock.get_request()
    assert sent is not None
    return json.loads(sent.content)  # type: ignore[no-any-return]


def text_of(events: Iterable[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def official_client(handler: Callable[[httpx.Request], httpx.Response]) -> openai.OpenAI:
    """The official client on a mock transport: it parses whatever ``handler`` answers."""
    transport = httpx.MockTransport(handler)
    return openai.OpenAI(base_url=BASE, api_key=SECRET, max_retries=0, http_client=httpx.Client(transport=transport))


# --- the request -------------------------------------------------------------------------------------


def test_protocol_openai_is_the_openai_adapter() -> None:
    assert ADAPTERS["openai"] is OpenAIAdapter


async def test_posts_to_chat_completions_with_the_bearer_key(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", content=BODY)
    await run(adapter, NON_STREAM)
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["Authorization"] == f"Bearer {SECRET}"


async def test_real_openai_gets_max_completion_tokens(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=BODY)
    await run(adapter, ChatRequest.from_prompt("hi", stream=False, max_tokens=256))
    body = sent_body(httpx_mock)
    assert body["max_completion_tokens"] == 256 and "max_tokens" not in body


async def test_any_provider_on_api_openai_com_gets_max_completion_tokens(
    pool: ClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, content=BODY)
    await run(OpenAIAdapter("openai-work", BASE, pool), ChatRequest.from_prompt("hi", stream=False, max_tokens=9))
    assert sent_body(httpx_mock)["max_completion_tokens"] == 9


async def test_custom_endpoint_gets_max_tokens(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{LOCAL}/chat/completions", content=BODY)
    custom = OpenAIAdapter("lmstudio", LOCAL, pool, local=True)
    await run(custom, ChatRequest.from_prompt("hi", stream=False, max_tokens=64), LOCAL_CANDIDATE)
    body = sent_body(httpx_mock)
    assert body["max_tokens"] == 64 and "max_completion_tokens" not in body


async def test_official_flag_overrides_the_name(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{LOCAL}/chat/completions", content=BODY)
    proxy = OpenAIAdapter("my-proxy", LOCAL, pool, official=True)
    await run(proxy, ChatRequest.from_prompt("hi", stream=False, max_tokens=5), LOCAL_CANDIDATE)
    assert sent_body(httpx_mock)["max_completion_tokens"] == 5


async def test_keyless_local_endpoint_sends_no_auth_header_and_is_local(
    pool: ClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=f"{LOCAL}/chat/completions", content=BODY)
    custom = OpenAIAdapter("lmstudio", LOCAL, pool, local=True)
    await run(custom, NON_STREAM, LOCAL_CANDIDATE)
    sent = httpx_mock.get_request()
    assert sent is not None and "Authorization" not in sent.headers
    assert custom.local is True


async def test_configured_headers_are_sent_and_the_key_header_wins(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=BODY)
    headers = (("OpenAI-Project", "proj_abc"), ("Authorization", "Bearer stale"))
    await run(OpenAIAdapter("openai", BASE, pool, headers=headers), NON_STREAM)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.headers["OpenAI-Project"] == "proj_abc" and sent.headers["Authorization"] == f"Bearer {SECRET}"


async def test_a_long_configured_header_value_is_redacted_from_messages(
    pool: ClientPool, httpx_mock: HTTPXMock
) -> None:
    token = "gw-7Kq2Lm9Xz4Rt8Vb3Nc6Hy1Pd5Sf0Wa"
    body = error_body(f"gateway token {token} rejected", "invalid_api_key", "invalid_request_error")
    httpx_mock.add_response(url=f"{LOCAL}/chat/completions", status_code=401, content=body)
    custom = OpenAIAdapter("gateway", LOCAL, pool, headers=(("X-Gateway-Token", token),))
    with pytest.raises(ProviderError) as caught:
        await run(custom, STREAM, LOCAL_CANDIDATE)
    assert token not in caught.value.message and caught.value.kind is ErrorKind.AUTH


async def test_streaming_asks_for_the_usage_chunk(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([STREAMED]))
    await run(adapter)
    body = sent_body(httpx_mock)
    assert (body["stream"], body["stream_options"]) == (True, {"include_usage": True})


async def test_non_streaming_sends_no_stream_options(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=BODY)
    await run(adapter, NON_STREAM)
    assert sent_body(httpx_mock) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }


async def test_request_body_matches_what_the_official_client_sends(
    adapter: OpenAIAdapter, httpx_mock: HTTPXMock
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=STREAMED, headers={"content-type": "text/event-stream"})

    with official_client(answer) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
            temperature=0.2,
            max_completion_tokens=256,
            stream=True,
            stream_options={"include_usage": True},
        )
        list(stream)
    httpx_mock.add_response(url=URL, stream=IteratorStream([STREAMED]))
    await run(adapter, ChatRequest.from_prompt("hi", system="be brief", temperature=0.2, max_tokens=256))
    assert sent_body(httpx_mock) == json.loads(seen[0].content)
    assert str(seen[0].url) == URL


async def test_top_p_stop_and_seed_are_sent_with_stop_as_an_array(
    adapter: OpenAIAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, content=BODY)
    request = ChatRequest.from_prompt("hi", stream=False, top_p=0.9, stop=("\n\n", "END"), seed=42, max_tokens=64)
    await run(adapter, request)
    assert sent_body(httpx_mock) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "top_p": 0.9,
        "max_completion_tokens": 64,
        "stop": ["\n\n", "END"],
        "seed": 42,
    }


async def test_one_stop_sequence_is_still_an_array_and_a_zero_seed_is_sent(
    adapter: OpenAIAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, content=BODY)
    await run(adapter, ChatRequest.from_prompt("hi", stream=False, stop=("END",), seed=0, top_p=0.0))
    body = sent_body(httpx_mock)
    assert (body["stop"], body["seed"], body["top_p"]) == (["END"], 0, 0.0)


async def test_more_than_four_stop_sequences_are_refused_before_sending(
    adapter: OpenAIAdapter, httpx_mock: HTTPXMock
) -> None:
    error = await failure(adapter, ChatRequest.from_prompt("hi", stop=("a", "b", "c", "d", "e")))
    assert (error.kind, error.status, error.provider) == (ErrorKind.BAD_REQUEST, None, "openai")
    assert "at most 4 stop sequences, not 5" in error.message
    assert httpx_mock.get_requests() == []


async def test_a_custom_endpoint_gets_the_same_options_under_max_tokens(
    pool: ClientPool, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=f"{LOCAL}/chat/completions", content=BODY)
    custom = OpenAIAdapter("lmstudio", LOCAL, pool, local=True)
    request = ChatRequest.from_prompt("hi", stream=False, top_p=0.5, stop=("###",), seed=7, max_tokens=32)
    await run(custom, request, LOCAL_CANDIDATE)
    body = sent_body(httpx_mock)
    assert {k: body[k] for k in ("top_p", "stop", "seed", "max_tokens")} == {
        "top_p": 0.5,
        "stop": ["###"],
        "seed": 7,
        "max_tokens": 32,
    }


async def test_options_match_what_the_official_client_sends(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=BODY)

    with official_client(answer) as client:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            temperature=0.4,
            top_p=0.9,
            max_completion_tokens=100,
            stop=["\n\n", "END"],
            seed=1234,
            stream=False,
        )
    httpx_mock.add_response(url=URL, content=BODY)
    request = ChatRequest.from_prompt(
        "hi", stream=False, temperature=0.4, top_p=0.9, max_tokens=100, stop=("\n\n", "END"), seed=1234
    )
    await run(adapter, request)
    assert sent_body(httpx_mock) == json.loads(seen[0].content)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({}, None),
        ({"temperature": 2.0, "max_tokens": 1}, None),
        ({"top_p": 0.1, "stop": ("a", "b", "c", "d"), "seed": -(2**63)}, None),
        ({"stop": ("a", "b", "c", "d", "e")}, "stop: the OpenAI Chat Completions API takes at most 4 stop sequences"),
        ({"seed": 2**63}, "seed: the OpenAI Chat Completions API takes a seed from"),
    ],
)
def test_check_options_for_the_openai_wire(options: dict[str, Any], reason: str | None) -> None:
    found = check_options("openai", ChatRequest.from_prompt("hi", **options))
    assert found == reason if reason is None else found is not None and found.startswith(reason)


# --- answers -----------------------------------------------------------------------------------------


async def test_non_stream_yields_the_text_the_model_and_the_usage(
    adapter: OpenAIAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, content=BODY)
    assert await run(adapter, NON_STREAM) == [
        TextDelta("This is a test!"),
        StreamEnd("gpt-4-0613", Usage(13, 5, None), "stop"),
    ]


async def test_non_stream_reads_what_the_official_client_reads(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    with official_client(lambda _: httpx.Response(200, content=BODY)) as client:
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    httpx_mock.add_response(url=URL, content=BODY)
    events = await run(adapter, NON_STREAM)
    assert completion.usage is not None
    assert text_of(events) == completion.choices[0].message.content
    usage = Usage(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    assert events[-1] == StreamEnd(completion.model, usage, completion.choices[0].finish_reason)


async def test_stream_takes_the_usage_from_the_choiceless_last_chunk(
    adapter: OpenAIAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([STREAMED]))
    assert await run(adapter) == [
        TextDelta("Hel"),
        TextDelta("lo"),
        StreamEnd("gpt-4o-mini-2024-07-18", Usage(9, 2, None), "stop"),
    ]


async def test_stream_reads_what_the_official_client_reads(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    answer = httpx.Response(200, content=STREAMED, headers={"content-type": "text/event-stream"})
    with official_client(lambda _: answer) as client:
        chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True))
    official_text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    official_usage = next(c.usage for c in chunks if c.usage is not None)
    httpx_mock.add_response(url=URL, stream=IteratorStream([STREAMED]))
    events = await run(adapter)
    assert text_of(events) == official_text
    assert events[-1].usage == Usage(official_usage.prompt_tokens, official_usage.completion_tokens)


async def test_stream_of_the_quoted_chunk_gives_its_text(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([CHUNK_HI + b"data: [DONE]\n\n"]))
    events = await run(adapter)
    assert events == [TextDelta("Hi"), StreamEnd("gpt-4o-mini", Usage(), None)]


async def test_stream_cut_after_the_finish_but_before_the_usage_is_whole_without_usage(
    adapter: OpenAIAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([sse(chunk("Hi"), chunk(None, "stop"), done=False)]))
    assert (await run(adapter))[-1] == StreamEnd("gpt-4o-mini-2024-07-18", Usage(), "stop")


async def test_stream_cut_before_the_finish_is_a_bad_response(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([sse(chunk("Hi"), done=False)]))
    assert (await failure(adapter)).kind is ErrorKind.BAD_RESPONSE


async def test_reasoning_deltas_stay_apart_from_the_answer(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    wire = sse(chunk(None, reasoning="think"), chunk("Hi"), chunk(None, "stop"), USAGE_CHUNK)
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    events = await run(adapter)
    assert events[:2] == [ReasoningDelta("think"), TextDelta("Hi")]


async def test_a_custom_servers_reasoning_content_is_reasoning_too(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    wire = sse(chunk(None, reasoning_content="think"), chunk("Hi"), chunk(None, "stop"))
    httpx_mock.add_response(url=f"{LOCAL}/chat/completions", stream=IteratorStream([wire]))
    events = await run(OpenAIAdapter("vllm", LOCAL, pool, local=True), STREAM, LOCAL_CANDIDATE)
    assert events[:2] == [ReasoningDelta("think"), TextDelta("Hi")]


async def test_a_surrogate_pair_split_across_chunks_is_joined(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    wire = b'data: {"choices":[{"delta":{"content":"\\ud83d"}}]}\n\ndata: {"choices":[{"delta":{"content":"\\ude00"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    assert text_of(await run(adapter)) == "\U0001f600"


async def test_usage_carries_no_cost(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    body = json.loads(BODY)
    body["usage"]["cost"] = 0.5  # only OpenRouter's cost is believed
    httpx_mock.add_response(url=URL, json=body)
    assert (await run(adapter, NON_STREAM))[-1].usage.cost_micros is None


# --- errors ------------------------------------------------------------------------------------------


async def test_insufficient_quota_is_quota_without_a_reset(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    body = error_body(QUOTA_429, "insufficient_quota", "insufficient_quota")
    httpx_mock.add_response(url=URL, status_code=429, content=body, headers={"retry-after": "20"})
    error = await failure(adapter)
    assert (error.kind, error.retry_at, error.cause) == (ErrorKind.QUOTA, None, None)


def test_insufficient_quota_cools_the_pool_long() -> None:
    error = classify_error(
        429, json.loads(error_body(QUOTA_429, "insufficient_quota", "insufficient_quota"))["error"], {}, (), NOW
    )
    action = action_for(error.kind, error.cause)
    assert (action.scope, action.key) == (StateScope.POOL, KeyEffect.COOL) and action.base_cooldown >= 3600


async def test_official_client_and_adapter_agree_insufficient_quota_is_not_a_rate_limit(
    adapter: OpenAIAdapter, httpx_mock: HTTPXMock
) -> None:
    body = error_body(QUOTA_429, "insufficient_quota", "insufficient_quota")
    with (
        official_client(lambda _: httpx.Response(429, content=body)) as client,
        pytest.raises(openai.RateLimitError) as official,
    ):
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    httpx_mock.add_response(url=URL, status_code=429, content=body)
    assert official.value.code == "insufficient_quota"
    assert (await failure(adapter)).kind is ErrorKind.QUOTA


async def test_rate_limit_frees_when_the_message_says(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=429, content=error_body(TPM_429, "rate_limit_exceeded", "tokens"))
    before = time.time()
    error = await failure(adapter)
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.retry_at is not None and before + 0.644 <= error.retry_at <= time.time() + 0.644


def test_rate_limit_hint_in_seconds_is_read_exactly() -> None:
    error = {"message": "Rate limit reached for requests. Please try again in 20s.", "code": "rate_limit_exceeded"}
    assert classify_error(429, error, {}, (), NOW).retry_at == NOW + 20


def test_rate_limit_hint_in_go_minutes_is_read_exactly() -> None:
    error = {"message": "Rate limit reached. Please try again in 2m59.56s.", "code": "rate_limit_exceeded"}
    assert classify_error(429, error, {}, (), NOW).retry_at == pytest.approx(NOW + 179.56)


def test_retry_after_ms_wins_over_everything() -> None:
    headers = {"retry-after-ms": "1500", "retry-after": "9", "x-ratelimit-reset-requests": "6m0s"}
    error = {"message": TPM_429, "code": "rate_limit_exceeded"}
    assert classify_error(429, error, headers, (), NOW).retry_at == NOW + 1.5


def test_retry_after_wins_over_the_reset_headers() -> None:
    headers = {"retry-after": "9", "x-ratelimit-reset-requests": "6m0s"}
    assert (
        classify_error(429, {"message": TPM_429, "code": "rate_limit_exceeded"}, headers, (), NOW).retry_at == NOW + 9
    )


def test_reset_of_the_exhausted_limit_wins_over_a_longer_one() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "149984",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    error = {"message": "Rate limit reached for requests", "code": "rate_limit_exceeded"}
    assert classify_error(429, error, headers, (), NOW).retry_at == NOW + 1


def test_exhausted_tokens_reset_is_taken_in_milliseconds() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "20ms",
    }
    assert classify_error(429, {"message": "x", "code": "rate_limit_exceeded"}, headers, (), NOW).retry_at == NOW + 0.02


def test_without_an_exhausted_count_the_longest_reset_is_taken() -> None:
    headers = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "1h2m3.5s"}
    error = {"message": "Rate limit reached", "code": "rate_limit_exceeded"}
    assert classify_error(429, error, headers, (), NOW).retry_at == NOW + 3723.5


def test_reset_headers_win_over_the_message() -> None:
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s"}
    assert (
        classify_error(429, {"message": TPM_429, "code": "rate_limit_exceeded"}, headers, (), NOW).retry_at == NOW + 360
    )


def test_rate_limit_without_any_hint_has_no_retry_at() -> None:
    error = {"message": "Rate limit reached", "code": "rate_limit_exceeded"}
    assert classify_error(429, error, {}, (), NOW).retry_at is None


def test_request_too_large_moves_on_without_cooling_the_key_as_if_waiting_helped() -> None:
    error = classify_error(
        429, {"message": TOO_LARGE_429, "type": "tokens", "code": "rate_limit_exceeded"}, {}, (), NOW
    )
    assert (error.kind, error.cause, error.retry_at) == (ErrorKind.RATE_LIMITED, Cause.REQUEST_SIZE, None)
    action = action_for(error.kind, error.cause)
    assert action.request is RequestEffect.NEXT_CANDIDATE and action.request is not RequestEffect.STOP


async def test_401_invalid_key_is_auth(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    body = error_body(f"Incorrect API key provided: {SECRET[:12]}...", "invalid_api_key", "invalid_request_error")
    httpx_mock.add_response(url=URL, status_code=401, content=body)
    assert (await failure(adapter)).kind is ErrorKind.AUTH


async def test_403_unsupported_country_is_auth(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    body = error_body(
        "Country, region, or territory not supported", "unsupported_country_region_territory", "request_forbidden"
    )
    httpx_mock.add_response(url=URL, status_code=403, content=body)
    assert (await failure(adapter)).kind is ErrorKind.AUTH


async def test_404_model_not_found_is_model_not_found(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    body = error_body(
        "The model `gpt-9` does not exist or you do not have access to it.",
        "model_not_found",
        "invalid_request_error",
        "model",
    )
    httpx_mock.add_response(url=URL, status_code=404, content=body)
    assert (await failure(adapter)).kind is ErrorKind.MODEL_NOT_FOUND


async def test_responses_only_model_is_model_not_found(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=404, content=RESPONSES_ONLY_404)
    error = await failure(adapter)
    assert (error.kind, error.status) == (ErrorKind.MODEL_NOT_FOUND, 404)
    assert error.message == "This model is only supported in v1/responses and not in v1/chat/completions."


def test_not_a_chat_model_is_model_not_found_even_as_a_400() -> None:
    assert (
        classify_error(400, {"message": NOT_CHAT, "type": "invalid_request_error"}, {}, (), NOW).kind
        is ErrorKind.MODEL_NOT_FOUND
    )


async def test_400_is_a_bad_request(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    body = error_body(
        "This model's maximum context length is 128000 tokens.",
        "context_length_exceeded",
        "invalid_request_error",
        "messages",
    )
    httpx_mock.add_response(url=URL, status_code=400, content=body)
    assert (await failure(adapter)).kind is ErrorKind.BAD_REQUEST


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            500,
            error_body("The server had an error while processing your request.", None, "server_error"),
            ErrorKind.SERVER,
        ),
        (502, b"<html><title>502 Bad Gateway</title></html>", ErrorKind.SERVER),
        (503, error_body("Slow Down"), ErrorKind.OVERLOADED),
    ],
    ids=["500", "502-html", "503"],
)
async def test_5xx_is_server_or_overloaded(
    adapter: OpenAIAdapter, httpx_mock: HTTPXMock, status: int, body: bytes, kind: ErrorKind
) -> None:
    httpx_mock.add_response(url=URL, status_code=status, content=body)
    assert (await failure(adapter)).kind is kind


async def test_error_inside_a_200_stream_is_classified_like_an_http_error(
    adapter: OpenAIAdapter, httpx_mock: HTTPXMock
) -> None:
    line = b"data: " + error_body(QUOTA_429, "insufficient_quota", "insufficient_quota") + b"\n\n"
    httpx_mock.add_response(url=URL, stream=IteratorStream([line]))
    error = await failure(adapter)
    assert (error.kind, error.status) == (ErrorKind.QUOTA, 200)


async def test_server_error_inside_a_200_stream_is_server(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    line = (
        b"data: " + error_body("The server had an error while processing your request.", None, "server_error") + b"\n\n"
    )
    httpx_mock.add_response(url=URL, stream=IteratorStream([line]))
    assert (await failure(adapter)).kind is ErrorKind.SERVER


async def test_rate_limit_inside_a_200_stream_keeps_its_reset(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    line = b"data: " + error_body(TPM_429, "rate_limit_exceeded", "tokens") + b"\n\n"
    httpx_mock.add_response(url=URL, stream=IteratorStream([line]))
    error = await failure(adapter)
    assert error.kind is ErrorKind.RATE_LIMITED and error.retry_at is not None


async def test_error_message_never_holds_the_key(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    body = error_body(f"Incorrect API key provided: {SECRET}. You can find your API key at ...", "invalid_api_key")
    httpx_mock.add_response(url=URL, status_code=401, content=body)
    assert "sk-proj…" in (await failure(adapter)).message


# --- Go durations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("20ms", 0.02),
        ("12ms", 0.012),
        ("2m59.56s", 179.56),
        ("1h2m3.5s", 3723.5),
        ("0", 0.0),
        ("0s", 0.0),
        ("1.5h", 5400.0),
        ("300us", 0.0003),
        ("250ns", 2.5e-7),
        (" 1s ", 1.0),
    ],
)
def test_go_duration_is_read_in_seconds(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "6", "-1s", "1x", "s", "1.5.5s", "1s 2s", "abc", "1d", "٣s", "9" * 400 + "h"])
def test_anything_but_a_go_duration_is_none(text: str) -> None:
    assert parse_go_duration(text) is None


def test_a_go_duration_that_is_not_text_is_none() -> None:
    assert parse_go_duration(None) is None and parse_go_duration(5) is None


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=30))
def test_go_duration_never_fails(text: str) -> None:
    seconds = parse_go_duration(text)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.integers(100, 599),
    st.dictionaries(
        st.sampled_from(["message", "type", "code", "param"]), st.none() | st.text(max_size=80) | st.integers()
    ),
    st.dictionaries(
        st.sampled_from(["retry-after", "retry-after-ms", "x-ratelimit-reset-tokens", "x-ratelimit-remaining-tokens"]),
        st.text(max_size=12),
    ),
)
def test_any_error_object_is_classified_on_one_clean_line(
    status: int, error: dict[str, Any], headers: dict[str, str]
) -> None:
    error["message"] = f"{error.get('message')} {SECRET}"
    exc = classify_error(status, error, headers, (SECRET,), NOW, "openai")
    assert isinstance(exc.kind, ErrorKind) and exc.message.strip() and "\n" not in exc.message
    assert SECRET not in exc.message
    assert exc.retry_at is None or math.isfinite(exc.retry_at)


# --- probe and catalogue -----------------------------------------------------------------------------

MODELS = {
    "object": "list",
    "data": [
        {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
        {"id": "o3", "object": "model", "created": 1744225308, "owned_by": "system"},
        {"object": "model"},
    ],
}


async def test_list_models_reads_the_ids(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/models", method="GET", json=MODELS)
    models = await adapter.list_models(SLOT, timeout=5)
    assert models == [ModelInfo("openai", "gpt-4o-mini"), ModelInfo("openai", "o3")]
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["Authorization"] == f"Bearer {SECRET}"


async def test_list_models_of_a_keyless_endpoint_sends_no_key(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{LOCAL}/models", json=MODELS)
    custom = OpenAIAdapter("lmstudio", LOCAL, pool, local=True)
    assert len(await custom.list_models(KeySlot("lmstudio"), timeout=5)) == 2
    sent = httpx_mock.get_request()
    assert sent is not None and "Authorization" not in sent.headers


async def test_list_models_without_data_is_a_bad_response(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/models", json={"object": "list"})
    with pytest.raises(ProviderError) as caught:
        await adapter.list_models(SLOT, timeout=5)
    assert caught.value.kind is ErrorKind.BAD_RESPONSE


async def test_probe_key_is_a_free_models_call(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/models", method="GET", json=MODELS)
    assert await adapter.probe_key(SLOT, timeout=5) == KeyInfo()


async def test_probe_key_with_a_bad_key_is_auth(adapter: OpenAIAdapter, httpx_mock: HTTPXMock) -> None:
    body = error_body("Incorrect API key provided: sk-...", "invalid_api_key", "invalid_request_error")
    httpx_mock.add_response(url=f"{BASE}/models", status_code=401, content=body)
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(SLOT, timeout=5)
    assert caught.value.kind is ErrorKind.AUTH
