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
#: Longest quote of a body that is not the provider's documented error shape.
_EXCERPT = 120
#: How far into an HTML error page its ``<title>`` is looked for.
_TITLE_SEARCH = 4096
_SURROGATE = re.compile("[\ud800-\udfff]")
#: What provider text never brings into a message: C0/C1 controls (ESC starts terminal escapes), DEL,
#: and invisible format characters such as bidirectional overrides and zero-width spaces.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
#: Largest count or status a JSON number may give: what the ledger's 64-bit integers hold.
INT_LIMIT = 2**63 - 1
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
        delay = float(text)
    except ValueError:
        pass
    else:
        return now + max(0.0, delay) if math.isfinite(delay) else None
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
    if not math.isfinite(number) or number <= 0:
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
    """Provider text made fit for a message: secrets redacted, one line of printable text, valid Unicode,
    at most ``limit`` characters."""
    line = " ".join(_UNPRINTABLE.sub(" ", valid_unicode(redact(text, secrets))).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def valid_unicode(text: str) -> str:
    """``text`` with surrogate pairs joined and lone surrogates (from JSON escapes) replaced by U+FFFD."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def load_json(body: bytes | str) -> Any | None:
    """Parse a body that may be garbage (blank lines first, invalid UTF-8, an HTML page); None if not JSON."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        return json.loads(text)
    except ValueError:
        return None


def body_excerpt(status: int, body: bytes, secrets: Iterable[str]) -> str:
    """The message for an error body that is not the provider's documented shape.

    An HTML page whose ``<title>`` lies past the excerpt (Cloudflare's pages open with a kilobyte
    of conditional comments and styles) is quoted from its title on.
    """
    text = body.decode("utf-8", errors="replace")
    title = text.find("<title>", 0, _TITLE_SEARCH)
    if title > 0 and "<title>" not in clean(text[: title + 7], (), limit=_EXCERPT):
        text = text[title:]
    excerpt = clean(text, secrets, limit=_EXCERPT)
    return f"HTTP {status}: {excerpt}" if excerpt else f"HTTP {status} with an empty body"


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
    detail = " ".join(_reason(exc).split())[:MESSAGE_LIMIT]
    if isinstance(exc, httpx.ConnectError):
        return ProviderError(ErrorKind.CONNECTION, f"could not connect: {detail}", provider=provider, unreachable=True)
    return ProviderError(ErrorKind.CONNECTION, f"connection failed: {detail}", provider=provider)


def _reason(exc: BaseException) -> str:
    """What went wrong, in words: httpx often wraps an empty-worded error around the OS's reason
    (a reset connection reads ``ReadError`` with no text, caused by ``[Errno 104] Connection reset by peer``)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if str(seen).strip():
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__


def as_int(value: object) -> int | None:
    """A count from JSON that may spell it as a number or a numeric string; None unless 0 <= n <= ``INT_LIMIT``."""
    whole = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )
    digits = isinstance(value, str) and re.fullmatch(r"\s*\d{1,19}\s*", value)
    if not (whole or digits):
        return None
    number = int(value)  # type: ignore[arg-type]
    return number if 0 <= number <= INT_LIMIT else None


def as_number(value: object) -> float | None:
    """A finite number from JSON that may spell it as a number or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):  # OverflowError: a JSON integer beyond any float, such as 10**400
        return None
    return number if math.isfinite(number) else None


def as_dict(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one: lets parsers walk untrusted shapes safely."""
    return value if isinstance(value, dict) else {}
