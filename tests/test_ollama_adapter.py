"""OllamaAdapter against captured Ollama wire bytes (reference/providers.md §2-§3)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

import httpx
import ollama
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.keys import ApiKey, KeySlot
from llmroute.providers import ClientPool, OllamaAdapter
from llmroute.providers.ollama import usage_limit_reset
from llmroute.providers.options import check_options
from llmroute.types import Candidate, ChatRequest, ReasoningDelta, StreamEnd, StreamEvent, Target, TextDelta, Usage

CLOUD = "https://ollama.com"
URL = f"{CLOUD}/api/chat"
LOCAL = "http://localhost:11434"
SECRET = "0f3c9a2b7e5d41c8a6b9e2f7d1c4a8b3.Zx9Qw7Er5Ty3Ui1OpLk"
CANDIDATE = Candidate(Target("ollama", "gpt-oss:120b"), KeySlot("ollama", ApiKey("ollama", "OLLAMA_API_KEY", SECRET)))
LOCAL_CANDIDATE = Candidate(Target("ollama-local", "llama3.2:latest"), KeySlot("ollama-local"))
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
SUBSCRIPTION = "this model requires a subscription, upgrade for access: https://ollama.com/upgrade"
EXTRA_USAGE_ONLY = "this model uses extra usage only (not included plan usage) and your extra usage balance is empty"


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


async def test_top_p_stop_and_seed_go_in_options(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([NON_STREAM_BODY]))
    request = ChatRequest.from_prompt("hi", stream=False, top_p=0.9, stop=("\n\n", "User:"), seed=42, max_tokens=64)
    await run(adapter, request)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert json.loads(sent.content) == {
        "model": "gpt-oss:120b",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "options": {"top_p": 0.9, "num_predict": 64, "stop": ["\n\n", "User:"], "seed": 42},
    }


async def test_options_match_what_the_official_client_sends(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=NON_STREAM_BODY)

    official = ollama.Client(host=CLOUD, transport=httpx.MockTransport(answer))
    options = ollama.Options(temperature=0.3, top_p=0.8, num_predict=32, stop=["END", "###"], seed=-1)
    official.chat(model="gpt-oss:120b", messages=[{"role": "user", "content": "hi"}], stream=False, options=options)
    httpx_mock.add_response(url=URL, stream=IteratorStream([NON_STREAM_BODY]))
    request = ChatRequest.from_prompt(
        "hi", stream=False, temperature=0.3, top_p=0.8, max_tokens=32, stop=("END", "###"), seed=-1
    )
    await run(adapter, request)
    sent = httpx_mock.get_request()
    assert sent is not None
    expected = {k: v for k, v in json.loads(seen[0].content).items() if k != "tools"}  # the client adds ``tools: []``
    assert json.loads(sent.content) == expected


def test_check_options_for_ollama_takes_any_number_of_stop_sequences() -> None:
    many = ChatRequest.from_prompt("hi", top_p=0.5, stop=tuple(str(n) for n in range(50)), seed=2**63 - 1)
    assert check_options("ollama", many) is None
    assert check_options("ollama", ChatRequest.from_prompt("hi", seed=2**63)) is not None


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


async def test_non_stream_body_gives_thinking_apart_then_text_and_usage(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, content=NON_STREAM_BODY)
    assert await run(adapter, NON_STREAM) == [
        ReasoningDelta("…"),
        TextDelta("Hello! How can I help you today?"),
        StreamEnd("gpt-oss:120b", Usage(11, 18, None), "stop"),
    ]


def thinking_line(thinking: str) -> bytes:
    """A ``done:false`` line as thinking models stream it: ``content`` empty, the piece in ``thinking``."""
    message = {"role": "assistant", "content": "", "thinking": thinking}
    return json.dumps({"model": "gpt-oss:120b", "message": message, "done": False}).encode() + b"\n"


def done_line(done_reason: str = "stop", **message: str) -> bytes:
    obj = {
        "model": "gpt-oss:120b",
        "message": {"role": "assistant", "content": "", **message},
        "done": True,
        "done_reason": done_reason,
        "prompt_eval_count": 3,
        "eval_count": 4,
    }
    return json.dumps(obj).encode() + b"\n"


async def test_stream_yields_thinking_as_reasoning_apart_from_the_answer(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    lines = [thinking_line("The user"), thinking_line(" greets."), FIRST_LINE, done_line()]
    httpx_mock.add_response(url=URL, stream=IteratorStream(lines))
    assert await run(adapter) == [
        ReasoningDelta("The user"),
        ReasoningDelta(" greets."),
        TextDelta("That"),
        StreamEnd("gpt-oss:120b", Usage(3, 4, None), "stop"),
    ]


async def test_stream_of_thinking_cut_by_num_predict_has_no_answer_and_ends_with_length(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    lines = [thinking_line("The user"), thinking_line(" asks"), done_line("length")]
    httpx_mock.add_response(url=URL, stream=IteratorStream(lines))
    events = await run(adapter)
    assert text_of(events) == "" and events[:-1] == [ReasoningDelta("The user"), ReasoningDelta(" asks")]
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "length"


async def test_non_stream_thinking_cut_by_num_predict_is_no_answer(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, content=done_line("length", thinking="The user asks"))
    assert await run(adapter, NON_STREAM) == [
        ReasoningDelta("The user asks"),
        StreamEnd("gpt-oss:120b", Usage(3, 4, None), "length"),
    ]


async def test_thinking_surrogate_pair_cut_across_lines_is_joined(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    lines = [thinking_line("smile \ud83d"), thinking_line("\ude00 ok"), thinking_line("\ud83d"), done_line()]
    httpx_mock.add_response(url=URL, stream=IteratorStream(lines))
    events = await run(adapter)
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "smile \U0001f600 ok\ufffd"


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


# --- what a failure is about (its cause) ---------------------------------------------------------------


async def test_403_subscription_required_is_auth_for_that_model_not_the_key(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=403, json={"error": SUBSCRIPTION})
    error = await failure(adapter)
    assert (error.kind, error.cause, error.status, error.message) == (
        ErrorKind.AUTH,
        Cause.MODEL_ACCESS,
        403,
        SUBSCRIPTION,
    )


async def test_402_extra_usage_only_is_quota_for_that_model_not_the_key(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=402, json={"error": EXTRA_USAGE_ONLY})
    error = await failure(adapter)
    assert (error.kind, error.cause, error.status, error.retry_at) == (ErrorKind.QUOTA, Cause.MODEL_ACCESS, 402, None)


@pytest.mark.parametrize("window", list(USAGE_LIMITS))
async def test_usage_limits_are_account_wide_without_a_cause(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock, window: str
) -> None:
    httpx_mock.add_response(url=URL, status_code=429, json={"error": USAGE_LIMITS[window]})
    error = await failure(adapter)
    assert (error.kind, error.cause) == (ErrorKind.QUOTA, None)
    assert error.retry_at is not None


async def test_402_usage_limit_is_account_wide_without_a_cause(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=402, json={"error": "You've reached your usage limit, please upgrade"})
    assert ((error := await failure(adapter)).kind, error.cause) == (ErrorKind.QUOTA, None)


async def test_bad_cloud_key_is_auth_without_a_cause(adapter: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=401, json={"error": "unauthorized"})
    error = await failure(adapter)
    assert (error.kind, error.cause, error.status) == (ErrorKind.AUTH, None, 401)


async def test_local_daemon_not_signed_in_refuses_its_cloud_models(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    local = OllamaAdapter("ollama-local", LOCAL, pool, local=True)
    body = {"error": "unauthorized", "signin_url": "https://ollama.com/connect?name=host&key=abc"}
    httpx_mock.add_response(url=f"{LOCAL}/api/chat", status_code=401, json=body)
    with pytest.raises(ProviderError) as caught:
        await run(local, candidate=LOCAL_CANDIDATE)
    assert (caught.value.kind, caught.value.cause) == (ErrorKind.AUTH, Cause.CLOUD_MODEL)
    assert "ollama signin" in caught.value.message


async def test_local_daemon_with_cloud_disabled_refuses_its_cloud_models(
    pool: ClientPool, httpx_mock: HTTPXMock
) -> None:
    local = OllamaAdapter("ollama-local", LOCAL, pool, local=True)
    body = {"error": "ollama cloud is disabled: remote model is unavailable"}
    httpx_mock.add_response(url=f"{LOCAL}/api/chat", status_code=403, json=body)
    with pytest.raises(ProviderError) as caught:
        await run(local, candidate=LOCAL_CANDIDATE)
    assert (caught.value.kind, caught.value.cause, caught.value.status) == (ErrorKind.AUTH, Cause.CLOUD_MODEL, 403)


@pytest.mark.parametrize(("status", "text"), [(401, "unauthorized"), (403, "forbidden")])
async def test_any_other_401_or_403_of_a_local_daemon_is_about_its_cloud_models(
    pool: ClientPool, httpx_mock: HTTPXMock, status: int, text: str
) -> None:
    local = OllamaAdapter("ollama-local", LOCAL, pool, local=True)
    httpx_mock.add_response(url=f"{LOCAL}/api/chat", status_code=status, json={"error": text})
    with pytest.raises(ProviderError) as caught:
        await run(local, candidate=LOCAL_CANDIDATE)
    assert (caught.value.kind, caught.value.cause) == (ErrorKind.AUTH, Cause.CLOUD_MODEL)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"error": "unauthorized", "signin_url": "https://ollama.com/connect?name=host&key=abc"}),
        (403, {"error": "ollama cloud is disabled: remote model is unavailable"}),
    ],
)
async def test_daemon_texts_on_an_adapter_configured_as_cloud_stay_about_the_key(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock, status: int, body: dict[str, str]
) -> None:
    httpx_mock.add_response(url=URL, status_code=status, json=body)
    assert ((error := await failure(adapter)).kind, error.cause) == (ErrorKind.AUTH, None)


async def test_subscription_refusal_relayed_by_a_local_daemon_is_still_about_the_model(
    pool: ClientPool, httpx_mock: HTTPXMock
) -> None:
    local = OllamaAdapter("ollama-local", LOCAL, pool, local=True)
    httpx_mock.add_response(url=f"{LOCAL}/api/chat", status_code=403, json={"error": SUBSCRIPTION})
    with pytest.raises(ProviderError) as caught:
        await run(local, candidate=LOCAL_CANDIDATE)
    assert (caught.value.kind, caught.value.cause) == (ErrorKind.AUTH, Cause.MODEL_ACCESS)


async def test_mid_stream_subscription_line_is_auth_for_that_model(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    line = json.dumps({"error": SUBSCRIPTION}).encode() + b"\n"
    httpx_mock.add_response(url=URL, stream=IteratorStream([line]))
    assert ((error := await failure(adapter)).kind, error.cause) == (ErrorKind.AUTH, Cause.MODEL_ACCESS)


async def test_500_for_an_unserved_model_stays_a_server_error_without_a_cause(
    adapter: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=500, json={"error": "Internal Server Error (ref: 0b7c3f5e)"})
    assert ((error := await failure(adapter)).kind, error.cause) == (ErrorKind.SERVER, None)


@pytest.mark.parametrize(
    ("helper", "status", "kind", "cause"),
    [
        ("oll_403_subscription", 403, ErrorKind.AUTH, Cause.MODEL_ACCESS),
        ("oll_402_extra_usage", 402, ErrorKind.QUOTA, Cause.MODEL_ACCESS),
        ("oll_500_unserved", 500, ErrorKind.SERVER, None),
    ],
)
async def test_fake_refuses_one_model_while_the_same_key_serves_another(
    pool: ClientPool, helper: str, status: int, kind: ErrorKind, cause: Cause | None
) -> None:
    import tests.fakes
    from tests.fakes import FakeProvider

    with FakeProvider(keys={SECRET: "oll1"}, models={"gpt-oss:120b", "kimi-k2.6"}) as fake:
        fake.script(SECRET, getattr(tests.fakes, helper)(), model="kimi-k2.6")
        cloud = OllamaAdapter("ollama", fake.ollama_url, pool)
        assert text_of(await run(cloud)) == "Hello from the fake provider."
        kimi = dataclasses.replace(CANDIDATE, target=Target("ollama", "kimi-k2.6"))
        with pytest.raises(ProviderError) as caught:
            await run(cloud, candidate=kimi)
        assert text_of(await run(cloud)) == "Hello from the fake provider."
        assert fake.remaining(SECRET, model="kimi-k2.6") == 0
    assert (caught.value.kind, caught.value.cause, caught.value.status) == (kind, cause, status)


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
    assert (caught.value.cause, caught.value.message) == (
        Cause.UNREACHABLE,
        "http://localhost:11434 refused the connection",
    )


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
