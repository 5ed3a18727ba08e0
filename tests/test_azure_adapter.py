"""AzureAdapter against Azure OpenAI's v1 wire (reference/providers-next.md §5)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpx import HTTPXMock, IteratorStream

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.keys import ApiKey, KeySlot
from llmroute.policy import RequestEffect, action_for
from llmroute.providers import ADAPTERS, AzureAdapter, ClientPool
from llmroute.providers.azure import classify_error
from llmroute.providers.options import check_options
from llmroute.types import Candidate, ChatRequest, KeyInfo, ModelInfo, StreamEnd, Target, TextDelta, Usage

ENDPOINT = "https://contoso-eastus.openai.azure.com"
URL = f"{ENDPOINT}/openai/v1/chat/completions"
MODELS_URL = f"{ENDPOINT}/openai/v1/models"
SECRET = "8f2a6c1e9b4d47a3b5c0e7f19d2a4c6b"
SLOT = KeySlot("azure", ApiKey("azure", "AZURE_OPENAI_API_KEY", SECRET))
CANDIDATE = Candidate(Target("azure", "gpt-4o-prod"), SLOT)
STREAM = ChatRequest.from_prompt("hi")
NON_STREAM = ChatRequest.from_prompt("hi", stream=False)
NOW = 1_000_000.0

# Bodies as quoted in reference/providers-next.md §5 (the content filter's elided "..." entries left out).
UNAUTHORIZED_401 = b'{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}'
CONTENT_FILTER_400 = b'{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI\'s content management policy. ...","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"medium"}}}}}'
SIMPLE_429 = b'{"error":{"code":"429","message": "Rate limit is exceeded. Try again in 2 seconds."}}'
TOKEN_RATE_429 = "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-08-01-preview have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 86400 seconds..."
PEAK_LOAD_429 = "The system is currently experiencing high demand and cannot process your request. Your request exceeds the maximum usage size allowed during peak load. Please retry after 20 seconds."
DEPLOYMENT_404 = b'{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}'

FILTERS_OK = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
PROMPT_FILTER_CHUNK = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERS_OK}],
}


def chunk(content: str | None, finish: str | None = None, *, with_delta: bool = True) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish, "content_filter_results": FILTERS_OK}
    if with_delta:
        choice["delta"] = {"content": content} if content is not None else {}
    return {
        "id": "chatcmpl-9x",
        "object": "chat.completion.chunk",
        "created": 1727000000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_67802d9a6d",
        "choices": [choice],
        "usage": None,
    }


USAGE_CHUNK = {
    "id": "chatcmpl-9x",
    "object": "chat.completion.chunk",
    "created": 1727000000,
    "model": "gpt-4o-2024-08-06",
    "choices": [],
    "usage": {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11},
}


def sse(*chunks: dict[str, Any], done: bool = True) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + (
        b"data: [DONE]\n\n" if done else b""
    )


STREAMED = sse(PROMPT_FILTER_CHUNK, chunk(""), chunk("Hello"), chunk(" there"), chunk(None, "stop"), USAGE_CHUNK)
BODY = {
    "id": "chatcmpl-9y",
    "object": "chat.completion",
    "created": 1727000000,
    "model": "gpt-4o-2024-08-06",
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERS_OK}],
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Hello there", "refusal": None},
            "content_filter_results": FILTERS_OK,
        }
    ],
    "usage": {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11},
}


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    clients = ClientPool("llmroute-test")
    yield clients
    await clients.aclose()


@pytest.fixture
def adapter(pool: ClientPool) -> AzureAdapter:
    return AzureAdapter("azure", ENDPOINT, pool)


async def run(adapter: AzureAdapter, request: ChatRequest = STREAM) -> list[Any]:
    return [event async for event in adapter.chat(CANDIDATE, request, timeout=5)]


async def failure(adapter: AzureAdapter, request: ChatRequest = STREAM) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await run(adapter, request)
    assert SECRET not in caught.value.message and "\n" not in caught.value.message
    return caught.value


def text_of(events: Iterable[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def error(message: str, code: str = "429") -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


# --- the request -------------------------------------------------------------------------------------


def test_protocol_azure_is_the_azure_adapter() -> None:
    assert ADAPTERS["azure"] is AzureAdapter


async def test_posts_to_the_v1_route_with_the_api_key_header(adapter: AzureAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", json=BODY)
    await run(adapter, NON_STREAM)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.headers["api-key"] == SECRET and "Authorization" not in sent.headers


async def test_the_deployment_name_is_the_model(adapter: AzureAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    await run(adapter, NON_STREAM)
    sent = httpx_mock.get_request()
    assert sent is not None and json.loads(sent.content)["model"] == "gpt-4o-prod"


async def test_a_base_url_ending_in_openai_v1_is_not_doubled(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    await run(AzureAdapter("azure", f"{ENDPOINT}/openai/v1/", pool), NON_STREAM)
    assert httpx_mock.get_request() is not None


async def test_streaming_body_carries_max_completion_tokens_and_usage_request(
    adapter: AzureAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([STREAMED]))
    await run(adapter, ChatRequest.from_prompt("hi", max_tokens=100))
    sent = httpx_mock.get_request()
    assert sent is not None
    body = json.loads(sent.content)
    assert (body["max_completion_tokens"], body["stream_options"]) == (100, {"include_usage": True})
    assert "max_tokens" not in body


async def test_body_carries_top_p_stop_and_seed_beside_max_completion_tokens(
    adapter: AzureAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    request = ChatRequest.from_prompt("hi", stream=False, top_p=0.25, stop=("\n", "Q:"), seed=99, max_tokens=50)
    await run(adapter, request)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert json.loads(sent.content) == {
        "model": "gpt-4o-prod",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "top_p": 0.25,
        "max_completion_tokens": 50,
        "stop": ["\n", "Q:"],
        "seed": 99,
    }


async def test_more_than_four_stop_sequences_are_refused_unsent(adapter: AzureAdapter, httpx_mock: HTTPXMock) -> None:
    error = await failure(adapter, ChatRequest.from_prompt("hi", stop=tuple("abcdef")))
    assert error.kind is ErrorKind.BAD_REQUEST and "at most 4 stop sequences, not 6" in error.message
    assert httpx_mock.get_requests() == []


def test_check_options_for_the_azure_wire() -> None:
    assert check_options("azure", ChatRequest.from_prompt("hi", top_p=0.5, stop=tuple("abcd"), seed=1)) is None
    assert check_options("azure", ChatRequest.from_prompt("hi", stop=tuple("abcde"))) is not None


# --- answers -----------------------------------------------------------------------------------------


async def test_stream_tolerates_the_prompt_filter_preamble_and_reads_the_usage(
    adapter: AzureAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([STREAMED]))
    assert await run(adapter) == [
        TextDelta("Hello"),
        TextDelta(" there"),
        StreamEnd("gpt-4o-2024-08-06", Usage(8, 3, None), "stop"),
    ]


async def test_stream_tolerates_chunks_without_delta(adapter: AzureAdapter, httpx_mock: HTTPXMock) -> None:
    wire = sse(PROMPT_FILTER_CHUNK, chunk("Hi"), chunk(None, with_delta=False), chunk(None, "stop", with_delta=False))
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    assert text_of(await run(adapter)) == "Hi"


async def test_output_cut_by_the_content_filter_ends_with_that_finish_reason(
    adapter: AzureAdapter, httpx_mock: HTTPXMock
) -> None:
    wire = sse(PROMPT_FILTER_CHUNK, chunk("Once upon"), chunk(None, "content_filter"))
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    events = await run(adapter)
    assert text_of(events) == "Once upon" and events[-1].finish_reason == "content_filter"


async def test_stream_reads_what_the_official_client_reads(adapter: AzureAdapter, httpx_mock: HTTPXMock) -> None:
    answer = httpx.Response(200, content=STREAMED, headers={"content-type": "text/event-stream"})
    http = httpx.Client(transport=httpx.MockTransport(lambda _: answer))
    with openai.OpenAI(base_url=f"{ENDPOINT}/openai/v1", api_key=SECRET, max_retries=0, http_client=http) as client:
        chunks = list(client.chat.completions.create(model="gpt-4o-prod", messages=[], stream=True))
    official = "".join((c.choices[0].delta.content or "") if c.choices and c.choices[0].delta else "" for c in chunks)
    httpx_mock.add_response(url=URL, stream=IteratorStream([STREAMED]))
    assert text_of(await run(adapter)) == official == "Hello there"


async def test_non_stream_yields_the_text_and_usage(adapter: AzureAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    assert await run(adapter, NON_STREAM) == [
        TextDelta("Hello there"),
        StreamEnd("gpt-4o-2024-08-06", Usage(8, 3, None), "stop"),
    ]


# --- errors ------------------------------------------------------------------------------------------


async def test_401_invalid_subscription_key_is_auth(adapter: AzureAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=401, content=UNAUTHORIZED_401)
    error = await failure(adapter)
    assert (error.kind, error.status) == (ErrorKind.AUTH, 401)
    assert error.message.startswith("Access denied due to invalid subscription key")


def test_unauthorized_code_inside_a_200_is_auth() -> None:
    assert classify_error(200, {"code": "Unauthorized", "message": "Unauthorized"}, {}, (), NOW).kind is ErrorKind.AUTH


async def test_content_filter_400_is_azures_refusal_that_another_provider_may_not_share(
    adapter: AzureAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=400, content=CONTENT_FILTER_400)
    error = await failure(adapter)
    assert (error.kind, error.cause, error.retry_at) == (ErrorKind.BAD_REQUEST, Cause.CONTENT_FILTER, None)
    assert action_for(error.kind, error.cause).request is RequestEffect.NEXT_PROVIDER, "other providers may take it"


def test_content_filter_named_only_in_innererror_is_a_bad_request(adapter: AzureAdapter) -> None:
    body = json.loads(CONTENT_FILTER_400)
    del body["error"]["code"]
    request = httpx.Request("POST", URL)
    response = httpx.Response(400, json=body, request=request)
    assert adapter.http_error(response, response.content, (SECRET,)).kind is ErrorKind.BAD_REQUEST


async def test_deployment_not_found_is_model_not_found(adapter: AzureAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=404, content=DEPLOYMENT_404)
    assert (await failure(adapter)).kind is ErrorKind.MODEL_NOT_FOUND


async def test_simple_429_frees_after_the_seconds_it_states(adapter: AzureAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=429, content=SIMPLE_429)
    before = time.time()
    error = await failure(adapter)
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.retry_at is not None and before + 2 <= error.retry_at <= time.time() + 2


@pytest.mark.parametrize(("message", "seconds"), [(TOKEN_RATE_429, 86400), (PEAK_LOAD_429, 20)], ids=["tokens", "peak"])
def test_retry_after_n_seconds_in_the_message_is_read_exactly(message: str, seconds: int) -> None:
    error = classify_error(429, {"code": "429", "message": message}, {}, (), NOW)
    assert (error.kind, error.retry_at) == (ErrorKind.RATE_LIMITED, NOW + seconds)


def test_retry_after_ms_header_wins() -> None:
    headers = {"retry-after-ms": "2500", "retry-after": "3"}
    assert classify_error(429, json.loads(SIMPLE_429)["error"], headers, (), NOW).retry_at == NOW + 2.5


def test_retry_after_header_wins_over_the_message() -> None:
    assert classify_error(429, json.loads(SIMPLE_429)["error"], {"retry-after": "7"}, (), NOW).retry_at == NOW + 7


def test_reset_headers_are_integer_seconds_not_go_durations() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "7",
        "x-ratelimit-reset-requests": "60",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "13",
    }
    assert (
        classify_error(429, {"code": "429", "message": "Rate limit is exceeded."}, headers, (), NOW).retry_at
        == NOW + 13
    )


def test_a_go_duration_in_azure_reset_headers_is_not_guessed() -> None:
    headers = {"x-ratelimit-reset-tokens": "6m0s"}
    assert classify_error(429, {"code": "429", "message": "Rate limit is exceeded."}, headers, (), NOW).retry_at is None


def test_429_code_inside_a_200_is_rate_limited() -> None:
    assert classify_error(200, json.loads(SIMPLE_429)["error"], {}, (), NOW).kind is ErrorKind.RATE_LIMITED


async def test_500_is_server(adapter: AzureAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=500, content=error("The server had an error", "InternalServerError"))
    assert (await failure(adapter)).kind is ErrorKind.SERVER


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.integers(100, 599),
    st.dictionaries(
        st.sampled_from(["message", "code", "innererror"]), st.none() | st.text(max_size=80) | st.integers()
    ),
    st.dictionaries(
        st.sampled_from(["retry-after", "retry-after-ms", "x-ratelimit-reset-tokens"]), st.text(max_size=12)
    ),
)
def test_any_error_object_is_classified_on_one_clean_line(
    status: int, error: dict[str, Any], headers: dict[str, str]
) -> None:
    error["message"] = f"{error.get('message')} key={SECRET}"
    exc = classify_error(status, error, headers, (SECRET,), NOW, "azure")
    assert isinstance(exc.kind, ErrorKind) and exc.message.strip() and "\n" not in exc.message
    assert SECRET not in exc.message
    assert exc.retry_at is None or math.isfinite(exc.retry_at)


# --- probe and catalogue -----------------------------------------------------------------------------

RESOURCE_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "gpt-4o-2024-08-06",
            "object": "model",
            "created": 1722902400,
            "capabilities": {"chat_completion": True},
        },
        {"id": "text-embedding-3-small", "object": "model", "created": 1705948997},
    ],
}


async def test_list_models_lists_the_resource_models_with_the_api_key(
    adapter: AzureAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=MODELS_URL, method="GET", json=RESOURCE_MODELS)
    models = await adapter.list_models(SLOT, timeout=5)
    assert models == [ModelInfo("azure", "gpt-4o-2024-08-06"), ModelInfo("azure", "text-embedding-3-small")]
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["api-key"] == SECRET


async def test_probe_key_is_the_free_models_call(adapter: AzureAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, method="GET", json=RESOURCE_MODELS)
    assert await adapter.probe_key(SLOT, timeout=5) == KeyInfo()


async def test_probe_key_with_a_bad_key_is_auth(adapter: AzureAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=401, content=UNAUTHORIZED_401)
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(SLOT, timeout=5)
    assert caught.value.kind is ErrorKind.AUTH
