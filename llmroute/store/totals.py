"""Running totals per UTC day, key, provider and model: what budgets and reports read instead of the raw ledger.

Every write of the ledger (a pending attempt admitted, an attempt settled or
recorded whole) adds its *contribution* to its day's ``usage_days`` row in the
same transaction, so the totals always equal a full recount of the ledger, and
stay exact after old raw rows are pruned (``retention``): a budget's month or a
``costs --since`` over a year sums at most a row per day, key and model, however
many attempts there were. A settlement adds the difference between what the
attempt now counts and what it counted before, so settling twice (a late
settlement of an attempt already marked abandoned) never counts twice.

Reservations of attempts still in flight are not totals: they stop counting on
their own when their process dies, so they are read from the pending rows
(a partial index keeps that short).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

KEY_ID = "coalesce(key_fingerprint, 'provider:' || provider)"
"""A key's id in the ledger: its fingerprint, or ``provider:NAME`` for a keyless provider.

The same expression is indexed (``attempts_key_id``): keep it character for character."""

COUNTS = (
    "calls",
    "ok",
    "failed",
    "tokens_in",
    "tokens_out",
    "reported_micros",
    "estimated_micros",
    "unpriced",
    "held_micros",
)
"""The columns of ``usage_days`` that add up, in the order :func:`contribution` gives them."""

Counts = tuple[int, int, int, int, int, int, int, int, int]

_ADD = f"""
    INSERT INTO usage_days (day, key_id, provider, model, key_label, {", ".join(COUNTS)})
    VALUES (date(?, 'unixepoch'), ?, ?, ?, ?, {", ".join("?" * len(COUNTS))})
    ON CONFLICT (key_id, day, provider, model) DO UPDATE SET
        key_label = max(key_label, excluded.key_label),
        {", ".join(f"{c} = {c} + excluded.{c}" for c in COUNTS)}
"""


def contribution(
    outcome: str,
    tokens_in: int | None,
    tokens_out: int | None,
    cost_micros: int | None,
    cost_estimated: bool,
    reserved_micros: int,
) -> Counts:
    """What one attempt adds to its day: every attempt is a call; a pending one counts nothing else yet.

    An answered call whose cost nobody knows holds its worst-case reservation (``held_micros``)
    against budgets for good: a budget holds for any price.
    """
    if outcome == "pending":
        return (1, 0, 0, 0, 0, 0, 0, 0, 0)
    cost = cost_micros or 0
    unknown = outcome == "ok" and cost_micros is None
    return (
        1,
        int(outcome == "ok"),
        int(outcome == "failed"),
        tokens_in or 0,
        tokens_out or 0,
        0 if cost_estimated else cost,
        cost if cost_estimated else 0,
        int(unknown),
        reserved_micros if unknown else 0,
    )


def add(
    conn: sqlite3.Connection,
    *,
    ts: float,
    key_id: str,
    provider: str,
    model: str,
    key_label: str,
    counts: Sequence[int],
) -> None:
    """Add ``counts`` to the day of ``ts`` (inside the caller's write transaction)."""
    if any(counts):
        conn.execute(_ADD, (ts, key_id, provider, model, key_label, *counts))


def difference(new: Counts, old: Counts) -> Counts:
    return tuple(a - b for a, b in zip(new, old, strict=True))  # type: ignore[return-value]


def key_id(key_fingerprint: str | None, provider: str) -> str:
    """The Python twin of :data:`KEY_ID`."""
    return key_fingerprint if key_fingerprint is not None else f"provider:{provider}"
