"""The Ollama front of ``llmroute serve``: Ollama's native API over the router, for clients that speak only Ollama.

Routes (wire facts from reference/providers.md §2.3-2.5 and §3.1-3.2):

- ``GET``/``HEAD /`` -> ``Ollama is running``; ``GET /api/version``; ``GET /api/ps`` (nothing is ever loaded here);
- ``GET /api/tags``: llmroute's aliases and the cached catalogue models, in Ollama's list shape;
- ``POST /api/show``: what llmroute knows of one of those names;
- ``POST /api/chat`` and ``POST /api/generate``: answers through the router, as NDJSON (the default) or one object.

A request becomes a :class:`~llmroute.types.ChatRequest` and goes through ``gateway.router.stream`` exactly like
``llmroute chat`` (same routing, limits, budgets, privacy and ledger). A streamed answer's HTTP head is sent with the
first piece shown to the client (or with the result), so a failure before that is a real error status with Ollama's
``{"error": "..."}`` body; after it, a failure ends the stream with one ``{"error": ...}`` line and never a
``done: true`` object (ref §2.4 "Mid-stream error"). A client that asked ``"stream": false`` sees nothing before the
result, so the router is asked for a buffered answer: a stream that breaks midway then still fails over.

The routes live on the application of :func:`llmroute.server.app.build_app`, whose guard checks the gateway token
and renders every failure under ``/api/`` with :func:`ollama_error`. The head of a streamed answer names the
provider, key and attempt that answer (``X-Llmroute-*``, from the gateway's route trace).

What Ollama's API has and llmroute cannot do is refused with a 400 that says so, never silently dropped: tools,
structured output (``format``), images, ``raw`` prompts, ``suffix``, ``template``, the deprecated ``context``,
log-probabilities, and sampling options no provider wire carries (``top_k``, ``repeat_penalty``, ...). Options
that tune a local model runner (``num_ctx``, ``num_gpu``, ``num_thread``, ...) have nothing to tune here and are
ignored, as is ``keep_alive``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from llmroute import aliases
from llmroute.catalog import lifecycle, usable_providers
from llmroute.errors import RouteError
from llmroute.server.app import (
    Refused,
    bad_request,
    dumps,
    failure_headers,
    json_response,
    read_json,
    register_errors,
    result_headers,
    route_headers,
    routing_of,
    trace_headers,
)
from llmroute.server.gateway import Failure, Gateway, RouteTrace, failure_of
from llmroute.types import Attempt, ChatRequest, ChatResult, Message, ModelInfo, ReasoningDelta

log = logging.getLogger("llmroute")

API = "ollama"

#: What ``/api/version`` reports. Clients check it before using a feature (the ``ollama`` CLI and several
#: integrations compare it against the release that introduced ``think``, structured output or tools, and
#: refuse or fall back when it is missing or older), so it must be a real, recent Ollama version whose API this
#: front follows, not llmroute's own version: 0.12.0 has ``think`` and the ``/api/show`` ``capabilities`` field.
OLLAMA_VERSION = "0.12.0"

NDJSON = "application/x-ndjson"

#: The timestamp Go writes for an unknown ``time.Time`` (what Ollama itself sends for a model with no file,
#: e.g. a cloud model's ``/api/show``): used where llmroute knows no date.
UNKNOWN_TIME = "0001-01-01T00:00:00Z"

#: ``details`` of a model whose format, family, size and quantization are unknown: the shape Ollama Cloud's own
#: ``/api/tags`` sends for its models (ref §2.2, captured).
EMPTY_DETAILS: Mapping[str, Any] = {
    "parent_model": "",
    "format": "",
    "family": "",
    "families": None,
    "parameter_size": "",
    "quantization_level": "",
}

#: ``model_info`` keys are namespaced by architecture (``gptoss.context_length``, ref §3.2) and clients look up
#: ``model_info[general.architecture + ".context_length"]``. A router does not know a model's architecture, so
#: its facts go under its own namespace: ``{"general.architecture": "llmroute", "llmroute.context_length": N}``.
INFO_NAMESPACE = "llmroute"

_CHAT_FIELDS = frozenset(f.name for f in fields(ChatRequest))
_ROLES = frozenset({"system", "user", "assistant"})
_THINK_LEVELS = frozenset({"low", "medium", "high", "max"})

#: Sampling options Ollama has and no llmroute request carries: refused rather than dropped (an answer sampled
#: otherwise than asked, with no word why, is worse than a clear 400). Any other option (``num_ctx``, ``num_gpu``,
#: ``num_thread``: a local runner's memory, threads and GPUs) has nothing to tune behind a router and is ignored,
#: as Ollama itself ignores an option it does not know.
_UNCARRIED_OPTIONS = frozenset(
    {
        "top_k",
        "min_p",
        "typical_p",
        "tfs_z",
        "repeat_last_n",
        "repeat_penalty",
        "presence_penalty",
        "frequency_penalty",
        "penalize_newline",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
    }
)
_CARRIED_OPTIONS = ("temperature", "top_p", "stop", "seed", "num_predict")


@dataclass(frozen=True)
class _Call:
    """One ``/api/chat`` or ``/api/generate`` request, parsed."""

    kind: str
    """``chat`` or ``generate``: which response shape to write."""
    name: str
    """The model as the client named it, echoed in every object (as Ollama does)."""
    request: ChatRequest | None
    """None: nothing to answer (no messages, no prompt): Ollama's load/unload call."""
    stream: bool
    think: bool
    unload: bool = False


class _RouteRefused(Refused):
    """A routing failure before any byte of the answer: its attempts are kept for the metrics."""

    def __init__(self, failure: Failure, headers: Mapping[str, str], attempts: Sequence[Attempt]) -> None:
        super().__init__(failure, headers)
        self.attempts = tuple(attempts)


class _ClientGone(Exception):
    """The client closed the connection while the answer was being written."""


def add_routes(app: web.Application, gateway: Gateway) -> None:
    """Register the Ollama API on ``app`` (made by :func:`llmroute.server.app.build_app`), answering through
    ``gateway``; failures under ``/api/`` (this front's, and the guard's: a missing token, an unknown route, a body
    too large) are rendered in Ollama's error shape."""
    front = OllamaFront(gateway)
    app.router.add_get("/", front.root)  # HEAD too (aiohttp adds it)
    app.router.add_get("/api/version", front.version)
    app.router.add_get("/api/ps", front.ps)
    app.router.add_get("/api/tags", front.tags)
    app.router.add_post("/api/show", front.show)
    app.router.add_post("/api/chat", front.chat)
    app.router.add_post("/api/generate", front.generate)
    register_errors(app, "/api/", ollama_error)


def ollama_error(request: web.Request, failure: Failure, headers: Mapping[str, str]) -> web.StreamResponse:
    """Ollama's error body: ``{"error": "<text>"}``, a string (ref §2.5), with ``Retry-After`` on a 429."""
    return json_response({"error": failure.message}, status=failure.status, headers=failure_headers(failure, headers))


class OllamaFront:
    """The handlers; they hold the gateway and nothing else."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    # --- liveness and listing ------------------------------------------------------------------------------------

    async def root(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="Ollama is running", content_type="text/plain")

    async def version(self, request: web.Request) -> web.StreamResponse:
        return json_response({"version": OLLAMA_VERSION})

    async def ps(self, request: web.Request) -> web.StreamResponse:
        return json_response({"models": []})

    async def tags(self, request: web.Request) -> web.StreamResponse:
        return json_response({"models": [_tag(name, modified) for name, modified in self._listed()]})

    async def show(self, request: web.Request) -> web.StreamResponse:
        body = await _read_object(request)
        name = _string(body, "model") or _string(body, "name")  # ``name`` is the older field
        if not name:
            raise bad_request("model is required")
        shown = self._describe(self._spec(name))
        if shown is None:
            raise Refused(Failure(404, "model_not_found", f"model '{name}' not found"))
        return json_response(shown)

    # --- answers -------------------------------------------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._routed(request, "chat")

    async def generate(self, request: web.Request) -> web.StreamResponse:
        return await self._routed(request, "generate")

    async def _routed(self, http: web.Request, kind: str) -> web.StreamResponse:
        started = time.monotonic()
        status, stream, attempts = 400, True, ()
        answer: _Answer | None = None
        try:
            call = self._parse(kind, await _read_object(http), http.headers)
            stream = call.stream
            if call.request is None:
                status = 200
                return json_response(_final(call, None, started))
            answer = _Answer(self.gateway, http, call, started)
            response = await answer.run()
            status, attempts = answer.status, answer.attempts
            return response
        except Refused as exc:
            status, attempts = exc.failure.status, getattr(exc, "attempts", ())
            raise
        except (asyncio.CancelledError, ConnectionError):  # the client left, or shutdown's grace ran out
            status, attempts = 499, answer.attempts if answer else ()
            raise
        finally:
            self._observe(status, started, answer.ttft() if answer else None, attempts, stream=stream)

    def _parse(self, kind: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> _Call:
        name = _string(body, "model")
        if not name or not name.strip():
            raise bad_request("model is required")
        if name.strip().endswith(":"):
            raise bad_request(f"no model after {name.strip()!r}: use provider:model, an alias or a model name")
        stream = _boolean(body, "stream", default=True)
        think = _think(body.get("think"))
        _refuse_unsupported(body, kind)
        messages = _chat_messages(body) if kind == "chat" else _generate_messages(body)
        unload = body.get("keep_alive") in (0, "0", "0s", "0m")
        if not messages:
            return _Call(kind, name, None, stream, think, unload=unload)
        options = _options(body.get("options"))
        options |= routing_of(headers, self.gateway.settings)
        # A whole answer is asked for whole upstream: one body to read, nothing to fail midway.
        request = ChatRequest(messages=messages, model=self._spec(name), stream=stream, **options)
        return _Call(kind, name, request, stream, think)

    # --- names ---------------------------------------------------------------------------------------------------

    def _spec(self, name: str) -> str:
        """The model spec for an Ollama name: ``name:latest`` is ``name`` when only the bare name is known.

        Ollama clients (the ``ollama`` CLI, UIs that normalise names) add the default tag ``:latest`` to a name
        that has none, so ``kimi-k2.6:latest`` must reach the alias ``kimi-k2.6``. The tag is stripped only when
        that turns an unknown name into a known one: ``:latest`` may be part of a real id (a local daemon's
        ``llama3.2:latest``), and such a name is passed on untouched.
        """
        name = name.strip()
        if name.endswith(":latest") and not self._known(name):
            bare = name.removesuffix(":latest")
            if bare and self._known(bare):
                return bare
        return name

    def _known(self, spec: str) -> bool:
        """An alias (built-in or configured) or a model in a cached catalogue (one primary-key read per provider)."""
        settings, store = self.gateway.settings, self.gateway.store
        provider, model = aliases.split_spec(spec, [p.name for p in settings.providers])
        if provider is not None:
            return store.catalog_model(provider, model) is not None
        if model in aliases.BUILTIN_ALIASES or model in settings.aliases:
            return True
        return any(store.catalog_model(p.name, model) is not None for p in usable_providers(settings))

    def _listed(self) -> list[tuple[str, str]]:
        """(name, modified_at) of every model to list: current aliases that reach a usable provider, then the cached
        catalogues' models not retired, as ``provider:model`` (a spec that routes to exactly that model)."""
        settings, store = self.gateway.settings, self.gateway.store
        usable = {p.name for p in usable_providers(settings)}
        names = [p.name for p in settings.providers]
        merged = {**aliases.CURRENT_ALIASES, **settings.aliases}
        listed = [
            (alias, UNKNOWN_TIME)
            for alias in sorted(merged)
            if any(t.provider in usable for t in aliases.resolve(alias, settings.aliases, names))
        ]
        today = datetime.now(UTC).date().isoformat()
        for provider, cached in store.catalogs(usable).items():
            modified = _timestamp(cached.fetched_at)
            listed += [(f"{provider}:{m.model}", modified) for m in cached.models if not _retired(m, today)]
        return listed

    def _describe(self, spec: str) -> dict[str, Any] | None:
        """``/api/show`` for a spec: its routes and what the catalogue knows, or None for a name llmroute does not know.

        A pinned ``provider:model`` whose provider's catalogue was never fetched may still exist: it is described
        (with nothing known) rather than refused, since ``llmroute chat`` would try it.
        """
        settings, store = self.gateway.settings, self.gateway.store
        names = [p.name for p in settings.providers]
        provider, model = aliases.split_spec(spec, names)
        merged = {**aliases.BUILTIN_ALIASES, **settings.aliases}
        if provider is not None:
            info = store.catalog_model(provider, model)
            usable = {p.name for p in usable_providers(settings)}
            if info is None and (provider not in usable or store.catalog_lacks(provider, model)):
                return None
            routes, infos = [spec], [info] if info else []
            comment = f"# llmroute: {spec} is routed to {provider} only"
        elif model in merged:
            targets = aliases.resolve(model, settings.aliases, names)
            routes = [str(t) for t in targets]
            infos = [i for i in (store.catalog_model(t.provider, t.model) for t in targets) if i]
            comment = f"# llmroute alias {model}: routed to the first of these that can answer"
        else:
            infos = [i for p in usable_providers(settings) if (i := store.catalog_model(p.name, model))]
            if not infos:
                return None
            routes = [f"{i.provider}:{i.model}" for i in infos]
            comment = f"# llmroute: {model} is routed to the first of these that can answer"
        contexts = [i.context_length for i in infos if i.context_length]
        model_info: dict[str, Any] = {}
        if contexts:
            # The smallest known one: what fits every route the router may take.
            model_info = {"general.architecture": INFO_NAMESPACE, f"{INFO_NAMESPACE}.context_length": min(contexts)}
        modelfile = "\n".join([comment, *(f"#   {route}" for route in routes), f"FROM {spec}", ""])
        return {
            "modelfile": modelfile,
            "parameters": "",
            "template": "",
            "details": dict(EMPTY_DETAILS),
            "model_info": model_info,
            "capabilities": ["completion"],
            "modified_at": UNKNOWN_TIME,
        }

    # --- plumbing ------------------------------------------------------------------------------------------------

    def _observe(
        self, status: int, started: float, ttft: float | None, attempts: Sequence[Attempt], *, stream: bool
    ) -> None:
        metrics = self.gateway.metrics
        if metrics is None:
            return
        try:
            metrics.observe(
                api=API,
                status=status,
                seconds=time.monotonic() - started,
                ttft_seconds=ttft,
                attempts=attempts,
                stream=stream,
            )
        except Exception as exc:  # a metrics fault must never fail an answer
            log.warning("could not record metrics: %s: %s", type(exc).__name__, exc)


class _Answer:
    """One routed request, from the router's stream to the client's bytes.

    The HTTP head goes out with the first piece of the answer (or with the result): anything that fails before is
    a real status (a :class:`Refused` the guard renders as ``{"error": ...}``). Reasoning the client asked to see
    waits for that moment, and only the answering attempt's is sent: an attempt that reasoned and then failed over
    shows nothing, and the head names the provider and key that answer (from the gateway's route trace).
    """

    def __init__(self, gateway: Gateway, http: web.Request, call: _Call, started: float) -> None:
        assert call.request is not None
        self.gateway = gateway
        self.http = http
        self.call = call
        self.request = call.request
        self.started = started
        self.response: web.StreamResponse | None = None
        self.trace = RouteTrace()
        self.held: list[tuple[int, str]] = []
        """Reasoning that arrived before the first token, by the attempt it came from."""
        self.first_text: float | None = None
        self.status = 499
        """The status the client got, for the metrics: 499 until known (Ollama's "client went away", ref §2.5)."""
        self.attempts: Sequence[Attempt] = ()

    def ttft(self) -> float | None:
        """Seconds from the request to the first answer text written to the client (streams only)."""
        return None if self.first_text is None else self.first_text - self.started

    async def run(self) -> web.StreamResponse:
        call = self.call
        result: ChatResult | None = None
        with self.gateway.trace() as self.trace:
            try:
                items = self.gateway.router.stream(self.request, keep_text=not call.stream, buffered=not call.stream)
                async with aclosing(items):
                    async for item in items:
                        if isinstance(item, ChatResult):
                            result = item
                        elif isinstance(item, ReasoningDelta):
                            await self._reasoning(item.text)
                        else:
                            await self._text(item.text)
            except _ClientGone:
                return self.response or web.Response(status=499)
            except asyncio.CancelledError:
                # The client left, or shutdown's grace ran out: say so if anyone is still listening, then stop.
                if self.response is not None:
                    with contextlib.suppress(Exception):
                        await self._send({"error": "the gateway stopped before the answer ended"}, last=True)
                raise
            except Exception as exc:  # every failure is answered in Ollama's shape (a bug as a 500)
                return await self._fail(exc)
        assert result is not None
        self.status, self.attempts = 200, result.attempts
        try:
            return await self._finish(result)
        except _ClientGone:
            return self.response or web.Response(status=499)

    async def _reasoning(self, text: str) -> None:
        if not (self.call.stream and self.call.think and text):
            return  # reasoning the client did not ask for is dropped, and opens nothing
        if self.response is None:
            self.held.append((self.trace.attempt_number, text))
            return
        await self._send(_chunk(self.call, text, reasoning=True))

    async def _text(self, text: str) -> None:
        if not (self.call.stream and text):
            return
        if self.first_text is None:
            self.first_text = time.monotonic()
        if self.response is None:
            await self._open(None)
        await self._send(_chunk(self.call, text, reasoning=False))

    async def _fail(self, exc: Exception) -> web.StreamResponse:
        failure = failure_of(exc)
        attempts = exc.attempts if isinstance(exc, RouteError) else ()
        self.status, self.attempts = failure.status, attempts
        if failure.status == 500:  # a bug: one line on stderr (through the redacting output), never a traceback
            log.error("internal error serving %s: %s: %s", self.http.path, type(exc).__name__, exc)
        else:
            log.info("%s", failure.message)
        if self.response is None:
            headers = route_headers(len(attempts), self.trace.request_id)
            raise _RouteRefused(failure, headers, attempts) from None
        # The answer had begun: one error line ends it (ref §2.4), never a ``done: true`` object.
        with contextlib.suppress(_ClientGone):
            await self._send({"error": failure.message}, last=True)
        return self.response

    async def _finish(self, result: ChatResult) -> web.StreamResponse:
        final = _final(self.call, result, self.started)
        if not self.call.stream:
            return json_response(final, headers=result_headers(result))
        if self.response is None:
            await self._open(result)
        await self._send(final, last=True)
        assert self.response is not None
        return self.response

    async def _open(self, result: ChatResult | None) -> None:
        """Send the head (NDJSON, ``X-Llmroute-*``), then the answering attempt's held reasoning."""
        headers = result_headers(result) if result is not None else trace_headers(self.trace)
        response = web.StreamResponse(headers={"Content-Type": NDJSON, "X-Accel-Buffering": "no", **headers})
        try:
            await response.prepare(self.http)
        except ConnectionError:
            raise _ClientGone from None
        self.response = response
        number = self.trace.attempt_number
        held, self.held = self.held, []
        for attempt, text in held:
            if attempt == number or self.trace.candidate is None:
                await self._send(_chunk(self.call, text, reasoning=True))

    async def _send(self, obj: Mapping[str, Any], *, last: bool = False) -> None:
        """One NDJSON line, written (and flushed) at once."""
        assert self.response is not None
        try:
            await self.response.write(dumps(obj) + b"\n")
            if last:
                await self.response.write_eof()
        except ConnectionError:  # aiohttp's ClientConnectionResetError is one
            raise _ClientGone from None


# --- request parsing ---------------------------------------------------------------------------------------------


async def _read_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (empty, oversized, slow, non-UTF-8 and non-JSON bodies are refused by
    ``read_json``)."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise bad_request(f"the request body must be a JSON object, not {_json_type(data)}")
    return data


def _string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string, not {_json_type(value)}")
    return value


def _boolean(body: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be true or false, not {_json_type(value)}")
    return value


def _think(value: Any) -> bool:
    """Whether the client asked to see the reasoning: ``true`` or a level (ref §2.3); ``false`` or absent: not."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value in _THINK_LEVELS:
        return True
    levels = ", ".join(sorted(_THINK_LEVELS))
    raise bad_request(f"think must be true, false or one of {levels}, not {json.dumps(value)[:40]}")


def _refuse_unsupported(body: Mapping[str, Any], kind: str) -> None:
    """What Ollama's API offers and llmroute does not carry: a clear 400 rather than an answer that ignores it."""
    if body.get("tools"):
        raise bad_request("tools are not supported by llmroute's Ollama API (send the request without tools)")
    if body.get("format") not in (None, ""):
        raise bad_request("format (structured output) is not supported by llmroute's Ollama API")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise bad_request("logprobs are not supported by llmroute's Ollama API")
    if kind != "generate":
        return
    if body.get("raw"):
        raise bad_request("raw prompts are not supported: llmroute sends the prompt as a chat message")
    if body.get("images"):
        raise bad_request("images are not supported by llmroute's Ollama API")
    if body.get("suffix"):
        raise bad_request("suffix (fill-in-the-middle) is not supported by llmroute's Ollama API")
    if body.get("template"):
        raise bad_request("template is not supported: llmroute sends the prompt as a chat message")
    if body.get("context"):
        raise bad_request("context is not supported (it is deprecated): send the conversation to /api/chat")


def _chat_messages(body: Mapping[str, Any]) -> tuple[Message, ...]:
    raw = body.get("messages")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise bad_request(f"messages must be an array, not {_json_type(raw)}")
    messages = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise bad_request(f"messages[{i}] must be an object, not {_json_type(item)}")
        role = item.get("role")
        if role == "tool" or item.get("tool_calls"):
            raise bad_request(f"messages[{i}]: tool calls are not supported by llmroute's Ollama API")
        if not isinstance(role, str) or role not in _ROLES:
            raise bad_request(f"messages[{i}].role must be system, user or assistant, not {json.dumps(role)[:40]}")
        if item.get("images"):
            raise bad_request(f"messages[{i}]: images are not supported by llmroute's Ollama API")
        content = _string(item, "content") if "content" in item else ""
        # ``thinking`` on an earlier assistant turn is the model's reasoning, never part of the conversation.
        messages.append(Message(role, content or ""))
    return tuple(messages)


def _generate_messages(body: Mapping[str, Any]) -> tuple[Message, ...]:
    """``system`` and ``prompt`` as the messages of a chat; nothing when both are empty (a load call)."""
    prompt = _string(body, "prompt") or ""
    system = _string(body, "system") or ""
    if not prompt and not system:
        return ()
    return ((Message("system", system),) if system else ()) + (Message("user", prompt),)


def _options(raw: Any) -> dict[str, Any]:
    """``options`` as ChatRequest fields: temperature, top_p, stop, seed, and num_predict as max_tokens."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise bad_request(f"options must be an object, not {_json_type(raw)}")
    options = {k: v for k, v in raw.items() if v is not None}
    uncarried = sorted(k for k in options if k in _UNCARRIED_OPTIONS)
    if uncarried:
        raise bad_request(
            f"options.{uncarried[0]} is not supported: llmroute passes on only "
            + ", ".join(_CARRIED_OPTIONS)
            + " (remove it to let the provider use its default)"
        )
    given: dict[str, Any] = {}
    if "temperature" in options:
        given["temperature"] = _number(options["temperature"], "options.temperature")
    if "top_p" in options:
        given["top_p"] = _number(options["top_p"], "options.top_p")
    if "seed" in options:
        given["seed"] = _integer(options["seed"], "options.seed")
    if "num_predict" in options:
        predict = _integer(options["num_predict"], "options.num_predict")
        if predict >= 0:  # -1 (no limit) and -2 (fill the context) leave the provider's own cap
            given["max_tokens"] = predict
    if "stop" in options:
        given["stop"] = _stops(options["stop"])
    missing = sorted(set(given) - _CHAT_FIELDS)
    if missing:  # a field llmroute's requests do not carry yet: refused, never dropped
        raise bad_request(f"options.{missing[0]} is not supported by this llmroute version")
    return given


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_request(f"{name} must be a number, not {json.dumps(value)[:40]}")
    return float(value)


def _integer(value: Any, name: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{name} must be an integer, not {json.dumps(value)[:40]}")
    return value


def _stops(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise bad_request("options.stop must be an array of strings")
    return tuple(value)


# --- response shapes ---------------------------------------------------------------------------------------------


def _chunk(call: _Call, text: str, *, reasoning: bool) -> dict[str, Any]:
    """One streamed piece (ref §2.4): ``message.content`` / ``message.thinking``, or ``response`` / ``thinking``."""
    obj: dict[str, Any] = {"model": call.name, "created_at": _now()}
    if call.kind == "chat":
        obj["message"] = {"role": "assistant", "content": ""}
        obj["message"]["thinking" if reasoning else "content"] = text
    else:
        obj["response"] = "" if reasoning else text
        if reasoning:
            obj["thinking"] = text
    obj["done"] = False
    return obj


def _final(call: _Call, result: ChatResult | None, started: float) -> dict[str, Any]:
    """The ``done: true`` object: the whole answer when not streamed, and the metrics (ref §2.3).

    Durations are nanoseconds measured here, never invented: ``load_duration`` is the time before the answering
    attempt began (planning, admission, and any attempts that failed over), ``prompt_eval_duration`` that attempt's
    time to its first token, ``eval_duration`` the rest of it; they add up to about ``total_duration``. A token
    count the provider did not report is left out, as Ollama leaves out ``prompt_eval_count`` (ref §2.3).
    No ``context`` is sent (deprecated; llmroute has no token ids).
    """
    text = "" if result is None or call.stream else result.text
    thinking = "" if result is None or call.stream or not call.think else result.reasoning
    obj: dict[str, Any] = {"model": call.name, "created_at": _now()}
    if call.kind == "chat":
        message = {"role": "assistant", "content": text}
        if thinking:
            message["thinking"] = thinking
        obj["message"] = message
    else:
        obj["response"] = text
        if thinking:
            obj["thinking"] = thinking
    obj["done"] = True
    if result is None:
        obj["done_reason"] = "unload" if call.unload else "load"
        return obj
    obj["done_reason"] = "length" if result.finish_reason == "length" else "stop"
    total = _ns(time.monotonic() - started)
    answering = min(_ns(result.latency_ms / 1000), total)
    first = min(_ns((result.ttft_ms if result.ttft_ms is not None else result.latency_ms) / 1000), answering)
    obj["total_duration"] = total
    obj["load_duration"] = total - answering
    if result.usage.input_tokens is not None:
        obj["prompt_eval_count"] = result.usage.input_tokens
    obj["prompt_eval_duration"] = first
    if result.usage.output_tokens is not None:
        obj["eval_count"] = result.usage.output_tokens
    obj["eval_duration"] = answering - first
    return obj


def _tag(name: str, modified_at: str) -> dict[str, Any]:
    """One ``/api/tags`` entry (ref §3.2): size and digest unknown (no file behind the name), so 0 and empty."""
    return {
        "name": name,
        "model": name,
        "modified_at": modified_at,
        "size": 0,
        "digest": "",
        "details": dict(EMPTY_DETAILS),
    }


def _retired(model: ModelInfo, today: str) -> bool:
    """Whether a catalogue model has left the service (its own ``expires``, or the built-in retirement table)."""
    end = lifecycle(model.provider, model.model, model)
    day = ((end[1] if end else None) or "")[:10]
    return bool(day) and day <= today


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ns(seconds: float) -> int:
    return max(0, round(seconds * 1e9))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
