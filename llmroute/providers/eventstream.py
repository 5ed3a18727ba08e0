"""The AWS event-stream framing (``application/vnd.amazon.eventstream``), decoded incrementally.

Bedrock's ConverseStream answers in these binary frames (see ``reference/providers-next.md`` §6)::

    | total length u32 | headers length u32 | prelude CRC32 u32 |   the prelude: CRC32 of the first 8 bytes
    | headers (headers length bytes) | payload | message CRC32 u32 |   CRC32 of every byte before it

    header := name length u8 | name (UTF-8) | value type u8 | value
    value types: 0 true, 1 false, 2 i8, 3 i16, 4 i32, 5 i64, 6 bytes (u16 length), 7 string (u16 length),
                 8 timestamp (i64 ms), 9 UUID (16 bytes); all integers big-endian

:class:`EventStreamDecoder` takes the bytes as they arrive, in pieces of any size, and returns each message as soon
as its last byte is in: nothing is buffered beyond the one message being read. Both checksums are verified and
every length is bounds-checked before it is trusted; anything wrong raises :class:`FrameError` (the adapter makes
it a classified bad response), never an ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

PRELUDE = 12
"""Bytes of the prelude: the two lengths and the prelude's checksum."""
OVERHEAD = 16
"""Bytes of a message that are neither headers nor payload: the prelude and the message checksum."""
MAX_HEADERS = 128 * 1024
"""Longest headers section the format allows."""
MAX_MESSAGE = 16 * 1024 * 1024 + MAX_HEADERS + OVERHEAD
"""Longest message accepted: a 16 MiB payload (the format's limit) with full headers. A longer length in a prelude
is garbage, refused before a byte of it is buffered."""

_PRELUDE = struct.Struct(">III")
_CRC = struct.Struct(">I")
#: Fixed sizes of the value types that carry no length of their own.
_FIXED = {2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
_SIGNED = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}

HeaderValue = bool | int | bytes | str


class FrameError(ValueError):
    """The bytes are not a valid event stream (a checksum, a length or a header that does not hold)."""


@dataclass(frozen=True)
class Message:
    """One decoded frame: its headers (``:message-type``, ``:event-type``, ...) and its raw payload."""

    headers: dict[str, HeaderValue]
    payload: bytes

    def header(self, name: str) -> str | None:
        """A string header's value (None when absent or not a string)."""
        value = self.headers.get(name)
        return value if isinstance(value, str) else None


class EventStreamDecoder:
    """Feed it bytes, get whole messages back; :meth:`close` at the end says whether a frame was left unfinished."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._length: int | None = None  # the total length of the message being read, once its prelude checked out

    @property
    def pending(self) -> int:
        """Bytes held of a message not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        """The messages ``data`` completes, in order; raises :class:`FrameError` at the first bad frame."""
        self._buffer += data
        messages: list[Message] = []
        while (message := self._next()) is not None:
            messages.append(message)
        return messages

    def close(self) -> None:
        """The stream ended: raise :class:`FrameError` if it ended inside a frame."""
        if self._buffer:
            held = len(self._buffer)
            expected = f" of {self._length}" if self._length is not None else ""
            raise FrameError(f"the stream ended inside a frame ({held}{expected} bytes received)")

    def _next(self) -> Message | None:
        buffer = self._buffer
        if self._length is None:
            if len(buffer) < PRELUDE:
                return None
            total, headers_length, prelude_crc = _PRELUDE.unpack_from(buffer)
            if zlib.crc32(buffer[:8]) != prelude_crc:
                raise FrameError("prelude checksum mismatch")
            if not OVERHEAD <= total <= MAX_MESSAGE:
                raise FrameError(f"frame length {total} out of bounds")
            if headers_length > min(MAX_HEADERS, total - OVERHEAD):
                raise FrameError(f"headers length {headers_length} out of bounds for a {total}-byte frame")
            self._length = total
        total = self._length
        if len(buffer) < total:
            return None
        view = memoryview(buffer)
        try:
            (message_crc,) = _CRC.unpack_from(view, total - 4)
            if zlib.crc32(view[: total - 4]) != message_crc:
                raise FrameError("message checksum mismatch")
            (headers_length,) = _CRC.unpack_from(view, 4)
            headers = parse_headers(bytes(view[PRELUDE : PRELUDE + headers_length]))
            payload = bytes(view[PRELUDE + headers_length : total - 4])
        finally:
            view.release()
        del buffer[:total]
        self._length = None
        return Message(headers, payload)


def parse_headers(data: bytes) -> dict[str, HeaderValue]:
    """The headers section of one frame; a name or value running past its end is a :class:`FrameError`."""
    headers: dict[str, HeaderValue] = {}
    at, end = 0, len(data)
    while at < end:
        name_length = data[at]
        at += 1
        if at + name_length + 1 > end:
            raise FrameError("header name runs past the headers")
        try:
            name = data[at : at + name_length].decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("header name is not UTF-8") from None
        at += name_length
        kind = data[at]
        at += 1
        value: HeaderValue
        if kind in (0, 1):
            value = kind == 0
        elif kind in _FIXED:
            size = _FIXED[kind]
            if at + size > end:
                raise FrameError(f"header {name!r} runs past the headers")
            raw = data[at : at + size]
            value = raw if kind == 9 else struct.unpack(_SIGNED[kind], raw)[0]
            at += size
        elif kind in (6, 7):
            if at + 2 > end:
                raise FrameError(f"header {name!r} runs past the headers")
            size = int.from_bytes(data[at : at + 2], "big")
            at += 2
            if at + size > end:
                raise FrameError(f"header {name!r} runs past the headers")
            raw = data[at : at + size]
            at += size
            if kind == 6:
                value = raw
            else:
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise FrameError(f"header {name!r} is not UTF-8") from None
        else:
            raise FrameError(f"header {name!r} has unknown value type {kind}")
        headers[name] = value
    return headers
