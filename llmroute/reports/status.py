"""``llmroute status`` as data: every key's state and usage today, every provider's breaker, every budget.

A key's state is the first that applies of: disabled, cooling (the key, its
quota pool or its provider's endpoint, for every model), rate_limited (a
configured per-key, per-pool or per-provider rate limit is full now),
over_budget (a key, provider or total budget is used up for this UTC day or
month), ready. A hold on some models only (the free models of a pool, one model
a plan does not include) leaves the key ready and is named in its reason:
``free models cooling until 00:00 UTC; other models ready``. The router refuses a
key for the same reasons.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from llmroute import windows
from llmroute.config import Settings
from llmroute.limits import DAY, HOUR, MINUTE, RateLimit, Scope
from llmroute.keys import KeySlot
from llmroute.reports.common import TOTAL, BudgetUse, budget_uses, known_keys, provider_order, provider_scope
from llmroute.store import BreakerState, CheckRow, Hold, Store, Totals

STATES = ("ready", "cooling", "disabled", "rate_limited", "over_budget")
LATENCY_WINDOW = HOUR
"""The median latency is taken over the successful calls of this many seconds."""


@dataclass(frozen=True)
class KeyStatus:
    key: KeySlot
    state: str
    """One of :data:`STATES`."""
    until: float | None
    """When the state ends: the cooldown, a rate-limit slot frees, the budget resets (None: not by itself)."""
    reason: str | None
    today: Totals
    """This UTC day's calls, tokens and cost."""
    last_latency_ms: float | None
    p50_latency_ms: float | None
    last_check: CheckRow | None
    """The newest ``test-keys`` verdict."""
    budgets: tuple[BudgetUse, ...]


@dataclass(frozen=True)
class ProviderStatus:
    name: str
    breaker: BreakerState
    budgets: tuple[BudgetUse, ...]


@dataclass(frozen=True)
class Status:
    now: float
    day: windows.Period
    keys: tuple[KeyStatus, ...]
    providers: tuple[ProviderStatus, ...]
    budgets: tuple[BudgetUse, ...]
    """The total budgets (provider and key budgets sit with their provider and key)."""


@dataclass(frozen=True)
class _Ledger:
    """What the state file says of all keys at once, read before any key is judged."""

    totals: dict[str, Totals]
    last: dict[str, float]
    recent: dict[str, list[float]]
    checks: dict[str, CheckRow]


def build_status(settings: Settings, store: Store, now: float) -> Status:
    held = {h.provider for h in store.all_holds()}
    keys = [
        *known_keys(settings),
        *(
            s
            for s in settings.all_slots(enabled_only=False)
            if s.provider in held and not _enabled(settings, s.provider)
        ),
    ]
    total = tuple(budget_uses(store, settings, TOTAL, settings.limits.total_budget, now))
    providers = {p.name: p for p in _providers(settings, store, keys, now)}
    day = windows.day(now)
    ids = [k.id for k in keys]
    ledger = _Ledger(
        totals=store.totals_by_key(day.start, day.end),
        last=store.last_latencies(ids),
        recent=store.latencies_since(now - LATENCY_WINDOW),
        checks=store.latest_checks(),
    )
    statuses = tuple(
        _key_status(key, settings, store, now, ledger, (*providers[key.provider].budgets, *total)) for key in keys
    )
    return Status(now, day, statuses, tuple(providers.values()), total)


def _providers(settings: Settings, store: Store, keys: list[KeySlot], now: float) -> list[ProviderStatus]:
    """Providers with a key, a budget, or a breaker that is not closed."""
    breakers = {b.provider: b for b in store.breaker_states()}
    budgets = settings.limits.provider_budgets
    names = {k.provider for k in keys} | set(budgets) | {n for n, b in breakers.items() if b.state != "closed"}
    return [
        ProviderStatus(
            name,
            breakers.get(name, BreakerState(name)),
            tuple(budget_uses(store, settings, provider_scope(name), budgets.get(name), now)),
        )
        for name in provider_order(settings, names)
    ]


def _key_status(
    key: KeySlot, settings: Settings, store: Store, now: float, ledger: _Ledger, shared: tuple[BudgetUse, ...]
) -> KeyStatus:
    """``shared``: the budgets of the key's provider and the total, which hold this key too."""
    budgets = tuple(budget_uses(store, settings, Scope.of_key(key), settings.limits.key_budgets.get(key.label), now))
    state, until, reason = _state(key, settings, store, now)
    if state == "ready":
        spent = next((b for b in (*budgets, *shared) if b.exhausted), None)
        if spent is not None:
            state, until, reason = "over_budget", spent.resets_at, f"{spent.scope} {spent.name} used up"
    recent = ledger.recent.get(key.id)
    return KeyStatus(
        key=key,
        state=state,
        until=until,
        reason=reason,
        today=ledger.totals.get(key.id, Totals()),
        last_latency_ms=ledger.last.get(key.id),
        p50_latency_ms=statistics.median(recent) if recent else None,
        last_check=ledger.checks.get(key.id),
        budgets=budgets,
    )


def _state(key: KeySlot, settings: Settings, store: Store, now: float) -> tuple[str, float | None, str | None]:
    holds = _holds(key, store, now)
    whole = [h for h in holds if not h.model]
    disabled = next((h for h in whole if h.disabled), None)
    if disabled is not None:
        return "disabled", None, _why(disabled)
    cooling = max(whole, key=lambda h: h.blocked_until(now) or 0.0, default=None)
    if cooling is not None:
        return "cooling", cooling.blocked_until(now), _why(cooling)
    limits = settings.limits
    for scope, limit in (
        (Scope.of_key(key), limits.key_limits.get(key.label)),
        (
            Scope("pool", key.pool_id, key.pool_name, settings.pool_members(key)) if key.pool else None,
            limits.pool_limits.get(key.pool_name),
        ),
        (provider_scope(key.provider), limits.provider_limits.get(key.provider)),
    ):
        full = _rate_limited(store, scope, limit, now) if scope else None
        if full is not None:
            return "rate_limited", full[0], f"{scope}: {full[1]}"
    if holds:
        return "ready", None, "; ".join([*(_partial(h, now) for h in holds), "other models ready"])
    return "ready", None, None


def _enabled(settings: Settings, name: str) -> bool:
    provider = settings.provider(name)
    return bool(provider and provider.enabled)


def _holds(key: KeySlot, store: Store, now: float) -> list[Hold]:
    """The holds in force on this key at any scope: its own, its pool's, and its provider's endpoint and models."""
    kept = store.holds_of(dict.fromkeys((key.id, key.pool_id, key.provider)))
    mine = [h for h in kept if h.subject != key.provider or h.scope in ("model", "endpoint")]
    return store.holds_in_force([h.address for h in mine], endpoint=key.endpoint, now=now) if mine else []


def _partial(hold: Hold, now: float) -> str:
    """A hold on some models, in words: ``free models cooling until 00:00 UTC (...)``."""
    what = f"{hold.model} models" if hold.scope == "pool_class" else hold.model
    until = hold.blocked_until(now)
    if hold.until_refresh:
        state = "not available"
    elif until is not None and until != float("inf"):
        state = f"cooling until {windows.utc_clock(until)}"
    else:
        state = "disabled"
    why = _why(hold)
    return f"{what} {state}" + (f" ({why})" if why else "")


def _why(hold: Hold) -> str | None:
    parts = [p for p in (hold.error_kind, " ".join((hold.reason or "").split())) if p]
    return ": ".join(parts) or None


def _rate_limited(store: Store, scope: Scope, limit: RateLimit | None, now: float) -> tuple[float | None, str] | None:
    """(when a slot frees, which limit) when one of the limit's sliding windows is full now.

    The same count the admission transaction makes: every attempt in the window is a call.
    """
    for seconds, allowed in limit.windows() if limit else ():
        recent = store.calls(scope, now - seconds)
        if len(recent) >= allowed:
            frees = recent[len(recent) - allowed] + seconds if allowed > 0 else None
            window = {MINUTE: "minute", HOUR: "hour", DAY: "24 hours"}.get(seconds, f"{seconds:g}s")
            return frees, f"{allowed} calls per {window}"
    return None
