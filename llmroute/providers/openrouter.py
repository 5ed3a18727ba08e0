"""OpenRouter: OpenAI-style chat completions over SSE, with OpenRouter's own error and limit conventions.

See ``reference/providers.md`` §1: errors may arrive as an HTTP status, inside a
200 body, or as a stream chunk; ``X-RateLimit-Reset`` is in epoch milliseconds;
the final usage chunk comes in several shapes and carries the cost in USD.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.providers.base import HttpChatAdapter
from llmroute.providers.classify import (
    as_dict,
    as_int,
    as_number,
    body_excerpt,
    clean,
    INT_LIMIT,
    header,
    kind_for_status,
    load_json,
    parse_reset_ms,
    parse_retry_after,
    transport_error,
    valid_unicode,
)
from llmroute.providers.framing import TextRepair, json_object, sse_events, text_lines
from llmroute.providers.openrouter_catalog import key_info, model_info
from llmroute.types import (
    Candidate,
    ChatRequest,
    KeyInfo,
    ModelInfo,
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    Usage,
)

if TYPE_CHECKING:
    import httpx

    from llmroute.keys import ApiKey
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


class OpenRouterAdapter(HttpChatAdapter):
    chat_path = "/chat/completions"
    reports_key_limits = True  # GET /key: free_model_daily_requests

    def __init__(
        self,
        name: str,
        base_url: str,
        clients: ClientPool,
        *,
        app_url: str = "https://github.com/llmroute/llmroute",
        app_title: str = "llmroute",
    ) -> None:
        super().__init__(name, base_url, clients)
        self._app_url = app_url
        self._app_title = app_title

    def request_body(self, candidate: Candidate, request: ChatRequest) -> dict[str, Any]:
        return _body(candidate, request)

    def request_headers(self, candidate: Candidate, request: ChatRequest) -> dict[str, str]:
        headers = {
            "HTTP-Referer": self._app_url,
            "X-OpenRouter-Title": self._app_title,
            "X-Title": self._app_title,
            "X-OpenRouter-Categories": "cli-agent",
        }
        if candidate.key is not None:
            headers["Authorization"] = f"Bearer {candidate.key.secret}"
        if request.stream:
            headers["Accept"] = "text/event-stream"
        return headers

    def http_error(self, response: httpx.Response, body: bytes, secrets: tuple[str, ...]) -> ProviderError:
        data = load_json(body)
        error = _as_error(data.get("error")) if isinstance(data, dict) else None
        if error is None:
            error = {"message": body_excerpt(response.status_code, body, secrets)}
        return classify_error(response.status_code, error, response.headers, secrets, time.time(), self.name)

    def read_body(
        self, response: httpx.Response, body: bytes, candidate: Candidate, secrets: tuple[str, ...]
    ) -> list[StreamEvent]:
        data = load_json(body)
        if not isinstance(data, dict):
            raise ProviderError(
                ErrorKind.BAD_RESPONSE,
                f"response is not a JSON object ({body_excerpt(response.status_code, body, secrets)})",
                status=response.status_code,
                provider=self.name,
            )
        choice = _first_choice(data)
        self._raise_if_failed(data, choice, response.headers, secrets)
        if not choice:
            raise ProviderError(ErrorKind.BAD_RESPONSE, "response has no choices", provider=self.name)
        message = as_dict(choice.get("message"))
        # The answer is ``content`` alone: an empty one next to ``reasoning`` (all of ``max_tokens`` spent
        # thinking) is no answer, and the reasoning is never passed off as one (ref §1.3, next §8).
        events: list[StreamEvent] = []
        if reasoning := _reasoning(message):
            events.append(ReasoningDelta(valid_unicode(reasoning)))
        text = message.get("content")
        if isinstance(text, str) and text:
            events.append(TextDelta(valid_unicode(text)))
        usage = _usage(data.get("usage"))
        events.append(StreamEnd(_model(data, candidate.model), usage, choice.get("finish_reason")))
        return events

    async def read_stream(
        self, response: httpx.Response, candidate: Candidate, secrets: tuple[str, ...]
    ) -> AsyncIterator[StreamEvent]:
        events = sse_events(text_lines(response.aiter_text(), sse=True, provider=self.name))
        repair, thoughts = TextRepair(), TextRepair()
        model, usage, finish = candidate.model, Usage(), None
        async for payload in events:
            chunk = json_object(payload, self.name)
            choice = _first_choice(chunk)
            self._raise_if_failed(chunk, choice, response.headers, secrets)
            model = _model(chunk, model)
            if isinstance(chunk.get("usage"), dict):
                usage = _usage(chunk["usage"])
            delta = as_dict(choice.get("delta"))
            if reasoning := thoughts.feed(_reasoning(delta)):
                yield ReasoningDelta(reasoning)
            text = delta.get("content")
            if isinstance(text, str) and (text := repair.feed(text)):
                yield TextDelta(text)
            finish = choice.get("finish_reason") or finish
        if tail := thoughts.flush():
            yield ReasoningDelta(tail)
        if tail := repair.flush():
            yield TextDelta(tail)
        # Without ``[DONE]`` the answer is whole only if it said how it finished.
        if not events.done and not finish:
            raise ProviderError(ErrorKind.BAD_RESPONSE, "stream ended before completion", provider=self.name)
        yield StreamEnd(model, usage, finish)

    async def list_models(self, key: ApiKey | None, *, timeout: float) -> list[ModelInfo]:
        """``GET /models``: public, so the key is sent only because it is harmless."""
        rows = (await self._get("/models", key, timeout)).get("data")
        if not isinstance(rows, list):
            raise ProviderError(ErrorKind.BAD_RESPONSE, "the model list has no data", provider=self.name)
        return [info for row in rows if (info := model_info(self.name, row)) is not None]

    async def probe_key(self, key: ApiKey | None, *, timeout: float) -> KeyInfo:
        """``GET /key`` answers only to a valid key, and says what the key may still spend."""
        data = (await self._get("/key", key, timeout)).get("data")
        if not isinstance(data, dict):
            raise ProviderError(ErrorKind.BAD_RESPONSE, "the key report has no data", provider=self.name)
        return key_info(data)

    async def _get(self, path: str, key: ApiKey | None, timeout: float) -> dict[str, Any]:
        import httpx

        secrets = (key.secret,) if key is not None else ()
        headers = {"Authorization": f"Bearer {key.secret}"} if key is not None else {}
        client = self._clients.client(self.base_url)
        try:
            response = await client.get(f"{self.base_url}{path}", headers=headers, timeout=httpx.Timeout(timeout))
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.name) from exc
        if not response.is_success:
            raise self.http_error(response, response.content, secrets)
        data = load_json(response.content)
        if not isinstance(data, dict):
            excerpt = body_excerpt(response.status_code, response.content, secrets)
            raise ProviderError(
                ErrorKind.BAD_RESPONSE, f"response is not a JSON object ({excerpt})", status=200, provider=self.name
            )
        error = _as_error(data.get("error"))
        if error is not None and "data" not in data:
            raise classify_error(200, error, response.headers, secrets, time.time(), self.name)
        return data

    def _raise_if_failed(
        self,
        data: Mapping[str, Any],
        choice: Mapping[str, Any],
        headers: Mapping[str, str],
        secrets: tuple[str, ...],
    ) -> None:
        """A 200 body or chunk is a failure when it holds ``error`` or ends with ``finish_reason: error``."""
        error = _as_error(data.get("error")) or _as_error(choice.get("error"))
        if error is None and choice.get("finish_reason") == "error":
            error = {"message": "provider ended the answer with an error"}
        if error is not None:
            raise classify_error(200, error, headers, secrets, time.time(), self.name)


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
    code = status if status >= 400 else _status(error.get("code")) or _status(error.get("http_status"))
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


def _status(value: object) -> int | None:
    """An in-body error's code, when it is an HTTP error status."""
    code = as_int(value)
    return code if code is not None and 400 <= code <= 599 else None


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


def _as_error(value: object) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        return {"message": value}
    return None


def _first_choice(data: Mapping[str, Any]) -> dict[str, Any]:
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def _reasoning(holder: Mapping[str, Any]) -> str:
    """The reasoning text of a message or a stream delta: ``reasoning``, else what ``reasoning_details`` shows.

    OpenRouter sends the same thoughts twice, as the ``reasoning`` string and as structured
    ``reasoning_details`` (``reasoning.text`` blocks with ``text``, ``reasoning.summary`` with
    ``summary``, ``reasoning.encrypted`` with opaque ``data``); the string is the readable
    whole, so the details are read only when it is missing, and encrypted blocks never.
    """
    text = holder.get("reasoning")
    if isinstance(text, str) and text:
        return text
    details = holder.get("reasoning_details")
    if not isinstance(details, list):
        return ""
    parts: list[str] = []
    for detail in details:
        if not isinstance(detail, dict) or detail.get("type") == "reasoning.encrypted":
            continue
        piece = detail.get("text") if isinstance(detail.get("text"), str) else detail.get("summary")
        if isinstance(piece, str):
            parts.append(piece)
    return "".join(parts)


def _model(data: Mapping[str, Any], default: str) -> str:
    model = data.get("model")
    return model if isinstance(model, str) and model else default


def _usage(data: object) -> Usage:
    if not isinstance(data, dict):
        return Usage()
    cost = as_number(data.get("cost"))
    if cost is not None and not 0 <= cost * 1_000_000 <= INT_LIMIT:
        cost = None
    return Usage(
        input_tokens=as_int(data.get("prompt_tokens")),
        output_tokens=as_int(data.get("completion_tokens")),
        cost_micros=round(cost * 1_000_000) if cost is not None else None,
    )


def _body(candidate: Candidate, request: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": candidate.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": request.stream,
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    return body
