"""Classification shared by every adapter: statuses, reset headers, transport failures, garbage bodies.

Provider text reaches an error message only through :func:`clean`, which redacts
the key's secret first and then squeezes the text onto one short line. httpx is
imported lazily so that importing the adapters stays cheap for the CLI.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from llmroute.errors import ErrorKind, ProviderError
from llmroute.keys import redact

if TYPE_CHECKING:
    from llmroute.types import Candidate

#: Longest piece of provider text that goes into one error message.
MESSAGE_LIMIT = 240
#: A reset value below this is read as epoch seconds; above it, as milliseconds (1e11 s is year 5138).
_MS_THRESHOLD = 1e11

_STATUS_KINDS: dict[int, ErrorKind] = {
    400: ErrorKind.BAD_REQUEST,
    401: ErrorKind.AUTH,
    402: ErrorKind.QUOTA,
    403: ErrorKind.AUTH,
    404: ErrorKind.MODEL_NOT_FOUND,
    408: ErrorKind.TIMEOUT,
    413: ErrorKind.BAD_REQUEST,
    422: ErrorKind.BAD_REQUEST,
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.SERVER,
    502: ErrorKind.SERVER,
    503: ErrorKind.OVERLOADED,
    504: ErrorKind.TIMEOUT,
    524: ErrorKind.TIMEOUT,
    529: ErrorKind.OVERLOADED,
}


def kind_for_status(status: int) -> ErrorKind:
    """The default kind of an HTTP error status; adapters refine it from the body."""
    if status in _STATUS_KINDS:
        return _STATUS_KINDS[status]
    if 500 <= status < 600:
        return ErrorKind.SERVER
    if 400 <= status < 500:
        return ErrorKind.BAD_REQUEST
    return ErrorKind.BAD_RESPONSE


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` (delay in seconds or an HTTP-date) as an epoch time, never before ``now``."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return now + max(0.0, float(text))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(now, when.timestamp())


def parse_reset_ms(value: object) -> float | None:
    """OpenRouter ``X-RateLimit-Reset`` (epoch milliseconds) as epoch seconds.

    A value that is clearly already seconds (below 1e11) is taken as seconds.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if number <= 0:
        return None
    return number / 1000 if number >= _MS_THRESHOLD else number


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A header value looked up case-insensitively in any mapping (response headers or a JSON dict)."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted and value is not None:
            return str(value)
    return None


def key_secrets(candidate: Candidate) -> tuple[str, ...]:
    """The secrets to redact from anything a provider says back to this candidate."""
    return (candidate.key.secret,) if candidate.key is not None else ()


def clean(text: str, secrets: Iterable[str], limit: int = MESSAGE_LIMIT) -> str:
    """Provider text made fit for a message: secrets redacted, one line, at most ``limit`` characters."""
    line = " ".join(redact(text, secrets).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def load_json(body: bytes | str) -> Any | None:
    """Parse a body that may be garbage (blank lines first, invalid UTF-8, an HTML page); None if not JSON."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        return json.loads(text)
    except ValueError:
        return None


def body_excerpt(status: int, body: bytes, secrets: Iterable[str]) -> str:
    """The message for an error body that is not the provider's documented shape."""
    text = clean(body.decode("utf-8", errors="replace"), secrets, limit=120)
    return f"HTTP {status}: {text}" if text else f"HTTP {status} with an empty body"


def transport_error(exc: Exception, provider: str | None) -> ProviderError:
    """Map an httpx exception (no response, or a body cut short) to a classified error."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a free connection",
        }.get(type(exc), "waiting for data")
        return ProviderError(ErrorKind.TIMEOUT, f"timed out {phase}", provider=provider)
    if isinstance(exc, httpx.DecodingError):
        return ProviderError(ErrorKind.BAD_RESPONSE, "response body could not be decoded", provider=provider)
    detail = " ".join(str(exc).split())[:MESSAGE_LIMIT] or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return ProviderError(ErrorKind.CONNECTION, f"could not connect: {detail}", provider=provider)
    return ProviderError(ErrorKind.CONNECTION, f"connection failed: {detail}", provider=provider)


def as_int(value: object) -> int | None:
    """An integer from JSON that may spell it as a number or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    return None


def as_number(value: object) -> float | None:
    """A finite number from JSON that may spell it as a number or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def as_dict(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one: lets parsers walk untrusted shapes safely."""
    return value if isinstance(value, dict) else {}
