"""The gate every attempt passes: circuit breaker, rate limits, budgets; and the settling afterwards.

The router asks :meth:`Gatekeeper.admit` before each HTTP attempt. What applies
to a candidate (its key's and provider's limits, the free-model cap, the key,
provider and total budgets, the worst-case cost to reserve) is decided here; the
counting and reserving happen atomically in the state file.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from llmroute import health, windows
from llmroute.config import Settings
from llmroute.limits import Budget, Price, Scope, usd
from llmroute.store import AttemptRow, Refusal, Store, Ticket
from llmroute.types import Candidate, ChatRequest, Usage

log = logging.getLogger("llmroute")

ALERT_LEVELS = (90.0,)
"""Utilisation alerts besides the configured ``alert_at_percent``."""


@dataclass(frozen=True)
class Admitted:
    attempt_id: int
    ticket: Ticket


class Gatekeeper:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.store = store

    def admit(self, candidate: Candidate, request: ChatRequest, request_id: str) -> Admitted | Refusal:
        now = time.time()
        trial_timeout = max(self.limits.breaker.cool_off, 120.0)
        until = self.store.breaker_acquire(candidate.provider, now, trial_timeout)
        if until is not None:
            scope = Scope("provider", candidate.provider, candidate.provider)
            return Refusal(scope, "circuit breaker open", until)
        ticket = self.ticket(candidate, request, request_id)
        result = self.store.admit(ticket, now)
        return result if isinstance(result, Refusal) else Admitted(result, ticket)

    def ticket(self, candidate: Candidate, request: ChatRequest, request_id: str) -> Ticket:
        key_scope = self.key_scope(candidate)
        provider_scope = Scope("provider", candidate.provider, candidate.provider)
        rate_limits = [
            (key_scope, self.limits.key_limits.get(candidate.key_label)),
            (provider_scope, self.limits.provider_limits.get(candidate.provider)),
        ]
        budgets: list[tuple[Scope, Budget | None]] = [
            (key_scope, self.limits.key_budgets.get(candidate.key_label)),
            (provider_scope, self.limits.provider_budgets.get(candidate.provider)),
            (Scope("total", "", "total"), self.limits.total_budget),
        ]
        free = self.limits.free_limits.get(candidate.provider)
        return Ticket(
            request_id=request_id,
            provider=candidate.provider,
            model=candidate.model,
            key_label=candidate.key_label,
            key_fingerprint=candidate.key.fingerprint if candidate.key else None,
            free_model=candidate.model.endswith(":free"),
            rate_limits=tuple((s, limit) for s, limit in rate_limits if limit),
            free_limit=(provider_scope, free) if free else None,
            budgets=tuple((s, b) for s, b in budgets if b),
            reserve_micros=self.worst_case_micros(candidate, request),
            # No live request outlasts its deadline, so its reservation need not either.
            reservation_timeout=min(self.limits.reservation_timeout, (request.timeout or self.settings.timeout) + 5),
        )

    @staticmethod
    def key_scope(candidate: Candidate) -> Scope:
        return Scope("key", health.key_id(candidate.provider, candidate.key), candidate.key_label)

    def price(self, candidate: Candidate) -> Price | None:
        """A configured price wins (the user knows their contract); else the cached catalogue's."""
        configured = self.limits.price(candidate.provider, candidate.model)
        if configured is not None:
            return configured
        from llmroute.catalog import price_of

        cached = price_of(self.store, candidate.provider, candidate.model)
        if cached is None or None in cached:
            return None
        return Price(*cached)  # type: ignore[arg-type]

    def worst_case_micros(self, candidate: Candidate, request: ChatRequest) -> int:
        """Prompt (about 3 characters a token, rounded up) plus every token the answer may have."""
        price = self.price(candidate)
        if price is None:
            return 0
        prompt_tokens = math.ceil(sum(len(m.content) for m in request.messages) / 3) + 4 * len(request.messages)
        output_tokens = request.max_tokens or self.limits.reserve_tokens
        return math.ceil(prompt_tokens * price.prompt + output_tokens * price.completion)

    def costed(self, candidate: Candidate, usage: Usage) -> Usage:
        """The provider's own cost, else tokens x price (marked as an estimate)."""
        if usage.cost_micros is not None:
            return usage
        price = self.price(candidate)
        return usage.priced(price.prompt, price.completion) if price else usage

    def settle(self, admitted: Admitted, row: AttemptRow, *, breaker_kind: str | None, count_for_breaker: bool) -> None:
        """Record what happened, feed the provider's breaker, and warn once per period at budget thresholds."""
        self.store.settle(admitted.attempt_id, row)
        now = time.time()
        if count_for_breaker:
            self.store.breaker_record(
                row.provider, now, error_kind=breaker_kind, reason=row.message, settings=self.limits.breaker
            )
        if row.cost_micros:
            self._alerts(admitted.ticket, now)

    def _alerts(self, ticket: Ticket, now: float) -> None:
        levels = sorted({self.limits.alert_at_percent, *ALERT_LEVELS})
        for scope, budget in ticket.budgets:
            for kind, limit in (("day", budget.daily), ("month", budget.monthly)):
                if not limit:
                    continue
                period = windows.period(kind, now)
                used = self.store.spend(
                    scope, period.start, period.end, now=now, reservation_timeout=self.limits.reservation_timeout
                ).settled_micros
                percent = 100 * used / (limit * 1_000_000)
                reached = [level for level in levels if percent >= level]
                if reached and self.store.note_budget_alert(str(scope), period.key, int(reached[-1]), now):
                    name = "daily" if kind == "day" else "monthly"
                    log.warning(
                        "%s %s budget at %.0f%% (%s of %s); resets %s UTC",
                        scope,
                        name,
                        percent,
                        usd(used / 1_000_000),
                        usd(limit),
                        time.strftime("%Y-%m-%d %H:%M", time.gmtime(period.end)),
                    )
