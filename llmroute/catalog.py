"""The merged model catalogue: every usable provider's models, cached in the state file.

A provider's catalogue is fetched only when its cache is missing or older than
the TTL (or on refresh), all due providers at once. A failed refresh never
deletes the old catalogue: it is served as *stale*, with the reason. Both
OpenRouter's and Ollama Cloud's catalogues are account-wide, so every key of a
provider reaches every model of its catalogue.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from llmroute.errors import ProviderError

if TYPE_CHECKING:
    from llmroute.config import ProviderSettings, Settings
    from llmroute.keys import ApiKey
    from llmroute.providers import ClientPool, ProviderAdapter
    from llmroute.store import CachedCatalog, Store
    from llmroute.types import ModelInfo

log = logging.getLogger("llmroute")

#: Seconds a fetched catalogue is used before it is fetched again (``LLMROUTE_CATALOG_TTL`` in the CLI).
CATALOG_TTL = 24 * 3600
SORTS = ("name", "price", "context")

#: (provider, model) -> (successor or None, ISO date it leaves the service); Ollama's docs/cloud.mdx.
RETIRED: Mapping[tuple[str, str], tuple[str | None, str]] = {
    ("ollama", "kimi-k2.5"): ("kimi-k2.6", "2026-07-31"),
    ("ollama", "minimax-m2.5"): ("minimax-m2.7", "2026-07-31"),
    ("ollama", "kimi-k2:1t"): (None, "2026-06-16"),
    ("ollama", "kimi-k2-thinking"): (None, "2026-06-16"),
    ("ollama", "glm-4.6"): (None, "2026-06-16"),
}

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class CatalogEntry:
    info: ModelInfo
    keys: tuple[str, ...]
    """Labels of the keys that reach the model (the provider's name for a keyless local daemon)."""
    retired: bool = False
    successor: str | None = None

    @property
    def spec(self) -> str:
        return f"{self.info.provider}:{self.info.model}"


@dataclass(frozen=True)
class CatalogResult:
    entries: tuple[CatalogEntry, ...]
    stale: tuple[str, ...] = ()
    """Providers whose refresh failed and whose older cached catalogue is shown."""
    errors: dict[str, str] = field(default_factory=dict)
    """Provider -> one-line reason its fetch failed."""
    fetched: tuple[str, ...] = ()
    """Providers fetched by this call (the others came from the cache)."""
    fetched_at: Mapping[str, float] = field(default_factory=dict)
    """Provider -> epoch time of the catalogue shown."""


def usable_providers(settings: Settings, names: Iterable[str] | None = None) -> list[ProviderSettings]:
    """Enabled providers (of ``names``) that have a key, or need none (a local daemon)."""
    wanted = set(names) if names is not None else None
    return [
        p
        for p in settings.providers
        if p.enabled and (wanted is None or p.name in wanted) and (p.keys or p.key_variable is None)
    ]


async def load_catalog(
    settings: Settings,
    store: Store,
    clients: ClientPool | None = None,
    *,
    refresh: bool = False,
    ttl: float = CATALOG_TTL,
    now: float,
    providers: set[str] | None = None,
    timeout: float | None = None,
) -> CatalogResult:
    """The catalogue of every enabled provider (of ``providers``), fetching those that are due.

    ``clients`` defaults to a pool of this call's own, closed before returning.
    """
    from llmroute.store import CachedCatalog

    enabled = [p.name for p in settings.providers if p.enabled and (providers is None or p.name in providers)]
    catalogs = store.catalogs(enabled)
    due = [
        p
        for p in usable_providers(settings, enabled)
        if refresh or p.name not in catalogs or now - catalogs[p.name].fetched_at >= ttl
    ]
    outcomes = await _fetch_all(store, due, clients, timeout or settings.timeout)
    errors: dict[str, str] = {}
    for provider, outcome in zip(due, outcomes, strict=True):
        if isinstance(outcome, str):
            errors[provider.name] = outcome
        else:
            store.replace_catalog(provider.name, outcome, now)
            catalogs[provider.name] = CachedCatalog(provider.name, now, tuple(outcome))
    return CatalogResult(
        entries=_entries(settings, catalogs, now),
        stale=tuple(name for name in errors if name in catalogs),
        errors=errors,
        fetched=tuple(p.name for p in due if p.name not in errors),
        fetched_at={name: catalog.fetched_at for name, catalog in catalogs.items()},
    )


async def _fetch_all(
    store: Store, due: Sequence[ProviderSettings], clients: ClientPool | None, timeout: float
) -> list[list[ModelInfo] | str]:
    if not due:
        return []
    import asyncio

    from llmroute.providers import ClientPool, build_adapter

    pool = clients or ClientPool("llmroute")
    try:
        return list(await asyncio.gather(*(_fetch(build_adapter(p, pool), _fetch_key(store, p), timeout) for p in due)))
    finally:
        if clients is None:
            await pool.aclose()


async def _fetch(adapter: ProviderAdapter, key: ApiKey | None, timeout: float) -> list[ModelInfo] | str:
    """The models, or the one-line reason they could not be had."""
    started = time.monotonic()
    try:
        models = await adapter.list_models(key, timeout=timeout)
    except ProviderError as error:
        return _reason(error)
    log.info("fetched the %s catalogue: %d models in %.1f s", adapter.name, len(models), time.monotonic() - started)
    return models


def _fetch_key(store: Store, provider: ProviderSettings) -> ApiKey | None:
    """The first key the state file does not mark disabled (else the first): one fetch serves them all."""
    if not provider.keys:
        return None
    from llmroute import health

    ids = {key: health.key_id(provider.name, key) for key in provider.keys}
    states = store.key_states(ids.values())
    usable = [key for key, key_id in ids.items() if key_id not in states or not states[key_id].disabled]
    return (usable or list(provider.keys))[0]


def _reason(error: ProviderError) -> str:
    status = error.status
    if status and status >= 400 and f"HTTP {status}" not in error.message:
        return f"HTTP {status}: {error.message}"
    return error.message


def _entries(settings: Settings, catalogs: Mapping[str, CachedCatalog], now: float) -> tuple[CatalogEntry, ...]:
    today = datetime.fromtimestamp(now, UTC).date().isoformat()
    entries = []
    for name in sorted(catalogs):
        provider = settings.provider(name)
        if provider is None:
            continue
        keys = tuple(k.label for k in provider.keys) if provider.key_variable else (provider.name,)
        entries.extend(_entry(info, keys, today) for info in catalogs[name].models)
    return tuple(entries)


def _entry(info: ModelInfo, keys: tuple[str, ...], today: str) -> CatalogEntry:
    """Marks a model retired when its removal date has come (Ollama's table, or OpenRouter's ``expiration_date``)."""
    retirement = RETIRED.get((info.provider, info.model))
    if retirement is not None:
        successor, date = retirement
        info = replace(info, expires=info.expires or date, successor=info.successor or successor)
    expires = (info.expires or "")[:10]
    retired = bool(_ISO_DATE.fullmatch(expires)) and expires <= today
    return CatalogEntry(info, keys, retired=retired, successor=info.successor)


def price_of(store: Store, provider: str, model: str) -> tuple[float | None, float | None] | None:
    """Cached (prompt, completion) USD per million tokens; None when the model or both its prices are unknown.

    A free model without published prices (a local daemon's) costs 0. Reads
    only the cache: costing a call must never wait on the network.
    """
    info = store.catalog_model(provider, model)
    if info is None or info.variable_price:
        return None
    if info.prompt_price is None and info.completion_price is None:
        return (0.0, 0.0) if info.free else None
    return info.prompt_price, info.completion_price


def filter_and_sort(
    entries: Iterable[CatalogEntry],
    *,
    provider: str | None = None,
    free: bool = False,
    search: str | None = None,
    max_price: float | None = None,
    sort: str = "name",
) -> list[CatalogEntry]:
    """The entries asked for, in the order asked for; raises ``ValueError`` for an unknown sort."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r} (use one of {', '.join(SORTS)})")
    needle = search.casefold() if search else None
    kept = [
        e
        for e in entries
        if (provider is None or e.info.provider == provider)
        and (not free or e.info.free)
        and (needle is None or needle in e.info.model.casefold() or needle in (e.info.name or "").casefold())
        and (max_price is None or _within(e.info, max_price))
    ]
    return sorted(kept, key=_SORT_KEYS[sort])


def known_prices(info: ModelInfo) -> tuple[float, float] | None:
    """Both prices when both are known; a free model without published prices costs nothing."""
    if info.variable_price:
        return None
    if info.prompt_price is None and info.completion_price is None and info.free:
        return 0.0, 0.0
    if info.prompt_price is None or info.completion_price is None:
        return None
    return info.prompt_price, info.completion_price


def _within(info: ModelInfo, max_price: float) -> bool:
    prices = known_prices(info)
    return prices is not None and max(prices) <= max_price


def _by_name(entry: CatalogEntry) -> tuple[str, str]:
    return entry.info.provider, entry.info.model


def _by_price(entry: CatalogEntry) -> tuple[bool, float, str, str]:
    prices = known_prices(entry.info)
    return prices is None, sum(prices or ()), *_by_name(entry)


def _by_context(entry: CatalogEntry) -> tuple[bool, int, str, str]:
    context = entry.info.context_length
    return context is None, -(context or 0), *_by_name(entry)


_SORT_KEYS = {"name": _by_name, "price": _by_price, "context": _by_context}


def cached_model_specs(state_path: Path) -> list[str]:
    """``provider:model`` of every cached model, for shell completion (read-only, never the network)."""
    from llmroute.store.catalog import cached_specs

    return cached_specs(Path(state_path))
