"""``llmroute test-keys``: every key's verdict, latency and credit; the required-model grid."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass

from llmroute.cli import render
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus, require_keys
from llmroute.cli.progress import KeyProgress
from llmroute.config import Settings
from llmroute.diagnostics import Diagnosis, KeyReport, ModelReach, Verdict, diagnose, select_slots
from llmroute.store import Store

DASH = render.DASH


@dataclass(frozen=True)
class TestKeysOptions:
    __test__ = False  # not a pytest test class, despite the name

    provider: str | None = None
    labels: tuple[str, ...] = ()
    probes: int = 1
    inference: bool = False
    required: tuple[str, ...] = ()
    min_ok: int | None = None
    timeout: float = 15.0
    json: bool = False


def required_models(options: TestKeysOptions, settings: Settings) -> tuple[str, ...]:
    """``--require-model``, else ``LLMROUTE_REQUIRED_MODELS``, else the config file's ``required_models``."""
    return options.required or settings.required_models


def run(options: TestKeysOptions, settings: Settings, environment: Environment) -> ExitStatus:
    require_keys(settings, options.labels, options.provider)
    required = required_models(options, settings)
    labels = [slot.label for slot in select_slots(settings, options.provider, options.labels)]
    store = Store.open(settings.state_path)
    progress = KeyProgress(environment, labels, _verdict_text)
    started = time.monotonic()
    try:
        diagnosis = asyncio.run(
            diagnose(
                settings,
                store,
                provider=options.provider,
                labels=options.labels,
                probes=options.probes,
                inference=options.inference,
                required=required,
                timeout=options.timeout,
                on_report=progress.done,
            )
        )
    finally:
        progress.stop()
        store.close()
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    passed = diagnosis.passed(options.min_ok)
    status = ExitStatus.OK if passed else ExitStatus.CHECKS_FAILED
    for provider, reason in diagnosis.catalog_errors.items():
        environment.warn(f"could not read the {provider} model catalogue: {reason}")
    if options.json:
        environment.stdout.write(
            environment.redact(json.dumps(document(diagnosis, options, status, elapsed_ms))) + "\n"
        )
    else:
        _print_tables(diagnosis, options, environment)
        _print_summary(diagnosis, options, passed, environment)
    environment.stdout.flush()
    return status


def _verdict_text(report: KeyReport) -> str:
    text = report.verdict.value
    if report.verdict is Verdict.RATE_LIMITED and report.retry_at:
        text += f" until {render.clock_time(report.retry_at)}"
    if report.inference is not None and not report.inference.ok:
        text += f"; inference failed: {report.inference.message}"
    return text


#: How much each column is needed (0: always shown); on a narrow terminal the highest fold first.
KEY_COLUMNS = (
    render.Column("provider", 2),
    render.Column("key"),
    render.Column("mask", 5),
    render.Column("verdict", wrap=True),
    render.Column("latency", 1, justify="right"),
    render.Column("credit left", 2),
    render.Column("used today", 3, justify="right"),
    render.Column("used month", 4, justify="right"),
    render.Column("free req/day", 3, justify="right"),
    render.Column("models", 4, justify="right"),
)
INFERENCE_COLUMNS = (render.Column("first token", 2, justify="right"), render.Column("total", 3, justify="right"))


def _print_tables(diagnosis: Diagnosis, options: TestKeysOptions, environment: Environment) -> None:
    keys = render.Table((*KEY_COLUMNS, *(INFERENCE_COLUMNS if options.inference else ())))
    for report in diagnosis.keys:
        keys.add_row(*_key_row(report, options.inference))
    render.print_table(keys, environment, environment.stdout)
    if diagnosis.models:
        environment.stdout.write("\n")
        render.print_table(_grid(diagnosis), environment, environment.stdout)


def _key_row(report: KeyReport, inference: bool) -> list[str | render.Cell]:
    info = report.info
    credit = DASH
    if info and (info.credit_remaining is not None or info.credit_limit is not None):
        credit = f"{render.money(info.credit_remaining)} / {render.money(info.credit_limit)}"
    elif info and info.credit_limit is None and report.provider == "openrouter":
        credit = "no limit"
    free = DASH
    if info and info.free_requests_limit is not None:
        free = f"{info.free_requests_used or 0}/{info.free_requests_limit}"
    row: list[str | render.Cell] = [
        report.provider,
        report.label,
        report.mask,
        render.Cell(_verdict_text(report), "green" if report.ok else "red"),
        render.number(report.latency_ms, " ms"),
        credit,
        render.money(info.usage_today if info else None),
        render.money(info.usage_month if info else None),
        free,
        render.number(report.models),
    ]
    if inference:
        check = report.inference
        row += [
            render.number(check.ttft_ms if check else None, " ms"),
            render.number(check.total_ms if check else None, " ms"),
        ]
    return row


def _grid(diagnosis: Diagnosis) -> render.Table:
    """A row per key, a column per required model: yes / no / · (the key's provider is not a target)."""
    columns = (render.Column("key"), *(render.Column(m.spec, 1) for m in diagnosis.models))
    grid = render.Table(columns)
    for report in diagnosis.keys:
        grid.add_row(report.label, *(_cell(report, reach) for reach in diagnosis.models))
    grid.add_row("reachable", *(_reach_status(reach) for reach in diagnosis.models), rule=True)
    return grid


def _cell(report: KeyReport, reach: ModelReach) -> str:
    if report.label in reach.via:
        return "yes"
    return "no" if report.provider in {t.split(":", 1)[0] for t in reach.targets} else "·"


def _reach_status(reach: ModelReach) -> str:
    if reach.retired:
        return f"retired → {reach.successor}" if reach.successor else "retired"
    if not reach.via:
        return "unreachable"
    return "ok (unverified)" if reach.unverified else "ok"


def _print_summary(diagnosis: Diagnosis, options: TestKeysOptions, passed: bool, environment: Environment) -> None:
    working = sum(r.ok for r in diagnosis.keys)
    parts = [f"{working} of {len(diagnosis.keys)} keys work"]
    missing = [m.spec for m in diagnosis.models if not m.reachable]
    if missing:
        parts.append(f"unreachable: {', '.join(missing)}")
    if options.min_ok is not None:
        parts.append(f"--min-ok {options.min_ok}")
    verdict = "passed" if passed else "FAILED"
    environment.stderr.write(f"{verdict}: {'; '.join(parts)}\n")


def document(
    diagnosis: Diagnosis, options: TestKeysOptions, status: ExitStatus, elapsed_ms: float
) -> dict[str, object]:
    keys = []
    for report in diagnosis.keys:
        item = asdict(report)
        item["verdict"] = report.verdict.value
        item["ok"] = report.ok
        item["retry_at"] = render.iso(report.retry_at)
        keys.append(item)
    models = [
        {**asdict(reach), "targets": list(reach.targets), "via": list(reach.via), "reachable": reach.reachable}
        for reach in diagnosis.models
    ]
    working = sum(r.ok for r in diagnosis.keys)
    return {
        "keys": keys,
        "required_models": models,
        "catalog_errors": diagnosis.catalog_errors,
        "summary": {
            "checked": len(diagnosis.keys),
            "ok": working,
            "failed": len(diagnosis.keys) - working,
            "min_ok": options.min_ok,
            "passed": status is ExitStatus.OK,
            "exit_code": int(status),
            "elapsed_ms": elapsed_ms,
        },
    }
