"""``llmroute costs`` as data: calls, tokens and money per key, provider, model or UTC day, over a period.

Reported and estimated costs are kept apart throughout; the total is the exact
sum of the rows (integer micro-dollars), and equals the ledger's settled spend
over the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from llmroute import windows
from llmroute.config import Settings
from llmroute.limits import Scope
from llmroute.reports.common import (
    NOT_CONFIGURED,
    BudgetUse,
    all_budgets,
    known_keys,
    provider_order,
    provider_scope,
    utc_date,
    utc_midnight,
)
from llmroute.store import Group, Store, Totals

GROUPINGS = ("key", "provider", "model", "day")


@dataclass(frozen=True)
class CostPeriod:
    name: str
    """``today``, ``month``, ``days`` or ``since``."""
    label: str
    """How to show it: ``2026-11-22``, ``2026-11``, ``2026-11-16 to 2026-11-22``."""
    start: float
    end: float
    """Exclusive: the end of the current UTC day (or month)."""


def cost_period(now: float, *, month: bool = False, days: int | None = None, since: date | None = None) -> CostPeriod:
    """The UTC period asked for; today when nothing is. ``days`` counts today as the last of them."""
    today = windows.day(now)
    if month:
        current = windows.month(now)
        return CostPeriod("month", current.key, current.start, current.end)
    if days is not None:
        first = utc_date(now) - timedelta(days=days - 1)
        return CostPeriod("days", f"{first.isoformat()} to {today.key}", utc_midnight(first), today.end)
    if since is not None:
        return CostPeriod("since", f"{since.isoformat()} to {today.key}", utc_midnight(since), today.end)
    return CostPeriod("today", today.key, today.start, today.end)


@dataclass(frozen=True)
class CostRow:
    group: str
    """The key's label, the provider, the model or the UTC day (``2026-11-22``)."""
    provider: str | None
    """The provider of a key or model row."""
    mask: str | None
    """A key row's mask, or ``(not configured)`` for a key the settings no longer hold."""
    totals: Totals
    budgets: tuple[BudgetUse, ...] = ()
    """The row's own budgets (key and provider rows), as used this UTC day and month."""


@dataclass(frozen=True)
class Costs:
    by: str
    period: CostPeriod
    rows: tuple[CostRow, ...]
    total: Totals
    budgets: tuple[BudgetUse, ...]
    """Every configured budget: total, providers, keys."""


def build_costs(settings: Settings, store: Store, by: str, period: CostPeriod, now: float) -> Costs:
    if by not in GROUPINGS:
        raise ValueError(f"cannot group costs by {by!r}")
    groups = store.grouped_totals(by, period.start, period.end)
    budgets = all_budgets(store, settings, known_keys(settings), now)
    if by == "key":
        rows = _by_key(settings, groups, budgets)
    elif by == "provider":
        rows = _by_provider(settings, groups, budgets)
    elif by == "model":
        rows = [CostRow(g.names[1], g.names[0], None, g.totals) for g in groups]
    else:
        rows = _by_day(groups, period, now)
    total = sum((row.totals for row in rows), Totals())
    return Costs(by, period, tuple(rows), total, tuple(budgets))


def _of(budgets: list[BudgetUse], scope: Scope) -> tuple[BudgetUse, ...]:
    return tuple(b for b in budgets if b.scope == scope)


def _by_key(settings: Settings, groups: list[Group], budgets: list[BudgetUse]) -> list[CostRow]:
    """Every configured key (with no calls too), then keys seen in the ledger that are no longer configured."""
    found = {g.names[0]: g for g in groups}
    rows = []
    for key in known_keys(settings):
        group = found.pop(key.id, None)
        rows.append(
            CostRow(
                key.label,
                key.provider,
                key.mask(),
                group.totals if group else Totals(),
                _of(budgets, Scope.of_key(key)),
            )
        )
    for group in sorted(found.values(), key=lambda g: (g.provider, g.label)):
        rows.append(CostRow(group.label, group.provider, NOT_CONFIGURED, group.totals))
    return rows


def _by_provider(settings: Settings, groups: list[Group], budgets: list[BudgetUse]) -> list[CostRow]:
    """Every provider with a key (with no calls too), and any other the ledger names."""
    found = {g.names[0]: g.totals for g in groups}
    names = provider_order(settings, {k.provider for k in known_keys(settings)} | set(found))
    return [CostRow(n, n, None, found.get(n, Totals()), _of(budgets, provider_scope(n))) for n in names]


def _by_day(groups: list[Group], period: CostPeriod, now: float) -> list[CostRow]:
    """One row per UTC day of the period up to today, days without calls included."""
    found = {g.names[0]: g.totals for g in groups}
    day, last = utc_date(period.start), min(utc_date(period.end - 1), utc_date(now))
    rows = []
    while day <= last:
        rows.append(CostRow(day.isoformat(), None, None, found.pop(day.isoformat(), Totals())))
        day += timedelta(days=1)
    rows += [CostRow(name, None, None, totals) for name, totals in sorted(found.items())]
    return rows
