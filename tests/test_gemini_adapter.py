"""GeminiAdapter against Gemini's native API (reference/providers-next.md §1): pytest-httpx, then the fake."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import types as genai_types
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpx import HTTPXMock, IteratorStream

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.keys import ApiKey, KeySlot
from llmroute.policy import KeyEffect, RequestEffect, StateScope, action_for
from llmroute.providers import ClientPool
from llmroute.providers import gemini as gemini_module
from llmroute.providers.gemini import (
    DEFAULT_BASE_URL,
    PER_MODEL_CAUSE,
    GeminiAdapter,
    _rule_midnight,
    classify_error,
    error_of,
    next_pacific_midnight,
)
from llmroute.providers.options import check_options
from llmroute.types import (
    Candidate,
    ChatRequest,
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
    DEFAULT_GEMINI_MODELS,
    DEFAULT_TEXT,
    FakeProvider,
    gm_400_key_invalid,
    gm_403,
    gm_404,
    gm_429_limit_zero,
    gm_429_per_day,
    gm_429_per_minute,
    gm_500,
    gm_503,
    gm_504,
    gm_blocked,
    gm_wrapped,
    reply,
    stream_reply,
)

BASE = DEFAULT_BASE_URL
MODEL = "gemini-2.5-flash"
SECRET = "AIzaSyD3m0-k3y_f0r-t3sts-0nlyAbCdEfGhIjK"
SLOT = KeySlot("gemini", ApiKey("gemini", "GEMINI_API_KEY", SECRET))
CANDIDATE = Candidate(Target("gemini", MODEL), SLOT)
GENERATE_URL = f"{BASE}/models/{MODEL}:generateContent"
STREAM_URL = f"{BASE}/models/{MODEL}:streamGenerateContent?alt=sse"
STREAM = ChatRequest.from_prompt("hi")
NON_STREAM = ChatRequest.from_prompt("hi", stream=False)
NOW = datetime(2026, 11, 3, 17, 45, tzinfo=UTC).timestamp()
"""A Tuesday in November: Pacific standard time (UTC-8)."""
NEXT_PACIFIC_MIDNIGHT = datetime(2026, 11, 4, 8, 0, tzinfo=UTC).timestamp()

# Bodies as quoted in reference/providers-next.md §1.
ANSWER = {
    "candidates": [
        {"content": {"parts": [{"text": "Hello World!"}], "role": "model"}, "finishReason": "STOP", "index": 0}
    ],
    "usageMetadata": {
        "promptTokenCount": 3,
        "candidatesTokenCount": 5,
        "totalTokenCount": 8,
        "thoughtsTokenCount": 0,
        "cachedContentTokenCount": 0,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "LdGKaIu3NoKsmtkP0M27iQ8",
}
CAPTURED_STREAM = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "C"}],"role": "model"}}],"usageMetadata": {"promptTokenCount": 7,"totalTokenCount": 7,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 7}]},"modelVersion": "gemini-2.5-pro","responseId": "test123"}\n\n'
    b'data: {"candidates": [{"content": {"parts": [{"text": "lementine, a ginger tabby"}],"role": "model"}}],"usageMetadata": {"promptTokenCount": 7,"totalTokenCount": 15},"modelVersion": "gemini-2.5-pro","responseId": "test124"}\n\n'
    b'data: {"candidates": [{"content": {"parts": [{"text": " cat who considered himself"}],"role": "model"},"finishReason": "STOP"}],"usageMetadata": {"promptTokenCount": 7,"totalTokenCount": 25},"modelVersion": "gemini-2.5-pro","responseId": "test125"}\n\n'
)
CAPTURED_TEXT = "Clementine, a ginger tabby cat who considered himself"
KEY_INVALID = b'{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}}'
PER_DAY_429 = b'{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details. ... \\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 20, model: gemini-3.6-flash\\nPlease retry in 36.429760048s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.5-flash"},"quotaValue":"20"}]},{"@type":"type.googleapis.com/google.rpc.Help","links":[]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"36s"}]}}'


def chunk(
    text: str | None = None,
    *,
    thought: bool = False,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
    model: str = MODEL,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [], "role": "model"}, "index": 0}
    if text is not None:
        candidate["content"]["parts"].append({"text": text, "thought": True} if thought else {"text": text})
    if finish is not None:
        candidate["finishReason"] = finish
    data: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": "r1"}
    if usage is not None:
        data["usageMetadata"] = usage
    return data


def sse(*chunks: dict[str, Any], end: bytes = b"\r\n") -> bytes:
    """Events as Gemini writes them: ``data: <json>`` and a blank line, CRLF by default, no terminator."""
    return b"".join(b"data: " + json.dumps(c, separators=(",", ": ")).encode() + end + end for c in chunks)


def google_error(status: int, rpc: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc}
    if details is not None:
        error["details"] = details
    return error


def retry_info(delay: object) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


def quota_failure(*quota_ids: str, value: str | None = None, model: str = MODEL) -> dict[str, Any]:
    violations = []
    for quota_id in quota_ids:
        violation: dict[str, Any] = {"quotaId": quota_id, "quotaDimensions": {"location": "global", "model": model}}
        if value is not None:
            violation["quotaValue"] = value
        violations.append(violation)
    return {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": violations}


PER_MINUTE = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
PER_DAY = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
TOKENS_PER_MINUTE = "GenerateContentInputTokensPerModelPerMinute-FreeTier"


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    clients = ClientPool("llmroute-test")
    yield clients
    await clients.aclose()


@pytest.fixture
def adapter(pool: ClientPool) -> GeminiAdapter:
    return GeminiAdapter("gemini", BASE, pool)


async def run(adapter: GeminiAdapter, request: ChatRequest = STREAM, candidate: Candidate = CANDIDATE) -> list[Any]:
    return [event async for event in adapter.chat(candidate, request, timeout=5)]


async def failure(adapter: GeminiAdapter, request: ChatRequest = STREAM) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await run(adapter, request)
    assert SECRET not in caught.value.message and "\n" not in caught.value.message
    return caught.value


def text_of(events: Iterable[Any], kind: type = TextDelta) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def classified(error: dict[str, Any], status: int = 429, now: float = NOW) -> ProviderError:
    return classify_error(status, error, (SECRET,), now, "gemini")


def sent_requests(httpx_mock: HTTPXMock) -> list[httpx.Request]:
    return httpx_mock.get_requests()


# --- the request ---------------------------------------------------------------------------------------


async def test_a_stream_posts_to_stream_generate_content_with_alt_sse(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=STREAM_URL, method="POST", stream=IteratorStream([sse(chunk("Hi", finish="STOP"))]))
    await run(adapter)
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["Accept"] == "text/event-stream"


async def test_a_single_answer_posts_to_generate_content(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=GENERATE_URL, method="POST", json=ANSWER)
    await run(adapter, NON_STREAM)
    sent = httpx_mock.get_request()
    assert sent is not None and sent.url.query == b""


@pytest.mark.parametrize("request_", [STREAM, NON_STREAM], ids=["stream", "single"])
async def test_the_key_travels_in_the_header_and_never_in_the_url(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock, request_: ChatRequest
) -> None:
    if request_.stream:
        httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([sse(chunk("Hi", finish="STOP"))]))
    else:
        httpx_mock.add_response(url=GENERATE_URL, json=ANSWER)
    await run(adapter, request_)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.headers["x-goog-api-key"] == SECRET
    assert "key" not in sent.url.params and SECRET not in str(sent.url)
    assert "authorization" not in sent.headers


async def test_the_body_has_user_and_model_turns_a_system_instruction_and_generation_config(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=GENERATE_URL, json=ANSWER)
    messages = (
        Message("system", "You are terse."),
        Message("user", "Hi"),
        Message("assistant", "Hello."),
        Message("user", "Explain how AI works"),
        Message("user", "in one line"),
        Message("assistant", ""),
    )
    request = ChatRequest(messages=messages, temperature=0.7, max_tokens=256, stream=False)
    await run(adapter, request)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert json.loads(sent.content) == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello."}]},
            {"role": "user", "parts": [{"text": "Explain how AI works"}, {"text": "in one line"}]},
        ],
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "generationConfig": {"temperature": 0.7, "maxOutputTokens": 256},
    }


async def test_top_p_stop_sequences_and_seed_go_in_generation_config(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=GENERATE_URL, json=ANSWER)
    request = ChatRequest.from_prompt("hi", stream=False, top_p=0.9, stop=("\n\n", "END"), seed=-7, max_tokens=64)
    await run(adapter, request)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert json.loads(sent.content) == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"topP": 0.9, "maxOutputTokens": 64, "stopSequences": ["\n\n", "END"], "seed": -7},
    }


async def test_more_than_five_stop_sequences_or_a_seed_past_int32_are_refused_unsent(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    too_many = await failure(adapter, ChatRequest.from_prompt("hi", stop=tuple("abcdef")))
    too_big = await failure(adapter, ChatRequest.from_prompt("hi", seed=2**31))
    assert too_many.kind is too_big.kind is ErrorKind.BAD_REQUEST
    assert too_many.message == "cannot send this request: stop: the Gemini API takes at most 5 stop sequences, not 6"
    assert (
        too_big.message
        == "cannot send this request: seed: the Gemini API takes a seed from -2147483648 to 2147483647, not 2147483648"
    )
    assert httpx_mock.get_requests() == []


async def test_generation_config_matches_what_the_official_client_sends(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=ANSWER)

    http = httpx.Client(transport=httpx.MockTransport(answer))
    options = genai_types.HttpOptions(base_url=BASE.removesuffix("/v1beta"), api_version="v1beta", httpx_client=http)
    with genai.Client(api_key=SECRET, http_options=options) as client:
        config = genai_types.GenerateContentConfig(
            system_instruction="be brief",
            temperature=0.4,
            top_p=0.9,
            max_output_tokens=100,
            stop_sequences=["END", "###"],
            seed=2**31 - 1,
        )
        client.models.generate_content(model=MODEL, contents="hi", config=config)
    httpx_mock.add_response(url=GENERATE_URL, json=ANSWER)
    request = ChatRequest.from_prompt(
        "hi",
        system="be brief",
        stream=False,
        temperature=0.4,
        top_p=0.9,
        max_tokens=100,
        stop=("END", "###"),
        seed=2**31 - 1,
    )
    await run(adapter, request)
    sent = httpx_mock.get_request()
    assert sent is not None
    ours, theirs = json.loads(sent.content), json.loads(seen[0].content)
    assert str(seen[0].url) == GENERATE_URL
    assert (ours["contents"], ours["generationConfig"]) == (theirs["contents"], theirs["generationConfig"])
    assert ours["systemInstruction"]["parts"] == theirs["systemInstruction"]["parts"]  # the client adds a role


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ({"top_p": 0.95, "stop": tuple("abcde"), "seed": -(2**31)}, None),
        ({"stop": tuple("abcdef")}, "stop"),
        ({"seed": -(2**31) - 1}, "seed"),
    ],
)
def test_check_options_for_the_gemini_wire(options: dict[str, Any], refused: str | None) -> None:
    reason = check_options("gemini", ChatRequest.from_prompt("hi", **options))
    assert (reason.split(":")[0] if reason else None) == refused


async def test_a_plain_prompt_sends_no_generation_config(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=GENERATE_URL, json=ANSWER)
    await run(adapter, NON_STREAM)
    sent = httpx_mock.get_request()
    assert sent is not None and json.loads(sent.content) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("models/gemini-2.5-pro", "/models/gemini-2.5-pro:generateContent"),
        ("tunedModels/my-tune", "/tunedModels/my-tune:generateContent"),
        ("a/../../b?key=x", "/models/a%2F..%2F..%2Fb%3Fkey%3Dx:generateContent"),
    ],
    ids=["models-prefix", "tuned", "hostile"],
)
def test_a_model_id_is_one_path_segment(adapter: GeminiAdapter, model: str, path: str) -> None:
    assert adapter.chat_url(Candidate(Target("gemini", model), SLOT)) == BASE + path


async def test_configured_headers_are_sent(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    adapter = GeminiAdapter("gemini", BASE, pool, headers=[("x-goog-user-project", "my-project")])
    httpx_mock.add_response(url=GENERATE_URL, json=ANSWER)
    await run(adapter, NON_STREAM)
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["x-goog-user-project"] == "my-project"


# --- answers -------------------------------------------------------------------------------------------


async def test_a_single_answer_yields_text_usage_and_finish(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=GENERATE_URL, json=ANSWER)
    assert await run(adapter, NON_STREAM) == [TextDelta("Hello World!"), StreamEnd(MODEL, Usage(3, 5), "stop")]


async def test_thoughts_are_reasoning_and_their_tokens_bill_as_output(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    body = {
        "candidates": [
            {
                "content": {"parts": [{"text": "Let me think.", "thought": True}, {"text": "Paris."}], "role": "model"},
                "finishReason": "STOP",
            }
        ],
        # The observed counts of ref §1: 2 + 8 + 159 = 169.
        "usageMetadata": {
            "promptTokenCount": 2,
            "candidatesTokenCount": 8,
            "totalTokenCount": 169,
            "thoughtsTokenCount": 159,
        },
        "modelVersion": "gemini-2.5-pro",
    }
    httpx_mock.add_response(url=GENERATE_URL, json=body)
    events = await run(adapter, NON_STREAM)
    assert events == [
        ReasoningDelta("Let me think."),
        TextDelta("Paris."),
        StreamEnd("gemini-2.5-pro", Usage(2, 8 + 159), "stop"),
    ]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "SAFETY"), ("RECITATION", "RECITATION"), ("NEW", "NEW")],
)
async def test_finish_reasons_are_mapped_or_passed_on(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock, reason: str, finish: str
) -> None:
    body = {**ANSWER, "candidates": [{**ANSWER["candidates"][0], "finishReason": reason}]}  # type: ignore[dict-item]
    httpx_mock.add_response(url=GENERATE_URL, json=body)
    assert (await run(adapter, NON_STREAM))[-1].finish_reason == finish


async def test_thinking_that_used_up_the_budget_is_an_empty_answer_of_length(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    body = {
        "candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}],
        "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 68, "thoughtsTokenCount": 64},
    }
    httpx_mock.add_response(url=GENERATE_URL, json=body)
    assert await run(adapter, NON_STREAM) == [StreamEnd(MODEL, Usage(4, 64), "length")]


async def test_the_captured_stream_is_read_whole(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([CAPTURED_STREAM]))
    events = await run(adapter)
    assert text_of(events) == CAPTURED_TEXT
    # No candidatesTokenCount in the capture: the output is total - prompt of the last chunk (25 - 7).
    assert events[-1] == StreamEnd("gemini-2.5-pro", Usage(7, 18), "stop")


def crlf_stream() -> bytes:
    return sse(
        chunk("Hel", usage={"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}),
        chunk("lo, ", usage={"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}),
        chunk(
            "wörld 😀", finish="STOP", usage={"promptTokenCount": 3, "candidatesTokenCount": 3, "totalTokenCount": 6}
        ),
    )


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
async def test_a_crlf_stream_split_anywhere_reads_the_same(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock, size: int
) -> None:
    wire = crlf_stream()
    pieces = [wire[i : i + size] for i in range(0, len(wire), size)]
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream(pieces))
    events = await run(adapter)
    assert text_of(events) == "Hello, wörld 😀"
    # Usage is cumulative: the last chunk's counts, not their sum.
    assert events[-1] == StreamEnd(MODEL, Usage(3, 3), "stop")


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
async def test_any_sse_line_end_is_accepted(adapter: GeminiAdapter, httpx_mock: HTTPXMock, end: bytes) -> None:
    wire = sse(chunk("a"), chunk("b", finish="STOP"), end=end)
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([wire]))
    assert text_of(await run(adapter)) == "ab"


async def test_streamed_thoughts_are_reasoning_apart_from_the_answer(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    wire = sse(
        chunk("Considering", thought=True, usage={"promptTokenCount": 2, "thoughtsTokenCount": 30}),
        chunk(" the question.", thought=True, usage={"promptTokenCount": 2, "thoughtsTokenCount": 60}),
        chunk(
            "Four.", finish="STOP", usage={"promptTokenCount": 2, "candidatesTokenCount": 2, "thoughtsTokenCount": 60}
        ),
    )
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([wire]))
    events = await run(adapter)
    assert text_of(events, ReasoningDelta) == "Considering the question." and text_of(events) == "Four."
    assert events[-1].usage == Usage(2, 62)


async def test_a_usage_chunk_after_the_finish_is_kept(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    usage_only = {"usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 9, "totalTokenCount": 14}}
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([sse(chunk("x", finish="STOP"), usage_only)]))
    assert (await run(adapter))[-1] == StreamEnd(MODEL, Usage(5, 9), "stop")


async def test_a_surrogate_pair_split_across_chunks_is_joined(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    wire = b'data: {"candidates":[{"content":{"parts":[{"text":"smile \\ud83d"}]}}]}\r\n\r\n'
    wire += b'data: {"candidates":[{"content":{"parts":[{"text":"\\ude00"}]},"finishReason":"STOP"}]}\r\n\r\n'
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([wire]))
    assert text_of(await run(adapter)) == "smile 😀"


async def test_a_stream_that_ends_without_a_finish_reason_is_a_bad_response(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([sse(chunk("Hel"), chunk("lo"))]))
    error = await failure(adapter)
    assert (error.kind, error.message) == (ErrorKind.BAD_RESPONSE, "stream ended before completion")


@pytest.mark.parametrize("wire", [b"", b"\r\n\r\n", b": keep-alive\r\n\r\n"], ids=["empty", "blank", "comment"])
async def test_a_stream_with_no_chunk_is_a_bad_response(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock, wire: bytes
) -> None:
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([wire]))
    assert (await failure(adapter)).kind is ErrorKind.BAD_RESPONSE


async def test_malformed_json_in_a_stream_is_a_bad_response(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([b'data: {"candidates": [\r\n\r\n']))
    error = await failure(adapter)
    assert error.kind is ErrorKind.BAD_RESPONSE and error.message.startswith("malformed JSON in stream")


async def test_an_error_event_mid_stream_is_classified_after_the_text(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    wire = sse(chunk("partial")) + sse({"error": google_error(500, "INTERNAL", "An internal error has occurred.")})
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([wire]))
    seen: list[Any] = []
    with pytest.raises(ProviderError) as caught:
        async for event in adapter.chat(CANDIDATE, STREAM, timeout=5):
            seen.append(event)
    assert seen == [TextDelta("partial")]
    assert (caught.value.kind, caught.value.status) == (ErrorKind.SERVER, 500)


async def test_an_error_event_without_a_code_is_classified_by_its_status_name(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    event = {"error": {"message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([sse(event)]))
    error = await failure(adapter)
    assert (error.kind, error.status) == (ErrorKind.RATE_LIMITED, 429)


async def test_a_json_answer_to_a_stream_request_is_read_as_a_body(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=STREAM_URL, json=ANSWER)
    assert text_of(await run(adapter)) == "Hello World!"


@pytest.mark.parametrize(
    ("body", "wanted"),
    [(b"<html>oops</html>", "response is not a JSON object"), (b'{"usageMetadata": {}}', "response has no candidates")],
)
async def test_a_body_that_is_no_answer_is_a_bad_response(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock, body: bytes, wanted: str
) -> None:
    httpx_mock.add_response(url=GENERATE_URL, content=body, headers={"content-type": "application/json"})
    error = await failure(adapter, NON_STREAM)
    assert error.kind is ErrorKind.BAD_RESPONSE and error.message.startswith(wanted)


# --- a prompt blocked by the safety filters ------------------------------------------------------------

BLOCKED = {
    "promptFeedback": {
        "blockReason": "SAFETY",
        "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}],
    },
    "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
    "modelVersion": MODEL,
}


async def test_a_blocked_prompt_is_a_bad_request_naming_the_reason(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=GENERATE_URL, json=BLOCKED)
    error = await failure(adapter, NON_STREAM)
    assert (error.kind, error.status) == (ErrorKind.BAD_REQUEST, 200)
    assert error.message == "Gemini blocked the prompt (blockReason SAFETY)"
    assert action_for(error.kind, error.cause).request is RequestEffect.STOP


async def test_a_prompt_blocked_in_a_stream_is_a_bad_request_too(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    feedback = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT", "blockReasonMessage": "Not allowed."}}
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([sse(feedback)]))
    error = await failure(adapter)
    assert error.kind is ErrorKind.BAD_REQUEST
    assert error.message == "Gemini blocked the prompt (blockReason PROHIBITED_CONTENT): Not allowed."


# --- errors --------------------------------------------------------------------------------------------


async def test_an_invalid_key_is_a_400_that_disables_the_key(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=STREAM_URL, status_code=400, content=KEY_INVALID)
    error = await failure(adapter)
    assert (error.kind, error.cause, error.status) == (ErrorKind.AUTH, None, 400)
    assert error.message == "API key not valid. Please pass a valid API key."
    assert action_for(error.kind, error.cause).key is KeyEffect.DISABLE


async def test_an_invalid_key_in_the_array_form_is_auth_too(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=STREAM_URL, status_code=400, content=b"[" + KEY_INVALID + b"]")
    assert (await failure(adapter)).kind is ErrorKind.AUTH


def test_every_fake_error_helper_reads_as_the_real_body_does() -> None:
    """The fake's bodies (``gm_*``) unwrap to the same error object, plain or in an array."""
    for response in (gm_400_key_invalid(), gm_429_per_day(), gm_503()):
        assert error_of(json.loads(response.body)) == error_of(json.loads(gm_wrapped(response).body))


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (400, google_error(400, "INVALID_ARGUMENT", "API Key not found. Please pass a valid API key."), ErrorKind.AUTH),
        (400, google_error(400, "INVALID_ARGUMENT", "API key expired. Please renew the API key."), ErrorKind.AUTH),
        (
            400,
            google_error(
                400, "INVALID_ARGUMENT", 'Invalid JSON payload received. Unknown name "x": Cannot find field.'
            ),
            ErrorKind.BAD_REQUEST,
        ),
        (
            400,
            google_error(
                400,
                "FAILED_PRECONDITION",
                "Gemini API free tier is not available in your country. Please enable billing on your project in Google AI Studio.",
            ),
            ErrorKind.AUTH,
        ),
        (400, google_error(400, "FAILED_PRECONDITION", "Precondition check failed."), ErrorKind.BAD_REQUEST),
        (
            401,
            google_error(401, "UNAUTHENTICATED", "Request is missing required authentication credential."),
            ErrorKind.AUTH,
        ),
        (
            403,
            google_error(403, "PERMISSION_DENIED", "Your API key was reported as leaked. Please use another API key."),
            ErrorKind.AUTH,
        ),
        (402, google_error(402, "RESOURCE_EXHAUSTED", "Prepay credit balance is depleted."), ErrorKind.QUOTA),
        (
            404,
            google_error(404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta"),
            ErrorKind.MODEL_NOT_FOUND,
        ),
        (499, google_error(499, "CANCELLED", "The operation was cancelled."), ErrorKind.CONNECTION),
        (500, google_error(500, "INTERNAL", "An internal error has occurred."), ErrorKind.SERVER),
        (
            503,
            google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
            ErrorKind.OVERLOADED,
        ),
        (
            504,
            google_error(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
            ErrorKind.TIMEOUT,
        ),
    ],
    ids=[
        "key-not-found",
        "key-expired",
        "bad-body",
        "free-tier-country",
        "other-precondition",
        "401",
        "403-leaked",
        "402-prepay",
        "404",
        "499",
        "500",
        "503",
        "504",
    ],
)
def test_statuses_are_classified_by_the_table(status: int, error: dict[str, Any], kind: ErrorKind) -> None:
    result = classified(error, status)
    assert (result.kind, result.cause, result.retry_at, result.status) == (kind, None, None, status)
    assert result.message == error["message"]


def test_a_403_that_echoes_the_key_is_redacted() -> None:
    error = google_error(
        403, "PERMISSION_DENIED", f"Permission denied: Consumer 'api_key:{SECRET}' has been suspended."
    )
    result = classified(error, 403)
    assert result.kind is ErrorKind.AUTH and SECRET not in result.message and "…" in result.message


async def test_an_html_404_page_is_model_not_found(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    page = b"<!DOCTYPE html>\n<html lang=en>\n  <title>Error 404 (Not Found)!!1</title>\n<p>That's an error."
    httpx_mock.add_response(url=STREAM_URL, status_code=404, content=page, headers={"content-type": "text/html"})
    error = await failure(adapter)
    assert error.kind is ErrorKind.MODEL_NOT_FOUND and "Error 404 (Not Found)" in error.message


# --- 429: which quota ran out, and until when ----------------------------------------------------------


@pytest.mark.parametrize(("delay", "seconds"), [("37s", 37.0), ("0.5s", 0.5), ("45.837906927s", 45.837906927)])
def test_a_per_minute_limit_is_rate_limited_for_exactly_the_retry_delay(delay: str, seconds: float) -> None:
    error = google_error(429, "RESOURCE_EXHAUSTED", "quota", [quota_failure(PER_MINUTE), retry_info(delay)])
    result = classified(error)
    assert (result.kind, result.cause, result.retry_at) == (ErrorKind.RATE_LIMITED, PER_MODEL_CAUSE, NOW + seconds)
    assert result.message.startswith(f"rate limit {PER_MINUTE} reached for {MODEL}: quota")


def test_a_per_minute_token_limit_honours_the_delay_too() -> None:
    error = google_error(429, "RESOURCE_EXHAUSTED", "quota", [quota_failure(TOKENS_PER_MINUTE), retry_info("12s")])
    assert (classified(error).kind, classified(error).retry_at) == (ErrorKind.RATE_LIMITED, NOW + 12)


def test_a_per_day_quota_lasts_until_midnight_pacific_whatever_the_delay_says() -> None:
    error = error_of(json.loads(PER_DAY_429))
    assert error is not None
    result = classified(error)
    assert (result.kind, result.cause, result.retry_at) == (ErrorKind.QUOTA, PER_MODEL_CAUSE, NEXT_PACIFIC_MIDNIGHT)
    assert result.message.startswith(f"daily quota {PER_DAY} used up for gemini-2.5-flash, resets at midnight Pacific")


def test_a_per_day_violation_beside_a_per_minute_one_wins() -> None:
    error = google_error(
        429, "RESOURCE_EXHAUSTED", "q", [quota_failure(TOKENS_PER_MINUTE, PER_MINUTE, PER_DAY), retry_info("9s")]
    )
    assert (classified(error).kind, classified(error).retry_at) == (ErrorKind.QUOTA, NEXT_PACIFIC_MIDNIGHT)


@pytest.mark.parametrize(
    "error",
    [
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota.\n* Quota exceeded for metric: generativelanguage.googleapis.com/"
            "generate_content_free_tier_requests, limit: 0, model: gemini-3-pro\nPlease retry in 25.4s.",
            [quota_failure(PER_MINUTE, PER_DAY, model="gemini-3-pro"), retry_info("25s")],
        ),
        google_error(429, "RESOURCE_EXHAUSTED", "quota", [quota_failure(PER_DAY, value="0"), retry_info("25s")]),
    ],
    ids=["in-the-message", "in-quota-value"],
)
def test_a_quota_of_limit_zero_marks_the_model_unavailable_for_the_pool(error: dict[str, Any]) -> None:
    result = classified(error)
    assert (result.kind, result.cause, result.retry_at) == (ErrorKind.QUOTA, Cause.MODEL_ACCESS, None)
    assert result.message.startswith("model not offered on this project's tier (limit 0)")
    action = action_for(result.kind, result.cause)
    assert (action.key, action.scope) == (KeyEffect.UNAVAILABLE, StateScope.POOL_MODEL)


@pytest.mark.parametrize("text", ["limit: 20", "limit: 0.5", "limit: 05"])
def test_other_limits_are_not_limit_zero(text: str) -> None:
    error = google_error(429, "RESOURCE_EXHAUSTED", f"Quota exceeded, {text}, model: x", [quota_failure(PER_MINUTE)])
    assert classified(error).cause is not Cause.MODEL_ACCESS


def test_a_429_without_details_is_a_rate_limit_with_the_default_cooldown() -> None:
    result = classified(google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."))
    assert (result.kind, result.cause, result.retry_at) == (ErrorKind.RATE_LIMITED, None, None)
    assert result.message == "Resource has been exhausted (e.g. check quota)."


@pytest.mark.parametrize(
    ("error", "seconds"),
    [
        (google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.\nPlease retry in 36.429760048s."), 36.429760048),
        (google_error(429, "RESOURCE_EXHAUSTED", "q", [retry_info({"seconds": 33})]), 33.0),
        (google_error(429, "RESOURCE_EXHAUSTED", "q", [retry_info({"seconds": "2", "nanos": 500_000_000})]), 2.5),
    ],
    ids=["message", "duration-object", "duration-with-nanos"],
)
def test_the_delay_is_read_from_any_form_google_gives(error: dict[str, Any], seconds: float) -> None:
    assert classified(error).retry_at == NOW + seconds


@pytest.mark.parametrize("delay", ["-3s", "37", "soon", "1m", {"seconds": -1}, None])
def test_a_malformed_delay_is_no_hint(delay: object) -> None:
    assert classified(google_error(429, "RESOURCE_EXHAUSTED", "q", [retry_info(delay)])).retry_at is None


def test_per_minute_and_per_day_act_as_their_kind_until_the_table_has_a_per_model_cause() -> None:
    """Today a per-minute limit cools the key and a daily quota the pool (see ``PER_MODEL_CAUSE``)."""
    minute = classified(google_error(429, "RESOURCE_EXHAUSTED", "q", [quota_failure(PER_MINUTE)]))
    day = classified(google_error(429, "RESOURCE_EXHAUSTED", "q", [quota_failure(PER_DAY)]))
    assert action_for(minute.kind, minute.cause).key is KeyEffect.COOL
    assert action_for(day.kind, day.cause).key is KeyEffect.COOL
    assert action_for(day.kind, day.cause).scope in (StateScope.POOL, StateScope.POOL_MODEL)


@given(
    status=st.sampled_from([200, 400, 401, 403, 404, 429, 500, 503, 504, 599]),
    error=st.dictionaries(
        st.sampled_from(["code", "message", "status", "details"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=50),
            st.lists(
                st.dictionaries(
                    st.sampled_from(["@type", "reason", "violations", "retryDelay"]),
                    st.one_of(
                        st.text(max_size=20),
                        st.integers(),
                        st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=5))),
                    ),
                ),
                max_size=3,
            ),
        ),
    ),
)
@settings(max_examples=300, deadline=None)
def test_any_error_object_is_classified_on_one_clean_line(status: int, error: dict[str, Any]) -> None:
    result = classify_error(status, error, (SECRET,), NOW, "gemini")
    assert isinstance(result.kind, ErrorKind) and "\n" not in result.message and result.message
    assert result.retry_at is None or result.retry_at >= NOW


# --- the daily reset -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "midnight"),
    [
        ("2026-11-03T17:45:00", "2026-11-04T08:00:00"),  # PST
        ("2026-07-15T06:59:59", "2026-07-15T07:00:00"),  # PDT: 23:59:59 the day before
        ("2026-07-15T07:00:00", "2026-07-16T07:00:00"),  # exactly midnight: the next one
        ("2026-03-08T09:30:00", "2026-03-09T07:00:00"),  # the spring-forward day (01:30 PST)
        ("2026-11-01T08:30:00", "2026-11-02T08:00:00"),  # the fall-back day (01:30 PDT)
        ("2026-12-31T12:00:00", "2027-01-01T08:00:00"),
    ],
)
def test_daily_quotas_reset_at_midnight_pacific_time(now: str, midnight: str) -> None:
    def at(text: str) -> float:
        return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()

    assert next_pacific_midnight(at(now)) == at(midnight)
    assert _rule_midnight(at(now)) == at(midnight)


def test_without_a_time_zone_database_the_us_rule_agrees_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    instants = [start + i * 3607.3 for i in range(0, 3 * 365 * 24, 5)]
    expected = [next_pacific_midnight(t) for t in instants]
    monkeypatch.setattr(gemini_module, "_pacific", lambda: None)
    assert [next_pacific_midnight(t) for t in instants] == expected


# --- the catalogue and the key check -------------------------------------------------------------------


def model_row(
    name: str, methods: list[str], limit: int | None = 1_048_576, display: str | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "supportedGenerationMethods": methods}
    if limit is not None:
        row["inputTokenLimit"] = limit
    if display is not None:
        row["displayName"] = display
    return row


async def test_list_models_follows_the_pages_and_keeps_what_can_generate(
    adapter: GeminiAdapter, httpx_mock: HTTPXMock
) -> None:
    first = {
        "models": [
            model_row("models/gemini-2.5-flash", ["generateContent", "countTokens"], display="Gemini 2.5 Flash"),
            model_row("models/gemini-embedding-001", ["embedContent"], limit=2048),
        ],
        "nextPageToken": "page-2",
    }
    second = {"models": [model_row("models/gemini-2.5-pro", ["generateContent"], limit=None), {"name": 7}]}
    httpx_mock.add_response(url=f"{BASE}/models?pageSize=1000", json=first)
    httpx_mock.add_response(url=f"{BASE}/models?pageSize=1000&pageToken=page-2", json=second)
    models = await adapter.list_models(SLOT, timeout=5)
    assert models == [
        ModelInfo("gemini", "gemini-2.5-flash", name="Gemini 2.5 Flash", context_length=1_048_576),
        ModelInfo("gemini", "gemini-2.5-pro"),
    ]
    for sent in sent_requests(httpx_mock):
        assert sent.headers["x-goog-api-key"] == SECRET and SECRET not in str(sent.url)


async def test_an_empty_catalogue_page_is_an_empty_list(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/models?pageSize=1000", json={})
    assert await adapter.list_models(SLOT, timeout=5) == []


async def test_probe_key_lists_one_model_without_inference(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/models?pageSize=1", method="GET", json={"models": [], "nextPageToken": "x"})
    assert await adapter.probe_key(SLOT, timeout=5) == KeyInfo()
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["x-goog-api-key"] == SECRET and "key" not in sent.url.params


@pytest.mark.parametrize("body", [KEY_INVALID, b"[" + KEY_INVALID + b"]"], ids=["object", "array"])
async def test_probe_key_of_an_invalid_key_is_auth(adapter: GeminiAdapter, httpx_mock: HTTPXMock, body: bytes) -> None:
    httpx_mock.add_response(url=f"{BASE}/models?pageSize=1", status_code=400, content=body)
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(SLOT, timeout=5)
    assert caught.value.kind is ErrorKind.AUTH


async def test_a_transport_failure_names_the_host_not_the_key(adapter: GeminiAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"), url=STREAM_URL)
    error = await failure(adapter)
    assert (error.kind, error.cause) == (ErrorKind.CONNECTION, Cause.UNREACHABLE)


# --- against the fake Gemini (real HTTP on loopback) ---------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(keys={SECRET: "gemini"}) as provider:
        yield provider
    assert provider.errors == []
    # No request ever carried a key in its URL.
    assert provider.keys_in_urls == []


def fake_adapter(fake: FakeProvider, pool: ClientPool) -> GeminiAdapter:
    return GeminiAdapter("gemini", fake.gemini_url, pool)


async def test_the_fake_answers_the_adapter_in_both_modes(fake: FakeProvider, pool: ClientPool) -> None:
    adapter = fake_adapter(fake, pool)
    single = await run(adapter, ChatRequest.from_prompt("say hello please", stream=False))
    streamed = await run(adapter, ChatRequest.from_prompt("say hello please"))
    assert text_of(single) == text_of(streamed) == DEFAULT_TEXT
    assert single[-1] == streamed[-1] == StreamEnd(MODEL, Usage(3, 5), "stop")
    assert [r.query for r in fake.requests] == ["", "alt=sse"]
    assert all(r.headers["x-goog-api-key"] == SECRET for r in fake.requests)


async def test_the_strict_fake_takes_every_option_the_adapter_sends(fake: FakeProvider, pool: ClientPool) -> None:
    # The fake refuses any name Gemini does not know ("Unknown name ..."), as the real service does.
    request = ChatRequest.from_prompt(
        "say hello please", temperature=0.2, top_p=0.9, max_tokens=50, stop=("END",), seed=11, stream=False
    )
    events = await run(fake_adapter(fake, pool), request)
    assert text_of(events) == DEFAULT_TEXT
    assert fake.requests[-1].body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 50,
        "stopSequences": ["END"],
        "seed": 11,
    }


async def test_the_fakes_thinking_tokens_bill_as_output(fake: FakeProvider, pool: ClientPool) -> None:
    fake.script(
        SECRET, reply("Four.", reasoning="two plus two is four"), stream_reply("Four.", reasoning="two plus two")
    )
    adapter = fake_adapter(fake, pool)
    single = await run(adapter, ChatRequest.from_prompt("2+2?", stream=False))
    streamed = await run(adapter, ChatRequest.from_prompt("2+2?"))
    # The adapter does not ask for thought summaries (``includeThoughts``): only their count comes back.
    assert not any(isinstance(e, ReasoningDelta) for e in single + streamed)
    assert (single[-1].usage, streamed[-1].usage) == (Usage(1, 1 + 5), Usage(1, 1 + 3))


async def test_the_fakes_stream_cut_before_its_finish_is_a_bad_response(fake: FakeProvider, pool: ClientPool) -> None:
    fake.script(SECRET, stream_reply("one two three", end_after_tokens=2))
    with pytest.raises(ProviderError) as caught:
        await run(fake_adapter(fake, pool))
    assert caught.value.kind is ErrorKind.BAD_RESPONSE


@pytest.mark.parametrize(
    ("behaviour", "kind", "cause"),
    [
        (gm_429_per_minute(delay="37s"), ErrorKind.RATE_LIMITED, PER_MODEL_CAUSE),
        (gm_429_per_day(), ErrorKind.QUOTA, PER_MODEL_CAUSE),
        (gm_429_limit_zero(), ErrorKind.QUOTA, Cause.MODEL_ACCESS),
        (gm_wrapped(gm_429_per_minute()), ErrorKind.RATE_LIMITED, PER_MODEL_CAUSE),
        (gm_403(), ErrorKind.AUTH, None),
        (gm_404("gemini-9"), ErrorKind.MODEL_NOT_FOUND, None),
        (gm_500(), ErrorKind.SERVER, None),
        (gm_503(), ErrorKind.OVERLOADED, None),
        (gm_504(), ErrorKind.TIMEOUT, None),
        (gm_blocked(), ErrorKind.BAD_REQUEST, None),
        (gm_blocked("OTHER", stream=True), ErrorKind.BAD_REQUEST, None),
    ],
    ids=["per-minute", "per-day", "limit-zero", "wrapped", "403", "404", "500", "503", "504", "blocked", "blocked-sse"],
)
async def test_the_fakes_errors_are_classified(
    fake: FakeProvider, pool: ClientPool, behaviour: Any, kind: ErrorKind, cause: Cause | None
) -> None:
    fake.script(SECRET, behaviour)
    before = time.time()
    with pytest.raises(ProviderError) as caught:
        await run(fake_adapter(fake, pool))
    assert (caught.value.kind, caught.value.cause) == (kind, cause)
    if kind is ErrorKind.RATE_LIMITED:
        assert caught.value.retry_at is not None and before + 37 <= caught.value.retry_at <= time.time() + 37
    if kind is ErrorKind.QUOTA and cause is not Cause.MODEL_ACCESS:
        assert caught.value.retry_at in (next_pacific_midnight(before), next_pacific_midnight(time.time()))


async def test_the_fake_refuses_an_unknown_key_and_a_missing_one(fake: FakeProvider, pool: ClientPool) -> None:
    adapter = fake_adapter(fake, pool)
    for slot, status in (
        (KeySlot("gemini", ApiKey("gemini", "GEMINI_API_KEY_2", "AIzaSy" + "9" * 33)), 400),
        (KeySlot("gemini"), 403),
    ):
        with pytest.raises(ProviderError) as caught:
            await run(adapter, STREAM, Candidate(Target("gemini", MODEL), slot))
        assert (caught.value.kind, caught.value.status) == (ErrorKind.AUTH, status)


async def test_the_fake_answers_an_unknown_model_with_404(fake: FakeProvider, pool: ClientPool) -> None:
    with pytest.raises(ProviderError) as caught:
        await run(fake_adapter(fake, pool), STREAM, Candidate(Target("gemini", "gemini-9-ultra"), SLOT))
    assert caught.value.kind is ErrorKind.MODEL_NOT_FOUND and "gemini-9-ultra" in caught.value.message


async def test_the_fakes_catalogue_pages_through_the_adapter(
    fake: FakeProvider, pool: ClientPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gemini_module, "PAGE_SIZE", 2)
    adapter = fake_adapter(fake, pool)
    models = await adapter.list_models(SLOT, timeout=5)
    assert sorted(m.model for m in models) == sorted(DEFAULT_GEMINI_MODELS)  # not the embedding model
    assert all(m.context_length == 1_048_576 for m in models)
    assert len(fake.requests_to("/gemini/v1beta/models")) == 2
    assert await adapter.probe_key(SLOT, timeout=5) == KeyInfo()
