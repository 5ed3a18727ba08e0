"""OpenRouter: OpenAI-style chat completions over SSE, with OpenRouter's own error and limit conventions.

See ``reference/providers.md`` §1: errors may arrive as an HTTP status, inside a
200 body, or as a stream chunk; ``X-RateLimit-Reset`` is in epoch milliseconds;
the final usage chunk comes in several shapes and carries the cost in USD.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.providers.classify import (
    INT_LIMIT,
    as_dict,
    as_number,
    clean,
    context_exceeded,
    header,
    http_status,
    kind_for_status,
    parse_reset_ms,
    parse_retry_after,
)
from llmroute.providers.openai_wire import OpenAIWireAdapter
from llmroute.providers.openrouter_catalog import key_info, model_info
from llmroute.types import Candidate, ChatRequest, KeyInfo, ModelInfo, Usage

if TYPE_CHECKING:
    from llmroute.keys import KeySlot
    from llmroute.providers.http import ClientPool

#: A 402 that asks for "fewer max_tokens" may pass again with a smaller request; look again after this.
AFFORDABILITY_RETRY_SECONDS = 300.0

#: Typed ``error_type`` / string ``code`` values for in-body errors that carry no numeric status.
_ERROR_TYPE_KINDS: dict[str, ErrorKind] = {
    **dict.fromkeys(("rate_limit_exceeded", "rate_limit_error"), ErrorKind.RATE_LIMITED),
    **dict.fromkeys(("authentication", "permission_denied"), ErrorKind.AUTH),
    **dict.fromkeys(("server", "server_error"), ErrorKind.SERVER),
    **dict.fromkeys(("provider_overloaded", "provider_unavailable"), ErrorKind.OVERLOADED),
    "payment_required": ErrorKind.QUOTA,
    "not_found": ErrorKind.MODEL_NOT_FOUND,
    "timeout": ErrorKind.TIMEOUT,
    **dict.fromkeys(
        (
            "context_length_exceeded",
            "max_tokens_exceeded",
            "invalid_request",
            "invalid_prompt",
            "payload_too_large",
            "content_policy_violation",
        ),
        ErrorKind.BAD_REQUEST,
    ),
}
_MODERATION_WORDS = ("blocked", "flagged", "moderation", "guardrail")
#: Availability codes that say this provider will not serve this model to us, whatever the key (ref §1.7).
_UNSERVED = frozenset({"model_not_found", "region_restricted"})
#: OpenRouter's own caps on ``:free`` models, account-wide (ref §1.8): the message names them, and newer
#: bodies also say ``metadata.limit_source``. "per-day" also matches "free-models-per-day-high-balance".
_FREE_PER_DAY = "free-models-per-day"
_FREE_PER_MINUTE = "free-models-per-min"
_FREE_DAILY_SOURCE = "openrouter_free_tier_daily"


class OpenRouterAdapter(OpenAIWireAdapter):
    """The OpenAI wire plus OpenRouter's attribution headers, error dialect, reported cost and key report."""

    reports_key_limits = True  # GET /key: free_model_daily_requests
    protocol = "openrouter"

    def __init__(
        self,
        name: str,
        base_url: str,
        clients: ClientPool,
        *,
        local: bool = False,
        headers: Iterable[tuple[str, str]] = (),
        app_url: str = "https://github.com/llmroute/llmroute",
        app_title: str = "llmroute",
    ) -> None:
        super().__init__(name, base_url, clients, local=local, headers=headers)
        self._app_url = app_url
        self._app_title = app_title

    def request_headers(self, candidate: Candidate, request: ChatRequest) -> dict[str, str]:
        attribution = {
            "HTTP-Referer": self._app_url,
            "X-OpenRouter-Title": self._app_title,
            "X-Title": self._app_title,
            "X-OpenRouter-Categories": "cli-agent",
        }
        return {**attribution, **super().request_headers(candidate, request)}

    def classify(
        self, status: int, error: Mapping[str, Any], headers: Mapping[str, str], secrets: tuple[str, ...], now: float
    ) -> ProviderError:
        return classify_error(status, error, headers, secrets, now, self.name)

    def usage(self, data: object) -> Usage:
        """Tokens, and the cost OpenRouter reports in USD (``usage.cost``) as micro-dollars."""
        usage = super().usage(data)
        cost = as_number(data.get("cost")) if isinstance(data, dict) else None
        if cost is None or not 0 <= cost * 1_000_000 <= INT_LIMIT:
            return usage
        return replace(usage, cost_micros=round(cost * 1_000_000))

    async def list_models(self, slot: KeySlot, *, timeout: float) -> list[ModelInfo]:
        """``GET /models``: public, so the key is sent only because it is harmless."""
        rows = (await self.get_json(f"{self.base_url}/models", slot, timeout)).get("data")
        if not isinstance(rows, list):
            raise ProviderError(ErrorKind.BAD_RESPONSE, "the model list has no data", provider=self.name)
        return [info for row in rows if (info := model_info(self.name, row)) is not None]

    async def probe_key(self, slot: KeySlot, *, timeout: float) -> KeyInfo:
        """``GET /key`` answers only to a valid key, and says what the key may still spend."""
        data = (await self.get_json(f"{self.base_url}/key", slot, timeout)).get("data")
        if not isinstance(data, dict):
            raise ProviderError(ErrorKind.BAD_RESPONSE, "the key report has no data", provider=self.name)
        return key_info(data)


def classify_error(
    status: int,
    error: Mapping[str, Any],
    headers: Mapping[str, str],
    secrets: Iterable[str],
    now: float,
    provider: str | None = None,
) -> ProviderError:
    """Classify one OpenRouter error object (from an HTTP error body, a 200 body or a stream chunk).

    ``status`` is the HTTP status; for an error inside a 200 the object's own
    ``code`` (int or numeric string) or ``http_status`` decides instead.
    """
    code = status if status >= 400 else http_status(error.get("code")) or http_status(error.get("http_status"))
    metadata = as_dict(error.get("metadata"))
    text = str(error.get("message") or "").lower()
    availability = as_dict(error.get("availability")).get("code")
    kind = kind_for_status(code) if code else _kind_for_type(error, metadata)
    retry_at = parse_retry_after(_limit_header(headers, metadata, "Retry-After"), now)
    reset = parse_reset_ms(_limit_header(headers, metadata, "X-RateLimit-Reset"))
    free_cap = _free_model_cap(code, text, metadata)
    cause = Cause.FREE_MODELS if free_cap else None
    if free_cap == "day":
        kind, retry_at = ErrorKind.QUOTA, reset or retry_at
    elif kind is ErrorKind.RATE_LIMITED and retry_at is None:
        retry_at = reset or _seconds_from(metadata.get("retry_after_seconds"), now)
    elif (code == 400 and "is not a valid model id" in text) or availability in _UNSERVED:
        kind = ErrorKind.MODEL_NOT_FOUND
    elif context_exceeded(kind, metadata.get("error_type"), error.get("error_type"), text):
        cause = Cause.CONTEXT_LENGTH
    elif code == 403 and (metadata.get("reasons") or any(w in text for w in _MODERATION_WORDS)):
        kind = ErrorKind.BAD_REQUEST
    elif code == 402 and "fewer max_tokens" in text and retry_at is None:
        retry_at = now + AFFORDABILITY_RETRY_SECONDS
    message = _message(error, metadata, tuple(secrets))
    return ProviderError(kind, message, status=code or status, retry_at=retry_at, provider=provider, cause=cause)


def _free_model_cap(code: int | None, text: str, metadata: Mapping[str, Any]) -> str | None:
    """``"day"`` or ``"minute"`` when a 429 is OpenRouter's own cap on free models, else None.

    Only the platform's caps count: an upstream provider's "Provider returned error" 429 for a
    ``:free`` model, or a per-model shared-capacity limit, concerns that model, not free models.
    """
    if code != 429:
        return None
    if _FREE_PER_DAY in text or metadata.get("limit_source") == _FREE_DAILY_SOURCE:
        return "day"
    return "minute" if _FREE_PER_MINUTE in text else None


def _kind_for_type(error: Mapping[str, Any], metadata: Mapping[str, Any]) -> ErrorKind:
    for value in (error.get("code"), error.get("error_type"), metadata.get("error_type"), error.get("type")):
        if isinstance(value, str) and value in _ERROR_TYPE_KINDS:
            return _ERROR_TYPE_KINDS[value]
    return ErrorKind.SERVER


def _limit_header(headers: Mapping[str, str], metadata: Mapping[str, Any], name: str) -> str | None:
    """A rate-limit header from the response, else its copy in ``error.metadata.headers``."""
    return header(headers, name) or header(as_dict(metadata.get("headers")), name)


def _seconds_from(value: object, now: float) -> float | None:
    seconds = as_number(value)
    return now + seconds if seconds is not None and seconds >= 0 else None


def _message(error: Mapping[str, Any], metadata: Mapping[str, Any], secrets: tuple[str, ...]) -> str:
    text = clean(str(error.get("message") or ""), secrets) or "provider returned an error"
    raw = clean(str(metadata.get("raw") or ""), secrets, limit=120)
    return clean(f"{text}: {raw}" if raw else text, secrets)
