"""OpenRouterAdapter against captured OpenRouter wire bytes (reference/providers.md §1)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.keys import ApiKey, KeySlot
from llmroute.providers import ClientPool, OpenRouterAdapter
from llmroute.providers.openrouter import classify_error
from llmroute.providers.options import check_options
from llmroute.types import Candidate, ChatRequest, ReasoningDelta, StreamEnd, StreamEvent, Target, TextDelta, Usage

BASE = "https://openrouter.ai/api/v1"
URL = f"{BASE}/chat/completions"
SECRET = "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"
CANDIDATE = Candidate(
    Target("openrouter", "openai/gpt-4o-mini"),
    KeySlot("openrouter", ApiKey("openrouter", "OPENROUTER_API_KEY", SECRET)),
)
STREAM = ChatRequest.from_prompt("hi")
NON_STREAM = ChatRequest.from_prompt("hi", stream=False)

CAPTURED_BODY = (
    b'{"id":"gen-1756333451-cPp53ItAkOxplxIj0aHz","provider":"OpenAI","model":"openai/gpt-4o-mini",\n'
    b' "object":"chat.completion","created":1756333451,\n'
    b' "choices":[{"logprobs":null,"finish_reason":"stop","native_finish_reason":"stop","index":0,\n'
    b'   "message":{"role":"assistant","content":"The capital of France is Paris.","refusal":null,"reasoning":null}}],\n'
    b' "system_fingerprint":"fp_560af6e559",\n'
    b' "usage":{"prompt_tokens":14,"completion_tokens":7,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0}}}'
)
FULL_USAGE = {
    "prompt_tokens": 14,
    "completion_tokens": 7,
    "total_tokens": 21,
    "cost": 0.0000063,
    "is_byok": False,
    "prompt_tokens_details": {
        "cached_tokens": 0,
        "cache_write_tokens": 0,
        "audio_tokens": 0,
        "video_tokens": 0,
    },
    "cost_details": {
        "upstream_inference_cost": None,
        "upstream_inference_prompt_cost": 0.0000021,
        "upstream_inference_completions_cost": 0.0000042,
    },
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
CAPTURED_STREAM_START = (
    b": OPENROUTER PROCESSING\n\n"
    b": OPENROUTER PROCESSING\n\n"
    b'data: {"id":"gen-1739458867-kUKFjpDGCEBBvK6V46PX","provider":"OpenAI","model":"openai/gpt-4o-mini","object":"chat.completion.chunk","created":1739458867,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],"system_fingerprint":"fp_72ed7ab54c"}\n\n'
    b'data: {"id":"gen-1739458867-kUKFjpDGCEBBvK6V46PX","provider":"OpenAI","model":"openai/gpt-4o-mini","object":"chat.completion.chunk","created":1739458867,"choices":[{"index":0,"delta":{"role":"assistant","content":"\xe2\x80\xa6"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],"system_fingerprint":"fp_72ed7ab54c"}\n\n'
)
MID_STREAM_ERROR_INT = b'data: {"id":"gen-abc123","object":"chat.completion.chunk","created":1234567890,"model":"openai/gpt-4o","provider":"OpenAI","error":{"code":429,"message":"Rate limit exceeded","metadata":{"error_type":"rate_limit_exceeded"}},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}\n\n'
MID_STREAM_ERROR_STR = b'data: {"id":"gen-abc123","object":"chat.completion.chunk","created":1234567890,"model":"openai/gpt-4o","provider":"OpenAI","error":{"code":"server_error","message":"Provider disconnected unexpectedly"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}\n\n'
ERROR_ONLY = b'data: {"error":{"message":"Provider returned error","code":502,"metadata":{"raw":"\xe2\x80\xa6","provider_name":"\xe2\x80\xa6"}}}\n\n'
DAILY_CAP = (
    b'{"error":{"message":"Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day",\n'
    b'  "code":429,\n'
    b'  "metadata":{"headers":{"X-RateLimit-Limit":"50","X-RateLimit-Remaining":"0","X-RateLimit-Reset":"1788220800000"},\n'
    b'              "provider_name":null}},\n'
    b' "user_id":"user_\xe2\x80\xa6"}'
)
UPSTREAM_429 = (
    b'{"error":{"message":"Provider returned error","code":429,\n'
    b'  "metadata":{"raw":"qwen/qwen3-coder:free is temporarily rate-limited upstream. Please retry shortly, or add your own key to accumulate your rate limits: https://openrouter.ai/settings/integrations",\n'
    b'              "provider_name":"Venice","is_byok":false,\n'
    b'              "retry_after_seconds":29,"retry_after_seconds_raw":28.423,"headers":{"Retry-After":"29"}}},\n'
    b' "user_id":"user_\xe2\x80\xa6"}'
)
CREDITS_402 = b'{"error":{"message":"This request requires more credits, or fewer max_tokens. You requested up to 64000 tokens, but can only afford 2666. To increase, visit https://openrouter.ai/settings/credits \xe2\x80\xa6","code":402,"metadata":{"provider_name":null}},"user_id":"\xe2\x80\xa6"}'
INVALID_MODEL_400 = (
    b'{"error":{"message":"acme/fake-1.0 is not a valid model ID","code":400},"user_id":"user_\xe2\x80\xa6"}'
)
NO_ENDPOINTS_404 = (
    b'{"error":{"message":"No endpoints found for stepfun/step-3.5-flash:free.","code":404},"user_id":"\xe2\x80\xa6"}'
)
USER_NOT_FOUND_401 = b'{"error":{"message":"User not found.","code":401}}'
PROVIDER_502 = b'{"error":{"message":"Provider returned error","code":502,"metadata":{"raw":"\xe2\x80\xa6upstream text or JSON\xe2\x80\xa6","provider_name":"Google AI Studio","is_byok":false,"provider_error_code":"500"}}}'


@pytest.fixture
async def adapter() -> AsyncIterator[OpenRouterAdapter]:
    pool = ClientPool("llmroute-test")
    yield OpenRouterAdapter("openrouter", BASE, pool)
    await pool.aclose()


def sse(*chunks: dict[str, Any] | bytes, done: bool = True) -> bytes:
    parts = [c if isinstance(c, bytes) else b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks]
    return b"".join(parts) + (b"data: [DONE]\n\n" if done else b"")


def chunk(content: str | None = "", finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": finish}
    return {
        "id": "gen-1",
        "model": "openai/gpt-4o-mini",
        "object": "chat.completion.chunk",
        "choices": [choice],
        **extra,
    }


async def run(adapter: OpenRouterAdapter, request: ChatRequest = STREAM) -> list[StreamEvent]:
    return [event async for event in adapter.chat(CANDIDATE, request, timeout=5)]


async def failure(adapter: OpenRouterAdapter, request: ChatRequest = STREAM) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await run(adapter, request)
    assert SECRET not in caught.value.message
    assert "\n" not in caught.value.message
    return caught.value


def text_of(events: Iterable[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# --- the request -------------------------------------------------------------------------------------


async def test_sends_bearer_key_and_attribution_headers(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", content=CAPTURED_BODY)
    await run(adapter, NON_STREAM)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.headers["Authorization"] == f"Bearer {SECRET}"
    assert sent.headers["HTTP-Referer"] == "https://github.com/llmroute/llmroute"
    assert sent.headers["X-OpenRouter-Title"] == "llmroute"
    assert sent.headers["X-Title"] == "llmroute"
    assert sent.headers["X-OpenRouter-Categories"] == "cli-agent"


async def test_request_body_omits_unset_sampling_fields(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=CAPTURED_BODY)
    await run(adapter, NON_STREAM)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert json.loads(sent.content) == {
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }


async def test_request_body_carries_temperature_max_tokens_and_stream(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([sse(chunk("ok", "stop"))]))
    request = ChatRequest.from_prompt("hi", system="be brief", temperature=0.2, max_tokens=256)
    await run(adapter, request)
    sent = httpx_mock.get_request()
    assert sent is not None
    body = json.loads(sent.content)
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert (body["stream"], body["temperature"], body["max_tokens"]) == (True, 0.2, 256)


async def test_request_body_carries_top_p_stop_and_seed(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=CAPTURED_BODY)
    request = ChatRequest.from_prompt("hi", stream=False, top_p=0.9, stop=("END",), seed=3, max_tokens=256)
    await run(adapter, request)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert json.loads(sent.content) == {
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "top_p": 0.9,
        "max_tokens": 256,
        "stop": ["END"],
        "seed": 3,
    }


async def test_more_stop_sequences_than_openrouter_takes_are_refused_unsent(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    error = await failure(adapter, ChatRequest.from_prompt("hi", stop=tuple("abcde")))
    assert (error.kind, error.provider) == (ErrorKind.BAD_REQUEST, "openrouter")
    assert (
        error.message
        == "cannot send this request: stop: OpenRouter's Chat Completions API takes at most 4 stop sequences, not 5"
    )
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(
    ("options", "fits"),
    [({"top_p": 1.0, "stop": tuple("abcd"), "seed": 2**63 - 1}, True), ({"stop": tuple("abcde")}, False)],
)
def test_check_options_for_the_openrouter_wire(options: dict[str, Any], fits: bool) -> None:
    assert (check_options("openrouter", ChatRequest.from_prompt("hi", **options)) is None) is fits


# --- non-streaming answers ---------------------------------------------------------------------------


async def test_non_stream_yields_the_text_then_the_model_used_and_tokens(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, content=CAPTURED_BODY)
    events = await run(adapter, NON_STREAM)
    assert events == [
        TextDelta("The capital of France is Paris."),
        StreamEnd("openai/gpt-4o-mini", Usage(14, 7, None), "stop"),
    ]


async def test_non_stream_cost_in_usd_becomes_micro_dollars(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    body = {
        "model": "openai/gpt-4o-mini",
        "choices": [{"message": {"content": "Paris."}, "finish_reason": "stop"}],
        "usage": FULL_USAGE,
    }
    httpx_mock.add_response(url=URL, json=body)
    events = await run(adapter, NON_STREAM)
    assert events[-1] == StreamEnd("openai/gpt-4o-mini", Usage(14, 7, 6), "stop")


async def test_non_stream_tolerates_blank_lines_before_the_json(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, content=b"\n\n\n\n" + CAPTURED_BODY)
    assert text_of(await run(adapter, NON_STREAM)) == "The capital of France is Paris."


@pytest.mark.parametrize("content", ["", None], ids=["empty", "null"])
async def test_non_stream_reasoning_with_no_content_is_no_answer_cut_by_length(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock, content: str | None
) -> None:
    body = {
        "model": "m",
        "choices": [{"message": {"content": content, "reasoning": "The user asks"}, "finish_reason": "length"}],
    }
    httpx_mock.add_response(url=URL, json=body)
    assert await run(adapter, NON_STREAM) == [ReasoningDelta("The user asks"), StreamEnd("m", Usage(), "length")]


async def test_non_stream_yields_the_reasoning_before_the_answer_and_once(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    message = {
        "role": "assistant",
        "content": "Paris.",
        "refusal": None,
        "reasoning": "France's capital.",
        "reasoning_details": [{"type": "reasoning.text", "text": "France's capital.", "format": "unknown", "index": 0}],
    }
    httpx_mock.add_response(url=URL, json={"model": "m", "choices": [{"message": message, "finish_reason": "stop"}]})
    events = await run(adapter, NON_STREAM)
    assert events[:-1] == [ReasoningDelta("France's capital."), TextDelta("Paris.")]


async def test_reasoning_details_are_read_when_the_reasoning_string_is_missing(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    details = [
        {"type": "reasoning.summary", "summary": "Looked it up. ", "format": "anthropic-claude-v1", "index": 0},
        {"type": "reasoning.encrypted", "data": "gAAAAB…opaque", "format": "openai-responses-v1", "index": 1},
        {"type": "reasoning.text", "text": "It is Paris.", "signature": "sig", "format": "unknown", "index": 2},
    ]
    message = {"content": "Paris.", "reasoning": None, "reasoning_details": details}
    httpx_mock.add_response(url=URL, json={"model": "m", "choices": [{"message": message, "finish_reason": "stop"}]})
    events = await run(adapter, NON_STREAM)
    assert events[:-1] == [ReasoningDelta("Looked it up. It is Paris."), TextDelta("Paris.")]


async def test_non_stream_reasoning_with_lone_surrogates_becomes_valid_unicode(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    body = b'{"model":"m","choices":[{"message":{"content":"ok","reasoning":"a\\ud83d b \\ud83d\\ude00"},"finish_reason":"stop"}]}'
    httpx_mock.add_response(url=URL, content=body)
    assert (await run(adapter, NON_STREAM))[0] == ReasoningDelta("a\ufffd b \U0001f600")


async def test_non_stream_model_actually_used_comes_from_the_response(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    body = {
        "model": "upstage/solar-pro-3:free",
        "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
    }
    httpx_mock.add_response(url=URL, json=body)
    end = (await run(adapter, NON_STREAM))[-1]
    assert isinstance(end, StreamEnd) and end.model == "upstage/solar-pro-3:free"


async def test_200_body_holding_only_an_error_is_a_failure(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=PROVIDER_502)
    error = await failure(adapter, NON_STREAM)
    assert (error.kind, error.status) == (ErrorKind.SERVER, 502)


async def test_200_body_with_finish_reason_error_is_a_failure(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    body = {
        "model": "m",
        "choices": [
            {
                "message": {"content": "partial"},
                "finish_reason": "error",
                "error": {
                    "code": 503,
                    "message": "Provider overloaded",
                    "metadata": {"error_type": "provider_overloaded"},
                },
            }
        ],
    }
    httpx_mock.add_response(url=URL, json=body)
    assert (await failure(adapter, NON_STREAM)).kind is ErrorKind.OVERLOADED


async def test_200_error_without_code_is_classified_by_http_status(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    body = {
        "error": {
            "message": "No endpoints found",
            "error_type": "not_found",
            "http_status": 404,
            "availability": {"code": "no_endpoints", "retryable": False},
        }
    }
    httpx_mock.add_response(url=URL, json=body)
    assert (await failure(adapter, NON_STREAM)).kind is ErrorKind.MODEL_NOT_FOUND


async def test_200_body_that_is_not_json_is_a_bad_response(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, html="<html><body>Just a moment...</body></html>")
    assert (await failure(adapter, NON_STREAM)).kind is ErrorKind.BAD_RESPONSE


async def test_200_body_without_choices_is_a_bad_response(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json={"id": "gen-1", "model": "m"})
    assert (await failure(adapter, NON_STREAM)).kind is ErrorKind.BAD_RESPONSE


# --- streaming answers -------------------------------------------------------------------------------


async def test_stream_skips_processing_comments_and_empty_deltas(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    body = CAPTURED_STREAM_START + sse(chunk(" Paris."), chunk("", "stop", usage=FULL_USAGE))
    httpx_mock.add_response(url=URL, stream=IteratorStream([body]))
    events = await run(adapter)
    assert events[:-1] == [TextDelta("…"), TextDelta(" Paris.")]


@pytest.mark.parametrize(
    "ending",
    [
        pytest.param([chunk("Hello"), chunk("", "stop"), chunk("", "stop", usage=FULL_USAGE)], id="A-duplicate-finish"),
        pytest.param(
            [chunk("Hello", "stop", provider="Ambient", service_tier="auto", usage=FULL_USAGE)],
            id="B-content-finish-and-usage",
        ),
        pytest.param(
            [
                chunk("Hello", "stop"),
                {"id": "gen-1", "model": "openai/gpt-4o-mini", "choices": [], "usage": FULL_USAGE},
            ],
            id="C-empty-choices",
        ),
    ],
)
async def test_stream_takes_usage_and_cost_from_whichever_chunk_has_it(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock, ending: list[dict[str, Any]]
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([sse(*ending)]))
    assert await run(adapter) == [
        TextDelta("Hello"),
        StreamEnd("openai/gpt-4o-mini", Usage(14, 7, 6), "stop"),
    ]


async def test_stream_yields_each_delta_as_soon_as_it_arrives(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    gate = asyncio.Event()

    class Gated(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield sse(chunk("Hel"), done=False)
            await gate.wait()
            yield sse(chunk("lo", "stop"))

    httpx_mock.add_callback(lambda request: httpx.Response(200, stream=Gated()), url=URL)
    events = adapter.chat(CANDIDATE, STREAM, timeout=5)
    assert await asyncio.wait_for(anext(events), timeout=2) == TextDelta("Hel")
    gate.set()
    rest = [event async for event in events]
    assert rest[0] == TextDelta("lo")


def reasoning_chunk(text: str | None, finish: str | None = None) -> dict[str, Any]:
    """A chunk as reasoning models stream it: ``delta.reasoning`` and the same text in ``reasoning_details``."""
    data = chunk("", finish)
    details = [{"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}] if text else []
    data["choices"][0]["delta"] |= {"reasoning": text, "reasoning_details": details}
    return data


async def test_stream_yields_reasoning_apart_from_the_answer(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    answer = chunk(" Paris.")
    answer["choices"][0]["delta"] |= {"reasoning": None, "reasoning_details": []}
    body = sse(reasoning_chunk("Capital"), reasoning_chunk(" of France."), answer, chunk("", "stop", usage=FULL_USAGE))
    httpx_mock.add_response(url=URL, stream=IteratorStream([body]))
    assert await run(adapter) == [
        ReasoningDelta("Capital"),
        ReasoningDelta(" of France."),
        TextDelta(" Paris."),
        StreamEnd("openai/gpt-4o-mini", Usage(14, 7, 6), "stop"),
    ]


async def test_stream_of_reasoning_cut_by_max_tokens_has_no_answer_and_ends_with_length(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    body = sse(reasoning_chunk("The user"), reasoning_chunk(" asks"), reasoning_chunk(None, "length"))
    httpx_mock.add_response(url=URL, stream=IteratorStream([body]))
    events = await run(adapter)
    assert text_of(events) == "" and events[:-1] == [ReasoningDelta("The user"), ReasoningDelta(" asks")]
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "length"


async def test_stream_reasoning_surrogate_pair_cut_across_chunks_is_joined(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    body = sse(
        reasoning_chunk("smile \ud83d"), reasoning_chunk("\ude00 ok"), reasoning_chunk("\ud83d"), chunk("hi", "stop")
    )
    httpx_mock.add_response(url=URL, stream=IteratorStream([body]))
    events = await run(adapter)
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert reasoning == "smile \U0001f600 ok\ufffd" and text_of(events) == "hi"


async def test_mid_stream_error_chunk_with_integer_code_is_classified(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([sse(chunk("Hel"), done=False) + MID_STREAM_ERROR_INT]))
    received: list[StreamEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for event in adapter.chat(CANDIDATE, STREAM, timeout=5):
            received.append(event)
    assert received == [TextDelta("Hel")]
    assert (caught.value.kind, caught.value.status) == (ErrorKind.RATE_LIMITED, 429)
    assert caught.value.message == "Rate limit exceeded"


async def test_mid_stream_error_chunk_with_string_code_is_classified(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([sse(chunk("Hel"), done=False) + MID_STREAM_ERROR_STR]))
    assert (await failure(adapter)).kind is ErrorKind.SERVER


async def test_stream_holding_only_an_error_is_a_failure(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([ERROR_ONLY]))
    error = await failure(adapter)
    assert (error.kind, error.status) == (ErrorKind.SERVER, 502)


async def test_stream_ending_without_done_is_a_bad_response(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([sse(chunk("Hel"), done=False)]))
    error = await failure(adapter)
    assert (error.kind, error.message) == (ErrorKind.BAD_RESPONSE, "stream ended before completion")


async def test_stream_with_malformed_json_is_a_bad_response(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([b'data: {"choices":[{"delta":\n\n']))
    assert (await failure(adapter)).kind is ErrorKind.BAD_RESPONSE


async def test_stream_with_invalid_utf8_bytes_still_decodes(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    body = b'data: {"model":"m","choices":[{"delta":{"content":"caf\xff"}}]}\n\n' + sse(chunk("", "stop"))
    httpx_mock.add_response(url=URL, stream=IteratorStream([body]))
    assert text_of(await run(adapter)) == "caf\ufffd"


async def test_stream_request_answered_with_json_is_read_as_a_body(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, content=CAPTURED_BODY, headers={"Content-Type": "application/json"})
    assert text_of(await run(adapter)) == "The capital of France is Paris."


async def test_stream_cut_mid_body_is_a_connection_error_after_the_text_so_far(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    class Cut(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield sse(chunk("Hel"), done=False)
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    httpx_mock.add_response(url=URL, stream=Cut())
    received: list[StreamEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for event in adapter.chat(CANDIDATE, STREAM, timeout=5):
            received.append(event)
    assert received == [TextDelta("Hel")]
    assert caught.value.kind is ErrorKind.CONNECTION


# --- HTTP errors -------------------------------------------------------------------------------------


async def test_daily_free_model_cap_is_quota_until_the_reset_in_milliseconds(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=429, content=DAILY_CAP)
    error = await failure(adapter)
    assert (error.kind, error.status, error.retry_at) == (ErrorKind.QUOTA, 429, 1_788_220_800.0)


async def test_daily_cap_reset_may_come_from_the_response_header(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    body = {"error": {"message": "Rate limit exceeded: free-models-per-day-high-balance", "code": 429}}
    httpx_mock.add_response(url=URL, status_code=429, json=body, headers={"X-RateLimit-Reset": "1788220800000"})
    error = await failure(adapter)
    assert (error.kind, error.retry_at) == (ErrorKind.QUOTA, 1_788_220_800.0)


async def test_upstream_429_is_rate_limited_for_its_retry_after(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=429, content=UPSTREAM_429)
    before = time.time()
    error = await failure(adapter)
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.retry_at is not None and before + 29 <= error.retry_at <= time.time() + 29
    assert error.message.startswith("Provider returned error: qwen/qwen3-coder:free is temporarily rate-limited")


async def test_per_minute_cap_is_rate_limited_until_its_reset(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    body = {
        "error": {
            "message": "Rate limit exceeded: free-models-per-min. ",
            "code": 429,
            "metadata": {
                "headers": {
                    "X-RateLimit-Limit": "20",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": "1783519380000",
                }
            },
        }
    }
    httpx_mock.add_response(url=URL, status_code=429, json=body)
    error = await failure(adapter)
    assert (error.kind, error.retry_at) == (ErrorKind.RATE_LIMITED, 1_783_519_380.0)


# --- what a 429 is about (its cause) -------------------------------------------------------------------


async def test_daily_free_model_cap_is_about_free_models_only(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=429, content=DAILY_CAP)
    error = await failure(adapter)
    assert (error.kind, error.cause, error.retry_at) == (ErrorKind.QUOTA, Cause.FREE_MODELS, 1_788_220_800.0)


async def test_high_balance_daily_cap_is_about_free_models_only(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    body = {"error": {"message": "Rate limit exceeded: free-models-per-day-high-balance", "code": 429}}
    httpx_mock.add_response(url=URL, status_code=429, json=body, headers={"X-RateLimit-Reset": "1788220800000"})
    error = await failure(adapter)
    assert (error.kind, error.cause, error.retry_at) == (ErrorKind.QUOTA, Cause.FREE_MODELS, 1_788_220_800.0)


async def test_daily_cap_named_only_by_its_limit_source_is_about_free_models(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    metadata = {"limit_source": "openrouter_free_tier_daily", "headers": {"X-RateLimit-Reset": "1788220800000"}}
    body = {"error": {"message": "Rate limit exceeded", "code": 429, "metadata": metadata}}
    httpx_mock.add_response(url=URL, status_code=429, json=body)
    error = await failure(adapter)
    assert (error.kind, error.cause, error.retry_at) == (ErrorKind.QUOTA, Cause.FREE_MODELS, 1_788_220_800.0)


async def test_per_minute_free_model_cap_is_about_free_models_only(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    limits = {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1783519380000"}
    body = {
        "error": {"message": "Rate limit exceeded: free-models-per-min.", "code": 429, "metadata": {"headers": limits}}
    }
    httpx_mock.add_response(url=URL, status_code=429, json=body, headers=limits)
    error = await failure(adapter)
    assert (error.kind, error.cause, error.retry_at) == (ErrorKind.RATE_LIMITED, Cause.FREE_MODELS, 1_783_519_380.0)


async def test_per_minute_cap_keeps_its_retry_after_over_the_reset(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    body = {"error": {"message": "Rate limit exceeded: free-models-per-min.", "code": 429}}
    headers = {"Retry-After": "7", "X-RateLimit-Reset": "1783519380000"}
    httpx_mock.add_response(url=URL, status_code=429, json=body, headers=headers)
    before = time.time()
    error = await failure(adapter)
    assert (error.kind, error.cause) == (ErrorKind.RATE_LIMITED, Cause.FREE_MODELS)
    assert error.retry_at is not None and before + 7 <= error.retry_at <= time.time() + 7


async def test_mid_stream_daily_cap_is_about_free_models_only(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    error_chunk = {"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-day. Add 10 credits"}}
    httpx_mock.add_response(url=URL, stream=IteratorStream([sse(error_chunk)]))
    error = await failure(adapter)
    assert (error.kind, error.cause) == (ErrorKind.QUOTA, Cause.FREE_MODELS)


async def test_upstream_429_for_a_free_model_is_not_a_free_model_cap(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=429, content=UPSTREAM_429)
    error = await failure(adapter)
    assert (error.kind, error.cause) == (ErrorKind.RATE_LIMITED, None)


async def test_shared_capacity_429_of_one_free_model_is_not_a_free_model_cap(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    message = (
        "Rate limit exceeded: limit_rpm/qwen/qwen3-coder-480b-a35b-07-25/x. High demand for qwen/qwen3-coder:free"
        " on OpenRouter - limited to 8 requests per minute. Please retry shortly."
    )
    body = {"error": {"message": message, "code": 429, "metadata": {"limit_source": "openrouter_shared_capacity"}}}
    httpx_mock.add_response(url=URL, status_code=429, json=body)
    assert ((error := await failure(adapter)).kind, error.cause) == (ErrorKind.RATE_LIMITED, None)


def test_free_model_cap_text_outside_a_429_has_no_cause() -> None:
    error = {"message": "free-models-per-day is mentioned in passing", "code": 400}
    assert (classify_error(400, error, {}, [], 1000.0).cause) is None


async def test_fake_free_model_caps_classify_as_free_model_caps() -> None:
    from tests.fakes import FakeProvider, or_daily_cap, or_per_minute

    free = dataclasses.replace(CANDIDATE, target=Target("openrouter", "meta-llama/llama-3.3-70b-instruct:free"))
    pool = ClientPool("llmroute-test")
    caught: list[ProviderError] = []
    with FakeProvider(keys={SECRET: "or1"}) as fake:
        fake.script(SECRET, or_daily_cap(1_788_220_800_000), or_per_minute(1_783_519_380_000))
        cloud = OpenRouterAdapter("openrouter", fake.openrouter_url, pool)
        for _ in range(2):
            with pytest.raises(ProviderError) as failed:
                [event async for event in cloud.chat(free, STREAM, timeout=5)]
            caught.append(failed.value)
        await pool.aclose()
    assert [(e.kind, e.cause, e.retry_at) for e in caught] == [
        (ErrorKind.QUOTA, Cause.FREE_MODELS, 1_788_220_800.0),
        (ErrorKind.RATE_LIMITED, Cause.FREE_MODELS, 1_783_519_380.0),
    ]


async def test_429_retry_after_header_sets_retry_at(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    body = {"error": {"message": "Rate limit exceeded", "code": "429", "type": "rate_limit_error"}}
    httpx_mock.add_response(url=URL, status_code=429, json=body, headers={"Retry-After": "7"})
    before = time.time()
    error = await failure(adapter)
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.retry_at is not None and before + 7 <= error.retry_at <= time.time() + 7


def test_upstream_retry_after_seconds_alone_sets_retry_at() -> None:
    error = {"message": "Provider returned error", "code": 429, "metadata": {"retry_after_seconds": 12}}
    assert classify_error(429, error, {}, [], 1000.0).retry_at == 1012.0


async def test_402_fewer_max_tokens_is_quota_worth_retrying_later(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=402, content=CREDITS_402)
    before = time.time()
    error = await failure(adapter)
    assert error.kind is ErrorKind.QUOTA
    assert error.retry_at is not None and before + 300 <= error.retry_at <= time.time() + 300


async def test_402_insufficient_credits_is_quota_without_retry_at(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    body = {
        "error": {
            "message": "Insufficient credits. Add more using https://openrouter.ai/credits",
            "code": 402,
        }
    }
    httpx_mock.add_response(url=URL, status_code=402, json=body)
    error = await failure(adapter)
    assert (error.kind, error.retry_at) == (ErrorKind.QUOTA, None)


async def test_400_invalid_model_id_is_model_not_found(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=400, content=INVALID_MODEL_400)
    error = await failure(adapter)
    assert (error.kind, error.message) == (ErrorKind.MODEL_NOT_FOUND, "acme/fake-1.0 is not a valid model ID")


async def test_other_400_is_a_bad_request(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    body = {"error": {"message": 'Input required: specify "prompt" or "messages"', "code": 400}}
    httpx_mock.add_response(url=URL, status_code=400, json=body)
    assert (await failure(adapter)).kind is ErrorKind.BAD_REQUEST


async def test_404_no_endpoints_is_model_not_found(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=404, content=NO_ENDPOINTS_404)
    assert (await failure(adapter)).kind is ErrorKind.MODEL_NOT_FOUND


async def test_401_user_not_found_is_auth(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=401, content=USER_NOT_FOUND_401)
    error = await failure(adapter)
    assert (error.kind, error.status, error.message) == (ErrorKind.AUTH, 401, "User not found.")


async def test_403_guardrail_block_is_a_bad_request(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    body = {
        "error": {
            "code": 403,
            "message": "Request blocked: prompt injection patterns detected",
            "metadata": {"patterns": ["ignore previous"]},
        }
    }
    httpx_mock.add_response(url=URL, status_code=403, json=body)
    assert (await failure(adapter)).kind is ErrorKind.BAD_REQUEST


async def test_403_moderation_reasons_are_a_bad_request(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    body = {
        "error": {
            "code": 403,
            "message": "Input was rejected",
            "metadata": {"reasons": ["violence"], "flagged_input": "…", "provider_name": "OpenAI"},
        }
    }
    httpx_mock.add_response(url=URL, status_code=403, json=body)
    assert (await failure(adapter)).kind is ErrorKind.BAD_REQUEST


async def test_other_403_is_auth(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=403, json={"error": {"code": 403, "message": "Key disabled"}})
    assert (await failure(adapter)).kind is ErrorKind.AUTH


@pytest.mark.parametrize("status", [408, 504, 524])
async def test_timeout_statuses_are_timeouts(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock, status: int) -> None:
    body = {"error": {"code": status, "message": "Request timed out. Please try again later."}}
    httpx_mock.add_response(url=URL, status_code=status, json=body)
    assert (await failure(adapter)).kind is ErrorKind.TIMEOUT


async def test_502_is_server_with_an_excerpt_of_the_raw_upstream_text(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=502, content=PROVIDER_502)
    error = await failure(adapter)
    assert (error.kind, error.message) == (
        ErrorKind.SERVER,
        "Provider returned error: …upstream text or JSON…",
    )


async def test_502_raw_excerpt_is_one_short_line(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    raw = json.dumps({"error": {"code": 500, "message": "Internal error\n" + "trace line\n" * 200}}, indent=2)
    body = {"error": {"message": "Provider returned error", "code": 502, "metadata": {"raw": raw}}}
    httpx_mock.add_response(url=URL, status_code=502, json=body)
    assert len((await failure(adapter)).message) <= 240


@pytest.mark.parametrize("status", [503, 529])
async def test_overload_statuses_are_overloaded_until_retry_after(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock, status: int
) -> None:
    body = {"error": {"code": status, "message": "Provider returned error"}}
    httpx_mock.add_response(url=URL, status_code=status, json=body, headers={"Retry-After": "30"})
    before = time.time()
    error = await failure(adapter)
    assert error.kind is ErrorKind.OVERLOADED
    assert error.retry_at is not None and before + 30 <= error.retry_at <= time.time() + 30


async def test_html_502_page_from_a_proxy_is_server_with_a_short_message(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" + "<p>nginx</p>\r\n" * 300 + "</html>"
    httpx_mock.add_response(url=URL, status_code=502, html=page)
    error = await failure(adapter)
    assert (error.kind, error.status) == (ErrorKind.SERVER, 502)
    assert error.message.startswith("HTTP 502: <html> <head><title>502 Bad Gateway</title>")
    assert len(error.message) <= 240


async def test_error_body_with_invalid_utf8_is_classified_by_status(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=503, content=b"\xff\xfe\x00Service Unavailable")
    assert (await failure(adapter)).kind is ErrorKind.OVERLOADED


async def test_error_message_never_contains_the_key(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    body = {
        "error": {
            "code": 401,
            "message": f"Invalid API key {SECRET} for this account",
            "metadata": {"raw": f"Authorization: Bearer {SECRET}"},
        }
    }
    httpx_mock.add_response(url=URL, status_code=401, json=body)
    error = await failure(adapter)
    assert "sk-or-v1…9b2c" in error.message


async def test_mid_stream_error_message_never_contains_the_key(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    chunk_with_key = {"error": {"code": 401, "message": f"key {SECRET} revoked"}, "choices": []}
    httpx_mock.add_response(url=URL, stream=IteratorStream([sse(chunk_with_key)]))
    assert (await failure(adapter)).kind is ErrorKind.AUTH


# --- transport failures ------------------------------------------------------------------------------


async def test_connection_refused_is_a_connection_error(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"), url=URL)
    error = await failure(adapter)
    assert (error.kind, error.provider) == (ErrorKind.CONNECTION, "openrouter")
    assert (error.cause, error.message) == (Cause.UNREACHABLE, "https://openrouter.ai refused the connection")


async def test_transport_error_names_the_origin_but_not_the_path(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.ConnectTimeout("timed out"), url=URL)
    error = await failure(adapter)
    assert (error.kind, error.message) == (ErrorKind.TIMEOUT, "timed out connecting to https://openrouter.ai")
    assert "/api/v1" not in error.message and "/chat/completions" not in error.message


async def test_read_timeout_is_a_timeout(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), url=URL)
    assert (await failure(adapter)).kind is ErrorKind.TIMEOUT
