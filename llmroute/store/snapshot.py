"""What every attempt's gate reads, kept in memory for as long as the state file says it has not changed.

Each attempt's gate reads the holds, the provider's breaker and the model's catalogue row; each settlement
reads the breaker and the hold it may end. Those tables are small and change rarely, while a gateway asks
them thousands of times a second. The snapshot holds them and asks SQLite whether they may have changed
since: ``PRAGMA data_version`` changes whenever another connection (another process, or another ``Store``
in this one) commits, and ``total_changes`` whenever this connection writes. A write of this connection
that is known to leave them as they are (a ledger row and its day's totals: :meth:`Snapshot.ledger_write`)
is not counted as a change; any other write of this connection, or any commit elsewhere, drops the
snapshot, and the next read loads it afresh. One cheap statement per read replaces a query and its rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from llmroute.store import breakers, catalog, holds
from llmroute.store.breakers import BreakerState
from llmroute.store.holds import Address, Hold
from llmroute.types import ModelInfo

MODELS_KEPT = 4096
"""Catalogue rows kept at most (a gateway asks for the few models its clients use)."""


class Snapshot:
    """The holds, breakers and catalogue rows of one connection, as of its last check."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._version: int | None = None
        self._changes = -1
        self._holds: dict[Address, Hold] | None = None
        self._fetched: dict[str, float] = {}
        self._breakers: dict[str, BreakerState] | None = None
        self._models: dict[tuple[str, str], ModelInfo | None] = {}

    def current(self) -> Snapshot:
        """Drop what may be stale (a commit elsewhere, a write here); returns itself, for chaining."""
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version or self._conn.total_changes != self._changes:
            self.forget()
            self._version = version
            self._changes = self._conn.total_changes
        return self

    def forget(self) -> None:
        self._holds = None
        self._fetched = {}
        self._breakers = None
        self._models = {}
        self._version = None

    @contextmanager
    def ledger_write(self) -> Iterator[None]:
        """Around a write of this connection that touches only the ledger and its totals: it keeps the snapshot
        (unless the snapshot was already stale)."""
        clean = self._conn.total_changes == self._changes
        yield
        if clean:
            self._changes = self._conn.total_changes

    def holds(self) -> dict[Address, Hold]:
        """Every hold kept, by address (one row per address: its primary key)."""
        if self._holds is None:
            self._holds = {h.address: h for h in holds.load_all(self._conn)}
            self._fetched = dict(self._conn.execute("SELECT provider, fetched_at FROM catalog_fetches"))
        return self._holds

    def fetched_at(self, provider: str) -> float:
        """When the provider's catalogue was last fetched (0 when never)."""
        self.holds()
        return self._fetched.get(provider, 0.0)

    def breaker(self, provider: str) -> BreakerState:
        if self._breakers is None:
            self._breakers = {b.provider: b for b in breakers.load_all(self._conn)}
        return self._breakers.get(provider) or BreakerState(provider)

    def model(self, provider: str, model: str) -> ModelInfo | None:
        key = (provider, model)
        if key not in self._models:
            if len(self._models) >= MODELS_KEPT:
                self._models.clear()
            self._models[key] = catalog.load_model(self._conn, provider, model)
        return self._models[key]
