"""The cached model catalogue: one row per (provider, model), and when each provider was last fetched."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

from llmroute.store.connection import write_transaction
from llmroute.types import ModelInfo

_MODEL_FIELDS = {f.name for f in fields(ModelInfo)}


@dataclass(frozen=True)
class CachedCatalog:
    provider: str
    fetched_at: float
    models: tuple[ModelInfo, ...]


def replace(conn: sqlite3.Connection, provider: str, models: Iterable[ModelInfo], now: float) -> None:
    """Swap a provider's whole catalogue for a fresh one, in one transaction."""
    rows = [(provider, m.model, json.dumps(asdict(m))) for m in models]
    with write_transaction(conn):
        conn.execute("DELETE FROM catalog WHERE provider = ?", (provider,))
        conn.executemany("INSERT OR REPLACE INTO catalog (provider, model, data) VALUES (?, ?, ?)", rows)
        conn.execute(
            "INSERT INTO catalog_fetches (provider, fetched_at) VALUES (?, ?) "
            "ON CONFLICT (provider) DO UPDATE SET fetched_at = excluded.fetched_at",
            (provider, now),
        )


def load(conn: sqlite3.Connection, providers: Iterable[str] | None = None) -> dict[str, CachedCatalog]:
    """Every cached catalogue (or those of ``providers``), keyed by provider."""
    fetched = dict(conn.execute("SELECT provider, fetched_at FROM catalog_fetches"))
    wanted = set(providers) if providers is not None else set(fetched)
    result: dict[str, CachedCatalog] = {}
    for provider in sorted(wanted & set(fetched)):
        rows = conn.execute("SELECT data FROM catalog WHERE provider = ? ORDER BY model", (provider,))
        models = tuple(_model(json.loads(data)) for (data,) in rows)
        result[provider] = CachedCatalog(provider, fetched[provider], models)
    return result


def _model(data: dict[str, object]) -> ModelInfo:
    return ModelInfo(**{k: v for k, v in data.items() if k in _MODEL_FIELDS})  # type: ignore[arg-type]
