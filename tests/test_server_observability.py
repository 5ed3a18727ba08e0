"""The gateway's ``/health``, ``/health/providers`` and ``/metrics`` in process (aiohttp's test server), over a
real router and state file pointed at the fake providers: ``/metrics`` parsed by prometheus_client's own parser,
its counters equal to the ledger's."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from llmroute import ChatRequest, Router, Store, load_settings
from llmroute.limits import BreakerSettings
from llmroute.reports import health as health_report
from llmroute.reports.metrics import LiveMetrics
from llmroute.server.gateway import Gateway
from llmroute.server.observability import add_routes
from tests.conftest import OLLAMA_KEYS, OR_KEYS, assert_no_secret, keys_env
from tests.fakes import FakeProvider, or_401, or_429

MODEL = "openrouter:openai/gpt-4o-mini"
TOKEN = "gateway-token-" + "x" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def environment(home: Path, cloud: FakeProvider) -> dict[str, str]:
    return {
        "LLMROUTE_HOME": str(home),
        "OPENROUTER_BASE_URL": cloud.openrouter_url,
        "OLLAMA_BASE_URL": cloud.ollama_url,
        **keys_env(openrouter=3, ollama=1),
    }


async def serve(gateway: Gateway) -> TestClient:
    app = web.Application()
    add_routes(app, gateway)
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    return client


@pytest.fixture
async def gateway(tmp_path: Path, cloud: FakeProvider) -> AsyncIterator[Gateway]:
    settings = load_settings(environment(tmp_path, cloud))
    store = Store.open(settings.state_path)
    async with Router(settings, store) as router:
        yield Gateway(settings, store, router, token=TOKEN, metrics=LiveMetrics())
    store.close()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[TestClient]:
    client = await serve(gateway)
    yield client
    await client.close()


async def chat(gateway: Gateway, prompt: str = "hi", api: str = "openai") -> None:
    """What a front does: ask the router, then tell the metrics."""
    start = time.perf_counter()
    result = await gateway.router.complete(ChatRequest.from_prompt(prompt, model=MODEL, stream=True))
    assert gateway.metrics is not None
    gateway.metrics.observe(
        api=api,
        status=200,
        seconds=time.perf_counter() - start,
        ttft_seconds=(result.ttft_ms or 0) / 1000,
        attempts=result.attempts,
        stream=True,
    )


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in found, f"duplicate series {key}"
            found[key] = sample.value
    return found


def value(found: Samples, family: str, /, **labels: str) -> float:
    return found.get((family, frozenset(labels.items())), 0.0)


def in_an_hour_ms() -> int:
    return int((time.time() + 3600) * 1000)


async def test_liveness_is_cheap_and_open(client: TestClient, gateway: Gateway) -> None:
    gateway.store.close()  # /health reads nothing: it answers even when the state file cannot be read
    response = await client.get("/health")
    assert response.status == 200 and await response.json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert (await client.head("/health")).status == 200


@pytest.mark.parametrize("path", ["/health/providers", "/metrics"])
async def test_the_details_need_the_gateway_token(client: TestClient, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = await client.get(path, headers=headers)
        assert response.status == 401 and response.headers["WWW-Authenticate"] == "Bearer"
        assert (await response.json())["error"]["code"] == "unauthorized"
    assert (await client.get(path, headers=AUTH)).status == 200


async def test_providers_show_breakers_and_key_states_with_reasons(
    client: TestClient, gateway: Gateway, cloud: FakeProvider
) -> None:
    cloud.script(OR_KEYS[0], or_429(reset_ms=in_an_hour_ms()))
    cloud.script(OR_KEYS[1], or_401())
    await chat(gateway)
    response = await client.get("/health/providers", headers=AUTH)
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    text = await response.text()
    assert_no_secret(text, "/health/providers")
    document = await response.json()
    assert document["status"] == "ok"
    providers = {p["name"]: p for p in document["providers"]}
    assert list(providers) == ["ollama", "openrouter"]
    openrouter = providers["openrouter"]
    assert openrouter["available"] is True
    assert openrouter["breaker"] == {"state": "closed", "consecutive_failures": 0, "open_until": None, "reason": None}
    assert openrouter["counts"] == {
        "total": 3,
        "ready": 1,
        "cooling": 1,
        "disabled": 1,
        "rate_limited": 0,
        "over_budget": 0,
    }
    keys = {k["label"]: k for k in openrouter["keys"]}
    cooling, disabled, ready = (keys[f"OPENROUTER_API_KEY_{i}"] for i in (1, 2, 3))
    assert cooling["state"] == "cooling" and cooling["until"].endswith("Z") and cooling["reason"].startswith("rate")
    assert disabled["state"] == "disabled" and disabled["until"] is None and disabled["reason"].startswith("auth")
    assert ready == {
        "label": "OPENROUTER_API_KEY_3",
        "mask": f"sk-or-v1…{OR_KEYS[2][-4:]}",
        "state": "ready",
        "until": None,
        "reason": None,
    }
    assert providers["ollama"]["keys"][0]["mask"].endswith(OLLAMA_KEYS[0][-4:])


async def test_providers_say_unavailable_when_nothing_can_answer(client: TestClient, gateway: Gateway) -> None:
    breaker = BreakerSettings(consecutive_failures=1, cool_off=600)
    now = time.time()
    for provider in ("openrouter", "ollama"):
        gateway.store.breaker_record(provider, now, error_kind="server", reason="503 upstream", settings=breaker)
    document = await (await client.get("/health/providers", headers=AUTH)).json()
    assert document["status"] == "unavailable"
    response = await client.get("/health/providers", headers=AUTH)
    assert response.status == 503
    for provider in document["providers"]:
        assert provider["available"] is False and provider["counts"]["ready"] == provider["counts"]["total"]
        assert provider["breaker"]["state"] == "open" and provider["breaker"]["open_until"].endswith("Z")
        assert provider["breaker"]["reason"] == "503 upstream"
    gateway.store.reset_breakers(["ollama"])
    degraded = await client.get("/health/providers", headers=AUTH)
    assert degraded.status == 200 and (await degraded.json())["status"] == "degraded"


async def test_metrics_counters_equal_the_ledger(client: TestClient, gateway: Gateway, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], or_429(reset_ms=in_an_hour_ms()))
    await chat(gateway, "one")
    await chat(gateway, "two", api="ollama")
    await chat(gateway, "three")
    response = await client.get("/metrics", headers=AUTH)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response.headers["Cache-Control"] == "no-store"
    text = await response.text()
    assert_no_secret(text, "/metrics")
    found = samples(text)
    rows = gateway.store.attempts()
    assert len(rows) == 4 and sum(r.outcome == "failed" for r in rows) == 1
    for key in {(r.provider, r.key_label, r.model) for r in rows}:
        mine = [r for r in rows if (r.provider, r.key_label, r.model) == key]
        labels = dict(zip(("provider", "key", "model"), key, strict=True))
        for outcome in ("ok", "failed"):
            assert value(found, "llmroute_calls_total", **labels, outcome=outcome) == sum(
                r.outcome == outcome for r in mine
            )
        for direction, column in (("in", "tokens_in"), ("out", "tokens_out")):
            assert value(found, "llmroute_tokens_total", **labels, direction=direction) == sum(
                getattr(r, column) or 0 for r in mine
            )
        for source, estimated in (("reported", False), ("estimated", True)):
            cost = sum(r.cost_micros or 0 for r in mine if bool(r.cost_estimated) == estimated)
            assert value(found, "llmroute_cost_usd_total", **labels, source=source) == cost / 1e6
    cooling = {"provider": "openrouter", "key": "OPENROUTER_API_KEY_1"}
    assert value(found, "llmroute_key_state", **cooling, state="cooling") == 1
    model = "openai/gpt-4o-mini"
    assert value(found, "llmroute_recent_errors", **cooling, model=model, kind="rate_limited") == 1

    # The gateway's own instruments, as the fronts reported the three requests.
    assert value(found, "llmroute_gateway_requests_total", api="openai", code="200", stream="true") == 2
    assert value(found, "llmroute_gateway_requests_total", api="ollama", code="200", stream="true") == 1
    assert value(found, "llmroute_gateway_failovers_total", api="openai") == 1
    assert value(found, "llmroute_gateway_attempt_errors_total", **cooling, model=model, kind="rate_limited") == 1
    ok = sum(r.outcome == "ok" for r in rows)
    attempts = sum(v for (name, _), v in found.items() if name == "llmroute_gateway_attempt_duration_seconds_count")
    assert attempts == ok == 3
    assert value(found, "llmroute_gateway_request_duration_seconds_count", api="openai", stream="true") == 2

    again = samples(await (await client.get("/metrics", headers=AUTH)).text())
    for key, number in found.items():
        if key[0].startswith("llmroute_") and key[0].endswith("_total"):
            assert again.get(key) == number, key  # a scrape counts nothing


async def test_metrics_speak_openmetrics_when_asked(client: TestClient, gateway: Gateway) -> None:
    await chat(gateway)
    accept = "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = await client.get("/metrics", headers={**AUTH, "Accept": accept})
    assert response.status == 200 and response.headers["Content-Type"].startswith("application/openmetrics-text")
    text = await response.text()
    assert text.endswith("# EOF\n")
    families: dict[str, Any] = {f.name: f for f in openmetrics_families(text)}
    assert families["llmroute_calls"].type == "counter"
    assert families["llmroute_gateway_requests"].type == "counter"


async def test_a_state_file_that_cannot_be_read_is_a_503(gateway: Gateway, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    broken = Gateway(
        dataclasses.replace(gateway.settings, state_path=blocker / "state.db"),
        gateway.store,
        gateway.router,
        metrics=LiveMetrics(),
    )
    client = await serve(broken)
    try:
        for path in ("/health/providers", "/metrics"):
            response = await client.get(path)
            assert response.status == 503, path
            document = await response.json()
            assert document["status"] == "unavailable" and document["error"]["code"] == "unavailable"
            assert str(blocker) in document["error"]["message"]
        assert (await client.get("/health")).status == 200
    finally:
        await client.close()


async def test_a_scrape_reads_on_its_own_connection_off_the_event_loop(
    client: TestClient, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    await chat(gateway)
    loop_thread = threading.get_ident()
    seen: list[int] = []
    build = health_report.build_health

    def spy(settings: Any, store: Store, now: float) -> Any:
        assert store is not gateway.store
        seen.append(threading.get_ident())
        return build(settings, store, now)

    monkeypatch.setattr(health_report, "build_health", spy)
    responses = await asyncio.gather(*(client.get("/health/providers", headers=AUTH) for _ in range(4)))
    assert [r.status for r in responses] == [200] * 4
    assert len(seen) == 4 and loop_thread not in seen
