"""What every API front of ``llmroute serve`` shares: one router over every key, the state file, the gateway
token, live metrics, and the one table that turns a routing failure into an HTTP status.

The OpenAI front (``openai_api``) and the Ollama front (``ollama_api``) only translate: a client's request into a
:class:`~llmroute.types.ChatRequest`, the router's stream into the client's wire format, and a
:class:`Failure` into the client's error shape. Routing, limits, budgets, breakers, privacy and the ledger are
the router's, exactly as for ``llmroute chat``.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from llmroute import errors
from llmroute.config import Settings
from llmroute.router import Router
from llmroute.store import Store
from llmroute.types import Attempt, Candidate


class MetricsSink(Protocol):
    """Where the fronts report each request (``llmroute.reports.metrics.LiveMetrics`` is the one in use)."""

    def observe(
        self,
        *,
        api: str,
        status: int,
        seconds: float,
        ttft_seconds: float | None,
        attempts: Sequence[Attempt],
        stream: bool,
    ) -> None: ...


@dataclass(frozen=True)
class Failure:
    """A request the gateway could not answer, as an HTTP client must see it."""

    status: int
    code: str
    """A stable machine-readable code: ``model_not_found``, ``rate_limited``, ``budget_exceeded``, ..."""
    message: str
    retry_after: int | None = None
    """Whole seconds for a ``Retry-After`` header (429 only)."""


def failure_of(exc: BaseException, now: float | None = None) -> Failure:
    """The one mapping from llmroute's error taxonomy to HTTP: the status a client library acts on."""
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    if isinstance(exc, errors.ModelNotFound):
        return Failure(404, "model_not_found", text)
    if isinstance(exc, errors.PromptTooLarge):
        return Failure(400, "context_length_exceeded", text)
    if isinstance(exc, errors.RequestRejected):
        return Failure(400, "bad_request", text)
    if isinstance(exc, errors.PrivacyRefused):
        return Failure(503, "privacy_refused", text)
    if isinstance(exc, errors.NoCandidateAvailable):
        if exc.budget:
            return Failure(402, "budget_exceeded", text)
        wait = None
        if exc.retry_at is not None and math.isfinite(exc.retry_at):
            wait = max(1, math.ceil(exc.retry_at - (time.time() if now is None else now)))
        return Failure(429, "rate_limited", text, wait)
    if isinstance(exc, errors.StreamBroken):
        return Failure(502, "stream_broken", text)
    if isinstance(exc, errors.DeadlineExceeded):
        return Failure(504, "timeout", text)
    if isinstance(exc, errors.AllCandidatesFailed):
        return Failure(502, "all_failed", text)
    if isinstance(exc, errors.NoKeysError):  # no key for any provider of this model: not one a client may retry
        return Failure(404, "model_not_found", text)
    if isinstance(exc, (errors.ConfigError, errors.StateError)):
        return Failure(503, "unavailable", text)
    return Failure(500, "internal_error", f"internal error: {exc.__class__.__name__}")


@dataclass
class RouteTrace:
    """What the router is doing for one request, as a front needs it before the result arrives.

    A streamed answer's HTTP head goes out with its first token, and names the provider and key answering it and
    the attempts made so far; every chunk carries the ledger's request id. The router says these only in its
    result, so a :class:`TracingRouter` fills this in as each candidate is tried (see :meth:`Gateway.trace`).
    """

    request_id: str | None = None
    """The ledger's request id (set once the first candidate is tried)."""
    candidate: Candidate | None = None
    """The candidate tried last (the one answering, once text arrives)."""
    finished: Sequence[Attempt] = field(default_factory=tuple)
    """The attempts recorded so far (the router's own list: it grows as attempts end)."""

    @property
    def attempt_number(self) -> int:
        """The number of the attempt in flight: the attempts ended so far, plus one."""
        return len(self.finished) + 1


_TRACE: ContextVar[RouteTrace | None] = ContextVar("llmroute_route_trace", default=None)


class TracingRouter(Router):
    """The router of ``serve``: the same routing, which also fills in the :class:`RouteTrace` of the request
    being served (if any) each time it tries a candidate (:meth:`Router.trying`). Nothing else differs."""

    def trying(self, request_id: str, candidate: Candidate, finished: Sequence[Attempt]) -> None:
        trace = _TRACE.get()
        if trace is not None:
            trace.request_id = request_id
            trace.candidate = candidate
            trace.finished = finished


class Gateway:
    """One per ``serve`` process; the fronts hold it and nothing else."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        router: Router,
        *,
        token: str | None = None,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.router = router
        self.token = token or None
        self.metrics = metrics

    def authorised(self, header: str | None) -> bool:
        """With a gateway token set, ``Authorization: Bearer <token>`` is required (compared in constant time)."""
        if self.token is None:
            return True
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    @contextmanager
    def trace(self) -> Iterator[RouteTrace]:
        """A :class:`RouteTrace` the router fills in for the request routed inside this block (in this task).

        With a plain :class:`Router` it stays empty: the fronts then learn the provider and key from the result.
        """
        trace = RouteTrace()
        token = _TRACE.set(trace)
        try:
            yield trace
        finally:
            _TRACE.reset(token)

    async def aclose(self) -> None:
        await self.router.aclose()
