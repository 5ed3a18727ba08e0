"""The Prometheus families (``llmroute.reports.metrics``) on a real state file: the ledger's counters equal its
sums and never go down, the window families count what their window holds, states and budgets are
``llmroute status``'s, the gateway's live instruments count what they are told, and the Grafana dashboard only
asks for families that exist."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from llmroute.config import ProviderSettings, Settings
from llmroute.errors import ErrorKind
from llmroute.keys import ApiKey
from llmroute.limits import BreakerSettings, Budget, Limits
from llmroute.reports import build_status
from llmroute.reports.metrics import (
    LATENCY_BUCKETS_MS,
    RECENT_WINDOW,
    TTFT_BUCKETS_MS,
    LiveMetrics,
    exposition,
)
from llmroute.store import Address, AttemptRow, Store, Ticket
from llmroute.types import Attempt, Outcome, Usage
from tests.conftest import OLLAMA_KEYS, OR_KEYS, assert_no_secret

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC).timestamp()
OR1 = ApiKey("openrouter", "OPENROUTER_API_KEY_1", OR_KEYS[0])
OR2 = ApiKey("openrouter", "OPENROUTER_API_KEY_2", OR_KEYS[1])
ROTATED = ApiKey("openrouter", "OPENROUTER_API_KEY_1", OR_KEYS[2])
"""A new secret under OR1's variable name: the same series."""
OLL = ApiKey("ollama", "OLLAMA_API_KEY", OLLAMA_KEYS[0])
MODEL = "openai/gpt-4o-mini"
DASHBOARD = Path(__file__).resolve().parent.parent / "dashboards" / "llmroute.json"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def settings(limits: Limits | None = None) -> Settings:
    providers = (
        ProviderSettings("ollama", "ollama", "http://127.0.0.1:1", "OLLAMA_API_KEY", keys=(OLL,)),
        ProviderSettings("openrouter", "openrouter", "http://127.0.0.1:1", "OPENROUTER_API_KEY", keys=(OR1, OR2)),
    )
    return Settings(providers=providers, provider_order=("ollama", "openrouter"), limits=limits or Limits())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "state.db")
    yield store
    store.close()


def row(
    key: ApiKey | None = OR1,
    *,
    ts: float = NOW - 60,
    request: str = "r1",
    outcome: str = "ok",
    kind: str | None = None,
    model: str = MODEL,
    latency: float = 200.0,
    ttft: float | None = None,
    tokens: tuple[int, int] = (10, 20),
    cost: int | None = 100,
    estimated: bool = False,
) -> AttemptRow:
    ok = outcome == "ok"
    return AttemptRow(
        ts=ts,
        request_id=request,
        provider=key.provider if key else "local",
        key_label=key.label if key else "local",
        key_fingerprint=key.fingerprint if key else None,
        model=model,
        outcome=outcome,
        error_kind=kind if outcome == "failed" else None,
        http_status=None,
        message=None,
        latency_ms=latency,
        ttft_ms=ttft,
        tokens_in=tokens[0] if ok else None,
        tokens_out=tokens[1] if ok else None,
        cost_micros=cost if ok else None,
        cost_estimated=estimated,
    )


def scrape(store: Store, the_settings: Settings | None = None, live: LiveMetrics | None = None) -> str:
    body, content_type = exposition(the_settings or settings(), store, live, clock=lambda: NOW)
    assert content_type.startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert_no_secret(text, "the metrics")
    return text


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


def series(key: ApiKey, model: str = MODEL) -> dict[str, str]:
    return {"provider": key.provider, "key": key.label, "model": model}


def family_names(text: str) -> list[str]:
    return [family.name for family in text_string_to_metric_families(text)]


def test_counters_equal_the_ledger(store: Store) -> None:
    rows = [
        row(OR1, request="a", tokens=(11, 22), cost=300),
        row(OR1, request="b", outcome="failed", kind="server"),
        row(OR1, request="b", tokens=(5, 6), cost=40, estimated=True),
        row(OR1, request="c", outcome="cancelled"),
        row(OR2, request="d", model="moonshotai/kimi-k2.6", tokens=(1, 2), cost=7),
        row(OLL, request="e", model="gpt-oss:120b", cost=None),
        row(None, request="f", model="llama3.2", cost=None),
    ]
    store.record_attempts(rows)
    found = samples(scrape(store))
    for key, model in ((OR1, MODEL), (OR2, "moonshotai/kimi-k2.6"), (OLL, "gpt-oss:120b")):
        mine = [r for r in rows if r.key_label == key.label and r.model == model]
        labels = series(key, model)
        for outcome in ("ok", "failed"):
            expected = sum(r.outcome == outcome for r in mine)
            assert value(found, "llmroute_calls_total", **labels, outcome=outcome) == expected
        assert value(found, "llmroute_calls_total", **labels, outcome="other") == sum(
            r.outcome not in ("ok", "failed") for r in mine
        )
        assert value(found, "llmroute_tokens_total", **labels, direction="in") == sum(r.tokens_in or 0 for r in mine)
        assert value(found, "llmroute_tokens_total", **labels, direction="out") == sum(r.tokens_out or 0 for r in mine)
        reported = sum(r.cost_micros or 0 for r in mine if not r.cost_estimated)
        estimated = sum(r.cost_micros or 0 for r in mine if r.cost_estimated)
        assert value(found, "llmroute_cost_usd_total", **labels, source="reported") == reported / 1e6
        assert value(found, "llmroute_cost_usd_total", **labels, source="estimated") == estimated / 1e6
    assert value(found, "llmroute_unpriced_calls_total", **series(OLL, "gpt-oss:120b")) == 1
    keyless = {"provider": "local", "key": "local", "model": "llama3.2"}
    assert value(found, "llmroute_calls_total", **keyless, outcome="ok") == 1
    total_calls = sum(v for (name, _), v in found.items() if name == "llmroute_calls_total")
    assert total_calls == len(rows)


def test_counters_never_go_down_as_attempts_settle_or_are_pruned(store: Store) -> None:
    old = NOW - 200 * 86_400
    store.record_attempts([row(OR1, ts=old, cost=500), row(OR1, ts=old, outcome="failed", kind="timeout")])
    ticket = Ticket("p", "openrouter", MODEL, OR1.label, OR1.fingerprint, False, reserve_micros=1_000)
    attempt = store.admit(ticket, NOW - 5)
    assert isinstance(attempt, int)
    before = samples(scrape(store))
    labels = series(OR1)
    assert value(before, "llmroute_calls_in_flight", **labels) == 1
    assert value(before, "llmroute_calls_total", **labels, outcome="other") == 0  # in flight is not "other"

    store.settle(attempt, row(OR1, ts=NOW - 5, request="p", cost=250))
    cutoff = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert store.prune(cutoff=cutoff).deleted == 2
    after = samples(scrape(store))
    assert value(after, "llmroute_calls_in_flight", **labels) == 0
    assert value(after, "llmroute_calls_total", **labels, outcome="ok") == 2
    assert value(after, "llmroute_calls_total", **labels, outcome="failed") == 1
    assert value(after, "llmroute_cost_usd_total", **labels, source="reported") == 750 / 1e6
    for key, number in before.items():
        if key[0].endswith("_total"):
            assert after.get(key, 0.0) >= number, key
    # The pruned failure is outside the window: errors by kind count only what the raw ledger still holds.
    assert not [k for k in after if k[0] == "llmroute_recent_errors"]


def test_a_rotated_key_under_the_same_name_is_one_series(store: Store) -> None:
    store.record_attempts([row(OR1, request="a"), row(ROTATED, request="b")])
    found = samples(scrape(store))
    assert value(found, "llmroute_calls_total", **series(OR1), outcome="ok") == 2


def test_window_families_count_the_last_hour_of_the_raw_ledger(store: Store) -> None:
    early = NOW - RECENT_WINDOW - 10
    store.record_attempts(
        [
            row(OR1, ts=early, request="old", outcome="failed", kind="rate_limited"),
            row(OR1, ts=NOW - 30, request="x", outcome="failed", kind="rate_limited"),
            row(OR1, ts=NOW - 29, request="x", outcome="failed", kind="server"),
            row(OR2, ts=NOW - 28, request="x", latency=90.0, ttft=40.0),
            row(OR2, ts=NOW - 20, request="y", latency=1_000.0, ttft=300.0),
            row(OR2, ts=NOW - 10, request="z", latency=45_000.0),
            row(OR2, ts=early, request="w", latency=10.0),
        ]
    )
    found = samples(scrape(store))
    assert value(found, "llmroute_recent_errors", **series(OR1), kind="rate_limited") == 1
    assert value(found, "llmroute_recent_errors", **series(OR1), kind="server") == 1
    assert value(found, "llmroute_recent_requests") == 3
    assert value(found, "llmroute_recent_failovers") == 2
    assert value(found, "llmroute_recent_window_seconds") == RECENT_WINDOW

    name = "llmroute_recent_attempt_latency_seconds"
    buckets = {
        float(dict(labels)["le"]): n
        for (sample, labels), n in found.items()
        if sample == f"{name}_bucket" and ("key", OR2.label) in labels
    }
    assert len(buckets) == len(LATENCY_BUCKETS_MS) + 1
    assert buckets[0.1] == 1 and buckets[1.0] == 2 and buckets[30.0] == 2 and buckets[60.0] == 3
    assert buckets[math.inf] == 3
    assert not [k for k in found if k[0] == f"{name}_bucket" and ("key", OR1.label) in k[1]]  # failures only
    assert value(found, f"{name}_gcount", **series(OR2)) == 3
    assert value(found, f"{name}_gsum", **series(OR2)) == pytest.approx(46.09)
    ttft = "llmroute_recent_attempt_ttft_seconds"
    assert value(found, f"{ttft}_bucket", **series(OR2), le="0.05") == 1
    assert value(found, f"{ttft}_bucket", **series(OR2), le="+Inf") == 2
    assert len([k for k in found if k[0] == f"{ttft}_bucket"]) == len(TTFT_BUCKETS_MS) + 1


def test_states_and_budgets_are_those_status_shows(store: Store) -> None:
    limits = Limits(
        total_budget=Budget(daily=0.001),
        provider_budgets={"openrouter": Budget(monthly=10.0)},
        key_budgets={OR2.label: Budget(daily=1.0)},
    )
    the_settings = settings(limits)
    store.record_attempts([row(OR1, ts=NOW - 60, cost=400)])
    slot = next(s for s in the_settings.all_slots() if s.label == OLL.label)
    store.record_failure(
        Address("key", slot.id),
        provider="ollama",
        label=OLL.label,
        endpoint=slot.endpoint,
        now=NOW - 1,
        error_kind="auth",
        reason="unauthorized",
        effect="disable",
        deadline=None,
    )
    breaker = BreakerSettings(consecutive_failures=1)
    store.breaker_record("openrouter", NOW - 1, error_kind="server", reason="503", settings=breaker)
    found = samples(scrape(store, the_settings))
    status = build_status(the_settings, store, NOW)
    for key in status.keys:
        states = {
            labels: v
            for (name, labels), v in found.items()
            if name == "llmroute_key_state" and ("key", key.key.label) in labels
        }
        assert sum(states.values()) == 1 and len(states) == 5
        assert value(found, "llmroute_key_state", provider=key.key.provider, key=key.key.label, state=key.state) == 1
    assert value(found, "llmroute_key_state", provider="ollama", key=OLL.label, state="disabled") == 1
    assert value(found, "llmroute_breaker_state", provider="openrouter", state="open") == 1
    assert value(found, "llmroute_breaker_state", provider="openrouter", state="closed") == 0
    assert value(found, "llmroute_breaker_consecutive_failures", provider="openrouter") == 1
    total = {"scope": "total", "name": "total", "period": "day"}
    assert value(found, "llmroute_budget_limit_usd", **total) == 0.001
    assert value(found, "llmroute_budget_used_usd", **total) == 0.0004
    assert value(found, "llmroute_budget_used_ratio", **total) == pytest.approx(0.4)
    assert value(found, "llmroute_budget_limit_usd", scope="provider", name="openrouter", period="month") == 10
    assert value(found, "llmroute_budget_limit_usd", scope="key", name=OR2.label, period="day") == 1


def test_the_gateway_counts_what_it_is_told(store: Store) -> None:
    live = LiveMetrics()
    failed = Attempt("openrouter", MODEL, OR1.label, "…", Outcome.FAILED, ErrorKind.RATE_LIMITED, 429)
    ok = Attempt("openrouter", MODEL, OR2.label, "…", Outcome.OK, latency_ms=1_500.0, ttft_ms=200.0, usage=Usage())
    live.observe(api="openai", status=200, seconds=1.7, ttft_seconds=0.4, attempts=[failed, ok], stream=True)
    live.observe(api="ollama", status=502, seconds=0.2, ttft_seconds=None, attempts=[failed], stream=False)
    found = samples(scrape(store, live=live))
    assert value(found, "llmroute_gateway_requests_total", api="openai", code="200", stream="true") == 1
    assert value(found, "llmroute_gateway_requests_total", api="ollama", code="502", stream="false") == 1
    assert value(found, "llmroute_gateway_failovers_total", api="openai") == 1
    assert value(found, "llmroute_gateway_attempt_errors_total", **series(OR1), kind="rate_limited") == 2
    assert value(found, "llmroute_gateway_request_duration_seconds_count", api="openai", stream="true") == 1
    assert value(found, "llmroute_gateway_request_duration_seconds_bucket", api="openai", stream="true", le="2.5") == 1
    assert value(found, "llmroute_gateway_ttft_seconds_sum", api="openai") == pytest.approx(0.4)
    assert value(found, "llmroute_gateway_attempt_duration_seconds_count", **series(OR2)) == 1
    assert value(found, "llmroute_gateway_attempt_duration_seconds_sum", **series(OR2)) == pytest.approx(1.5)
    assert value(found, "llmroute_gateway_attempt_ttft_seconds_bucket", **series(OR2), le="0.25") == 1
    assert value(found, "llmroute_gateway_attempt_duration_seconds_count", **series(OR1)) == 0


def test_gateways_keep_their_own_registry(store: Store) -> None:
    first, second = LiveMetrics(process=False), LiveMetrics(process=False)
    first.observe(api="openai", status=200, seconds=0.1, ttft_seconds=None, attempts=[], stream=False)
    found = samples(scrape(store, live=second))
    assert value(found, "llmroute_gateway_requests_total", api="openai", code="200", stream="false") == 0
    assert not [n for n in REGISTRY._names_to_collectors if n.startswith("llmroute")]


def test_names_are_unique_and_documented(store: Store) -> None:
    store.record_attempts([row(OR1, ttft=10.0), row(OR1, outcome="failed", kind="auth")])
    text = scrape(store, live=LiveMetrics())
    names = family_names(text)
    assert len(names) == len(set(names))
    assert all(n.startswith(("llmroute_", "process_")) for n in names)
    assert "process_start_time_seconds" in names or not Path("/proc/self/stat").exists()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            assert len(line.split(" ", 3)) == 4, line


def test_openmetrics_is_served_when_asked(store: Store) -> None:
    store.record_attempts([row(OR1, ttft=10.0)])
    body, content_type = exposition(
        settings(), store, LiveMetrics(), accept="application/openmetrics-text; version=1.0.0", clock=lambda: NOW
    )
    assert content_type.startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(body.decode())}
    assert families["llmroute_calls"].type == "counter"
    assert families["llmroute_recent_attempt_latency_seconds"].type == "gaugehistogram"


# --- The Grafana dashboard --------------------------------------------------------------------------------------

PROMQL_NAME = re.compile(r"\b((?:llmroute|process)_[a-z0-9_]+)")
SUFFIXES = ("_bucket", "_count", "_sum", "_gcount", "_gsum", "_total", "_created")


def _panels(panels: Iterable[dict]) -> Iterable[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", ()))


def test_the_dashboard_asks_only_for_families_that_exist(store: Store) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    rows = [p["title"] for p in _panels(dashboard["panels"]) if p["type"] == "row"]
    assert [r.split(":")[0].lower() for r in rows] == ["overview", "latency", "cost against budgets", "reliability"]
    store.record_attempts([row(OR1, ttft=10.0)])
    known = set()
    for family in text_string_to_metric_families(scrape(store, live=LiveMetrics())):
        known |= {family.name, *(s.name for s in family.samples)}
    queries = [t["expr"] for p in _panels(dashboard["panels"]) for t in p.get("targets", ())]
    queries += [
        v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query", "")
        for v in dashboard["templating"]["list"]
        if v["type"] == "query"
    ]
    assert len(queries) >= 16
    used = {name for query in queries for name in PROMQL_NAME.findall(query)}
    unknown = sorted(
        name for name in used if name not in known and not any(name.removesuffix(s) in known for s in SUFFIXES)
    )
    assert not unknown, f"the dashboard asks for families no scrape has: {unknown}"
    ids = [p["id"] for p in _panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] and dashboard["title"]
