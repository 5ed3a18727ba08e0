"""The conversation log: every answered exchange (prompt, system prompt, answer, who answered, what it cost),
grouped into conversations, and the switch that turns logging off (``llmroute logs off``).

Rows are the user's own data: the retention trim of the attempts ledger never deletes them. Only an
answered exchange is logged; a failed one is no turn of a conversation (its attempts stay in the ledger
under the same request id). Nothing here sees a key: the caller passes the key's label, and text
already masked of every key the run knows.

``--search`` is a substring match (``LIKE`` with its wildcards escaped, case-insensitive for ASCII) over
the prompt, the system prompt and the answer, not FTS5: a search for ``foo_bar(`` or half a word finds
what ``grep`` would, nothing depends on SQLite having been built with FTS5, and no second copy of every
prompt and answer is kept in an index. It scans the table; a personal log of 100,000 exchanges is
searched in well under a second.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from llmroute.store.connection import write_transaction


@dataclass(frozen=True)
class LogEntry:
    """One logged exchange: a turn of its conversation."""

    request_id: str
    """The router's request id, also that of the exchange's attempts in the ledger."""
    conversation_id: str
    ts: float
    """When the answer was complete (UTC epoch seconds)."""
    model_asked: str
    """The model spec the request named (alias, bare name, ``provider:model``), or the default it fell to."""
    model: str
    """The provider's id of the model that answered."""
    provider: str
    key_label: str
    """The label (variable name) of the key that answered; never the key itself."""
    system: str | None
    prompt: str
    answer: str
    tokens_in: int | None
    tokens_out: int | None
    cost_micros: int | None
    cost_estimated: bool
    finish_reason: str | None
    latency_ms: float
    id: int = 0
    """The row's id, in logging order (0 for an entry not yet written)."""


@dataclass(frozen=True)
class LogCounts:
    conversations: int
    responses: int


_FIELDS = (
    "request_id",
    "conversation_id",
    "ts",
    "model_asked",
    "model",
    "provider",
    "key_label",
    "system",
    "prompt",
    "answer",
    "tokens_in",
    "tokens_out",
    "cost_micros",
    "cost_estimated",
    "finish_reason",
    "latency_ms",
)
_SELECT = f"SELECT {', '.join(_FIELDS)}, id FROM responses"
#: Characters of the first prompt that name a conversation (as ``llm`` does).
NAME_LENGTH = 40


def record(conn: sqlite3.Connection, entry: LogEntry) -> int:
    """Write one exchange, and its conversation when it is the first turn, in one transaction; its row id."""
    name = " ".join(entry.prompt[: NAME_LENGTH * 4].split())[:NAME_LENGTH]
    with write_transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO conversations (id, started_at, model, name) VALUES (?, ?, ?, ?)",
            (entry.conversation_id, entry.ts, entry.model_asked, name),
        )
        cursor = conn.execute(
            f"INSERT INTO responses ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})",
            tuple(getattr(entry, f) for f in _FIELDS),
        )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def conversation(conn: sqlite3.Connection, conversation_id: str) -> list[LogEntry] | None:
    """The turns of a conversation, oldest first; None when no such conversation was logged."""
    if conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone() is None:
        return None
    cursor = conn.execute(f"{_SELECT} WHERE conversation_id = ? ORDER BY id", (conversation_id,))
    return [_entry(row) for row in cursor]


def latest_conversation(conn: sqlite3.Connection) -> str | None:
    """The conversation of the newest logged exchange (one step down the primary key)."""
    row = conn.execute("SELECT conversation_id FROM responses ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else str(row[0])


def entries(
    conn: sqlite3.Connection, *, limit: int | None, search: str | None = None, conversation_id: str | None = None
) -> list[LogEntry]:
    """The newest ``limit`` exchanges (all when None) that match, returned oldest first."""
    where: list[str] = []
    values: list[object] = []
    if conversation_id is not None:
        where.append("conversation_id = ?")
        values.append(conversation_id)
    if search:
        pattern = _like_pattern(search)
        where.append("(prompt LIKE ? ESCAPE '\\' OR answer LIKE ? ESCAPE '\\' OR system LIKE ? ESCAPE '\\')")
        values.extend((pattern, pattern, pattern))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    cursor = conn.execute(f"{_SELECT}{clause} ORDER BY id DESC LIMIT ?", (*values, -1 if limit is None else limit))
    return [_entry(row) for row in reversed(cursor.fetchall())]


def counts(conn: sqlite3.Connection) -> LogCounts:
    conversations = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
    responses = conn.execute("SELECT count(*) FROM responses").fetchone()[0]
    return LogCounts(int(conversations), int(responses))


def switch(conn: sqlite3.Connection) -> bool | None:
    """Whether logging was turned on (True) or off (False) with ``llmroute logs on|off``; None if never."""
    row = conn.execute("SELECT enabled FROM log_switch WHERE id = 1").fetchone()
    return None if row is None else bool(row[0])


def set_switch(conn: sqlite3.Connection, enabled: bool, now: float) -> None:
    with write_transaction(conn):
        conn.execute(
            "INSERT INTO log_switch (id, enabled, changed_at) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, changed_at = excluded.changed_at",
            (int(enabled), now),
        )


def _like_pattern(text: str) -> str:
    """``text`` anywhere, its ``%`` and ``_`` (and the escape character itself) taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _entry(row: tuple[object, ...]) -> LogEntry:
    values = dict(zip((*_FIELDS, "id"), row, strict=True))
    values["cost_estimated"] = bool(values["cost_estimated"])
    return LogEntry(**values)  # type: ignore[arg-type]
