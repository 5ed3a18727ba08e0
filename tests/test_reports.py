"""The data behind ``status`` and ``costs``: ledger sums, key states, budgets, periods; on a real state file."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from llmroute.config import ProviderSettings, Settings
from llmroute.keys import ApiKey
from llmroute.limits import BreakerSettings, Budget, Limits, RateLimit
from llmroute.reports import NO_KEY, NOT_CONFIGURED, build_costs, build_status, cost_period, usd
from llmroute.store import Address, AttemptRow, CheckRow, Store, Ticket, Totals

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC).timestamp()
DAY_START = datetime(2026, 11, 22, tzinfo=UTC).timestamp()
OR1 = ApiKey("openrouter", "OPENROUTER_API_KEY_1", "sk-or-v1-" + "1" * 40)
OR2 = ApiKey("openrouter", "OPENROUTER_API_KEY_2", "sk-or-v1-" + "2" * 40)
OLL = ApiKey("ollama", "OLLAMA_API_KEY", "o" * 32)
GONE = ApiKey("openrouter", "OPENROUTER_API_KEY_9", "sk-or-v1-" + "9" * 40)


def settings(limits: Limits | None = None, *, local: bool = False) -> Settings:
    providers = (
        ProviderSettings("ollama", "ollama", "http://127.0.0.1:1", "OLLAMA_API_KEY", keys=(OLL,)),
        ProviderSettings("openrouter", "openrouter", "http://127.0.0.1:1", "OPENROUTER_API_KEY", keys=(OR1, OR2)),
        ProviderSettings("local", "ollama", "http://127.0.0.1:2", None, local=True, enabled=local),
    )
    return Settings(providers=providers, provider_order=("ollama", "openrouter", "local"), limits=limits or Limits())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "state.db")


def row(
    key: ApiKey | None = OR1,
    *,
    ts: float = NOW - 60,
    cost: int | None = 100,
    estimated: bool = False,
    outcome: str = "ok",
    model: str = "openai/gpt-4o-mini",
    latency: float = 200.0,
    tokens: tuple[int, int] = (10, 20),
    provider: str | None = None,
) -> AttemptRow:
    return AttemptRow(
        ts=ts,
        request_id="r",
        provider=provider or (key.provider if key else "local"),
        key_label=key.label if key else "local",
        key_fingerprint=key.fingerprint if key else None,
        model=model,
        outcome=outcome,
        error_kind=None if outcome == "ok" else "server",
        http_status=None,
        message=None,
        latency_ms=latency,
        ttft_ms=None,
        tokens_in=tokens[0] if outcome == "ok" else None,
        tokens_out=tokens[1] if outcome == "ok" else None,
        cost_micros=cost if outcome == "ok" else None,
        cost_estimated=estimated,
    )


def pending(store: Store, key: ApiKey, ts: float, reserve: int) -> int:
    ticket = Ticket("r", key.provider, "m", key.label, key.fingerprint, False, reserve_micros=reserve)
    attempt = store.admit(ticket, ts)
    assert isinstance(attempt, int)
    return attempt


def by_label(status_keys):  # type: ignore[no-untyped-def]
    return {k.key.label: k for k in status_keys}


def test_usd_is_exact() -> None:
    assert [usd(42), usd(0), usd(1_234_500_000), usd(-5)] == ["0.000042", "0.000000", "1234.500000", "-0.000005"]


def test_key_totals_separate_reported_from_estimated_and_count_failures_as_calls(store: Store) -> None:
    store.record_attempt(row(cost=1_234_567))
    store.record_attempt(row(cost=89, estimated=True, tokens=(5, 7)))
    store.record_attempt(row(outcome="failed"))
    store.record_attempt(row(cost=None))
    store.record_attempt(row(ts=DAY_START - 1, cost=999))  # yesterday
    store.record_attempt(row(OR2, cost=3))
    totals = store.totals_by_key(DAY_START, DAY_START + 86400)
    assert totals[OR1.fingerprint] == Totals(
        calls=4, ok=3, failed=1, tokens_in=25, tokens_out=47, reported_micros=1_234_567, estimated_micros=89, unpriced=1
    )
    assert totals[OR1.fingerprint].cost_micros == 1_234_656
    assert totals[OR2.fingerprint].cost_micros == 3


def test_a_pending_attempt_is_a_call_but_never_a_cost(store: Store) -> None:
    pending(store, OR1, NOW - 10, reserve=5_000)
    (group,) = store.grouped_totals("key", DAY_START, DAY_START + 86400)
    assert (group.totals.calls, group.totals.cost_micros) == (1, 0)


def test_a_keyless_provider_is_grouped_under_its_provider(store: Store) -> None:
    store.record_attempt(row(None, cost=0, estimated=True))
    assert set(store.totals_by_key(DAY_START, DAY_START + 86400)) == {"provider:local"}


def test_grouping_by_day_uses_the_utc_date(store: Store) -> None:
    store.record_attempt(row(ts=DAY_START - 0.5, cost=1))
    store.record_attempt(row(ts=DAY_START, cost=2))
    groups = store.grouped_totals("day", DAY_START - 86400, DAY_START + 86400)
    assert [(g.names[0], g.totals.cost_micros) for g in groups] == [("2026-11-21", 1), ("2026-11-22", 2)]


def test_latencies_come_from_successful_calls_only(store: Store) -> None:
    for ts, latency in ((NOW - 7200, 900.0), (NOW - 300, 100.0), (NOW - 200, 300.0), (NOW - 100, 200.0)):
        store.record_attempt(row(ts=ts, latency=latency))
    store.record_attempt(row(ts=NOW - 50, latency=5.0, outcome="failed"))
    assert store.last_latencies([OR1.fingerprint, OR2.fingerprint]) == {OR1.fingerprint: 200.0}
    assert store.latencies_since(NOW - 3600) == {OR1.fingerprint: [100.0, 300.0, 200.0]}
    key = by_label(build_status(settings(), store, NOW).keys)["OPENROUTER_API_KEY_1"]
    assert (key.last_latency_ms, key.p50_latency_ms) == (200.0, 200.0)


def test_every_configured_key_is_listed_ready_without_history(store: Store) -> None:
    status = build_status(settings(local=True), store, NOW)
    assert [(k.key.provider, k.key.label, k.state) for k in status.keys] == [
        ("ollama", "OLLAMA_API_KEY", "ready"),
        ("openrouter", "OPENROUTER_API_KEY_1", "ready"),
        ("openrouter", "OPENROUTER_API_KEY_2", "ready"),
        ("local", "local", "ready"),
    ]
    assert status.keys[1].key.mask() == OR1.mask() and status.keys[3].key.mask() == NO_KEY
    assert all(k.today == Totals() and k.last_check is None for k in status.keys)
    assert [p.name for p in status.providers] == ["ollama", "openrouter", "local"]
    assert all(p.breaker.state == "closed" for p in status.providers)


def fail(store: Store, key: ApiKey, *, until: float | None, kind: str = "rate_limited", reason: str = "429") -> None:
    store.record_failure(
        Address("key", key.fingerprint),
        provider=key.provider,
        label=key.label,
        endpoint="",
        now=NOW - 5,
        error_kind=kind,
        reason=reason,
        effect="disable" if until is None else "cool",
        deadline=None if until is None else (lambda streak: until),
    )


def test_disabled_and_cooling_keys_say_why_and_until_when(store: Store) -> None:
    fail(store, OLL, until=None, kind="auth", reason="unauthorized")
    fail(store, OR1, until=NOW + 120, reason="Rate limit exceeded:\n  free-models-per-day")
    fail(store, OR2, until=NOW - 1)
    keys = by_label(build_status(settings(), store, NOW).keys)
    assert (keys["OLLAMA_API_KEY"].state, keys["OLLAMA_API_KEY"].until) == ("disabled", None)
    assert keys["OLLAMA_API_KEY"].reason == "auth: unauthorized"
    cooling = keys["OPENROUTER_API_KEY_1"]
    assert (cooling.state, cooling.until) == ("cooling", NOW + 120)
    assert cooling.reason == "rate_limited: Rate limit exceeded: free-models-per-day"
    assert keys["OPENROUTER_API_KEY_2"].state == "ready", "an expired cooldown is over"


def test_a_key_at_its_configured_rate_limit_says_when_a_slot_frees(store: Store) -> None:
    limits = Limits(key_limits={"OPENROUTER_API_KEY_1": RateLimit(per_minute=2)})
    store.record_attempt(row(ts=NOW - 50))
    store.record_attempt(row(ts=NOW - 20, outcome="failed"))
    keys = by_label(build_status(settings(limits), store, NOW).keys)
    limited = keys["OPENROUTER_API_KEY_1"]
    assert (limited.state, limited.until) == ("rate_limited", NOW - 50 + 60)
    assert limited.reason == "key OPENROUTER_API_KEY_1: 2 calls per minute"
    assert keys["OPENROUTER_API_KEY_2"].state == "ready"
    assert by_label(build_status(settings(limits), store, NOW + 11).keys)["OPENROUTER_API_KEY_1"].state == "ready"


def test_a_provider_rate_limit_holds_every_key_of_the_provider(store: Store) -> None:
    limits = Limits(provider_limits={"openrouter": RateLimit(per_hour=2)})
    store.record_attempt(row(OR1, ts=NOW - 600))
    store.record_attempt(row(OR2, ts=NOW - 300))
    keys = by_label(build_status(settings(limits), store, NOW).keys)
    assert {label: k.state for label, k in keys.items()} == {
        "OLLAMA_API_KEY": "ready",
        "OPENROUTER_API_KEY_1": "rate_limited",
        "OPENROUTER_API_KEY_2": "rate_limited",
    }
    assert keys["OPENROUTER_API_KEY_1"].until == NOW - 600 + 3600


def test_an_exhausted_total_budget_puts_every_key_over_budget_until_utc_midnight(store: Store) -> None:
    limits = Limits(total_budget=Budget(daily=1.0, monthly=100.0))
    store.record_attempt(row(OR1, cost=600_000))
    store.record_attempt(row(OLL, cost=400_000, estimated=True))
    store.record_attempt(row(OR2, ts=DAY_START - 3600, cost=5_000_000))  # yesterday: this month only
    status = build_status(settings(limits), store, NOW)
    assert {k.state for k in status.keys} == {"over_budget"}
    assert status.keys[0].until == DAY_START + 86400
    assert status.keys[0].reason == "total daily budget $1.00 used up"
    day, month = status.budgets
    assert (day.period, day.used_micros, day.estimated_micros, day.limit_micros) == (
        "day",
        1_000_000,
        400_000,
        1_000_000,
    )
    assert (day.percent, day.exhausted, day.resets_at) == (100.0, True, DAY_START + 86400)
    assert (month.period_key, month.used_micros, month.percent) == ("2026-11", 6_000_000, 6.0)
    assert month.resets_at == datetime(2026, 12, 1, tzinfo=UTC).timestamp() and not month.exhausted


def test_key_and_provider_budgets_sit_with_their_key_and_provider(store: Store) -> None:
    limits = Limits(
        key_budgets={"OPENROUTER_API_KEY_2": Budget(daily=0.5)}, provider_budgets={"ollama": Budget(monthly=10.0)}
    )
    store.record_attempt(row(OR2, cost=500_000))
    store.record_attempt(row(OLL, cost=2_500_000))
    status = build_status(settings(limits), store, NOW)
    keys = by_label(status.keys)
    assert keys["OPENROUTER_API_KEY_2"].state == "over_budget"
    assert keys["OPENROUTER_API_KEY_1"].state == keys["OLLAMA_API_KEY"].state == "ready"
    (key_budget,) = keys["OPENROUTER_API_KEY_2"].budgets
    assert str(key_budget.scope) == "key OPENROUTER_API_KEY_2" and key_budget.exhausted
    (ollama,) = next(p for p in status.providers if p.name == "ollama").budgets
    assert (ollama.period, ollama.percent, ollama.exhausted) == ("month", 25.0, False)
    assert status.budgets == ()


def test_reservations_in_flight_count_against_a_budget_until_they_time_out(store: Store) -> None:
    limits = Limits(total_budget=Budget(daily=1.0), reservation_timeout=600)
    store.record_attempt(row(cost=400_000))
    pending(store, OR1, NOW - 30, reserve=600_000)
    status = build_status(settings(limits), store, NOW)
    (day,) = status.budgets
    assert (day.used_micros, day.reserved_micros, day.percent, day.exhausted) == (400_000, 600_000, 40.0, True)
    later = build_status(settings(limits), store, NOW + 600)
    assert later.budgets[0].reserved_micros == 0 and not later.budgets[0].exhausted


def test_breakers_and_the_latest_check_are_reported(store: Store) -> None:
    breaker = BreakerSettings(consecutive_failures=1, cool_off=60)
    store.breaker_record("openrouter", NOW - 10, error_kind="server", reason="502 Bad Gateway", settings=breaker)
    store.breaker_record("acme", NOW - 10, error_kind="server", reason="down", settings=breaker)
    store.record_checks([CheckRow(NOW - 900, OR1.fingerprint, "openrouter", OR1.label, "invalid key", 30.0, "401")])
    store.record_checks([CheckRow(NOW - 100, OR1.fingerprint, "openrouter", OR1.label, "ok", 20.0, None)])
    status = build_status(settings(), store, NOW)
    providers = {p.name: p.breaker for p in status.providers}
    assert list(providers) == ["ollama", "openrouter", "acme"]
    assert (providers["openrouter"].state, providers["openrouter"].open_until) == ("open", NOW - 10 + 60)
    check = by_label(status.keys)["OPENROUTER_API_KEY_1"].last_check
    assert check is not None and (check.verdict, check.ts) == ("ok", NOW - 100)


def test_cost_periods_are_utc_days_and_months() -> None:
    today = cost_period(NOW)
    assert (today.name, today.label, today.start, today.end) == ("today", "2026-11-22", DAY_START, DAY_START + 86400)
    month = cost_period(NOW, month=True)
    assert (month.label, month.start) == ("2026-11", datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    week = cost_period(NOW, days=7)
    assert (week.label, week.start, week.end) == ("2026-11-16 to 2026-11-22", DAY_START - 6 * 86400, DAY_START + 86400)
    since = cost_period(NOW, since=date(2026, 10, 30))
    assert since.start == datetime(2026, 10, 30, tzinfo=UTC).timestamp() and since.end == DAY_START + 86400


def ledger(store: Store) -> list[AttemptRow]:
    rows = [
        row(OR1, cost=1_000_001),
        row(OR1, cost=7, estimated=True, model="moonshotai/kimi-k2.5"),
        row(OR2, outcome="failed"),
        row(OLL, cost=33, estimated=True, model="gpt-oss:120b", ts=DAY_START - 86400 * 2),
        row(GONE, cost=5, model="moonshotai/kimi-k2.5"),
        row(None, cost=0, estimated=True, model="llama3.2"),
    ]
    for item in rows:
        store.record_attempt(item)
    return rows


def test_costs_by_key_list_configured_keys_then_keys_no_longer_configured(store: Store) -> None:
    ledger(store)
    costs = build_costs(settings(), store, "key", cost_period(NOW), NOW)
    assert [(r.group, r.provider, r.mask, r.totals.calls) for r in costs.rows] == [
        ("OLLAMA_API_KEY", "ollama", OLL.mask(), 0),
        ("OPENROUTER_API_KEY_1", "openrouter", OR1.mask(), 2),
        ("OPENROUTER_API_KEY_2", "openrouter", OR2.mask(), 1),
        ("local", "local", NOT_CONFIGURED, 1),
        ("OPENROUTER_API_KEY_9", "openrouter", NOT_CONFIGURED, 1),
    ]
    assert (costs.total.reported_micros, costs.total.estimated_micros, costs.total.calls) == (1_000_006, 7, 5)


def test_cost_totals_equal_the_ledger_whatever_the_grouping(store: Store) -> None:
    rows = ledger(store)
    period = cost_period(NOW, days=7)
    expected = sum(r.cost_micros or 0 for r in rows)
    for by in ("key", "provider", "model", "day"):
        costs = build_costs(settings(), store, by, period, NOW)
        assert costs.total.cost_micros == expected == sum(r.totals.cost_micros for r in costs.rows), by
        assert costs.total.calls == len(rows)
        assert costs.total.estimated_micros == 40


def test_costs_by_model_and_by_day(store: Store) -> None:
    ledger(store)
    models = build_costs(settings(), store, "model", cost_period(NOW, days=3), NOW)
    assert [(r.provider, r.group, r.totals.cost_micros) for r in models.rows] == [
        ("local", "llama3.2", 0),
        ("ollama", "gpt-oss:120b", 33),
        ("openrouter", "moonshotai/kimi-k2.5", 12),
        ("openrouter", "openai/gpt-4o-mini", 1_000_001),
    ]
    days = build_costs(settings(), store, "day", cost_period(NOW, days=3), NOW)
    assert [(r.group, r.totals.calls) for r in days.rows] == [("2026-11-20", 1), ("2026-11-21", 0), ("2026-11-22", 5)]


def test_costs_by_provider_carry_the_providers_budgets(store: Store) -> None:
    ledger(store)
    limits = Limits(provider_budgets={"openrouter": Budget(daily=2.0)}, total_budget=Budget(monthly=50.0))
    costs = build_costs(settings(limits), store, "provider", cost_period(NOW), NOW)
    assert [r.group for r in costs.rows] == ["ollama", "openrouter", "local"]
    openrouter = costs.rows[1]
    (budget,) = openrouter.budgets
    assert (budget.used_micros, budget.percent) == (1_000_013, pytest.approx(50.00065))
    assert [str(b.scope) for b in costs.budgets] == ["total", "provider openrouter"]
