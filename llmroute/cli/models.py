"""``llmroute models``: every provider's models, prices and the keys that reach them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from llmroute.catalog import (
    CATALOG_TTL,
    SORTS,
    CatalogEntry,
    CatalogResult,
    filter_and_sort,
    load_catalog,
    usable_providers,
)
from llmroute.cli import render
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus, UsageProblem, require_provider
from llmroute.config import Settings
from llmroute.errors import AllCandidatesFailed, ConfigError, NoKeysError
from llmroute.store import Store

UNKNOWN = render.DASH


@dataclass(frozen=True)
class ModelsOptions:
    provider: str | None = None
    free: bool = False
    search: str | None = None
    max_price: float | None = None
    sort: str = "name"
    refresh: bool = False
    json: bool = False


def run(options: ModelsOptions, settings: Settings, environment: Environment) -> ExitStatus:
    _validate(options, settings)
    ttl = catalog_ttl(environment.env)
    selection = {options.provider} if options.provider else None
    store = Store.open(settings.state_path)
    try:
        with _spinner(environment):
            result = asyncio.run(
                load_catalog(settings, store, refresh=options.refresh, ttl=ttl, now=time.time(), providers=selection)
            )
    finally:
        store.close()
    if not result.entries:
        _raise_if_nothing_to_show(result, settings, options.provider)
    _report_failures(result, environment)
    entries = filter_and_sort(
        result.entries,
        provider=options.provider,
        free=options.free,
        search=options.search,
        max_price=options.max_price,
        sort=options.sort,
    )
    if options.json:
        text = json.dumps(models_document(entries, result), ensure_ascii=False) + "\n"
        environment.stdout.write(environment.redact(text))
        environment.stdout.flush()
    elif entries:
        _print_table(entries, environment)
    if not entries:
        environment.warn("no models match")
    return ExitStatus.OK


def catalog_ttl(env: Mapping[str, str]) -> float:
    raw = env.get("LLMROUTE_CATALOG_TTL")
    if not raw:
        return CATALOG_TTL
    try:
        ttl = float(raw)
    except ValueError:
        ttl = -1.0
    if not ttl >= 0:
        raise ConfigError(f"LLMROUTE_CATALOG_TTL must be a number of seconds, not {raw!r}")
    return ttl


def _validate(options: ModelsOptions, settings: Settings) -> None:
    if options.sort not in SORTS:
        raise UsageProblem(f"--sort must be one of {', '.join(SORTS)}, not {options.sort!r}")
    require_provider(settings, options.provider)


def _raise_if_nothing_to_show(result: CatalogResult, settings: Settings, provider: str | None) -> None:
    if result.errors:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in result.errors.items())
        raise AllCandidatesFailed(f"could not fetch any model catalogue ({reasons})")
    if not usable_providers(settings, {provider} if provider else None):
        raise NoKeysError(_no_keys_message(settings, provider))


def _no_keys_message(settings: Settings, provider: str | None) -> str:
    variables = [
        p.key_variable for p in settings.providers if p.key_variable and (provider is None or p.name == provider)
    ]
    where = f" for {provider}" if provider else ""
    hints = [f"set {' or '.join(variables)}"] if variables else []
    if provider in (None, "local"):
        hints.append("set OLLAMA_HOST for a local Ollama")
    return f"no API keys and no cached model catalogue{where}: {'; or '.join(hints)}"


def _report_failures(result: CatalogResult, environment: Environment) -> None:
    now = time.time()
    for name, reason in result.errors.items():
        if name in result.stale:
            age = describe_age(now - result.fetched_at[name])
            environment.warn(f"could not refresh {name} ({reason}); showing the catalogue from {age} ago")
        else:
            environment.warn(f"could not fetch the {name} catalogue ({reason})")


def describe_age(seconds: float) -> str:
    """``3 hours``, ``1 day``: the largest whole unit, for "showing the catalogue from ... ago"."""
    seconds = max(0.0, seconds)
    unit, size = next((u, s) for u, s in _AGE_UNITS if seconds >= s or s == 1)
    count = int(seconds // size)
    return f"{count} {unit}{'s' * (count != 1)}"


_AGE_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def models_document(entries: Sequence[CatalogEntry], result: CatalogResult) -> dict[str, Any]:
    return {
        "models": [_model_document(e) for e in entries],
        "stale": list(result.stale),
        "errors": dict(result.errors),
        "fetched_at": {name: render.iso(when) for name, when in sorted(result.fetched_at.items())},
    }


def _model_document(entry: CatalogEntry) -> dict[str, Any]:
    info = entry.info
    return {
        "provider": info.provider,
        "model": info.model,
        "name": info.name,
        "context_length": info.context_length,
        "prompt_price_per_m": info.prompt_price,
        "completion_price_per_m": info.completion_price,
        "variable_price": info.variable_price,
        "free": info.free,
        "expires": info.expires,
        "retired": entry.retired,
        "successor": entry.successor,
        "keys": list(entry.keys),
    }


def table_rows(entries: Sequence[CatalogEntry]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the table; a status column only when some model has one."""
    header = ["provider", "model", "context", "$/M in", "$/M out", "free", "keys"]
    rows = [
        [
            e.info.provider,
            e.info.model,
            f"{e.info.context_length:,}" if e.info.context_length else UNKNOWN,
            _price(e.info.prompt_price, e.info.variable_price),
            _price(e.info.completion_price, e.info.variable_price),
            "yes" if e.info.free else "no",
            _keys(e.keys),
            _status(e),
        ]
        for e in entries
    ]
    if any(row[-1] for row in rows):
        return [*header, "status"], rows
    return header, [row[:-1] for row in rows]


def _price(value: float | None, variable: bool) -> str:
    if variable:
        return "varies"
    if value is None:
        return UNKNOWN
    if value == 0:
        return "0"
    return f"{value:,.2f}" if value >= 0.1 else f"{value:.3g}"


def _keys(labels: tuple[str, ...]) -> str:
    """The first label and how many more: every key of a provider reaches the same models."""
    if not labels:
        return UNKNOWN
    return labels[0] if len(labels) == 1 else f"{labels[0]} +{len(labels) - 1}"


def _status(entry: CatalogEntry) -> str:
    """``retired → X`` or ``retires DATE``, as judged by ``catalog.current_target`` (as chat and test-keys judge)."""
    successor = f" → {entry.successor}" if entry.successor else ""
    if entry.retired:
        return f"retired{successor}"
    if entry.info.expires:
        return f"retires {entry.info.expires[:10]}{successor}"
    return ""


#: How much each column is needed (0: always shown); on a narrow terminal the highest fold first.
PRIORITIES = {"provider": 0, "model": 0, "$/M in": 1, "$/M out": 1, "free": 1, "status": 2, "context": 3, "keys": 4}
RIGHT_ALIGNED = ("context", "$/M in", "$/M out")


def _print_table(entries: Sequence[CatalogEntry], environment: Environment) -> None:
    """Fitted to a terminal, ids whole; plain, complete columns elsewhere (``render``)."""
    header, rows = table_rows(entries)
    columns = tuple(
        render.Column(name, PRIORITIES[name], justify="right" if name in RIGHT_ALIGNED else "left") for name in header
    )
    table = render.Table(columns)
    for row in rows:
        table.add_row(*row)
    render.print_table(table, environment, environment.stdout)


def _spinner(environment: Environment) -> Any:
    """A spinner on stderr while catalogues load, only when stderr is a terminal."""
    if not _isatty(environment.stderr):
        return contextlib.nullcontext()
    return render.console(environment, environment.stderr).status("fetching model catalogues…")


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
