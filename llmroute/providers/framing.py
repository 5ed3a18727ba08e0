"""Turning streamed lines into events: Server-Sent Events and newline-delimited JSON.

Both work on an async iterator of text lines (``httpx.Response.aiter_lines()``)
and yield as soon as an event is complete, so nothing is buffered beyond one event.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from llmroute.errors import ErrorKind, ProviderError

DONE = "[DONE]"


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
