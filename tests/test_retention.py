"""Retention (``llmroute/store/retention.py``): pruning raw attempts, the daily trim, giving space back.

Rows are seeded with SQL for speed, each with its day's totals added by one
``INSERT ... SELECT ... GROUP BY`` that mirrors migration m010, so a test can
check that pruning never changes ``usage_days``. The last test ``kill -9``s a
real ``llmroute prune`` at random moments (``LLMROUTE_CRASH_SEED`` changes them).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from llmroute.store import Store, retention
from llmroute.store.retention import DAY, cutoff_for
from tests.conftest import Cli, base_env

NOW = 1_787_961_600.0 + 15 * 3600
"""2026-08-29 15:00 UTC."""
TODAY = NOW - NOW % DAY

COLUMNS = (
    "ts",
    "request_id",
    "provider",
    "key_label",
    "key_fingerprint",
    "model",
    "outcome",
    "error_kind",
    "http_status",
    "latency_ms",
    "tokens_in",
    "tokens_out",
    "cost_micros",
    "cost_estimated",
    "reserved_micros",
)
Row = tuple[object, ...]

_ROLL_UP = """
    INSERT INTO usage_days (day, key_id, provider, model, key_label, calls, ok, failed, tokens_in, tokens_out,
                            reported_micros, estimated_micros, unpriced, held_micros)
    SELECT date(ts, 'unixepoch'), coalesce(key_fingerprint, 'provider:' || provider), provider, model,
           max(key_label), count(*), sum(outcome = 'ok'), sum(outcome = 'failed'),
           coalesce(sum(CASE WHEN outcome != 'pending' THEN tokens_in END), 0),
           coalesce(sum(CASE WHEN outcome != 'pending' THEN tokens_out END), 0),
           coalesce(sum(CASE WHEN outcome != 'pending' AND NOT cost_estimated THEN cost_micros END), 0),
           coalesce(sum(CASE WHEN outcome != 'pending' AND cost_estimated THEN cost_micros END), 0),
           sum(outcome = 'ok' AND cost_micros IS NULL),
           coalesce(sum(CASE WHEN outcome = 'ok' AND cost_micros IS NULL THEN reserved_micros END), 0)
    FROM attempts WHERE id > ? GROUP BY 1, 2, 3, 4
    ON CONFLICT (key_id, day, provider, model) DO UPDATE SET
        key_label = max(key_label, excluded.key_label),
        calls = calls + excluded.calls, ok = ok + excluded.ok, failed = failed + excluded.failed,
        tokens_in = tokens_in + excluded.tokens_in, tokens_out = tokens_out + excluded.tokens_out,
        reported_micros = reported_micros + excluded.reported_micros,
        estimated_micros = estimated_micros + excluded.estimated_micros,
        unpriced = unpriced + excluded.unpriced, held_micros = held_micros + excluded.held_micros
"""
"""Migration m010's roll-up (what the write paths keep up to date), adding to the days already there."""


def seed(conn: sqlite3.Connection, rows: Sequence[Row]) -> None:
    """Insert raw attempts and add them to their days' totals, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    last = conn.execute("SELECT coalesce(max(id), 0) FROM attempts").fetchone()[0]
    conn.executemany(f"INSERT INTO attempts ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", rows)
    conn.execute(_ROLL_UP, (last,))
    conn.execute("COMMIT")


def attempt(ts: float, outcome: str = "ok", n: int = 0, **changes: object) -> Row:
    """One attempt: key, model and kind of cost vary with ``n``."""
    values: dict[str, object] = {
        "ts": ts,
        "request_id": f"r{n}",
        "provider": ("openrouter", "ollama")[n % 2],
        "key_label": f"KEY_{n % 3}",
        "key_fingerprint": f"fp{n % 3:010d}",
        "model": f"model-{n % 4}",
        "outcome": outcome,
        "error_kind": "server" if outcome == "failed" else None,
        "http_status": 500 if outcome == "failed" else None,
        "latency_ms": 100.0 + n % 50,
        "tokens_in": None if outcome == "pending" else 10 + n % 7,
        "tokens_out": None if outcome == "pending" else 20 + n % 11,
        "cost_micros": None if outcome in ("pending", "abandoned") or n % 5 == 0 else 1_000 + n % 997,
        "cost_estimated": int(n % 3 == 0),
        "reserved_micros": 5_000,
    }
    values.update(changes)
    return tuple(values[c] for c in COLUMNS)


def mixed(count: int, start: float, end: float) -> list[Row]:
    """``count`` settled attempts spread evenly over ``[start, end)``, oldest first, of every outcome."""
    outcomes = ("ok", "ok", "ok", "failed", "abandoned")
    step = (end - start) / count
    return [attempt(start + i * step, outcomes[i % len(outcomes)], i) for i in range(count)]


def usage_days(conn: sqlite3.Connection) -> list[Row]:
    return list(conn.execute("SELECT * FROM usage_days ORDER BY key_id, day, provider, model"))


def raw(conn: sqlite3.Connection) -> list[Row]:
    return list(conn.execute("SELECT * FROM attempts ORDER BY id"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "state.db")
    yield opened
    opened.close()


def connection(store: Store) -> sqlite3.Connection:
    return store._conn


# --- the cutoff ----------------------------------------------------------------------------------------------------


def test_the_cutoff_is_the_utc_midnight_that_keeps_every_attempt_at_least_keep_days() -> None:
    assert cutoff_for(NOW, 1) == TODAY - DAY
    assert cutoff_for(NOW, 90) == TODAY - 90 * DAY
    assert cutoff_for(TODAY, 1) == TODAY - DAY, "at midnight itself, yesterday is still kept whole"
    assert cutoff_for(NOW, 10**30) == 0.0, "never before 1970, however many days"
    with pytest.raises(ValueError):
        cutoff_for(NOW, 0)


def test_a_cutoff_that_is_not_a_utc_midnight_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="UTC midnight"):
        store.prune(cutoff=TODAY + 1)
    with pytest.raises(ValueError, match="UTC midnight"):
        store.prunable(cutoff=float("nan"))


# --- prune ---------------------------------------------------------------------------------------------------------


def test_prune_deletes_only_settled_attempts_before_the_cutoff(store: Store) -> None:
    conn = connection(store)
    cutoff = TODAY - 10 * DAY
    old = [attempt(cutoff - 3 * DAY + i, outcome, i) for i, outcome in enumerate(("ok", "failed", "abandoned", "ok"))]
    in_flight = attempt(cutoff - 3600, "pending", 7)
    kept = [attempt(cutoff, "ok", 8), attempt(cutoff + 1, "failed", 9), attempt(NOW, "pending", 10)]
    seed(conn, [*old, in_flight, *kept])
    totals = usage_days(conn)

    preview = store.prunable(cutoff=cutoff)
    assert (preview.deleted, preview.first, preview.last) == (4, cutoff - 3 * DAY, cutoff - 3 * DAY + 3)
    assert len(raw(conn)) == 8, "a dry run deletes nothing"

    result = store.prune(cutoff=cutoff)
    assert (result.deleted, result.first, result.last, result.finished) == (
        4,
        cutoff - 3 * DAY,
        cutoff - 3 * DAY + 3,
        True,
    )
    assert result.pending_kept == 1
    assert result.oldest_kept == cutoff - 3600
    assert [r[1] for r in raw(conn)] == [cutoff - 3600, cutoff, cutoff + 1, NOW], "the rest is untouched"
    assert usage_days(conn) == totals, "the daily totals are never touched"

    again = store.prune(cutoff=cutoff)
    assert (again.deleted, again.first, again.finished) == (0, None, True)


def test_prune_goes_in_batches_oldest_first(store: Store) -> None:
    conn = connection(store)
    cutoff = TODAY - DAY
    seed(conn, mixed(25, cutoff - 5 * DAY, cutoff) + mixed(5, cutoff, NOW))
    result = retention.prune(conn, cutoff=cutoff, batch=10)
    assert (result.deleted, result.batches, result.finished) == (25, 3, True)
    assert conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == 5


def test_prune_stops_when_its_time_budget_is_spent_and_a_later_one_goes_on(store: Store) -> None:
    conn = connection(store)
    cutoff = TODAY - DAY
    rows = mixed(100, cutoff - 30 * DAY, cutoff)
    seed(conn, rows)
    totals = usage_days(conn)
    ticks = iter(range(1000))
    clock = lambda: float(next(ticks))  # noqa: E731 - one second per look at the clock

    first = retention.prune(conn, cutoff=cutoff, batch=10, time_budget=2.5, clock=clock)
    assert (first.deleted, first.finished) == (30, False), "a batch starts while the budget lasts, none after"
    assert first.last == rows[29][0] and first.oldest_kept == rows[30][0], "the oldest went first"
    rest = retention.prune(conn, cutoff=cutoff, batch=10)
    assert (rest.deleted, rest.finished, rest.first) == (70, True, rows[30][0])
    assert usage_days(conn) == totals

    none = retention.prune(conn, cutoff=cutoff, batch=10, time_budget=0.0)
    assert none.batches == 1 and none.finished, "the first batch always runs"


def test_done_at_marks_the_daily_trim_done_only_when_the_prune_finished(store: Store) -> None:
    conn = connection(store)
    cutoff = TODAY - DAY
    seed(conn, mixed(30, cutoff - 3 * DAY, cutoff))
    retention.prune(conn, cutoff=cutoff, batch=10, time_budget=0.0, done_at=NOW)
    assert conn.execute("SELECT count(*) FROM maintenance").fetchone()[0] == 0
    retention.prune(conn, cutoff=cutoff, batch=10, done_at=NOW)
    assert conn.execute("SELECT task, done_at FROM maintenance").fetchall() == [("prune", NOW)]


# --- the daily trim ------------------------------------------------------------------------------------------------


def test_the_daily_trim_runs_at_most_once_a_day(store: Store) -> None:
    conn = connection(store)
    seed(conn, mixed(20, TODAY - 100 * DAY, TODAY - 95 * DAY))
    first = store.trim_if_due(now=NOW, keep_days=90)
    assert first is not None and (first.deleted, first.finished) == (20, True)

    seed(conn, mixed(20, TODAY - 100 * DAY, TODAY - 95 * DAY))
    assert store.trim_if_due(now=NOW + 1, keep_days=90) is None
    assert store.trim_if_due(now=NOW + DAY - 1, keep_days=90) is None, "not due again within 24 hours"
    assert conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == 20

    later = store.trim_if_due(now=NOW + DAY, keep_days=90)
    assert later is not None and later.deleted == 20
    assert store.trim_if_due(now=NOW - DAY, keep_days=90) is not None, "a clock set back does not stop it for good"


def test_an_unfinished_daily_trim_goes_on_at_the_next_run(store: Store) -> None:
    conn = connection(store)
    rows = retention.TRIM_BATCH * 2 + 500
    seed(conn, mixed(rows, TODAY - 200 * DAY, TODAY - 100 * DAY))
    totals = usage_days(conn)
    deleted = []
    for _ in range(3):
        result = store.trim_if_due(now=NOW, keep_days=90, time_budget=0.0)
        assert result is not None
        deleted.append(result.deleted)
    assert deleted == [retention.TRIM_BATCH, retention.TRIM_BATCH, 500]
    assert store.trim_if_due(now=NOW, keep_days=90) is None, "done once it finished"
    assert usage_days(conn) == totals


# --- space ---------------------------------------------------------------------------------------------------------


def test_a_new_state_file_uses_incremental_auto_vacuum(store: Store) -> None:
    assert connection(store).execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    assert connection(store).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_daily_trim_gives_freed_pages_back(store: Store) -> None:
    conn = connection(store)
    seed(conn, [attempt(TODAY - 100 * DAY + i, n=i) for i in range(3000)])
    conn.execute("UPDATE attempts SET request_id = request_id || ?", ("x" * 400,))
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    result = store.trim_if_due(now=NOW, keep_days=90, time_budget=10.0)
    assert result is not None and result.deleted == 3000
    after = conn.execute("PRAGMA page_count").fetchone()[0]
    assert pages - after >= min(retention.TRIM_PAGES, pages // 2), (pages, after)


def test_vacuum_shrinks_the_file_and_converts_an_older_one(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    # An older state file: created before auto-vacuum was set, so it has none.
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode = WAL")
    old.execute("CREATE TABLE early (x)")
    old.close()
    store = Store.open(path)
    try:
        conn = connection(store)
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
        assert retention.release_pages(conn, 100) == 0, "no incremental auto-vacuum: nothing to release"
        seed(conn, mixed(20_000, TODAY - 200 * DAY, TODAY - 100 * DAY) + mixed(100, TODAY, NOW))
        store.prune(cutoff=cutoff_for(NOW, 90))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        on_disk = path.stat().st_size
        result = store.vacuum()
        assert result.rewritten and result.checkpointed
        assert result.free_before > 0 and result.free_after == 0
        assert result.reclaimed == result.bytes_before - result.bytes_after > on_disk // 2
        assert path.stat().st_size == result.bytes_after < on_disk // 2
        assert Path(f"{path}-wal").stat().st_size == 0, "the write-ahead log was truncated"
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2, "converted to incremental"
        assert conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == 100

        again = store.vacuum()
        assert not again.rewritten and again.reclaimed == 0, "nothing to reclaim: not rewritten"
    finally:
        store.close()


def test_retention_failures_are_state_errors(tmp_path: Path) -> None:
    from llmroute.errors import StateError

    store = Store.open(tmp_path / "state.db")
    connection(store).execute("BEGIN")
    try:
        with pytest.raises(StateError):
            store.vacuum()  # VACUUM inside a transaction
    finally:
        connection(store).execute("ROLLBACK")
        store.close()


# --- kill -9 -------------------------------------------------------------------------------------------------------

KILL_ROUNDS = 8
"""At most; the rounds stop once two kills hit the batches and two what follows them."""
OLD_ROWS = 200_000
RECENT_ROWS = 30_000
KEEP_DAYS = 30


def _fill(path: Path, now: float) -> None:
    store = Store.open(path)
    try:
        conn = connection(store)
        cutoff = cutoff_for(now, KEEP_DAYS)
        rows = mixed(OLD_ROWS, cutoff - 300 * DAY, cutoff)
        rows[::1000] = [attempt(r[0], "pending", i) for i, r in enumerate(rows[::1000])]  # crashed long ago
        seed(conn, rows + mixed(RECENT_ROWS, cutoff, now))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()


def _snapshot(path: Path, cutoff: float) -> tuple[str, list[Row], int, list[Row], list[int]]:
    """Integrity, the daily totals, how many rows must stay, the rows that did, and the ids of old settled ones."""
    conn = sqlite3.connect(path)
    try:
        integrity = "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
        keep = "ts >= ? OR outcome = 'pending'"
        must_stay = list(conn.execute(f"SELECT * FROM attempts WHERE {keep} ORDER BY id", (cutoff,)))
        old_ids = [r[0] for r in conn.execute(f"SELECT id FROM attempts WHERE NOT ({keep}) ORDER BY id", (cutoff,))]
        return (
            integrity,
            usage_days(conn),
            conn.execute("SELECT count(*) FROM attempts").fetchone()[0],
            must_stay,
            old_ids,
        )
    finally:
        conn.close()


def _wait_until(path: Path, proc: subprocess.Popen[bytes], query: str, *params: object) -> None:
    """Poll the file until ``query`` finds no row (or the process ended)."""
    conn = sqlite3.connect(path, timeout=60)
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline and conn.execute(query, params).fetchall():
            time.sleep(0.005)
    finally:
        conn.close()


def test_kill_9_during_prune_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    """Half the kills land while batches are deleted, half once they are done (in the VACUUM and checkpoint)."""
    now = time.time()
    cutoff = cutoff_for(now, KEEP_DAYS)
    template = tmp_path / "template.db"
    _fill(template, now)
    integrity, totals, total, must_stay, old_ids = _snapshot(template, cutoff)
    assert integrity == "ok" and total == OLD_ROWS + RECENT_ROWS and len(old_ids) == OLD_ROWS - OLD_ROWS // 1000

    def check(path: Path, what: str) -> int:
        """The file is sound, the totals and the rows that must stay are as they were; returns old rows left."""
        integrity, days, count, stayed, old_left = _snapshot(path, cutoff)
        assert integrity == "ok", f"{what}: {integrity}"
        assert days == totals, f"{what}: the daily totals changed"
        assert stayed == must_stay, f"{what}: a row that must stay was changed or lost"
        assert old_left == old_ids[len(old_ids) - len(old_left) :], f"{what}: old rows go oldest first, none twice"
        assert count == len(must_stay) + len(old_left), f"{what}: deleted + remaining != original"
        return len(old_left)

    home = tmp_path / "home"
    home.mkdir()
    cli = Cli(home=home, env=base_env(home))
    state = home / "state.db"
    rng = random.Random(os.environ.get("LLMROUTE_CRASH_SEED", "prune kill -9"))
    kills: list[str] = []
    for n in range(KILL_ROUNDS):
        if kills.count("mid-prune") >= 2 and kills.count("after the prune") >= 2:
            break
        for leftover in home.glob("state.db*"):
            leftover.unlink()
        shutil.copy(template, state)
        proc = cli.popen("prune", "--keep-days", str(KEEP_DAYS), "--json")
        if n % 2 == 0:
            # Once the batches are done: in the VACUUM or the checkpoint, ~0.1 s.
            _wait_until(state, proc, "SELECT 1 FROM attempts WHERE ts < ? AND outcome != 'pending' LIMIT 1", cutoff)
            time.sleep(rng.uniform(0.0, 0.08))
        else:
            # Once the first batch is done: while the others go (~40 of them, 1 s).
            _wait_until(state, proc, "SELECT 1 FROM attempts WHERE id = ?", old_ids[0])
            time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (-signal.SIGKILL, 0), f"round {n}: exit {proc.returncode}: {err.decode()}"
        left = check(state, f"round {n}")
        if proc.returncode == 0:
            kills.append("too late: the run had ended")
        else:
            kills.append("before any batch" if left == len(old_ids) else "mid-prune" if left else "after the prune")
    print(f"\nprune kill -9: {kills}")
    assert kills.count("mid-prune") >= 2 and kills.count("after the prune") >= 1, kills

    # The next run finishes what the last one killed (mid-prune) began.
    result = cli("prune", "--keep-days", str(KEEP_DAYS), "--json")
    assert result.code == 0, result.stderr
    assert check(state, "the run after the kills") == 0
