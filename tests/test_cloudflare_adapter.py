"""CloudflareAdapter against Workers AI's OpenAI-compatible routes and v4 API (reference/providers-next.md §2)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpx import HTTPXMock, IteratorStream

from llmroute.errors import Cause, ConfigError, ErrorKind, ProviderError
from llmroute.keys import ApiKey, KeySlot
from llmroute.policy import StateScope, action_for
from llmroute.providers import ADAPTERS, ClientPool, CloudflareAdapter
from llmroute.providers.cloudflare import TEXT_GENERATION, classify_error
from llmroute.providers.options import check_options
from llmroute.types import Candidate, ChatRequest, KeyInfo, ModelInfo, StreamEnd, Target, TextDelta, Usage

BASE = "https://api.cloudflare.com/client/v4"
ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
ACCOUNT_URL = f"{BASE}/accounts/{ACCOUNT}"
URL = f"{ACCOUNT_URL}/ai/v1/chat/completions"
SEARCH_URL = f"{ACCOUNT_URL}/ai/models/search"
SECRET = "Yx3kP9qL2mN7vR4tW8zB1cF6hJ0dS5gA-_eUoIi2"
SLOT = KeySlot("cloudflare", ApiKey("cloudflare", "CLOUDFLARE_API_TOKEN", SECRET), account=ACCOUNT)
MODEL = "@cf/meta/llama-3.1-8b-instruct"
CANDIDATE = Candidate(Target("cloudflare", MODEL), SLOT)
STREAM = ChatRequest.from_prompt("hi")
NON_STREAM = ChatRequest.from_prompt("hi", stream=False)
NOW = datetime(2026, 11, 3, 17, 45, tzinfo=UTC).timestamp()
MIDNIGHT = datetime(2026, 11, 4, tzinfo=UTC).timestamp()

# Bodies as quoted in reference/providers-next.md §2 and providers.md §5.
AUTH_10000 = b'{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}'
DAILY_3036 = b'{"success":false,"errors":[{"code":3036,"message":"You have used up your daily free allocation of 10,000 neurons. \xe2\x80\xa6"}]}'
DAILY_4006 = b'{"error":{"message":"4006: you have used up your daily free allocation of 10,000 neurons, please upgrade...","stage":"pipeline","code":"internal_error"}}'
TIMEOUT_TEXT = b'{"error":{"code":"invalid_prompt","message":"AiError: AiError: Request timeout (uuid)"}}'
GATEWAY_7009 = (
    b'{"result":null,"success":false,"errors":[{"code":7009,"message":"Upstream service unavailable"}],"messages":[]}'
)


def envelope(code: int, message: str) -> bytes:
    return json.dumps(
        {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
    ).encode()


def chunk(content: str | None, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "id-1730000000000",
        "object": "chat.completion.chunk",
        "created": 1730000000,
        "model": MODEL,
        "choices": [
            {"index": 0, "delta": {"content": content} if content is not None else {}, "finish_reason": finish}
        ],
    }


USAGE_CHUNK = {
    "id": "id-1",
    "object": "chat.completion.chunk",
    "created": 1730000000,
    "model": MODEL,
    "choices": [],
    "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
}


def sse(*chunks: dict[str, Any], done: bool = True) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + (
        b"data: [DONE]\n\n" if done else b""
    )


STREAMED = sse(chunk("New"), chunk(" York"), chunk(None, "stop"), USAGE_CHUNK)
BODY = {
    "id": "id-1730000000001",
    "object": "chat.completion",
    "created": 1730000000,
    "model": MODEL,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello, World"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
}


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    clients = ClientPool("llmroute-test")
    yield clients
    await clients.aclose()


@pytest.fixture
def adapter(pool: ClientPool) -> CloudflareAdapter:
    return CloudflareAdapter("cloudflare", BASE, pool)


async def run(adapter: CloudflareAdapter, request: ChatRequest = STREAM, candidate: Candidate = CANDIDATE) -> list[Any]:
    return [event async for event in adapter.chat(candidate, request, timeout=5)]


async def failure(adapter: CloudflareAdapter, request: ChatRequest = STREAM) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await run(adapter, request)
    assert SECRET not in caught.value.message and "\n" not in caught.value.message
    return caught.value


def text_of(events: Iterable[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def classified(body: bytes, status: int = 400, now: float = NOW) -> ProviderError:
    """What the adapter makes of an error body, at a fixed time."""
    adapter = CloudflareAdapter("cloudflare", BASE, ClientPool("unused"))
    data = adapter.error_of(json.loads(body))
    assert data is not None
    return classify_error(status, data, {}, (SECRET,), now, "cloudflare")


# --- the request -------------------------------------------------------------------------------------


def test_protocol_cloudflare_is_the_cloudflare_adapter() -> None:
    assert ADAPTERS["cloudflare"] is CloudflareAdapter


async def test_posts_to_the_accounts_openai_route_with_the_bearer_token(
    adapter: CloudflareAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, method="POST", json=BODY)
    await run(adapter, NON_STREAM)
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["Authorization"] == f"Bearer {SECRET}"
    assert json.loads(sent.content)["model"] == MODEL


async def test_body_carries_max_tokens_and_asks_for_stream_usage(
    adapter: CloudflareAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([STREAMED]))
    await run(adapter, ChatRequest.from_prompt("hi", max_tokens=512))
    sent = httpx_mock.get_request()
    assert sent is not None
    body = json.loads(sent.content)
    assert (body["max_tokens"], body["stream_options"]) == (512, {"include_usage": True})


@pytest.mark.parametrize(
    "account",
    ["", "abc123", "../../user", f"{ACCOUNT[:31]}/", f"{ACCOUNT}?x=1"],
    ids=["missing", "short", "dots", "slash", "query"],
)
async def test_a_slot_without_a_usable_account_id_is_a_config_error(adapter: CloudflareAdapter, account: str) -> None:
    candidate = Candidate(Target("cloudflare", MODEL), KeySlot("cloudflare", SLOT.key, account=account))
    with pytest.raises(ConfigError, match="CLOUDFLARE_API_TOKEN has"):
        await run(adapter, STREAM, candidate)


async def test_body_carries_top_p_and_seed(adapter: CloudflareAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    await run(adapter, ChatRequest.from_prompt("hi", stream=False, top_p=0.7, seed=12345, temperature=0.6))
    sent = httpx_mock.get_request()
    assert sent is not None
    assert json.loads(sent.content) == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "temperature": 0.6,
        "top_p": 0.7,
        "seed": 12345,
    }


async def test_stop_sequences_are_refused_unsent(adapter: CloudflareAdapter, httpx_mock: HTTPXMock) -> None:
    # The schema of @cf/meta/llama-3.1-8b-instruct has no ``stop``: the model would answer on past it.
    error = await failure(adapter, ChatRequest.from_prompt("hi", stop=("END",)))
    assert (error.kind, error.provider) == (ErrorKind.BAD_REQUEST, "cloudflare")
    assert error.message.startswith("cannot send this request: stop: Workers AI's older models")
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(
    ("options", "refused"),
    [({"top_p": 0.7, "seed": 1}, None), ({"stop": ("END",)}, "stop"), ({"seed": 2**64}, "seed")],
)
def test_check_options_for_the_cloudflare_wire(options: dict[str, Any], refused: str | None) -> None:
    reason = check_options("cloudflare", ChatRequest.from_prompt("hi", **options))
    assert (reason.split(":")[0] if reason else None) == refused


# --- answers -----------------------------------------------------------------------------------------


async def test_stream_yields_the_text_and_the_usage_chunk(adapter: CloudflareAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([STREAMED]))
    assert await run(adapter) == [TextDelta("New"), TextDelta(" York"), StreamEnd(MODEL, Usage(10, 20, None), "stop")]


async def test_stream_without_a_usage_chunk_has_unknown_usage(
    adapter: CloudflareAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, stream=IteratorStream([sse(chunk("Hi"), chunk(None, "stop"))]))
    assert (await run(adapter))[-1] == StreamEnd(MODEL, Usage(), "stop")


async def test_non_stream_yields_the_text_and_usage_without_cost(
    adapter: CloudflareAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    assert await run(adapter, NON_STREAM) == [TextDelta("Hello, World"), StreamEnd(MODEL, Usage(10, 20, None), "stop")]


# --- errors ------------------------------------------------------------------------------------------


async def test_authentication_error_10000_is_auth(adapter: CloudflareAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=403, content=AUTH_10000)
    error = await failure(adapter)
    assert (error.kind, error.cause, error.status) == (ErrorKind.AUTH, None, 403)
    assert error.message == "10000: Authentication error"


async def test_daily_allocation_3036_is_quota_until_the_next_utc_midnight(
    adapter: CloudflareAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, status_code=429, content=DAILY_3036, headers={"Retry-After": "60"})
    error = await failure(adapter)
    assert error.kind is ErrorKind.QUOTA and error.retry_at is not None
    assert error.retry_at % 86400 == 0 and 0 < error.retry_at - time.time() <= 86400


def test_daily_allocation_resets_at_the_coming_midnight() -> None:
    error = classified(DAILY_3036, 429)
    assert (error.kind, error.cause, error.retry_at) == (ErrorKind.QUOTA, None, MIDNIGHT)


def test_daily_allocation_quota_cools_the_accounts_pool() -> None:
    error = classified(DAILY_3036, 429)
    assert action_for(error.kind, error.cause).scope is StateScope.POOL


def test_daily_allocation_in_the_4006_text_shape_is_quota_too() -> None:
    error = classified(DAILY_4006, 429)
    assert (error.kind, error.retry_at) == (ErrorKind.QUOTA, MIDNIGHT)
    assert error.message.startswith("4006: you have used up")


def test_the_daily_allocation_just_before_midnight_frees_at_that_midnight() -> None:
    assert classified(DAILY_3036, 429, now=MIDNIGHT - 0.5).retry_at == MIDNIGHT


@pytest.mark.parametrize(
    ("code", "status", "message", "kind", "cause"),
    [
        (3023, 403, "Service unavailable for account", ErrorKind.AUTH, None),
        (3040, 429, "No more data centers to forward the request to", ErrorKind.OVERLOADED, None),
        (5007, 400, f"No such model {MODEL} or task", ErrorKind.MODEL_NOT_FOUND, None),
        (3042, 404, "The model name is invalid", ErrorKind.MODEL_NOT_FOUND, None),
        (5016, 403, "User has not agreed to Llama3.2 model terms", ErrorKind.AUTH, Cause.MODEL_ACCESS),
        (5018, 403, "The account is not allowed to access this model", ErrorKind.AUTH, Cause.MODEL_ACCESS),
        (3041, 403, "The account is not allowed to access this model", ErrorKind.AUTH, Cause.MODEL_ACCESS),
        (3006, 413, "Request is too large", ErrorKind.BAD_REQUEST, None),
        (3007, 408, "Request timeout", ErrorKind.TIMEOUT, None),
        (3008, 408, "Request aborted", ErrorKind.TIMEOUT, None),
        (3003, 400, "Request is missing headers or body", ErrorKind.BAD_REQUEST, None),
        (5004, 400, "Invalid data type for base64 input", ErrorKind.BAD_REQUEST, None),
    ],
)
async def test_workers_ai_error_codes_are_classified(
    adapter: CloudflareAdapter,
    httpx_mock: HTTPXMock,
    code: int,
    status: int,
    message: str,
    kind: ErrorKind,
    cause: Cause | None,
) -> None:
    httpx_mock.add_response(url=URL, status_code=status, content=envelope(code, message))
    error = await failure(adapter)
    assert (error.kind, error.cause, error.status, error.message) == (kind, cause, status, f"{code}: {message}")


def test_a_model_refused_to_the_account_leaves_the_key_usable_for_others() -> None:
    error = classified(envelope(5018, "The account is not allowed to access this model"), 403)
    assert action_for(error.kind, error.cause).scope is StateScope.POOL_MODEL


def test_a_timeout_told_only_in_text_is_a_timeout() -> None:
    assert classified(TIMEOUT_TEXT, 400).kind is ErrorKind.TIMEOUT


def test_overloaded_3040_keeps_a_retry_after_header() -> None:
    error = classify_error(429, {"code": 3040, "message": "No more data centers"}, {"Retry-After": "5"}, (), NOW)
    assert (error.kind, error.retry_at) == (ErrorKind.OVERLOADED, NOW + 5)


async def test_gateway_upstream_failure_is_server_by_status(adapter: CloudflareAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=502, content=GATEWAY_7009)
    assert (await failure(adapter)).kind is ErrorKind.SERVER


async def test_unknown_429_is_a_rate_limit(adapter: CloudflareAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, status_code=429, content=envelope(3099, "Too many requests"))
    assert (await failure(adapter)).kind is ErrorKind.RATE_LIMITED


async def test_an_envelope_error_inside_a_200_stream_is_classified(
    adapter: CloudflareAdapter, httpx_mock: HTTPXMock
) -> None:
    wire = b"data: " + DAILY_3036 + b"\n\n"
    httpx_mock.add_response(url=URL, stream=IteratorStream([wire]))
    assert (await failure(adapter)).kind is ErrorKind.QUOTA


def test_every_message_of_the_envelope_is_kept() -> None:
    body = b'{"success":false,"errors":[{"code":5007,"message":"No such model"},{"code":1,"message":"see docs"}]}'
    error = classified(body)
    assert (error.kind, error.message) == (ErrorKind.MODEL_NOT_FOUND, "5007: No such model; see docs")


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.integers(100, 599),
    st.dictionaries(st.sampled_from(["message", "code"]), st.none() | st.text(max_size=80) | st.integers()),
)
def test_any_error_object_is_classified_on_one_clean_line(status: int, error: dict[str, Any]) -> None:
    error["message"] = f"{error.get('message')} {SECRET}"
    exc = classify_error(status, error, {}, (SECRET,), NOW, "cloudflare")
    assert isinstance(exc.kind, ErrorKind) and exc.message.strip() and "\n" not in exc.message
    assert SECRET not in exc.message
    assert exc.retry_at is None or math.isfinite(exc.retry_at)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.dictionaries(
        st.sampled_from(["success", "errors", "error", "result"]),
        st.none()
        | st.booleans()
        | st.text(max_size=20)
        | st.lists(
            st.none()
            | st.integers()
            | st.text(max_size=10)
            | st.dictionaries(st.sampled_from(["code", "message"]), st.integers() | st.text(max_size=10)),
            max_size=3,
        ),
    )
)
def test_any_envelope_gives_an_error_object_or_none(data: dict[str, Any]) -> None:
    adapter = CloudflareAdapter("cloudflare", BASE, ClientPool("unused"))
    error = adapter.error_of(data)
    assert error is None or isinstance(error, dict)
    if error is not None:
        assert classify_error(400, error, {}, (), NOW).message.strip()


# --- probe and catalogue -----------------------------------------------------------------------------

VERIFY_URL = f"{BASE}/user/tokens/verify"


def verified(status: str, **extra: str) -> dict[str, Any]:
    return {
        "success": True,
        "errors": [],
        "messages": [],
        "result": {"id": "ed17574386854bf78a67040be0a770b0", "status": status, **extra},
    }


async def test_probe_key_verifies_an_active_token(adapter: CloudflareAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=VERIFY_URL, method="GET", json=verified("active"))
    assert await adapter.probe_key(SLOT, timeout=5) == KeyInfo(detail="token active")
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["Authorization"] == f"Bearer {SECRET}"


async def test_probe_key_reports_when_the_token_expires(adapter: CloudflareAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=VERIFY_URL, json=verified("active", expires_on="2027-01-01T00:00:00Z"))
    assert (await adapter.probe_key(SLOT, timeout=5)).detail == "token active until 2027-01-01T00:00:00Z"


@pytest.mark.parametrize("status", ["disabled", "expired"])
async def test_probe_key_of_a_token_not_active_is_auth(
    adapter: CloudflareAdapter, httpx_mock: HTTPXMock, status: str
) -> None:
    httpx_mock.add_response(url=VERIFY_URL, json=verified(status))
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(SLOT, timeout=5)
    assert (caught.value.kind, caught.value.message) == (ErrorKind.AUTH, f"the API token is {status}")


async def test_probe_key_of_an_invalid_token_is_auth(adapter: CloudflareAdapter, httpx_mock: HTTPXMock) -> None:
    invalid = b'{"success":false,"errors":[{"code":1000,"message":"Invalid API Token"}],"messages":[],"result":null}'
    httpx_mock.add_response(url=VERIFY_URL, status_code=401, content=invalid)
    httpx_mock.add_response(url=f"{ACCOUNT_URL}/tokens/verify", status_code=401, content=invalid)
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(SLOT, timeout=5)
    assert caught.value.kind is ErrorKind.AUTH


async def test_probe_key_of_an_account_owned_token_verifies_under_the_account(
    adapter: CloudflareAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=VERIFY_URL, status_code=401, content=envelope(1000, "Invalid API Token"))
    httpx_mock.add_response(url=f"{ACCOUNT_URL}/tokens/verify", json=verified("active"))
    assert await adapter.probe_key(SLOT, timeout=5) == KeyInfo(detail="token active")


async def test_probe_key_does_not_retry_a_server_error_under_the_account(
    adapter: CloudflareAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=VERIFY_URL, status_code=503, content=b"")
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(SLOT, timeout=5)
    assert caught.value.kind is ErrorKind.OVERLOADED and len(httpx_mock.get_requests()) == 1


SEARCH = {
    "success": True,
    "errors": [],
    "messages": [],
    "result": [
        {
            "id": "c1c12ce4-c36a-4aa6-8da6-f63ba0b5b2b4",
            "name": "@cf/meta/llama-3.1-8b-instruct",
            "task": {"id": "c329a1f9-323d-4e91-b2aa-582dd4188d34", "name": "Text Generation"},
            "properties": [{"property_id": "context_window", "value": "7968"}],
        },
        {"name": "@cf/baai/bge-base-en-v1.5", "task": {"name": "Text Embeddings"}},
        {"name": "@cf/qwen/qwen2.5-coder-32b-instruct"},
        {"task": {"name": "Text Generation"}},
    ],
}


async def test_list_models_keeps_the_text_generation_models(adapter: CloudflareAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", json=SEARCH)
    assert await adapter.list_models(SLOT, timeout=5) == [
        ModelInfo("cloudflare", "@cf/meta/llama-3.1-8b-instruct", context_length=7968),
        ModelInfo("cloudflare", "@cf/qwen/qwen2.5-coder-32b-instruct"),
    ]


async def test_list_models_asks_the_accounts_search_for_text_generation(
    adapter: CloudflareAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(method="GET", json=SEARCH)
    await adapter.list_models(SLOT, timeout=5)
    sent = httpx_mock.get_request()
    assert sent is not None and sent.url.copy_with(query=None) == httpx.URL(SEARCH_URL)
    assert sent.url.params["task"] == TEXT_GENERATION and sent.headers["Authorization"] == f"Bearer {SECRET}"


async def test_list_models_follows_the_pages_the_envelope_counts(
    adapter: CloudflareAdapter, httpx_mock: HTTPXMock
) -> None:
    first = {**SEARCH, "result": SEARCH["result"][:1], "result_info": {"page": 1, "per_page": 1, "total_pages": 2}}
    second = {**SEARCH, "result": [{"name": "@cf/openai/gpt-oss-120b"}], "result_info": {"page": 2, "total_pages": 2}}
    httpx_mock.add_response(
        url=SEARCH_URL, method="GET", match_params={"task": TEXT_GENERATION, "per_page": "100", "page": "1"}, json=first
    )
    httpx_mock.add_response(
        url=SEARCH_URL,
        method="GET",
        match_params={"task": TEXT_GENERATION, "per_page": "100", "page": "2"},
        json=second,
    )
    models = await adapter.list_models(SLOT, timeout=5)
    assert [m.model for m in models] == ["@cf/meta/llama-3.1-8b-instruct", "@cf/openai/gpt-oss-120b"]


async def test_list_models_with_a_bad_token_is_auth(adapter: CloudflareAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", status_code=401, content=AUTH_10000)
    with pytest.raises(ProviderError) as caught:
        await adapter.list_models(SLOT, timeout=5)
    assert caught.value.kind is ErrorKind.AUTH


async def test_list_models_failing_inside_a_200_envelope_is_classified(
    adapter: CloudflareAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(method="GET", content=envelope(10000, "Authentication error"))
    with pytest.raises(ProviderError) as caught:
        await adapter.list_models(SLOT, timeout=5)
    assert caught.value.kind is ErrorKind.AUTH


async def test_transport_errors_do_not_name_the_account(adapter: CloudflareAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectTimeout("timed out"), url=URL)
    error = await failure(adapter)
    assert error.kind is ErrorKind.TIMEOUT and ACCOUNT not in error.message
