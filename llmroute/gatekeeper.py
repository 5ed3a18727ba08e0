"""The one gate every attempt passes, and the settling afterwards.

:meth:`Gatekeeper.admit` answers "may this candidate be tried now?" from every
scope at once: privacy, the holds kept by the failure table (key, key and model,
quota pool, pool and free class, model, endpoint), the provider's circuit
breaker, rate limits, free-model caps and budgets. It returns either an
admission (a pending ledger row holding the worst-case cost) or one
:class:`Skip` record that says what refused it, until when, and what would help.
Counting and reserving happen atomically in the state file.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from enum import StrEnum
from collections.abc import Sequence
from typing import TYPE_CHECKING

from llmroute import health, windows
from llmroute.providers.options import check_options
from llmroute.config import Settings
from llmroute.errors import Cause, PromptTooLarge
from llmroute.config_limits import SEED_PROVIDERS
from llmroute.limits import Budget, FreeModelLimit, Price, RateLimit, Scope
from llmroute.money import usd
from llmroute.policy import StateScope, is_free_model
from llmroute.store import Address, AttemptRow, Hold, Refusal, Store, Ticket
from llmroute.types import Attempt, Candidate, ChatRequest, Privacy, Usage

if TYPE_CHECKING:
    from llmroute.providers import ClientPool

log = logging.getLogger("llmroute")

ALERT_LEVELS = (90.0,)
"""Utilisation alerts besides the configured ``alert_at_percent``."""

CHARS_PER_TOKEN = 5
"""Characters per token of the size check's estimate: deliberately more than text has, so the estimate stays
below the real count and a prompt that fits is never refused (see :func:`prompt_tokens`)."""

RESERVE_CHARS_PER_TOKEN = 3
"""Characters per token of a budget's worst case: fewer than text has, so the reservation stays above the cost."""

ALWAYS_FITS = 1_024
"""Tokens of a request no listed context is smaller than: a request that needs no more is not looked up, so short
prompts (most of them) cost the gate no catalogue read."""


class SkipKind(StrEnum):
    HOLD = "hold"
    """A state the failure table left: cooling, disabled, or the model not offered there."""
    BREAKER = "breaker"
    RATE_LIMIT = "rate_limit"
    FREE_CAP = "free_cap"
    BUDGET = "budget"
    PRIVACY = "privacy"
    REFUSED = "refused"
    """The provider refused this request itself (its content filter): its other keys would too."""
    UNSUPPORTED = "unsupported"
    """The provider's wire cannot carry an option the request sets (a seed on Anthropic): never sent without it."""
    TOO_LARGE = "too_large"
    """The request needs more tokens than the model's context (from the cached catalogue): never sent there."""


class Reach(StrEnum):
    """What else a skip rules out for the rest of the request, without asking the gate again."""

    CANDIDATE = "candidate"
    TARGET = "target"
    """Every key of the candidate's (provider, model)."""
    PROVIDER = "provider"


@dataclass(frozen=True)
class Size:
    """What a size skip compared: the request's tokens, by estimate, and the model's context."""

    prompt: int
    """The prompt's tokens (:func:`prompt_tokens`)."""
    answer: int
    """Tokens asked for the answer (``max_tokens``) where the context counts them, else 0."""
    context: int

    @property
    def needed(self) -> int:
        return self.prompt + self.answer

    def words(self) -> str:
        """``the prompt is about 4,190,000 tokens`` (and the answer's room, when it counts)."""
        room = f" and {self.answer:,} are asked for the answer" if self.answer else ""
        return f"the prompt is about {about(self.prompt)} tokens{room}"


@dataclass(frozen=True)
class Skip:
    """Why one candidate is not tried now: the one record the router keeps and words its errors from."""

    candidate: Candidate
    kind: SkipKind
    scope: str
    """What is held, in words: ``key OPENROUTER_API_KEY_1``, ``free-model quota of key OPENROUTER_API_KEY_1``, ..."""
    reason: str
    """What holds it, worded to follow the scope: ``is cooling down after ...``, ``at 10 calls per minute``."""
    until: float | None
    """When it frees by itself (``inf``: not by itself; None: unknown)."""
    hint: str = ""
    """What would actually help, when waiting is not all."""
    reach: Reach = Reach.CANDIDATE
    limit: str = ""
    """The budget that refused (``daily budget $5.00``), for a budget skip."""
    detail: str = ""
    """More on the refusal, worded to follow the budget: ``has $0.01 left, less than ...``."""
    hold_scope: str = ""
    """For a hold: the scope it is kept at (a :class:`~llmroute.policy.StateScope` value)."""
    size: Size | None = None
    """For a size skip: what it compared."""

    @property
    def frees(self) -> float | None:
        """The time it frees by itself, if it does."""
        return self.until if self.until is not None and self.until != math.inf else None

    def words(self) -> str:
        frees = f"; frees at {windows.utc_clock(self.frees)}" if self.frees else ""
        return f"{self.scope} {self.reason}{frees}"


@dataclass(frozen=True)
class Admitted:
    attempt_id: int
    ticket: Ticket


class Gatekeeper:
    def __init__(self, settings: Settings, store: Store, clients: ClientPool | None = None) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.store = store
        self._clients = clients
        self._catalogues_asked: set[str] = set()

    async def admit(self, candidate: Candidate, request: ChatRequest, request_id: str) -> Admitted | Skip:
        """Admit the candidate (a pending attempt is written) or say why not: privacy, holds, breaker, limits."""
        now = time.time()
        refused = self.check(candidate, request, now)
        if refused is not None:
            return refused
        until = self.store.breaker_acquire(candidate.provider, now, max(self.limits.breaker.cool_off, 120.0))
        if until is not None:
            hint = f"`llmroute reset-limits --provider {candidate.provider}` closes it"
            return Skip(
                candidate,
                SkipKind.BREAKER,
                f"provider {candidate.provider}",
                "has its circuit breaker open",
                until,
                hint,
                Reach.PROVIDER,
            )
        # Only a budget needs the worst case priced: one look-up, and one catalogue fetch when that finds nothing.
        budgeted = self._budgeted(candidate)
        price = self.price(candidate) if budgeted else None
        if budgeted and price is None:
            await self._fetch_prices(candidate.provider)
            price = self.price(candidate)
        ticket = self.ticket(candidate, request, request_id, price=price, budgeted=budgeted)
        result = self.store.admit(ticket, now)
        if isinstance(result, Refusal):
            return self._refusal(candidate, ticket, result, priced=price is not None)
        return Admitted(result, ticket)

    def check(self, candidate: Candidate, request: ChatRequest, now: float) -> Skip | None:
        """The checks that write nothing: privacy, the options the provider's wire carries, the request's size
        against the model's context, and the holds of every scope (one query)."""
        if request.privacy is Privacy.CRITICAL and not self._local(candidate.provider):
            return Skip(
                candidate,
                SkipKind.PRIVACY,
                f"provider {candidate.provider}",
                "is not a local provider",
                math.inf,
                "privacy critical keeps the prompt on local providers",
                Reach.PROVIDER,
            )
        provider = self.settings.provider(candidate.provider)
        unsupported = check_options(provider.protocol, request) if provider is not None else None
        if unsupported is not None:
            return Skip(
                candidate,
                SkipKind.UNSUPPORTED,
                f"provider {candidate.provider}",
                f"cannot carry the request ({unsupported})",
                math.inf,
                "drop the option, or pin a provider whose API takes it",
                Reach.PROVIDER,
            )
        too_large = self.too_large(candidate, request)
        if too_large is not None:
            return too_large
        holds = health.holds_on(self.store, candidate.slot, candidate.model, now)
        if not holds:
            return None
        hold = max(holds, key=lambda h: h.blocked_until(now) or 0.0)
        return self.held(candidate, hold, now)

    def too_large(self, candidate: Candidate, request: ChatRequest) -> Skip | None:
        """A size skip when the cached catalogue lists a context smaller than the request needs; None when it fits
        or the context is unknown (never fetched, or not listed): then the provider judges, and a context-length
        error it answers moves on all the same (:attr:`~llmroute.errors.Cause.CONTEXT_LENGTH`)."""
        prompt = prompt_tokens(request)
        if prompt + (request.max_tokens or 0) <= ALWAYS_FITS:
            return None
        from llmroute.catalog import INPUT_LIMITS

        answer = (request.max_tokens or 0) if candidate.provider not in INPUT_LIMITS else 0
        context = self.context(candidate)
        if context is None or prompt + answer <= context:
            return None
        size = Size(prompt, answer, context)
        return Skip(
            candidate,
            SkipKind.TOO_LARGE,
            str(candidate.target),
            f"takes {context:,} tokens; {size.words()}",
            math.inf,
            "shorten the prompt, or ask for a model with a larger context (`llmroute models --sort context`)",
            Reach.TARGET,
            size=size,
        )

    def context(self, candidate: Candidate) -> int | None:
        """The context length the cached catalogue lists for the model the candidate runs (an Azure deployment's
        model), if it lists one."""
        from llmroute.catalog import context_of

        return context_of(self.store, candidate.provider, self._model_listed(candidate))

    def held(self, candidate: Candidate, hold: Hold, now: float) -> Skip:
        """The skip record of a candidate that ``hold`` keeps from being tried."""
        scope = _hold_scope(hold, candidate)
        why = " ".join((hold.reason or hold.error_kind or "").split())
        provider_wide = hold.scope in (StateScope.ENDPOINT, StateScope.MODEL)
        reset = f"llmroute reset-limits --{'provider' if provider_wide else 'key'} " + (
            candidate.provider if provider_wide else candidate.key_label
        )
        if hold.disabled:
            reason, hint = f"is disabled ({why})", f"fix the key, then `{reset}`"
        elif hold.until_refresh:
            reason, hint = f"is not available ({why})", f"`{reset}` or `llmroute models --refresh` tries it again"
        else:
            reason = f"is cooling down after {hold.error_kind or 'a failure'} ({why})"
            hint = f"`{reset}` lifts it now"
        reach = Reach.PROVIDER if provider_wide else Reach.CANDIDATE
        return Skip(
            candidate, SkipKind.HOLD, scope, reason, hold.blocked_until(now), hint, reach, hold_scope=hold.scope
        )

    def ticket(
        self, candidate: Candidate, request: ChatRequest, request_id: str, *, price: Price | None, budgeted: bool
    ) -> Ticket:
        """Every limit and budget that applies to the attempt; the worst case it reserves when a budget does."""
        slot = candidate.slot
        key_scope = Scope.of_key(slot)
        pool_scope = self.pool_scope(candidate)
        provider_scope = Scope("provider", candidate.provider, candidate.provider)
        rate_limits: list[tuple[Scope, RateLimit | None]] = [
            (key_scope, self.limits.key_limits.get(candidate.key_label)),
            (pool_scope, self.limits.pool_limits.get(slot.pool_name) if slot.pool else None),
            (provider_scope, self.limits.provider_limits.get(candidate.provider)),
        ]
        budgets: list[tuple[Scope, Budget | None]] = [
            (key_scope, self.limits.key_budgets.get(candidate.key_label)),
            (provider_scope, self.limits.provider_budgets.get(candidate.provider)),
            (Scope("total", "", "total"), self.limits.total_budget),
        ]
        free_model = is_free_model(candidate.model)
        free = self.free_limit(candidate) if free_model else None
        return Ticket(
            request_id=request_id,
            provider=candidate.provider,
            model=candidate.model,
            key_label=candidate.key_label,
            key_fingerprint=slot.fingerprint,
            free_model=free_model,
            rate_limits=tuple((s, limit) for s, limit in rate_limits if limit),
            free_limit=(pool_scope, free) if free else None,
            budgets=tuple((s, b) for s, b in budgets if b),
            reserve_micros=self.worst_case_micros(request, price) if budgeted else 0,
            # No live request outlasts its deadline, so its reservation need not either.
            reservation_timeout=min(self.limits.reservation_timeout, (request.timeout or self.settings.timeout) + 5),
        )

    def pool_scope(self, candidate: Candidate) -> Scope:
        slot = candidate.slot
        return Scope("pool", slot.pool_id, slot.pool_name, self.settings.pool_members(slot))

    def free_limit(self, candidate: Candidate) -> FreeModelLimit | None:
        """The provider's free-model cap for this key's pool: a daily cap a key reported replaces the default."""
        limit = self.limits.free_limits.get(candidate.provider)
        if limit is None or not limit.reported_wins:
            return limit
        reported = self.store.free_limits(self.settings.pool_members(candidate.slot))
        if not reported:
            return limit
        return FreeModelLimit(limit.per_minute, max(reported.values()), reported_wins=True)

    def price(self, candidate: Candidate) -> Price | None:
        """A configured price wins (the user knows their contract); else the cached catalogue's; a local daemon
        costs nothing."""
        configured = self.limits.price(candidate.provider, candidate.model)
        if configured is not None:
            return configured
        if self._local(candidate.provider):
            return Price(0.0, 0.0)
        from llmroute.catalog import estimated_price, price_of

        cached = price_of(self.store, candidate.provider, candidate.model)
        if cached is None or None in cached:
            cached = estimated_price(self.store, candidate.provider, self._model_listed(candidate))
        return Price(*cached) if cached is not None and None not in cached else None  # type: ignore[arg-type]

    def _model_listed(self, candidate: Candidate) -> str:
        """The model a candidate runs, as catalogues and price lists name it: an Azure deployment runs the model it
        is mapped from."""
        provider = self.settings.provider(candidate.provider)
        deployments = provider.deployments if provider else {}
        return next((model for model, name in deployments.items() if name == candidate.model), candidate.model)

    def worst_case_micros(self, request: ChatRequest, price: Price | None) -> int:
        """Prompt (:data:`RESERVE_CHARS_PER_TOKEN`, rounded up, and 4 a message) plus every token the answer may
        have, at the model's price, or at ``unpriced_price`` when no price is known: a budget never takes an
        unpriced call for free."""
        price = price or self.limits.unpriced_price
        prompt = math.ceil(prompt_chars(request) / RESERVE_CHARS_PER_TOKEN) + 4 * len(request.messages)
        output_tokens = request.max_tokens or self.limits.reserve_tokens
        return math.ceil(prompt * price.prompt + output_tokens * price.completion)

    def costed(self, candidate: Candidate, usage: Usage) -> Usage:
        """The provider's own cost, else tokens x price (marked as an estimate)."""
        if usage.cost_micros is not None:
            return usage
        price = self.price(candidate)
        return usage.priced(price.prompt, price.completion) if price else usage

    def settle(
        self, admitted: Admitted, row: AttemptRow, *, count_for_breaker: bool, success: Address | None = None
    ) -> None:
        """Record what happened, feed the provider's breaker and end the failure streak at ``success`` (one
        transaction), then warn once per period at budget thresholds."""
        breaker = self.limits.breaker if count_for_breaker else None
        self.store.settle(admitted.attempt_id, row, breaker=breaker, success=success)
        if row.cost_micros:
            self._alerts(admitted.ticket, row.ts)

    def _budgeted(self, candidate: Candidate) -> bool:
        limits = self.limits
        return bool(
            limits.total_budget
            or limits.provider_budgets.get(candidate.provider)
            or limits.key_budgets.get(candidate.key_label)
        )

    def _local(self, provider: str) -> bool:
        settings = self.settings.provider(provider)
        return bool(settings and settings.local)

    async def _fetch_prices(self, provider: str) -> None:
        """One catalogue fetch per provider and process (cached as usual), for a model a budget must price: the
        provider's own, or that of the provider whose public list prices its models."""
        from llmroute.catalog import PRICED_BY, load_catalog

        provider = PRICED_BY[provider][0] if provider in PRICED_BY else provider
        if provider in self._catalogues_asked:
            return
        self._catalogues_asked.add(provider)
        result = await load_catalog(
            self.settings, self.store, self._clients, now=time.time(), providers={provider}, timeout=15.0, public=True
        )
        if provider in result.errors:
            log.warning("could not fetch the %s catalogue to price a call: %s", provider, result.errors[provider])

    def _refusal(self, candidate: Candidate, ticket: Ticket, refusal: Refusal, *, priced: bool) -> Skip:
        scope = refusal.scope
        if refusal.budget:
            need = usd(ticket.reserve_micros / 1_000_000)
            unpriced = "" if priced else f"; {candidate.target} has no known price, so {need} is held for it"
            setting = _budget_setting(scope, refusal.reason)
            hint = f"raise {setting}"
            if not priced:
                hint += f", or give its price in [providers.{candidate.provider}.prices]"
            reason = f"at {refusal.reason} (a call may cost up to {need}{unpriced})"
            left = refusal.left_micros or 0
            detail = "is spent"
            if left > 0:
                unknown = "" if priced else f" ({candidate.target} has no known price)"
                detail = f"has {usd(left / 1_000_000)} left, less than the {need} a call may cost{unknown}"
            return Skip(
                candidate, SkipKind.BUDGET, str(scope), reason, refusal.until, hint, limit=refusal.reason, detail=detail
            )
        if refusal.free:
            hint = "a paid variant of the model is not capped"
            scope = scope if candidate.slot.pool else Scope.of_key(candidate.slot)
            return Skip(
                candidate,
                SkipKind.FREE_CAP,
                f"free-model quota of {scope}",
                f"at {refusal.reason}",
                refusal.until,
                hint,
            )
        reach = Reach.PROVIDER if scope.kind == "provider" else Reach.CANDIDATE
        return Skip(
            candidate,
            SkipKind.RATE_LIMIT,
            str(scope),
            f"at {refusal.reason}",
            refusal.until,
            "wait, or raise the limit in the config file",
            reach,
        )

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
                        "%s %s budget at %.0f%% (%s of %s); resets %s",
                        scope,
                        name,
                        percent,
                        usd(used / 1_000_000),
                        usd(limit),
                        windows.utc_clock(period.end),
                    )


def prompt_chars(request: ChatRequest) -> int:
    """Characters of every message, the system prompt's included: a length per message, never a pass over the
    text (a Python string knows its length), so a 20 MB prompt costs what a short one does."""
    return sum(len(m.content) for m in request.messages)


def prompt_tokens(request: ChatRequest) -> int:
    """A floor under the prompt's tokens, without a tokenizer: its characters / :data:`CHARS_PER_TOKEN`.

    Tokenizers give English prose about 4 to 4.7 characters a token (cl100k, o200k, Llama 3), code and JSON 2.5
    to 4, other scripts and base64 fewer still: 5 stays under nearly all text, so a prompt that fits is not
    refused; what it misses (a prompt within a few percent of the context) the provider's own context-length
    error catches, and the router moves on all the same. Characters rather than UTF-8 bytes: counting bytes would
    encode (copy) the whole prompt, and non-Latin text, which has more bytes a character, also has more tokens a
    character. The others weigh this differently: LiteLLM's pre-call checks count with a real tokenizer
    (tiktoken, or the model's own) against ``max_input_tokens``, an O(n) pass and a dependency; aichat estimates
    per word or character against ``max_input_tokens``; ``llm`` checks nothing and lets the provider refuse.
    """
    return math.ceil(prompt_chars(request) / CHARS_PER_TOKEN)


def about(tokens: int) -> str:
    """A count rounded to three significant figures, with separators (``4,190,000``): an estimate, shown as one."""
    digits = len(str(tokens))
    return f"{round(tokens, -(digits - 3)) if digits > 3 else tokens:,}"


def prompt_too_large(skips: Sequence[Skip], attempts: Sequence[Attempt]) -> PromptTooLarge | None:
    """The failure of a request no candidate could take for its size, else None.

    That is: some candidate was skipped for size, and every other skip and every attempt was about the size too
    (a provider's context-length error, and the refusal the router recorded for it). A candidate held by a limit
    or a failure that was not about the size makes it another failure: waiting or another key may still help.
    """
    sized = [s.size for s in skips if s.size is not None]
    if not sized or any(a.cause is not Cause.CONTEXT_LENGTH for a in attempts):
        return None
    if any(s.kind not in (SkipKind.TOO_LARGE, SkipKind.REFUSED) for s in skips):
        return None
    largest = max(skips, key=lambda s: s.size.context if s.size else 0)
    assert largest.size is not None
    tried = f"; {len(attempts)} tried said so too" if attempts else ""
    return PromptTooLarge(
        f"{largest.size.words()}, more than any candidate model takes (the largest, {largest.candidate.target}, "
        f"takes {largest.size.context:,}){tried}; {largest.hint}",
        attempts,
        tokens=largest.size.needed,
        context=largest.size.context,
    )


def _hold_scope(hold: Hold, candidate: Candidate) -> str:
    """A hold's scope in words."""
    who = f"pool {hold.label}" if candidate.slot.pool and hold.scope.startswith("pool") else f"key {hold.label}"
    match hold.scope:
        case StateScope.KEY_MODEL | StateScope.POOL_MODEL:
            return f"{candidate.target} on {who}"
        case StateScope.POOL_CLASS:
            return f"{hold.model}-model quota of {who}"
        case StateScope.MODEL:
            return str(candidate.target)
        case StateScope.ENDPOINT:
            provider = candidate.provider
            return f"{provider} at {candidate.slot.base_url}" if candidate.slot.base_url else f"provider {provider}"
    return who


def _budget_setting(scope: Scope, reason: str) -> str:
    """Where the budget that refused is set."""
    field = "daily" if reason.startswith("daily") else "monthly"
    if scope.kind == "total":
        return f"[budgets] {field} (or TOTAL_{field.upper()}_BUDGET)"
    if scope.kind == "provider":
        variable = f" (or {scope.name.upper()}_{field.upper()}_BUDGET)" if scope.name in SEED_PROVIDERS else ""
        return f"[providers.{scope.name}.budget] {field}{variable}"
    return f"[keys.{scope.label}.budget] {field}"
