"""OllamaAdapter against captured Ollama wire bytes (reference/providers.md §2-§3)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

import httpx
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

from llmroute.errors import ErrorKind, ProviderError
from llmroute.keys import ApiKey
from llmroute.providers import ClientPool, OllamaAdapter
from llmroute.providers.ollama import usage_limit_reset
from llmroute.types import Candidate, ChatRequest, StreamEnd, StreamEvent, Target, TextDelta, Usage

CLOUD = "https://ollama.com"
URL = f"{CLOUD}/api/chat"
LOCAL = "http://localhost:11434"
SECRET = "0f3c9a2b7e5d41c8a6b9e2f7d1c4a8b3.Zx9Qw7Er5Ty3Ui1OpLk"
CANDIDATE = Candidate(Target("ollama", "gpt-oss:120b"), ApiKey("ollama", "OLLAMA_API_KEY", SECRET))
LOCAL_CANDIDATE = Candidate(Target("ollama-local", "llama3.2:latest"), None)
STREAM = ChatRequest.from_prompt("hi")
NON_STREAM = ChatRequest.from_prompt("hi", stream=False)

NDJSON_SAMPLE = (
    b'{"model":"gpt-oss:120b","created_at":"2025-10-26T17:15:24.097767Z","message":{"role":"assistant","content":"That"},"done":false}\n'
    b'{"model":"gpt-oss:120b","created_at":"2025-10-26T17:15:24.109172Z","message":{"role":"assistant","content":"\'s"},"done":false}\n'
    b'{"model":"gpt-oss:120b","created_at":"2025-10-26T17:15:24.166576Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}\n'
)
NON_STREAM_BODY = (
    b'{"model":"gpt-oss:120b","created_at":"2025-10-17T23:14:07.414671Z",\n'
    b' "message":{"role":"assistant","content":"Hello! How can I help you today?","thinking":"\xe2\x80\xa6"},\n'
    b' "done":true,"done_reason":"stop",\n'
    b' "total_duration":174560334,"load_duration":101397084,\n'
    b' "prompt_eval_count":11,"prompt_eval_duration":13074791,\n'
    b' "eval_count":18,"eval_duration":52479709}'
)
FIRST_LINE = NDJSON_SAMPLE.split(b"\n")[0] + b"\n"
MID_STREAM_ERROR = b'{"error":"an error was encountered while running the model"}\n'
USAGE_LIMITS = {
    "session": "you (ae2055838) have reached your session usage limit, upgrade for higher limits: https://ollama.com/upgrade",
    "weekly": "you've reached your weekly usage limit, please wait or upgrade to continue",
    "weekly-extra": "you (seppe) have reached your weekly usage limit, upgrade for higher limits: https://ollama.com/upgrade or add extra usage: https://ollama.com/settings (ref: \u2026)",
    "hourly": "you've reached your hourly usage limit, please wait or upgrade to continue",
}


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    clients = ClientPool("llmroute-test")
    yield clients
    await clients.aclose()


@pytest.fixture
def adapter(pool: ClientPool) -> OllamaAdapter:
    return OllamaAdapter("ollama", CLOUD, pool)


async def run(
    adapter: OllamaAdapter, request: ChatRequest = STREAM, candidate: Candidate = CANDIDATE
) -> list[StreamEvent]:
    return [event async for event in adapter.chat(candidate, request, timeout=5)]


async def failure(adapter: OllamaAdapter, request: ChatRequest = STREAM) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await run(adapter, request)
    assert SECRET not in caught.value.message
    assert "\n" not in caught.value.message
    return caught.value


def text_of(events: Iterable[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


# --- the request -------------------------------------------------------------------------------------


async def test_cloud_sends_the_key_as_a_bearer_token(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", stream=IteratorStream([NDJSON_SAMPLE]))
    await run(adapter)
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["Authorization"] == f"Bearer {SECRET}"


async def test_local_daemon_gets_no_authorization_header(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    local = OllamaAdapter("ollama-local", LOCAL, pool, local=True)
    httpx_mock.add_response(url=f"{LOCAL}/api/chat", stream=IteratorStream([NDJSON_SAMPLE]))
    await run(local, candidate=LOCAL_CANDIDATE)
    sent = httpx_mock.get_request()
    assert local.local is True
    assert sent is not None and "Authorization" not in sent.headers


@pytest.mark.parametrize("stream", [True, False])
async def test_stream_is_always_sent_explicitly(adapter: OllamaAdapter, httpx_mock: HTTPXMock, stream: bool) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([NDJSON_SAMPLE if stream else NON_STREAM_BODY]))
    await run(adapter, ChatRequest.from_prompt("hi", stream=stream))
    sent = httpx_mock.get_request()
    assert sent is not None and json.loads(sent.content)["stream"] is stream


async def test_sampling_goes_in_options_with_max_tokens_as_num_predict(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([NDJSON_SAMPLE]))
    await run(adapter, ChatRequest.from_prompt("hi", system="be brief", temperature=0.2, max_tokens=256))
    sent = httpx_mock.get_request()
    assert sent is not None
    assert json.loads(sent.content) == {
        "model": "gpt-oss:120b",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "stream": True,
        "options": {"temperature": 0.2, "num_predict": 256},
    }


async def test_no_options_are_sent_when_none_are_set(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([NDJSON_SAMPLE]))
    await run(adapter)
    sent = httpx_mock.get_request()
    assert sent is not None and "options" not in json.loads(sent.content)


# --- answers -----------------------------------------------------------------------------------------


async def test_stream_yields_text_then_usage_from_the_done_object(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([NDJSON_SAMPLE]))
    assert await run(adapter) == [
        TextDelta("That"),
        TextDelta("'s"),
        StreamEnd("gpt-oss:120b", Usage(input_tokens=26, output_tokens=282, cost_micros=None), "stop"),
    ]


async def test_missing_prompt_eval_count_means_unknown_input_tokens(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    done = {
        "model": "gpt-oss:120b",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "eval_count": 5,
    }
    httpx_mock.add_response(url=URL, stream=IteratorStream([FIRST_LINE, json.dumps(done).encode() + b"\n"]))
    assert (await run(adapter))[-1] == StreamEnd("gpt-oss:120b", Usage(None, 5, None), "stop")


async def test_text_on_the_done_object_is_still_text(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    done = {
        "model": "gpt-oss:120b",
        "message": {"role": "assistant", "content": " end"},
        "done": True,
        "done_reason": "length",
        "prompt_eval_count": 3,
        "eval_count": 2,
    }
    httpx_mock.add_response(url=URL, stream=IteratorStream([FIRST_LINE, json.dumps(done).encode() + b"\n"]))
    events = await run(adapter)
    assert text_of(events) == "That end"
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "length"


async def test_stream_yields_each_delta_as_soon_as_it_arrives(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    gate = asyncio.Event()

    class Gated(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield FIRST_LINE
            await gate.wait()
            yield NDJSON_SAMPLE.split(b"\n", 1)[1]

    httpx_mock.add_callback(lambda request: httpx.Response(200, stream=Gated()), url=URL)
    events = adapter.chat(CANDIDATE, STREAM, timeout=5)
    assert await asyncio.wait_for(anext(events), timeout=2) == TextDelta("That")
    gate.set()
    rest = [event async for event in events]
    assert rest[0] == TextDelta("'s")


async def test_non_stream_body_gives_text_and_usage(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=NON_STREAM_BODY)
    assert await run(adapter, NON_STREAM) == [
        TextDelta("Hello! How can I help you today?"),
        StreamEnd("gpt-oss:120b", Usage(11, 18, None), "stop"),
    ]


async def test_non_stream_body_that_is_not_json_is_a_bad_response(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, html="<html><body>Welcome to nginx!</body></html>")
    assert (await failure(adapter, NON_STREAM)).kind is ErrorKind.BAD_RESPONSE


async def test_non_stream_200_body_holding_an_error_is_a_failure(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=MID_STREAM_ERROR)
    assert (await failure(adapter, NON_STREAM)).kind is ErrorKind.SERVER


# --- failures inside a 200 stream --------------------------------------------------------------------


async def test_mid_stream_error_line_is_a_server_error_after_the_text_so_far(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([FIRST_LINE, MID_STREAM_ERROR]))
    received: list[StreamEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for event in adapter.chat(CANDIDATE, STREAM, timeout=5):
            received.append(event)
    assert received == [TextDelta("That")]
    assert caught.value.kind is ErrorKind.SERVER
    assert caught.value.message == "an error was encountered while running the model"


async def test_mid_stream_usage_limit_line_is_quota(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    line = json.dumps({"error": USAGE_LIMITS["weekly"]}).encode() + b"\n"
    httpx_mock.add_response(url=URL, stream=IteratorStream([FIRST_LINE, line]))
    assert (await failure(adapter)).kind is ErrorKind.QUOTA


async def test_stream_ending_without_done_is_a_bad_response(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([FIRST_LINE]))
    error = await failure(adapter)
    assert (error.kind, error.message) == (ErrorKind.BAD_RESPONSE, "stream ended before completion")


async def test_stream_with_a_malformed_line_is_a_bad_response(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([FIRST_LINE, b'{"model":"gpt-oss:120b","mess\n']))
    assert (await failure(adapter)).kind is ErrorKind.BAD_RESPONSE


# --- HTTP errors -------------------------------------------------------------------------------------


async def test_401_unauthorized_is_auth(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=401, json={"error": "unauthorized"})
    error = await failure(adapter)
    assert (error.kind, error.status, error.message) == (ErrorKind.AUTH, 401, "unauthorized")


async def test_local_daemon_not_signed_in_says_how_to_fix_it(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    body = {"error": "unauthorized", "signin_url": "https://ollama.com/connect?name=host&key=abc"}
    httpx_mock.add_response(url=URL, status_code=401, json=body)
    error = await failure(adapter)
    assert error.kind is ErrorKind.AUTH
    assert "ollama signin" in error.message


async def test_404_model_not_found(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=404, json={"error": "model 'llama9' not found"})
    error = await failure(adapter)
    assert (error.kind, error.message) == (ErrorKind.MODEL_NOT_FOUND, "model 'llama9' not found")


async def test_not_found_text_on_a_400_is_model_not_found(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=400, json={"error": 'model "x" not found, try pulling it first'})
    assert (await failure(adapter)).kind is ErrorKind.MODEL_NOT_FOUND


async def test_400_is_a_bad_request(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=400, json={"error": "gpt-oss:120b does not support tools"})
    assert (await failure(adapter)).kind is ErrorKind.BAD_REQUEST


@pytest.mark.parametrize("window", list(USAGE_LIMITS))
async def test_429_usage_limit_is_quota_until_the_window_resets(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock, window: str
) -> None:
    text = USAGE_LIMITS[window]
    httpx_mock.add_response(url=URL, status_code=429, json={"error": text})
    before = time.time()
    error = await failure(adapter)
    assert error.kind is ErrorKind.QUOTA
    assert error.retry_at in {usage_limit_reset(text, before), usage_limit_reset(text, time.time())}


async def test_other_429_is_rate_limited_for_its_retry_after(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=429, json={"error": "too many requests"}, headers={"Retry-After": "5"})
    before = time.time()
    error = await failure(adapter)
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.retry_at is not None and before + 5 <= error.retry_at <= time.time() + 5


async def test_402_is_quota(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=402, json={"error": "payment required"})
    assert (await failure(adapter)).kind is ErrorKind.QUOTA


async def test_403_cloud_disabled_is_auth(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    body = {"error": "ollama cloud is disabled: remote model is unavailable"}
    httpx_mock.add_response(url=URL, status_code=403, json=body)
    assert (await failure(adapter)).kind is ErrorKind.AUTH


async def test_499_request_canceled_is_a_connection_error(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=499, json={"error": "request canceled"})
    assert (await failure(adapter)).kind is ErrorKind.CONNECTION


@pytest.mark.parametrize(
    ("status", "text", "kind"),
    [
        (500, "internal error", ErrorKind.SERVER),
        (502, "cloud model unreachable", ErrorKind.SERVER),
        (503, "server busy, please try again.  maximum pending requests exceeded", ErrorKind.OVERLOADED),
    ],
)
async def test_server_statuses(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock, status: int, text: str, kind: ErrorKind
) -> None:
    httpx_mock.add_response(url=URL, status_code=status, json={"error": text})
    assert (await failure(adapter)).kind is kind


async def test_html_502_page_from_a_proxy_is_server_with_a_short_message(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    page = "<html>\n<head><title>502 Bad Gateway</title></head>\n" + "<p>cloudflare</p>\n" * 500 + "</html>"
    httpx_mock.add_response(url=URL, status_code=502, html=page)
    error = await failure(adapter)
    assert (error.kind, error.status) == (ErrorKind.SERVER, 502)
    assert len(error.message) <= 240


async def test_error_body_with_invalid_utf8_is_classified_by_status(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=401, content=b'{"error":"unauth\xff\xfe')
    assert (await failure(adapter)).kind is ErrorKind.AUTH


async def test_error_message_never_contains_the_key(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=401, json={"error": f"invalid key {SECRET}"})
    assert (await failure(adapter)).message == "invalid key …OpLk"


async def test_connection_refused_is_a_connection_error(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    local = OllamaAdapter("ollama-local", LOCAL, pool, local=True)
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"), url=f"{LOCAL}/api/chat")
    with pytest.raises(ProviderError) as caught:
        await run(local, candidate=LOCAL_CANDIDATE)
    assert (caught.value.kind, caught.value.provider) == (ErrorKind.CONNECTION, "ollama-local")


async def test_read_timeout_is_a_timeout(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), url=URL)
    assert (await failure(adapter)).kind is ErrorKind.TIMEOUT


# --- usage-limit windows (community-derived, reference §2.7) -----------------------------------------


def test_session_limit_resets_at_the_next_multiple_of_five_hours() -> None:
    now = utc(2026, 9, 2, 13, 7)
    assert usage_limit_reset(USAGE_LIMITS["session"], now) == (now // 18000 + 1) * 18000


def test_hourly_limit_resets_at_the_next_full_hour() -> None:
    assert usage_limit_reset(USAGE_LIMITS["hourly"], utc(2026, 9, 2, 13, 7)) == utc(2026, 9, 2, 14)


def test_weekly_limit_resets_next_monday_midnight_utc() -> None:
    wednesday = utc(2026, 9, 2, 13, 7)
    assert usage_limit_reset(USAGE_LIMITS["weekly"], wednesday) == utc(2026, 9, 7)


def test_weekly_limit_hit_on_monday_midnight_resets_a_week_later() -> None:
    assert usage_limit_reset(USAGE_LIMITS["weekly-extra"], utc(2026, 9, 7)) == utc(2026, 9, 14)


def test_monthly_limit_resets_on_the_first_of_next_month() -> None:
    text = "you've reached your monthly usage limit, please wait or upgrade to continue"
    assert usage_limit_reset(text, utc(2026, 12, 31, 23, 59)) == utc(2027, 1, 1)


def test_limit_without_a_named_window_has_no_reset() -> None:
    assert usage_limit_reset("You've reached your usage limit, please upgrade to continue", 0.0) is None
