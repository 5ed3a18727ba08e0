"""Google Gemini through its native API: ``generateContent`` and ``streamGenerateContent?alt=sse``.

See ``reference/providers-next.md`` §1. The key travels in the ``x-goog-api-key`` header and never in the
URL (the ``?key=`` form the service also accepts ends up in exception texts and logs). Roles are ``user``
and ``model``; system messages become ``systemInstruction``; ``temperature``, ``topP``, ``maxOutputTokens``,
``stopSequences`` (up to 5) and ``seed`` go in ``generationConfig``. Parts marked ``thought: true`` are
reasoning, apart from the answer. Thinking tokens (``thoughtsTokenCount``) are billed as output, so they are
added to the output count. A stream is SSE
``data:`` events (CRLF or LF) with no ``[DONE]``: it is whole when it ends after a chunk that carries a
``finishReason``; its ``usageMetadata`` is cumulative, so the last one seen is the usage.

Errors are ``{"error": {"code", "message", "status", "details": [...]}}``, sometimes inside a one-element
JSON array. An invalid key is a 400 whose ``ErrorInfo`` says ``API_KEY_INVALID``. A 429 carries no header:
``RetryInfo.retryDelay`` says when to retry and ``QuotaFailure.violations[].quotaId`` which quota ran out,
per minute (wait the delay) or per day (wait for the daily reset: midnight Pacific time, as Google's
rate-limits page says; the delay Google sends then is misleading); a quota whose limit is 0 means the
model is not offered on the project's tier at all. Gemini counts quotas per project and model: see
:data:`PER_MODEL_CAUSE`. A prompt refused by the safety filters is a 200 with ``promptFeedback.blockReason``
and no candidates: the request's fault, so a bad request (no failover).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.providers.base import HttpChatAdapter, body_text
from llmroute.providers.classify import (
    as_dict,
    as_int,
    as_number,
    body_excerpt,
    clean,
    context_exceeded,
    http_status,
    kind_for_status,
    load_json,
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

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
KEY_HEADER = "x-goog-api-key"
GENERATE = "generateContent"
STREAM = "streamGenerateContent"
#: Catalogue rows asked per page (the API's maximum), and pages read at most.
PAGE_SIZE = 1000
MAX_PAGES = 10

PER_MODEL_CAUSE: Cause | None = Cause.MODEL_QUOTA
"""The cause a per-(project, model) rate limit or daily quota carries.

Gemini counts every quota per project *and model*, so a 429 for one model says nothing about the
project's other models: the failure table cools that model on the key's pool (its project).
"""

_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
#: ``ErrorInfo.reason`` values that say the key itself is unusable (a 400, not a 401).
_DEAD_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
_DEAD_KEY_TEXTS = ("api key not valid", "api key not found", "api key expired")
#: A 400 ``FAILED_PRECONDITION`` about where the call comes from or billing ("free tier is not available in
#: your country. Please enable billing", "User location is not supported"): the key cannot be used from
#: here, whatever the request.
_PLACE_TEXTS = ("location", "country", "region", "billing")
#: google.rpc.Code names -> HTTP status, for an error met inside a 200 stream.
_RPC_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
#: A protobuf ``Duration`` in its JSON form: seconds with up to nine decimals and an ``s``.
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)s\s*")
_RETRY_IN = re.compile(r"please retry in ([0-9]+(?:\.[0-9]+)?)s", re.IGNORECASE)
#: "limit: 0" in a quota message (not "limit: 0.5", "limit: 05" or "limit: 20").
_LIMIT_ZERO = re.compile(r"\blimit:\s*0(?![0-9.])")
#: How Gemini's finish reasons read in llmroute's terms; any other value is passed on as it is.
FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}


class GeminiAdapter(HttpChatAdapter):
    """The Gemini API; ``base_url`` is its versioned root, ``https://generativelanguage.googleapis.com/v1beta``."""

    protocol = "gemini"

    # --- the request ---------------------------------------------------------------------------------------

    def chat_url(self, candidate: Candidate) -> str:
        """The non-streaming method's URL (``:generateContent``)."""
        return self.method_url(candidate.model, GENERATE)

    def method_url(self, model: str, method: str) -> str:
        """``{base}/models/{model}:{method}``; a tuned model (``tunedModels/...``) has its own collection."""
        collection, _, name = model.rpartition("/")
        if collection not in ("models", "tunedModels"):
            collection, name = "models", model
        return f"{self.base_url}/{collection}/{quote(name, safe='')}:{method}"

    def request_url(self, candidate: Candidate, request: ChatRequest) -> str:
        """Where ``request`` goes: the SSE stream (``alt=sse``, not the JSON-array stream) or the single answer."""
        if request.stream:
            return self.method_url(candidate.model, STREAM) + "?alt=sse"
        return self.method_url(candidate.model, GENERATE)

    def request_body(self, candidate: Candidate, request: ChatRequest) -> dict[str, Any]:
        require_options(self.protocol, request, self.name)
        return request_body(request)

    def request_headers(self, candidate: Candidate, request: ChatRequest) -> dict[str, str]:
        headers = {**self.extra_headers, **auth_headers(candidate.key)}
        if request.stream:
            headers["Accept"] = "text/event-stream"
        return headers

    # --- the answer ----------------------------------------------------------------------------------------

    def http_error(self, response: httpx.Response, body: bytes, secrets: tuple[str, ...]) -> ProviderError:
        error = error_of(load_json(body))
        if error is None:
            error = {"message": body_excerpt(response.status_code, body, secrets)}
        return classify_error(response.status_code, error, secrets, time.time(), self.name)

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
        candidate_data = self.first_candidate(data, secrets, stream=False)
        thoughts, text = parts_text(candidate_data)
        events: list[StreamEvent] = [ReasoningDelta(valid_unicode(thoughts))] if thoughts else []
        if text:
            events.append(TextDelta(valid_unicode(text)))
        events.append(StreamEnd(model_of(data, candidate.model), usage_of(data), finish_of(candidate_data)))
        return events

    async def read_stream(
        self, response: httpx.Response, candidate: Candidate, secrets: tuple[str, ...]
    ) -> AsyncIterator[StreamEvent]:
        events = sse_events(text_lines(body_text(response), sse=True, provider=self.name))
        repair, reasoning = TextRepair(), TextRepair()
        model, usage, finish = candidate.model, Usage(), None
        async for payload in events:
            chunk = json_object(payload, self.name)
            candidate_data = self.first_candidate(chunk, secrets, stream=True)
            model = model_of(chunk, model)
            if isinstance(chunk.get("usageMetadata"), dict):  # cumulative: the last one is the whole answer's
                usage = usage_of(chunk)
            for part in parts_of(candidate_data):
                piece = part.get("text")
                if not isinstance(piece, str) or not piece:
                    continue
                if part.get("thought") is True:
                    if piece := reasoning.feed(piece):
                        yield ReasoningDelta(piece)
                elif piece := repair.feed(piece):
                    yield TextDelta(piece)
            finish = finish_of(candidate_data) or finish
        if tail := reasoning.flush():
            yield ReasoningDelta(tail)
        if tail := repair.flush():
            yield TextDelta(tail)
        # No terminator on this wire: the answer is whole only if a chunk said how it finished.
        if not finish and not events.done:
            raise ProviderError(ErrorKind.BAD_RESPONSE, "stream ended before completion", provider=self.name)
        yield StreamEnd(model, usage, finish)

    def first_candidate(self, data: Mapping[str, Any], secrets: tuple[str, ...], *, stream: bool) -> dict[str, Any]:
        """The first candidate of a body or chunk; an error object, a blocked prompt or no candidate is a failure.

        In a stream, a chunk with only ``usageMetadata`` has no candidate and is no failure.
        """
        error = error_of(data)
        if error is not None:
            raise classify_error(200, error, secrets, time.time(), self.name)
        candidates = data.get("candidates")
        if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
            return candidates[0]
        feedback = as_dict(data.get("promptFeedback"))
        if feedback.get("blockReason"):
            raise blocked(feedback, secrets, self.name)
        if stream and "usageMetadata" in data and "candidates" not in data:
            return {}
        raise ProviderError(ErrorKind.BAD_RESPONSE, "response has no candidates", status=200, provider=self.name)

    # --- the catalogue and the key check -------------------------------------------------------------------

    async def list_models(self, slot: KeySlot, *, timeout: float) -> list[ModelInfo]:
        """``GET /models`` page by page (``nextPageToken``): the models that can ``generateContent``."""
        models: list[ModelInfo] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"pageSize": PAGE_SIZE}
            if token:
                params["pageToken"] = token
            data = await self.get_json(f"{self.base_url}/models", slot, timeout, params=params)
            rows = data.get("models", [])
            if not isinstance(rows, list):
                raise ProviderError(ErrorKind.BAD_RESPONSE, "the model list has no models", provider=self.name)
            models += [info for row in rows if (info := model_info(self.name, row)) is not None]
            token = data.get("nextPageToken") if isinstance(data.get("nextPageToken"), str) else None
            if not token or not rows:
                break
        return models

    async def probe_key(self, slot: KeySlot, *, timeout: float) -> KeyInfo:
        """``GET /models?pageSize=1`` is free and answers 200 only to a valid key (it proves nothing about quota)."""
        await self.get_json(f"{self.base_url}/models", slot, timeout, params={"pageSize": 1})
        return KeyInfo()

    async def get_json(
        self, url: str, slot: KeySlot, timeout: float, *, params: Mapping[str, str | int] | None = None
    ) -> dict[str, Any]:
        """A GET answered with a JSON object; any other answer is a classified failure."""
        import httpx

        secrets = self.secrets(slot.key)
        headers = {**self.extra_headers, **auth_headers(slot.key)}
        client = self._clients.client(self.base_url)
        try:
            response = await client.get(url, headers=headers, params=params, timeout=httpx.Timeout(timeout))
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
            raise classify_error(200, error, secrets, time.time(), self.name)
        return data


# --- the request ---------------------------------------------------------------------------------------------


def auth_headers(key: ApiKey | None) -> dict[str, str]:
    """The key's header; nothing for a keyless endpoint (a proxy that adds the key itself)."""
    return {KEY_HEADER: key.secret} if key is not None else {}


def request_body(request: ChatRequest) -> dict[str, Any]:
    """``contents`` (``user``/``model`` turns, consecutive messages of one role merged, as some models require
    alternating turns), ``systemInstruction`` and ``generationConfig`` (``temperature``, ``topP``,
    ``maxOutputTokens``, ``stopSequences``, ``seed``). Empty texts are left out: the service refuses an empty
    text part. The options are not checked here: :meth:`GeminiAdapter.request_body` refuses what the wire
    cannot carry."""
    system: list[dict[str, str]] = []
    contents: list[dict[str, Any]] = []
    for message in request.messages:
        if not message.content:
            continue
        part = {"text": message.content}
        if message.role == "system":
            system.append(part)
            continue
        role = "model" if message.role == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].append(part)
        else:
            contents.append({"role": role, "parts": [part]})
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if stop := stop_sequences(request):
        config["stopSequences"] = stop
    if request.seed is not None:
        config["seed"] = request.seed
    if config:
        body["generationConfig"] = config
    return body


# --- the answer ----------------------------------------------------------------------------------------------


def parts_of(candidate: Mapping[str, Any]) -> list[dict[str, Any]]:
    parts = as_dict(candidate.get("content")).get("parts")
    return [part for part in parts if isinstance(part, dict)] if isinstance(parts, list) else []


def parts_text(candidate: Mapping[str, Any]) -> tuple[str, str]:
    """(reasoning, answer): the ``thought: true`` parts' text, and the other parts' text."""
    thoughts: list[str] = []
    text: list[str] = []
    for part in parts_of(candidate):
        piece = part.get("text")
        if isinstance(piece, str):
            (thoughts if part.get("thought") is True else text).append(piece)
    return "".join(thoughts), "".join(text)


def finish_of(candidate: Mapping[str, Any]) -> str | None:
    """``STOP`` -> ``stop``, ``MAX_TOKENS`` -> ``length``; ``SAFETY``, ``RECITATION``, ... and unknown values as
    they are (a stop, not an error); None while the candidate has not finished."""
    reason = candidate.get("finishReason")
    if not isinstance(reason, str) or not reason or reason == "FINISH_REASON_UNSPECIFIED":
        return None
    return FINISH_REASONS.get(reason, reason)


def usage_of(data: Mapping[str, Any]) -> Usage:
    """Token counts of ``usageMetadata``: input = ``promptTokenCount`` (cached tokens included); output =
    ``candidatesTokenCount`` + ``thoughtsTokenCount`` (thinking is billed as output). A chunk that gives
    neither output count but a ``totalTokenCount`` (early stream chunks do) has ``total - prompt - tool-use
    prompt`` as its output. No cost: the gate prices Gemini from the catalogue."""
    meta = as_dict(data.get("usageMetadata"))
    prompt = as_int(meta.get("promptTokenCount"))
    answer, thoughts = as_int(meta.get("candidatesTokenCount")), as_int(meta.get("thoughtsTokenCount"))
    output: int | None = None
    if answer is not None or thoughts is not None:
        output = (answer or 0) + (thoughts or 0)
    elif (total := as_int(meta.get("totalTokenCount"))) is not None:
        rest = total - (prompt or 0) - (as_int(meta.get("toolUsePromptTokenCount")) or 0)
        output = rest if rest >= 0 else None
    return Usage(input_tokens=prompt, output_tokens=output)


def model_of(data: Mapping[str, Any], default: str) -> str:
    """The model that answered (``modelVersion``), else the one asked for."""
    model = data.get("modelVersion")
    return model if isinstance(model, str) and model.strip() else default


def blocked(feedback: Mapping[str, Any], secrets: Iterable[str], provider: str | None = None) -> ProviderError:
    """A prompt the safety filters refused: the same prompt is refused everywhere, so the caller must change it."""
    reason = clean(str(feedback.get("blockReason")), secrets, limit=40)
    message = f"Gemini blocked the prompt (blockReason {reason})"
    if isinstance(feedback.get("blockReasonMessage"), str) and feedback["blockReasonMessage"].strip():
        message += f": {feedback['blockReasonMessage']}"
    return ProviderError(ErrorKind.BAD_REQUEST, clean(message, secrets), status=200, provider=provider)


def model_info(provider: str, row: object) -> ModelInfo | None:
    """A ``/models`` row that can ``generateContent``, its id without ``models/``; None for any other."""
    if not isinstance(row, dict) or not isinstance(row.get("name"), str):
        return None
    methods = row.get("supportedGenerationMethods")
    if not isinstance(methods, list) or GENERATE not in methods:
        return None
    model = row["name"].strip().removeprefix("models/")
    if not model:
        return None
    name = row.get("displayName")
    return ModelInfo(
        provider=provider,
        model=model,
        name=name.strip() if isinstance(name, str) and name.strip() else None,
        context_length=as_int(row.get("inputTokenLimit")) or None,
    )


# --- errors --------------------------------------------------------------------------------------------------


def error_of(data: object) -> dict[str, Any] | None:
    """The ``error`` object of a body, also when wrapped in a JSON array (``[{"error": {...}}]``)."""
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        return error
    return {"message": error} if isinstance(error, str) and error else None


def details_of(error: Mapping[str, Any], type_url: str) -> list[dict[str, Any]]:
    """The ``details`` entries of one ``@type``."""
    details = error.get("details")
    if not isinstance(details, list):
        return []
    return [d for d in details if isinstance(d, dict) and d.get("@type") == type_url]


def parse_duration(value: object) -> float | None:
    """A protobuf ``Duration``: JSON ``"37s"`` / ``"0.5s"``, or ``{"seconds": 37, "nanos": 5e8}``."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        return _finite(float(match.group(1))) if match else None
    if isinstance(value, dict):
        seconds, nanos = as_number(value.get("seconds", 0)), as_number(value.get("nanos", 0))
        if seconds is None or nanos is None or seconds < 0 or nanos < 0:
            return None
        return _finite(seconds + nanos / 1e9)
    return None


def retry_delay(error: Mapping[str, Any]) -> float | None:
    """Seconds to wait, from ``RetryInfo.retryDelay``, else the message's "Please retry in 36.4s"."""
    for info in details_of(error, _RETRY_INFO):
        delay = parse_duration(info.get("retryDelay"))
        if delay is not None:
            return delay
    match = _RETRY_IN.search(str(error.get("message") or ""))
    return _finite(float(match.group(1))) if match else None


def _finite(seconds: float) -> float | None:
    """A delay of 400 digits parses as infinity: no hint at all, rather than a model held forever."""
    return seconds if math.isfinite(seconds) else None


def quota_violations(error: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        violation
        for failure in details_of(error, _QUOTA_FAILURE)
        for violation in (failure.get("violations") if isinstance(failure.get("violations"), list) else [])
        if isinstance(violation, dict)
    ]


def error_reasons(error: Mapping[str, Any]) -> set[str]:
    return {str(info.get("reason")) for info in details_of(error, _ERROR_INFO) if info.get("reason")}


def next_pacific_midnight(now: float) -> float:
    """The next 00:00 in America/Los_Angeles after ``now``: when Gemini's per-day quotas reset.

    Google's rate-limits page: "Requests per day (RPD) quotas reset at midnight Pacific time." Pacific
    time follows daylight saving (UTC-7 in summer, UTC-8 in winter); without a time-zone database
    (Windows without ``tzdata``) the US rule in force since 2007 is applied instead.
    """
    zone = _pacific()
    if zone is None:
        return _rule_midnight(now)
    tomorrow = datetime.fromtimestamp(now, zone).date() + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone).timestamp()


def _pacific() -> tzinfo | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo("America/Los_Angeles")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _rule_midnight(now: float) -> float:
    """The next Pacific midnight by the US daylight-saving rule: UTC-7 from the second Sunday of March
    (02:00 local) to the first Sunday of November (02:00 local), UTC-8 otherwise."""

    def offset(when: datetime) -> timedelta:
        """The offset in force at the UTC time ``when``."""
        year = when.year
        march = datetime(year, 3, 8, tzinfo=UTC)
        start = march + timedelta(days=(6 - march.weekday()) % 7, hours=10)  # 02:00 PST = 10:00 UTC
        november = datetime(year, 11, 1, tzinfo=UTC)
        end = november + timedelta(days=(6 - november.weekday()) % 7, hours=9)  # 02:00 PDT = 09:00 UTC
        return timedelta(hours=-7) if start <= when < end else timedelta(hours=-8)

    utc = datetime.fromtimestamp(now, UTC)
    wall = utc + offset(utc)  # the local wall-clock time, written as UTC
    midnight = (wall + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    # Midnight is never inside a transition (they happen at 02:00): the winter offset finds the right side.
    return (midnight - offset(midnight + timedelta(hours=8))).timestamp()


def classify_error(
    status: int,
    error: Mapping[str, Any],
    secrets: Iterable[str],
    now: float,
    provider: str | None = None,
) -> ProviderError:
    """Classify one Google error object; ``status`` 200 means it came inside a successful answer (a stream).

    =====================================================  ===============  ===============  ==========================
    error                                                  kind             cause            retry_at
    =====================================================  ===============  ===============  ==========================
    400 ``API_KEY_INVALID`` / ``API_KEY_EXPIRED``          AUTH             -                -
    400 ``FAILED_PRECONDITION`` about location or billing  AUTH             -                -
    400 "input token count ... exceeds the maximum"        BAD_REQUEST      CONTEXT_LENGTH   -
    any other 400                                          BAD_REQUEST      -                -
    401, 403 ``PERMISSION_DENIED`` (also a leaked key)     AUTH             -                -
    402 (prepay credit depleted)                           QUOTA            -                -
    404 ``NOT_FOUND``                                      MODEL_NOT_FOUND  -                -
    429 with a quota of ``limit: 0``                       QUOTA            MODEL_ACCESS     -
    429 with a ``...PerDay...`` quota                      QUOTA            PER_MODEL_CAUSE  next midnight Pacific time
    429 with a ``...PerMinute...`` (or any other) quota    RATE_LIMITED     PER_MODEL_CAUSE  now + ``retryDelay``
    429 naming no quota                                    RATE_LIMITED     -                now + ``retryDelay``
    499 ``CANCELLED``                                      CONNECTION       -                -
    500 ``INTERNAL``                                       SERVER           -                -
    503 ``UNAVAILABLE``                                    OVERLOADED       -                -
    504 ``DEADLINE_EXCEEDED``                              TIMEOUT          -                -
    =====================================================  ===============  ===============  ==========================

    Without ``RetryInfo`` the message's "Please retry in 36.4s" is the delay; without either, None (the
    failure table's default cooldown). An error inside a 200 stream is read by its ``code``, else its
    ``status`` name.
    """
    text = str(error.get("message") or "")
    lower = text.lower()
    rpc = str(error.get("status") or "").upper()
    http = status if status >= 400 else (http_status(error.get("code")) or _RPC_STATUS.get(rpc, 500))
    kind = ErrorKind.CONNECTION if http == 499 else kind_for_status(http)
    cause: Cause | None = None
    retry_at: float | None = None
    summary = ""
    if http == 400 and _key_unusable(error, rpc, lower):
        kind = ErrorKind.AUTH
    elif http == 429:
        kind, cause, retry_at, summary = _exhausted(error, text, now)
    elif context_exceeded(kind, text):
        cause = Cause.CONTEXT_LENGTH
    message = clean(f"{summary}: {text}" if summary and text else summary or text, secrets)
    return ProviderError(
        kind, message or "provider returned an error", status=http, retry_at=retry_at, provider=provider, cause=cause
    )


def _key_unusable(error: Mapping[str, Any], rpc: str, lower: str) -> bool:
    """A 400 about the key, not the request: invalid or expired, or not usable from this place."""
    if error_reasons(error) & _DEAD_KEY_REASONS or any(text in lower for text in _DEAD_KEY_TEXTS):
        return True
    return rpc == "FAILED_PRECONDITION" and any(text in lower for text in _PLACE_TEXTS)


def _exhausted(error: Mapping[str, Any], text: str, now: float) -> tuple[ErrorKind, Cause | None, float | None, str]:
    """(kind, cause, retry_at, summary) of a 429 ``RESOURCE_EXHAUSTED``, from which quota ran out."""
    violations = quota_violations(error)
    ids = [str(v.get("quotaId") or "") for v in violations]
    models = sorted({str(m) for v in violations if (m := as_dict(v.get("quotaDimensions")).get("model"))})
    about = f" for {', '.join(models)}" if models else ""
    zero = _LIMIT_ZERO.search(text) or any(str(v.get("quotaValue", "")).strip() == "0" for v in violations)
    if zero:
        return ErrorKind.QUOTA, Cause.MODEL_ACCESS, None, f"model not offered on this project's tier (limit 0){about}"
    daily = [quota for quota in ids if "PerDay" in quota]
    if daily:
        summary = f"daily quota {daily[0]} used up{about}, resets at midnight Pacific time"
        return ErrorKind.QUOTA, PER_MODEL_CAUSE, next_pacific_midnight(now), summary
    delay = retry_delay(error)
    retry_at = now + delay if delay is not None else None
    named = next((quota for quota in ids if quota), "")
    summary = f"rate limit {named} reached{about}" if named else ""
    return ErrorKind.RATE_LIMITED, PER_MODEL_CAUSE if named else None, retry_at, summary
