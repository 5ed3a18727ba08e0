"""The cached model catalogue: one row per (provider, model), and when each provider was last fetched."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

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


def load_model(conn: sqlite3.Connection, provider: str, model: str) -> ModelInfo | None:
    """One cached model, by primary key (what costing a call needs, without the whole catalogue)."""
    row = conn.execute("SELECT data FROM catalog WHERE provider = ? AND model = ?", (provider, model)).fetchone()
    return _model(json.loads(row[0])) if row else None


def lacks(conn: sqlite3.Connection, provider: str, model: str) -> bool:
    """True when the provider's catalogue was fetched and does not list ``model``."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM catalog_fetches WHERE provider = ?), "
        "EXISTS (SELECT 1 FROM catalog WHERE provider = ? AND model = ?)",
        (provider, provider, model),
    ).fetchone()
    return bool(row[0]) and not row[1]


def cached_specs(path: Path) -> list[str]:
    """``provider:model`` of every cached model, for shell completion.

    Opens the file read-only: never creates or migrates it; any problem gives an empty list.
    """
    if not path.is_file():
        return []
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=1.0)
        try:
            rows = conn.execute("SELECT provider, model FROM catalog ORDER BY provider, model").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []
    return [f"{provider}:{model}" for provider, model in rows]
