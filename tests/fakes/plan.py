"""Format-independent pieces: tokenising, the per-request context, and the response *plan*.

Renderers (:mod:`.openrouter_wire`, :mod:`.ollama_wire`, :mod:`.openai_wire` with its shapes) turn a
:class:`~.behaviours.Reply` into a :class:`Plan` — pure data: status, headers and a list of body steps.  The server executes the plan
on the socket.  Keeping rendering pure makes the wire formats easy to read and to test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from .behaviours import Reply, compact_json

Wire = Literal["openrouter", "ollama", "openai", "openai-api", "azure", "cloudflare"]
"""``"openai"`` = Ollama's OpenAI-compatible ``/v1/chat/completions``; ``"openai-api"`` = OpenAI itself."""

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


@dataclass(frozen=True)
class Repeat:
    """``steps`` (bytes and pauses) carried out ``times`` times over: a huge body kept small in memory."""

    steps: tuple[bytes | Pause, ...]
    times: int

    def __len__(self) -> int:
        """Bytes on the wire (before any compression)."""
        return sum(len(s) for s in self.steps if isinstance(s, bytes)) * self.times


Step = bytes | Pause | Stall | Cut | Repeat


@dataclass(frozen=True)
class Plan:
    """What to do on the socket: ``preamble`` steps before any byte, then head and body.

    ``status is None`` means no response at all (the preamble ends in a :class:`Stall` or
    :class:`Cut`).  ``chunked`` selects ``Transfer-Encoding: chunked`` (each ``bytes`` step becomes
    one chunk) instead of ``Content-Length``.  ``gzip`` compresses the body (``Content-Encoding:
    gzip``; chunked bodies are flushed per step, so a stream stays a stream).
    """

    status: int | None
    headers: tuple[tuple[str, str], ...] = ()
    body: tuple[Step, ...] = ()
    chunked: bool = False
    preamble: tuple[Step, ...] = ()
    gzip: bool = False


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
    """OpenAI-shaped streams: ``stream_options.include_usage`` was true (adds the usage chunk)."""


@dataclass(frozen=True)
class Answer:
    """The resolved content of a :class:`Reply` for one request (one copy of it, with ``Reply.repeat``)."""

    tokens: tuple[str, ...]
    model: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    reasoning: tuple[str, ...] = ()
    """The reasoning's tokens, sent before the answer's (after ``max_tokens`` took its share)."""

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)


def is_free_model(model: str) -> bool:
    return model.endswith(":free")


def resolve_answer(reply: Reply, ctx: ChatContext) -> Answer:
    """Apply defaults, max-token truncation and usage overrides.

    Reasoning is generated first, so it takes its share of ``max_tokens`` before the answer does.
    """
    if reply.chunks is not None:
        tokens = list(reply.chunks)
    else:
        tokens = tokenize(ctx.default_text if reply.text is None else reply.text)
    thoughts = tokenize(reply.reasoning or "")
    truncated = ctx.max_tokens is not None and 0 <= ctx.max_tokens < len(thoughts) + len(tokens)
    if truncated:
        assert ctx.max_tokens is not None
        thoughts = thoughts[: ctx.max_tokens]
        tokens = tokens[: ctx.max_tokens - len(thoughts)]
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
        completion_tokens=(
            len(tokens) * reply.repeat + len(thoughts) if reply.completion_tokens is None else reply.completion_tokens
        ),
        cost=cost,
        reasoning=tuple(thoughts),
    )


def reasoning_pieces(answer: Answer, per_chunk: int) -> list[str]:
    """The reasoning as stream pieces of ``per_chunk`` tokens, like the answer's."""
    per_chunk = max(1, per_chunk)
    return ["".join(answer.reasoning[i : i + per_chunk]) for i in range(0, len(answer.reasoning), per_chunk)]


@dataclass(frozen=True)
class Emit:
    """One content chunk of a stream; ``last`` is True for the final chunk when it ends normally."""

    content: str
    last: bool


InterruptKind = Literal["drop", "stall", "error", "end"]


@dataclass(frozen=True)
class Interrupt:
    """The stream is interrupted here: ``kind`` is ``"drop"``, ``"stall"``, ``"error"`` or ``"end"``."""

    kind: InterruptKind
    emitted: int


def stream_events(reply: Reply, tokens: tuple[str, ...], per_chunk: int) -> Iterator[Emit | Interrupt]:
    """Content chunks in order, stopping at the first threshold reached (checked at chunk bounds).

    Thresholds beyond the end fire after the last token.  Yields nothing else after an
    :class:`Interrupt`.
    """
    per_chunk = max(1, per_chunk)
    candidates: tuple[tuple[int | None, InterruptKind], ...] = (
        (reply.drop_after_tokens, "drop"),
        (reply.stall_after_tokens, "stall"),
        (reply.error_after_tokens, "error"),
        (reply.end_after_tokens, "end"),
    )
    thresholds: list[tuple[int, InterruptKind]] = [(n, kind) for n, kind in candidates if n is not None]
    thresholds.sort(key=lambda t: t[0])  # stable: on ties drop, then stall, then error, then end

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


def interruption_steps(reply: Reply, kind: InterruptKind) -> list[Step]:
    """What ends an interrupted stream: a cut, a stall, or (``"end"``) nothing: the body just ends."""
    if kind == "drop":
        return [Cut()]
    if kind == "stall":
        return [Stall(reply.stall_seconds)]
    return []


def cut_in_half(document: bytes) -> bytes:
    """A non-stream answer ended early (``end_after_tokens``): the first half of its JSON."""
    return document[: len(document) // 2]


_PLACEHOLDER = "\x00fake-repeated-text\x00"


def repeated_json(obj: dict[str, Any], path: tuple[str | int, ...], text: str, times: int) -> tuple[Step, ...]:
    """``obj`` serialised with the string at ``path`` replaced by ``text * times``, without building it.

    ``path`` names the string inside ``obj`` (e.g. ``("message", "content")``); it is sent as the
    JSON escape of ``text`` repeated ``times`` times between the document's head and tail.
    """
    holder: Any = obj
    for key in path[:-1]:
        holder = holder[key]
    original = holder[path[-1]]
    holder[path[-1]] = _PLACEHOLDER
    try:
        head, tail = compact_json(obj).split(compact_json(_PLACEHOLDER)[1:-1], 1)
    finally:
        holder[path[-1]] = original
    return (head, Repeat((compact_json(text)[1:-1],), times), tail)


def delay_steps(reply: Reply) -> tuple[Step, ...]:
    """What happens before the status line: the behaviour's delay, if any."""
    return (Pause(reply.delay),) if reply.delay > 0 else ()


def content_headers(ctx: ChatContext, content_type: str) -> tuple[tuple[str, str], ...]:
    return (("Content-Type", content_type), *ctx.extra_headers)


def first_interruption(reply: Reply, answer: Answer) -> Interrupt | None:
    """The first drop, stall or error the behaviour asks for, for answers sent as one body."""
    return next((e for e in stream_events(reply, answer.tokens, 1) if not isinstance(e, Emit)), None)
