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

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.keys import redact

if TYPE_CHECKING:
    import httpx

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

#: How providers say a prompt is longer than the model's context: OpenAI's, Azure's and OpenRouter's code
#: ``context_length_exceeded`` and "This model's maximum context length is ..." (vLLM and Ollama's ``/v1`` word it
#: alike), Anthropic's and Bedrock's "prompt is too long" / "Input is too long for requested model" / "input length
#: and `max_tokens` exceed context limit", Gemini's "The input token count (N) exceeds the maximum number of tokens
#: allowed", Ollama's "input length exceeds the context length", Workers AI's "exceeded this model context window
#: limit".
_CONTEXT_EXCEEDED = re.compile(
    r"context_length_exceeded|maximum context length|prompt is too long|input is too long|"
    r"exceeds? (?:the )?context (?:length|limit|window)|exceeded this model context window|"
    r"input token count.{0,40}exceeds the maximum",
    re.IGNORECASE,
)

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


def context_exceeded(kind: ErrorKind, *said: object) -> bool:
    """A refused request whose error (its code, type or message: ``said``) says the prompt is longer than the
    model's context: :attr:`~llmroute.errors.Cause.CONTEXT_LENGTH`, which moves on to a larger model."""
    return kind is ErrorKind.BAD_REQUEST and any(
        isinstance(text, str) and _CONTEXT_EXCEEDED.search(text) for text in said
    )


def http_status(value: object) -> int | None:
    """An in-body error's ``code`` (a number or numeric string), when it is an HTTP error status."""
    code = as_int(value)
    return code if code is not None and 400 <= code <= 599 else None


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


def transport_error(exc: Exception, provider: str | None, secrets: Iterable[str] = ()) -> ProviderError:
    """Map an httpx exception (no response, or a body cut short) to a classified error.

    The message names the endpoint as its origin (``scheme://host:port``, never the path or query)
    and says in words what went wrong: refused, unresolvable, timed out, reset. A host that could
    not be reached at all (any connect failure) is ``Cause.UNREACHABLE``; a connection that broke
    once made is not.
    """
    import httpx

    where = _origin(exc)
    if isinstance(exc, httpx.TimeoutException):
        phase, preposition = {
            httpx.ConnectTimeout: ("connecting", "to"),
            httpx.WriteTimeout: ("sending the request", "to"),
            httpx.PoolTimeout: ("waiting for a free connection", "to"),
        }.get(type(exc), ("waiting for data", "from"))
        text = f"timed out {phase} {preposition} {where}" if where else f"timed out {phase}"
        return ProviderError(ErrorKind.TIMEOUT, clean(text, secrets), provider=provider)
    if isinstance(exc, httpx.DecodingError):
        text = f"response body from {where} could not be decoded" if where else "response body could not be decoded"
        return ProviderError(ErrorKind.BAD_RESPONSE, clean(text, secrets), provider=provider)
    detail = _reason(exc)
    failure = _network_failure(exc)
    if isinstance(exc, httpx.ConnectError):
        if failure == "unresolved":
            host = _host(exc)
            text = f"could not resolve {host} ({where})" if host and where else f"could not resolve the host: {detail}"
        elif failure == "refused":
            text = f"{where or 'the host'} refused the connection"
        else:
            text = f"could not connect to {where}: {detail}" if where else f"could not connect: {detail}"
        return ProviderError(ErrorKind.CONNECTION, clean(text, secrets), provider=provider, cause=Cause.UNREACHABLE)
    if failure == "reset":
        text = f"connection to {where} was reset" if where else "the connection was reset"
    else:
        text = f"connection to {where} failed: {detail}" if where else f"connection failed: {detail}"
    return ProviderError(ErrorKind.CONNECTION, clean(text, secrets), provider=provider)


def _origin(exc: Exception) -> str | None:
    """``scheme://host[:port]`` of the request ``exc`` failed on; None if httpx did not attach one.

    Only the origin: no user info, path or query (where a key could hide), the host in its ASCII form.
    """
    url = _request_url(exc)
    if url is None or not url.scheme or not url.netloc:
        return None
    return f"{url.scheme}://{url.netloc.decode('ascii', errors='replace')}"


def _host(exc: Exception) -> str | None:
    url = _request_url(exc)
    return url.host if url is not None and url.host else None


def _request_url(exc: Exception) -> httpx.URL | None:
    try:
        return exc.request.url  # type: ignore[attr-defined, no-any-return]
    except (AttributeError, RuntimeError):  # RuntimeError: httpx's "The .request property has not been set."
        return None


#: What a network failure reads like when only its text survives (a mocked exception, a wrapped OS error).
_FAILURE_TEXTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "unresolved",
        re.compile(
            r"name or service not known|nodename nor servname|getaddrinfo failed|"
            r"temporary failure in name resolution|no address associated with hostname",
            re.IGNORECASE,
        ),
    ),
    ("refused", re.compile(r"connection refused|actively refused|errno 111\b", re.IGNORECASE)),
    ("reset", re.compile(r"connection reset|forcibly closed|errno 104\b", re.IGNORECASE)),
)


def _network_failure(exc: BaseException) -> str | None:
    """``"unresolved"``, ``"refused"`` or ``"reset"`` when the OS error behind ``exc`` says which; else None.

    httpx wraps the OS's error (anyio's "All connection attempts failed" hides a
    ``ConnectionRefusedError``, one per address tried, in its cause), so the whole chain is read.
    """
    import socket

    chain = _chain(exc)
    for failure, types in (
        ("unresolved", (socket.gaierror,)),
        ("refused", (ConnectionRefusedError,)),
        ("reset", (ConnectionResetError,)),
    ):
        if any(isinstance(seen, types) for seen in chain):
            return failure
    for failure, pattern in _FAILURE_TEXTS:
        if any(pattern.search(str(seen)) for seen in chain):
            return failure
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what lies behind it (causes, contexts, members of exception groups), each once."""
    found: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(found) < 32:
        seen = todo.pop(0)
        if seen is None or any(seen is known for known in found):
            continue
        found.append(seen)
        if isinstance(seen, BaseExceptionGroup):
            todo.extend(seen.exceptions)
        todo.extend((seen.__cause__, seen.__context__))
    return found


def _reason(exc: BaseException) -> str:
    """What went wrong, in words: httpx often wraps an empty-worded error around the OS's reason
    (a reset connection reads ``ReadError`` with no text, caused by ``[Errno 104] Connection reset by peer``)."""
    for seen in _chain(exc):
        if str(seen).strip():
            return str(seen)
    return type(exc).__name__


def as_int(value: object) -> int | None:
    """A count from JSON that may spell it as a number or a numeric string; None unless 0 <= n <= ``INT_LIMIT``."""
    whole = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )
    # ASCII digits between blanks only: ``\s`` and ``\d`` would also admit characters ``int`` refuses (U+001F).
    digits = re.fullmatch(r"[ \t\r\n]*([0-9]{1,19})[ \t\r\n]*", value) if isinstance(value, str) else None
    if not (whole or digits):
        return None
    number = int(digits.group(1)) if digits else int(value)  # type: ignore[arg-type]
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
