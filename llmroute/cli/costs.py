"""``llmroute costs``: calls, tokens and money by key, provider, model or UTC day; budgets beside them."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from llmroute.cli import render
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus, UsageProblem
from llmroute.cli.render import Column, Table
from llmroute.cli.status import bar, budget_document, budget_table, cost_text, totals_document
from llmroute.config import Settings
from llmroute.money import dollars
from llmroute.reports import GROUPINGS, BudgetUse, CostRow, Costs, build_costs, cost_period
from llmroute.reports.common import utc_date
from llmroute.store import Store, Totals

DASH = render.DASH

#: The columns naming a row, per grouping.
NAME_COLUMNS: dict[str, tuple[str, ...]] = {
    "key": ("key", "provider", "mask"),
    "provider": ("provider",),
    "model": ("provider", "model"),
    "day": ("day",),
}
AMOUNT_COLUMNS = ("calls", "failed", "tokens in", "tokens out", "reported", "estimated", "total")
#: How much each column is needed (0: always shown, as are the row's name and the first column, which holds
#: "total"); on a narrow terminal the highest numbers fold into a detail line first.
PRIORITIES = {
    "total": 0,
    "calls": 1,
    "provider": 2,
    "reported": 2,
    "estimated": 2,
    "failed": 3,
    "budget": 3,
    "tokens in": 4,
    "tokens out": 4,
    "mask": 5,
}
CSV_COLUMNS = ("calls", "ok", "failed", "tokens_in", "tokens_out", "reported_usd", "estimated_usd", "cost_usd")


@dataclass(frozen=True)
class CostsOptions:
    by: str = "key"
    today: bool = False
    month: bool = False
    days: int | None = None
    since: str | None = None
    json: bool = False
    csv: bool = False


def run(options: CostsOptions, settings: Settings, environment: Environment) -> ExitStatus:
    now = time.time()
    period = cost_period(now, month=options.month, days=options.days, since=_validate(options, now))
    store = Store.open(settings.state_path)
    try:
        costs = build_costs(settings, store, options.by, period, now)
    finally:
        store.close()
    if options.json:
        environment.stdout.write(environment.redact(json.dumps(document(costs), ensure_ascii=False)) + "\n")
    elif options.csv:
        _write_csv(costs, environment)
    else:
        _print(costs, environment)
    environment.stdout.flush()
    return ExitStatus.OK


def _validate(options: CostsOptions, now: float) -> date | None:
    """Check what the parser cannot; returns ``--since`` as a date."""
    if options.by not in GROUPINGS:
        raise UsageProblem(f"--by must be one of {', '.join(GROUPINGS)}, not {options.by!r}")
    chosen = [options.today, options.month, options.days is not None, options.since is not None]
    if sum(chosen) > 1:
        raise UsageProblem("choose one period: --today, --month, --days N or --since DATE")
    if options.json and options.csv:
        raise UsageProblem("choose one of --json and --csv")
    if options.since is None:
        return None
    try:
        since = datetime.strptime(options.since, "%Y-%m-%d").date()
    except ValueError:
        raise UsageProblem(f"--since takes a UTC date YYYY-MM-DD, not {options.since!r}") from None
    if since > utc_date(now):
        raise UsageProblem(f"--since {since.isoformat()} is in the future (UTC)")
    return since


def _names(row: CostRow, by: str) -> list[str]:
    values = {"key": row.group, "model": row.group, "day": row.group, "provider": row.provider or row.group}
    values["mask"] = row.mask or DASH
    return [values[column] for column in NAME_COLUMNS[by]]


def _print(costs: Costs, environment: Environment) -> None:
    stream = environment.stdout
    fancy = render._isatty(stream)
    budgets = ["budget"] if any(row.budgets for row in costs.rows) else []
    title = f"costs by {costs.by}, {costs.period.label} (UTC)" if fancy else None
    table = Table(_columns(costs.by, budgets), title=title)
    for row in costs.rows:
        budget = [_budget_cell(row.budgets, fancy)] if budgets else []
        table.add_row(*_names(row, costs.by), *_money_cells(row.totals), *budget)
    blanks = [""] * (len(NAME_COLUMNS[costs.by]) - 1)
    table.add_row("total", *blanks, *_money_cells(costs.total), *[""] * len(budgets), rule=True)
    render.print_table(table, environment, stream)
    if costs.budgets:
        stream.write("\n")
        render.print_table(budget_table(list(costs.budgets), environment), environment, stream)


def _columns(by: str, budgets: list[str]) -> tuple[Column, ...]:
    """The names of a row, its amounts (right-aligned) and its budgets."""
    names = (Column(name, 0 if name == by or at == 0 else PRIORITIES[name]) for at, name in enumerate(NAME_COLUMNS[by]))
    amounts = (Column(name, PRIORITIES[name], justify="right") for name in AMOUNT_COLUMNS)
    return (*names, *amounts, *(Column(name, PRIORITIES[name]) for name in budgets))


def _money_cells(totals: Totals) -> list[str]:
    return [
        f"{totals.calls:,}",
        f"{totals.failed:,}",
        f"{totals.tokens_in:,}",
        f"{totals.tokens_out:,}",
        dollars(totals.reported_micros),
        dollars(totals.estimated_micros, estimated=bool(totals.estimated_micros)),
        cost_text(totals),
    ]


def _budget_cell(budgets: tuple[BudgetUse, ...], fancy: bool) -> str:
    parts = [
        f"{'day' if b.period == 'day' else 'month'} {bar(b.percent, fancy)} of {dollars(b.limit_micros)}"
        for b in budgets
    ]
    return "; ".join(parts) or DASH


def _write_csv(costs: Costs, environment: Environment) -> None:
    writer = csv.writer(environment.stdout, lineterminator="\n")
    writer.writerow([*NAME_COLUMNS[costs.by], *CSV_COLUMNS])
    for row in costs.rows:
        totals = totals_document(row.totals)
        writer.writerow([*_names(row, costs.by), *(totals[column] for column in CSV_COLUMNS)])


def document(costs: Costs) -> dict[str, Any]:
    period = costs.period
    rows = []
    for row in costs.rows:
        item: dict[str, Any] = dict(zip(NAME_COLUMNS[costs.by], _names(row, costs.by), strict=True))
        if costs.by == "key":
            item["mask"] = row.mask
        item |= totals_document(row.totals)
        if costs.by in ("key", "provider"):
            item["budgets"] = [budget_document(b) for b in row.budgets]
        rows.append(item)
    return {
        "by": costs.by,
        "period": {
            "name": period.name,
            "label": period.label,
            "start": render.iso(period.start),
            "end": render.iso(period.end),
        },
        "rows": rows,
        "total": totals_document(costs.total),
        "budgets": [budget_document(b) for b in costs.budgets],
    }
