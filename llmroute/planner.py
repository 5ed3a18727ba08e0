"""Planning: which (provider, key, model id) candidates to try for a request, in which order."""

from __future__ import annotations

from collections.abc import Callable

from llmroute import aliases
from llmroute.config import Settings
from llmroute.errors import NoKeysError, PrivacyRefused
from llmroute.types import Candidate, ChatRequest, Privacy, Target


def plan(request: ChatRequest, settings: Settings, next_cursor: Callable[[str], int]) -> list[Candidate]:
    """Targets ordered by provider preference, each expanded over that provider's keys.

    ``next_cursor(provider)`` supplies the round-robin start for providers with
    several keys when key selection is ``round-robin``.
    """
    names = [p.name for p in settings.providers]
    spec = request.model or settings.default_model
    targets = aliases.resolve(spec, settings.aliases, names)
    if request.privacy is Privacy.CRITICAL:
        targets = _local_only(targets, spec, settings)
    else:
        targets = tuple(t for t in targets if _enabled(settings, t.provider))
    order = _provider_order(settings, request.provider)
    targets = tuple(sorted(targets, key=lambda t: order.index(t.provider)))
    candidates: list[Candidate] = []
    for target in targets:
        candidates.extend(_expand(target, settings, next_cursor))
    if not candidates:
        raise NoKeysError(_no_keys_message(spec, targets, settings))
    return candidates


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


def _expand(target: Target, settings: Settings, next_cursor: Callable[[str], int]) -> list[Candidate]:
    provider = settings.provider(target.provider)
    if provider is None:
        return []
    if provider.key_variable is None:
        return [Candidate(target, None)]
    keys = list(provider.keys)
    if settings.key_selection == "round-robin" and len(keys) > 1:
        start = next_cursor(provider.name) % len(keys)
        keys = keys[start:] + keys[:start]
    return [Candidate(target, key) for key in keys]


def _no_keys_message(spec: str, targets: tuple[Target, ...], settings: Settings) -> str:
    if not targets:
        return f"no enabled provider serves {spec!r}"
    wanted = []
    for target in targets:
        provider = settings.provider(target.provider)
        if provider and provider.key_variable and provider.key_variable not in wanted:
            wanted.append(provider.key_variable)
    return f"no API key for {spec!r}: set {' or '.join(wanted)}" if wanted else f"no provider for {spec!r}"
