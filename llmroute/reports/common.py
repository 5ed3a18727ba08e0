"""What the reports share: the keys they list, budgets as used so far, and exact money."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from llmroute import windows
from llmroute.config import Settings
from llmroute.keys import KeySlot
from llmroute.limits import Budget, Scope
from llmroute.money import dollars
from llmroute.store import Store

TOTAL = Scope("total", "", "total")
NO_KEY = "(no key)"
NOT_CONFIGURED = "(not configured)"


def usd(micros: int) -> str:
    """Exact dollars from integer micro-dollars: ``42`` -> ``0.000042``."""
    sign = "-" if micros < 0 else ""
    whole, part = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{part:06d}"


def utc_midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def utc_date(moment: float) -> date:
    return datetime.fromtimestamp(moment, UTC).date()


def known_keys(settings: Settings) -> list[KeySlot]:
    """Every key of every enabled provider, and a keyless local provider as one slot."""
    return list(settings.all_slots())


def provider_scope(name: str) -> Scope:
    return Scope("provider", name, name)


@dataclass(frozen=True)
class BudgetUse:
    """One budget (a scope's daily or monthly limit) and what this UTC period has used of it."""

    scope: Scope
    period: str
    """``day`` or ``month``."""
    period_key: str
    """``2026-11-22`` or ``2026-11``."""
    limit_micros: int
    used_micros: int
    """Settled spend this period; the part computed from prices is ``estimated_micros``."""
    estimated_micros: int
    reserved_micros: int
    """Held by attempts in flight; counts against the budget until they settle."""
    resets_at: float

    @property
    def percent(self) -> float:
        if self.limit_micros <= 0:
            return 100.0 if self.used_micros else 0.0
        return 100 * self.used_micros / self.limit_micros

    @property
    def exhausted(self) -> bool:
        """Nothing more can be admitted: what is spent and reserved reaches the limit."""
        return self.used_micros + self.reserved_micros >= self.limit_micros

    @property
    def name(self) -> str:
        return f"{'daily' if self.period == 'day' else 'monthly'} budget {dollars(self.limit_micros)}"


def budget_uses(store: Store, settings: Settings, scope: Scope, budget: Budget | None, now: float) -> list[BudgetUse]:
    """The day and month parts of one budget (those that are set), as used so far."""
    uses = []
    for kind, limit in (("day", budget.daily if budget else None), ("month", budget.monthly if budget else None)):
        if limit is None:
            continue
        period = windows.period(kind, now)
        spent = store.spend(
            scope, period.start, period.end, now=now, reservation_timeout=settings.limits.reservation_timeout
        )
        uses.append(
            BudgetUse(
                scope=scope,
                period=kind,
                period_key=period.key,
                limit_micros=round(limit * 1_000_000),
                used_micros=spent.settled_micros,
                estimated_micros=spent.estimated_micros,
                reserved_micros=spent.reserved_micros,
                resets_at=period.end,
            )
        )
    return uses


def all_budgets(store: Store, settings: Settings, keys: list[KeySlot], now: float) -> list[BudgetUse]:
    """Every configured budget: the total, each provider's, each configured key's."""
    limits = settings.limits
    uses = budget_uses(store, settings, TOTAL, limits.total_budget, now)
    for name in provider_order(settings, limits.provider_budgets):
        uses += budget_uses(store, settings, provider_scope(name), limits.provider_budgets[name], now)
    for key in keys:
        uses += budget_uses(store, settings, Scope.of_key(key), limits.key_budgets.get(key.label), now)
    return uses


def provider_order(settings: Settings, names: Iterable[str]) -> list[str]:
    """``names`` in the settings' order of providers, unknown ones after, alphabetically."""
    wanted = set(names)
    ordered = [p.name for p in settings.providers if p.name in wanted]
    return ordered + sorted(wanted - set(ordered))
