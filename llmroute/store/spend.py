"""Spend and call counts per scope, from the ledger: the numbers budgets and rate limits are held to.

A pending attempt (dispatched, not yet settled) counts its reservation until
its own ``reserved_until`` (``reservation_timeout`` after it began, for rows
written before that column existed); a settled attempt counts its cost. A crashed
process's reservation therefore stops counting on its own and never becomes spend.
An answered call whose cost is unknown (no price anywhere, none reported) keeps
counting its worst-case reservation against budgets: a budget holds for any price.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from llmroute.limits import Scope

_KEY_ID = "coalesce(key_fingerprint, 'provider:' || provider)"


def scope_filter(scope: Scope) -> tuple[str, tuple[object, ...]]:
    """A WHERE clause (and its parameters) selecting the scope's attempts."""
    if scope.kind == "total":
        return "1 = 1", ()
    if scope.kind == "provider":
        return "provider = ?", (scope.name,)
    if scope.kind == "key":
        return f"{_KEY_ID} = ?", (scope.name,)
    if scope.kind == "pool":
        members = scope.members or (scope.name,)
        return f"{_KEY_ID} IN ({','.join('?' * len(members))})", members
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


def spend(
    conn: sqlite3.Connection, scope: Scope, start: float, end: float, *, now: float, reservation_timeout: float
) -> Spend:
    where, params = scope_filter(scope)
    row = conn.execute(
        f"""
        SELECT
            coalesce(sum(CASE WHEN outcome != 'pending' THEN coalesce(cost_micros, 0) END), 0),
            coalesce(sum(CASE WHEN outcome != 'pending' AND cost_estimated THEN coalesce(cost_micros, 0) END), 0),
            coalesce(sum(CASE WHEN outcome = 'pending' AND coalesce(reserved_until, ts + ?) > ?
                              THEN reserved_micros
                              WHEN outcome = 'ok' AND cost_micros IS NULL THEN reserved_micros END), 0)
        FROM attempts WHERE {where} AND ts >= ? AND ts < ?
        """,
        (reservation_timeout, now, *params, start, end),
    ).fetchone()
    return Spend(int(row[0]), int(row[1]), int(row[2]))


def calls(conn: sqlite3.Connection, scope: Scope, since: float, *, free_only: bool = False) -> list[float]:
    """Times of the scope's attempts after ``since``, oldest first (every attempt is a call, failed or not)."""
    where, params = scope_filter(scope)
    free = " AND free_model" if free_only else ""
    rows = conn.execute(f"SELECT ts FROM attempts WHERE {where}{free} AND ts > ? ORDER BY ts", (*params, since))
    return [ts for (ts,) in rows]
