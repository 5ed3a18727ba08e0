"""Circuit breakers per provider, shared by every process through the state file.

closed: requests flow. open: the provider is skipped until ``open_until``.
half_open: the cool-off is over and exactly one process holds the trial
request (taken atomically); its success closes the circuit, its failure opens
it again. Only provider-side failures count (server errors, timeouts, refused
connections, garbage: the failure table's ``breaker`` kinds); a 4xx the caller caused never does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from llmroute.limits import BreakerSettings
from llmroute.policy import BREAKER_KINDS
from llmroute.store.connection import write_transaction


@dataclass(frozen=True)
class BreakerState:
    provider: str
    state: str = "closed"
    consecutive_failures: int = 0
    opened_at: float | None = None
    open_until: float | None = None
    trial_started_at: float | None = None
    reason: str | None = None


_COLUMNS = "provider, state, consecutive_failures, opened_at, open_until, trial_started_at, reason"


def load(conn: sqlite3.Connection, provider: str) -> BreakerState:
    row = conn.execute(f"SELECT {_COLUMNS} FROM provider_state WHERE provider = ?", (provider,)).fetchone()
    return BreakerState(*row) if row else BreakerState(provider)


def load_all(conn: sqlite3.Connection) -> list[BreakerState]:
    return [BreakerState(*row) for row in conn.execute(f"SELECT {_COLUMNS} FROM provider_state ORDER BY provider")]


def acquire(conn: sqlite3.Connection, provider: str, now: float, trial_timeout: float) -> float | None:
    """May a request go to the provider now? None = yes (closed, or this process holds the trial).

    Otherwise the time the circuit may next let a trial through.
    """
    if load(conn, provider).state == "closed":
        return None
    with write_transaction(conn):
        state = load(conn, provider)
        if state.state == "closed":
            return None
        if state.state == "open" and (state.open_until or 0) > now:
            return state.open_until
        if state.state == "half_open" and (state.trial_started_at or 0) > now - trial_timeout:
            return (state.trial_started_at or now) + trial_timeout
        conn.execute(
            "UPDATE provider_state SET state = 'half_open', trial_started_at = ?, updated_at = ? WHERE provider = ?",
            (now, now, provider),
        )
        return None


def record(
    conn: sqlite3.Connection,
    provider: str,
    now: float,
    *,
    error_kind: str | None,
    reason: str | None,
    settings: BreakerSettings,
) -> BreakerState:
    """Count one settled attempt: a provider-side failure may open the circuit; anything else closes it."""
    with write_transaction(conn):
        return record_in(conn, provider, now, error_kind=error_kind, reason=reason, settings=settings)


def record_in(
    conn: sqlite3.Connection,
    provider: str,
    now: float,
    *,
    error_kind: str | None,
    reason: str | None,
    settings: BreakerSettings,
    state: BreakerState | None = None,
) -> BreakerState:
    """:func:`record` inside the caller's write transaction; ``state``: the breaker as read in it, when known."""
    state = state or load(conn, provider)
    if error_kind not in BREAKER_KINDS:
        if state.state != "closed" or state.consecutive_failures:
            _write(conn, BreakerState(provider), now)
        return BreakerState(provider)
    streak = state.consecutive_failures + 1
    trips = (
        state.state == "half_open"
        or streak >= settings.consecutive_failures
        or _failure_rate_trips(conn, provider, now, settings)
    )
    if trips:
        new = BreakerState(provider, "open", streak, now, now + settings.cool_off, None, reason)
    else:
        new = BreakerState(provider, state.state, streak, state.opened_at, state.open_until, None, state.reason)
    _write(conn, new, now)
    return new


def reset(conn: sqlite3.Connection, providers: Iterable[str] | None = None) -> list[BreakerState]:
    """Close open or half-open circuits (all, or the given providers); returns those that were not closed."""
    with write_transaction(conn):
        wanted = set(providers) if providers is not None else None
        states = [s for s in load_all(conn) if wanted is None or s.provider in wanted]
        cleared = [s for s in states if s.state != "closed"]
        conn.executemany("DELETE FROM provider_state WHERE provider = ?", [(s.provider,) for s in states])
    return cleared


def _failure_rate_trips(conn: sqlite3.Connection, provider: str, now: float, settings: BreakerSettings) -> bool:
    marks = ",".join("?" * len(BREAKER_KINDS))
    total, failed = conn.execute(
        f"""
        SELECT count(*), coalesce(sum(error_kind IN ({marks})), 0) FROM attempts
        WHERE provider = ? AND ts > ? AND (outcome = 'ok' OR error_kind IN ({marks}))
        """,
        (*BREAKER_KINDS, provider, now - settings.window, *BREAKER_KINDS),
    ).fetchone()
    return total >= settings.min_attempts and failed / total >= settings.failure_rate


def _write(conn: sqlite3.Connection, state: BreakerState, now: float) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO provider_state ({_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            state.provider,
            state.state,
            state.consecutive_failures,
            state.opened_at,
            state.open_until,
            state.trial_started_at,
            state.reason,
            now,
        ),
    )
