"""Anthropic's Messages API: ``POST {base}/v1/messages``, answered with one JSON body or typed SSE events.

See ``reference/providers-next.md`` §4. The key travels in ``x-api-key`` with ``anthropic-version:
2023-06-01``; the system prompt is a top-level ``system`` field, turns are ``user`` / ``assistant``
only, and ``max_tokens`` is required (:data:`DEFAULT_MAX_TOKENS` when the request names none).

A stream is named events whose ``data`` repeats the name as ``type``: ``message_start`` (model, input
usage), per content block ``content_block_start`` / ``content_block_delta`` (``text_delta``,
``thinking_delta``; ``input_json_delta`` and ``signature_delta`` carry nothing for us) /
``content_block_stop``, then ``message_delta`` (``stop_reason``, **cumulative** ``output_tokens``) and
``message_stop``; ``ping`` may come anywhere. A failure after the 200 is an ``error`` event (the same
``{"type", "message"}`` object an error body holds) and the connection closes without ``message_stop``:
a stream that ends without it is cut short, never a whole answer.

Errors are ``{"type": "error", "error": {"type", "message", "details"?}, "request_id"}``, classified by
:func:`classify_error`. Rate limits free at ``retry-after`` or at the RFC 3339
``anthropic-ratelimit-*-reset`` of the exhausted limit. Responses carry no cost: the gate prices them.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.providers.base import HttpChatAdapter, body_text
from llmroute.providers.classify import (
    as_dict,
    as_int,
    as_number,
    body_excerpt,
    clean,
    context_exceeded,
    header,
    kind_for_status,
    load_json,
    parse_retry_after,
    transport_error,
    valid_unicode,
)
from llmroute.providers.framing import TextRepair, json_object, sse_events, text_lines
from llmroute.providers.options import require_options, stop_sequences
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

    from llmroute.keys import ApiKey, KeySlot
    from llmroute.providers.http import ClientPool

API_ROOT = "/v1"
API_VERSION = "2023-06-01"
"""The ``anthropic-version`` sent unless the configuration's headers name another."""
DEFAULT_MAX_TOKENS = 1024
"""``max_tokens`` sent when the request gives none. The API requires the field and has no default of its
own; 1024 is the value of the reference's example request (and of Anthropic's own examples)."""
MODELS_PAGE = 1000
"""Rows asked per catalogue page (``limit`` is 1-1000, default 20)."""
MAX_PAGES = 10
#: Anthropic's stop reasons in the words every other adapter uses; the rest (``stop_sequence``,
#: ``tool_use``, ``pause_turn``, ``refusal``) pass as they are.
STOP_REASONS = {"end_turn": "stop", "max_tokens": "length"}

#: ``error.type`` -> kind (platform.claude.com/docs/en/api/errors); the HTTP status decides for anything else.
ERROR_TYPES: dict[str, ErrorKind] = {
    "invalid_request_error": ErrorKind.BAD_REQUEST,
    "authentication_error": ErrorKind.AUTH,
    "billing_error": ErrorKind.QUOTA,
    "permission_error": ErrorKind.AUTH,
    "not_found_error": ErrorKind.MODEL_NOT_FOUND,
    "request_too_large": ErrorKind.BAD_REQUEST,
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "api_error": ErrorKind.SERVER,
    "timeout_error": ErrorKind.TIMEOUT,
    "overloaded_error": ErrorKind.OVERLOADED,
}
#: ``error.details.error_code`` values that mean money (a spend cap, a contract, billing) is gone, whatever
#: the status says: the 429 ``enforced_spend_limit_reached`` is a monthly cap, not a per-minute limit. The
#: codes are those the official SDK (``anthropic`` 2.x) maps to its error classes.
SPENT_CODES = frozenset(
    {
        "enforced_spend_limit_reached",
        "contract_spend_limit_reached",
        "linked_organization_spend_limit_reached",
        "linked_organization_billing_unavailable",
    }
)
#: ``error.details.error_code`` of an organization Anthropic has disabled: every key of it is dead.
DISABLED_CODES = frozenset({"organization_on_hold"})
#: The 400 ``invalid_request_error`` that really is an empty prepaid balance (ref §4 [hedge]; still so in 2026).
_CREDIT_TEXT = "credit balance is too low"
#: The 400 of a console spend limit [obs]: "You have reached your specified API usage limits. You will regain
#: access on 2026-04-01 at 00:00 UTC." (anthropics/claude-code #38035): money, not the request, and it says when.
_USAGE_LIMITS_TEXT = "reached your specified api usage limits"
_REGAIN = re.compile(r"regain access on (\d{4}-\d{2}-\d{2})(?: at (\d{2}:\d{2}))? UTC")
#: ``anthropic-ratelimit-{limit}-remaining[-{window}]``: ``input-tokens``, ``requests``, ``tokens-...-weekly``.
_REMAINING = re.compile(r"anthropic-ratelimit-([a-z0-9-]+?)-remaining(-[a-z0-9]+)?")
_TIMESTAMP_LIMIT = 64


class AnthropicAdapter(HttpChatAdapter):
    """The Anthropic API; ``base_url`` is ``https://api.anthropic.com`` (a trailing ``/v1`` is taken off)."""

    chat_path = f"{API_ROOT}/messages"
    models_path = f"{API_ROOT}/models"
    protocol = "anthropic"

    def __init__(
        self,
        name: str,
        base_url: str,
        clients: ClientPool,
        *,
        local: bool = False,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(name, base_url.rstrip("/").removesuffix(API_ROOT), clients, local=local, headers=headers)

    # --- the request ---------------------------------------------------------------------------------------

    def request_body(self, candidate: Candidate, request: ChatRequest) -> dict[str, Any]:
        """System messages joined into ``system``; other turns as ``user`` / ``assistant``, neighbours of one
        role merged (the API combines them anyway, and older versions refused them). The temperature is
        clamped to Anthropic's 0-1 (others accept up to 2): a value the caller meant for any provider must
        not turn into a 400 that stops the whole request. ``top_p`` and ``stop_sequences`` go as given (``top_p``,
        like ``temperature``, is deprecated: newer models answer it with a 400, see :mod:`.options`); the API has
        no seed, so a request with one is refused (:func:`~llmroute.providers.options.check_options`)."""
        require_options(self.protocol, request, self.name)
        system: list[str] = []
        turns: list[dict[str, str]] = []
        for message in request.messages:
            if message.role in ("system", "developer"):
                system.append(message.content)
                continue
            role = "assistant" if message.role == "assistant" else "user"
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"] += "\n\n" + message.content
            else:
                turns.append({"role": role, "content": message.content})
        body: dict[str, Any] = {
            "model": candidate.model,
            "max_tokens": DEFAULT_MAX_TOKENS if request.max_tokens is None else request.max_tokens,
            "messages": turns,
            "stream": request.stream,
        }
        if system:
            body["system"] = "\n\n".join(system)
        if request.temperature is not None:
            body["temperature"] = min(max(request.temperature, 0.0), 1.0)
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if stop := stop_sequences(request):
            body["stop_sequences"] = stop
        return body

    def request_headers(self, candidate: Candidate, request: ChatRequest) -> dict[str, str]:
        headers = self.api_headers(candidate.key)
        if request.stream:
            headers["Accept"] = "text/event-stream"
        return headers

    def api_headers(self, key: ApiKey | None) -> dict[str, str]:
        """``x-api-key`` (none for a keyless gateway), the configured headers, and ``anthropic-version`` unless
        those name one (in any letter case: two would be sent joined, which the API refuses as an invalid version)."""
        headers = dict(self.extra_headers)
        if not any(name.lower() == "anthropic-version" for name in headers):
            headers["anthropic-version"] = API_VERSION
        if key is not None:
            headers = {name: value for name, value in headers.items() if name.lower() != "x-api-key"}
            headers["x-api-key"] = key.secret
        return headers

    # --- the answer ----------------------------------------------------------------------------------------

    def http_error(self, response: httpx.Response, body: bytes, secrets: tuple[str, ...]) -> ProviderError:
        data = load_json(body)
        error = error_of(data) if isinstance(data, dict) else None
        if error is None:
            error = {"message": body_excerpt(response.status_code, body, secrets)}
        return classify_error(response.status_code, error, response.headers, secrets, time.time(), self.name)

    def read_body(
        self, response: httpx.Response, body: bytes, candidate: Candidate, secrets: tuple[str, ...]
    ) -> list[StreamEvent]:
        """One ``message``: the thinking blocks as reasoning, the text blocks as the answer (tool use, redacted
        thinking and other blocks carry no text for us)."""
        data = load_json(body)
        if not isinstance(data, dict):
            excerpt = body_excerpt(response.status_code, body, secrets)
            raise ProviderError(
                ErrorKind.BAD_RESPONSE, f"response is not a JSON object ({excerpt})", status=200, provider=self.name
            )
        error = error_of(data)
        if error is not None:
            raise classify_error(200, error, response.headers, secrets, time.time(), self.name)
        content = data.get("content")
        if not isinstance(content, list):
            raise ProviderError(ErrorKind.BAD_RESPONSE, "response has no content", status=200, provider=self.name)
        blocks = [as_dict(block) for block in content]
        thinking = "".join(b["thinking"] for b in blocks if b.get("type") == "thinking" and _is_text(b, "thinking"))
        text = "".join(b["text"] for b in blocks if b.get("type") == "text" and _is_text(b, "text"))
        events: list[StreamEvent] = []
        if thinking:
            events.append(ReasoningDelta(valid_unicode(thinking)))
        if text:
            events.append(TextDelta(valid_unicode(text)))
        counts = token_counts(data.get("usage"))
        events.append(StreamEnd(model_of(data, candidate.model), usage_of(counts), finish_reason(data)))
        return events

    async def read_stream(
        self, response: httpx.Response, candidate: Candidate, secrets: tuple[str, ...]
    ) -> AsyncIterator[StreamEvent]:
        events = sse_events(text_lines(body_text(response), sse=True, provider=self.name))
        repair, thoughts = TextRepair(), TextRepair()
        model, stop_reason, stopped = candidate.model, None, False
        counts: dict[str, int] = {}
        async for payload in events:
            event = json_object(payload, self.name)
            kind = event.get("type")
            if stopped or kind == "ping":
                continue  # nothing after ``message_stop`` belongs to the answer
            if kind == "error":
                error = as_dict(event.get("error")) or {"message": "the stream reported an error"}
                raise classify_error(200, error, response.headers, secrets, time.time(), self.name)
            text: object = None
            thought: object = None
            if kind == "message_start":
                message = as_dict(event.get("message"))
                model = model_of(message, model)
                counts.update(token_counts(message.get("usage")))
            elif kind == "content_block_start":
                block = as_dict(event.get("content_block"))  # a block may open with text already in it
                text = block.get("text") if block.get("type") == "text" else None
                thought = block.get("thinking") if block.get("type") == "thinking" else None
            elif kind == "content_block_delta":
                delta = as_dict(event.get("delta"))
                text = delta.get("text") if delta.get("type") == "text_delta" else None
                thought = delta.get("thinking") if delta.get("type") == "thinking_delta" else None
            elif kind == "message_delta":
                stop_reason = as_dict(event.get("delta")).get("stop_reason") or stop_reason
                counts.update(token_counts(event.get("usage")))  # cumulative: the last value is the total
            elif kind == "message_stop":
                stopped = True
            if isinstance(thought, str) and (thought := thoughts.feed(thought)):
                yield ReasoningDelta(thought)
            if isinstance(text, str) and (text := repair.feed(text)):
                yield TextDelta(text)
        if not stopped:
            raise ProviderError(ErrorKind.BAD_RESPONSE, "stream ended before message_stop", provider=self.name)
        if tail := thoughts.flush():
            yield ReasoningDelta(tail)
        if tail := repair.flush():
            yield TextDelta(tail)
        yield StreamEnd(model, usage_of(counts), finish_reason({"stop_reason": stop_reason}))

    # --- the catalogue and the key check -------------------------------------------------------------------

    async def list_models(self, slot: KeySlot, *, timeout: float) -> list[ModelInfo]:
        """``GET /v1/models``, page by page (``has_more`` / ``last_id`` -> ``after_id``): ids, display names,
        context windows and retirement dates where given; models already retired are left out."""
        models: list[ModelInfo] = []
        after: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"limit": MODELS_PAGE}
            if after is not None:
                params["after_id"] = after
            data = await self.get_json(slot, timeout, params)
            rows = data.get("data")
            if not isinstance(rows, list):
                raise ProviderError(ErrorKind.BAD_RESPONSE, "the model list has no data", provider=self.name)
            models += [info for row in rows if (info := model_info(self.name, row)) is not None]
            last = data.get("last_id")
            if data.get("has_more") is not True or not isinstance(last, str) or not last or last == after:
                break
            after = last
        return models

    async def probe_key(self, slot: KeySlot, *, timeout: float) -> KeyInfo:
        """``GET /v1/models?limit=1``: free, no inference, and answered 200 only to a working key."""
        await self.get_json(slot, timeout, {"limit": 1})
        return KeyInfo()

    async def get_json(self, slot: KeySlot, timeout: float, params: Mapping[str, str | int]) -> dict[str, Any]:
        """``GET /v1/models`` answered with a JSON object; anything else is a classified failure."""
        import httpx

        secrets = self.secrets(slot.key)
        client = self._clients.client(self.base_url)
        try:
            response = await client.get(
                f"{self.base_url}{self.models_path}",
                headers=self.api_headers(slot.key),
                params=params,
                timeout=httpx.Timeout(timeout),
            )
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
        error = error_of(data)
        if error is not None:
            raise classify_error(200, error, response.headers, secrets, time.time(), self.name)
        return data


def classify_error(
    status: int,
    error: Mapping[str, Any],
    headers: Mapping[str, str],
    secrets: Iterable[str],
    now: float,
    provider: str | None = None,
) -> ProviderError:
    """Classify one Anthropic error object (``{"type", "message", "details"?}``) from an error body or an
    ``error`` event; ``status`` 200 means it came inside a successful answer, where its type alone decides.

    The type decides where it is known, else the status. Money gone is ``QUOTA`` whatever the type says: a
    spend-cap ``details.error_code`` (429), "credit balance is too low" (400) and "reached your specified API
    usage limits" (400, with the date access returns as ``retry_at``); a disabled organization is ``AUTH``.
    A rate limit frees at ``retry-after``, else at the reset of the exhausted ``anthropic-ratelimit-*``
    limit (:func:`exhausted_reset`); other kinds keep a ``retry-after`` when one is sent (a 529's).
    """
    error_type = error.get("type") if isinstance(error.get("type"), str) else ""
    text = str(error.get("message") or "")
    lower = text.lower()
    code = as_dict(error.get("details")).get("error_code")
    code = code if isinstance(code, str) else None  # a list or an object here must not crash the set lookups
    kind = ERROR_TYPES.get(error_type) or (kind_for_status(status) if status >= 400 else ErrorKind.SERVER)
    retry_at = parse_retry_after(header(headers, "retry-after"), now)
    if code in SPENT_CODES or _CREDIT_TEXT in lower:
        kind, retry_at = ErrorKind.QUOTA, None
    elif _USAGE_LIMITS_TEXT in lower:
        kind, retry_at = ErrorKind.QUOTA, regain_time(text)
    elif code in DISABLED_CODES:
        kind, retry_at = ErrorKind.AUTH, None
    elif kind is ErrorKind.QUOTA:
        retry_at = None  # billing: no clock frees it, a payment does
    elif kind is ErrorKind.RATE_LIMITED:
        retry_at = retry_at or exhausted_reset(headers)
    cause = Cause.CONTEXT_LENGTH if context_exceeded(kind, text) else None
    shown = f"{error_type}: {text}" if error_type and text else text or error_type
    message = clean(shown, secrets) or "provider returned an error"
    return ProviderError(kind, message, status=status, retry_at=retry_at, provider=provider, cause=cause)


def exhausted_reset(headers: Mapping[str, str]) -> float | None:
    """When the exhausted limits free, from ``anthropic-ratelimit-{limit}-reset[-{window}]`` (RFC 3339).

    A limit is exhausted when its ``-remaining`` is 0; with several (input tokens and requests, or a weekly
    one), the request passes only once the last of them resets, so that latest reset is the answer (as the
    reference advises, after anthropic-sdk-typescript #357). When no limit says 0 the headers do not tell
    which refused: None, and the failure table's default cooldown applies.
    """
    resets: list[float] = []
    for name, value in headers.items():
        match = _REMAINING.fullmatch(str(name).lower())
        if match is None or as_number(value) != 0:
            continue
        limit, window = match.group(1), match.group(2) or ""
        reset = parse_timestamp(header(headers, f"anthropic-ratelimit-{limit}-reset{window}"))
        if reset is not None:
            resets.append(reset)
    return max(resets) if resets else None


def parse_timestamp(value: object) -> float | None:
    """An RFC 3339 timestamp with a zone (``2025-02-24T22:25:30Z``) as epoch seconds; None if not one."""
    if not isinstance(value, str) or len(value) > _TIMESTAMP_LIMIT:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None


def regain_time(text: str) -> float | None:
    """The date in "You will regain access on 2026-04-01 at 00:00 UTC." as epoch seconds; None if none is given."""
    match = _REGAIN.search(text)
    if match is None:
        return None
    try:
        when = datetime.fromisoformat(f"{match.group(1)}T{match.group(2) or '00:00'}")
    except ValueError:
        return None
    return when.replace(tzinfo=UTC).timestamp()


def error_of(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The error object of a body (``{"type": "error", "error": {...}}``); a proxy's ``{"error": "text"}`` too."""
    error = data.get("error")
    if isinstance(error, dict):
        return error
    if isinstance(error, str) and error:
        return {"message": error}
    if data.get("type") == "error":
        return {"message": "provider returned an error"}
    return None


def token_counts(usage: object) -> dict[str, int]:
    """The counts a ``usage`` object holds (only those present: a ``message_delta`` may send output alone)."""
    fields = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
    found = as_dict(usage)
    return {name: count for name in fields if (count := as_int(found.get(name))) is not None}


def usage_of(counts: Mapping[str, int]) -> Usage:
    """Input tokens are the prompt as a whole: ``input_tokens`` counts only what follows the last cache
    breakpoint, so the tokens written to the cache (``cache_creation_input_tokens``) and read from it
    (``cache_read_input_tokens``) are added. Cache reads cost a tenth of the input price and writes 1.25x,
    so a cost estimated from the catalogue's input price over this total is an upper bound for cached prompts."""
    parts = [counts.get(name, 0) for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
    input_tokens = sum(parts) if "input_tokens" in counts else None
    return Usage(input_tokens=input_tokens, output_tokens=counts.get("output_tokens"))


def finish_reason(data: Mapping[str, Any]) -> str | None:
    reason = data.get("stop_reason")
    return STOP_REASONS.get(reason, reason) if isinstance(reason, str) and reason else None


def model_of(data: Mapping[str, Any], default: str) -> str:
    model = data.get("model")
    return model if isinstance(model, str) and model else default


def model_info(provider: str, row: object) -> ModelInfo | None:
    """A ``/v1/models`` row: ``id``, ``display_name``, ``max_input_tokens``, ``retires_at``; None for a row
    without an id or a model whose ``lifecycle`` is ``retired`` (requests naming it fail)."""
    if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not row["id"].strip():
        return None
    if row.get("lifecycle") == "retired":
        return None
    name = row.get("display_name")
    retires = row.get("retires_at")
    return ModelInfo(
        provider=provider,
        model=row["id"].strip(),
        name=clean(name, (), limit=80) if isinstance(name, str) and name.strip() else None,
        context_length=as_int(row.get("max_input_tokens")),
        expires=retires[:10] if isinstance(retires, str) and parse_timestamp(retires) is not None else None,
    )


def _is_text(block: Mapping[str, Any], field: str) -> bool:
    return isinstance(block.get(field), str)
