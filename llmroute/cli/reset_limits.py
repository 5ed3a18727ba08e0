"""``llmroute reset-limits``: lift cooldowns, re-enable disabled keys, close open breakers; say what was cleared.

The ledger is left alone: spend, and the rate-limit and budget counts drawn from
it, stay exactly as they were.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from llmroute.cli import render
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus, UsageProblem, require_provider
from llmroute.config import Settings
from llmroute.reports import known_keys
from llmroute.store import BreakerState, KeyState, Store

REASON_LIMIT = 120


@dataclass(frozen=True)
class ResetLimitsOptions:
    labels: tuple[str, ...] = ()
    """``--key LABEL``: those keys' cooldowns and disabled flags."""
    provider: str | None = None
    """``--provider P``: every key of P, and P's breaker."""


def run(options: ResetLimitsOptions, settings: Settings, environment: Environment) -> ExitStatus:
    require_provider(settings, options.provider)
    store = Store.open(settings.state_path)
    try:
        key_ids, providers = _selection(options, settings, store)
        keys = store.clear_key_states(key_ids)
        breakers = store.reset_breakers(providers)
    finally:
        store.close()
    now = time.time()
    labels = {k.key_id: k.label for k in known_keys(settings)}
    lines = [_key_line(state, labels.get(state.key_id, state.label), now) for state in keys]
    lines += [_breaker_line(state) for state in breakers]
    text = "\n".join(line for line in lines if line) or "nothing to clear"
    environment.stdout.write(environment.redact(text) + "\n")
    environment.stdout.flush()
    return ExitStatus.OK


def _selection(
    options: ResetLimitsOptions, settings: Settings, store: Store
) -> tuple[list[str] | None, list[str] | None]:
    """The key ids and providers to clear; None = all of them (no option given)."""
    if not options.labels and not options.provider:
        return None, None
    known = known_keys(settings)
    stored = store.all_key_states()
    ids = []
    for label in options.labels:
        matches = [k.key_id for k in known if k.label == label] + [s.key_id for s in stored if s.label == label]
        if not matches:
            names = ", ".join(sorted({k.label for k in known})) or "none"
            raise UsageProblem(f"unknown key {label!r} (known: {names})")
        ids += matches
    if options.provider:
        ids += [k.key_id for k in known if k.provider == options.provider]
        ids += [s.key_id for s in stored if s.provider == options.provider]
    return list(dict.fromkeys(ids)), [options.provider] if options.provider else []


def _key_line(state: KeyState, label: str, now: float) -> str | None:
    if state.disabled:
        return f"re-enabled {label} (disabled: {_reason(state)})"
    if state.cooldown_until is not None and state.cooldown_until > now:
        until = render.clock_time(state.cooldown_until)
        return f"cleared cooldown of {label} ({state.error_kind or 'cooling'} until {until})"
    if state.consecutive_failures:
        count = state.consecutive_failures
        return f"reset the failure count of {label} ({count} failure{'s' * (count != 1)} in a row)"
    return None


def _breaker_line(state: BreakerState) -> str:
    if state.state == "open":
        return f"closed breaker of {state.provider} (open until {render.clock_time(state.open_until)})"
    return f"closed breaker of {state.provider} ({state.state.replace('_', '-')})"


def _reason(state: KeyState) -> str:
    text = " ".join((state.reason or state.error_kind or "no reason recorded").split())
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"
