"""Per-key health that outlives a process: cooldowns, disabled keys, failure streaks."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from llmroute.store.connection import write_transaction


@dataclass(frozen=True)
class KeyState:
    key_id: str
    provider: str
    label: str
    cooldown_until: float | None = None
    disabled: bool = False
    reason: str | None = None
    error_kind: str | None = None
    consecutive_failures: int = 0

    def blocked_until(self, now: float) -> float | None:
        """``inf`` when disabled, the deadline while cooling, else None (usable)."""
        if self.disabled:
            return float("inf")
        if self.cooldown_until is not None and self.cooldown_until > now:
            return self.cooldown_until
        return None


_COLUMNS = "key_id, provider, label, cooldown_until, disabled, reason, error_kind, consecutive_failures"


def _row(row: tuple[Any, ...]) -> KeyState:
    key_id, provider, label, cooldown_until, disabled, reason, error_kind, streak = row
    return KeyState(key_id, provider, label, cooldown_until, bool(disabled), reason, error_kind, streak)


def load(conn: sqlite3.Connection, key_ids: Iterable[str]) -> dict[str, KeyState]:
    ids = list(key_ids)
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = conn.execute(f"SELECT {_COLUMNS} FROM key_state WHERE key_id IN ({marks})", ids)
    return {row[0]: _row(row) for row in rows}


def load_all(conn: sqlite3.Connection) -> list[KeyState]:
    return [_row(row) for row in conn.execute(f"SELECT {_COLUMNS} FROM key_state ORDER BY provider, label")]


def record_failure(
    conn: sqlite3.Connection,
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
    """Count one more failure; cool until ``deadline(streak)`` (never earlier than before) or disable."""
    with write_transaction(conn):
        row = conn.execute(
            "SELECT consecutive_failures, cooldown_until FROM key_state WHERE key_id = ?", (key_id,)
        ).fetchone()
        streak = (row[0] if row else 0) + 1
        previous = row[1] if row and row[1] else 0.0
        until = max(deadline(streak), previous) if deadline else (previous or None)
        conn.execute(
            """
            INSERT INTO key_state (key_id, provider, label, cooldown_until, disabled, reason, error_kind,
                                   consecutive_failures, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (key_id) DO UPDATE SET
                label = excluded.label, cooldown_until = excluded.cooldown_until,
                disabled = max(key_state.disabled, excluded.disabled), reason = excluded.reason,
                error_kind = excluded.error_kind, consecutive_failures = excluded.consecutive_failures,
                updated_at = excluded.updated_at
            """,
            (key_id, provider, label, until, int(disable), reason, error_kind, streak, now),
        )
    return KeyState(key_id, provider, label, until, disable, reason, error_kind, streak)


def record_success(conn: sqlite3.Connection, key_id: str, now: float) -> None:
    """A success ends the failure streak; a cooldown set meanwhile by another process stays."""
    with write_transaction(conn):
        conn.execute(
            "UPDATE key_state SET consecutive_failures = 0, updated_at = ? "
            "WHERE key_id = ? AND consecutive_failures > 0",
            (now, key_id),
        )


def clear(conn: sqlite3.Connection, key_ids: Iterable[str] | None = None) -> list[KeyState]:
    """Lift cooldowns and disabled flags (all keys, or the given ones); returns what was lifted."""
    with write_transaction(conn):
        rows = [_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM key_state")]
        wanted = set(key_ids) if key_ids is not None else None
        cleared = [s for s in rows if wanted is None or s.key_id in wanted]
        conn.executemany("DELETE FROM key_state WHERE key_id = ?", [(s.key_id,) for s in cleared])
    return cleared
