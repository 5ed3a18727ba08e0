"""Planning: which (provider, key, model id) candidates to try for a request, in which order."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmroute import aliases
from llmroute.config import Settings
from llmroute.errors import KeyServesNoTarget, NoKeysError, PrivacyRefused
from llmroute.types import Candidate, ChatRequest, Privacy, Target

if TYPE_CHECKING:
    from llmroute.store import Store


@dataclass(frozen=True)
class Plan:
    candidates: list[Candidate]
    notices: tuple[str, ...] = ()
    """What the caller should know about the plan: a retired model replaced by its successor, ..."""


def plan(
    request: ChatRequest, settings: Settings, next_cursor: Callable[[str], int], store: Store | None = None
) -> Plan:
    """Current targets ordered by provider preference, each expanded over that provider's keys.

    Retired models are replaced by their successors (or dropped) by the one rule of
    :func:`llmroute.catalog.current_targets`, from ``store``'s cached catalogue and the
    built-in table. ``next_cursor(provider)`` supplies the round-robin start for
    providers with several keys when key selection is ``round-robin``.
    """
    from llmroute.catalog import current_targets

    names = [p.name for p in settings.providers]
    spec = request.model or settings.default_model
    pinned, _ = aliases.split_spec(spec.strip(), names)
    resolved = deployed(aliases.resolve(spec, settings.aliases, names), settings, pinned=pinned is not None)
    now = time.time()
    targets, notices = current_targets(resolved, store, now)
    if request.privacy is Privacy.CRITICAL:
        targets = _local_only(targets, spec, settings)
    else:
        targets = tuple(t for t in targets if _enabled(settings, t.provider))
    order = _provider_order(settings, request.provider)
    targets = tuple(sorted(targets, key=lambda t: order.index(t.provider)))
    candidates: list[Candidate] = []
    for target in targets:
        candidates.extend(_expand(target, settings, next_cursor, request.key))
    if not candidates:
        failure = KeyServesNoTarget if request.key is not None and targets else NoKeysError
        raise failure("; ".join([*notices, _no_keys_message(spec, targets, settings, request.key)]))
    # A notice about a provider that has no candidate (no key, not enabled, not local under privacy
    # critical) names a target that is not used: it would only mislead.
    used = {c.provider for c in candidates}
    wanted = tuple(t for t in resolved if t.provider in used)
    return Plan(candidates, current_targets(wanted, store, now)[1] if len(wanted) < len(resolved) else notices)


def deployed(targets: tuple[Target, ...], settings: Settings, *, pinned: bool) -> tuple[Target, ...]:
    """Azure serves a model through a deployment the user named: an alias's Azure target (a model name) becomes the
    deployment the config maps it to, or is left out when there is none; a pinned ``azure:NAME`` is used as given."""
    if pinned:
        return targets
    azure = settings.provider("azure")
    deployments = azure.deployments if azure else {}
    return tuple(
        Target(t.provider, deployments[t.model]) if t.provider == "azure" else t
        for t in targets
        if t.provider != "azure" or t.model in deployments
    )


def _enabled(settings: Settings, name: str) -> bool:
    provider = settings.provider(name)
    return provider is not None and provider.enabled


def _local_only(targets: tuple[Target, ...], spec: str, settings: Settings) -> tuple[Target, ...]:
    local_names = {p.name for p in settings.providers if p.local}
    local = tuple(t for t in targets if t.provider in local_names)
    if local:
        return local
    pinned, model = aliases.split_spec(spec, [p.name for p in settings.providers])
    if pinned:
        raise PrivacyRefused(
            f"privacy is critical and {pinned} is not a local provider; cloud providers were not contacted"
        )
    return tuple(Target(name, model) for name in sorted(local_names))


def _provider_order(settings: Settings, preferred: str | None) -> list[str]:
    order = list(settings.provider_order)
    if preferred in order:
        order.remove(preferred)
        order.insert(0, preferred)
    return order


def _expand(
    target: Target, settings: Settings, next_cursor: Callable[[str], int], key: str | None = None
) -> list[Candidate]:
    slots = [s for s in settings.slots(target.provider) if key is None or s.label == key]
    if settings.key_selection == "round-robin" and len(slots) > 1:
        start = next_cursor(target.provider) % len(slots)
        slots = slots[start:] + slots[:start]
    return [Candidate(target, slot) for slot in slots]


def _no_keys_message(spec: str, targets: tuple[Target, ...], settings: Settings, key: str | None = None) -> str:
    if not targets:
        return f"no enabled provider serves {spec!r}"
    if key is not None:
        served = ", ".join(sorted({t.provider for t in targets}))
        return f"key {key} does not serve {spec!r} (served by {served}): pick a model of its provider or drop --key"
    wanted = []
    for target in targets:
        provider = settings.provider(target.provider)
        if provider and provider.key_variable and provider.key_variable not in wanted:
            wanted.append(provider.key_variable)
    return f"no API key for {spec!r}: set {' or '.join(wanted)}" if wanted else f"no provider for {spec!r}"
