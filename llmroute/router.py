"""The router: plan candidates, run attempts in a cascade, apply the failure table, record everything.

The router holds no wire format (adapters do) and no SQL (the store does).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from llmroute import health, planner, windows
from llmroute.config import Settings
from llmroute.errors import (
    AllCandidatesFailed,
    Cause,
    DeadlineExceeded,
    ErrorKind,
    ModelNotFound,
    NoCandidateAvailable,
    PrivacyRefused,
    ProviderError,
    RequestRejected,
    StateError,
    StreamBroken,
)
from llmroute.policy import RETRY_BACKOFF, STALL_TIMEOUT, KeyEffect, RequestEffect, StateScope, action_for
from llmroute.providers import ClientPool, ProviderAdapter, build_adapter
from llmroute.gatekeeper import Admitted, Gatekeeper, Reach, Skip, SkipKind, prompt_too_large
from llmroute.keys import redact
from llmroute.store import AttemptRow, Store
from llmroute.types import (
    Attempt,
    Candidate,
    ChatRequest,
    ChatResult,
    Outcome,
    Privacy,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    Usage,
)

log = logging.getLogger("llmroute")

_LIMIT_KINDS = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.QUOTA})


@dataclass
class _Run:
    """What one request has seen so far."""

    request_id: str
    deadline: float
    keep_text: bool = True
    buffered: bool = False
    """The caller shows nothing before the result: no text is yielded, so any failure may fail over."""
    attempts: list[Attempt] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    """Every candidate not tried (or not to be tried again) and why: the one record errors are worded from."""
    deadline_hit: bool = False
    notices: tuple[str, ...] = ()
    settle_after_result: bool = False
    """The answering attempt is settled once the caller is done with the result (it resumes or closes the stream)."""

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def ruled_out(self, candidate: Candidate) -> bool:
        """A skip that reaches the candidate's whole provider, or its whole target, rules it out without asking the
        gate."""
        return any(
            (s.reach is Reach.PROVIDER and s.candidate.provider == candidate.provider)
            or (s.reach is Reach.TARGET and s.candidate.target == candidate.target)
            for s in self.skips
        )


@dataclass
class _Progress:
    """One attempt in flight."""

    started: float = field(default_factory=time.monotonic)
    ttft_ms: float | None = None
    parts: list[str] = field(default_factory=list)
    """The text so far, kept only when the caller wants it in the result."""
    reasoning: list[str] = field(default_factory=list)
    """The reasoning so far, kept like ``parts``."""
    emitted: bool = False
    """Whether any text reached the caller (after which no failover is possible)."""
    end: StreamEnd | None = None
    admitted: Admitted | None = None

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000


class Router:
    """Answers chat requests through every configured provider and key as one.

    Use as an async context manager (it owns the HTTP connections)::

        async with Router(settings, store) as router:
            result = await router.complete(ChatRequest.from_prompt("hi", model="kimi-k2.5"))
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        user_agent: str = "llmroute",
        http_backend: str = "httpcore",
    ) -> None:
        """``http_backend``: what carries the bytes under httpx, ``"httpcore"`` (httpx's own pool) or ``"aiohttp"``:
        ~6x the requests per second under concurrency (the gateway's choice), ~110 ms more to import."""
        self.settings = settings
        self.store = store
        self._clients = ClientPool(user_agent, backend=http_backend)
        self._adapters: dict[str, ProviderAdapter] = {}
        self._gate = Gatekeeper(settings, store, self._clients)
        self._secrets = tuple(s for k in settings.keys for s in k.secrets)

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release every connection, then trim the ledger if a day has passed since the last trim (a few
        milliseconds of batched deletes at most: see ``store.retention``)."""
        await self._clients.aclose()
        self.trim_ledger()

    def trim_ledger(self) -> None:
        """The daily trim of raw attempts older than ``keep_days``; a long-lived process calls it now and then.

        A failure never fails the caller: the trim is housekeeping, and the next run tries again.
        """
        try:
            self.store.trim_if_due(now=time.time(), keep_days=self.settings.keep_days)
        except StateError as exc:
            log.warning("could not trim the ledger: %s", exc)

    def plan(self, request: ChatRequest) -> planner.Plan:
        return planner.plan(request, self.settings, self.store.next_cursor, self.store)

    async def complete(self, request: ChatRequest) -> ChatResult:
        result = None
        async with aclosing(self.stream(request)) as items:
            async for item in items:
                if isinstance(item, ChatResult):
                    result = item
        assert result is not None
        return result

    async def stream(
        self, request: ChatRequest, *, keep_text: bool = True, buffered: bool = False, settle_after_result: bool = False
    ) -> AsyncIterator[TextDelta | ReasoningDelta | ChatResult]:
        """Yield text (and reasoning) as it arrives, then one :class:`ChatResult`; raise a ``RouteError`` on failure.

        With ``keep_text=False`` the result's ``text`` is empty: a caller that has
        already written every piece need not hold a long answer in memory twice.
        With ``buffered=True`` nothing but the result is yielded: the caller shows
        nothing before it, so a stream that breaks midway still fails over.
        With ``settle_after_result=True`` the answering attempt's ledger row is settled
        when the caller resumes or closes the stream after the result, not before it
        is yielded: a gateway sends the answer first, and its client does not wait
        for the write.
        """
        timeout = request.timeout or self.settings.timeout
        run = _Run(
            request_id=uuid.uuid4().hex[:16],
            deadline=time.monotonic() + timeout,
            keep_text=keep_text or buffered,
            buffered=buffered,
            settle_after_result=settle_after_result,
        )
        plan = self.plan(request)
        run.notices = plan.notices
        for notice in plan.notices:
            log.warning("%s", notice)
        for candidate in plan.candidates:
            if run.ruled_out(candidate):
                continue
            if len(run.attempts) >= self.settings.max_attempts:
                log.info("attempt cap of %d reached", self.settings.max_attempts)
                break
            self.trying(run.request_id, candidate, run.attempts)
            async with aclosing(self._try(candidate, request, run)) as items:
                async for item in items:
                    yield item
                    if isinstance(item, ChatResult):
                        return
            if run.deadline_hit:
                break
        raise self._failure(request, run)

    def trying(self, request_id: str, candidate: Candidate, finished: Sequence[Attempt]) -> None:
        """Called as each candidate is about to be tried, with the attempts ended so far (a live list).

        Does nothing here; a caller that must know the answering provider and key before the result (a
        gateway sending a streamed answer's HTTP head with its first token) overrides it.
        """

    @staticmethod
    def _skip(skip: Skip, run: _Run) -> None:
        run.skips.append(skip)
        log.info(
            "skip %s %s (%s): %s", skip.candidate.provider, skip.candidate.key_label, skip.candidate.model, skip.words()
        )

    async def _try(
        self, candidate: Candidate, request: ChatRequest, run: _Run
    ) -> AsyncIterator[TextDelta | ReasoningDelta | ChatResult]:
        """One target: an attempt, and at most one retry of the same target."""
        for retry in (False, True):
            if run.remaining() <= 0:
                run.deadline_hit = True
                return
            admitted = await self._gate.admit(candidate, request, run.request_id)
            if isinstance(admitted, Skip):
                self._skip(admitted, run)
                return
            log.info("try %s %s %s (%s)", candidate.provider, candidate.key_label, candidate.key_mask, candidate.model)
            progress = _Progress(admitted=admitted)
            error: ProviderError | None = None
            try:
                async with aclosing(self._attempt(candidate, request, run, progress)) as deltas:
                    async for delta in deltas:
                        yield delta
            except ProviderError as exc:
                error = health.refine(self.store, candidate.slot, candidate.model, self._redacted(exc))
            except BaseException:
                self._record(candidate, run, progress, Outcome.CANCELLED)
                raise
            if error is None:
                result, settle = self._succeed(candidate, run, progress)
                if not run.settle_after_result:
                    settle()
                    yield result
                    return
                try:
                    yield result
                finally:
                    settle()
                return
            self._record(candidate, run, progress, Outcome.FAILED, error)
            action = action_for(error.kind, error.cause)
            if run.deadline_hit:
                # The caller's deadline ended the attempt: not the key's fault, nothing is cooled.
                if progress.emitted:
                    raise self._broken(candidate, error, run)
                return
            if action.retry_same and not retry and not progress.emitted and self._may_retry(run):
                pause = random.uniform(*RETRY_BACKOFF)
                log.info("retry %s %s in %.1fs after %s", candidate.provider, candidate.key_label, pause, error.kind)
                await asyncio.sleep(pause)
                continue
            self._penalize(candidate, error, run)
            if progress.emitted:
                raise self._broken(candidate, error, run)
            if action.request is RequestEffect.STOP:
                raise RequestRejected(f"{candidate.provider} rejected the request: {error.message}", run.attempts)
            if action.request is RequestEffect.NEXT_PROVIDER and action.key is KeyEffect.NONE:
                # Nothing is kept that would skip the provider's other keys (as a model or endpoint hold does):
                # the run remembers that this provider refused the request.
                self._skip(
                    Skip(
                        candidate,
                        SkipKind.REFUSED,
                        f"provider {candidate.provider}",
                        f"refused the request ({error.message})",
                        None,
                        reach=Reach.PROVIDER,
                    ),
                    run,
                )
            return

    async def _attempt(
        self, candidate: Candidate, request: ChatRequest, run: _Run, progress: _Progress
    ) -> AsyncIterator[TextDelta | ReasoningDelta]:
        adapter = self._adapter(candidate.provider)
        # The adapter's own timeout ends a stall; it outlasts the deadline when that is nearer,
        # so that the deadline (the caller's choice) is what ends the attempt then.
        stall = min(run.remaining() + 1.0, STALL_TIMEOUT)
        events = adapter.chat(candidate, request, timeout=stall).__aiter__()
        loop_deadline = asyncio.get_running_loop().time() + run.remaining()
        try:
            while True:
                try:
                    async with asyncio.timeout_at(loop_deadline):
                        event = await anext(events)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    run.deadline_hit = True
                    raise ProviderError(
                        ErrorKind.TIMEOUT, "the overall deadline ran out", provider=candidate.provider
                    ) from None
                if isinstance(event, StreamEnd):
                    progress.end = event
                elif isinstance(event, ReasoningDelta):
                    if event.text and run.keep_text:
                        progress.reasoning.append(event.text)
                    if event.text and not run.buffered:
                        yield event
                elif event.text:
                    if progress.ttft_ms is None:
                        progress.ttft_ms = progress.elapsed_ms()
                    if run.keep_text:
                        progress.parts.append(event.text)
                    if not run.buffered:
                        progress.emitted = True
                        yield event
        finally:
            await events.aclose()  # type: ignore[attr-defined]
        if progress.end is None:
            raise ProviderError(
                ErrorKind.BAD_RESPONSE, "the answer ended without completing", provider=candidate.provider
            )

    def _redacted(self, error: ProviderError) -> ProviderError:
        """A provider may quote any key back (one pasted in a prompt, say), not only the one it was sent."""
        error.message = redact(error.message, self._secrets)
        error.args = (error.message,)
        return error

    @staticmethod
    def _broken(candidate: Candidate, error: ProviderError, run: _Run) -> StreamBroken:
        return StreamBroken(f"{candidate.provider} failed after the answer began: {error.message}", run.attempts)

    def _may_retry(self, run: _Run) -> bool:
        """A retry of the same target counts against the attempt cap and must fit the deadline."""
        return len(run.attempts) < self.settings.max_attempts and run.remaining() > RETRY_BACKOFF[1]

    def _succeed(self, candidate: Candidate, run: _Run, progress: _Progress) -> tuple[ChatResult, Callable[[], None]]:
        """The result, and the settlement of the attempt that answered (the caller runs it)."""
        end = progress.end = self._costed(candidate, progress.end or StreamEnd(model=candidate.model))
        attempt, settle = self._ended(candidate, run, progress, Outcome.OK)
        log.info("answered by %s %s (%s)", candidate.provider, candidate.key_label, end.model)
        return ChatResult(
            request_id=run.request_id,
            text="".join(progress.parts),
            model=end.model or candidate.model,
            provider=candidate.provider,
            key_label=candidate.key_label,
            key_mask=candidate.key_mask,
            usage=end.usage,
            latency_ms=attempt.latency_ms,
            ttft_ms=progress.ttft_ms,
            finish_reason=end.finish_reason,
            attempts=tuple(run.attempts),
            reasoning="".join(progress.reasoning),
            notices=run.notices,
        ), settle

    def _costed(self, candidate: Candidate, end: StreamEnd) -> StreamEnd:
        return replace(end, usage=self._gate.costed(candidate, end.usage))

    def _record(
        self,
        candidate: Candidate,
        run: _Run,
        progress: _Progress,
        outcome: Outcome,
        error: ProviderError | None = None,
    ) -> Attempt:
        """End the attempt and settle it now."""
        attempt, settle = self._ended(candidate, run, progress, outcome, error)
        settle()
        return attempt

    def _ended(
        self,
        candidate: Candidate,
        run: _Run,
        progress: _Progress,
        outcome: Outcome,
        error: ProviderError | None = None,
    ) -> tuple[Attempt, Callable[[], None]]:
        """The attempt as it ended (added to the run's list), and its settlement: the ledger row, the breaker, the
        end of a failure streak."""
        usage = progress.end.usage if progress.end and outcome is Outcome.OK else Usage()
        attempt = Attempt(
            provider=candidate.provider,
            model=candidate.model,
            key_label=candidate.key_label,
            key_mask=candidate.key_mask,
            outcome=outcome,
            error_kind=error.kind if error else None,
            status=error.status if error else None,
            cause=error.cause if error else None,
            message=error.message if error else None,
            latency_ms=round(progress.elapsed_ms(), 1),
            ttft_ms=round(progress.ttft_ms, 1) if progress.ttft_ms is not None else None,
            usage=usage,
        )
        run.attempts.append(attempt)
        if error:
            log.info("failed %s %s: %s (%s)", candidate.provider, candidate.key_label, error.kind, error.message)
        row = AttemptRow.of(attempt, request_id=run.request_id, key_fingerprint=candidate.slot.fingerprint)
        # The caller's deadline or a cancellation says nothing about the provider's health.
        counts = outcome is not Outcome.CANCELLED and not run.deadline_hit
        assert progress.admitted is not None
        success = health.success_address(candidate.slot) if outcome is Outcome.OK else None
        return attempt, functools.partial(
            self._gate.settle, progress.admitted, row, count_for_breaker=counts, success=success
        )

    def _penalize(self, candidate: Candidate, error: ProviderError, run: _Run) -> None:
        """Keep the failure's state at its scope; a limit that now holds the candidate joins the skips."""
        hold = health.record_failure(self.store, candidate.slot, error, candidate.model)
        skip = self._gate.held(candidate, hold, time.time()) if hold is not None else None
        if skip is not None and skip.frees and error.kind in _LIMIT_KINDS:
            run.skips.append(skip)

    def _failure(self, request: ChatRequest, run: _Run) -> Exception:
        attempts, skips = run.attempts, run.skips
        model = request.model or self.settings.default_model
        if run.deadline_hit:
            return DeadlineExceeded(
                f"no answer within the {request.timeout or self.settings.timeout:g}s deadline", attempts
            )
        if request.privacy is Privacy.CRITICAL:
            return PrivacyRefused(_privacy_message(run), attempts)
        too_large = prompt_too_large(skips, attempts)
        if too_large is not None:
            return too_large
        unsupported = [s for s in skips if s.kind is SkipKind.UNSUPPORTED]
        if unsupported and not attempts and len(unsupported) == len(skips):
            return RequestRejected(f"no candidate can carry the request: {unsupported[0].words()}", attempts)
        refused = [s for s in skips if s.kind is SkipKind.REFUSED]
        if refused and len(refused) == len(attempts):  # every attempt was refused for the request itself
            return RequestRejected(
                f"{refused[0].candidate.provider} rejected the request: {attempts[0].message}", attempts
            )
        skips = [s for s in skips if s.kind not in (SkipKind.REFUSED, SkipKind.UNSUPPORTED)]
        # A model the key's plan lacks is nothing to wait for, whatever status said so.
        kinds = {"model_access" if a.cause is Cause.MODEL_ACCESS else a.error_kind for a in attempts}
        # A provider that lacks the model is no reason to wait; keys of the others that are held are.
        lacking = {a.provider for a in attempts if a.error_kind is ErrorKind.MODEL_NOT_FOUND}
        lacking |= {s.candidate.provider for s in skips if s.hold_scope == StateScope.MODEL}
        # An endpoint that could not be reached moments ago is a failure to wait out, not a limit.
        waiting = [s for s in skips if s.candidate.provider not in lacking and s.hold_scope != StateScope.ENDPOINT]
        if kinds <= {ErrorKind.MODEL_NOT_FOUND} and lacking and not waiting:
            earlier = [s for s in skips if s.hold_scope == StateScope.MODEL]
            said = f" ({earlier[0].words()}; {earlier[0].hint})" if earlier and not attempts else ""
            return ModelNotFound(f"no provider serves the model {model!r}{said}", attempts)
        if kinds - {ErrorKind.MODEL_NOT_FOUND} <= _LIMIT_KINDS and waiting:
            frees = [s.frees for s in waiting if s.frees is not None]
            retry_at = min(frees) if frees else None
            budget = all(s.kind is SkipKind.BUDGET for s in waiting)
            return NoCandidateAvailable(_limited_message(waiting, retry_at), attempts, retry_at, budget=budget)
        return AllCandidatesFailed(_failed_message(attempts, run), attempts)

    def _adapter(self, name: str) -> ProviderAdapter:
        adapter = self._adapters.get(name)
        if adapter is None:
            provider = self.settings.provider(name)
            assert provider is not None, f"unknown provider {name}"
            adapter = self._adapters[name] = build_adapter(provider, self._clients)
        return adapter


def _limited_message(skips: list[Skip], retry_at: float | None) -> str:
    """Why nothing could be tried, from the skips: what holds, when it frees, and what would help."""
    budget = next((s for s in skips if s.kind is SkipKind.BUDGET), None)
    if budget is not None:
        resets = windows.utc_clock(budget.until) if budget.until else "never"
        return f"the {budget.limit} of {budget.scope} {budget.detail}; it resets {resets}; {budget.hint}"
    # What frees by itself first; when nothing does, what holds (a model the plan lacks, a disabled key).
    held = [s for s in skips if not s.frees]
    shown = list({s.words(): s for s in skips if s.frees}.values())[:2] or held[:1]
    if any(s.frees for s in shown):
        parts = ["every candidate key is rate-limited, out of quota, cooling down or at a configured limit"]
    else:
        parts = ["no candidate can be used"]
    parts += [s.words() for s in shown]
    more = len(held) - sum(1 for s in shown if not s.frees)
    if more:
        parts.append(f"{more}{' more' if more < len(held) else ''} disabled or not available")
    if retry_at is not None and retry_at not in {s.frees for s in shown}:
        parts.append("the first frees at " + windows.utc_clock(retry_at))
    hints = list(dict.fromkeys(s.hint for s in skips if s.hint))[:2]
    return "; ".join(parts + hints)


def _privacy_message(run: _Run) -> str:
    tried = "; ".join(dict.fromkeys(f"{a.provider}: {a.message}" for a in run.attempts if a.message))
    held = "; ".join(s.words() for s in run.skips if s.kind is not SkipKind.PRIVACY)
    why = tried or held or "no local provider is enabled (set OLLAMA_HOST)"
    return f"no local model could answer ({why}); cloud providers were not contacted"


def _failed_message(attempts: list[Attempt], run: _Run) -> str:
    if not attempts:
        held = "; ".join(dict.fromkeys(s.words() for s in run.skips))
        return f"no candidate could be tried: {held}" if held else "no candidate could be tried"
    last = attempts[-1]
    summary = f"all {len(attempts)} attempt{'s' * (len(attempts) != 1)} failed"
    if run.skips:
        held = len(run.skips)
        summary += f" ({held} more key{'s' * (held != 1)} held: {run.skips[0].words()})"
    return f"{summary}; last: {last.provider} {last.key_label}: {last.message}"
