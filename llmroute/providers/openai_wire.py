"""The OpenAI Chat Completions wire, read and written once for every provider that speaks it.

OpenRouter, OpenAI (and any OpenAI-compatible endpoint), Azure OpenAI and Cloudflare Workers AI
send the same request and answer with the same bodies and SSE chunks. What differs is small and
named here as hooks, each overridden in one module per provider dialect:

- where the request goes (:meth:`~HttpChatAdapter.chat_url`, :meth:`OpenAIWireAdapter.models_url`);
- how the key travels (:meth:`OpenAIWireAdapter.auth_headers`);
- the max-tokens field, whether to ask for a final usage chunk, and which options the dialect carries
  (class attributes; the last is a row of :data:`~llmroute.providers.options.WIRES`);
- where an error object sits in a body (:meth:`OpenAIWireAdapter.error_of`) and what it means
  (:meth:`OpenAIWireAdapter.classify`: kind, cause and reset time, from the provider's own headers);
- what the usage object holds (:meth:`OpenAIWireAdapter.usage`; a cost only where reported).

Every reader tolerates what any of them sends: ``choices: []`` chunks (a usage chunk, Azure's
prompt-filter preamble), chunks without ``delta``, reasoning in ``reasoning`` / ``reasoning_details``
apart from the answer, and an error object inside a 200 body or stream.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from llmroute.errors import ErrorKind, ProviderError
from llmroute.providers.base import HttpChatAdapter, body_text
from llmroute.providers.classify import as_dict, as_int, body_excerpt, load_json, transport_error, valid_unicode
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


class OpenAIWireAdapter(HttpChatAdapter):
    """``POST .../chat/completions`` with a JSON body; an SSE stream ending at ``[DONE]``, or one JSON body."""

    chat_path = "/chat/completions"
    models_path = "/models"
    #: The body field that caps the answer: ``max_tokens``, or ``max_completion_tokens`` where
    #: reasoning models reject the older name (OpenAI, Azure).
    max_tokens_field = "max_tokens"
    #: Send ``stream_options.include_usage``: providers that report stream usage only when asked.
    include_usage = False
    #: The row of :data:`~llmroute.providers.options.WIRES` that says which options this dialect carries.
    protocol = "openai"

    # --- the request ---------------------------------------------------------------------------------------

    def request_body(self, candidate: Candidate, request: ChatRequest) -> dict[str, Any]:
        """The Chat Completions body; ``stop`` always as an array (the wire also takes one string). An option
        this dialect cannot carry (:func:`~llmroute.providers.options.check_options`) is refused, never dropped."""
        require_options(self.protocol, request, self.name)
        body: dict[str, Any] = {
            "model": candidate.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": request.stream,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.max_tokens is not None:
            body[self.max_tokens_field] = request.max_tokens
        if stop := stop_sequences(request):
            body["stop"] = stop
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stream and self.include_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    def request_headers(self, candidate: Candidate, request: ChatRequest) -> dict[str, str]:
        headers = {**self.extra_headers, **self.auth_headers(candidate.key)}
        if request.stream:
            headers["Accept"] = "text/event-stream"
        return headers

    def auth_headers(self, key: ApiKey | None) -> dict[str, str]:
        """How the key travels; nothing for a keyless endpoint."""
        return {"Authorization": f"Bearer {key.secret}"} if key is not None else {}

    # --- the dialect ---------------------------------------------------------------------------------------

    def error_of(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """The error object a body or chunk holds, if any (``{"error": {...}}`` or ``{"error": "text"}``)."""
        return as_error(data.get("error"))

    @abstractmethod
    def classify(
        self, status: int, error: Mapping[str, Any], headers: Mapping[str, str], secrets: tuple[str, ...], now: float
    ) -> ProviderError:
        """One error object as a classified failure; ``status`` 200 means it came inside a successful answer."""

    def usage(self, data: object) -> Usage:
        """Token counts of a ``usage`` object; no cost (the gate prices these providers from the catalogue)."""
        if not isinstance(data, dict):
            return Usage()
        return Usage(
            input_tokens=as_int(data.get("prompt_tokens")), output_tokens=as_int(data.get("completion_tokens"))
        )

    # --- the answer ----------------------------------------------------------------------------------------

    def http_error(self, response: httpx.Response, body: bytes, secrets: tuple[str, ...]) -> ProviderError:
        data = load_json(body)
        error = self.error_of(data) if isinstance(data, dict) else None
        if error is None:
            error = {"message": body_excerpt(response.status_code, body, secrets)}
        return self.classify(response.status_code, error, response.headers, secrets, time.time())

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
        choice = first_choice(data)
        self.raise_if_failed(data, choice, response.headers, secrets)
        if not choice:
            raise ProviderError(ErrorKind.BAD_RESPONSE, "response has no choices", provider=self.name)
        message = as_dict(choice.get("message"))
        # The answer is ``content`` alone: an empty one next to ``reasoning`` (all of ``max_tokens`` spent
        # thinking) is no answer, and the reasoning is never passed off as one (ref §1.3, next §8).
        events: list[StreamEvent] = []
        if reasoning := reasoning_of(message):
            events.append(ReasoningDelta(valid_unicode(reasoning)))
        text = message.get("content")
        if isinstance(text, str) and text:
            events.append(TextDelta(valid_unicode(text)))
        events.append(
            StreamEnd(model_of(data, candidate.model), self.usage(data.get("usage")), choice.get("finish_reason"))
        )
        return events

    async def read_stream(
        self, response: httpx.Response, candidate: Candidate, secrets: tuple[str, ...]
    ) -> AsyncIterator[StreamEvent]:
        events = sse_events(text_lines(body_text(response), sse=True, provider=self.name))
        repair, thoughts = TextRepair(), TextRepair()
        model, usage, finish = candidate.model, Usage(), None
        async for payload in events:
            chunk = json_object(payload, self.name)
            choice = first_choice(chunk)
            self.raise_if_failed(chunk, choice, response.headers, secrets)
            model = model_of(chunk, model)
            if isinstance(chunk.get("usage"), dict):  # OpenAI sends ``usage: null`` on every other chunk
                usage = self.usage(chunk["usage"])
            delta = as_dict(choice.get("delta"))
            if reasoning := thoughts.feed(reasoning_of(delta)):
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

    def raise_if_failed(
        self,
        data: Mapping[str, Any],
        choice: Mapping[str, Any],
        headers: Mapping[str, str],
        secrets: tuple[str, ...],
    ) -> None:
        """A 200 body or chunk is a failure when it holds an error or ends with ``finish_reason: error``."""
        error = self.error_of(data) or as_error(choice.get("error"))
        if error is None and choice.get("finish_reason") == "error":
            error = {"message": "provider ended the answer with an error"}
        if error is not None:
            raise self.classify(200, error, headers, secrets, time.time())

    # --- the catalogue and the key check -------------------------------------------------------------------

    def models_url(self, slot: KeySlot) -> str:
        return f"{self.base_url}{self.models_path}"

    async def list_models(self, slot: KeySlot, *, timeout: float) -> list[ModelInfo]:
        """``GET /models``: ids only (the OpenAI wire publishes no prices or context lengths)."""
        rows = (await self.get_json(self.models_url(slot), slot, timeout)).get("data")
        if not isinstance(rows, list):
            raise ProviderError(ErrorKind.BAD_RESPONSE, "the model list has no data", provider=self.name)
        return [ModelInfo(provider=self.name, model=model) for row in rows if (model := model_id(row))]

    async def probe_key(self, slot: KeySlot, *, timeout: float) -> KeyInfo:
        """``GET /models`` is free and answers 200 only to a working key (a keyless endpoint: that it is up)."""
        await self.get_json(self.models_url(slot), slot, timeout)
        return KeyInfo()

    async def get_json(
        self, url: str, slot: KeySlot, timeout: float, *, params: Mapping[str, str | int] | None = None
    ) -> dict[str, Any]:
        """A GET answered with a JSON object; any other answer (or an error object in it) is a classified failure."""
        import httpx

        secrets = self.secrets(slot.key)
        headers = {**self.extra_headers, **self.auth_headers(slot.key)}
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
        error = self.error_of(data)
        # An error object beside a payload (``data``, or a v4 envelope's ``result``) does not void it.
        if error is not None and data.get("data") is None and data.get("result") is None:
            raise self.classify(200, error, response.headers, secrets, time.time())
        return data


def as_error(value: object) -> dict[str, Any] | None:
    """An error field as an object: a string becomes ``{"message": text}``; anything empty is no error."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        return {"message": value}
    return None


def first_choice(data: Mapping[str, Any]) -> dict[str, Any]:
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def model_of(data: Mapping[str, Any], default: str) -> str:
    """The model that answered, where the body names it (Azure's first chunk has ``model: ""``)."""
    model = data.get("model")
    return model if isinstance(model, str) and model else default


def model_id(row: object) -> str | None:
    """The ``id`` of a ``/models`` row, if it has a usable one."""
    model = row.get("id") if isinstance(row, dict) else None
    return model.strip() if isinstance(model, str) and model.strip() else None


def reasoning_of(holder: Mapping[str, Any]) -> str:
    """The reasoning text of a message or a stream delta: ``reasoning``, else what ``reasoning_details`` shows.

    OpenRouter sends the same thoughts twice, as the ``reasoning`` string and as structured
    ``reasoning_details`` (``reasoning.text`` blocks with ``text``, ``reasoning.summary`` with
    ``summary``, ``reasoning.encrypted`` with opaque ``data``); the string is the readable
    whole, so the details are read only when it is missing, and encrypted blocks never.
    Self-hosted servers (vLLM, llama.cpp, DeepSeek's API) name the string ``reasoning_content``.
    """
    for field in ("reasoning", "reasoning_content"):
        text = holder.get(field)
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
