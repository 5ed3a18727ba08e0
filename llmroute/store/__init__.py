"""The state file: the only place in llmroute that speaks SQL.

One SQLite file holds the attempts ledger, key health and routing cursors.
Secrets never enter it: keys are known by fingerprint.
"""

from __future__ import annotations

import functools
import math
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from llmroute.errors import StateError

from llmroute.limits import BreakerSettings, Scope
from llmroute.store import (
    admission,
    breakers,
    catalog,
    checks,
    holds,
    key_facts,
    ledger,
    logs,
    recovery,
    reports,
    retention,
    spend,
)
from llmroute.store.admission import Refusal, Ticket
from llmroute.store.breakers import BreakerState
from llmroute.store.catalog import CachedCatalog
from llmroute.store.checks import CheckRow
from llmroute.store.connection import connect, reset_damaged, state_error, warn_reset, write_transaction
from llmroute.store.holds import Address, Hold
from llmroute.store.spend import Spend
from llmroute.store.ledger import AttemptRow
from llmroute.store.logs import LogCounts, LogEntry
from llmroute.store.migrations import migrate
from llmroute.store.reports import Group, Totals
from llmroute.store.retention import PruneResult, VacuumResult
from llmroute.store.snapshot import Snapshot
from llmroute.types import ModelInfo

__all__ = [
    "Address",
    "AttemptRow",
    "BreakerState",
    "CachedCatalog",
    "CheckRow",
    "Group",
    "Hold",
    "LogCounts",
    "LogEntry",
    "PruneResult",
    "Refusal",
    "Spend",
    "Store",
    "Ticket",
    "Totals",
    "VacuumResult",
]


ABANDON_EVERY = 30.0
"""Seconds between two sweeps of a process for attempts whose reservation ran out (see ``admission.admit``)."""

P = ParamSpec("P")
R = TypeVar("R")


def _guarded(method: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """Any SQLite failure leaves the store as one :class:`StateError` naming the file (see ``Store._failure``)."""

    @functools.wraps(method)
    def guarded(self: Store, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc

    return guarded


class Store:
    """The state file. Every method raises :class:`StateError` (never a raw ``sqlite3`` error) when it fails."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._next_abandon = -math.inf
        self._snapshot = Snapshot(conn)

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open and migrate; a file found damaged on the way is kept aside (with a warning) for a new one."""
        for attempt in range(3):
            conn = connect(path)
            try:
                migrate(conn)
                return cls(conn, path)
            except sqlite3.Error as exc:
                damaged = attempt < 2 and recovery.is_corruption(exc) and recovery.confirmed(conn)
                conn.close()
                if not damaged:
                    raise state_error(exc, path) from exc
                aside = recovery.reset(path, recovery.snapshot(path), str(exc))
                if aside is not None:
                    warn_reset(path, exc, aside)
        raise AssertionError("unreachable: the third attempt returns or raises")

    def _failure(self, exc: sqlite3.Error) -> StateError:
        """The error to raise for a failed query; damage confirmed by ``quick_check`` is kept aside first."""
        self._snapshot.forget()
        if recovery.is_corruption(exc):
            aside = reset_damaged(self._conn, self.path, exc)
            if aside is not None:
                return StateError(
                    f"the state file {self.path} was damaged ({exc}); kept a copy as {aside.name} "
                    "and emptied it: the next run starts afresh"
                )
        return state_error(exc, self.path)

    def close(self) -> None:
        self._conn.close()

    @_guarded
    def record_attempt(self, row: AttemptRow) -> None:
        ledger.record(self._conn, (row,))

    @_guarded
    def record_attempts(self, rows: Iterable[AttemptRow]) -> None:
        """Write many settled attempts (and their days' totals) in one transaction: imports, benchmarks."""
        ledger.record(self._conn, rows)

    @_guarded
    def attempts(self, *, since: float = 0.0) -> list[AttemptRow]:
        return ledger.rows(self._conn, since=since)

    @_guarded
    def log_exchange(self, entry: LogEntry) -> int:
        """Log one answered exchange (and its conversation, on its first turn); the row id."""
        return logs.record(self._conn, entry)

    @_guarded
    def conversation(self, conversation_id: str) -> list[LogEntry] | None:
        """The logged turns of a conversation, oldest first; None when there is no such conversation."""
        return logs.conversation(self._conn, conversation_id)

    @_guarded
    def latest_conversation(self) -> str | None:
        return logs.latest_conversation(self._conn)

    @_guarded
    def logged(
        self, *, limit: int | None, search: str | None = None, conversation_id: str | None = None
    ) -> list[LogEntry]:
        """The newest ``limit`` logged exchanges that match (all when None), oldest first."""
        return logs.entries(self._conn, limit=limit, search=search, conversation_id=conversation_id)

    @_guarded
    def log_counts(self) -> LogCounts:
        return logs.counts(self._conn)

    @_guarded
    def log_switch(self) -> bool | None:
        """``llmroute logs on|off`` as last set (None: never set)."""
        return logs.switch(self._conn)

    @_guarded
    def set_log_switch(self, enabled: bool, now: float) -> None:
        logs.set_switch(self._conn, enabled, now)

    @_guarded
    def holds_in_force(self, addresses: Sequence[Address], *, endpoint: str, now: float) -> list[Hold]:
        """The holds at any of ``addresses`` that block a candidate now (one query)."""
        snapshot = self._snapshot.current()
        return holds.in_force(snapshot.holds(), addresses, endpoint, now, snapshot.fetched_at)

    @_guarded
    def holds_of(self, subjects: Iterable[str]) -> list[Hold]:
        """Every hold kept for these key or pool ids, in force or not."""
        return holds.load(self._conn, subjects)

    @_guarded
    def all_holds(self) -> list[Hold]:
        return holds.load_all(self._conn)

    @_guarded
    def record_failure(
        self,
        address: Address,
        *,
        provider: str,
        label: str,
        endpoint: str,
        now: float,
        error_kind: str,
        reason: str,
        effect: str,
        deadline: Callable[[int], float] | None,
    ) -> Hold:
        return holds.record_failure(
            self._conn,
            address,
            provider=provider,
            label=label,
            endpoint=endpoint,
            now=now,
            error_kind=error_kind,
            reason=reason,
            effect=effect,
            deadline=deadline,
        )

    @_guarded
    def record_success(self, address: Address, now: float) -> None:
        holds.record_success(self._conn, address, now)

    @_guarded
    def clear_holds(self, subjects: Iterable[str] | None = None, providers: Iterable[str] = ()) -> list[Hold]:
        """Lift the holds of these key or pool ids and providers (every hold when ``subjects`` is None)."""
        return holds.clear(self._conn, subjects, providers)

    @_guarded
    def record_free_limit(self, key_id: str, provider: str, limit: int, now: float) -> None:
        key_facts.record_free_limit(self._conn, key_id, provider, limit, now)

    @_guarded
    def free_limits(self, key_ids: Iterable[str]) -> dict[str, int]:
        """Key id -> the free-model requests a day its provider last reported (OpenRouter ``GET /key``)."""
        return key_facts.free_limits(self._conn, key_ids)

    @_guarded
    def next_cursor(self, name: str) -> int:
        """Atomically take the next position of a round-robin cursor (0, 1, 2, ...)."""
        with write_transaction(self._conn):
            row = self._conn.execute(
                "INSERT INTO cursors (name, position) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET position = position + 1 RETURNING position",
                (name,),
            ).fetchone()
        return int(row[0]) - 1

    @_guarded
    def replace_catalog(self, provider: str, models: Iterable[ModelInfo], now: float) -> None:
        catalog.replace(self._conn, provider, models, now)

    @_guarded
    def catalog_model(self, provider: str, model: str) -> ModelInfo | None:
        return self._snapshot.current().model(provider, model)

    @_guarded
    def catalog_lacks(self, provider: str, model: str) -> bool:
        """True when the provider's catalogue was fetched and does not list ``model``."""
        return catalog.lacks(self._conn, provider, model)

    @_guarded
    def catalogs(self, providers: Iterable[str] | None = None) -> dict[str, CachedCatalog]:
        return catalog.load(self._conn, providers)

    @_guarded
    def record_checks(self, rows: list[CheckRow]) -> None:
        checks.record(self._conn, rows)

    @_guarded
    def latest_checks(self) -> dict[str, CheckRow]:
        return checks.latest(self._conn)

    @_guarded
    def admit(self, ticket: Ticket, now: float) -> int | Refusal:
        """Reserve a slot for one attempt (a pending ledger row), or say why it may not be sent."""
        abandon = now >= self._next_abandon
        if abandon:
            self._next_abandon = now + ABANDON_EVERY
        with self._snapshot.ledger_write():
            return admission.admit(self._conn, ticket, now, abandon=abandon)

    @_guarded
    def settle(
        self,
        attempt_id: int,
        row: AttemptRow,
        *,
        breaker: BreakerSettings | None = None,
        success: Address | None = None,
    ) -> None:
        """Settle an admitted attempt; in the same transaction feed the provider's breaker (``breaker``: its
        thresholds; None when the attempt says nothing of the provider's health) and end the failure streak
        at ``success``."""
        with write_transaction(self._conn):
            snapshot = self._snapshot.current()
            with snapshot.ledger_write():
                admission.settle_in(self._conn, attempt_id, row)
            if breaker is not None:
                breakers.record_in(
                    self._conn,
                    row.provider,
                    row.ts,
                    error_kind=row.error_kind,
                    reason=row.message,
                    settings=breaker,
                    state=snapshot.breaker(row.provider),
                )
            if success is not None and (kept := snapshot.holds().get(success)) and kept.consecutive_failures:
                holds.succeed_in(self._conn, success, row.ts)

    @_guarded
    def spend(self, scope: Scope, start: float, end: float, *, now: float, reservation_timeout: float) -> Spend:
        return spend.spend(self._conn, scope, start, end, now=now, reservation_timeout=reservation_timeout)

    @_guarded
    def calls(self, scope: Scope, since: float) -> list[float]:
        return spend.calls(self._conn, scope, since)

    @_guarded
    def note_budget_alert(self, scope: str, period: str, level: int, now: float) -> bool:
        """Remember that an alert was shown; False when it already was in this period."""
        with write_transaction(self._conn):
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO budget_alerts (scope, period, level, ts) VALUES (?, ?, ?, ?)",
                (scope, period, level, now),
            )
        return cursor.rowcount == 1

    @_guarded
    def breaker_acquire(self, provider: str, now: float, trial_timeout: float) -> float | None:
        if self._snapshot.current().breaker(provider).state == "closed":
            return None
        return breakers.acquire(self._conn, provider, now, trial_timeout)

    @_guarded
    def breaker_record(
        self, provider: str, now: float, *, error_kind: str | None, reason: str | None, settings: BreakerSettings
    ) -> BreakerState:
        return breakers.record(self._conn, provider, now, error_kind=error_kind, reason=reason, settings=settings)

    @_guarded
    def breaker_states(self) -> list[BreakerState]:
        return breakers.load_all(self._conn)

    @_guarded
    def reset_breakers(self, providers: Iterable[str] | None = None) -> list[BreakerState]:
        return breakers.reset(self._conn, providers)

    @_guarded
    def totals_by_key(self, start: float, end: float) -> dict[str, Totals]:
        """Key id -> calls, tokens and settled cost of its attempts with ``start <= ts < end``."""
        return reports.totals_by_key(self._conn, start, end)

    @_guarded
    def grouped_totals(self, by: str, start: float, end: float) -> list[Group]:
        """Totals per key, provider, model or UTC day (``by``) of the attempts with ``start <= ts < end``."""
        return reports.grouped(self._conn, by, start, end)

    @_guarded
    def last_latencies(self, key_ids: Iterable[str]) -> dict[str, float]:
        return reports.last_latencies(self._conn, key_ids)

    @_guarded
    def latencies_since(self, since: float) -> dict[str, list[float]]:
        return reports.latencies_since(self._conn, since)

    @_guarded
    def prunable(self, *, cutoff: float) -> PruneResult:
        """What :meth:`prune` would delete (``prune --dry-run``)."""
        return retention.prunable(self._conn, cutoff=cutoff)

    @_guarded
    def prune(self, *, cutoff: float, time_budget: float | None = None, done_at: float | None = None) -> PruneResult:
        """Delete settled raw attempts before ``cutoff`` (a UTC midnight) in short batches; the daily totals stay."""
        return retention.prune(self._conn, cutoff=cutoff, time_budget=time_budget, done_at=done_at)

    @_guarded
    def trim_if_due(
        self, *, now: float, keep_days: int, time_budget: float = retention.TRIM_SECONDS
    ) -> PruneResult | None:
        """The daily trim: at most once a day, ``time_budget`` seconds at most; None when it was not due."""
        return retention.trim_if_due(self._conn, now=now, keep_days=keep_days, time_budget=time_budget)

    @_guarded
    def vacuum(self) -> VacuumResult:
        """Rewrite the file without its free pages (as incremental auto-vacuum) and truncate the WAL."""
        return retention.vacuum(self._conn)

    @_guarded
    def lifetime_by_series(self) -> list[reports.SeriesTotals]:
        """All-time calls, tokens and settled cost per (provider, key label, model): what metrics count."""
        return reports.lifetime_by_series(self._conn)

    @_guarded
    def pending_by_series(self) -> dict[reports.Series, int]:
        """Attempts in flight per (provider, key label, model)."""
        return reports.pending_by_series(self._conn)

    @_guarded
    def requests_since(self, since: float) -> reports.RequestCounts:
        return reports.requests_since(self._conn, since)

    @_guarded
    def window_by_series(
        self, since: float, latency_bounds_ms: Sequence[float], ttft_bounds_ms: Sequence[float]
    ) -> list[reports.WindowGroup]:
        """Settled attempts since ``since`` per series, outcome and error kind, with latency histograms."""
        return reports.window_by_series(self._conn, since, latency_bounds_ms, ttft_bounds_ms)
