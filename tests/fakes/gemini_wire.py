"""Google Gemini's native API (providers-next §1), mounted at ``/gemini`` (``GEMINI_BASE_URL`` = ``.../gemini/v1beta``).

Routes (after the mount point; ``v1beta`` and ``v1`` alike):

* ``POST /v1beta/models/{model}:generateContent`` — one answer, indented JSON as Google sends it;
* ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` — SSE with **CRLF** line ends, one
  ``data:`` event per chunk and **no terminator**: the stream ends after the chunk carrying ``finishReason``.
  Every chunk carries ``usageMetadata``, cumulative (prompt, candidates so far, thoughts, total). Without
  ``alt=sse`` the same chunks come as one JSON array (``[{...}\\n,\\r\\n{...}]``);
* ``GET /v1beta/models`` (``pageSize`` default 50, at most 1000; ``pageToken`` / ``nextPageToken``) and
  ``GET /v1beta/models/{model}``: the served models (``gemini_models``) plus ``gemini-embedding-001``,
  which only embeds (its methods lack ``generateContent``, as on the real catalogue);
* anything else: Google's front end's HTML 404 page.

The key is ``x-goog-api-key``. The ``?key=`` query parameter is also accepted, as the real service does, and
recorded: :func:`key_in_url` (and ``FakeProvider.keys_in_urls``) find every request that carried a key in
its URL. No key: ``403 PERMISSION_DENIED`` "Method doesn't allow unregistered callers"; a key the fake does not
know (``FakeProvider(keys=...)``): ``400 INVALID_ARGUMENT`` with ``ErrorInfo.reason`` ``API_KEY_INVALID``.
Chat checks, in order: a JSON object body (``Invalid JSON payload received ...``), known top-level and
``generationConfig`` fields (proto JSON: camelCase or snake_case; anything else is "Unknown name"), the model
(404), ``contents`` present and not empty, roles ``user``/``model``, parts not empty.

Answers render a :class:`~.behaviours.Reply`: ``text``/``chunks``, ``model`` (``modelVersion``), ``reasoning``
(counted in ``thoughtsTokenCount``; its text is sent as ``thought: true`` parts only when the request asks
``generationConfig.thinkingConfig.includeThoughts``, as on the real service), ``finish_reason`` (``stop`` ->
``STOP``, ``length`` -> ``MAX_TOKENS``, anything else as given, e.g. ``"SAFETY"``), ``prompt_tokens``,
``completion_tokens`` (overrides ``candidatesTokenCount``; thinking is counted apart), ``delay``,
``chunk_delay``, ``gzip``, ``headers`` and the ``*_after_tokens`` interruptions. A mid-stream failure
(``error_after_tokens``, ``error_only``) is a ``data: {"error": {...}}`` event (500 ``INTERNAL``) and the end of
the stream [hedge: no capture shows one]; a failed non-stream answer is the 500 body. ``repeat``,
``usage_shape``, ``processing_comments``, ``blank_lines``, ``no_terminator`` and ``cost`` are ignored (Gemini
reports no cost). Requests are scripted by ``(path, key)`` like every other service; the model named in the
path selects ``script(..., model=...)`` queues.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, unquote

from .behaviours import ErrorResponse, Reply, error
from .errors import (
    GM_INTERNAL,
    GOOGLE_JSON,
    gm_400,
    gm_400_key_invalid,
    gm_403_no_key,
    gm_404,
    gm_500,
    gemini_error,
    google_json,
)
from .plan import (
    ChatContext,
    Emit,
    Pause,
    Plan,
    Step,
    Wire,
    content_headers,
    cut_in_half,
    delay_steps,
    first_interruption,
    interruption_steps,
    reasoning_pieces,
    resolve_answer,
    stream_events,
)
from .records import RecordedRequest

if TYPE_CHECKING:
    from .server import FakeProvider, _Handler

PREFIX = "/gemini"
VERSIONS = ("v1beta", "v1")
DEFAULT_GEMINI_MODELS = frozenset({"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite"})
EMBEDDING_MODEL = "gemini-embedding-001"
INPUT_TOKEN_LIMIT = 1_048_576
OUTPUT_TOKEN_LIMIT = 65_536
PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000
SSE = "text/event-stream"
KEY_HEADER = "x-goog-api-key"
GENERATE, STREAM = "generateContent", "streamGenerateContent"
FINISH = {"stop": "STOP", "length": "MAX_TOKENS"}

_REQUEST_FIELDS = {
    "contents",
    "systemInstruction",
    "generationConfig",
    "safetySettings",
    "tools",
    "toolConfig",
    "cachedContent",
    "labels",
}
_CONFIG_FIELDS = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "mediaResolution",
    "imageConfig",
}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _field(mapping: Mapping[str, Any], name: str) -> Any:
    """A proto JSON field, which may be spelt in camelCase or snake_case."""
    return mapping.get(name, mapping.get(_snake(name)))


# --------------------------------------------------------------------------- keys


def is_gemini(path: str) -> bool:
    return path.startswith(PREFIX + "/")


def query_key(query: str) -> str | None:
    values = parse_qs(query).get("key")
    return values[0].strip() or None if values else None


def with_secret(record: RecordedRequest) -> RecordedRequest:
    """A Gemini request's secret is ``x-goog-api-key``, else the ``?key=`` query parameter; others stay as they are."""
    if not is_gemini(record.path):
        return record
    secret = record.headers.get(KEY_HEADER, "").strip() or query_key(record.query)
    return dataclasses.replace(record, bearer=secret)


def key_in_url(record: RecordedRequest, secrets: Iterable[str] = ()) -> bool:
    """Whether a request's URL carried a key: a ``key=`` query parameter, or any of ``secrets`` in the path or
    query (raw or URL-encoded)."""
    if query_key(record.query) is not None:
        return True
    url = f"{record.path}?{record.query}"
    return any(s and (s in url or s in unquote(url)) for s in secrets)


# --------------------------------------------------------------------------- the catalogue


def display_name(model: str) -> str:
    """``gemini-2.5-flash`` -> ``Gemini 2.5 Flash``."""
    return " ".join(word[:1].upper() + word[1:] for word in model.split("-"))


def model_row(model: str) -> dict[str, Any]:
    """One ``/models`` entry (the fields the real catalogue lists for a Gemini model)."""
    if model == EMBEDDING_MODEL:
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": "Gemini Embedding 001",
            "description": "Obtain a distributed representation of a text.",
            "inputTokenLimit": 2048,
            "outputTokenLimit": 1,
            "supportedGenerationMethods": ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"],
        }
    return {
        "name": f"models/{model}",
        "version": "001",
        "displayName": display_name(model),
        "description": f"{display_name(model)}: a model served by the fake.",
        "inputTokenLimit": INPUT_TOKEN_LIMIT,
        "outputTokenLimit": OUTPUT_TOKEN_LIMIT,
        "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": True,
    }


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "offset" and number.isdigit() else None


def not_found_page(path: str) -> ErrorResponse:
    """The HTML 404 of Google's front end for a path no API serves."""
    page = (
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
        '  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">\n'
        "  <title>Error 404 (Not Found)!!1</title>\n"
        "  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>\n"
        "  <p><b>404.</b> <ins>That\u2019s an error.</ins>\n"
        f"  <p>The requested URL <code>{path}</code> was not found on this server.  <ins>That\u2019s all we know.</ins>\n"
    )
    return error(404, page.encode(), content_type="text/html; charset=UTF-8")


# --------------------------------------------------------------------------- rendering


@dataclasses.dataclass(frozen=True)
class GeminiAsk:
    """A chat request that passed the checks."""

    model: str
    version: str
    stream: bool
    sse: bool
    """``alt=sse`` (else a streamed JSON array)."""
    include_thoughts: bool
    max_tokens: int | None
    prompt_tokens: int


class _Chunks:
    """Serialises the chunks of one streamed answer, as SSE events or as the elements of one JSON array."""

    def __init__(self, sse: bool) -> None:
        self.sse = sse
        self.count = 0

    def __call__(self, obj: dict[str, Any]) -> bytes:
        self.count += 1
        if self.sse:  # one line of JSON per event, ", " and ": " as Google's serialiser writes them
            return b"data: " + json.dumps(obj, separators=(",", ": "), ensure_ascii=False).encode() + b"\r\n\r\n"
        return (b"[" if self.count == 1 else b"\n,\r\n") + google_json(obj).rstrip(b"\n")

    def close(self) -> list[Step]:
        return [] if self.sse else [b"[]" if self.count == 0 else b"\n]"]


def _usage(prompt: int, candidates: int, thoughts: int, *, last: bool) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    if candidates:
        usage["candidatesTokenCount"] = candidates
    usage["totalTokenCount"] = prompt + candidates + thoughts
    if last:
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _candidate(parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    content: dict[str, Any] = {"parts": parts, "role": "model"} if parts else {"role": "model"}
    candidate: dict[str, Any] = {"content": content}
    if finish is not None:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    return candidate


def _document(candidate: dict[str, Any], usage: dict[str, Any], model: str, response_id: str) -> dict[str, Any]:
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": response_id}


def _stream_error(reply: Reply) -> dict[str, Any]:
    return {"error": {"code": 500, "message": reply.error_message or GM_INTERNAL, "status": "INTERNAL"}}


def render(reply: Reply, ctx: ChatContext, ask: GeminiAsk) -> Plan:
    return _render_stream(reply, ctx, ask) if ask.stream else _render_json(reply, ctx, ask)


def _render_json(reply: Reply, ctx: ChatContext, ask: GeminiAsk) -> Plan:
    answer = resolve_answer(reply, ctx)
    preamble = delay_steps(reply)
    interrupt = first_interruption(reply, answer)
    if interrupt is not None and interrupt.kind in ("drop", "stall"):
        return Plan(status=None, preamble=preamble + tuple(interruption_steps(reply, interrupt.kind)))
    if reply.error_only or (interrupt is not None and interrupt.kind == "error"):
        failure = gm_500()
        if reply.error_message:
            failure = gemini_error(500, "INTERNAL", reply.error_message)
        return Plan(
            status=failure.status,
            headers=content_headers(ctx, failure.content_type),
            body=(failure.body,),
            preamble=preamble,
            gzip=reply.gzip,
        )
    parts: list[dict[str, Any]] = []
    if ask.include_thoughts and answer.reasoning_text:
        parts.append({"text": answer.reasoning_text, "thought": True})
    if answer.text:
        parts.append({"text": answer.text})
    candidates = len(answer.tokens) if reply.completion_tokens is None else reply.completion_tokens
    usage = _usage(answer.prompt_tokens, candidates, len(answer.reasoning), last=True)
    finish = FINISH.get(answer.finish_reason, answer.finish_reason)
    document = google_json(_document(_candidate(parts, finish), usage, answer.model, ctx.generation_id))
    return Plan(
        status=200,
        headers=content_headers(ctx, GOOGLE_JSON),
        body=(cut_in_half(document) if interrupt is not None else document,),
        preamble=preamble,
        gzip=reply.gzip,
    )


def _render_stream(reply: Reply, ctx: ChatContext, ask: GeminiAsk) -> Plan:
    answer = resolve_answer(reply, ctx)
    chunk = _Chunks(ask.sse)
    gap: list[Step] = [Pause(reply.chunk_delay)] if reply.chunk_delay > 0 else []
    steps: list[Step] = []
    thoughts = len(answer.reasoning)
    finish = FINISH.get(answer.finish_reason, answer.finish_reason)

    def finish_plan(*, closed: bool = True) -> Plan:
        return Plan(
            status=200,
            headers=content_headers(ctx, SSE if ask.sse else GOOGLE_JSON),
            body=tuple(steps + (chunk.close() if closed else [])),
            chunked=True,
            preamble=delay_steps(reply),
            gzip=reply.gzip,
        )

    def document(parts: list[dict[str, Any]], candidates: int, done: bool) -> bytes:
        if done and reply.completion_tokens is not None:
            candidates = reply.completion_tokens
        usage = _usage(answer.prompt_tokens, candidates, thoughts, last=done)
        return chunk(_document(_candidate(parts, finish if done else None), usage, answer.model, ctx.generation_id))

    if reply.error_only:
        steps.append(chunk(_stream_error(reply)))
        return finish_plan()
    if ask.include_thoughts:
        for piece in reasoning_pieces(answer, ctx.tokens_per_chunk):
            if steps:
                steps += gap
            usage = _usage(answer.prompt_tokens, 0, thoughts, last=False)
            candidate = _candidate([{"text": piece, "thought": True}], None)
            steps.append(chunk(_document(candidate, usage, answer.model, ctx.generation_id)))
    emitted, finished = 0, False
    for event in stream_events(reply, answer.tokens, ctx.tokens_per_chunk):
        if steps:
            steps += gap
        if isinstance(event, Emit):
            emitted = min(emitted + max(1, ctx.tokens_per_chunk), len(answer.tokens))
            steps.append(document([{"text": event.content}], emitted, event.last))
            finished = event.last
        elif event.kind == "error":
            steps.append(chunk(_stream_error(reply)))
            return finish_plan()
        else:  # a drop or stall cuts the stream; "end" ends it cleanly, with no finishReason
            steps += interruption_steps(reply, event.kind)
            return finish_plan(closed=event.kind == "end")
    if not finished:  # an empty answer: one chunk that only finishes
        if steps:
            steps += gap
        steps.append(document([{"text": ""}], emitted, True))
    return finish_plan()


# --------------------------------------------------------------------------- the service


class GeminiService:
    """The Gemini API under :data:`PREFIX` (see the module docstring); the handler does the I/O."""

    prefix = PREFIX

    @staticmethod
    def route(req: RecordedRequest) -> tuple[str | None, str, str, str]:
        """(endpoint, API version, model, method): endpoint ``"chat"``, ``"models"``, ``"model"`` or None (404)."""
        parts = req.path.removeprefix(PREFIX).split("/", 3)  # "", version, collection, rest
        if len(parts) < 3 or parts[1] not in VERSIONS or parts[2] != "models":
            return None, "", "", ""
        version = parts[1]
        if len(parts) == 3:
            return ("models" if req.method == "GET" else None), version, "", ""
        name, _, method = unquote(parts[3]).partition(":")
        if not name or "/" in name:
            return None, version, "", ""
        if method in (GENERATE, STREAM) and req.method == "POST":
            return "chat", version, name, method
        if not method and req.method == "GET":
            return "model", version, name, ""
        return None, version, name, method

    def authorise(self, req: RecordedRequest, fake: FakeProvider) -> ErrorResponse | None:
        if req.bearer is None:
            return gm_403_no_key()
        return None if req.bearer in fake.keys else gm_400_key_invalid()

    def handle(self, handler: _Handler, req: RecordedRequest) -> None:
        fake = handler.provider
        endpoint, version, model, method = self.route(req)
        if endpoint != "chat":
            reply = handler._take_behaviour(req, shared=False, keys_ignored=False)
            if reply is None:
                return
            if reply.delay > 0:
                handler._step(Pause(reply.delay))
            handler._send_error(self.respond(endpoint, version, model, req, fake))
            return
        problem = self.authorise(req, fake)
        if problem is not None:
            handler._send_error(problem)
            return
        # The model is in the path, not the body: it is given to the queue lookup so that ``model=`` queues apply.
        reply = handler._take_behaviour(
            dataclasses.replace(req, body={"model": model}), shared=True, keys_ignored=False
        )
        if reply is None:
            return
        ask = self.check_chat(req, fake, version, model, method)
        if isinstance(ask, ErrorResponse):
            handler._reject(reply, ask)
            return
        created = int(time.time())
        ctx = ChatContext(
            wire=cast(Wire, "gemini"),
            stream=ask.stream,
            model=ask.model,
            max_tokens=ask.max_tokens,
            prompt_tokens=ask.prompt_tokens,
            default_text=fake.default_text,
            tokens_per_chunk=fake.tokens_per_chunk,
            default_cost=0.0,
            provider_name=fake.provider_name,
            generation_id=fake._random_token(22),
            created=created,
        )
        plan = render(reply, ctx, ask)
        if reply.headers and plan.status is not None:
            replaced = {name.lower() for name, _ in reply.headers}
            kept = tuple((name, value) for name, value in plan.headers if name.lower() not in replaced)
            plan = dataclasses.replace(plan, headers=kept + reply.headers)
        handler._execute(plan)

    # ---------------------------------------------------------------- chat

    def check_chat(
        self, req: RecordedRequest, fake: FakeProvider, version: str, model: str, method: str
    ) -> GeminiAsk | ErrorResponse:
        body = req.body
        if body is None:
            reason = "Unexpected end of string." if not req.raw_body.strip() else "Unexpected token."
            return gm_400(f"Invalid JSON payload received. {reason}")
        if not isinstance(body, dict):
            return gm_400('Invalid JSON payload received. Unknown name "": Root element must be a message.')
        unknown = _unknown(body, _REQUEST_FIELDS, "")
        if unknown is not None:
            return unknown
        config = _field(body, "generationConfig")
        if config is not None and not isinstance(config, dict):
            return gm_400(f"Invalid value at 'generation_config' ({type(config).__name__}), expected an object.")
        config = config or {}
        unknown = _unknown(config, _CONFIG_FIELDS, " at 'generation_config'")
        if unknown is not None:
            return unknown
        if model not in fake.gemini_models:
            return gm_404(model, version)
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return gm_400("* GenerateContentRequest.contents: contents is not specified\n")
        words = 0
        for index, content in enumerate(contents):
            content = content if isinstance(content, dict) else {}
            role = content.get("role")
            if role not in (None, "", "user", "model"):
                return gm_400("Please use a valid role: user, model.")
            parts = content.get("parts")
            if not isinstance(parts, list) or not parts:
                return gm_400(f"* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty.\n")
            words += _words(parts)
        system = _field(body, "systemInstruction")
        if isinstance(system, dict) and isinstance(system.get("parts"), list):
            words += _words(system["parts"])
        thinking = _field(config, "thinkingConfig")
        include = isinstance(thinking, dict) and _field(thinking, "includeThoughts") is True
        limit = _field(config, "maxOutputTokens")
        max_tokens = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0 else None
        sse = method == STREAM and "sse" in parse_qs(req.query).get("alt", [])
        return GeminiAsk(model, version, method == STREAM, sse, include, max_tokens, words)

    # ---------------------------------------------------------------- other endpoints

    def respond(
        self, endpoint: str | None, version: str, model: str, req: RecordedRequest, fake: FakeProvider
    ) -> ErrorResponse:
        """The whole response to a request that is not a chat (a 200 document is an :class:`ErrorResponse` too)."""
        if endpoint is None:
            return not_found_page(req.path.removeprefix(PREFIX))
        problem = self.authorise(req, fake)
        if problem is not None:
            return problem
        served = [*sorted(fake.gemini_models), EMBEDDING_MODEL]
        if endpoint == "model":
            if model in served:
                return _ok(model_row(model))
            return gemini_error(404, "NOT_FOUND", f"Model is not found: models/{model} for api version {version}")
        query = parse_qs(req.query)
        size_text = query.get("pageSize", [""])[0]
        size = int(size_text) if size_text.isdigit() and int(size_text) > 0 else PAGE_SIZE
        size = min(size, MAX_PAGE_SIZE)
        token = query.get("pageToken", [""])[0]
        start = _offset(token) if token else 0
        if start is None:
            return gm_400("Invalid page token.")
        rows = [model_row(m) for m in served[start : start + size]]
        document: dict[str, Any] = {"models": rows} if rows else {}
        if start + size < len(served):
            document["nextPageToken"] = _page_token(start + size)
        return _ok(document)


def _ok(document: dict[str, Any]) -> ErrorResponse:
    return ErrorResponse(status=200, body=google_json(document), content_type=GOOGLE_JSON)


def _unknown(mapping: Mapping[str, Any], known: set[str], where: str) -> ErrorResponse | None:
    """Google's 400 for the first field it cannot find (proto JSON takes camelCase and snake_case)."""
    accepted = known | {_snake(name) for name in known}
    for name in mapping:
        if name not in accepted:
            message = f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.'
            return gm_400(message, [{"description": message}])
    return None


def _words(parts: list[Any]) -> int:
    """The fake's prompt "token" count: whitespace-separated words of the text parts."""
    return sum(len(p["text"].split()) for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


SERVICE = GeminiService()


__all__ = [
    "DEFAULT_GEMINI_MODELS",
    "EMBEDDING_MODEL",
    "PREFIX",
    "SERVICE",
    "GeminiService",
    "is_gemini",
    "key_in_url",
    "model_row",
    "render",
    "with_secret",
]
