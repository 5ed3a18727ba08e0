"""Key health: the failure table applied to the state file.

Shared by the router (a failed attempt) and ``test-keys`` (a failed check), so
that a key found revoked by one is skipped by the other.
"""

from __future__ import annotations

import time

from llmroute.errors import ProviderError
from llmroute.keys import ApiKey
from llmroute.policy import KeyEffect, action_for, cooldown_until
from llmroute.store import KeyState, Store


def key_id(provider: str, key: ApiKey | None) -> str:
    """How the state file knows a key: its fingerprint, or the provider for keyless ones."""
    return key.fingerprint if key else f"provider:{provider}"


def record_failure(store: Store, provider: str, key: ApiKey | None, error: ProviderError) -> KeyState | None:
    """Cool or disable the key as the failure table says; None when the table leaves the key alone."""
    action = action_for(error.kind)
    if action.key is KeyEffect.NONE:
        return None
    now = time.time()
    disable = action.key is KeyEffect.DISABLE
    return store.record_failure(
        key_id=key_id(provider, key),
        provider=provider,
        label=key.label if key else provider,
        now=now,
        error_kind=error.kind.value,
        reason=error.message,
        disable=disable,
        deadline=None
        if disable
        else lambda streak: cooldown_until(action, now=now, retry_at=error.retry_at, consecutive_failures=streak),
    )


def record_success(store: Store, provider: str, key: ApiKey | None) -> None:
    store.record_success(key_id(provider, key), time.time())
