"""Key-check verdicts from ``llmroute test-keys``: the history, and the latest per key."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from llmroute.store.connection import write_transaction


@dataclass(frozen=True)
class CheckRow:
    ts: float
    key_id: str
    provider: str
    label: str
    verdict: str
    latency_ms: float | None
    message: str | None


_FIELDS = ("ts", "key_id", "provider", "label", "verdict", "latency_ms", "message")


def record(conn: sqlite3.Connection, rows: list[CheckRow]) -> None:
    with write_transaction(conn):
        conn.executemany(
            f"INSERT INTO key_checks ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})",
            [tuple(getattr(r, f) for f in _FIELDS) for r in rows],
        )


def latest(conn: sqlite3.Connection) -> dict[str, CheckRow]:
    """The newest verdict of every key that was ever checked."""
    cursor = conn.execute(
        f"SELECT {', '.join(_FIELDS)} FROM key_checks WHERE id IN (SELECT max(id) FROM key_checks GROUP BY key_id)"
    )
    return {row[1]: CheckRow(*row) for row in cursor}
