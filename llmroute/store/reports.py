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
from collections.abc import Iterable, Sequence
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


# --- For ``llmroute metrics`` and the gateway's ``/metrics`` -------------------------------------------------------

Series = tuple[str, str, str]
"""(provider, key label, model): how metrics name a series. A key's label, never its fingerprint or secret."""


@dataclass(frozen=True)
class SeriesTotals:
    """The all-time sums of one (provider, key label, model), pruned attempts included."""

    series: Series
    totals: Totals


@dataclass(frozen=True)
class Buckets:
    """How many values were at most each bound (cumulative, in the order asked), how many there were, their sum."""

    within: tuple[int, ...]
    count: int
    total: float


@dataclass(frozen=True)
class WindowGroup:
    """The attempts of one series with one outcome (``ok`` or ``failed``) and error kind in a window."""

    series: Series
    outcome: str
    error_kind: str
    """``unknown`` when the row names none (every ``ok`` row)."""
    attempts: int
    latency_ms: Buckets
    ttft_ms: Buckets
    """Of the attempts that streamed a first token."""


@dataclass(frozen=True)
class RequestCounts:
    requests: int
    """Distinct requests with an attempt in the window."""
    attempts: int


def lifetime_by_series(conn: sqlite3.Connection) -> list[SeriesTotals]:
    """Sums per (provider, key label, model) over every day of ``usage_days``: counters that never go down.

    Grouped by the label each day's row was written under, so that two keys that held one variable name in turn
    (a rotated key) are one series, and a day's row never moves between series (unless the key is renamed that
    very day).
    """
    rows = conn.execute(
        f"""
        SELECT provider, key_label, model, {_SUMS}
        FROM usage_days GROUP BY provider, key_label, model ORDER BY provider, key_label, model
        """
    )
    return [SeriesTotals((row[0], row[1], row[2]), Totals(*row[3:])) for row in rows]


def pending_by_series(conn: sqlite3.Connection) -> dict[Series, int]:
    """Attempts in flight (``pending`` in the ledger) per series, through the partial index of pending rows."""
    rows = conn.execute(
        "SELECT provider, key_label, model, count(*) FROM attempts INDEXED BY attempts_pending "
        "WHERE outcome = 'pending' GROUP BY provider, key_label, model"
    )
    return {(row[0], row[1], row[2]): int(row[3]) for row in rows}


def requests_since(conn: sqlite3.Connection, since: float) -> RequestCounts:
    """Requests and attempts with ``ts >= since`` (raw ledger): every attempt past a request's first is a failover."""
    requests, attempts = conn.execute(
        "SELECT count(DISTINCT request_id), count(*) FROM attempts WHERE ts >= ?", (since,)
    ).fetchone()
    return RequestCounts(int(requests), int(attempts))


def window_by_series(
    conn: sqlite3.Connection, since: float, latency_bounds_ms: Sequence[float], ttft_bounds_ms: Sequence[float]
) -> list[WindowGroup]:
    """The settled ``ok`` and ``failed`` attempts with ``ts >= since`` (raw ledger), per series, outcome and error
    kind, with histograms of their latency and time to first token: one pass over the window."""
    latency = "".join(", sum(latency_ms <= ?)" for _ in latency_bounds_ms)
    ttft = "".join(", sum(ttft_ms <= ?)" for _ in ttft_bounds_ms)
    rows = conn.execute(
        f"""
        SELECT provider, key_label, model, outcome, coalesce(error_kind, 'unknown'), count(*),
               coalesce(sum(latency_ms), 0), count(ttft_ms), coalesce(sum(ttft_ms), 0){latency}{ttft}
        FROM attempts WHERE ts >= ? AND outcome IN ('ok', 'failed')
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        """,
        (*map(float, latency_bounds_ms), *map(float, ttft_bounds_ms), since),
    )
    split = 9 + len(latency_bounds_ms)
    return [
        WindowGroup(
            series=(row[0], row[1], row[2]),
            outcome=row[3],
            error_kind=row[4],
            attempts=int(row[5]),
            latency_ms=Buckets(tuple(int(n or 0) for n in row[9:split]), int(row[5]), float(row[6])),
            ttft_ms=Buckets(tuple(int(n or 0) for n in row[split:]), int(row[7]), float(row[8])),
        )
        for row in rows
    ]
