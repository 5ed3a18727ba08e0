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
from typing import TYPE_CHECKING, Protocol

from llmroute.errors import ProviderError
from llmroute.keys import KeySlot
from llmroute.types import Target

if TYPE_CHECKING:
    from llmroute.config import ProviderSettings, Settings
    from llmroute.providers import ClientPool, ProviderAdapter
    from llmroute.store import CachedCatalog, Store
    from llmroute.types import ModelInfo

log = logging.getLogger("llmroute")

#: Seconds a fetched catalogue is used before it is fetched again (``LLMROUTE_CATALOG_TTL`` in the CLI).
CATALOG_TTL = 24 * 3600
SORTS = ("name", "price", "context")

#: (provider, model) -> (successor or None, ISO date it leaves the service): the built-in fallback for
#: :func:`current_target`; a provider's cached catalogue (``ModelInfo.expires`` / ``successor``) wins field by
#: field. ``family:*`` stands for every tag of a family. Sources: Ollama's docs/cloud.mdx "Past retirements"
#: and docs.ollama.com/cloud/model-lifecycle (reference/providers-next.md §8, providers.md §2.2); OpenRouter's
#: announced removal of moonshotai/kimi-k2.5 (providers-next.md §8).
RETIRED: Mapping[tuple[str, str], tuple[str | None, str]] = {
    ("ollama", "kimi-k2:1t"): (None, "2026-06-16"),
    ("ollama", "kimi-k2-thinking"): (None, "2026-06-16"),
    ("ollama", "glm-4.6"): (None, "2026-06-16"),
    ("ollama", "qwen3-next:80b"): (None, "2026-06-16"),
    ("ollama", "cogito-2.1:671b"): (None, "2026-06-16"),
    ("ollama", "minimax-m2"): (None, "2026-06-16"),
    ("ollama", "qwen3-vl:*"): (None, "2026-06-16"),
    ("ollama", "rnj-1:8b"): (None, "2026-06-30"),
    ("ollama", "deepseek-v3.1:671b"): (None, "2026-07-15"),
    ("ollama", "devstral-2:123b"): (None, "2026-07-15"),
    ("ollama", "ministral-3:14b"): (None, "2026-07-15"),
    ("ollama", "gemma3:27b"): (None, "2026-07-15"),
    ("ollama", "glm-4.7"): (None, "2026-07-15"),
    ("ollama", "qwen3-coder:480b"): (None, "2026-07-15"),
    ("ollama", "kimi-k2.5"): ("kimi-k2.6", "2026-07-31"),
    ("ollama", "minimax-m2.5"): ("minimax-m2.7", "2026-07-31"),
    ("ollama", "qwen3.5:397b"): ("glm-5.3", "2026-09-25"),
    ("ollama", "glm-5.1"): (None, "2026-09-25"),
    ("ollama", "deepseek-v4-flash:0731"): (None, "2026-09-25"),
    ("openrouter", "moonshotai/kimi-k2.5"): ("moonshotai/kimi-k2.6", "2026-09-07"),
}

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAX_SUCCESSIONS = 8
"""How far a chain of successors is followed (a retired model's successor may be retired in turn)."""


class Lifecycles(Protocol):
    """What is known of models' ends: ``(provider, model)`` -> ``(successor or None, ISO date)``.

    :data:`RETIRED`, any mapping of the same shape, or :class:`CachedLifecycles` (the cached catalogue first).
    """

    def get(self, key: tuple[str, str], /) -> tuple[str | None, str | None] | None: ...


class CachedLifecycles:
    """The cached catalogue's ``expires``/``successor`` first, then :data:`RETIRED`: one primary-key read a model.

    Reads only the state file, never the network; each model is read at most once.
    """

    def __init__(self, store: Store | None) -> None:
        self._store = store
        self._seen: dict[tuple[str, str], tuple[str | None, str | None] | None] = {}

    def get(self, key: tuple[str, str], /) -> tuple[str | None, str | None] | None:
        if key not in self._seen:
            provider, model = key
            info = None
            if self._store is not None and not model.endswith(":*"):
                info = self._store.catalog_model(provider, model)
            self._seen[key] = lifecycle(provider, model, info)
        return self._seen[key]


def lifecycle(provider: str, model: str, info: ModelInfo | None = None) -> tuple[str | None, str | None] | None:
    """``(successor, date)`` of a model: its catalogue row's fields first, then the built-in table (None: neither)."""
    successor, date = RETIRED.get((provider, model), (None, None))
    if info is not None:
        successor, date = info.successor or successor, info.expires or date
    return (successor, date) if successor or date else None


def current_target(target: Target, known: Lifecycles, today: str) -> tuple[Target | None, str | None]:
    """The one rule for "models that exist": the target to use instead of ``target``, and a notice for the user.

    - No known end, or none with a usable date: the same target, no notice.
    - An end after ``today``: the same target, and ``... expires on DATE`` (naming a successor if one is known).
    - An end on or before ``today``: its successor (followed further while that is retired too) with
      ``... was retired on DATE; using ...``, or None with ``... has no successor; skipping it``.

    ``today`` is an ISO date (UTC). Used alike by the planner (:func:`current_targets`), ``models`` and ``test-keys``.
    """
    end = _lookup(known, target)
    day = _day(end)
    if end is None or day is None:
        return target, None
    successor = _successor(target, end[0])
    if day > today:
        then = f"; its successor is {successor}" if successor else ""
        return target, f"{target} expires on {day}{then}"
    if successor is None:
        return None, f"{target} was retired on {day} and has no successor; skipping it"
    replacement = _follow(successor, known, today, seen={target})
    if replacement is None:
        return None, f"{target} was retired on {day} and its successor {successor} is gone too; skipping it"
    return replacement, f"{target} was retired on {day}; using {replacement}"


def current_targets(
    targets: Iterable[Target], store: Store | None, now: float
) -> tuple[tuple[Target, ...], tuple[str, ...]]:
    """:func:`current_target` over a whole plan: targets in order, retired ones replaced or dropped, no duplicates.

    One notice per replaced, dropped or expiring target. Reads only the state file's cached catalogue (one
    primary-key read per model looked at, none of the network); ``store=None`` uses the built-in table alone.
    """
    known = CachedLifecycles(store)
    today = datetime.fromtimestamp(now, UTC).date().isoformat()
    kept: list[Target] = []
    notices: list[str] = []
    for target in targets:
        current, notice = current_target(target, known, today)
        if notice is not None and notice not in notices:
            notices.append(notice)
        if current is not None and current not in kept:
            kept.append(current)
    return tuple(kept), tuple(notices)


def _lookup(known: Lifecycles, target: Target) -> tuple[str | None, str | None] | None:
    """The exact model, else its family (``name:*``), else for a local daemon's ``-cloud`` name the cloud model."""
    provider, model = target.provider, target.model
    end = known.get((provider, model))
    if end is None and ":" in model:
        end = known.get((provider, model.split(":", 1)[0] + ":*"))
    if end is None and provider == "local":
        cloud = _cloud_model(model)
        if cloud is not None:
            end = _lookup(known, Target("ollama", cloud))
            if end is not None and end[0]:
                end = (_cloud_name(end[0]), end[1])
    return end


def _cloud_model(name: str) -> str | None:
    """``kimi-k2.5:cloud`` -> ``kimi-k2.5``, ``gpt-oss:120b-cloud`` -> ``gpt-oss:120b`` (Ollama's modelref rules)."""
    if name.endswith(":cloud"):
        return name.removesuffix(":cloud")
    if ":" in name and name.endswith("-cloud"):
        return name.removesuffix("-cloud")
    return None


def _cloud_name(model: str) -> str:
    """A cloud model under the local daemon's name for it: ``glm-5.3`` -> ``glm-5.3:cloud``."""
    return f"{model}-cloud" if ":" in model else f"{model}:cloud"


def _day(end: tuple[str | None, str | None] | None) -> str | None:
    day = ((end[1] if end else None) or "")[:10]
    return day if _ISO_DATE.fullmatch(day) else None


def _successor(target: Target, model: str | None) -> Target | None:
    return Target(target.provider, model) if model else None


def _follow(target: Target, known: Lifecycles, today: str, seen: set[Target]) -> Target | None:
    """``target``, or what replaces it when it is retired in turn; None when the chain ends in a retired model."""
    for _ in range(_MAX_SUCCESSIONS):
        end = _lookup(known, target)
        day = _day(end)
        if end is None or day is None or day > today:
            return target
        seen.add(target)
        successor = _successor(target, end[0])
        if successor is None or successor in seen:
            return None
        target = successor
    return None


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


#: Protocols whose model list (with prices) anyone may read, with no key.
PUBLIC_CATALOGUES = frozenset({"openrouter"})


def usable_providers(
    settings: Settings, names: Iterable[str] | None = None, *, public: bool = False
) -> list[ProviderSettings]:
    """Enabled providers (of ``names``) that have a key, or need none (a local daemon); with ``public`` also those
    whose catalogue is public (to price another provider's calls from it)."""
    wanted = set(names) if names is not None else None
    return [
        p
        for p in settings.providers
        if p.enabled
        and (wanted is None or p.name in wanted)
        and (p.keys or p.key_variable is None or (public and p.protocol in PUBLIC_CATALOGUES))
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
    key_reports: bool = True,
    public: bool = False,
) -> CatalogResult:
    """The catalogue of every enabled provider (of ``providers``), fetching those that are due.

    ``clients`` defaults to a pool of this call's own, closed before returning. With ``key_reports`` a fetch
    also reads what each key reports of its limits (``test-keys`` reads that itself, as its check). With
    ``public`` a provider with no key is fetched too when its catalogue is public (to price another's calls).
    """
    from llmroute.store import CachedCatalog

    enabled = [p.name for p in settings.providers if p.enabled and (providers is None or p.name in providers)]
    catalogs = store.catalogs(enabled)
    due = [
        p
        for p in usable_providers(settings, enabled, public=public)
        if refresh or p.name not in catalogs or now - catalogs[p.name].fetched_at >= ttl
    ]
    outcomes = await _fetch_all(settings, store, due, clients, timeout or settings.timeout, key_reports=key_reports)
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
    settings: Settings,
    store: Store,
    due: Sequence[ProviderSettings],
    clients: ClientPool | None,
    timeout: float,
    *,
    key_reports: bool,
) -> list[list[ModelInfo] | str]:
    """Each due provider's catalogue (or why not), fetched concurrently with what its keys report of their
    free-model caps (OpenRouter ``GET /key``), which the gate counts free-model calls by."""
    if not due:
        return []
    import asyncio

    from llmroute.providers import ClientPool, build_adapter

    pool = clients or ClientPool("llmroute")
    adapters = [build_adapter(p, pool) for p in due]
    reporting = [
        (adapter, slot)
        for adapter, p in zip(adapters, due, strict=True)
        if key_reports and adapter.reports_key_limits
        for slot in settings.slots(p.name)
    ]
    fetches = (_fetch(a, _fetch_slot(store, settings, p), timeout) for a, p in zip(adapters, due, strict=True))
    try:
        catalogues, limits = await asyncio.gather(
            asyncio.gather(*fetches),
            asyncio.gather(*(_free_limit(adapter, slot, timeout) for adapter, slot in reporting)),
        )
    finally:
        if clients is None:
            await pool.aclose()
    now = time.time()
    for (adapter, slot), limit in zip(reporting, limits, strict=True):
        if limit is not None:
            store.record_free_limit(slot.id, adapter.name, limit, now)
    return list(catalogues)


async def _free_limit(adapter: ProviderAdapter, slot: KeySlot, timeout: float) -> int | None:
    """The free-model requests a day the key's account may make, as the provider reports it (None: not said)."""
    try:
        return (await adapter.probe_key(slot, timeout=timeout)).free_requests_limit
    except ProviderError as error:
        log.info("could not read %s's limits: %s", slot.label, error.message)
        return None


async def _fetch(adapter: ProviderAdapter, slot: KeySlot, timeout: float) -> list[ModelInfo] | str:
    """The models, or the one-line reason they could not be had."""
    started = time.monotonic()
    try:
        models = await adapter.list_models(slot, timeout=timeout)
    except ProviderError as error:
        return _reason(error)
    log.info("fetched the %s catalogue: %d models in %.1f s", adapter.name, len(models), time.monotonic() - started)
    return models


def _fetch_slot(store: Store, settings: Settings, provider: ProviderSettings) -> KeySlot:
    """The first key the state file does not mark disabled (else the first): one fetch serves them all; a provider
    without keys (a local daemon, a public catalogue) is asked with none."""
    slots = settings.slots(provider.name)
    if not slots:
        return KeySlot(provider.name, base_url=provider.base_url)
    disabled = {h.subject for h in store.holds_of(s.id for s in slots) if h.disabled}
    return next((s for s in slots if s.id not in disabled), slots[0])


def _reason(error: ProviderError) -> str:
    status = error.status
    if status and status >= 400 and f"HTTP {status}" not in error.message:
        return f"HTTP {status}: {error.message}"
    return error.message


def _entries(settings: Settings, catalogs: Mapping[str, CachedCatalog], now: float) -> tuple[CatalogEntry, ...]:
    today = datetime.fromtimestamp(now, UTC).date().isoformat()
    known = _Listed({(info.provider, info.model): info for c in catalogs.values() for info in c.models})
    entries = []
    for name in sorted(catalogs):
        provider = settings.provider(name)
        if provider is None:
            continue
        keys = tuple(k.label for k in provider.keys) if provider.key_variable else (provider.name,)
        entries.extend(_entry(info, keys, today, known) for info in catalogs[name].models)
    return tuple(entries)


def _entry(info: ModelInfo, keys: tuple[str, ...], today: str, known: Lifecycles) -> CatalogEntry:
    """Marks a model retired by :func:`current_target` (catalogue ``expires``/``successor``, then :data:`RETIRED`).

    A retired entry's successor is the model the rule uses instead (after following a chain of successors).
    """
    target = Target(info.provider, info.model)
    end = _lookup(known, target)
    if end is not None:
        info = replace(info, expires=info.expires or end[1], successor=info.successor or end[0])
    current, _ = current_target(target, known, today)
    if current == target:
        return CatalogEntry(info, keys, retired=False, successor=info.successor)
    return CatalogEntry(info, keys, retired=True, successor=current.model if current else None)


class _Listed:
    """The catalogue rows in hand (their ``expires``/``successor``) over :data:`RETIRED`."""

    def __init__(self, rows: Mapping[tuple[str, str], ModelInfo]) -> None:
        self._rows = rows

    def get(self, key: tuple[str, str], /) -> tuple[str | None, str | None] | None:
        return lifecycle(*key, self._rows.get(key))


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


#: Providers whose catalogue lists the most *input* tokens a model takes (Gemini's ``inputTokenLimit``,
#: Anthropic's ``max_input_tokens``), not its whole window: the answer's room is not counted against it.
INPUT_LIMITS: frozenset[str] = frozenset({"gemini", "anthropic"})


def context_of(store: Store, provider: str, model: str) -> int | None:
    """The context length (tokens) the cached catalogue lists for a model; None when it is unknown: the catalogue
    was never fetched, does not list the model, or lists no length for it. Reads only the cache."""
    info = store.catalog_model(provider, model)
    return info.context_length if info is not None and info.context_length else None


#: Providers that publish no prices, and the catalogue that prices the same vendor models: OpenRouter's public
#: list names OpenAI's models ``openai/<model>`` (an Azure deployment runs an OpenAI model), Anthropic's
#: ``anthropic/<model>`` with dotted versions and no date (``claude-sonnet-4-5`` -> ``anthropic/claude-sonnet-4.5``;
#: Bedrock's ``anthropic.claude-sonnet-4-5-20250929-v1:0`` likewise), Google's ``google/<model>``.
PRICED_BY: Mapping[str, tuple[str, str]] = {
    "openai": ("openrouter", "openai/"),
    "azure": ("openrouter", "openai/"),
    "anthropic": ("openrouter", "anthropic/"),
    "bedrock": ("openrouter", "anthropic/"),
    "gemini": ("openrouter", "google/"),
}
_BEDROCK_ID = re.compile(r"^(?:[a-z]{2,6}\.)?anthropic\.(?P<model>.+?)(?:-v\d+(?::\d+)?)?$")
_DATE = re.compile(r"-\d{8}$")
_VERSION = re.compile(r"(?<=\d)-(?=\d(?:$|-))")

#: Cloudflare bills neurons, not tokens: (input, output) neurons per million tokens, from its pricing page
#: (reference/providers.md §5), at ``NEURON_USD`` each. Other models are unpriced unless the config prices them.
NEURONS_PER_MILLION: Mapping[str, tuple[int, int]] = {
    "@cf/meta/llama-3.1-8b-instruct": (25_608, 75_147),
    "@cf/meta/llama-3.2-1b-instruct": (2_457, 18_252),
}
NEURON_USD = 0.011 / 1000


def price_source(provider: str, model: str) -> tuple[str, str] | None:
    """Where a provider that publishes no prices is priced from: (catalogue provider, model id there)."""
    source = PRICED_BY.get(provider)
    if source is None:
        return None
    if provider == "bedrock":
        match = _BEDROCK_ID.match(model)
        if match is None:
            return None
        model = match.group("model")
    if provider in ("anthropic", "bedrock"):
        model = _VERSION.sub(".", _DATE.sub("", model))
    return source[0], source[1] + model


def estimated_price(store: Store, provider: str, model: str) -> tuple[float, float] | None:
    """A price for a provider that publishes none (USD per million tokens), from the cached catalogue of one
    that does, or from Cloudflare's neurons: an estimate, so calls costed with it are marked estimated."""
    neurons = NEURONS_PER_MILLION.get(model) if provider == "cloudflare" else None
    if neurons is not None:
        return round(neurons[0] * NEURON_USD, 9), round(neurons[1] * NEURON_USD, 9)
    source = price_source(provider, model)
    prices = price_of(store, *source) if source else None
    return prices if prices is not None and None not in prices else None  # type: ignore[return-value]


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
