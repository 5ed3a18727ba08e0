"""Ollama's native chat API, for Ollama Cloud (bearer key) and a local daemon (no key).

See ``reference/providers.md`` §2-§3: ``stream`` defaults to true on the server so
it is always sent; sampling goes in ``options`` (``temperature``, ``top_p``, ``stop``, ``seed``, and the
answer's cap as ``num_predict``); streams are NDJSON ending with a
``done: true`` object that carries the token counts; errors are ``{"error": "text"}``.
Thinking models send their reasoning in ``message.thinking``, apart from the answer.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.providers.base import HttpChatAdapter, body_text
from llmroute.providers.classify import (
    as_dict,
    as_int,
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
from llmroute.providers.framing import TextRepair, ndjson_objects, text_lines
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

_SESSION_SECONDS = 5 * 3600
_WINDOW = re.compile(r"\b(session|hourly|weekly|monthly) usage limit")
#: Texts of refusals that concern one model, not the key (providers-next §8): the key's plan may not use it.
_SUBSCRIPTION = "requires a subscription"
_EXTRA_USAGE_ONLY = "extra usage only"


class OllamaAdapter(HttpChatAdapter):
    chat_path = "/api/chat"
    protocol = "ollama"

    def request_body(self, candidate: Candidate, request: ChatRequest) -> dict[str, Any]:
        require_options(self.protocol, request, self.name)
        return _body(candidate, request)

    def request_headers(self, candidate: Candidate, request: ChatRequest) -> dict[str, str]:
        return {**self.extra_headers, **_auth(candidate.key)}

    def http_error(self, response: httpx.Response, body: bytes, secrets: tuple[str, ...]) -> ProviderError:
        data = load_json(body)
        text = _error_text(data.get("error")) if isinstance(data, dict) else None
        if text is None:
            text = body_excerpt(response.status_code, body, secrets)
        elif isinstance(data, dict) and data.get("signin_url"):
            text = f"{text} (sign the local daemon in with `ollama signin`)"
        return classify_error(
            response.status_code, text, response.headers, secrets, time.time(), self.name, local=self.local
        )

    async def read_stream(
        self, response: httpx.Response, candidate: Candidate, secrets: tuple[str, ...]
    ) -> AsyncIterator[StreamEvent]:
        repair, thoughts = TextRepair(), TextRepair()
        async for obj in ndjson_objects(text_lines(body_text(response), sse=False, provider=self.name), self.name):
            self._raise_if_error(obj, secrets)
            if thinking := thoughts.feed(_content(obj, "thinking")):
                yield ReasoningDelta(thinking)
            if text := repair.feed(_content(obj)):
                yield TextDelta(text)
            if obj.get("done") is True:
                if tail := thoughts.flush():
                    yield ReasoningDelta(tail)
                if tail := repair.flush():
                    yield TextDelta(tail)
                yield _end(obj, candidate)
                return
        raise ProviderError(ErrorKind.BAD_RESPONSE, "stream ended before completion", provider=self.name)

    def read_body(
        self, response: httpx.Response, body: bytes, candidate: Candidate, secrets: tuple[str, ...]
    ) -> list[StreamEvent]:
        data = load_json(body)
        if not isinstance(data, dict):
            message = f"response is not a JSON object ({body_excerpt(200, body, secrets)})"
            raise ProviderError(ErrorKind.BAD_RESPONSE, message, status=200, provider=self.name)
        self._raise_if_error(data, secrets)
        if "message" not in data:
            raise ProviderError(ErrorKind.BAD_RESPONSE, "response has no message", provider=self.name)
        thinking, text = valid_unicode(_content(data, "thinking")), valid_unicode(_content(data))
        events: list[StreamEvent] = [ReasoningDelta(thinking)] if thinking else []
        if text:
            events.append(TextDelta(text))
        events.append(_end(data, candidate))
        return events

    async def list_models(self, slot: KeySlot, *, timeout: float) -> list[ModelInfo]:
        """``GET /api/tags``: names only. Context lengths need one ``/api/show`` per model, so none are asked."""
        key = slot.key
        rows = (self._json(await self._send("GET", "/api/tags", key, timeout), key)).get("models")
        if not isinstance(rows, list):
            raise ProviderError(ErrorKind.BAD_RESPONSE, "the model list has no models", provider=self.name)
        return [info for row in rows if (info := self._model_info(row)) is not None]

    async def probe_key(self, slot: KeySlot, *, timeout: float) -> KeyInfo:
        """Local: ``GET /api/version``. Cloud: an empty chat request, since every listing endpoint is public.

        Ollama Cloud checks the key before the body: 401 means a bad key, 400
        (the empty body refused) means the key passed (reference §2.2).
        """
        key = slot.key
        if self.local:
            version = (self._json(await self._send("GET", "/api/version", None, timeout), None)).get("version")
            return KeyInfo(detail=f"Ollama {version}" if isinstance(version, str) and version else "Ollama")
        response = await self._send("POST", "/v1/chat/completions", key, timeout, body={})
        if response.status_code == 400 or response.is_success:
            return KeyInfo()
        raise self.http_error(response, response.content, self.secrets(key))

    async def _send(
        self, method: str, path: str, key: ApiKey | None, timeout: float, body: object = None
    ) -> httpx.Response:
        import httpx

        headers = {**self.extra_headers, **_auth(key)}
        client = self._clients.client(self.base_url)
        try:
            return await client.request(
                method, f"{self.base_url}{path}", headers=headers, json=body, timeout=httpx.Timeout(timeout)
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.name) from exc

    def _json(self, response: httpx.Response, key: ApiKey | None) -> dict[str, Any]:
        """The JSON object of a successful answer; any other answer is a classified failure."""
        secrets = self.secrets(key)
        if not response.is_success:
            raise self.http_error(response, response.content, secrets)
        data = load_json(response.content)
        if not isinstance(data, dict):
            excerpt = body_excerpt(response.status_code, response.content, secrets)
            raise ProviderError(
                ErrorKind.BAD_RESPONSE, f"response is not a JSON object ({excerpt})", status=200, provider=self.name
            )
        self._raise_if_error(data, secrets)
        return data

    def _model_info(self, row: object) -> ModelInfo | None:
        """A tags row; a local daemon's cloud stub (``remote_host``) runs on the cloud account, so is not free."""
        if not isinstance(row, dict):
            return None
        name = row.get("name") or row.get("model")
        if not isinstance(name, str) or not name.strip():
            return None
        return ModelInfo(provider=self.name, model=name.strip(), free=self.local and not row.get("remote_host"))

    def _raise_if_error(self, data: Mapping[str, Any], secrets: tuple[str, ...]) -> None:
        """A 200 body or stream line holding ``error`` is a failure (HTTP status stays 200 mid-stream)."""
        if data.get("error") is not None:
            text = _error_text(data["error"]) or "provider returned an error"
            raise classify_error(200, text, {}, secrets, time.time(), self.name, local=self.local)


def classify_error(
    status: int,
    text: str,
    headers: Mapping[str, str],
    secrets: Iterable[str],
    now: float,
    provider: str | None = None,
    *,
    local: bool = False,
) -> ProviderError:
    """Classify an Ollama ``error`` text; ``status`` 200 means it arrived inside a successful response.

    The cause says when a refusal concerns less than the key: one model its plan may not use
    (``MODEL_ACCESS``), or, from a ``local`` daemon, its cloud models (``CLOUD_MODEL``: a daemon
    needs no key for its local models, so any 401/403 of its is about the cloud). Usage limits stay
    account-wide (no cause), as does a bad key on Ollama Cloud.
    """
    lower = text.lower()
    retry_at = parse_retry_after(header(headers, "Retry-After"), now)
    cause: Cause | None = None
    if "usage limit" in lower:
        kind, retry_at = ErrorKind.QUOTA, usage_limit_reset(lower, now) or retry_at
    elif _SUBSCRIPTION in lower and status < 500:
        kind, cause = ErrorKind.AUTH, Cause.MODEL_ACCESS
    elif _EXTRA_USAGE_ONLY in lower and status < 500:
        kind, cause = ErrorKind.QUOTA, Cause.MODEL_ACCESS
    elif status in (401, 403):
        kind = ErrorKind.AUTH
        cause = Cause.CLOUD_MODEL if local else None
    elif status == 404 or (400 <= status < 500 and status != 429 and "not found" in lower):
        kind = ErrorKind.MODEL_NOT_FOUND
    elif status == 499:
        kind = ErrorKind.CONNECTION
    elif status < 400:
        kind = ErrorKind.SERVER
    else:
        kind = kind_for_status(status)
        cause = Cause.CONTEXT_LENGTH if context_exceeded(kind, text) else None
    message = clean(text, secrets) or "provider returned an error"
    return ProviderError(kind, message, status=status, retry_at=retry_at, provider=provider, cause=cause)


def usage_limit_reset(message: str, now: float) -> float | None:
    """When the usage window named in an Ollama Cloud limit message resets, as an epoch time.

    Ollama documents none of this; the windows are community-derived (reference
    §2.7): session windows align to epoch multiples of 5 h, hourly to the full
    hour, weekly to Monday 00:00 UTC, monthly to the 1st 00:00 UTC.
    """
    match = _WINDOW.search(message.lower())
    if match is None:
        return None
    window = match.group(1)
    if window == "session":
        return _next_multiple(now, _SESSION_SECONDS)
    if window == "hourly":
        return _next_multiple(now, 3600)
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if window == "weekly":
        return (midnight + timedelta(days=7 - midnight.weekday())).timestamp()
    return (midnight.replace(day=1) + timedelta(days=32)).replace(day=1).timestamp()


def _next_multiple(now: float, period: int) -> float:
    return float((int(now // period) + 1) * period)


def _auth(key: ApiKey | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.secret}"} if key is not None else {}


def _error_text(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    message = value.get("message") if isinstance(value, dict) else None
    return message if isinstance(message, str) and message else None


def _content(data: Mapping[str, Any], field: str = "content") -> str:
    """A text field of the message: ``content`` (the answer) or ``thinking`` (the reasoning, never the answer)."""
    content = as_dict(data.get("message")).get(field)
    return content if isinstance(content, str) else ""


def _end(data: Mapping[str, Any], candidate: Candidate) -> StreamEnd:
    model = data.get("model")
    usage = Usage(input_tokens=as_int(data.get("prompt_eval_count")), output_tokens=as_int(data.get("eval_count")))
    return StreamEnd(
        model=model if isinstance(model, str) and model else candidate.model,
        usage=usage,
        finish_reason=data.get("done_reason") or None,
    )


def _body(candidate: Candidate, request: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": candidate.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": request.stream,
    }
    options: dict[str, Any] = {}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if stop := stop_sequences(request):
        options["stop"] = stop
    if request.seed is not None:
        options["seed"] = request.seed
    if options:
        body["options"] = options
    return body
