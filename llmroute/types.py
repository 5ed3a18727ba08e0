"""Plain data types shared by every layer: requests, candidates, usage, results."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from llmroute.errors import Cause, ErrorKind
from llmroute.keys import ApiKey, KeySlot


class Privacy(StrEnum):
    NORMAL = "normal"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """What the caller asks for. ``model`` is a spec: alias, bare name or ``provider:model``.

    The generation options (``temperature``, ``max_tokens``, ``top_p``, ``stop``, ``seed``) are passed on as
    given, unchecked; not every wire carries every one of them, and
    :func:`llmroute.providers.options.check_options` says which a wire cannot (an adapter refuses such a
    request rather than drop the option).
    """

    messages: tuple[Message, ...]
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    """The one cap on the answer's length (each wire names it its own way: ``max_completion_tokens``, ...)."""
    stream: bool = True
    provider: str | None = None
    privacy: Privacy = Privacy.NORMAL
    timeout: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    """Stop sequences: the answer ends before the first of them it would write."""
    seed: int | None = None
    key: str | None = None
    """Only this key (its label, the variable name): every candidate is a target served through it."""

    @classmethod
    def from_prompt(cls, prompt: str, *, system: str | None = None, **options: object) -> ChatRequest:
        messages = [Message("system", system)] if system else []
        messages.append(Message("user", prompt))
        return cls(messages=tuple(messages), **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Target:
    """A provider and the model id that provider knows the model by."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


@dataclass(frozen=True)
class Candidate:
    """One way to answer a request: a target reached through one key slot (keyless for a local daemon)."""

    target: Target
    slot: KeySlot

    @property
    def provider(self) -> str:
        return self.target.provider

    @property
    def model(self) -> str:
        return self.target.model

    @property
    def key(self) -> ApiKey | None:
        return self.slot.key

    @property
    def key_label(self) -> str:
        return self.slot.label

    @property
    def key_mask(self) -> str:
        return self.slot.mask()


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_micros: int | None = None
    """Cost in integer micro-dollars (None when unknown)."""
    cost_estimated: bool = False
    """True when the cost comes from catalogue prices x tokens, not from the provider's own report."""

    def priced(self, prompt_price: float | None, completion_price: float | None) -> Usage:
        """This usage costed from prices in USD per million tokens (= micro-dollars per token)."""
        if self.cost_micros is not None or None in (
            prompt_price,
            completion_price,
            self.input_tokens,
            self.output_tokens,
        ):
            return self
        cost = round(self.input_tokens * prompt_price + self.output_tokens * completion_price)  # type: ignore[operator]
        return Usage(self.input_tokens, self.output_tokens, cost, cost_estimated=True)


@dataclass(frozen=True)
class TextDelta:
    """A piece of answer text, in arrival order."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's reasoning (chain of thought): never part of the answer."""

    text: str


@dataclass(frozen=True)
class StreamEnd:
    """The last event of a successful provider stream."""

    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None


StreamEvent = TextDelta | ReasoningDelta | StreamEnd


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt as the caller sees it (also one row of the ledger)."""

    provider: str
    model: str
    key_label: str
    key_mask: str
    outcome: Outcome
    error_kind: ErrorKind | None = None
    status: int | None = None
    cause: Cause | None = None
    """What the failure was about, where the provider said (a model its plan lacks, free models only, ...)."""
    message: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class ChatResult:
    request_id: str
    text: str
    model: str
    provider: str
    key_label: str
    key_mask: str
    usage: Usage
    latency_ms: float
    ttft_ms: float | None
    finish_reason: str | None
    attempts: tuple[Attempt, ...]
    reasoning: str = ""
    """The model's reasoning, apart from the answer (empty when it gave none or it was not kept)."""
    notices: tuple[str, ...] = ()
    """Things the caller should know about how the request was routed (a retired model replaced, ...)."""


@dataclass(frozen=True)
class ModelInfo:
    """One row of a provider's model catalogue."""

    provider: str
    model: str
    """The provider's own id (what goes in a request)."""
    name: str | None = None
    context_length: int | None = None
    prompt_price: float | None = None
    """USD per million input tokens; None when the provider publishes no price."""
    completion_price: float | None = None
    """USD per million output tokens; None when the provider publishes no price."""
    variable_price: bool = False
    """OpenRouter's ``"-1"`` sentinel: the price depends on the route taken (not free, not negative)."""
    free: bool = False
    expires: str | None = None
    """ISO date on which the provider will remove (or removed) the model."""
    successor: str | None = None
    """The model that replaces it, where the provider says so."""


@dataclass(frozen=True)
class KeyInfo:
    """What a key reports about itself, where the provider tells it (OpenRouter ``GET /key``)."""

    credit_limit: float | None = None
    credit_remaining: float | None = None
    limit_reset: str | None = None
    usage_today: float | None = None
    usage_month: float | None = None
    usage_total: float | None = None
    free_tier: bool | None = None
    free_requests_used: int | None = None
    free_requests_limit: int | None = None
    free_requests_remaining: int | None = None
    detail: str | None = None
    """Anything else worth one line (e.g. the local Ollama's version)."""
