from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmroute.errors import StateError
from llmroute.store import Address, AttemptRow, Store


def row(**overrides: object) -> AttemptRow:
    values = dict(
        ts=time.time(),
        request_id="r1",
        provider="openrouter",
        key_label="OPENROUTER_API_KEY",
        key_fingerprint="abc123abc123",
        model="m",
        outcome="ok",
        error_kind=None,
        http_status=None,
        message=None,
        latency_ms=12.5,
        ttft_ms=3.0,
        tokens_in=5,
        tokens_out=7,
        cost_micros=42,
    )
    values.update(overrides)
    return AttemptRow(**values)  # type: ignore[arg-type]


def fail(store: Store, key_id: str = "k1", *, seconds: float = 60.0, disable: bool = False):
    now = time.time()
    return store.record_failure(
        Address("key", key_id),
        provider="openrouter",
        label="OPENROUTER_API_KEY",
        endpoint="",
        now=now,
        error_kind="rate_limited",
        reason="429",
        effect="disable" if disable else "cool",
        deadline=None if disable else (lambda streak: now + seconds * streak),
    )


def held(store: Store, key_id: str = "k1"):
    return next(iter(store.holds_of([key_id])), None)


def test_the_state_file_uses_wal(tmp_path: Path) -> None:
    Store.open(tmp_path / "state.db").close()
    assert sqlite3.connect(tmp_path / "state.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_are_named_and_applied_once(tmp_path: Path) -> None:
    Store.open(tmp_path / "state.db").close()
    Store.open(tmp_path / "state.db").close()
    names = [r[0] for r in sqlite3.connect(tmp_path / "state.db").execute("SELECT name FROM _migrations")]
    assert names == [
        "m001_attempts",
        "m002_key_state",
        "m003_cursors",
        "m004_catalog",
        "m005_key_checks",
        "m006_estimated_cost",
        "m007_admission_and_breakers",
        "m008_reservation_expiry",
        "m009_scoped_holds",
        "m010_usage_days",
        "m011_logs",
    ]


def test_attempt_rows_round_trip_with_integer_money(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.db")
    store.record_attempt(row(cost_micros=1_234_567))
    (stored,) = store.attempts()
    assert stored.cost_micros == 1_234_567 and isinstance(stored.cost_micros, int)


def test_a_repeat_failure_extends_the_cooldown(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.db")
    first = fail(store)
    second = fail(store)
    assert second.consecutive_failures == 2
    assert second.cooldown_until > first.cooldown_until


def test_a_shorter_hint_never_shortens_an_existing_cooldown(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.db")
    long = fail(store, seconds=3600)
    short = fail(store, seconds=1)
    assert short.cooldown_until >= long.cooldown_until


def test_success_resets_the_streak_but_keeps_the_cooldown(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.db")
    cooled = fail(store)
    store.record_success(Address("key", "k1"), time.time())
    state = held(store)
    assert state.consecutive_failures == 0 and state.cooldown_until == cooled.cooldown_until


def test_a_disabled_key_stays_blocked_until_cleared(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state.db")
    fail(store, disable=True)
    assert held(store).blocked_until(time.time() + 10**9) == float("inf")
    assert [s.subject for s in store.clear_holds(["k1"])] == ["k1"]
    assert held(store) is None


def test_round_robin_cursor_advances_across_store_instances(tmp_path: Path) -> None:
    positions = []
    for _ in range(3):
        store = Store.open(tmp_path / "state.db")
        positions.append(store.next_cursor("openrouter"))
        store.close()
    assert positions == [0, 1, 2]


def test_a_corrupt_state_file_is_kept_aside_and_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a sqlite database at all" * 100)
    store = Store.open(path)
    store.record_attempt(row())
    aside = list(tmp_path.glob("state.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    assert "damaged" in caplog.text


def test_an_unusable_state_directory_is_a_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="cannot create the state directory"):
        Store.open(blocker / "sub" / "state.db")


WRITER = """
import sys, time
from pathlib import Path
from llmroute.store import AttemptRow, Store
store = Store.open(Path(sys.argv[1]))
for i in range(int(sys.argv[2])):
    store.record_attempt(AttemptRow(time.time(), sys.argv[3], "p", "l", "f", "m", "ok", None, 200, None, 1.0, None, 1, 1, 1))
    store.next_cursor("shared")
"""


def test_concurrent_processes_lose_no_rows_and_never_see_locked(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), "40", f"w{i}"], stderr=subprocess.PIPE)
        for i in range(8)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    store = Store.open(path)
    assert len(store.attempts()) == 8 * 40
    assert store.next_cursor("shared") == 8 * 40
