"""OpenAI's Chat Completions API, and every custom endpoint that copies it (LM Studio, vLLM, llama.cpp, ...).

See ``reference/providers-next.md`` §3. Errors are ``{"error": {"message", "type", "param", "code"}}``;
two 429s mean opposite things: ``rate_limit_exceeded`` frees when the ``x-ratelimit-reset-*`` Go
durations run out, ``insufficient_quota`` is money gone and frees only by billing. Stream usage
comes only when asked for (``stream_options.include_usage``), in a ``choices: []`` chunk before
``[DONE]``. Responses carry no cost: the gate prices them from the catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.providers.classify import clean, context_exceeded, http_status, kind_for_status
from llmroute.providers.openai_wire import OpenAIWireAdapter
from llmroute.providers.resets import GO_DURATION, delay_in_text, limit_reset, parse_go_duration, retry_hint

if TYPE_CHECKING:
    from llmroute.providers.http import ClientPool

OFFICIAL_NAME = "openai"
OFFICIAL_HOST = "api.openai.com"

#: ``code`` / ``type`` values of errors that carry no HTTP status (inside a 200 stream).
_CODE_KINDS: dict[str, ErrorKind] = {
    **dict.fromkeys(("rate_limit_exceeded", "requests", "tokens"), ErrorKind.RATE_LIMITED),
    "insufficient_quota": ErrorKind.QUOTA,
    **dict.fromkeys(
        ("invalid_api_key", "authentication_error", "unsupported_country_region_territory"), ErrorKind.AUTH
    ),
    "model_not_found": ErrorKind.MODEL_NOT_FOUND,
    **dict.fromkeys(("invalid_request_error", "context_length_exceeded"), ErrorKind.BAD_REQUEST),
    "server_error": ErrorKind.SERVER,
}
#: Texts of a model this endpoint will never serve on Chat Completions (the Responses API only, or no chat).
_UNSERVED_TEXTS = ("only supported in v1/responses", "not a chat model")
#: "Please try again in 644ms." / "in 20s." / "in 2m59.56s."
_TRY_AGAIN = re.compile(rf"try again in ({GO_DURATION})")


class OpenAIAdapter(OpenAIWireAdapter):
    """OpenAI (``https://api.openai.com/v1``) or any OpenAI-compatible endpoint, with a key or keyless.

    ``official`` picks the real OpenAI's dialect, ``max_completion_tokens`` (its reasoning models
    reject ``max_tokens``); custom servers know ``max_tokens`` only. By default it is the real
    OpenAI when the provider is named ``openai`` or the base URL is ``api.openai.com``.
    """

    include_usage = True

    def __init__(
        self,
        name: str,
        base_url: str,
        clients: ClientPool,
        *,
        local: bool = False,
        headers: Iterable[tuple[str, str]] = (),
        official: bool | None = None,
    ) -> None:
        super().__init__(name, base_url, clients, local=local, headers=headers)
        if official is None:
            official = name == OFFICIAL_NAME or urlsplit(self.base_url).hostname == OFFICIAL_HOST
        self.max_tokens_field = "max_completion_tokens" if official else "max_tokens"

    def classify(
        self, status: int, error: Mapping[str, Any], headers: Mapping[str, str], secrets: tuple[str, ...], now: float
    ) -> ProviderError:
        return classify_error(status, error, headers, secrets, now, self.name)


def classify_error(
    status: int,
    error: Mapping[str, Any],
    headers: Mapping[str, str],
    secrets: Iterable[str],
    now: float,
    provider: str | None = None,
) -> ProviderError:
    """Classify one OpenAI error object (from an HTTP error body or a ``data: {"error": ...}`` stream line).

    ``status`` is the HTTP status; for an error inside a 200 its ``code`` / ``type`` decide instead.
    A rate limit frees exactly when the provider says: ``retry-after-ms`` / ``retry-after``, else the
    reset of the exhausted limit, else the message's "try again in"; never a guess.
    """
    code, kind_name = _word(error.get("code")), _word(error.get("type"))
    text = str(error.get("message") or "").lower()
    http = status if status >= 400 else http_status(error.get("code"))
    kind = kind_for_status(http) if http else _CODE_KINDS.get(code) or _CODE_KINDS.get(kind_name) or ErrorKind.SERVER
    retry_at = retry_hint(headers, now)
    cause: Cause | None = None
    if "insufficient_quota" in (code, kind_name):
        kind, retry_at = ErrorKind.QUOTA, None  # money gone: no reset will help, billing will
    elif "request too large" in text:
        # This request alone exceeds the key's tokens per minute: waiting never lets it through (the failure
        # table leaves the key usable for smaller requests and moves on to a key that may take it).
        kind, retry_at, cause = ErrorKind.RATE_LIMITED, None, Cause.REQUEST_SIZE
    elif kind is ErrorKind.RATE_LIMITED:
        retry_at = retry_at or limit_reset(headers, now, parse_go_duration)
        retry_at = retry_at or delay_in_text(text, _TRY_AGAIN, parse_go_duration, now)
    elif code == "model_not_found" or (not (http and http >= 500) and any(t in text for t in _UNSERVED_TEXTS)):
        kind = ErrorKind.MODEL_NOT_FOUND
    elif context_exceeded(kind, code, text):
        cause = Cause.CONTEXT_LENGTH
    message = clean(str(error.get("message") or ""), secrets) or "provider returned an error"
    return ProviderError(kind, message, status=http or status, retry_at=retry_at, provider=provider, cause=cause)


def _word(value: object) -> str:
    return value if isinstance(value, str) else ""
