"""The router under rate limits, budgets and breakers: refused candidates cost no round trip."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from pytest_httpx import HTTPXMock

from llmroute.config import load_settings
from llmroute.errors import NoCandidateAvailable
from llmroute.limits import BreakerSettings, Budget, Limits, Price, RateLimit
from llmroute.router import Router
from llmroute.store import Store
from tests.test_router import OR_KEY_1, OR_KEY_2, OR_ONLY, answer, ask, base_env, contacted, fail, or_error

MakeRouter = Callable[[Limits], Router]


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[MakeRouter]:
    opened: list[Router] = []

    def make(limits: Limits) -> Router:
        settings = dataclasses.replace(load_settings(base_env(tmp_path)), limits=limits)
        router = Router(settings, Store.open(settings.state_path))
        opened.append(router)
        return router

    yield make
    for router in opened:
        await router.aclose()
        router.store.close()


async def test_a_key_at_its_limit_is_skipped_without_a_round_trip(limited: MakeRouter, httpx_mock: HTTPXMock) -> None:
    router = limited(Limits(key_limits={"OPENROUTER_API_KEY_1": RateLimit(per_minute=1)}))
    answer(httpx_mock, OR_KEY_1, "one")
    answer(httpx_mock, OR_KEY_2, "two")
    assert (await router.complete(ask())).key_label == "OPENROUTER_API_KEY_1"
    assert (await router.complete(ask())).key_label == "OPENROUTER_API_KEY_2"
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2"]


async def test_a_provider_at_its_limit_fails_limited_with_the_time_a_slot_frees(
    limited: MakeRouter, httpx_mock: HTTPXMock
) -> None:
    router = limited(Limits(provider_limits={"openrouter": RateLimit(per_hour=1)}))
    answer(httpx_mock, OR_KEY_1, "one")
    started = time.time()
    await router.complete(ask())
    with pytest.raises(NoCandidateAvailable) as caught:
        await router.complete(ask())
    assert caught.value.retry_at == pytest.approx(started + 3600, abs=5)
    assert "provider openrouter at 1 calls per hour" in str(caught.value)
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1"]


TINY_PRICE = {"openrouter": {"*": Price(prompt=0.1, completion=0.1)}}
"""Small enough that a one-token answer reserves about 2 micro-dollars."""
CATALOGUE = "http://127.0.0.1:9/api/v1/models"


async def test_a_spent_budget_names_itself_and_its_reset(limited: MakeRouter, httpx_mock: HTTPXMock) -> None:
    router = limited(Limits(provider_budgets={"openrouter": Budget(daily=0.000042)}, prices=TINY_PRICE))
    answer(httpx_mock, OR_KEY_1, "Paris.")
    await router.complete(ask(max_tokens=1))
    with pytest.raises(NoCandidateAvailable) as caught:
        await router.complete(ask(max_tokens=1))
    assert "daily budget $0.000042 of provider openrouter is spent; it resets" in str(caught.value)
    assert contacted(httpx_mock) == ["OPENROUTER_API_KEY_1"]


async def test_the_worst_case_is_reserved_from_the_configured_price_and_max_tokens(
    limited: MakeRouter, httpx_mock: HTTPXMock
) -> None:
    price = {"openrouter": {"*": Price(prompt=1.0, completion=10.0)}}
    router = limited(Limits(total_budget=Budget(daily=0.001), prices=price))
    with pytest.raises(NoCandidateAvailable):
        await router.complete(ask(max_tokens=200))
    assert contacted(httpx_mock) == [], "200 tokens x $10/M = $0.002 could overshoot $0.001"
    answer(httpx_mock, OR_KEY_1, "ok")
    assert (await router.complete(ask(max_tokens=50))).text == "ok"


async def test_budget_alerts_warn_once_per_level_and_period(
    limited: MakeRouter, httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    router = limited(Limits(total_budget=Budget(daily=0.0001), alert_at_percent=40, prices=TINY_PRICE))
    for _ in range(3):
        answer(httpx_mock, OR_KEY_1, "Paris.")
    with caplog.at_level(logging.WARNING, logger="llmroute"):
        for _ in range(3):
            await router.complete(ask(max_tokens=1))
    warnings = [r.getMessage().split(";")[0] for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "total daily budget at 42% ($0.000042 of $0.0001)",
        "total daily budget at 126% ($0.000126 of $0.0001)",
    ], "84% crossed no new level: no warning"


def catalogue(httpx_mock: HTTPXMock, *rows: dict[str, object]) -> None:
    httpx_mock.add_response(method="GET", url=CATALOGUE, json={"data": list(rows)})
    key = CATALOGUE.removesuffix("models") + "key"  # each key's report, fetched with the catalogue
    httpx_mock.add_response(method="GET", url=key, json={"data": {"label": "k"}}, is_optional=True, is_reusable=True)


async def test_an_unpriced_model_under_a_budget_is_priced_from_one_catalogue_fetch(
    limited: MakeRouter, httpx_mock: HTTPXMock
) -> None:
    router = limited(Limits(total_budget=Budget(daily=0.00004)))
    catalogue(httpx_mock, {"id": "openai/gpt-4o-mini", "pricing": {"prompt": "0.0000001", "completion": "0.0000001"}})
    answer(httpx_mock, OR_KEY_1, "Paris.")
    await router.complete(ask(max_tokens=1))
    with pytest.raises(NoCandidateAvailable, match=r"daily budget \$0.00004 of total is spent"):
        await router.complete(ask(max_tokens=1))
    assert len(httpx_mock.get_requests(url=CATALOGUE)) == 1, "one fetch, then the cache"


async def test_a_model_still_unpriced_reserves_the_configured_worst_case_never_nothing(
    limited: MakeRouter, httpx_mock: HTTPXMock
) -> None:
    router = limited(Limits(total_budget=Budget(daily=0.01), unpriced_price=Price(prompt=1.0, completion=1.0)))
    catalogue(httpx_mock, {"id": "some/other-model", "pricing": {"prompt": "0", "completion": "0"}})
    with pytest.raises(NoCandidateAvailable) as caught:
        await router.complete(ask(max_tokens=20_000))
    assert contacted(httpx_mock) == [], "20,000 tokens at the assumed $1/M could overshoot $0.01"
    assert "has $0.01 left, less than the $0.020014 a call may cost" in str(caught.value)
    assert "(openrouter:openai/gpt-4o-mini has no known price)" in str(caught.value)
    assert "[providers.openrouter.prices]" in str(caught.value), "the message says how to price it"
    answer(httpx_mock, OR_KEY_1, "ok")
    assert (await router.complete(ask(max_tokens=100))).text == "ok"


async def test_an_open_breaker_skips_the_provider_and_the_next_one_answers(
    limited: MakeRouter, httpx_mock: HTTPXMock
) -> None:
    from tests.test_router import KIMI, OLLAMA_KEY

    router = limited(Limits(breaker=BreakerSettings(consecutive_failures=1, cool_off=300)))
    fail(httpx_mock, OLLAMA_KEY, 500, b'{"error":"internal error"}')
    answer(httpx_mock, OR_KEY_1, "first")
    answer(httpx_mock, OR_KEY_1, "second")
    assert (await router.complete(ask(KIMI))).provider == "openrouter"
    assert (await router.complete(ask(KIMI))).provider == "openrouter"
    assert contacted(httpx_mock) == ["OLLAMA_API_KEY", "OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_1"]


async def test_a_4xx_the_caller_caused_never_opens_the_breaker(limited: MakeRouter, httpx_mock: HTTPXMock) -> None:
    router = limited(Limits(breaker=BreakerSettings(consecutive_failures=1)))
    fail(httpx_mock, OR_KEY_1, 400, or_error(400, "Input required"))
    answer(httpx_mock, OR_KEY_1, "ok")
    with pytest.raises(Exception, match="rejected"):
        await router.complete(ask(OR_ONLY))
    assert (await router.complete(ask(OR_ONLY))).text == "ok"
