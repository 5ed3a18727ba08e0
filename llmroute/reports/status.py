"""``llmroute status`` as data: every key's state and usage today, every provider's breaker, every budget.

A key's state is the first that applies of: disabled, cooling, rate_limited (a
configured per-key or per-provider rate limit is full now), over_budget (a key,
provider or total budget is used up for this UTC day or month), ready. The
router refuses a key for the same reasons.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from llmroute import windows
from llmroute.config import Settings
from llmroute.limits import DAY, HOUR, MINUTE, RateLimit, Scope
from llmroute.reports.common import TOTAL, BudgetUse, KnownKey, budget_uses, known_keys, provider_order, provider_scope
from llmroute.store import BreakerState, CheckRow, KeyState, Store, Totals

STATES = ("ready", "cooling", "disabled", "rate_limited", "over_budget")
LATENCY_WINDOW = HOUR
"""The median latency is taken over the successful calls of this many seconds."""


@dataclass(frozen=True)
class KeyStatus:
    key: KnownKey
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
    health: dict[str, KeyState]


def build_status(settings: Settings, store: Store, now: float) -> Status:
    keys = known_keys(settings)
    total = tuple(budget_uses(store, settings, TOTAL, settings.limits.total_budget, now))
    providers = {p.name: p for p in _providers(settings, store, keys, now)}
    day = windows.day(now)
    ids = [k.key_id for k in keys]
    ledger = _Ledger(
        totals=store.totals_by_key(day.start, day.end),
        last=store.last_latencies(ids),
        recent=store.latencies_since(now - LATENCY_WINDOW),
        checks=store.latest_checks(),
        health=store.key_states(ids),
    )
    statuses = tuple(
        _key_status(key, settings, store, now, ledger, (*providers[key.provider].budgets, *total)) for key in keys
    )
    return Status(now, day, statuses, tuple(providers.values()), total)


def _providers(settings: Settings, store: Store, keys: list[KnownKey], now: float) -> list[ProviderStatus]:
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
    key: KnownKey, settings: Settings, store: Store, now: float, ledger: _Ledger, shared: tuple[BudgetUse, ...]
) -> KeyStatus:
    """``shared``: the budgets of the key's provider and the total, which hold this key too."""
    budgets = tuple(budget_uses(store, settings, key.scope, settings.limits.key_budgets.get(key.label), now))
    state, until, reason = _state(key, settings, store, now, ledger.health.get(key.key_id))
    if state == "ready":
        spent = next((b for b in (*budgets, *shared) if b.exhausted), None)
        if spent is not None:
            state, until, reason = "over_budget", spent.resets_at, f"{spent.scope} {spent.name} used up"
    recent = ledger.recent.get(key.key_id)
    return KeyStatus(
        key=key,
        state=state,
        until=until,
        reason=reason,
        today=ledger.totals.get(key.key_id, Totals()),
        last_latency_ms=ledger.last.get(key.key_id),
        p50_latency_ms=statistics.median(recent) if recent else None,
        last_check=ledger.checks.get(key.key_id),
        budgets=budgets,
    )


def _state(
    key: KnownKey, settings: Settings, store: Store, now: float, health: KeyState | None
) -> tuple[str, float | None, str | None]:
    if health is not None and health.disabled:
        return "disabled", None, _why(health)
    if health is not None and health.cooldown_until is not None and health.cooldown_until > now:
        return "cooling", health.cooldown_until, _why(health)
    limits = settings.limits
    for scope, limit in (
        (key.scope, limits.key_limits.get(key.label)),
        (provider_scope(key.provider), limits.provider_limits.get(key.provider)),
    ):
        full = _rate_limited(store, scope, limit, now)
        if full is not None:
            return "rate_limited", full[0], f"{scope}: {full[1]}"
    return "ready", None, None


def _why(health: KeyState) -> str | None:
    parts = [p for p in (health.error_kind, " ".join((health.reason or "").split())) if p]
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
