"""``llmroute status``: every key's state and usage today, breakers and budgets; from the state file alone.

Also the renderers ``costs`` shares: money, totals and budgets as text and as JSON.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from llmroute.cli import render
from llmroute.cli.render import Cell, Column, Table
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus
from llmroute.config import Settings
from llmroute.money import dollars, unpriced
from llmroute.reports import BudgetUse, KeyStatus, ProviderStatus, Status, build_status, usd
from llmroute.store import Store, Totals

DASH = render.DASH
BAR_CELLS = 10
#: On a narrow terminal the highest priorities fold into a detail line under each key first.
KEY_COLUMNS = (
    Column("provider", 2),
    Column("key"),
    Column("mask", 4),
    Column("state"),
    Column("calls", 3, justify="right"),
    Column("tokens in/out", 5, justify="right"),
    Column("cost today", 1, justify="right"),
    Column("latency", 6, justify="right"),
    Column("last check", 5),
)
BUDGET_COLUMNS = (
    Column("budget"),
    Column("period", 2),
    Column("used / limit"),
    Column("use", 3),
    Column("resets", 1),
)
STATE_WORDS = {"rate_limited": "at rate limit", "over_budget": "over budget"}
STATE_COLOURS = {"ready": "green", "disabled": "red"}


@dataclass(frozen=True)
class StatusOptions:
    json: bool = False


def run(options: StatusOptions, settings: Settings, environment: Environment) -> ExitStatus:
    store = Store.open(settings.state_path)
    try:
        status = build_status(settings, store, time.time())
    finally:
        store.close()
    if not status.keys:
        environment.warn("no keys are configured (set OLLAMA_API_KEY, OPENROUTER_API_KEY or OLLAMA_HOST)")
    if options.json:
        environment.stdout.write(environment.redact(json.dumps(document(status), ensure_ascii=False)) + "\n")
    else:
        _print(status, environment)
    environment.stdout.flush()
    return ExitStatus.OK


def _print(status: Status, environment: Environment) -> None:
    stream = environment.stdout
    fancy = render._isatty(stream)
    # On a terminal the reasons go below the table, where they may wrap; piped, each key stays one line.
    keys = Table((*KEY_COLUMNS, *([] if fancy else [Column("why", wrap=True)])))
    for key in status.keys:
        keys.add_row(*_key_row(key, with_reason=not fancy))
    render.print_table(keys, environment, stream)
    reasons = [key for key in status.keys if key.reason]
    if fancy and reasons:
        why = Table((Column("key"), Column("why", wrap=True)))
        for key in reasons:
            why.add_row(key.key.label, key.reason or "")
        stream.write("\n")
        render.print_table(why, environment, stream)
    stream.write("\n")
    providers = Table((Column("provider"), Column("breaker", wrap=True)))
    for provider in status.providers:
        providers.add_row(provider.name, breaker_text(provider))
    render.print_table(providers, environment, stream)
    budgets = [
        *status.budgets,
        *(b for p in status.providers for b in p.budgets),
        *(b for k in status.keys for b in k.budgets),
    ]
    if budgets:
        stream.write("\n")
        render.print_table(budget_table(budgets, environment), environment, stream)


def _key_row(key: KeyStatus, *, with_reason: bool) -> list[str | Cell]:
    today = key.today
    calls = f"{today.calls:,}" + (f" ({today.failed:,} failed)" if today.failed else "")
    latency = DASH
    if key.last_latency_ms is not None:
        p50 = f"{key.p50_latency_ms:,.0f}" if key.p50_latency_ms is not None else DASH
        latency = f"{key.last_latency_ms:,.0f}/{p50} ms"
    check = key.last_check
    return [
        key.key.provider,
        key.key.label,
        key.key.mask(),
        Cell(state_text(key), STATE_COLOURS.get(key.state, "yellow")),
        calls,
        f"{today.tokens_in:,} / {today.tokens_out:,}",
        cost_text(today),
        latency,
        f"{check.verdict} {render.clock_time(check.ts)}" if check else DASH,
        *([key.reason or ""] if with_reason else []),
    ]


def state_text(key: KeyStatus) -> str:
    """``ready``, ``cooling until 14:03:11 UTC``, ``disabled``, ``at rate limit until ...``, ``over budget until
    ...``; the time by the one rule (``render.clock_time``)."""
    text = STATE_WORDS.get(key.state, key.state)
    return text + (f" until {render.clock_time(key.until)}" if key.until is not None else "")


def breaker_text(provider: ProviderStatus) -> str:
    breaker = provider.breaker
    if breaker.state == "open":
        text = f"open until {render.clock_time(breaker.open_until)}"
    elif breaker.state == "half_open":
        text = "half-open (one trial request let through)"
    else:
        text = "closed"
    failures = breaker.consecutive_failures
    details = [f"{failures} failure{'s' * (failures != 1)} in a row"] if failures else []
    if breaker.state != "closed" and breaker.reason:
        details.append(" ".join(breaker.reason.split()))
    return text + (f" ({'; '.join(details)})" if details else "")


def cost_text(totals: Totals) -> str:
    """The cost; ``~`` marks one that is wholly or partly estimated from prices rather than reported, and calls
    nobody knows the price of are counted after it (``$0 (+1 unpriced)``) rather than taken for free."""
    return dollars(totals.cost_micros, estimated=bool(totals.estimated_micros)) + unpriced(totals.unpriced)


def bar(percent: float, fancy: bool) -> str:
    """``████░░░░░░ 42%`` on a terminal, ``42%`` when piped."""
    label = f"{int(percent)}%"
    if not fancy:
        return label
    filled = min(BAR_CELLS, round(percent * BAR_CELLS / 100))
    return "█" * filled + "░" * (BAR_CELLS - filled) + " " + label


def budget_table(budgets: list[BudgetUse], environment: Environment) -> Table:
    fancy = render._isatty(environment.stdout)
    table = Table(BUDGET_COLUMNS)
    for use in budgets:
        used = f"{dollars(use.used_micros, estimated=bool(use.estimated_micros))} / {dollars(use.limit_micros)}"
        if use.estimated_micros:
            used += f" ({dollars(use.estimated_micros, estimated=True)} estimated)"
        if use.reserved_micros:
            used += f" (+{dollars(use.reserved_micros)} in flight)"
        period = "today" if use.period == "day" else "this month"
        table.add_row(
            str(use.scope),
            f"{period} ({use.period_key})",
            used,
            bar(use.percent, fancy),
            render.clock_time(use.resets_at),
        )
    return table


def totals_document(totals: Totals) -> dict[str, Any]:
    return {
        "calls": totals.calls,
        "ok": totals.ok,
        "failed": totals.failed,
        "tokens_in": totals.tokens_in,
        "tokens_out": totals.tokens_out,
        "cost_micros": totals.cost_micros,
        "reported_micros": totals.reported_micros,
        "estimated_micros": totals.estimated_micros,
        "unpriced_calls": totals.unpriced,
        "cost_usd": usd(totals.cost_micros),
        "reported_usd": usd(totals.reported_micros),
        "estimated_usd": usd(totals.estimated_micros),
    }


def budget_document(use: BudgetUse) -> dict[str, Any]:
    return {
        "scope": use.scope.kind,
        "name": use.scope.label or use.scope.name,
        "period": use.period,
        "period_key": use.period_key,
        "limit_micros": use.limit_micros,
        "used_micros": use.used_micros,
        "estimated_micros": use.estimated_micros,
        "reserved_micros": use.reserved_micros,
        "limit_usd": usd(use.limit_micros),
        "used_usd": usd(use.used_micros),
        "percent": round(use.percent, 2),
        "exhausted": use.exhausted,
        "resets_at": render.iso(use.resets_at),
    }


def document(status: Status) -> dict[str, Any]:
    return {
        "now": render.iso(status.now),
        "day": status.day.key,
        "keys": [_key_document(key) for key in status.keys],
        "providers": [
            {
                "name": p.name,
                "breaker": {
                    "state": p.breaker.state,
                    "consecutive_failures": p.breaker.consecutive_failures,
                    "open_until": render.iso(p.breaker.open_until),
                    "reason": p.breaker.reason,
                },
                "budgets": [budget_document(b) for b in p.budgets],
            }
            for p in status.providers
        ],
        "budgets": [budget_document(b) for b in status.budgets],
    }


def _key_document(key: KeyStatus) -> dict[str, Any]:
    check = key.last_check
    return {
        "provider": key.key.provider,
        "label": key.key.label,
        "mask": key.key.mask(),
        "state": key.state,
        "until": render.iso(key.until),
        "reason": key.reason,
        "today": totals_document(key.today),
        "last_latency_ms": key.last_latency_ms,
        "p50_latency_ms": key.p50_latency_ms,
        "last_check": {
            "verdict": check.verdict,
            "at": render.iso(check.ts),
            "latency_ms": check.latency_ms,
            "message": check.message,
        }
        if check
        else None,
        "budgets": [budget_document(b) for b in key.budgets],
    }
