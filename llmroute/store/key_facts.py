"""What keys report about themselves and routing relies on: OpenRouter's free-model daily cap per key."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from llmroute.store.connection import write_transaction


def record_free_limit(conn: sqlite3.Connection, key_id: str, provider: str, limit: int, now: float) -> None:
    with write_transaction(conn):
        conn.execute(
            "INSERT INTO key_facts (key_id, provider, free_daily_limit, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key_id) DO UPDATE SET free_daily_limit = excluded.free_daily_limit, "
            "updated_at = excluded.updated_at",
            (key_id, provider, limit, now),
        )


def free_limits(conn: sqlite3.Connection, key_ids: Iterable[str]) -> dict[str, int]:
    """Key id -> the free-model requests a day its provider last reported."""
    ids = list(key_ids)
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT key_id, free_daily_limit FROM key_facts WHERE key_id IN ({marks}) AND free_daily_limit IS NOT NULL",
        ids,
    )
    return {key_id: int(limit) for key_id, limit in rows}
