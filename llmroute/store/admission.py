"""Admission: the check-and-reserve that makes rate limits and budgets hold across processes.

Before each HTTP attempt, one short ``BEGIN IMMEDIATE`` transaction counts the
scope's calls in each window and its committed spend (settled cost plus live
reservations), and either inserts a *pending* attempt row holding the
worst-case cost, or refuses with the time the first slot or budget frees.
Because the count and the insert happen under the write lock, sixteen processes
racing for a ten-per-minute key send exactly ten requests.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from llmroute import windows
from llmroute.limits import Budget, FreeModelLimit, RateLimit, Scope
from llmroute.money import usd
from llmroute.store import totals
from llmroute.store.connection import write_transaction
from llmroute.store.ledger import AttemptRow
from llmroute.store.spend import nth_latest_call, spend


@dataclass(frozen=True)
class Ticket:
    """One attempt asking to be dispatched, with every limit and budget that applies to it."""

    request_id: str
    provider: str
    model: str
    key_label: str
    key_fingerprint: str | None
    free_model: bool
    rate_limits: tuple[tuple[Scope, RateLimit], ...] = ()
    free_limit: tuple[Scope, FreeModelLimit] | None = None
    budgets: tuple[tuple[Scope, Budget], ...] = ()
    reserve_micros: int = 0
    reservation_timeout: float = 600.0


@dataclass(frozen=True)
class Refusal:
    scope: Scope
    reason: str
    """e.g. ``10 calls per minute`` or ``daily budget $5.00``."""
    until: float | None
    """When the first slot or the budget frees (None: not before the configuration changes)."""
    budget: bool = False
    free: bool = False
    """A free-model cap refused it (paid models are not counted)."""
    left_micros: int | None = None
    """For a budget: what it has left (the limit less what is spent and held), never below zero."""


def admit(conn: sqlite3.Connection, ticket: Ticket, now: float, *, abandon: bool = True) -> int | Refusal:
    """Insert the pending attempt and return its id, or return why it may not be sent.

    With ``abandon``, first mark the pending attempts whose reservation ran out as abandoned. That is
    bookkeeping only (an expired reservation already counts for nothing), so a busy process does it now and
    then, not on every admission.
    """
    with write_transaction(conn):
        if abandon:
            _abandon_stale(conn, now, ticket.reservation_timeout)
        refusal = _rate_refusal(conn, ticket, now) or _budget_refusal(conn, ticket, now)
        if refusal is not None:
            return refusal
        cursor = conn.execute(
            """
            INSERT INTO attempts (ts, request_id, provider, key_label, key_fingerprint, model, outcome,
                                  latency_ms, reserved_micros, reserved_until, free_model)
            VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)
            """,
            (
                now,
                ticket.request_id,
                ticket.provider,
                ticket.key_label,
                ticket.key_fingerprint,
                ticket.model,
                ticket.reserve_micros,
                now + ticket.reservation_timeout,
                int(ticket.free_model),
            ),
        )
        totals.add(
            conn,
            ts=now,
            key_id=totals.key_id(ticket.key_fingerprint, ticket.provider),
            provider=ticket.provider,
            model=ticket.model,
            key_label=ticket.key_label,
            counts=totals.contribution("pending", None, None, None, False, ticket.reserve_micros),
        )
        return int(cursor.lastrowid or 0)


_SETTLE = """
    UPDATE attempts SET outcome = ?, error_kind = ?, http_status = ?, message = ?, latency_ms = ?,
        ttft_ms = ?, tokens_in = ?, tokens_out = ?, cost_micros = ?, cost_estimated = ?
    WHERE id = ?
"""


def settle_in(conn: sqlite3.Connection, attempt_id: int, row: AttemptRow) -> bool:
    """:func:`settle` inside the caller's write transaction; False when the attempt is no longer in the ledger.

    An attempt still pending (nearly always) is settled by one statement: a pending row holds nothing but its
    reservation. One settled or abandoned meanwhile is read first, so that its day's totals change by the
    difference.
    """
    values = (
        row.outcome,
        row.error_kind,
        row.http_status,
        row.message,
        row.latency_ms,
        row.ttft_ms,
        row.tokens_in,
        row.tokens_out,
        row.cost_micros,
        int(row.cost_estimated),
        attempt_id,
    )
    pending = conn.execute(
        f"{_SETTLE} AND outcome = 'pending' RETURNING ts, provider, key_label, key_fingerprint, model, reserved_micros",
        values,
    ).fetchall()
    if pending:
        ts, provider, label, fingerprint, model, reserved = pending[0]
        outcome, tokens_in, tokens_out, cost, estimated = "pending", None, None, None, False
    else:
        before = conn.execute(
            "SELECT ts, provider, key_label, key_fingerprint, model, outcome, tokens_in, tokens_out, cost_micros, "
            "cost_estimated, reserved_micros FROM attempts WHERE id = ?",
            (attempt_id,),
        ).fetchone()
        if before is None:
            return False
        ts, provider, label, fingerprint, model, outcome, tokens_in, tokens_out, cost, estimated, reserved = before
        conn.execute(_SETTLE, values)
    old = totals.contribution(outcome, tokens_in, tokens_out, cost, bool(estimated), reserved)
    new = totals.contribution(row.outcome, row.tokens_in, row.tokens_out, row.cost_micros, row.cost_estimated, reserved)
    totals.add(
        conn,
        ts=ts,
        key_id=totals.key_id(fingerprint, provider),
        provider=provider,
        model=model,
        key_label=label,
        counts=totals.difference(new, old),
    )
    return True


def _abandon_stale(conn: sqlite3.Connection, now: float, default_timeout: float) -> None:
    """A pending attempt past its reservation belongs to a process that died: say so."""
    conn.execute(
        "UPDATE attempts SET outcome = 'abandoned', message = 'the process ended before the attempt was settled' "
        "WHERE outcome = 'pending' AND coalesce(reserved_until, ts + ?) < ?",
        (default_timeout, now),
    )


def _rate_refusal(conn: sqlite3.Connection, ticket: Ticket, now: float) -> Refusal | None:
    """The first window that is full; each is one indexed look-up of its ``allowed``-th latest call."""
    for scope, limit in ticket.rate_limits:
        for seconds, allowed in limit.windows():
            oldest = nth_latest_call(conn, scope, now - seconds, allowed)
            if oldest is not None:
                return Refusal(scope, f"{allowed} calls per {_window_name(seconds)}", oldest + seconds)
    if ticket.free_model and ticket.free_limit is not None:
        scope, free = ticket.free_limit
        if free.per_minute is not None:
            oldest = nth_latest_call(conn, scope, now - 60, free.per_minute, free_only=True)
            if oldest is not None:
                return Refusal(scope, f"{free.per_minute} free-model calls per minute", oldest + 60, free=True)
        if free.per_utc_day is not None:
            today = windows.day(now)
            if nth_latest_call(conn, scope, today.start, free.per_utc_day, free_only=True) is not None:
                return Refusal(scope, f"{free.per_utc_day} free-model calls per UTC day", today.end, free=True)
    return None


def _budget_refusal(conn: sqlite3.Connection, ticket: Ticket, now: float) -> Refusal | None:
    """A call known to cost nothing (a local model, a free one) is never refused by a budget."""
    if ticket.reserve_micros <= 0:
        return None
    for scope, budget in ticket.budgets:
        for kind, limit in (("day", budget.daily), ("month", budget.monthly)):
            if limit is None:
                continue
            period = windows.period(kind, now)
            used = spend(conn, scope, period.start, period.end, now=now, reservation_timeout=ticket.reservation_timeout)
            limit_micros = round(limit * 1_000_000)
            if used.committed_micros >= limit_micros or used.committed_micros + ticket.reserve_micros > limit_micros:
                name = "daily" if kind == "day" else "monthly"
                left = max(limit_micros - used.committed_micros, 0)
                return Refusal(scope, f"{name} budget {usd(limit)}", period.end, budget=True, left_micros=left)
    return None


def _window_name(seconds: float) -> str:
    return {60.0: "minute", 3600.0: "hour", 86400.0: "24 hours"}.get(seconds, f"{seconds:g}s")
