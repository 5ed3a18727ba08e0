"""Scriptable behaviours for :class:`tests.fakes.FakeProvider`.

A behaviour describes how the fake answers *one* chat request.  Behaviours are small frozen
dataclasses; tests build them with the lower-case builder functions (``reply``, ``stream_reply``,
``error``, ``hang``, ``drop_connection``) or the ready-made provider errors in
:mod:`tests.fakes.errors`.

The same :class:`Reply` serves every wire format and both stream modes: the server renders it as
OpenRouter JSON / SSE, Ollama JSON / NDJSON, or the OpenAI chat shapes (Ollama's ``/v1``, OpenAI,
Azure, Cloudflare) depending on the endpoint and on what the request asked for.  Streaming-only
knobs have a documented non-stream meaning (see :class:`Reply`).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

UsageShape = Literal["A", "B", "C"]

DEFAULT_STALL_SECONDS = 3600.0
"""A stall "forever": long enough for any client read timeout, ended early by server shutdown."""


@dataclass(frozen=True)
class Reply:
    """A successful answer (possibly failing part-way), rendered in whatever format was asked.

    Streaming knobs and what they mean for a *non-stream* request:

    * ``error_after_tokens``: OpenRouter answers 200 with the partial text, ``finish_reason:"error"``
      and a per-choice ``error`` (ref §1.3); Ollama answers 500 ``{"error": ...}``.
    * ``error_only``: OpenRouter answers 200 with a JSON body holding only ``error``; Ollama 500.
    * ``stall_after_tokens`` / ``drop_after_tokens``: nothing is sent (stall = hang, drop = close).
    * ``end_after_tokens``: the JSON document is cut in half (a complete HTTP response whose body
      is not valid JSON).
    * ``processing_comments``, ``usage_shape``, ``no_terminator``, ``chunk_delay`` (except between
      ``blank_lines``), ``done_after_error``: ignored.

    Token thresholds count whitespace tokens and are checked at chunk boundaries, so with
    ``tokens_per_chunk > 1`` they round up to the next chunk.

    ``text`` may hold invalid UTF-8 and invalid Unicode: a surrogate-escaped byte (``"\\udcff"``,
    as ``bytes.decode("utf-8", "surrogateescape")`` makes) goes on the wire as that raw byte, and
    any other lone surrogate (``"\\ud83d"``) as its JSON escape (see :func:`compact_json`).
    """

    text: str | None = None
    """Answer text; ``None`` = the provider's ``default_text``."""
    reasoning: str | None = None
    """The model's reasoning, sent whole before the answer as each wire sends it: OpenRouter
    ``message.reasoning`` / ``delta.reasoning`` (with the same text in ``reasoning_details``), Ollama
    ``message.thinking``. It counts against ``max_tokens`` first, as on the real services: a budget
    no larger than the reasoning leaves an empty answer with finish reason ``"length"`` (ref next §8).
    The ``*_after_tokens`` thresholds count answer tokens only, so ``drop_after_tokens=0`` cuts the
    stream after the reasoning and before any text."""
    model: str | None = None
    """Model id reported in the response; ``None`` = the resolved request model."""
    cost: float | None = None
    """OpenRouter ``usage.cost``; ``None`` = 0 for ``:free`` ids, the provider default otherwise."""
    delay: float = 0.0
    """Seconds to wait before the response headers."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    """Usage overrides; ``None`` = computed from the request / the tokens actually emitted."""
    finish_reason: str | None = None
    """Override; ``None`` = ``"length"`` when max tokens truncated the text, else ``"stop"``."""
    usage_shape: UsageShape = "A"
    processing_comments: int = 0
    error_after_tokens: int | None = None
    error_code: int | str = 502
    error_message: str | None = None
    """``None`` = a realistic message for ``error_code`` / the Ollama runner error text."""
    stall_after_tokens: int | None = None
    stall_seconds: float = DEFAULT_STALL_SECONDS
    drop_after_tokens: int | None = None
    """Close the connection abruptly (no chunked terminator) after this many tokens."""
    no_terminator: bool = False
    done_after_error: bool = False
    """OpenRouter SSE: send ``data: [DONE]`` after a mid-stream error chunk (undocumented either way)."""
    chunk_delay: float = 0.0
    error_only: bool = False
    blank_lines: int = 0
    """Non-stream OpenRouter: keep-alive blank lines sent before the JSON body (ref §1.3)."""
    omit_prompt_eval_count: bool = False
    """Ollama: leave ``prompt_eval_count`` out of the final object (fully cached prompt, ref §2.3)."""
    end_after_tokens: int | None = None
    """Streams: end the response cleanly (a complete HTTP body) after this many tokens, with no
    finish chunk, usage, ``[DONE]`` or ``done:true`` object."""
    gzip: bool = False
    """Send the body gzip-compressed with ``Content-Encoding: gzip`` (streams: flushed per chunk)."""
    chunks: tuple[str, ...] | None = None
    """The answer's tokens exactly, instead of ``text`` split at whitespace: e.g. a surrogate pair cut
    in two (``("smile ", "\\ud83d", "\\ude00")``), one half per stream chunk."""
    repeat: int = 1
    """The answer is ``text`` this many times over, rendered without building it in memory (a huge
    answer: the wire bytes of one copy are sent ``repeat`` times). Incompatible with the
    ``*_after_tokens`` thresholds; ``max_tokens`` truncates one copy."""
    headers: tuple[tuple[str, str], ...] = ()
    """Response headers added to the answer, replacing the service's own of the same name (e.g. OpenAI's
    ``x-ratelimit-remaining-requests``)."""

    def __post_init__(self) -> None:
        if self.usage_shape not in ("A", "B", "C"):
            raise ValueError(f"usage_shape must be 'A', 'B' or 'C', not {self.usage_shape!r}")
        if self.repeat < 1:
            raise ValueError(f"repeat must be at least 1, not {self.repeat}")
        thresholds = (self.error_after_tokens, self.stall_after_tokens, self.drop_after_tokens, self.end_after_tokens)
        if self.repeat > 1 and any(t is not None for t in thresholds):
            raise ValueError("repeat cannot be combined with *_after_tokens")


@dataclass(frozen=True)
class ErrorResponse:
    """A complete, raw HTTP response sent instead of an answer (the body is sent byte-for-byte)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    gzip: bool = False
    """Send the body gzip-compressed with ``Content-Encoding: gzip``."""
    repeat: int = 1
    """Send ``body`` this many times over (a huge body that is never built in memory)."""

    @property
    def size(self) -> int:
        """Bytes of the (uncompressed) body on the wire."""
        return len(self.body) * self.repeat

    @property
    def json(self) -> Any:
        """The body parsed as JSON (for assertions in tests)."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Hang:
    """Read the request, send nothing for ``seconds``, then close the connection without answering.

    Server shutdown ends the hang early.  For a slow but eventually successful answer use
    ``reply(delay=...)`` instead.
    """

    seconds: float


@dataclass(frozen=True)
class DropConnection:
    """Start sending ``reply`` (a normal answer by default) and close the socket after ``after_bytes``.

    ``after_bytes`` counts raw bytes on the socket, status line and headers included (chunked
    framing too, for streams).  ``reset=True`` closes with a TCP RST (the client sees "connection
    reset") instead of a FIN (the client sees an incomplete response); bytes still in flight may
    be lost with a reset.
    """

    after_bytes: int = 0
    reset: bool = False
    reply: Reply = field(default_factory=Reply)


Behaviour = Reply | ErrorResponse | Hang | DropConnection


def _raw_bytes_or_json_escape(exc: UnicodeError) -> tuple[bytes, int]:
    """Encoding errors of :func:`compact_json`: ``\\udc80``-``\\udcff`` become that raw (invalid) byte,
    any other lone surrogate its JSON escape ``\\uXXXX``."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = bytearray()
    for char in exc.object[exc.start : exc.end]:
        code = ord(char)
        out += bytes([code - 0xDC00]) if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}".encode()
    return bytes(out), exc.end


codecs.register_error("fake-json", _raw_bytes_or_json_escape)


def compact_json(obj: Any) -> bytes:
    """Serialise like the real services: no spaces, UTF-8, key order preserved.

    Strings may carry deliberate garbage: a surrogate-escaped byte (``"\\udcff"``) is written as that
    raw byte (invalid UTF-8), any other lone surrogate (``"\\ud83d"``) as the JSON escape a server
    produces when it splits a surrogate pair.
    """
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "fake-json")


def _header_pairs(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in (headers or {}).items())


def reply(
    text: str | None = None,
    model: str | None = None,
    cost: float | None = None,
    delay: float = 0.0,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    *,
    reasoning: str | None = None,
    finish_reason: str | None = None,
    usage_shape: UsageShape = "A",
    blank_lines: int = 0,
    omit_prompt_eval_count: bool = False,
    gzip: bool = False,
    repeat: int = 1,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """A normal successful answer, in whatever format (stream or not) the request asked for.

    ``reply(text="", reasoning="...", finish_reason="length")`` is a reasoning model that spent its
    whole ``max_tokens`` thinking (as is ``reply(reasoning=..., text=...)`` asked with a small budget).
    """
    return Reply(
        text=text,
        reasoning=reasoning,
        model=model,
        cost=cost,
        delay=delay,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason=finish_reason,
        usage_shape=usage_shape,
        blank_lines=blank_lines,
        omit_prompt_eval_count=omit_prompt_eval_count,
        gzip=gzip,
        repeat=repeat,
        headers=_header_pairs(headers),
    )


def stream_reply(
    text: str | None = None,
    usage_shape: UsageShape = "A",
    processing_comments: int = 0,
    error_after_tokens: int | None = None,
    error_code: int | str = 502,
    stall_after_tokens: int | None = None,
    no_terminator: bool = False,
    chunk_delay: float = 0.0,
    error_only: bool = False,
    *,
    reasoning: str | None = None,
    model: str | None = None,
    cost: float | None = None,
    delay: float = 0.0,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    finish_reason: str | None = None,
    error_message: str | None = None,
    stall_seconds: float = DEFAULT_STALL_SECONDS,
    drop_after_tokens: int | None = None,
    done_after_error: bool = False,
    omit_prompt_eval_count: bool = False,
    end_after_tokens: int | None = None,
    gzip: bool = False,
    repeat: int = 1,
    chunks: tuple[str, ...] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """An answer with streaming quirks: OpenRouter SSE (ref §1.4) or Ollama NDJSON (ref §2.4).

    ``usage_shape`` (OpenRouter only): ``"A"`` finish chunk then a duplicate finish chunk carrying
    ``usage``; ``"B"`` the last content chunk carries ``finish_reason`` and ``usage``; ``"C"``
    finish chunk then an OpenAI-style ``choices: []`` + ``usage`` chunk. ``reasoning`` is streamed
    before the answer, split like it (see :attr:`Reply.reasoning`).
    """
    return Reply(
        text=text,
        reasoning=reasoning,
        model=model,
        cost=cost,
        delay=delay,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason=finish_reason,
        usage_shape=usage_shape,
        processing_comments=processing_comments,
        error_after_tokens=error_after_tokens,
        error_code=error_code,
        error_message=error_message,
        stall_after_tokens=stall_after_tokens,
        stall_seconds=stall_seconds,
        drop_after_tokens=drop_after_tokens,
        no_terminator=no_terminator,
        done_after_error=done_after_error,
        chunk_delay=chunk_delay,
        error_only=error_only,
        omit_prompt_eval_count=omit_prompt_eval_count,
        end_after_tokens=end_after_tokens,
        gzip=gzip,
        repeat=repeat,
        chunks=chunks,
        headers=_header_pairs(headers),
    )


def error(
    status: int,
    body: Mapping[str, Any] | list[Any] | str | bytes,
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
    *,
    content_type: str | None = None,
    gzip: bool = False,
    repeat: int = 1,
) -> ErrorResponse:
    """A raw error response.  dict/list bodies are sent as compact JSON, str as text/plain, bytes as-is
    (labelled ``application/json`` unless ``content_type`` says otherwise).

    Any status works, 200 included (a raw body the fake would never build itself, e.g. malformed
    JSON).  ``gzip`` sends it compressed; ``repeat`` sends the body that many times over.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, not {repeat}")
    if isinstance(body, bytes):
        raw, ctype = body, "application/json"
    elif isinstance(body, str):
        raw, ctype = body.encode("utf-8"), "text/plain; charset=utf-8"
    else:
        raw, ctype = compact_json(body), "application/json"
    return ErrorResponse(
        status=status,
        body=raw,
        content_type=content_type or ctype,
        headers=_header_pairs(headers),
        delay=delay,
        gzip=gzip,
        repeat=repeat,
    )


def hang(seconds: float) -> Hang:
    """Accept the request and send nothing for ``seconds`` (provokes a client read timeout)."""
    return Hang(seconds=seconds)


def drop_connection(after_bytes: int = 0, *, reset: bool = False, reply: Reply | None = None) -> DropConnection:
    """Close the socket abruptly after sending ``after_bytes`` bytes of a valid response."""
    return DropConnection(after_bytes=after_bytes, reset=reset, reply=reply or Reply())
