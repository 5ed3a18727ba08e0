"""The OpenAI front of ``llmroute serve``: ``POST /v1/chat/completions`` and ``GET /v1/models``.

It only translates. A request body becomes a :class:`~llmroute.types.ChatRequest` (validated strictly: a wrong
type or value is a 400 naming the field, never a guess); the router's stream becomes a ``chat.completion`` object
or ``chat.completion.chunk`` server-sent events ending ``data: [DONE]``; a failure becomes OpenAI's error shape
with the status a client library acts on (:func:`~llmroute.server.gateway.failure_of`).

Streams: nothing is sent before the first token of the answer, so that a failure before it (every key limited,
every candidate failed) is still a proper error status, and the router fails over before it as ``chat`` does. A
reasoning model's reasoning (``delta.reasoning_content``, as DeepSeek and vLLM send it) is held until then, and
only the answering attempt's is sent. After the first token a failure cannot fail over: the stream ends with an
explicit error event (``data: {"error": {...}}``) and no ``[DONE]``, which the OpenAI clients raise on.

Headers of every chat answer: ``X-Llmroute-Provider``, ``X-Llmroute-Key`` (the key's label, never the key),
``X-Llmroute-Attempts`` and ``X-Llmroute-Request-Id`` (the ledger's request id; the completion id is
``chatcmpl-<request id>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from llmroute import aliases, catalog
from llmroute.errors import LlmrouteError, RouteError
from llmroute.server.app import (
    Refused,
    bad_request,
    dumps,
    error_type,
    json_response,
    openai_error,
    read_json,
    register_errors,
    result_headers,
    route_headers,
    routing_of,
    trace_headers,
)
from llmroute.server.gateway import Failure, Gateway, RouteTrace, failure_of
from llmroute.types import (
    Attempt,
    ChatRequest,
    ChatResult,
    Message,
    ReasoningDelta,
    TextDelta,
    Target,
    Usage,
)

log = logging.getLogger("llmroute")

API = "openai"
GATEWAY_KEY = web.AppKey("llmroute_openai_gateway", Gateway)

#: Roles a message may have; ``developer`` (OpenAI's newer name for the system prompt) is sent as ``system``.
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
#: Finish reasons OpenAI's clients know; any other is ``content_filter`` when it says so, else ``stop``.
FINISH_REASONS = frozenset({"stop", "length", "content_filter", "tool_calls"})
_FILTERED = ("filter", "safety", "refusal", "blocklist", "prohibited", "spii", "recitation", "guardrail")
MAX_STOP = 4
"""Stop sequences per request (OpenAI's own limit)."""
WRITE_TIMEOUT = 60.0
"""Seconds a streamed answer waits for a client that stopped reading before it gives up on it (the request is
then cancelled, as when the client leaves)."""
FAREWELL_TIMEOUT = 1.0
"""Seconds the last words of a cancelled stream (its error event) may take to go out."""
_INT64 = 2**63


def add_routes(app: web.Application, gateway: Gateway) -> None:
    app[GATEWAY_KEY] = gateway
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model:.+}", get_model)
    register_errors(app, "/v1/", openai_error)


# ----------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class ChatCall:
    """A validated ``/v1/chat/completions`` request."""

    request: ChatRequest
    stream: bool
    include_usage: bool


def parse_chat(body: Any, headers: Mapping[str, str], gateway: Gateway) -> ChatCall:
    """The request body and headers as a :class:`ChatCall`; ``Refused`` (400) naming what is wrong.

    Used: ``messages``, ``model``, ``stream``, ``stream_options.include_usage``, ``max_tokens`` /
    ``max_completion_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``; headers ``X-Provider`` (try that
    provider first) and ``X-Llmroute-Privacy: critical`` (local models only). Refused because they cannot be
    honoured: tools and function calls, ``n`` other than 1, ``logprobs``, a ``response_format`` other than text,
    content other than text. Anything else is ignored, as the fields OpenAI's clients send by default are.
    """
    settings = gateway.settings
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    messages = _messages(body.get("messages"))
    _refuse_unsupported(body)
    stream = _boolean(body, "stream") or False
    include_usage = False
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            raise bad_request("'stream_options' is only allowed when 'stream' is true")
        if not isinstance(options, dict):
            raise bad_request("'stream_options' must be an object")
        include_usage = _boolean(options, "include_usage", "stream_options.include_usage") or False
    max_tokens = _integer(body, "max_tokens", 1, _INT64 - 1)
    max_completion = _integer(body, "max_completion_tokens", 1, _INT64 - 1)
    if None not in (max_tokens, max_completion) and max_tokens != max_completion:
        raise bad_request("'max_tokens' and 'max_completion_tokens' differ: give one of them")
    return ChatCall(
        request=ChatRequest(
            messages=messages,
            model=_model(body.get("model")),
            temperature=_number(body, "temperature", 0.0, 2.0),
            max_tokens=max_completion if max_completion is not None else max_tokens,
            stream=stream,  # a whole answer is asked for whole: one body to read, nothing to fail midway
            **routing_of(headers, settings),
            top_p=_number(body, "top_p", 0.0, 1.0),
            stop=_stop(body.get("stop")),
            seed=_integer(body, "seed", -_INT64, _INT64 - 1),
        ),
        stream=stream,
        include_usage=include_usage,
    )


def _messages(value: Any) -> tuple[Message, ...]:
    if value is None:
        raise bad_request("'messages' is required: a non-empty array of {role, content} objects")
    if not isinstance(value, list) or not value:
        raise bad_request("'messages' must be a non-empty array of {role, content} objects")
    out = []
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad_request(f"'{where}' must be an object with 'role' and 'content'")
        role = message.get("role")
        if role in ("tool", "function") or message.get("tool_calls") or message.get("function_call"):
            raise bad_request(f"'{where}': tool and function calls are not supported by llmroute serve")
        if not isinstance(role, str) or role not in ROLES:
            raise bad_request(f"'{where}.role' must be one of {', '.join(ROLES)}")
        out.append(Message(ROLES[role], _content(message.get("content"), role, where)))
    return tuple(out)


def _content(content: Any, role: str, where: str) -> str:
    if isinstance(content, str):
        return content
    if content is None and role == "assistant":
        return ""
    if not isinstance(content, list):
        raise bad_request(f"'{where}.content' must be a string or an array of text parts")
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise bad_request(f"'{where}.content[{j}]' must be an object with a 'type'")
        if part["type"] != "text":
            raise bad_request(f"'{where}.content[{j}]': only text content is supported, not {part['type']!r}")
        if not isinstance(part.get("text"), str):
            raise bad_request(f"'{where}.content[{j}].text' must be a string")
        texts.append(part["text"])
    return "".join(texts)


def _refuse_unsupported(body: Mapping[str, Any]) -> None:
    """Options a client relies on that no route here can honour: refused rather than silently dropped."""
    for name in ("tools", "functions"):
        if body.get(name):
            raise bad_request(f"'{name}': tool and function calls are not supported by llmroute serve")
    n = body.get("n")
    if n is not None and (not _is_int(n) or n != 1):
        raise bad_request("'n' must be 1: llmroute serve returns one choice")
    if body.get("logprobs") not in (None, False):
        raise bad_request("'logprobs' is not supported by llmroute serve")
    response_format = body.get("response_format")
    if response_format is not None:
        if not isinstance(response_format, dict) or not isinstance(response_format.get("type"), str):
            raise bad_request("'response_format' must be an object with a 'type'")
        if response_format["type"] != "text":
            raise bad_request(f"'response_format' {response_format['type']!r} is not supported: only 'text'")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _boolean(body: Mapping[str, Any], name: str, shown: str | None = None) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise bad_request(f"'{shown or name}' must be true or false")
    return value


def _number(body: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(f"'{name}' must be a number from {low:g} to {high:g}")
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be from {low:g} to {high:g}, not {value:g}")
    return float(value)


def _integer(body: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not _is_int(value):
        raise bad_request(f"'{name}' must be an integer")
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be at least {low}" if value < low else f"'{name}' is too large")
    return int(value)


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) and s for s in items):
        raise bad_request("'stop' must be a non-empty string or an array of non-empty strings")
    if len(items) > MAX_STOP:
        raise bad_request(f"'stop' may hold at most {MAX_STOP} sequences")
    return tuple(items)


def _model(value: Any) -> str | None:
    """The spec, passed to the router as ``chat -m`` passes it (alias, name or ``provider:model``); absent = the
    default model."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad_request("'model' must be a non-empty string: an alias, a model name or provider:model")
    if value.strip().endswith(":"):
        raise bad_request(f"no model after {value.strip()!r}: use provider:model, an alias or a model name")
    return value.strip()


# ----------------------------------------------------------------------------------------------- answers


async def chat_completions(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY_KEY]
    started = time.monotonic()
    status, stream, attempts = 400, False, ()
    ttft: list[float] = []
    try:
        call = parse_chat(await read_json(request), request.headers, gateway)
        stream = call.stream
        if stream:
            response = await _stream(request, gateway, call, started, ttft)
        else:
            response = await _complete(request, gateway, call)
        status, attempts = response.status, _attempts_of(response)
        return response
    except Refused as exc:
        status, attempts = exc.failure.status, exc.attempts if isinstance(exc, _RouteRefused) else ()
        raise
    except (asyncio.CancelledError, ConnectionError):  # the client left, or shutdown's grace ran out
        status = 499
        raise
    except Exception:
        status = 500
        raise
    finally:
        _observe(gateway, status, time.monotonic() - started, ttft[0] if ttft else None, attempts, stream)


class _RouteRefused(Refused):
    """A routing failure before any answer: its attempts are kept for the metrics."""

    def __init__(self, failure: Failure, headers: Mapping[str, str], attempts: tuple[Attempt, ...]) -> None:
        super().__init__(failure, headers)
        self.attempts = attempts


def _refusal(exc: LlmrouteError, trace: RouteTrace) -> _RouteRefused:
    attempts = exc.attempts if isinstance(exc, RouteError) else ()
    headers = route_headers(len(attempts), trace.request_id)
    failure = failure_of(exc)
    _log_failure(failure)
    return _RouteRefused(failure, headers, attempts)


def _log_failure(failure: Failure) -> None:
    """Routing failures are the client's news (shown with ``-v``); a state file that fails is the operator's."""
    if failure.status == 500 or failure.code == "unavailable":
        log.warning("%s", failure.message)
    else:
        log.info("%s", failure.message)


async def _complete(request: web.Request, gateway: Gateway, call: ChatCall) -> web.Response:
    """Buffered, as ``chat --json``: nothing is shown before the whole answer, so any failure fails over.

    The answer is sent as soon as it is whole; its attempt is settled in the ledger right after (the client does
    not wait for that write).
    """
    created = int(time.time())
    response = None
    with gateway.trace() as trace:
        try:
            stream = gateway.router.stream(call.request, buffered=True, settle_after_result=True)
            async with aclosing(stream) as items:
                async for item in items:
                    if isinstance(item, ChatResult):
                        response = _whole_answer(item, created)
                        await response.prepare(request)
                        await response.write_eof()
        except LlmrouteError as exc:
            if response is not None:  # the answer went out; its settlement is what failed (the state file's news)
                log.warning("%s", exc)
                return response
            raise _refusal(exc, trace) from None
    assert response is not None
    return response


def _whole_answer(result: ChatResult, created: int) -> web.Response:
    message: dict[str, Any] = {"role": "assistant", "content": result.text}
    if result.reasoning:
        message["reasoning_content"] = result.reasoning
    document = {
        "id": f"chatcmpl-{result.request_id}",
        "object": "chat.completion",
        "created": created,
        "model": result.model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason(result.finish_reason), "logprobs": None}
        ],
        "usage": usage_document(result.usage),
    }
    response = json_response(document, headers=result_headers(result))
    response[_ATTEMPTS] = result.attempts
    return response


_ATTEMPTS = "llmroute_attempts"


def _attempts_of(response: web.StreamResponse) -> tuple[Attempt, ...]:
    return response.get(_ATTEMPTS, ())


async def _stream(
    request: web.Request, gateway: Gateway, call: ChatCall, started: float, ttft: list[float]
) -> web.StreamResponse:
    created = int(time.time())
    with gateway.trace() as trace:
        sse = _Events(request, call, trace, created)
        try:
            async with aclosing(gateway.router.stream(call.request, keep_text=False)) as items:
                async for item in items:
                    if isinstance(item, ReasoningDelta):
                        await sse.reasoning(item.text)
                    elif isinstance(item, TextDelta):
                        if not ttft:
                            ttft.append(time.monotonic() - started)
                        await sse.text(item.text)
                    elif isinstance(item, ChatResult):
                        await sse.finish(item)
        except LlmrouteError as exc:
            if sse.response is None:
                raise _refusal(exc, trace) from None
            failure = failure_of(exc)
            _log_failure(failure)
            sse.response[_ATTEMPTS] = exc.attempts if isinstance(exc, RouteError) else ()
            await sse.fail(failure)
        except asyncio.CancelledError:
            # Shutdown's grace ran out (or the client left): say so if anyone is listening, then stop.
            if sse.response is not None:
                with contextlib.suppress(Exception):
                    farewell = Failure(503, "shutting_down", "the gateway stopped before the answer ended")
                    await sse.fail(farewell, timeout=FAREWELL_TIMEOUT)
            raise
    assert sse.response is not None
    return sse.response


class _Events:
    """The server-sent events of one streamed answer; the HTTP head goes out with the first token."""

    def __init__(self, request: web.Request, call: ChatCall, trace: RouteTrace, created: int) -> None:
        self.request = request
        self.call = call
        self.trace = trace
        self.created = created
        self.response: web.StreamResponse | None = None
        self.held: list[tuple[int, str]] = []
        """Reasoning that arrived before the first token, by the attempt it came from."""
        self.model = call.request.model or ""
        self.role_sent = False
        self._own_id = uuid.uuid4().hex[:16]
        """The completion id when the router says none (a plain :class:`~llmroute.router.Router`)."""

    @property
    def id(self) -> str:
        return f"chatcmpl-{self.trace.request_id or self._own_id}"

    async def reasoning(self, text: str) -> None:
        if self.response is None:
            self.held.append((self.trace.attempt_number, text))
            return
        await self._delta({"reasoning_content": text})

    async def text(self, text: str) -> None:
        if self.response is None:
            await self._open(None)
        await self._delta({"content": text})

    async def finish(self, result: ChatResult) -> None:
        if self.response is None:
            await self._open(result)
        self.model = result.model or self.model
        end = {"index": 0, "delta": {}, "finish_reason": finish_reason(result.finish_reason), "logprobs": None}
        await self._chunk([end])
        if self.call.include_usage:
            await self._send({**self._base(), "choices": [], "usage": usage_document(result.usage)})
        await self._write(b"data: [DONE]\n\n")
        await self._write(None)
        self.response[_ATTEMPTS] = result.attempts

    async def fail(self, failure: Failure, *, timeout: float | None = None) -> None:
        """The explicit end of a broken stream: an error event and no ``[DONE]``."""
        assert self.response is not None
        error = {"message": failure.message, "type": error_type(failure.status), "code": failure.code, "param": None}
        await self._write(b"data: " + dumps({"error": error}) + b"\n\n", timeout=timeout)
        await self._write(None, timeout=timeout)

    async def _open(self, result: ChatResult | None) -> None:
        candidate = self.trace.candidate
        headers = result_headers(result) if result is not None else trace_headers(self.trace)
        if result is None and candidate is not None:
            self.model = candidate.model
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                **headers,
            },
        )
        await response.prepare(self.request)
        self.response = response
        # The answering attempt: the one in flight, or with the result the last one recorded.
        number = len(result.attempts) if result is not None else self.trace.attempt_number
        held, self.held = self.held, []
        for attempt, text in held:
            if attempt == number or candidate is None:  # only the answering attempt's reasoning
                await self._delta({"reasoning_content": text})

    async def _delta(self, delta: dict[str, Any]) -> None:
        if not self.role_sent:
            delta = {"role": "assistant", **delta}
            self.role_sent = True
        await self._chunk([{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}])

    def _base(self) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model}

    async def _chunk(self, choices: list[dict[str, Any]]) -> None:
        document = {**self._base(), "choices": choices}
        if self.call.include_usage:
            document["usage"] = None
        await self._send(document)

    async def _send(self, document: dict[str, Any]) -> None:
        await self._write(b"data: " + dumps(document) + b"\n\n")

    async def _write(self, data: bytes | None, *, timeout: float | None = None) -> None:
        """Send ``data`` (None: the end of the body); a client that has read nothing for ``timeout`` seconds
        (default :data:`WRITE_TIMEOUT`) is treated as gone."""
        assert self.response is not None
        timeout = WRITE_TIMEOUT if timeout is None else timeout
        try:
            async with asyncio.timeout(timeout):
                await (self.response.write(data) if data is not None else self.response.write_eof())
        except TimeoutError:
            raise ConnectionResetError(f"the client read nothing for {timeout:g} seconds") from None


def finish_reason(reason: str | None) -> str:
    if reason in FINISH_REASONS:
        return reason
    if reason and any(word in reason.lower() for word in _FILTERED):
        return "content_filter"
    return "stop"


def usage_document(usage: Usage) -> dict[str, Any]:
    """OpenAI's usage counts (0 where the provider said nothing), and ``cost`` in USD where known (as OpenRouter
    adds it)."""
    prompt, completion = usage.input_tokens or 0, usage.output_tokens or 0
    document: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if usage.cost_micros is not None:
        document["cost"] = usage.cost_micros / 1_000_000
    return document


def _observe(
    gateway: Gateway,
    status: int,
    seconds: float,
    ttft: float | None,
    attempts: tuple[Attempt, ...],
    stream: bool,
) -> None:
    if gateway.metrics is None:
        return
    try:
        gateway.metrics.observe(
            api=API, status=status, seconds=seconds, ttft_seconds=ttft, attempts=attempts, stream=stream
        )
    except Exception as exc:  # metrics must never fail a request
        log.warning("could not record metrics: %s: %s", type(exc).__name__, exc)


# ----------------------------------------------------------------------------------------------- models


async def list_models(request: web.Request) -> web.Response:
    return json_response({"object": "list", "data": models(request.app[GATEWAY_KEY])})


async def get_model(request: web.Request) -> web.Response:
    wanted = request.match_info["model"]
    for model in models(request.app[GATEWAY_KEY]):
        if model["id"] == wanted:
            return json_response(model)
    raise Refused(Failure(404, "model_not_found", f"the model {wanted!r} is not known here: see GET /v1/models"))


def models(gateway: Gateway) -> list[dict[str, Any]]:
    """The aliases that reach a usable provider, then every cached catalogue model as ``provider:model`` (both
    are what ``model`` takes), retired models left out. Reads the state file only, never the network: the
    catalogues are those ``llmroute models`` cached (``llmroute models --refresh`` fetches them)."""
    settings = gateway.settings
    now = time.time()
    usable = {p.name for p in catalog.usable_providers(settings)}
    names = tuple(p.name for p in settings.providers)
    out: list[dict[str, Any]] = []
    for name in sorted({*aliases.CURRENT_ALIASES, *settings.aliases}):
        targets = aliases.resolve(name, settings.aliases, names)
        current, _ = catalog.current_targets(targets, gateway.store, now)
        if any(t.provider in usable for t in current):
            out.append({"id": name, "object": "model", "created": 0, "owned_by": "llmroute"})
    cached = gateway.store.catalogs(sorted(usable))
    infos = {(m.provider, m.model): m for c in cached.values() for m in c.models}
    known = {key: catalog.lifecycle(*key, info) for key, info in infos.items()}
    today = datetime.fromtimestamp(now, UTC).date().isoformat()
    for provider in sorted(cached):
        for info in sorted(cached[provider].models, key=lambda m: m.model):
            target = Target(provider, info.model)
            if catalog.current_target(target, known, today)[0] != target:
                continue
            out.append(
                {
                    "id": str(target),
                    "object": "model",
                    "created": int(cached[provider].fetched_at),
                    "owned_by": provider,
                }
            )
    return out
