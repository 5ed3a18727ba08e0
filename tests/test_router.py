"""Router: the cascade over providers and keys, the failure table applied, every attempt recorded.

Each test drives a real ``Router(settings, store)`` over a real state file, with
``httpx_mock`` playing OpenRouter and Ollama with their documented wire bodies
(reference/providers.md). Keys are told apart by their ``Authorization`` header;
pytest-httpx fails a test on any request no response was registered for, so a
test that registers nothing for a key also proves that key was never contacted.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

import llmroute.health
import llmroute.gatekeeper
import llmroute.router
from llmroute.config import load_settings
from llmroute.errors import (
    AllCandidatesFailed,
    DeadlineExceeded,
    ErrorKind,
    ModelNotFound,
    NoCandidateAvailable,
    PrivacyRefused,
    RequestRejected,
    StreamBroken,
)
from llmroute.keys import fingerprint, mask
from llmroute.router import Router
from llmroute.store import Hold, Store
from llmroute.types import Attempt, ChatRequest, ChatResult, Outcome, Privacy, TextDelta, Usage

OR_BASE = "http://127.0.0.1:9/api/v1"
OR_URL = f"{OR_BASE}/chat/completions"
OLLAMA_BASE = "http://127.0.0.1:8"
OLLAMA_URL = f"{OLLAMA_BASE}/api/chat"
LOCAL_HOST = "127.0.0.1:11435"
LOCAL_URL = f"http://{LOCAL_HOST}/api/chat"

OR_KEY_1 = "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"
OR_KEY_2 = "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"
OR_KEY_3 = "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"
OLLAMA_KEY = "0f3c9a2b7e5d41c8a6b9e2f7d1c4a8b3.Zx9Qw7Er5Ty3Ui1OpLkMnBv"
SECRETS = (OR_KEY_1, OR_KEY_2, OR_KEY_3, OLLAMA_KEY)
LABELS = {
    OR_KEY_1: "OPENROUTER_API_KEY_1",
    OR_KEY_2: "OPENROUTER_API_KEY_2",
    OR_KEY_3: "OPENROUTER_API_KEY_3",
    OLLAMA_KEY: "OLLAMA_API_KEY",
}

#: Pinned to OpenRouter: the candidates are its keys, in order, and nothing else.
OR_ONLY = "openrouter:openai/gpt-4o-mini"
#: An alias served by Ollama Cloud (first by default) and OpenRouter.
KIMI = "kimi-k2.6"


# --- provider wire bodies (reference/providers.md §1, §2) --------------------------------------------

USAGE = {
    "prompt_tokens": 14,
    "completion_tokens": 7,
    "total_tokens": 21,
    "cost": 0.000042,
    "is_byok": False,
    "prompt_tokens_details": {"cached_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0},
}


def or_chunk(
    content: str | None = "", finish: str | None = None, model: str = "openai/gpt-4o-mini", **extra: Any
) -> bytes:
    choice = {
        "index": 0,
        "delta": {"role": "assistant", "content": content},
        "finish_reason": finish,
        "native_finish_reason": finish,
        "logprobs": None,
    }
    data = {
        "id": "gen-1739458867-kUKFjpDGCEBBvK6V46PX",
        "provider": "OpenAI",
        "model": model,
        "object": "chat.completion.chunk",
        "created": 1739458867,
        "choices": [choice],
        **extra,
    }
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def or_stream(*parts: str, model: str = "openai/gpt-4o-mini") -> list[bytes]:
    """A whole OpenRouter SSE answer, one network chunk per event (ending variant A of §1.4)."""
    return [
        b": OPENROUTER PROCESSING\n\n",
        or_chunk("", model=model),
        *(or_chunk(part, model=model) for part in parts),
        or_chunk("", "stop", model=model),
        or_chunk("", "stop", model=model, usage=USAGE),
        b"data: [DONE]\n\n",
    ]


def or_error(status: int, message: str, **fields: Any) -> bytes:
    return json.dumps({"error": {"message": message, "code": status, **fields}, "user_id": "user_2xQ"}).encode()


OR_500 = or_error(500, "Internal Server Error", metadata={"error_type": "server"})
OR_502 = or_error(
    502,
    "Provider returned error",
    metadata={"raw": "upstream connect error", "provider_name": "Google AI Studio", "is_byok": False},
)
OR_503 = or_error(
    503, "No allowed providers are available for the selected model.", metadata={"error_type": "provider_unavailable"}
)
OR_529 = json.dumps({"error": {"code": 529, "message": "Provider returned error"}}).encode()
OR_401 = json.dumps({"error": {"message": "User not found.", "code": 401}}).encode()
OR_NO_ENDPOINTS_404 = or_error(404, "No endpoints found for moonshotai/kimi-k2.6.")
OR_INVALID_MODEL_400 = or_error(400, "moonshotai/kimi-k2.6 is not a valid model ID")
OR_BAD_REQUEST_400 = or_error(400, 'Input required: specify "prompt" or "messages"')
OR_MID_STREAM_ERROR = (
    b'data: {"id":"gen-abc123","object":"chat.completion.chunk","created":1234567890,"model":"openai/gpt-4o-mini",'
    b'"provider":"OpenAI","error":{"code":"server_error","message":"Provider disconnected unexpectedly"},'
    b'"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}\n\n'
)
OR_ERROR_ONLY_CHUNK = (
    b'data: {"error":{"message":"Provider returned error","code":502,'
    b'"metadata":{"raw":"upstream overloaded","provider_name":"Chutes"}}}\n\n'
)


def or_rate_limit(reset: float) -> tuple[bytes, dict[str, str]]:
    """A key's 429: reset in epoch milliseconds, in the headers and mirrored in the body (not a free-model cap,
    which holds only the free models of the key's pool)."""
    reset_ms = str(int(reset * 1000))
    limits = {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset_ms}
    body = or_error(429, "Rate limit exceeded", metadata={"headers": limits, "provider_name": None})
    return body, limits


def or_daily_cap(reset: float) -> bytes:
    """The free-model daily cap: the reset only inside ``metadata.headers``, no ``Retry-After``."""
    limits = {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset * 1000))}
    return or_error(
        429,
        "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day",
        metadata={"headers": limits, "provider_name": None},
    )


def ollama_line(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode() + b"\n"


def ollama_stream(*parts: str, model: str = "kimi-k2.6") -> list[bytes]:
    lines = [
        ollama_line(
            {
                "model": model,
                "created_at": "2026-11-21T17:15:24.097767Z",
                "message": {"role": "assistant", "content": part},
                "done": False,
            }
        )
        for part in parts
    ]
    lines.append(
        ollama_line(
            {
                "model": model,
                "created_at": "2026-11-21T17:15:24.166576Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "total_duration": 4883583458,
                "prompt_eval_count": 26,
                "prompt_eval_duration": 342546000,
                "eval_count": 282,
                "eval_duration": 4535599000,
            }
        )
    )
    return lines


OLLAMA_WEEKLY = json.dumps(
    {"error": "you've reached your weekly usage limit, please wait or upgrade to continue"}
).encode()
OLLAMA_NOT_FOUND = json.dumps({"error": "model 'kimi-k2.6' not found"}).encode()
OLLAMA_BUSY = json.dumps({"error": "server busy, please try again.  maximum pending requests exceeded"}).encode()
OLLAMA_NO_TOOLS = json.dumps({"error": "kimi-k2.6 does not support tools"}).encode()


# --- registering answers -----------------------------------------------------------------------------


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def url_for(secret: str | None) -> str:
    if secret is None:
        return LOCAL_URL
    return OLLAMA_URL if secret == OLLAMA_KEY else OR_URL


def matching(secret: str | None) -> dict[str, Any]:
    matchers: dict[str, Any] = {"url": url_for(secret), "method": "POST"}
    if secret is not None:
        matchers["match_headers"] = bearer(secret)
    return matchers


def answer(httpx_mock: HTTPXMock, secret: str | None, *parts: str, model: str | None = None) -> None:
    """A successful streamed answer from the provider this secret belongs to (None: local Ollama)."""
    if secret is None or secret == OLLAMA_KEY:
        body = ollama_stream(*parts, model=model or "kimi-k2.6")
        content_type = "application/x-ndjson"
    else:
        body = or_stream(*parts, model=model or "openai/gpt-4o-mini")
        content_type = "text/event-stream"
    httpx_mock.add_response(**matching(secret), stream=IteratorStream(body), headers={"Content-Type": content_type})


def fail(
    httpx_mock: HTTPXMock, secret: str | None, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    httpx_mock.add_response(
        **matching(secret),
        status_code=status,
        content=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def stream_body(httpx_mock: HTTPXMock, secret: str, chunks: list[bytes]) -> None:
    httpx_mock.add_response(
        **matching(secret), stream=IteratorStream(chunks), headers={"Content-Type": "text/event-stream"}
    )


def who(request: httpx.Request) -> str:
    """The key label (or ``local``) a captured request was sent with."""
    if str(request.url) == LOCAL_URL:
        assert "Authorization" not in request.headers
        return "local"
    token = request.headers["Authorization"].removeprefix("Bearer ")
    return LABELS[token]


def contacted(httpx_mock: HTTPXMock) -> list[str]:
    """Who was asked for an answer (catalogue fetches are not chat requests)."""
    return [who(request) for request in httpx_mock.get_requests() if request.method == "POST"]


# --- the router under test ---------------------------------------------------------------------------


def base_env(home: Path) -> dict[str, str]:
    return {
        "LLMROUTE_HOME": str(home),
        "OPENROUTER_API_KEY_1": OR_KEY_1,
        "OPENROUTER_API_KEY_2": OR_KEY_2,
        "OLLAMA_API_KEY": OLLAMA_KEY,
        "OPENROUTER_BASE_URL": OR_BASE,
        "OLLAMA_BASE_URL": OLLAMA_BASE,
    }


MakeRouter = Callable[..., Router]


@pytest.fixture(autouse=True)
def no_retry_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries of the same target happen at once (one test below measures the real pause)."""
    monkeypatch.setattr(llmroute.router, "RETRY_BACKOFF", (0.0, 0.0))


@pytest.fixture
async def make_router(tmp_path: Path) -> AsyncIterator[MakeRouter]:
    opened: list[Router] = []

    def make(**extra_env: str) -> Router:
        settings = load_settings({**base_env(tmp_path), **extra_env})
        router = Router(settings, Store.open(settings.state_path))
        opened.append(router)
        return router

    yield make
    for router in opened:
        await router.aclose()
        router.store.close()


@pytest.fixture
def router(make_router: MakeRouter) -> Router:
    return make_router()


def ask(model: str = OR_ONLY, **options: Any) -> ChatRequest:
    return ChatRequest.from_prompt("What is the capital of France?", model=model, **options)


async def collect(router: Router, request: ChatRequest, received: list[str]) -> ChatResult:
    """Drive ``stream()`` as a caller would, keeping every text delta the caller was shown."""
    result = None
    async with aclosing(router.stream(request)) as items:
        async for item in items:
            if isinstance(item, TextDelta):
                received.append(item.text)
            else:
                assert isinstance(item, ChatResult)
                result = item
    assert result is not None
    return result


def state_of(router: Router, secret: str) -> Hold | None:
    """The hold kept for the key itself or for its own quota pool (a key on its own is its pool)."""
    return next(iter(router.store.holds_of([fingerprint(secret)])), None)


def cooldown_of(router: Router, secret: str) -> float:
    state = state_of(router, secret)
    assert state is not None and state.cooldown_until is not None, f"{LABELS[secret]} is not cooling down"
    return state.cooldown_until


def summary(attempts: tuple[Attempt, ...] | list[Attempt]) -> list[tuple[str, str, Outcome, ErrorKind | None]]:
    return [(a.provider, a.key_label, a.outcome, a.error_kind) for a in attempts]


_wall_clock = time.time


@dataclass
class Clock:
    """Stands in for the router's ``time`` module with a wall clock that can be moved forward."""

    offset: float = 0.0
    monotonic = staticmethod(time.monotonic)
    strftime = staticmethod(time.strftime)
    localtime = staticmethod(time.localtime)

    def time(self) -> float:
        return _wall_clock() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(llmroute.router, "time", fake)
    monkeypatch.setattr(llmroute.health, "time", fake)
    monkeypatch.setattr(llmroute.gatekeeper, "time", fake)
    return fake


# --- success -----------------------------------------------------------------------------------------


async def test_stream_yields_the_text_then_one_result_describing_the_answer(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    answer(httpx_mock, OR_KEY_1, "The capital", " of France is Paris.")
    items = []
    async with aclosing(router.stream(ask())) as stream:
        async for item in stream:
            items.append(item)
    assert items[:-1] == [TextDelta("The capital"), TextDelta(" of France is Paris.")]
    result = items[-1]
    assert isinstance(result, ChatResult)
    assert result.text == "The capital of France is Paris."
    assert (result.provider, result.model, result.key_label, result.key_mask) == (
        "openrouter",
        "openai/gpt-4o-mini",
        "OPENROUTER_API_KEY_1",
        mask(OR_KEY_1),
    )
    assert result.usage == Usage(input_tokens=14, output_tokens=7, cost_micros=42)
    assert result.finish_reason == "stop"
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1"]


async def test_ordered_key_selection_always_starts_with_the_first_key(router: Router, httpx_mock: HTTPXMock) -> None:
    for _ in range(3):
        answer(httpx_mock, OR_KEY_1, "Paris.")
    labels = [(await router.complete(ask())).key_label for _ in range(3)]
    assert labels == ["OPENROUTER_API_KEY_1"] * 3


async def test_non_streaming_request_is_answered_through_complete(router: Router, httpx_mock: HTTPXMock) -> None:
    body = {
        "id": "gen-1756333451-cPp53ItAkOxplxIj0aHz",
        "provider": "OpenAI",
        "model": "openai/gpt-4o-mini",
        "object": "chat.completion",
        "choices": [{"finish_reason": "stop", "index": 0, "message": {"role": "assistant", "content": "Paris."}}],
        "usage": USAGE,
    }
    httpx_mock.add_response(**matching(OR_KEY_1), json=body)
    result = await router.complete(ask(stream=False))
    assert (result.text, result.usage.cost_micros) == ("Paris.", 42)
    sent = httpx_mock.get_request()
    assert sent is not None and json.loads(sent.content)["stream"] is False


# --- rate_limited ------------------------------------------------------------------------------------


async def test_rate_limited_key_cools_until_the_reset_header_and_the_next_key_answers(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    reset = time.time() + 45
    body, headers = or_rate_limit(reset)
    fail(httpx_mock, OR_KEY_1, 429, body, headers)
    answer(httpx_mock, OR_KEY_2, "Paris.")
    result = await router.complete(ask())
    assert (result.key_label, result.text) == ("OPENROUTER_API_KEY_2", "Paris.")
    assert cooldown_of(router, OR_KEY_1) == pytest.approx(int(reset * 1000) / 1000, abs=1e-3)
    assert state_of(router, OR_KEY_2) is None
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2"]


async def test_a_later_stream_never_contacts_the_rate_limited_key(router: Router, httpx_mock: HTTPXMock) -> None:
    body, headers = or_rate_limit(time.time() + 45)
    fail(httpx_mock, OR_KEY_1, 429, body, headers)
    answer(httpx_mock, OR_KEY_2, "Paris.")
    answer(httpx_mock, OR_KEY_2, "Still Paris.")
    await router.complete(ask())
    received: list[str] = []
    result = await collect(router, ask(), received)
    assert (result.key_label, "".join(received)) == ("OPENROUTER_API_KEY_2", "Still Paris.")
    assert result.attempts[0].key_label == "OPENROUTER_API_KEY_2"
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2", "OPENROUTER_API_KEY_2"]


async def test_rate_limit_without_a_reset_hint_cools_for_the_default_minute(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    fail(
        httpx_mock, OR_KEY_1, 429, or_error(429, "Rate limit exceeded", metadata={"error_type": "rate_limit_exceeded"})
    )
    answer(httpx_mock, OR_KEY_2, "Paris.")
    before = time.time()
    await router.complete(ask())
    assert before + 60 <= cooldown_of(router, OR_KEY_1) <= time.time() + 60


# --- quota -------------------------------------------------------------------------------------------


def next_utc_midnight(now: float) -> float:
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight + timedelta(days=1)).timestamp()


def next_utc_monday(now: float) -> float:
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight + timedelta(days=7 - midnight.weekday())).timestamp()


async def test_daily_free_model_cap_cools_the_key_until_the_daily_reset(router: Router, httpx_mock: HTTPXMock) -> None:
    reset = next_utc_midnight(time.time())
    fail(httpx_mock, OR_KEY_1, 429, or_daily_cap(reset))
    answer(httpx_mock, OR_KEY_2, "Paris.", model="meta-llama/llama-3.3-70b-instruct:free")
    result = await router.complete(ask("openrouter:meta-llama/llama-3.3-70b-instruct:free"))
    assert result.key_label == "OPENROUTER_API_KEY_2"
    assert result.attempts[0].error_kind is ErrorKind.QUOTA
    assert cooldown_of(router, OR_KEY_1) == pytest.approx(reset)


async def test_ollama_weekly_usage_limit_cools_the_key_until_monday_and_openrouter_answers(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    fail(httpx_mock, OLLAMA_KEY, 429, OLLAMA_WEEKLY)
    answer(httpx_mock, OR_KEY_1, "Paris.", model="moonshotai/kimi-k2.6")
    before = time.time()
    result = await router.complete(ask(KIMI))
    after = time.time()
    assert (result.provider, result.key_label) == ("openrouter", "OPENROUTER_API_KEY_1")
    assert result.attempts[0].error_kind is ErrorKind.QUOTA
    assert cooldown_of(router, OLLAMA_KEY) in {next_utc_monday(before), next_utc_monday(after)}
    assert cooldown_of(router, OLLAMA_KEY) > after + 3600
    assert contacted(httpx_mock) == ["OLLAMA_API_KEY", "OPENROUTER_API_KEY_1"]


# --- auth --------------------------------------------------------------------------------------------


async def test_rejected_key_is_disabled_and_the_next_key_answers(router: Router, httpx_mock: HTTPXMock) -> None:
    fail(httpx_mock, OR_KEY_1, 401, OR_401)
    answer(httpx_mock, OR_KEY_2, "Paris.")
    result = await router.complete(ask())
    assert result.key_label == "OPENROUTER_API_KEY_2"
    state = state_of(router, OR_KEY_1)
    assert state is not None and state.disabled
    assert state.blocked_until(time.time() + 10 * 365 * 86400) == float("inf")
    assert state.error_kind == "auth"


async def test_disabled_key_is_never_contacted_again(router: Router, httpx_mock: HTTPXMock) -> None:
    fail(httpx_mock, OR_KEY_1, 401, OR_401)
    answer(httpx_mock, OR_KEY_2, "Paris.")
    answer(httpx_mock, OR_KEY_2, "Paris again.")
    await router.complete(ask())
    await router.complete(ask())
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2", "OPENROUTER_API_KEY_2"]


# --- model_not_found ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(404, OR_NO_ENDPOINTS_404, id="404-no-endpoints"),
        pytest.param(400, OR_INVALID_MODEL_400, id="400-not-a-valid-model-id"),
    ],
)
async def test_model_not_found_skips_the_providers_other_keys_and_tries_the_next_provider(
    router: Router, httpx_mock: HTTPXMock, status: int, body: bytes
) -> None:
    fail(httpx_mock, OR_KEY_1, status, body)
    answer(httpx_mock, OLLAMA_KEY, "Paris.")
    result = await router.complete(ask(KIMI, provider="openrouter"))
    assert (result.provider, result.key_label) == ("ollama", "OLLAMA_API_KEY")
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1", "OLLAMA_API_KEY"]
    assert state_of(router, OR_KEY_1) is None


async def test_model_not_found_everywhere_raises_model_not_found(router: Router, httpx_mock: HTTPXMock) -> None:
    fail(httpx_mock, OLLAMA_KEY, 404, OLLAMA_NOT_FOUND)
    fail(httpx_mock, OR_KEY_1, 404, OR_NO_ENDPOINTS_404)
    with pytest.raises(ModelNotFound) as caught:
        await router.complete(ask(KIMI))
    assert summary(caught.value.attempts) == [
        ("ollama", "OLLAMA_API_KEY", Outcome.FAILED, ErrorKind.MODEL_NOT_FOUND),
        ("openrouter", "OPENROUTER_API_KEY_1", Outcome.FAILED, ErrorKind.MODEL_NOT_FOUND),
    ]
    assert contacted(httpx_mock) == ["OLLAMA_API_KEY", "OPENROUTER_API_KEY_1"]
    held = {(h.scope, h.subject, h.model) for h in router.store.all_holds()}
    assert held == {("model", "ollama", "kimi-k2.6"), ("model", "openrouter", "moonshotai/kimi-k2.6")}, "no key is held"


async def test_a_model_not_found_is_not_asked_for_again_while_another_model_is(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    fail(httpx_mock, OLLAMA_KEY, 404, OLLAMA_NOT_FOUND)
    fail(httpx_mock, OR_KEY_1, 404, OR_NO_ENDPOINTS_404)
    with pytest.raises(ModelNotFound):
        await router.complete(ask(KIMI))
    with pytest.raises(ModelNotFound) as caught:
        await router.complete(ask(KIMI))
    assert caught.value.attempts == () and len(contacted(httpx_mock)) == 2, "no second round trip"
    answer(httpx_mock, OR_KEY_1)
    result = await router.complete(ask())
    assert result.key_label == "OPENROUTER_API_KEY_1"


async def test_model_missing_on_one_provider_and_the_other_limited_is_limited_not_missing(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    fail(httpx_mock, OLLAMA_KEY, 404, OLLAMA_NOT_FOUND)
    reset = time.time() + 90
    for secret in (OR_KEY_1, OR_KEY_2):
        body, headers = or_rate_limit(reset)
        fail(httpx_mock, secret, 429, body, headers)
    with pytest.raises(NoCandidateAvailable) as caught:
        await router.complete(ask(KIMI))
    assert caught.value.retry_at == pytest.approx(reset, abs=1e-3)


async def test_model_missing_while_the_other_providers_keys_are_cooling_is_limited(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    reset = time.time() + 90
    for secret in (OR_KEY_1, OR_KEY_2):
        body, headers = or_rate_limit(reset)
        fail(httpx_mock, secret, 429, body, headers)
    with pytest.raises(NoCandidateAvailable):
        await router.complete(ask())
    fail(httpx_mock, OLLAMA_KEY, 404, OLLAMA_NOT_FOUND)
    with pytest.raises(NoCandidateAvailable) as caught:
        await router.complete(ask(KIMI))
    assert caught.value.retry_at == pytest.approx(reset, abs=1e-3)
    assert contacted(httpx_mock)[-1] == "OLLAMA_API_KEY"


# --- bad_request -------------------------------------------------------------------------------------


async def test_bad_request_stops_at_once_without_trying_another_key(router: Router, httpx_mock: HTTPXMock) -> None:
    fail(httpx_mock, OR_KEY_1, 400, OR_BAD_REQUEST_400)
    with pytest.raises(RequestRejected) as caught:
        await router.complete(ask())
    assert not isinstance(caught.value, ModelNotFound)
    assert 'Input required: specify "prompt" or "messages"' in str(caught.value)
    assert summary(caught.value.attempts) == [
        ("openrouter", "OPENROUTER_API_KEY_1", Outcome.FAILED, ErrorKind.BAD_REQUEST)
    ]
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1"]
    assert router.store.all_holds() == []


async def test_bad_request_from_the_first_provider_never_reaches_the_next_provider(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    fail(httpx_mock, OLLAMA_KEY, 400, OLLAMA_NO_TOOLS)
    with pytest.raises(RequestRejected):
        await router.complete(ask(KIMI))
    assert contacted(httpx_mock) == ["OLLAMA_API_KEY"]


# --- timeout and connection --------------------------------------------------------------------------


async def test_timeout_is_retried_once_on_the_same_key_then_the_key_cools_and_the_next_key_answers(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    for _ in range(2):
        httpx_mock.add_exception(httpx.ReadTimeout("timed out"), **matching(OR_KEY_1))
    answer(httpx_mock, OR_KEY_2, "Paris.")
    before = time.time()
    result = await router.complete(ask())
    assert result.key_label == "OPENROUTER_API_KEY_2"
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2"]
    assert before + 30 <= cooldown_of(router, OR_KEY_1) <= time.time() + 30


async def test_a_timeout_that_passes_on_the_retry_answers_from_the_same_key_without_a_cooldown(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), **matching(OR_KEY_1))
    answer(httpx_mock, OR_KEY_1, "Paris.")
    result = await router.complete(ask())
    assert result.key_label == "OPENROUTER_API_KEY_1"
    assert [a.outcome for a in result.attempts] == [Outcome.FAILED, Outcome.OK]
    state = state_of(router, OR_KEY_1)
    assert state is None or state.blocked_until(time.time()) is None


async def test_connection_failure_is_retried_once_then_the_providers_other_keys_are_skipped(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    for _ in range(2):
        httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"), **matching(OR_KEY_1))
    answer(httpx_mock, OLLAMA_KEY, "Paris.")
    before = time.time()
    result = await router.complete(ask(KIMI, provider="openrouter"))
    assert (result.provider, result.key_label) == ("ollama", "OLLAMA_API_KEY")
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_1", "OLLAMA_API_KEY"]
    (endpoint,) = router.store.all_holds()
    assert (endpoint.scope, endpoint.subject) == ("endpoint", "openrouter"), "the endpoint is held, not a key"
    assert before + 5 <= (endpoint.cooldown_until or 0) <= time.time() + 5, "a refused connection cools briefly"
    assert (
        summary(result.attempts)[:2]
        == [("openrouter", "OPENROUTER_API_KEY_1", Outcome.FAILED, ErrorKind.CONNECTION)] * 2
    )


async def test_the_retry_of_the_same_target_waits_a_jittered_backoff(
    router: Router, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llmroute.router, "RETRY_BACKOFF", (0.2, 0.6))
    sent_at: list[float] = []

    def timed_out(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.monotonic())
        raise httpx.ReadTimeout("timed out", request=request)

    def answered(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.monotonic())
        return httpx.Response(
            200, stream=IteratorStream(or_stream("Paris.")), headers={"Content-Type": "text/event-stream"}
        )

    httpx_mock.add_callback(timed_out, **matching(OR_KEY_1))
    httpx_mock.add_callback(answered, **matching(OR_KEY_1))
    await router.complete(ask())
    assert 0.2 <= sent_at[1] - sent_at[0] <= 0.6 + 0.25


# --- server and overloaded ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        pytest.param(500, OR_500, ErrorKind.SERVER, id="500"),
        pytest.param(502, OR_502, ErrorKind.SERVER, id="502"),
        pytest.param(503, OR_503, ErrorKind.OVERLOADED, id="503"),
        pytest.param(529, OR_529, ErrorKind.OVERLOADED, id="529"),
    ],
)
async def test_server_failure_cools_the_key_briefly_and_the_next_key_answers(
    router: Router, httpx_mock: HTTPXMock, status: int, body: bytes, kind: ErrorKind
) -> None:
    fail(httpx_mock, OR_KEY_1, status, body)
    answer(httpx_mock, OR_KEY_2, "Paris.")
    before = time.time()
    result = await router.complete(ask())
    assert result.key_label == "OPENROUTER_API_KEY_2"
    assert (result.attempts[0].error_kind, result.attempts[0].status) == (kind, status)
    assert before + 30 <= cooldown_of(router, OR_KEY_1) <= time.time() + 30


async def test_ollama_queue_full_cools_the_key_and_openrouter_answers(router: Router, httpx_mock: HTTPXMock) -> None:
    fail(httpx_mock, OLLAMA_KEY, 503, OLLAMA_BUSY)
    answer(httpx_mock, OR_KEY_1, "Paris.", model="moonshotai/kimi-k2.6")
    before = time.time()
    result = await router.complete(ask(KIMI))
    assert result.provider == "openrouter"
    assert before + 30 <= cooldown_of(router, OLLAMA_KEY) <= time.time() + 30


async def test_a_repeated_server_failure_cools_the_key_for_longer(
    router: Router, httpx_mock: HTTPXMock, clock: Clock
) -> None:
    fail(httpx_mock, OR_KEY_1, 500, OR_500)
    answer(httpx_mock, OR_KEY_2, "Paris.")
    fail(httpx_mock, OR_KEY_1, 500, OR_500)
    answer(httpx_mock, OR_KEY_2, "Paris.")
    await router.complete(ask())
    first = cooldown_of(router, OR_KEY_1)
    clock.offset = 31.0  # the first cooldown has run out
    before = clock.time()
    await router.complete(ask())
    second = cooldown_of(router, OR_KEY_1)
    assert second > first
    assert before + 60 <= second <= clock.time() + 60  # twice the first 30 s
    assert contacted(httpx_mock).count("OPENROUTER_API_KEY_1") == 2


async def test_a_success_ends_the_streak_so_the_next_cooldown_is_short_again(
    router: Router, httpx_mock: HTTPXMock, clock: Clock
) -> None:
    fail(httpx_mock, OR_KEY_1, 500, OR_500)
    answer(httpx_mock, OR_KEY_2, "Paris.")
    answer(httpx_mock, OR_KEY_1, "Paris.")
    fail(httpx_mock, OR_KEY_1, 500, OR_500)
    answer(httpx_mock, OR_KEY_2, "Paris.")
    await router.complete(ask())
    clock.offset = 31.0
    assert (await router.complete(ask())).key_label == "OPENROUTER_API_KEY_1"
    before = clock.time()
    await router.complete(ask())
    assert before + 30 <= cooldown_of(router, OR_KEY_1) <= clock.time() + 30


# --- bad_response ------------------------------------------------------------------------------------


async def test_malformed_stream_moves_on_without_cooling_the_key(router: Router, httpx_mock: HTTPXMock) -> None:
    stream_body(httpx_mock, OR_KEY_1, [b": OPENROUTER PROCESSING\n\n", b'data: {"id":"gen-1","choices":[{"delta":\n\n'])
    answer(httpx_mock, OR_KEY_2, "Paris.")
    received: list[str] = []
    result = await collect(router, ask(), received)
    assert (result.key_label, "".join(received)) == ("OPENROUTER_API_KEY_2", "Paris.")
    assert result.attempts[0].error_kind is ErrorKind.BAD_RESPONSE
    assert state_of(router, OR_KEY_1) is None


async def test_malformed_json_body_moves_on_without_cooling_the_key(router: Router, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        **matching(OR_KEY_1),
        content=b'{"id":"gen-1","model":"openai/gpt-4o-mini","choices":[{"message":{"content":"Par',
        headers={"Content-Type": "application/json"},
    )
    httpx_mock.add_response(
        **matching(OR_KEY_2),
        json={"model": "openai/gpt-4o-mini", "choices": [{"message": {"content": "Paris."}, "finish_reason": "stop"}]},
    )
    result = await router.complete(ask(stream=False))
    assert (result.key_label, result.text) == ("OPENROUTER_API_KEY_2", "Paris.")
    assert result.attempts[0].error_kind is ErrorKind.BAD_RESPONSE
    assert state_of(router, OR_KEY_1) is None


# --- every key limited -------------------------------------------------------------------------------


async def test_every_key_limited_raises_no_candidate_with_the_earliest_reset(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    late, early = time.time() + 120, time.time() + 50
    for secret, reset in ((OR_KEY_1, late), (OR_KEY_2, early)):
        body, headers = or_rate_limit(reset)
        fail(httpx_mock, secret, 429, body, headers)
    with pytest.raises(NoCandidateAvailable) as caught:
        await router.complete(ask())
    assert caught.value.retry_at == pytest.approx(early, abs=1e-3)
    assert [a.error_kind for a in caught.value.attempts] == [ErrorKind.RATE_LIMITED] * 2


async def test_cooling_keys_are_skipped_without_any_request(router: Router, httpx_mock: HTTPXMock) -> None:
    late, early = time.time() + 120, time.time() + 50
    for secret, reset in ((OR_KEY_1, late), (OR_KEY_2, early)):
        body, headers = or_rate_limit(reset)
        fail(httpx_mock, secret, 429, body, headers)
    with pytest.raises(NoCandidateAvailable):
        await router.complete(ask())
    with pytest.raises(NoCandidateAvailable) as caught:
        await router.complete(ask())
    assert caught.value.attempts == ()
    assert caught.value.retry_at == pytest.approx(early, abs=1e-3)
    assert len(httpx_mock.get_requests()) == 2


async def test_a_disabled_key_does_not_count_towards_the_earliest_reset(router: Router, httpx_mock: HTTPXMock) -> None:
    reset = time.time() + 50
    body, headers = or_rate_limit(reset)
    fail(httpx_mock, OR_KEY_1, 401, OR_401)
    fail(httpx_mock, OR_KEY_2, 429, body, headers)
    with pytest.raises(AllCandidatesFailed):
        await router.complete(ask())
    with pytest.raises(NoCandidateAvailable) as caught:
        await router.complete(ask())
    assert caught.value.retry_at == pytest.approx(reset, abs=1e-3)
    assert "1 disabled" in str(caught.value)
    assert len(httpx_mock.get_requests()) == 2


async def test_every_key_disabled_gives_no_retry_time(router: Router, httpx_mock: HTTPXMock) -> None:
    fail(httpx_mock, OR_KEY_1, 401, OR_401)
    fail(httpx_mock, OR_KEY_2, 401, OR_401)
    with pytest.raises(AllCandidatesFailed):
        await router.complete(ask())
    with pytest.raises(NoCandidateAvailable) as caught:
        await router.complete(ask())
    assert caught.value.retry_at is None
    said = str(caught.value)
    assert "key OPENROUTER_API_KEY_1 is disabled (User not found.)" in said and "1 more disabled" in said
    assert len(httpx_mock.get_requests()) == 2


# --- streams -----------------------------------------------------------------------------------------


async def test_error_after_the_first_token_breaks_the_stream_without_failover(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    stream_body(
        httpx_mock,
        OR_KEY_1,
        [b": OPENROUTER PROCESSING\n\n", or_chunk(""), or_chunk("The capital"), or_chunk(" of"), OR_MID_STREAM_ERROR],
    )
    received: list[str] = []
    with pytest.raises(StreamBroken) as caught:
        await collect(router, ask(), received)
    assert received == ["The capital", " of"]
    assert summary(caught.value.attempts) == [("openrouter", "OPENROUTER_API_KEY_1", Outcome.FAILED, ErrorKind.SERVER)]
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1"]


async def test_connection_cut_after_the_first_token_breaks_the_stream_without_a_retry(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    class Cut(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield or_chunk("The capital")
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    httpx_mock.add_response(**matching(OR_KEY_1), stream=Cut(), headers={"Content-Type": "text/event-stream"})
    received: list[str] = []
    with pytest.raises(StreamBroken):
        await collect(router, ask(), received)
    assert received == ["The capital"]
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1"]


async def test_error_before_the_first_token_fails_over_and_the_caller_sees_only_the_next_keys_text(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    stream_body(httpx_mock, OR_KEY_1, [b": OPENROUTER PROCESSING\n\n", or_chunk(""), OR_ERROR_ONLY_CHUNK])
    answer(httpx_mock, OR_KEY_2, "Paris", " it is.")
    received: list[str] = []
    result = await collect(router, ask(), received)
    assert received == ["Paris", " it is."]
    assert result.text == "Paris it is."
    assert summary(result.attempts) == [
        ("openrouter", "OPENROUTER_API_KEY_1", Outcome.FAILED, ErrorKind.SERVER),
        ("openrouter", "OPENROUTER_API_KEY_2", Outcome.OK, None),
    ]


async def test_caller_leaving_mid_stream_records_a_cancelled_attempt(router: Router, httpx_mock: HTTPXMock) -> None:
    answer(httpx_mock, OR_KEY_1, "The capital", " of France is Paris.")
    async with aclosing(router.stream(ask())) as items:
        async for item in items:
            assert item == TextDelta("The capital")
            break
    rows = router.store.attempts()
    assert [(r.key_label, r.outcome) for r in rows] == [("OPENROUTER_API_KEY_1", "cancelled")]


# --- the attempt cap and the deadline ----------------------------------------------------------------


async def test_attempt_cap_limits_the_number_of_requests(make_router: MakeRouter, httpx_mock: HTTPXMock) -> None:
    router = make_router(LLMROUTE_MAX_ATTEMPTS="2", OPENROUTER_API_KEY_3=OR_KEY_3)
    fail(httpx_mock, OR_KEY_1, 500, OR_500)
    fail(httpx_mock, OR_KEY_2, 500, OR_500)
    with pytest.raises(AllCandidatesFailed) as caught:
        await router.complete(ask())
    assert len(caught.value.attempts) == 2
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2"]
    assert state_of(router, OR_KEY_3) is None


async def test_attempt_cap_also_bounds_the_retry_of_the_same_target(
    make_router: MakeRouter, httpx_mock: HTTPXMock
) -> None:
    router = make_router(LLMROUTE_MAX_ATTEMPTS="1")
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), **matching(OR_KEY_1), is_reusable=True)
    with pytest.raises(AllCandidatesFailed) as caught:
        await router.complete(ask())
    sent = len(httpx_mock.get_requests())
    assert sent == 1, (
        f"LLMROUTE_MAX_ATTEMPTS=1 but the router made {sent} HTTP attempts: the retry of the same "
        "target in Router._try (llmroute/router.py) never checks settings.max_attempts"
    )
    assert len(caught.value.attempts) == 1


async def test_overall_deadline_stops_the_cascade(router: Router, httpx_mock: HTTPXMock) -> None:
    async def stalls(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(500)

    httpx_mock.add_callback(stalls, **matching(OR_KEY_1))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        await router.complete(ask(timeout=0.3))
    assert time.monotonic() - started < 2
    assert [a.error_kind for a in caught.value.attempts] == [ErrorKind.TIMEOUT]
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1"]


async def test_running_out_of_the_callers_deadline_cools_no_key(router: Router, httpx_mock: HTTPXMock) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(500)

    httpx_mock.add_callback(slow, **matching(OR_KEY_1))
    with pytest.raises(DeadlineExceeded):
        await router.complete(ask(timeout=0.3))
    assert state_of(router, OR_KEY_1) is None


async def test_a_provider_silent_past_the_stall_limit_is_cooled(
    router: Router, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llmroute.router, "STALL_TIMEOUT", 0.2)
    httpx_mock.add_exception(httpx.ReadTimeout("stalled"), **matching(OR_KEY_1))
    httpx_mock.add_exception(httpx.ReadTimeout("stalled"), **matching(OR_KEY_1))
    answer(httpx_mock, OR_KEY_2, "Paris.")
    result = await router.complete(ask(timeout=30))
    assert result.key_label == "OPENROUTER_API_KEY_2"
    assert cooldown_of(router, OR_KEY_1) > time.time()
    assert httpx_mock.get_requests()[0].extensions["timeout"]["read"] == 0.2


# --- the ledger and the attempts of a result ---------------------------------------------------------


async def test_ledger_has_one_row_per_http_attempt_with_tokens_and_cost_for_the_success(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    body, headers = or_rate_limit(time.time() + 45)
    fail(httpx_mock, OR_KEY_1, 429, body, headers)
    answer(httpx_mock, OR_KEY_2, "Paris.")
    result = await router.complete(ask())
    rows = router.store.attempts()
    assert len(rows) == len(httpx_mock.get_requests()) == 2
    failed, ok = rows
    assert {failed.request_id, ok.request_id} == {result.request_id}
    assert (failed.key_label, failed.key_fingerprint, failed.outcome, failed.error_kind, failed.http_status) == (
        "OPENROUTER_API_KEY_1",
        fingerprint(OR_KEY_1),
        "failed",
        "rate_limited",
        429,
    )
    assert (failed.tokens_in, failed.tokens_out, failed.cost_micros) == (None, None, None)
    assert (ok.key_label, ok.key_fingerprint, ok.outcome, ok.error_kind, ok.http_status) == (
        "OPENROUTER_API_KEY_2",
        fingerprint(OR_KEY_2),
        "ok",
        None,
        None,
    )
    assert (ok.provider, ok.model) == ("openrouter", "openai/gpt-4o-mini")
    assert (ok.tokens_in, ok.tokens_out, ok.cost_micros) == (14, 7, 42)
    assert ok.ttft_ms is not None and ok.latency_ms >= ok.ttft_ms >= 0


async def test_ledger_counts_the_retry_of_the_same_target_as_its_own_row(router: Router, httpx_mock: HTTPXMock) -> None:
    for _ in range(2):
        httpx_mock.add_exception(httpx.ReadTimeout("timed out"), **matching(OR_KEY_1))
    answer(httpx_mock, OR_KEY_2, "Paris.")
    await router.complete(ask())
    rows = router.store.attempts()
    assert [(r.key_label, r.outcome, r.error_kind) for r in rows] == [
        ("OPENROUTER_API_KEY_1", "failed", "timeout"),
        ("OPENROUTER_API_KEY_1", "failed", "timeout"),
        ("OPENROUTER_API_KEY_2", "ok", None),
    ]


async def test_no_ledger_row_or_key_state_ever_holds_a_key_secret(
    router: Router, httpx_mock: HTTPXMock, tmp_path: Path
) -> None:
    echo = or_error(401, f"Invalid API key: {OR_KEY_1} (Authorization: Bearer {OR_KEY_1})")
    fail(httpx_mock, OR_KEY_1, 401, echo)
    fail(httpx_mock, OR_KEY_2, 500, or_error(500, f"upstream rejected {OR_KEY_2}", metadata={"raw": OR_KEY_2}))
    fail(httpx_mock, OLLAMA_KEY, 401, json.dumps({"error": f"unauthorized: {OLLAMA_KEY}"}).encode())
    with pytest.raises(AllCandidatesFailed) as caught:
        await router.complete(ask("gpt-oss:120b"))
    rows = router.store.attempts()
    assert len(rows) == 3
    stored = [*(asdict(r) for r in rows), *(asdict(s) for s in router.store.all_holds())]
    shown = [asdict(a) for a in caught.value.attempts]
    for record in stored + shown:
        for name, value in record.items():
            for secret in SECRETS:
                assert secret not in str(value), f"a key secret is stored in {name}"
    for secret in SECRETS:
        assert secret not in str(caught.value)
    for file in tmp_path.rglob("state.db*"):
        data = file.read_bytes()
        assert not any(secret.encode() in data for secret in SECRETS), f"a key secret is in {file.name}"


async def test_result_lists_every_attempt_in_order_with_its_outcome(router: Router, httpx_mock: HTTPXMock) -> None:
    fail(httpx_mock, OLLAMA_KEY, 503, OLLAMA_BUSY)
    body, headers = or_rate_limit(time.time() + 45)
    fail(httpx_mock, OR_KEY_1, 429, body, headers)
    answer(httpx_mock, OR_KEY_2, "Paris.", model="moonshotai/kimi-k2.6")
    result = await router.complete(ask(KIMI))
    assert [(a.provider, a.model, a.key_label, a.outcome, a.error_kind, a.status) for a in result.attempts] == [
        ("ollama", "kimi-k2.6", "OLLAMA_API_KEY", Outcome.FAILED, ErrorKind.OVERLOADED, 503),
        ("openrouter", "moonshotai/kimi-k2.6", "OPENROUTER_API_KEY_1", Outcome.FAILED, ErrorKind.RATE_LIMITED, 429),
        ("openrouter", "moonshotai/kimi-k2.6", "OPENROUTER_API_KEY_2", Outcome.OK, None, None),
    ]
    assert [a.key_mask for a in result.attempts] == [mask(OLLAMA_KEY), mask(OR_KEY_1), mask(OR_KEY_2)]
    assert result.attempts[-1].usage == result.usage == Usage(14, 7, 42)
    assert [(r.key_label, r.outcome) for r in router.store.attempts()] == [
        (a.key_label, a.outcome.value) for a in result.attempts
    ]


# --- key selection -----------------------------------------------------------------------------------


async def test_round_robin_spreads_consecutive_requests_over_the_keys(
    make_router: MakeRouter, httpx_mock: HTTPXMock
) -> None:
    router = make_router(LLMROUTE_KEY_SELECTION="round-robin", OPENROUTER_API_KEY_3=OR_KEY_3)
    for secret in (OR_KEY_1, OR_KEY_2, OR_KEY_3, OR_KEY_1):
        answer(httpx_mock, secret, "Paris.")
    labels = [(await router.complete(ask())).key_label for _ in range(4)]
    assert labels == ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2", "OPENROUTER_API_KEY_3", "OPENROUTER_API_KEY_1"]


async def test_round_robin_still_fails_over_to_the_following_key(
    make_router: MakeRouter, httpx_mock: HTTPXMock
) -> None:
    router = make_router(LLMROUTE_KEY_SELECTION="round-robin")
    answer(httpx_mock, OR_KEY_1, "Paris.")
    fail(httpx_mock, OR_KEY_2, 500, OR_500)
    answer(httpx_mock, OR_KEY_1, "Paris.")
    await router.complete(ask())
    result = await router.complete(ask())
    assert [a.key_label for a in result.attempts] == ["OPENROUTER_API_KEY_2", "OPENROUTER_API_KEY_1"]


# --- privacy -----------------------------------------------------------------------------------------


async def test_privacy_critical_contacts_only_the_local_ollama(make_router: MakeRouter, httpx_mock: HTTPXMock) -> None:
    router = make_router(OLLAMA_HOST=LOCAL_HOST)
    answer(httpx_mock, None, "Paris.", model="gpt-oss:120b")
    result = await router.complete(ask("gpt-oss:120b", privacy=Privacy.CRITICAL))
    assert (result.provider, result.key_label, result.text) == ("local", "local", "Paris.")
    assert [str(r.url) for r in httpx_mock.get_requests()] == [LOCAL_URL]
    assert contacted(httpx_mock) == ["local"]


async def test_privacy_critical_refuses_rather_than_fall_back_to_the_cloud(
    make_router: MakeRouter, httpx_mock: HTTPXMock
) -> None:
    router = make_router(OLLAMA_HOST=LOCAL_HOST)
    httpx_mock.add_response(
        url=LOCAL_URL, method="POST", status_code=500, json={"error": "llama runner process has terminated"}
    )
    with pytest.raises(PrivacyRefused):
        await router.complete(ask("gpt-oss:120b", privacy=Privacy.CRITICAL))
    assert [str(r.url) for r in httpx_mock.get_requests()] == [LOCAL_URL]


# --- costing -------------------------------------------------------------------------------------------


async def test_a_call_without_a_reported_cost_is_costed_from_the_cached_catalogue(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    from llmroute.types import ModelInfo

    router.store.replace_catalog(
        "openrouter",
        [ModelInfo("openrouter", "openai/gpt-4o-mini", prompt_price=0.15, completion_price=0.6)],
        time.time(),
    )
    no_cost = {k: v for k, v in USAGE.items() if k != "cost"}
    body = [or_chunk("Paris."), or_chunk("", "stop", usage=no_cost), b"data: [DONE]\n\n"]
    stream_body(httpx_mock, OR_KEY_1, body)
    result = await router.complete(ask())
    expected = round(14 * 0.15 + 7 * 0.6)
    assert (result.usage.cost_micros, result.usage.cost_estimated) == (expected, True)
    (row,) = router.store.attempts()
    assert (row.cost_micros, bool(row.cost_estimated)) == (expected, True)


async def test_a_reported_cost_is_kept_and_not_marked_as_an_estimate(router: Router, httpx_mock: HTTPXMock) -> None:
    answer(httpx_mock, OR_KEY_1, "Paris.")
    result = await router.complete(ask())
    assert (result.usage.cost_micros, result.usage.cost_estimated) == (42, False)


def outcomes(router: Router) -> list[str]:
    return [row.outcome for row in router.store.attempts()]


async def test_the_answer_is_settled_before_the_result_is_yielded(router: Router, httpx_mock: HTTPXMock) -> None:
    answer(httpx_mock, OR_KEY_1, "Paris.")
    async with aclosing(router.stream(ask(), buffered=True)) as items:
        async for item in items:
            if isinstance(item, ChatResult):
                assert outcomes(router) == ["ok"]


async def test_settle_after_result_settles_once_the_caller_is_done_with_the_result(
    router: Router, httpx_mock: HTTPXMock
) -> None:
    """A gateway sends the answer first; the ledger row is settled as soon as it resumes or closes the stream."""
    answer(httpx_mock, OR_KEY_1, "Paris.")
    answer(httpx_mock, OR_KEY_1, "Paris.")
    async with aclosing(router.stream(ask(), buffered=True, settle_after_result=True)) as items:
        async for item in items:
            if isinstance(item, ChatResult):
                assert outcomes(router) == ["pending"]
    assert outcomes(router) == ["ok"]
    async with aclosing(router.stream(ask(), buffered=True, settle_after_result=True)) as items:
        result = await anext(items)
        assert isinstance(result, ChatResult) and outcomes(router) == ["ok", "pending"]
    assert outcomes(router) == ["ok", "ok"]
