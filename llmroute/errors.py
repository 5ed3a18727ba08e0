"""The one error taxonomy of llmroute.

Adapters classify every provider failure once into an :class:`ErrorKind`
(see :mod:`llmroute.policy` for what each kind does). Everything the library
raises on purpose derives from :class:`LlmrouteError`; the CLI turns these into
one-line messages and exit codes in :mod:`llmroute.cli.failures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmroute.types import Attempt


class ErrorKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    QUOTA = "quota"
    AUTH = "auth"
    MODEL_NOT_FOUND = "model_not_found"
    BAD_REQUEST = "bad_request"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    SERVER = "server"
    OVERLOADED = "overloaded"
    BAD_RESPONSE = "bad_response"


class Cause(StrEnum):
    """What a failure is about, where the provider says more than its kind: it picks the failure's scope.

    The failure table (:mod:`llmroute.policy`) maps (kind, cause) to the scope its state is kept at.
    """

    MODEL_ACCESS = "model_access"
    """This key's plan may not use this model (Ollama's "requires a subscription", "extra usage only")."""
    FREE_MODELS = "free_models"
    """A cap on free models only (OpenRouter's free-models-per-min / -per-day): paid models are untouched."""
    CLOUD_MODEL = "cloud_model"
    """A local daemon refusing its cloud models (not signed in, cloud disabled): its local models still work."""
    UNREACHABLE = "unreachable"
    """The host could not be reached at all (refused, unresolvable): every key of the provider would fail."""
    MODEL_QUOTA = "model_quota"
    """A rate limit or quota counted per model (Gemini counts per project and model): other models stay usable."""
    CONTENT_FILTER = "content_filter"
    """The provider's own content filter refused the prompt (Azure): the same there every time, another provider
    may answer it."""
    REQUEST_SIZE = "request_size"
    """This request is larger than the key's per-minute token limit can ever admit (OpenAI's "Request too large"):
    waiting does not help, a key with a larger limit may."""
    CONTEXT_LENGTH = "context_length"
    """The prompt (with the room asked for the answer, where the provider counts it) is longer than the model's
    context: every key of that target would say the same, a model with a larger context may take it."""


class LlmrouteError(Exception):
    """Base of every error llmroute raises on purpose."""


class ConfigError(LlmrouteError):
    """The configuration (file, environment or flags) cannot be used."""


class NoKeysError(ConfigError):
    """No provider has a usable key or endpoint."""


class KeyServesNoTarget(LlmrouteError):
    """The request is held to one key (``ChatRequest.key``) that serves none of the model's targets: the caller's
    request contradicts itself."""


class StateError(LlmrouteError):
    """The state file cannot be opened or written."""


class ProviderError(LlmrouteError):
    """One failed HTTP attempt, classified.

    ``retry_at`` is the epoch time the provider said the key may be used again,
    when it said so. ``message`` is already redacted of the key's secret.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_at: float | None = None,
        provider: str | None = None,
        cause: Cause | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_at = retry_at
        self.provider = provider
        self.cause = cause

    @property
    def unreachable(self) -> bool:
        """The host could not be reached at all (refused, unresolvable): its other keys would fail too."""
        return self.cause is Cause.UNREACHABLE

    def __repr__(self) -> str:
        cause = f", cause={self.cause.value}" if self.cause else ""
        return f"ProviderError({self.kind.value}, status={self.status}{cause}, {self.message!r})"


class RouteError(LlmrouteError):
    """A request that could not be answered; carries the attempts made."""

    def __init__(self, message: str, attempts: Sequence[Attempt] = ()) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)


class AllCandidatesFailed(RouteError):
    """Every candidate that was tried failed."""


class DeadlineExceeded(AllCandidatesFailed):
    """The overall deadline (``--timeout``) ran out before an answer."""


class NoCandidateAvailable(RouteError):
    """Every candidate is cooling down, disabled or refused by policy.

    ``retry_at`` is the earliest time one of them frees, if any will; ``budget`` is true when what holds every
    one of them is a budget (a gateway answers 402 then, not 429).
    """

    def __init__(
        self, message: str, attempts: Sequence[Attempt] = (), retry_at: float | None = None, *, budget: bool = False
    ) -> None:
        super().__init__(message, attempts)
        self.retry_at = retry_at
        self.budget = budget


class RequestRejected(RouteError):
    """A provider refused the request itself (a 400): the caller must fix it."""


class PromptTooLarge(RequestRejected):
    """The prompt is longer than the context of every candidate model: refused before anything was sent.

    ``tokens`` is the estimate the gate refused it with; ``context`` the largest context listed among the
    candidates.
    """

    def __init__(self, message: str, attempts: Sequence[Attempt] = (), *, tokens: int, context: int) -> None:
        super().__init__(message, attempts)
        self.tokens = tokens
        self.context = context


class ModelNotFound(RequestRejected):
    """No provider that was asked serves the requested model."""


class PrivacyRefused(RouteError):
    """Privacy ``critical`` was asked and no local provider could answer."""


class StreamBroken(RouteError):
    """A stream failed after its first token reached the caller; output is incomplete."""
