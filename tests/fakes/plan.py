"""Format-independent pieces: tokenising, the per-request context, and the response *plan*.

Renderers (:mod:`.openrouter_wire`, :mod:`.ollama_wire`, :mod:`.openai_wire`) turn a :class:`~.behaviours.Reply` into a
:class:`Plan` — pure data: status, headers and a list of body steps.  The server executes the plan
on the socket.  Keeping rendering pure makes the wire formats easy to read and to test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from .behaviours import Reply

Wire = Literal["openrouter", "ollama", "openai"]
"""``"openai"`` = Ollama's OpenAI-compatible ``/v1/chat/completions``."""

_TOKEN_RE = re.compile(r"\s*\S+")


def tokenize(text: str) -> list[str]:
    """Split on whitespace, keeping it: each token is its leading whitespace plus a word.

    ``"".join(tokenize(t)) == t`` always holds (trailing whitespace sticks to the last token).
    """
    tokens = _TOKEN_RE.findall(text)
    rest = text[sum(map(len, tokens)) :]
    if rest:
        if tokens:
            tokens[-1] += rest
        else:
            tokens = [rest]
    return tokens


def count_prompt_words(messages: Any) -> int:
    """Deterministic prompt "token" count: whitespace-separated words over all message texts."""
    if not isinstance(messages, list):
        return 0
    total = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            total += len(content.split())
        elif isinstance(content, list):  # OpenAI-style content parts
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += len(part["text"].split())
    return total


@dataclass(frozen=True)
class Pause:
    """Sleep (interruptible by server shutdown, which then closes the connection)."""

    seconds: float


@dataclass(frozen=True)
class Stall:
    """Sleep up to ``seconds`` without closing, then close the connection without finishing."""

    seconds: float


@dataclass(frozen=True)
class Cut:
    """Close the connection abruptly, right now."""


Step = bytes | Pause | Stall | Cut


@dataclass(frozen=True)
class Plan:
    """What to do on the socket: ``preamble`` steps before any byte, then head and body.

    ``status is None`` means no response at all (the preamble ends in a :class:`Stall` or
    :class:`Cut`).  ``chunked`` selects ``Transfer-Encoding: chunked`` (each ``bytes`` step becomes
    one chunk) instead of ``Content-Length``.
    """

    status: int | None
    headers: tuple[tuple[str, str], ...] = ()
    body: tuple[Step, ...] = ()
    chunked: bool = False
    preamble: tuple[Step, ...] = ()


@dataclass(frozen=True)
class ChatContext:
    """Everything the renderers need to know about one validated chat request."""

    wire: Wire
    stream: bool
    model: str
    """Model id to report (already resolved, e.g. ``openrouter/auto`` -> a concrete id)."""
    max_tokens: int | None
    prompt_tokens: int
    default_text: str
    tokens_per_chunk: int
    default_cost: float
    provider_name: str
    generation_id: str
    created: int
    extra_headers: tuple[tuple[str, str], ...] = field(default=())
    include_usage: bool = False
    """``/v1`` streams: ``stream_options.include_usage`` was true (adds the usage chunk)."""


@dataclass(frozen=True)
class Answer:
    """The resolved content of a :class:`Reply` for one request."""

    tokens: tuple[str, ...]
    model: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cost: float

    @property
    def text(self) -> str:
        return "".join(self.tokens)


def is_free_model(model: str) -> bool:
    return model.endswith(":free")


def resolve_answer(reply: Reply, ctx: ChatContext) -> Answer:
    """Apply defaults, max-token truncation and usage overrides."""
    text = ctx.default_text if reply.text is None else reply.text
    tokens = tokenize(text)
    truncated = ctx.max_tokens is not None and 0 <= ctx.max_tokens < len(tokens)
    if truncated:
        assert ctx.max_tokens is not None
        tokens = tokens[: ctx.max_tokens]
    model = reply.model or ctx.model
    if reply.cost is not None:
        cost = reply.cost
    else:
        cost = 0.0 if is_free_model(ctx.model) or is_free_model(model) else ctx.default_cost
    return Answer(
        tokens=tuple(tokens),
        model=model,
        finish_reason=reply.finish_reason or ("length" if truncated else "stop"),
        prompt_tokens=ctx.prompt_tokens if reply.prompt_tokens is None else reply.prompt_tokens,
        completion_tokens=len(tokens) if reply.completion_tokens is None else reply.completion_tokens,
        cost=cost,
    )


@dataclass(frozen=True)
class Emit:
    """One content chunk of a stream; ``last`` is True for the final chunk when it ends normally."""

    content: str
    last: bool


@dataclass(frozen=True)
class Interrupt:
    """The stream is interrupted here: ``kind`` is ``"drop"``, ``"stall"`` or ``"error"``."""

    kind: Literal["drop", "stall", "error"]
    emitted: int


def stream_events(reply: Reply, tokens: tuple[str, ...], per_chunk: int) -> Iterator[Emit | Interrupt]:
    """Content chunks in order, stopping at the first threshold reached (checked at chunk bounds).

    Thresholds beyond the end fire after the last token.  Yields nothing else after an
    :class:`Interrupt`.
    """
    per_chunk = max(1, per_chunk)
    candidates: tuple[tuple[int | None, Literal["drop", "stall", "error"]], ...] = (
        (reply.drop_after_tokens, "drop"),
        (reply.stall_after_tokens, "stall"),
        (reply.error_after_tokens, "error"),
    )
    thresholds: list[tuple[int, Literal["drop", "stall", "error"]]] = [
        (n, kind) for n, kind in candidates if n is not None
    ]
    thresholds.sort(key=lambda t: t[0])  # stable: on ties drop, then stall, then error

    def due(emitted: int, at_end: bool) -> Interrupt | None:
        for n, kind in thresholds:
            if emitted >= n or at_end:
                return Interrupt(kind, emitted)
        return None

    emitted = 0
    groups = [tokens[i : i + per_chunk] for i in range(0, len(tokens), per_chunk)]
    for index, group in enumerate(groups):
        hit = due(emitted, at_end=False)
        if hit is not None:
            yield hit
            return
        last = index == len(groups) - 1
        emitted += len(group)
        yield Emit("".join(group), last=last and not thresholds)
    hit = due(emitted, at_end=True)
    if hit is not None:
        yield hit


def interruption_steps(reply: Reply, kind: Literal["drop", "stall"]) -> list[Step]:
    return [Cut()] if kind == "drop" else [Stall(reply.stall_seconds)]
