"""Running totals per day, key and model: always equal to a full recount of the ledger, and what budgets and
reports read, so neither grows with the ledger."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from llmroute import windows
from llmroute.limits import Budget, Scope
from llmroute.store import AttemptRow, Store, Ticket
from llmroute.store.migrations import MIGRATIONS

DAY = 86400.0
T0 = 1_795_000_000.0 - 1_795_000_000.0 % DAY  # a UTC midnight
KEYS = (("fp-a", "openrouter", "OPENROUTER_API_KEY_1"), ("fp-b", "openrouter", "OPENROUTER_API_KEY_2"))
KEYLESS = (None, "local", "local")
MODELS = ("m1", "m2")

RECOUNT = """
    SELECT date(ts, 'unixepoch'), coalesce(key_fingerprint, 'provider:' || provider), provider, model,
           count(*), coalesce(sum(outcome = 'ok'), 0), coalesce(sum(outcome = 'failed'), 0),
           coalesce(sum(CASE WHEN outcome != 'pending' THEN tokens_in END), 0),
           coalesce(sum(CASE WHEN outcome != 'pending' THEN tokens_out END), 0),
           coalesce(sum(CASE WHEN outcome != 'pending' AND NOT cost_estimated THEN cost_micros END), 0),
           coalesce(sum(CASE WHEN outcome != 'pending' AND cost_estimated THEN cost_micros END), 0),
           coalesce(sum(outcome = 'ok' AND cost_micros IS NULL), 0),
           coalesce(sum(CASE WHEN outcome = 'ok' AND cost_micros IS NULL THEN reserved_micros END), 0)
    FROM attempts GROUP BY 1, 2, 3, 4
"""
"""The sums straight from the raw ledger, as reports computed them before totals were kept."""

TOTALS = """
    SELECT day, key_id, provider, model, calls, ok, failed, tokens_in, tokens_out, reported_micros,
           estimated_micros, unpriced, held_micros
    FROM usage_days WHERE calls != 0
"""


def recount(path: Path) -> set[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return set(conn.execute(RECOUNT))


def kept(path: Path) -> set[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return set(conn.execute(TOTALS))


def ticket(key: tuple[str | None, str, str], model: str, reserve: int, timeout: float = 600.0) -> Ticket:
    fingerprint, provider, label = key
    return Ticket(
        request_id="r",
        provider=provider,
        model=model,
        key_label=label,
        key_fingerprint=fingerprint,
        free_model=False,
        reserve_micros=reserve,
        reservation_timeout=timeout,
    )


def row(
    key: tuple[str | None, str, str], model: str, ts: float, outcome: str, cost: int | None, estimated: bool
) -> AttemptRow:
    fingerprint, provider, label = key
    return AttemptRow(
        ts=ts,
        request_id="r",
        provider=provider,
        key_label=label,
        key_fingerprint=fingerprint,
        model=model,
        outcome=outcome,
        error_kind="server" if outcome == "failed" else None,
        http_status=500 if outcome == "failed" else None,
        message=None,
        latency_ms=1.0,
        ttft_ms=None,
        tokens_in=7 if outcome == "ok" else None,
        tokens_out=3 if outcome == "ok" else None,
        cost_micros=cost if outcome == "ok" else None,
        cost_estimated=estimated,
    )


keys = st.sampled_from((*KEYS, KEYLESS))
models = st.sampled_from(MODELS)
outcomes = st.sampled_from(("ok", "failed", "cancelled"))
costs = st.one_of(st.none(), st.integers(0, 5000))
step = st.one_of(
    st.tuples(st.just("admit"), keys, models, st.integers(0, 3000)),
    st.tuples(st.just("settle"), st.integers(0, 50), outcomes, costs, st.booleans()),
    st.tuples(st.just("record"), keys, models, outcomes, costs, st.booleans()),
    st.tuples(st.just("advance"), st.floats(1.0, 2 * DAY)),
    st.tuples(st.just("prune"), st.integers(0, 3)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(step, max_size=40))
def test_totals_equal_a_full_recount_after_any_mix_of_reservations_settlements_abandonments_and_prunes(
    steps: list[tuple[object, ...]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        store = Store.open(path)
        archive = sqlite3.connect(Path(tmp) / "archive.db", isolation_level=None)
        archive.execute("ATTACH ? AS live", (str(path),))
        archive.execute("CREATE TABLE attempts AS SELECT * FROM live.attempts WHERE 0")
        now = T0 + 3600.0
        pending: list[int] = []
        try:
            for action, *args in steps:
                if action == "admit":
                    key, model, reserve = args
                    admitted = store.admit(ticket(key, model, reserve, timeout=300.0), now)  # type: ignore[arg-type]
                    assert isinstance(admitted, int)
                    pending.append(admitted)
                elif action == "settle" and pending:
                    index, outcome, cost, estimated = args
                    attempt = pending.pop(int(index) % len(pending))  # type: ignore[call-overload]
                    found = archive.execute(
                        "SELECT key_fingerprint, provider, key_label, model FROM live.attempts WHERE id = ?", (attempt,)
                    ).fetchone()
                    if found is not None:
                        key = (found[0], found[1], found[2])
                        store.settle(attempt, row(key, found[3], now, outcome, cost, estimated))  # type: ignore[arg-type]
                elif action == "record":
                    key, model, outcome, cost, estimated = args
                    store.record_attempt(row(key, model, now, outcome, cost, estimated))  # type: ignore[arg-type]
                elif action == "advance":
                    now += float(args[0])  # type: ignore[arg-type]
                    store.admit(ticket(KEYS[0], "tick", 0), now)  # abandons what outlived its reservation
                elif action == "prune":
                    archive.execute("CREATE TEMP TABLE before AS SELECT * FROM live.attempts")
                    store.prune(cutoff=windows.day(now).start - float(args[0]) * DAY)  # type: ignore[arg-type]
                    archive.execute(
                        "INSERT INTO attempts SELECT * FROM before WHERE id NOT IN (SELECT id FROM live.attempts)"
                    )
                    archive.execute("DROP TABLE before")
                everything = RECOUNT.replace(
                    "FROM attempts", "FROM (SELECT * FROM live.attempts UNION ALL SELECT * FROM main.attempts)"
                )
                assert kept(path) == set(archive.execute(everything))
        finally:
            archive.close()
            store.close()


def test_a_budget_reads_the_totals_so_a_month_of_spend_is_exact_after_its_raw_rows_are_pruned(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.db")
    month = windows.month(T0)
    for day in range(10):
        store.record_attempt(row(KEYS[0], "m1", month.start + day * DAY + 60, "ok", 1_000, False))
    scope = Scope("key", "fp-a", "OPENROUTER_API_KEY_1")
    before = store.spend(scope, month.start, month.end, now=month.start + 10 * DAY, reservation_timeout=600)
    store.prune(cutoff=month.start + 9 * DAY)
    after = store.spend(scope, month.start, month.end, now=month.start + 10 * DAY, reservation_timeout=600)
    assert before.settled_micros == after.settled_micros == 10_000
    assert len(store.attempts()) == 1


def test_a_late_settlement_of_an_abandoned_attempt_counts_once(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.db")
    budgeted = ticket(KEYS[0], "m1", 500, timeout=10.0)
    budgeted = Ticket(**{**budgeted.__dict__, "budgets": ((Scope("key", "fp-a", "K"), Budget(daily=1.0)),)})
    first = store.admit(budgeted, T0 + 100)
    assert isinstance(first, int)
    store.admit(budgeted, T0 + 200)  # the first outlived its reservation: abandoned
    store.settle(first, row(KEYS[0], "m1", T0 + 201, "ok", 1_234, False))
    store.settle(first, row(KEYS[0], "m1", T0 + 202, "ok", 1_234, False))
    day = windows.day(T0)
    spent = store.spend(Scope("key", "fp-a", "K"), day.start, day.end, now=T0 + 203, reservation_timeout=10.0)
    assert spent.settled_micros == 1_234
    assert kept(tmp_path / "state.db") == recount(tmp_path / "state.db")


def test_a_state_file_from_before_totals_gets_them_counted_from_its_ledger(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    for name, sql in MIGRATIONS:
        if name == "m010_usage_days":
            break
        for statement in filter(str.strip, sql.split(";")):
            conn.execute(statement)
        conn.execute("INSERT INTO _migrations VALUES (?, 0)", (name,))
    for i in range(30):
        fingerprint, provider, label = (*KEYS, KEYLESS)[i % 3]
        conn.execute(
            "INSERT INTO attempts (ts, request_id, provider, key_label, key_fingerprint, model, outcome, latency_ms, "
            "tokens_in, tokens_out, cost_micros, cost_estimated, reserved_micros) VALUES (?, 'r', ?, ?, ?, ?, ?, 1, "
            "5, 6, ?, ?, 40)",
            (
                T0 + i * 7000,
                provider,
                label,
                fingerprint,
                MODELS[i % 2],
                ("ok", "failed", "pending", "abandoned")[i % 4],
                None if i % 5 == 0 else i * 10,
                i % 2,
            ),
        )
    conn.close()
    Store.open(path).close()
    assert kept(path) == recount(path) and len(kept(path)) > 6
