"""The one failure table: (kind, cause) -> what it affects (its scope), what happens there, what the request does.

Pure decisions: no I/O. The router applies them; the store keeps the state at the
scope the table names, and the gate checks every scope before a candidate is tried.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from llmroute.errors import Cause, ErrorKind


class StateScope(StrEnum):
    """Where a failure's state is kept (and checked): what it says nothing about stays usable."""

    KEY = "key"
    """One key, for every model."""
    KEY_MODEL = "key_model"
    """One key, for one model."""
    POOL = "pool"
    """Every key of a quota pool (an account, project or organization), for every model."""
    POOL_MODEL = "pool_model"
    """Every key of a quota pool, for one model (a plan that does not include it)."""
    POOL_CLASS = "pool_class"
    """Every key of a quota pool, for one class of models (OpenRouter's free models)."""
    MODEL = "model"
    """One model at one provider, whatever the key (the provider does not serve it)."""
    ENDPOINT = "endpoint"
    """A provider's endpoint (its base URL), every key: it cannot be reached."""


class KeyEffect(StrEnum):
    NONE = "none"
    COOL = "cool"
    """Cool down until the provider's reset hint, else a default that grows on repeats."""
    DISABLE = "disable"
    """Never try again until ``reset-limits`` or the key changes."""
    UNAVAILABLE = "unavailable"
    """Not offered here: skipped until ``reset-limits`` or the provider's catalogue is fetched again."""


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
    scope: StateScope = StateScope.KEY
    retry_same: bool = False
    """Retry the same target once, after a short jittered backoff, before moving on."""
    base_cooldown: float = 0.0
    """Seconds of the first cooldown when the provider gives no hint; doubles per repeat."""
    max_cooldown: float = 0.0
    breaker: bool = False
    """Counts towards the provider's circuit breaker: a provider-side failure, never one the caller caused."""


_NEXT, _PROVIDER, _STOP = RequestEffect.NEXT_CANDIDATE, RequestEffect.NEXT_PROVIDER, RequestEffect.STOP
_COOL, _DISABLE, _UNAVAILABLE = KeyEffect.COOL, KeyEffect.DISABLE, KeyEffect.UNAVAILABLE

ACTIONS: dict[tuple[ErrorKind, Cause | None], Action] = {
    (ErrorKind.RATE_LIMITED, None): Action(_COOL, _NEXT, StateScope.KEY, base_cooldown=60, max_cooldown=3600),
    # Gemini counts per project and model: a model's limit cools that model on the key's pool (its project).
    (ErrorKind.RATE_LIMITED, Cause.MODEL_QUOTA): Action(
        _COOL, _NEXT, StateScope.POOL_MODEL, base_cooldown=60, max_cooldown=3600
    ),
    (ErrorKind.QUOTA, Cause.MODEL_QUOTA): Action(
        _COOL, _NEXT, StateScope.POOL_MODEL, base_cooldown=3600, max_cooldown=86400
    ),
    # A request too large for the key's per-minute tokens never fits it: the key stays usable for others.
    (ErrorKind.RATE_LIMITED, Cause.REQUEST_SIZE): Action(KeyEffect.NONE, _NEXT),
    # OpenRouter's free-model caps count per account and say nothing about paid models.
    (ErrorKind.RATE_LIMITED, Cause.FREE_MODELS): Action(
        _COOL, _NEXT, StateScope.POOL_CLASS, base_cooldown=60, max_cooldown=3600
    ),
    # Credit and plan quotas belong to the account (the pool), not to one of its keys.
    (ErrorKind.QUOTA, None): Action(_COOL, _NEXT, StateScope.POOL, base_cooldown=3600, max_cooldown=86400),
    (ErrorKind.QUOTA, Cause.FREE_MODELS): Action(
        _COOL, _NEXT, StateScope.POOL_CLASS, base_cooldown=3600, max_cooldown=86400
    ),
    (ErrorKind.QUOTA, Cause.MODEL_ACCESS): Action(_UNAVAILABLE, _NEXT, StateScope.POOL_MODEL),
    (ErrorKind.AUTH, None): Action(_DISABLE, _NEXT, StateScope.KEY),
    (ErrorKind.AUTH, Cause.MODEL_ACCESS): Action(_UNAVAILABLE, _NEXT, StateScope.POOL_MODEL),
    # A local daemon that is not signed in (or has cloud disabled) still runs its local models.
    (ErrorKind.AUTH, Cause.CLOUD_MODEL): Action(_UNAVAILABLE, _NEXT, StateScope.KEY_MODEL),
    (ErrorKind.MODEL_NOT_FOUND, None): Action(_UNAVAILABLE, _PROVIDER, StateScope.MODEL),
    (ErrorKind.BAD_REQUEST, None): Action(KeyEffect.NONE, _STOP),
    # A provider's own content filter refuses the prompt there, on every key: another provider may take it.
    (ErrorKind.BAD_REQUEST, Cause.CONTENT_FILTER): Action(KeyEffect.NONE, _PROVIDER),
    # A prompt longer than the model's context fails on every key of that target, and waiting never helps: the
    # key is untouched and the request moves on to a model with a larger context. Provider-wide because a
    # failure has no target-wide reach yet; aliases list one target per provider.
    (ErrorKind.BAD_REQUEST, Cause.CONTEXT_LENGTH): Action(KeyEffect.NONE, _PROVIDER),
    (ErrorKind.TIMEOUT, None): Action(
        _COOL, _NEXT, StateScope.KEY, retry_same=True, base_cooldown=30, max_cooldown=600, breaker=True
    ),
    # A connection cut mid-answer is one key's bad luck; a host that cannot be reached at all
    # is every key's: the endpoint cools briefly (a daemon being restarted answers again soon).
    (ErrorKind.CONNECTION, None): Action(
        _COOL, _NEXT, StateScope.KEY, retry_same=True, base_cooldown=30, max_cooldown=600, breaker=True
    ),
    (ErrorKind.CONNECTION, Cause.UNREACHABLE): Action(
        _COOL, _PROVIDER, StateScope.ENDPOINT, retry_same=True, base_cooldown=5, max_cooldown=60, breaker=True
    ),
    (ErrorKind.SERVER, None): Action(_COOL, _NEXT, StateScope.KEY, base_cooldown=30, max_cooldown=600, breaker=True),
    (ErrorKind.OVERLOADED, None): Action(
        _COOL, _NEXT, StateScope.KEY, base_cooldown=30, max_cooldown=600, breaker=True
    ),
    (ErrorKind.BAD_RESPONSE, None): Action(KeyEffect.NONE, _NEXT, breaker=True),
}

BREAKER_KINDS: tuple[str, ...] = tuple(
    dict.fromkeys(kind.value for (kind, _), action in ACTIONS.items() if action.breaker)
)
"""The kinds that count towards a provider's circuit breaker (the store counts them in the ledger too)."""

STALL_TIMEOUT = 60.0
"""Seconds a provider may stay silent (connecting, or between two reads) before it is failing, not slow.

Shorter than the overall deadline, so a hung provider is cooled down; when the
caller's own deadline is the shorter, running out of it cools nothing.
"""

RETRY_BACKOFF = (0.2, 0.6)
"""Bounds in seconds of the jittered pause before retrying the same target."""

FREE_CLASS = "free"
"""The class of models a free-model cap counts (``StateScope.POOL_CLASS``)."""

FREE_ROUTER = "openrouter/free"
"""OpenRouter's router that picks among free models: a free-model call like any ``:free`` one."""


LOCAL_RECHECK = 60.0
"""Seconds a local daemon's "not here" (a model not pulled, cloud models before ``ollama signin``) is believed:
the user changes that in a moment on their own machine, and asking again costs a loopback round trip."""


def action_for(kind: ErrorKind, cause: Cause | None = None, *, local: bool = False) -> Action:
    """The table's row for a kind and cause; a cause the table does not single out acts as its kind.

    For a local daemon (``local``), what would be unavailable until the catalogue is fetched again cools
    for :data:`LOCAL_RECHECK` instead.
    """
    action = ACTIONS.get((kind, cause)) or ACTIONS[(kind, None)]
    if local and action.key is KeyEffect.UNAVAILABLE:
        return replace(action, key=KeyEffect.COOL, base_cooldown=LOCAL_RECHECK, max_cooldown=LOCAL_RECHECK)
    return action


def is_free_model(model: str) -> bool:
    """A model that draws on a free-model cap: a ``:free`` variant or the free router."""
    return model.endswith(":free") or model == FREE_ROUTER


def model_class(model: str) -> str | None:
    """The class a class-scoped state of ``model`` is kept under, if it has one."""
    return FREE_CLASS if is_free_model(model) else None


def cooldown_until(action: Action, *, now: float, retry_at: float | None, consecutive_failures: int) -> float:
    """When a key that just failed may be tried again.

    The provider's own hint wins when it lies in the future; otherwise the
    default grows: base, 2x base, 4x base, ... capped at ``max_cooldown``.
    """
    if retry_at is not None and retry_at > now:
        return retry_at
    repeats = max(consecutive_failures - 1, 0)
    return now + min(action.base_cooldown * (2 ** min(repeats, 20)), action.max_cooldown)
