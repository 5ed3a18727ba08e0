"""Key health: the failure table applied to the state file, at the scope the table names.

Shared by the router (a failed attempt), the gate (which holds block a candidate)
and ``test-keys`` (a failed check), so that a key found revoked by one is skipped
by the others, and a model refused to one key is skipped for that key alone.
"""

from __future__ import annotations

import functools
import time

from llmroute.errors import ErrorKind, ProviderError
from llmroute.keys import KeySlot
from llmroute.policy import KeyEffect, StateScope, action_for, cooldown_until, model_class
from llmroute.store import Address, Hold, Store

_MODEL_SCOPES = {StateScope.KEY_MODEL: StateScope.KEY, StateScope.POOL_MODEL: StateScope.POOL}


def address(scope: StateScope, slot: KeySlot, model: str) -> Address:
    """Where a state of ``scope`` is kept for this slot and model."""
    if not model and scope in _MODEL_SCOPES:
        scope = _MODEL_SCOPES[scope]
    match scope:
        case StateScope.KEY:
            return Address(scope, slot.id)
        case StateScope.KEY_MODEL:
            return Address(scope, slot.id, model)
        case StateScope.POOL:
            return Address(scope, slot.pool_id)
        case StateScope.POOL_MODEL:
            return Address(scope, slot.pool_id, model)
        case StateScope.POOL_CLASS:
            return Address(scope, slot.pool_id, model_class(model) or model)
        case StateScope.MODEL:
            return Address(scope, slot.provider, model)
        case StateScope.ENDPOINT:
            return Address(scope, slot.provider)
    raise AssertionError(f"unknown scope {scope}")


@functools.lru_cache(maxsize=1024)
def addresses(slot: KeySlot, model: str) -> tuple[Address, ...]:
    """Every address whose hold would keep this slot from answering for ``model`` (the same every time: cached,
    as every attempt's gate asks)."""
    return tuple(dict.fromkeys(address(scope, slot, model) for scope in StateScope))


def label(scope: StateScope | str, slot: KeySlot) -> str:
    """How a hold's subject is shown: the key's variable, the pool's name, or the provider."""
    if scope in (StateScope.KEY, StateScope.KEY_MODEL):
        return slot.label
    if scope in (StateScope.POOL, StateScope.POOL_MODEL, StateScope.POOL_CLASS):
        return slot.pool_name
    return slot.provider


def holds_on(store: Store, slot: KeySlot, model: str, now: float) -> list[Hold]:
    """The holds that keep this slot from answering for ``model`` now (one query)."""
    return store.holds_in_force(addresses(slot, model), endpoint=slot.endpoint, now=now)


def refine(store: Store, slot: KeySlot, model: str, error: ProviderError) -> ProviderError:
    """An error read with what the state file knows: Ollama Cloud has answered an unserved model with a bare 500,
    which is a model not found when the provider's cached catalogue lacks the model."""
    if error.kind is ErrorKind.SERVER and error.status == 500 and store.catalog_lacks(slot.provider, model):
        return ProviderError(
            ErrorKind.MODEL_NOT_FOUND,
            f"{slot.provider} does not list {model} in its catalogue and answered: {error.message}",
            status=error.status,
            provider=error.provider,
        )
    return error


def record_failure(store: Store, slot: KeySlot, error: ProviderError, model: str = "") -> Hold | None:
    """Cool, disable or mark unavailable as the failure table says, at its scope; None when it leaves all alone."""
    action = action_for(error.kind, error.cause, local=slot.key is None)
    if action.key is KeyEffect.NONE:
        return None
    now = time.time()
    where = address(action.scope, slot, model)
    timed = action.key is KeyEffect.COOL
    return store.record_failure(
        where,
        provider=slot.provider,
        label=label(where.scope, slot),
        endpoint=slot.endpoint,
        now=now,
        error_kind=error.kind.value,
        reason=error.message,
        effect=action.key.value,
        deadline=(
            (lambda streak: cooldown_until(action, now=now, retry_at=error.retry_at, consecutive_failures=streak))
            if timed
            else None
        ),
    )


def success_address(slot: KeySlot) -> Address:
    """Where an answer ends the failure streak: the key, for every model."""
    return address(StateScope.KEY, slot, "")


def record_success(store: Store, slot: KeySlot) -> None:
    store.record_success(success_address(slot), time.time())
