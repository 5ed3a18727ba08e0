"""Read-only sums for ``status`` and ``costs``: calls, tokens and money per key, provider, model, day.

Sums come from the running totals per UTC day (``totals``), which count every
attempt ever written, pruned ones included: a report over a year reads a row
per day, key and model. Cost sums count settled attempts only (a pending attempt
holds a reservation, not a cost), exactly as :func:`llmroute.store.spend.spend`
does, so a report's total equals the spend its budget is held to. Money stays in
integer micro-dollars: the sums are exact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from llmroute.store.spend import day_range
from llmroute.store.totals import COUNTS, KEY_ID

GROUPINGS: dict[str, tuple[str, ...]] = {
    "key": ("key_id",),
    "provider": ("provider",),
    "model": ("provider", "model"),
    "day": ("day",),
}
"""What ``costs --by`` groups on: columns of ``usage_days``, the first naming the group."""

_SUMS = ", ".join(f"coalesce(sum({column}), 0)" for column in COUNTS if column != "held_micros")
"""Every count but ``held_micros`` (what budgets hold, not what was spent), in :class:`Totals` order."""


@dataclass(frozen=True)
class Totals:
    """Sums over a set of attempts. Every attempt is a call, whatever its outcome."""

    calls: int = 0
    ok: int = 0
    failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    reported_micros: int = 0
    """Cost the providers reported."""
    estimated_micros: int = 0
    """Cost computed from catalogue or configured prices."""
    unpriced: int = 0
    """Successful calls whose cost nobody knows (no reported cost, no price): counted as nothing."""

    @property
    def cost_micros(self) -> int:
        return self.reported_micros + self.estimated_micros

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(a + b for a, b in zip(_values(self), _values(other), strict=True)))


def _values(totals: Totals) -> tuple[int, ...]:
    return tuple(getattr(totals, name) for name in Totals.__dataclass_fields__)


@dataclass(frozen=True)
class Group:
    """One row of a grouped report: the group's names (per :data:`GROUPINGS`), a label, and its sums."""

    names: tuple[str, ...]
    provider: str
    label: str
    """A provider and key label seen in the group (the greatest, should a key have been renamed or moved)."""
    totals: Totals


def totals_by_key(conn: sqlite3.Connection, start: float, end: float) -> dict[str, Totals]:
    """Key id -> sums of its attempts with ``start <= ts < end``."""
    return {g.names[0]: g.totals for g in grouped(conn, "key", start, end)}


def grouped(conn: sqlite3.Connection, by: str, start: float, end: float) -> list[Group]:
    """Sums per group of the attempts with ``start <= ts < end``, ordered by the group's names."""
    columns = GROUPINGS[by]
    names = ", ".join(columns)
    rows = conn.execute(
        f"""
        SELECT {names}, max(provider), max(key_label), {_SUMS}
        FROM usage_days WHERE day >= ? AND day < ?
        GROUP BY {names} ORDER BY {names}
        """,
        day_range(start, end),
    )
    width = len(columns)
    return [Group(tuple(row[:width]), row[width], row[width + 1], Totals(*row[width + 2 :])) for row in rows]


def last_latencies(conn: sqlite3.Connection, key_ids: Iterable[str]) -> dict[str, float]:
    """Key id -> latency (ms) of its newest successful attempt; keys never answered are absent.

    One look-up per key through the ``attempts_key_id`` index, so the time does not grow with the ledger.
    """
    found = {}
    for key_id in key_ids:
        row = conn.execute(
            f"SELECT latency_ms FROM attempts WHERE {KEY_ID} = ? AND outcome = 'ok' ORDER BY ts DESC LIMIT 1",
            (key_id,),
        ).fetchone()
        if row is not None:
            found[key_id] = float(row[0])
    return found


def latencies_since(conn: sqlite3.Connection, since: float) -> dict[str, list[float]]:
    """Key id -> latencies (ms) of its successful attempts after ``since``, oldest first."""
    rows = conn.execute(
        f"SELECT {KEY_ID}, latency_ms FROM attempts WHERE ts > ? AND outcome = 'ok' ORDER BY ts", (since,)
    )
    found: dict[str, list[float]] = {}
    for key_id, latency in rows:
        found.setdefault(key_id, []).append(float(latency))
    return found
