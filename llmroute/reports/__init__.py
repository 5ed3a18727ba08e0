"""The reports ``llmroute status`` and ``llmroute costs`` show, as plain data read from the state file alone."""

from __future__ import annotations

from llmroute.reports.common import NO_KEY, NOT_CONFIGURED, TOTAL, BudgetUse, known_keys, usd
from llmroute.reports.costs import GROUPINGS, CostPeriod, CostRow, Costs, build_costs, cost_period
from llmroute.reports.status import STATES, KeyStatus, ProviderStatus, Status, build_status

__all__ = [
    "GROUPINGS",
    "NOT_CONFIGURED",
    "NO_KEY",
    "STATES",
    "TOTAL",
    "BudgetUse",
    "CostPeriod",
    "CostRow",
    "Costs",
    "KeyStatus",
    "ProviderStatus",
    "Status",
    "build_costs",
    "build_status",
    "cost_period",
    "known_keys",
    "usd",
]
