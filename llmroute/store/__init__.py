"""The state file: the only place in llmroute that speaks SQL.

One SQLite file holds the attempts ledger, key health and routing cursors.
Secrets never enter it: keys are known by fingerprint.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

from llmroute.limits import BreakerSettings, Scope
from llmroute.store import admission, breakers, catalog, checks, key_state, ledger, reports, spend
from llmroute.store.admission import Refusal, Ticket
from llmroute.store.breakers import BreakerState
from llmroute.store.catalog import CachedCatalog
from llmroute.store.checks import CheckRow
from llmroute.store.connection import connect, write_transaction
from llmroute.store.key_state import KeyState
from llmroute.store.spend import Spend
from llmroute.store.ledger import AttemptRow
from llmroute.store.migrations import migrate
from llmroute.store.reports import Group, Totals
from llmroute.types import ModelInfo

__all__ = [
    "AttemptRow",
    "BreakerState",
    "CachedCatalog",
    "CheckRow",
    "Group",
    "KeyState",
    "Refusal",
    "Spend",
    "Store",
    "Ticket",
    "Totals",
]


class Store:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Store:
        conn = connect(path)
        migrate(conn)
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    def record_attempt(self, row: AttemptRow) -> None:
        ledger.record(self._conn, row)

    def attempts(self, *, since: float = 0.0) -> list[AttemptRow]:
        return ledger.rows(self._conn, since=since)

    def key_states(self, key_ids: Iterable[str]) -> dict[str, KeyState]:
        return key_state.load(self._conn, key_ids)

    def all_key_states(self) -> list[KeyState]:
        return key_state.load_all(self._conn)

    def record_failure(
        self,
        *,
        key_id: str,
        provider: str,
        label: str,
        now: float,
        error_kind: str,
        reason: str,
        disable: bool,
        deadline: Callable[[int], float] | None,
    ) -> KeyState:
        return key_state.record_failure(
            self._conn,
            key_id=key_id,
            provider=provider,
            label=label,
            now=now,
            error_kind=error_kind,
            reason=reason,
            disable=disable,
            deadline=deadline,
        )

    def record_success(self, key_id: str, now: float) -> None:
        key_state.record_success(self._conn, key_id, now)

    def clear_key_states(self, key_ids: Iterable[str] | None = None) -> list[KeyState]:
        return key_state.clear(self._conn, key_ids)

    def next_cursor(self, name: str) -> int:
        """Atomically take the next position of a round-robin cursor (0, 1, 2, ...)."""
        with write_transaction(self._conn):
            row = self._conn.execute(
                "INSERT INTO cursors (name, position) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET position = position + 1 RETURNING position",
                (name,),
            ).fetchone()
        return int(row[0]) - 1

    def replace_catalog(self, provider: str, models: Iterable[ModelInfo], now: float) -> None:
        catalog.replace(self._conn, provider, models, now)

    def catalog_model(self, provider: str, model: str) -> ModelInfo | None:
        return catalog.load_model(self._conn, provider, model)

    def catalogs(self, providers: Iterable[str] | None = None) -> dict[str, CachedCatalog]:
        return catalog.load(self._conn, providers)

    def record_checks(self, rows: list[CheckRow]) -> None:
        checks.record(self._conn, rows)

    def latest_checks(self) -> dict[str, CheckRow]:
        return checks.latest(self._conn)

    def admit(self, ticket: Ticket, now: float) -> int | Refusal:
        """Reserve a slot for one attempt (a pending ledger row), or say why it may not be sent."""
        return admission.admit(self._conn, ticket, now)

    def settle(self, attempt_id: int, row: AttemptRow) -> None:
        admission.settle(self._conn, attempt_id, row)

    def spend(self, scope: Scope, start: float, end: float, *, now: float, reservation_timeout: float) -> Spend:
        return spend.spend(self._conn, scope, start, end, now=now, reservation_timeout=reservation_timeout)

    def calls(self, scope: Scope, since: float) -> list[float]:
        return spend.calls(self._conn, scope, since)

    def note_budget_alert(self, scope: str, period: str, level: int, now: float) -> bool:
        """Remember that an alert was shown; False when it already was in this period."""
        with write_transaction(self._conn):
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO budget_alerts (scope, period, level, ts) VALUES (?, ?, ?, ?)",
                (scope, period, level, now),
            )
        return cursor.rowcount == 1

    def breaker_acquire(self, provider: str, now: float, trial_timeout: float) -> float | None:
        return breakers.acquire(self._conn, provider, now, trial_timeout)

    def breaker_record(
        self, provider: str, now: float, *, error_kind: str | None, reason: str | None, settings: BreakerSettings
    ) -> BreakerState:
        return breakers.record(self._conn, provider, now, error_kind=error_kind, reason=reason, settings=settings)

    def breaker_states(self) -> list[BreakerState]:
        return breakers.load_all(self._conn)

    def reset_breakers(self, providers: Iterable[str] | None = None) -> list[BreakerState]:
        return breakers.reset(self._conn, providers)

    def totals_by_key(self, start: float, end: float) -> dict[str, Totals]:
        """Key id -> calls, tokens and settled cost of its attempts with ``start <= ts < end``."""
        return reports.totals_by_key(self._conn, start, end)

    def grouped_totals(self, by: str, start: float, end: float) -> list[Group]:
        """Totals per key, provider, model or UTC day (``by``) of the attempts with ``start <= ts < end``."""
        return reports.grouped(self._conn, by, start, end)

    def last_latencies(self, key_ids: Iterable[str]) -> dict[str, float]:
        return reports.last_latencies(self._conn, key_ids)

    def latencies_since(self, since: float) -> dict[str, list[float]]:
        return reports.latencies_since(self._conn, since)
