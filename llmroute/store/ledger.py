"""The attempts ledger: one row per HTTP attempt, money in integer micro-dollars."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

from llmroute.types import Attempt

from llmroute.store import totals
from llmroute.store.connection import write_transaction

MESSAGE_LIMIT = 500


@dataclass(frozen=True)
class AttemptRow:
    ts: float
    request_id: str
    provider: str
    key_label: str
    key_fingerprint: str | None
    model: str
    outcome: str
    error_kind: str | None
    http_status: int | None
    message: str | None
    latency_ms: float
    ttft_ms: float | None
    tokens_in: int | None
    tokens_out: int | None
    cost_micros: int | None
    cost_estimated: bool = False
    """True when the cost was computed from catalogue prices, not reported by the provider."""

    @classmethod
    def of(cls, attempt: Attempt, *, request_id: str, key_fingerprint: str | None) -> AttemptRow:
        """The ledger row of an attempt, stamped now."""
        return cls(
            ts=time.time(),
            request_id=request_id,
            provider=attempt.provider,
            key_label=attempt.key_label,
            key_fingerprint=key_fingerprint,
            model=attempt.model,
            outcome=attempt.outcome.value,
            error_kind=attempt.error_kind.value if attempt.error_kind else None,
            http_status=attempt.status,
            message=attempt.message,
            latency_ms=attempt.latency_ms,
            ttft_ms=attempt.ttft_ms,
            tokens_in=attempt.usage.input_tokens,
            tokens_out=attempt.usage.output_tokens,
            cost_micros=attempt.usage.cost_micros,
            cost_estimated=attempt.usage.cost_estimated,
        )


_FIELDS = tuple(AttemptRow.__dataclass_fields__)


_INSERT = f"INSERT INTO attempts ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})"


def record(conn: sqlite3.Connection, rows: Iterable[AttemptRow]) -> None:
    """Write settled attempts whole, and their days' totals, in one transaction."""
    with write_transaction(conn):
        for row in rows:
            values = [getattr(row, f) for f in _FIELDS]
            if row.message is not None:
                values[_FIELDS.index("message")] = row.message[:MESSAGE_LIMIT]
            conn.execute(_INSERT, values)
            counts = totals.contribution(
                row.outcome, row.tokens_in, row.tokens_out, row.cost_micros, row.cost_estimated, reserved_micros=0
            )
            key_id = totals.key_id(row.key_fingerprint, row.provider)
            totals.add(
                conn,
                ts=row.ts,
                key_id=key_id,
                provider=row.provider,
                model=row.model,
                key_label=row.key_label,
                counts=counts,
            )


def rows(conn: sqlite3.Connection, *, since: float = 0.0) -> list[AttemptRow]:
    cursor = conn.execute(f"SELECT {', '.join(_FIELDS)} FROM attempts WHERE ts >= ? ORDER BY id", (since,))
    return [AttemptRow(*r) for r in cursor]
