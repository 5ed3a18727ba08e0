"""The gateway's ``GET /health/providers`` as data: per provider, its breaker and its keys' states, from
``llmroute status``'s own judgement (:func:`~llmroute.reports.status.build_status`), so the two never disagree.

A provider is *available* when its circuit breaker lets requests through (closed, half-open, or open with its
cool-off over) and at least one of its keys is ready. The whole is ``ok`` when every provider with a key is
available, ``degraded`` when some are, and ``unavailable`` when none is (or no key is configured).
Keys are named by label and mask only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from llmroute.config import Settings
from llmroute.reports.common import known_keys, provider_order
from llmroute.reports.status import STATES, KeyStatus, build_status
from llmroute.store import BreakerState, Store

OK = "ok"
DEGRADED = "degraded"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ProviderHealth:
    name: str
    breaker: BreakerState
    breaker_blocks: bool
    """The breaker is open and its cool-off is not over: no request goes to the provider."""
    keys: tuple[KeyStatus, ...]

    @property
    def counts(self) -> dict[str, int]:
        """Keys per state (every state of :data:`~llmroute.reports.status.STATES`, zeros included)."""
        return {state: sum(k.state == state for k in self.keys) for state in STATES}

    @property
    def available(self) -> bool:
        return not self.breaker_blocks and any(k.state == "ready" for k in self.keys)


@dataclass(frozen=True)
class Health:
    now: float
    providers: tuple[ProviderHealth, ...]

    @property
    def status(self) -> str:
        up = sum(p.available for p in self.providers)
        if up and up == len(self.providers):
            return OK
        return DEGRADED if up else UNAVAILABLE


def build_health(settings: Settings, store: Store, now: float) -> Health:
    """Every enabled provider with a key (a keyless local daemon is one slot), in the settings' order."""
    status = build_status(settings, store, now)
    enabled = {slot.provider for slot in known_keys(settings)}
    breakers = {p.name: p.breaker for p in status.providers}
    providers = []
    for name in provider_order(settings, enabled):
        breaker = breakers.get(name, BreakerState(name))
        blocks = breaker.state == "open" and (breaker.open_until or 0.0) > now
        keys = tuple(k for k in status.keys if k.key.provider == name)
        providers.append(ProviderHealth(name, breaker, blocks, keys))
    return Health(now, tuple(providers))


def _iso(epoch: float | None) -> str | None:
    if epoch is None or epoch == float("inf"):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def document(health: Health) -> dict[str, Any]:
    """The JSON of ``GET /health/providers``; times are UTC ISO 8601 (None: not by itself)."""
    return {
        "status": health.status,
        "now": _iso(health.now),
        "providers": [
            {
                "name": p.name,
                "available": p.available,
                "breaker": {
                    "state": p.breaker.state,
                    "consecutive_failures": p.breaker.consecutive_failures,
                    "open_until": _iso(p.breaker.open_until),
                    "reason": p.breaker.reason,
                },
                "counts": {"total": len(p.keys), **p.counts},
                "keys": [
                    {
                        "label": k.key.label,
                        "mask": k.key.mask(),
                        "state": k.state,
                        "until": _iso(k.until),
                        "reason": k.reason,
                    }
                    for k in p.keys
                ],
            }
            for p in health.providers
        ],
    }
