"""Spend and call counts per scope: the numbers budgets and rate limits are held to.

Spend is read from the running totals (``totals``: settled cost, and the
reservations answered calls of unknown cost keep) plus the reservations of
attempts still pending. A pending attempt counts its reservation until its own
``reserved_until`` (``reservation_timeout`` after it began, for rows written
before that column existed): a crashed process's reservation stops counting on
its own and never becomes spend. An answered call whose cost is unknown (no price
anywhere, none reported) keeps counting its worst-case reservation against
budgets: a budget holds for any price. Calls in a sliding window are counted
from the ledger through the ``attempts_key_id`` index, never by a scan.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from llmroute import windows
from llmroute.limits import Scope
from llmroute.store.totals import KEY_ID


def scope_filter(scope: Scope, key_column: str = KEY_ID) -> tuple[str, tuple[object, ...]]:
    """A WHERE clause (and its parameters) selecting the scope's attempts (or, with ``key_column="key_id"``,
    its rows of ``usage_days``)."""
    if scope.kind == "total":
        return "1 = 1", ()
    if scope.kind == "provider":
        return "provider = ?", (scope.name,)
    if scope.kind == "key":
        return f"{key_column} = ?", (scope.name,)
    if scope.kind == "pool":
        members = scope.members or (scope.name,)
        return f"{key_column} IN ({','.join('?' * len(members))})", members
    raise ValueError(f"unknown scope kind {scope.kind!r}")


@dataclass(frozen=True)
class Spend:
    settled_micros: int
    """Cost of settled attempts (reported or estimated)."""
    estimated_micros: int
    """The part of ``settled_micros`` computed from prices rather than reported by providers."""
    reserved_micros: int
    """Worst-case cost held by attempts still in flight, and by answered calls whose cost is unknown."""

    @property
    def committed_micros(self) -> int:
        return self.settled_micros + self.reserved_micros


def day_range(start: float, end: float) -> tuple[str, str]:
    """The UTC days ``[first, last)`` of a period that begins and ends at UTC midnights."""
    first, last = windows.day(start), windows.day(end)
    if first.start != start or last.start != end:
        raise ValueError("running totals are kept per UTC day: a period must start and end at 00:00 UTC")
    return first.key, last.key


def spend(
    conn: sqlite3.Connection, scope: Scope, start: float, end: float, *, now: float, reservation_timeout: float
) -> Spend:
    """The scope's spend over whole UTC days ``[start, end)``: a handful of rows, however long the ledger."""
    first, last = day_range(start, end)
    where, params = scope_filter(scope, "key_id")
    settled, estimated, held = conn.execute(
        f"""
        SELECT coalesce(sum(reported_micros + estimated_micros), 0), coalesce(sum(estimated_micros), 0),
               coalesce(sum(held_micros), 0)
        FROM usage_days WHERE {where} AND day >= ? AND day < ?
        """,
        (*params, first, last),
    ).fetchone()
    where, params = scope_filter(scope)
    (pending,) = conn.execute(
        f"""
        SELECT coalesce(sum(reserved_micros), 0) FROM attempts INDEXED BY attempts_pending
        WHERE outcome = 'pending' AND coalesce(reserved_until, ts + ?) > ? AND {where} AND ts >= ? AND ts < ?
        """,
        (reservation_timeout, now, *params, start, end),
    ).fetchone()
    return Spend(int(settled), int(estimated), int(held) + int(pending))


def calls(conn: sqlite3.Connection, scope: Scope, since: float) -> list[float]:
    """Times of the scope's attempts after ``since``, oldest first (every attempt is a call, failed or not)."""
    where, params = scope_filter(scope)
    rows = conn.execute(f"SELECT ts FROM attempts WHERE {where} AND ts > ? ORDER BY ts", (*params, since))
    return [ts for (ts,) in rows]


def nth_latest_call(
    conn: sqlite3.Connection, scope: Scope, since: float, n: int, *, free_only: bool = False
) -> float | None:
    """The time of the scope's ``n``-th latest call after ``since``; None when it made fewer.

    A window that allows ``n`` calls is full exactly when this exists, and frees when it leaves the window.
    """
    where, params = scope_filter(scope)
    free = " AND free_model" if free_only else ""
    row = conn.execute(
        f"SELECT ts FROM attempts WHERE {where}{free} AND ts > ? ORDER BY ts DESC LIMIT 1 OFFSET ?",
        (*params, since, n - 1),
    ).fetchone()
    return None if row is None else float(row[0])
