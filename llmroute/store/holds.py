"""Holds that outlive a process: cooldowns, disabled keys and unavailable models, each at its own scope.

A hold lives at an address (scope, subject, model): a key for every model
(``key``, fingerprint, ``""``), a quota pool for the free-model class
(``pool_class``, pool id, ``free``), one model at a provider (``model``,
provider, model id), ... (see :class:`llmroute.policy.StateScope`). A repeat
extends only its own address. A hold kept for another endpoint (the provider's
base URL changed) is not in force and starts afresh. An *unavailable* hold
lasts until ``reset-limits`` or until the provider's catalogue is fetched again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass
from typing import Any

from llmroute.store.connection import write_transaction


@dataclass(frozen=True)
class Address:
    """Where a hold is kept: a scope (``StateScope`` value), its subject, and a model or class ("" = all)."""

    scope: str
    subject: str
    model: str = ""


@dataclass(frozen=True)
class Hold:
    scope: str
    subject: str
    """The key id (fingerprint, or ``provider:NAME``), the pool id, or the provider's name."""
    model: str
    """The model or class the hold is about; empty for every model."""
    provider: str
    label: str
    """How to show the subject: a key's variable, a pool's name, a provider's name."""
    endpoint: str = ""
    cooldown_until: float | None = None
    disabled: bool = False
    """Until ``reset-limits`` (an invalid key)."""
    until_refresh: bool = False
    """Until ``reset-limits`` or the provider's next catalogue fetch (a model not offered here)."""
    reason: str | None = None
    error_kind: str | None = None
    consecutive_failures: int = 0
    updated_at: float = 0.0

    @property
    def address(self) -> Address:
        return Address(self.scope, self.subject, self.model)

    def blocked_until(self, now: float) -> float | None:
        """``inf`` when disabled or unavailable, the deadline while cooling, else None (usable)."""
        if self.disabled or self.until_refresh:
            return float("inf")
        if self.cooldown_until is not None and self.cooldown_until > now:
            return self.cooldown_until
        return None


_COLUMNS = (
    "scope, subject, model, provider, label, endpoint, cooldown_until, disabled, until_refresh, reason, "
    "error_kind, consecutive_failures, updated_at"
)


def _row(row: Sequence[Any]) -> Hold:
    values = list(row)
    values[7], values[8] = bool(values[7]), bool(values[8])
    return Hold(*values)


def in_force(
    kept: Mapping[Address, Hold],
    addresses: Sequence[Address],
    endpoint: str,
    now: float,
    fetched_at: Callable[[str], float],
) -> list[Hold]:
    """The holds ``kept`` at ``addresses`` that block now: kept for this endpoint, and disabled, cooling, or
    unavailable since after the provider's last catalogue fetch (``fetched_at(provider)``, 0 when never)."""
    found = (kept.get(a) for a in dict.fromkeys(addresses))
    return [
        h
        for h in found
        if h is not None
        and h.endpoint in ("", endpoint)
        and (
            h.disabled
            or (h.cooldown_until is not None and h.cooldown_until > now)
            or (h.until_refresh and h.updated_at >= fetched_at(h.provider))
        )
    ]


def load_all(conn: sqlite3.Connection) -> list[Hold]:
    return [_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM holds ORDER BY provider, label, scope, model")]


def load(conn: sqlite3.Connection, subjects: Iterable[str]) -> list[Hold]:
    """Every hold (in force or not) whose subject is one of ``subjects``."""
    wanted = list(subjects)
    if not wanted:
        return []
    marks = ",".join("?" * len(wanted))
    return [_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM holds WHERE subject IN ({marks})", wanted)]


def record_failure(
    conn: sqlite3.Connection,
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
    """Count one more failure at ``address``: cool until ``deadline(streak)`` (never earlier than an earlier
    cooldown for the same endpoint), disable (``effect="disable"``) or mark unavailable (``"unavailable"``)."""
    with write_transaction(conn):
        row = conn.execute(
            "SELECT consecutive_failures, cooldown_until, endpoint, disabled FROM holds "
            "WHERE scope = ? AND subject = ? AND model = ?",
            (address.scope, address.subject, address.model),
        ).fetchone()
        same = row is not None and row[2] in ("", endpoint)
        streak = (row[0] if same else 0) + 1
        previous = row[1] if same and row[1] else 0.0
        until = max(deadline(streak), previous) if deadline else (previous or None)
        hold = Hold(
            address.scope,
            address.subject,
            address.model,
            provider,
            label,
            endpoint,
            until,
            disabled=effect == "disable" or bool(same and row[3]),
            until_refresh=effect == "unavailable",
            reason=reason,
            error_kind=error_kind,
            consecutive_failures=streak,
            updated_at=now,
        )
        conn.execute(f"INSERT OR REPLACE INTO holds ({_COLUMNS}) VALUES ({', '.join('?' * 13)})", astuple(hold))
    return hold


def record_success(conn: sqlite3.Connection, address: Address, now: float) -> None:
    """A success ends the failure streak; a cooldown set meanwhile by another process stays."""
    with write_transaction(conn):
        succeed_in(conn, address, now)


def succeed_in(conn: sqlite3.Connection, address: Address, now: float) -> None:
    """:func:`record_success` inside the caller's write transaction."""
    conn.execute(
        "UPDATE holds SET consecutive_failures = 0, updated_at = ? "
        "WHERE scope = ? AND subject = ? AND model = ? AND consecutive_failures > 0",
        (now, address.scope, address.subject, address.model),
    )


def clear(conn: sqlite3.Connection, subjects: Iterable[str] | None = None, providers: Iterable[str] = ()) -> list[Hold]:
    """Lift every hold of ``subjects`` (key or pool ids) and of ``providers`` (all holds when both are None/empty
    and ``subjects`` is None); returns what was lifted."""
    with write_transaction(conn):
        rows = [_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM holds")]
        wanted = set(subjects) if subjects is not None else None
        names = set(providers)
        cleared = [h for h in rows if wanted is None or h.subject in wanted or h.provider in names]
        conn.executemany(
            "DELETE FROM holds WHERE scope = ? AND subject = ? AND model = ?",
            [(h.scope, h.subject, h.model) for h in cleared],
        )
    return cleared
