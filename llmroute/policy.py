"""The one table from error kind to action, and the cooldown arithmetic.

Pure decisions: no I/O. The router applies them; the store persists the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from llmroute.errors import ErrorKind


class KeyEffect(StrEnum):
    NONE = "none"
    COOL = "cool"
    """Cool down until the provider's reset hint, else a default that grows on repeats."""
    DISABLE = "disable"
    """Never try again until ``reset-limits`` or the key changes."""


class RequestEffect(StrEnum):
    NEXT_CANDIDATE = "next_candidate"
    NEXT_PROVIDER = "next_provider"
    """Skip every other key of this provider for this request."""
    STOP = "stop"
    """The caller must fix the request; trying other keys would only burn them."""


@dataclass(frozen=True)
class Action:
    key: KeyEffect
    request: RequestEffect
    retry_same: bool = False
    """Retry the same target once, after a short jittered backoff, before moving on."""
    base_cooldown: float = 0.0
    """Seconds of the first cooldown when the provider gives no hint; doubles per repeat."""
    max_cooldown: float = 0.0


ACTIONS: dict[ErrorKind, Action] = {
    ErrorKind.RATE_LIMITED: Action(KeyEffect.COOL, RequestEffect.NEXT_CANDIDATE, base_cooldown=60, max_cooldown=3600),
    ErrorKind.QUOTA: Action(KeyEffect.COOL, RequestEffect.NEXT_CANDIDATE, base_cooldown=3600, max_cooldown=86400),
    ErrorKind.AUTH: Action(KeyEffect.DISABLE, RequestEffect.NEXT_CANDIDATE),
    ErrorKind.MODEL_NOT_FOUND: Action(KeyEffect.NONE, RequestEffect.NEXT_PROVIDER),
    ErrorKind.BAD_REQUEST: Action(KeyEffect.NONE, RequestEffect.STOP),
    ErrorKind.TIMEOUT: Action(
        KeyEffect.COOL, RequestEffect.NEXT_CANDIDATE, retry_same=True, base_cooldown=30, max_cooldown=600
    ),
    # A connection cut mid-answer is one key's bad luck; a host that cannot be reached at all
    # (ProviderError.unreachable) makes the router skip the provider's other keys too.
    ErrorKind.CONNECTION: Action(
        KeyEffect.COOL, RequestEffect.NEXT_CANDIDATE, retry_same=True, base_cooldown=30, max_cooldown=600
    ),
    ErrorKind.SERVER: Action(KeyEffect.COOL, RequestEffect.NEXT_CANDIDATE, base_cooldown=30, max_cooldown=600),
    ErrorKind.OVERLOADED: Action(KeyEffect.COOL, RequestEffect.NEXT_CANDIDATE, base_cooldown=30, max_cooldown=600),
    ErrorKind.BAD_RESPONSE: Action(KeyEffect.NONE, RequestEffect.NEXT_CANDIDATE),
}

STALL_TIMEOUT = 60.0
"""Seconds a provider may stay silent (connecting, or between two reads) before it is failing, not slow.

Shorter than the overall deadline, so a hung provider is cooled down; when the
caller's own deadline is the shorter, running out of it cools nothing.
"""

RETRY_BACKOFF = (0.2, 0.6)
"""Bounds in seconds of the jittered pause before retrying the same target."""


def action_for(kind: ErrorKind) -> Action:
    return ACTIONS[kind]


def cooldown_until(action: Action, *, now: float, retry_at: float | None, consecutive_failures: int) -> float:
    """When a key that just failed may be tried again.

    The provider's own hint wins when it lies in the future; otherwise the
    default grows: base, 2x base, 4x base, ... capped at ``max_cooldown``.
    """
    if retry_at is not None and retry_at > now:
        return retry_at
    repeats = max(consecutive_failures - 1, 0)
    return now + min(action.base_cooldown * (2 ** min(repeats, 20)), action.max_cooldown)
