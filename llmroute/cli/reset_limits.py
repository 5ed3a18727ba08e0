"""``llmroute reset-limits``: lift cooldowns, re-enable disabled keys, make models available again, close open
breakers; say what was cleared.

Holds are lifted at every scope that concerns what was named: a key's own, its
quota pool's (its free models, a model its plan lacked), and with ``--provider``
also the provider's models and endpoint. The ledger is left alone: spend, and
the rate-limit and budget counts drawn from it, stay exactly as they were.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from llmroute.cli import render
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus, require_keys, require_provider
from llmroute.config import Settings
from llmroute.reports import known_keys
from llmroute.store import BreakerState, Hold, Store

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
        subjects, providers = _selection(options, settings, store)
        holds = store.clear_holds(subjects, providers or ())
        breakers = store.reset_breakers(providers)
    finally:
        store.close()
    now = time.time()
    lines = [_hold_line(hold, now) for hold in holds]
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
    stored = store.all_holds()
    # A key no longer configured may still hold state worth clearing: its label counts as known.
    require_keys(settings, options.labels, options.provider, also={h.label for h in stored if h.label})
    ids = []
    for label in options.labels:
        matches = [i for k in known if k.label == label for i in (k.id, k.pool_id)]
        matches += [h.subject for h in stored if h.label == label]
        ids += matches
    return list(dict.fromkeys(ids)), [options.provider] if options.provider else []


def _hold_line(hold: Hold, now: float) -> str | None:
    what = _subject(hold)
    if hold.disabled:
        return f"re-enabled {what} (disabled: {_reason(hold)})"
    if hold.until_refresh:
        return f"made {what} available again ({_reason(hold)})"
    if hold.cooldown_until is not None and hold.cooldown_until > now:
        until = render.clock_time(hold.cooldown_until)
        return f"cleared cooldown of {what} ({hold.error_kind or 'cooling'} until {until})"
    if hold.consecutive_failures:
        count = hold.consecutive_failures
        return f"reset the failure count of {what} ({count} failure{'s' * (count != 1)} in a row)"
    return None


def _subject(hold: Hold) -> str:
    """What a hold was on, in words: ``OPENROUTER_API_KEY_1``, ``free models of OPENROUTER_API_KEY_1``, ..."""
    match hold.scope:
        case "key_model" | "pool_model":
            return f"{hold.model} on {hold.label}"
        case "pool_class":
            return f"{hold.model} models of {hold.label}"
        case "model":
            return f"{hold.provider}:{hold.model}"
        case "endpoint":
            return f"the {hold.provider} endpoint"
    return hold.label


def _breaker_line(state: BreakerState) -> str:
    if state.state == "open":
        return f"closed breaker of {state.provider} (open until {render.clock_time(state.open_until)})"
    return f"closed breaker of {state.provider} ({state.state.replace('_', '-')})"


def _reason(hold: Hold) -> str:
    text = " ".join((hold.reason or hold.error_kind or "no reason recorded").split())
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"
