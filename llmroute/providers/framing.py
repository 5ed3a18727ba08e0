"""Turning streamed text into events: Server-Sent Events and newline-delimited JSON.

:func:`text_lines` cuts decoded text (``httpx.Response.aiter_text()``) into lines where
the formats do; the readers work on those lines and yield as soon as an event is complete,
so nothing is buffered beyond one event. :class:`TextRepair` keeps the text that reaches
the caller valid Unicode.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from llmroute.errors import ErrorKind, ProviderError
from llmroute.providers.classify import valid_unicode

DONE = "[DONE]"
LINE_LIMIT = 8 * 1024 * 1024
"""Characters one line may hold: far above any real event, low enough that garbage cannot fill memory."""

_SSE_BREAK = re.compile(r"\r\n|\r|\n")
_NDJSON_BREAK = re.compile(r"\n")


async def text_lines(
    chunks: AsyncIterator[str], *, sse: bool, provider: str | None = None, limit: int = LINE_LIMIT
) -> AsyncIterator[str]:
    """Lines of a stream, without their ends: at CR, LF or CRLF for SSE, at LF for NDJSON.

    Only there: ``httpx``'s ``aiter_lines`` splits like ``str.splitlines``, also at U+2028,
    U+2029, U+0085, VT, FF and FS/GS/RS, all of which a JSON string may hold raw, and which
    would cut an event in two. A line longer than ``limit`` is a bad response.
    """
    pattern = _SSE_BREAK if sse else _NDJSON_BREAK
    parts: list[str] = []
    size = 0
    held_cr = False
    async for chunk in chunks:
        if held_cr:  # a CR that ended the previous chunk may be the first half of a CRLF
            chunk, held_cr = "\r" + chunk, False
        if sse and chunk.endswith("\r"):
            chunk, held_cr = chunk[:-1], True
        pieces = pattern.split(chunk)
        if len(pieces) > 1:
            yield "".join(parts) + pieces[0]
            for line in pieces[1:-1]:
                yield line
            parts, size = [], 0
        parts.append(pieces[-1])
        size += len(pieces[-1])
        if size > limit:
            raise ProviderError(
                ErrorKind.BAD_RESPONSE, f"a stream line is longer than {limit} characters", provider=provider
            )
    if held_cr or size:
        yield "".join(parts)


class TextRepair:
    """Makes the text deltas of one answer valid Unicode, whatever the JSON escapes held.

    A server that cuts text by UTF-16 code units can split a surrogate pair across two
    chunks (``"\\ud83d"`` then ``"\\ude00"``): the halves are joined again. Any surrogate
    left unpaired becomes U+FFFD, as invalid UTF-8 bytes already do when decoded.
    """

    def __init__(self) -> None:
        self._high = ""

    def feed(self, text: str) -> str:
        text, self._high = self._high + text, ""
        if text and "\ud800" <= text[-1] <= "\udbff":
            text, self._high = text[:-1], text[-1]
        return valid_unicode(text)

    def flush(self) -> str:
        """What is still held back at the end of the answer (an unpaired half, as U+FFFD)."""
        text, self._high = self._high, ""
        return valid_unicode(text)


class SseEvents(AsyncIterator[str]):
    """The ``data`` payloads of an SSE stream, in order, ending at ``[DONE]``.

    After iteration, :attr:`done` tells whether the ``[DONE]`` terminator arrived;
    a stream that simply stops without it was cut short.
    """

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self.done = False
        self._events = self._read(lines)

    def __aiter__(self) -> SseEvents:
        return self

    async def __anext__(self) -> str:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()

    async def _read(self, lines: AsyncIterator[str]) -> AsyncGenerator[str, None]:
        data: list[str] = []
        async for raw in lines:
            line = raw.rstrip("\r\n")
            if line:
                _collect(line, data)
                continue
            if data:
                payload, data = "\n".join(data), []
                if self._terminates(payload):
                    return
                yield payload
        # Lenient: an event not followed by its blank line still counts at the end of the stream.
        if data and not self._terminates(payload := "\n".join(data)):
            yield payload

    def _terminates(self, payload: str) -> bool:
        self.done = payload.strip() == DONE
        return self.done


def _collect(line: str, data: list[str]) -> None:
    """Add a ``data`` field's value to the pending event; comments and other fields are ignored."""
    if line.startswith(":"):
        return
    name, _, value = line.partition(":")
    if name == "data":
        data.append(value.removeprefix(" "))


def sse_events(lines: AsyncIterator[str]) -> SseEvents:
    """Yield each event's ``data`` payload; check ``.done`` afterwards for the ``[DONE]`` terminator."""
    return SseEvents(lines)


def json_object(text: str, provider: str | None = None) -> dict[str, Any]:
    """Parse one JSON object from a stream; anything else is a bad response.

    The message quotes the parser's complaint, never the payload (it could echo a secret).
    """
    try:
        value = json.loads(text)
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "undecodable text"
        raise ProviderError(ErrorKind.BAD_RESPONSE, f"malformed JSON in stream: {reason}", provider=provider) from None
    if not isinstance(value, dict):
        raise ProviderError(
            ErrorKind.BAD_RESPONSE,
            f"expected a JSON object in stream, got {type(value).__name__}",
            provider=provider,
        )
    return value


async def ndjson_objects(lines: AsyncIterator[str], provider: str | None = None) -> AsyncIterator[dict[str, Any]]:
    """Yield one parsed object per non-blank line."""
    async for line in lines:
        if line.strip():
            yield json_object(line, provider)
