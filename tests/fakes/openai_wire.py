"""The OpenAI chat-completions wire as several servers write it, and the OpenAI API itself.

Four servers speak this wire with their own accent; each accent is a :class:`Shape`:

* :data:`OLLAMA` — Ollama's ``/v1`` shim (ref §2.6/§3.3, ``middleware/openai.go``): ids ``chatcmpl-<n>``
  with ``n < 999``, ``system_fingerprint:"fp_ollama"``, no cost, every stream chunk repeats
  ``delta.role``, a finish chunk with empty content; a native error mid-stream becomes one empty chunk
  (``model: ""``) and the stream ends **without** ``[DONE]``; a failed non-stream answer is 500
  ``api_error``; bodies end in a newline (Go's encoder); ``omit_prompt_eval_count`` makes
  ``usage.prompt_tokens`` 0.
* :data:`OPENAI` — OpenAI itself (providers-next §3): ids ``chatcmpl-`` + 29 characters, bodies
  indented as the live API sends them, ``message.refusal``/``annotations``, ``logprobs:null``,
  ``service_tier``, usage with ``prompt_tokens_details``/``completion_tokens_details`` (reasoning tokens
  counted there, the reasoning text never sent); a stream opens with a role chunk
  (``{"role":"assistant","content":"","refusal":null}``), then content deltas, a finish chunk with an empty
  ``delta``; each chunk carries an ``obfuscation`` pad.  ``stream_options.include_usage`` adds, before
  ``[DONE]``, a chunk with ``choices: []`` and ``usage``, and every other chunk carries ``"usage": null``
  (the documented contract); without it no chunk has a ``usage`` key.  A failure mid-stream is a
  ``data: {"error":{...}}`` event and the stream ends without ``[DONE]`` (with it if
  ``done_after_error``); a failed non-stream answer is 500 ``server_error``.
* Azure's and Cloudflare's shapes subclass :class:`OpenAIShape` in :mod:`.azure_wire` and
  :mod:`.cloudflare_wire`.

``end_after_tokens`` ends a stream cleanly or cuts a non-stream body in half, as on the native wires;
``processing_comments``, ``usage_shape``, ``blank_lines``, ``cost`` and ``repeat`` are ignored.

:class:`OpenAIService` is the OpenAI API mounted at ``/openai/v1``: ``POST /chat/completions``,
``GET /models``, ``GET /models/{id}``; anything else is OpenAI's 404 "Invalid URL (METHOD /v1/...)".
It checks, in this order: the bearer (401 ``oa_401_no_key`` / ``oa_401`` with the key masked), the
JSON body, ``model`` ("you must provide a model parameter"), ``messages`` (missing, not a list, empty),
the model (404 ``model_not_found``), ``max_tokens`` on a reasoning model (``o1``/``o3``/``o4``/``gpt-5``
families: 400 ``unsupported_parameter``), and ``stream_options`` without ``stream`` (400).  Answers carry
the ``x-ratelimit-*`` headers (the reference's example values: a scripted ``reply(headers=...)``
overrides any of them), ``x-request-id``, ``openai-organization``, ``openai-processing-ms`` and
``openai-version``.  Responses report no cost.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from .behaviours import ErrorResponse, Reply, compact_json, error
from .errors import (
    OA_SERVER_ERROR,
    oa_401,
    oa_401_no_key,
    oa_404_model_not_found,
    oa_rate_limit_headers,
    ollama_openai_error,
    openai_error,
)
from .plan import (
    Answer,
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
    resolve_answer,
    stream_events,
)
from .records import OPENAI_PREFIX, RecordedRequest

if TYPE_CHECKING:
    from .server import FakeProvider

DONE = b"data: [DONE]\n\n"
RUNNER_ERROR = "an error was encountered while running the model"


def sse(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


# --------------------------------------------------------------------------- shapes


class Shape:
    """How one server writes the OpenAI chat shapes.  This base class is Ollama's ``/v1`` shim."""

    fingerprint: str | None = "fp_ollama"
    done_after_error = False
    """Whether ``Reply.done_after_error`` sends ``[DONE]`` after a mid-stream error (the shim never does)."""

    def serialise(self, obj: Any) -> bytes:
        """A stream chunk's JSON."""
        return compact_json(obj)

    def document(self, obj: Any) -> bytes:
        """A non-stream body (Go's encoder: compact, with a trailing newline)."""
        return compact_json(obj) + b"\n"

    def usage(self, answer: Answer, reply: Reply) -> dict[str, Any]:
        prompt = 0 if reply.omit_prompt_eval_count else answer.prompt_tokens
        return {
            "prompt_tokens": prompt,
            "completion_tokens": answer.completion_tokens,
            "total_tokens": prompt + answer.completion_tokens,
        }

    def completion(self, ctx: ChatContext, answer: Answer, reply: Reply) -> dict[str, Any]:
        return {
            "id": ctx.generation_id,
            "object": "chat.completion",
            "created": ctx.created,
            "model": answer.model,
            "system_fingerprint": self.fingerprint,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": self.usage(answer, reply),
        }

    def failure(self, reply: Reply) -> ErrorResponse:
        """The response to a non-stream request whose answer fails (``error_only`` / ``error_after_tokens``)."""
        return ollama_openai_error(500, reply.error_message or RUNNER_ERROR, wrapped=True)

    def chunk(self, ctx: ChatContext, model: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": ctx.generation_id,
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": model,
            "system_fingerprint": self.fingerprint,
            "choices": choices,
        }

    def choice(self, delta: dict[str, Any], finish_reason: str | None, *, filtered: bool = False) -> dict[str, Any]:
        """One stream choice; ``filtered`` marks a content chunk (Azure reports its filter results there)."""
        return {"index": 0, "delta": delta, "finish_reason": finish_reason}

    def preface(self, ctx: ChatContext) -> list[bytes]:
        """Events before any chunk of the answer (Azure's prompt filter results)."""
        return []

    def opening(self, ctx: ChatContext, model: str) -> list[bytes]:
        """Events before the first content chunk (OpenAI's role chunk)."""
        return []

    def content(self, ctx: ChatContext, model: str, text: str) -> bytes:
        return sse(self.serialise(self.chunk(ctx, model, [self.choice({"role": "assistant", "content": text}, None)])))

    def finish(self, ctx: ChatContext, model: str, finish_reason: str) -> bytes:
        delta = {"role": "assistant", "content": ""}
        return sse(self.serialise(self.chunk(ctx, model, [self.choice(delta, finish_reason)])))

    def usage_chunk(self, ctx: ChatContext, model: str, usage: dict[str, Any]) -> bytes:
        return sse(self.serialise({**self.chunk(ctx, model, []), "usage": usage}))

    def stream_error(self, ctx: ChatContext, reply: Reply) -> bytes:
        """What a failure mid-stream looks like: the shim turns the native error line into an empty chunk."""
        return sse(self.serialise(self.chunk(ctx, "", [self.choice({"role": "assistant", "content": ""}, None)])))


OLLAMA = Shape()


def _padding(choices: list[dict[str, Any]]) -> str:
    """OpenAI pads every chunk with random characters (``stream_options.include_obfuscation``, on by
    default) so that chunk sizes do not reveal the text; here the pad's length varies with the content."""
    text = "".join(c["delta"].get("content") or "" for c in choices)
    return "kX9fQ2mZ7Lp4"[: 1 + len(text) % 12]


class OpenAIShape(Shape):
    """OpenAI's own accent (see the module docstring)."""

    fingerprint: str | None = "fp_560af6e559"
    service_tier: str | None = "default"
    refusal = True
    """``message.refusal``/``annotations`` and ``refusal`` in the opening delta."""
    obfuscation = True
    detailed_usage = True
    done_after_error = True

    def document(self, obj: Any) -> bytes:
        # The live API indents its JSON bodies (streams are compact, one line per event).
        return json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8", "fake-json") + b"\n"

    def usage(self, answer: Answer, reply: Reply) -> dict[str, Any]:
        usage = super().usage(answer, reply)
        if self.detailed_usage:
            usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
            usage["completion_tokens_details"] = {
                "reasoning_tokens": len(answer.reasoning),
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            }
        return usage

    def message(self, answer: Answer) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": answer.text}
        if self.refusal:
            message |= {"refusal": None, "annotations": []}
        return message

    def completion(self, ctx: ChatContext, answer: Answer, reply: Reply) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": ctx.generation_id,
            "object": "chat.completion",
            "created": ctx.created,
            "model": answer.model,
            "choices": [
                {"index": 0, "message": self.message(answer), "logprobs": None, "finish_reason": answer.finish_reason}
            ],
            "usage": self.usage(answer, reply),
        }
        if self.service_tier is not None:
            body["service_tier"] = self.service_tier
        if self.fingerprint is not None:
            body["system_fingerprint"] = self.fingerprint
        return body

    def failure(self, reply: Reply) -> ErrorResponse:
        return openai_error(500, reply.error_message or OA_SERVER_ERROR, type="server_error")

    def chunk(self, ctx: ChatContext, model: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": ctx.generation_id,
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": model,
        }
        if self.service_tier is not None:
            chunk["service_tier"] = self.service_tier
        if self.fingerprint is not None:
            chunk["system_fingerprint"] = self.fingerprint
        chunk["choices"] = choices
        if ctx.include_usage:
            chunk["usage"] = None
        if self.obfuscation:
            chunk["obfuscation"] = _padding(choices)
        return chunk

    def choice(self, delta: dict[str, Any], finish_reason: str | None, *, filtered: bool = False) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    def opening(self, ctx: ChatContext, model: str) -> list[bytes]:
        delta: dict[str, Any] = {"role": "assistant", "content": ""}
        if self.refusal:
            delta["refusal"] = None
        return [sse(self.serialise(self.chunk(ctx, model, [self.choice(delta, None)])))]

    def content(self, ctx: ChatContext, model: str, text: str) -> bytes:
        return sse(self.serialise(self.chunk(ctx, model, [self.choice({"content": text}, None, filtered=True)])))

    def finish(self, ctx: ChatContext, model: str, finish_reason: str) -> bytes:
        return sse(self.serialise(self.chunk(ctx, model, [self.choice({}, finish_reason)])))

    def stream_error(self, ctx: ChatContext, reply: Reply) -> bytes:
        message = reply.error_message or OA_SERVER_ERROR
        return sse(self.serialise({"error": {"message": message, "type": "server_error", "param": None, "code": None}}))


OPENAI = OpenAIShape()


# --------------------------------------------------------------------------- rendering


def render_json(reply: Reply, ctx: ChatContext, shape: Shape = OLLAMA) -> Plan:
    """A non-stream ``chat.completion`` (or the shape's failure response)."""
    answer = resolve_answer(reply, ctx)
    preamble = delay_steps(reply)
    interrupt = first_interruption(reply, answer)
    if interrupt is not None and interrupt.kind in ("drop", "stall"):
        return Plan(status=None, preamble=preamble + tuple(interruption_steps(reply, interrupt.kind)))
    if reply.error_only or (interrupt is not None and interrupt.kind == "error"):
        err = shape.failure(reply)
        return Plan(
            status=err.status,
            headers=(*content_headers(ctx, err.content_type), *err.headers),
            body=(err.body,),
            preamble=preamble,
            gzip=reply.gzip,
        )
    document = shape.document(shape.completion(ctx, answer, reply))
    return Plan(
        status=200,
        headers=content_headers(ctx, "application/json"),
        body=(cut_in_half(document) if interrupt is not None else document,),
        preamble=preamble,
        gzip=reply.gzip,
    )


def render_sse(reply: Reply, ctx: ChatContext, shape: Shape = OLLAMA) -> Plan:
    """``text/event-stream``: preface, opening, content chunks, finish chunk, optional usage chunk, ``[DONE]``."""
    answer = resolve_answer(reply, ctx)
    gap: list[Step] = [Pause(reply.chunk_delay)] if reply.chunk_delay > 0 else []
    steps: list[Step] = []

    def finish() -> Plan:
        return Plan(
            status=200,
            headers=content_headers(ctx, "text/event-stream"),
            body=tuple(steps),
            chunked=True,
            preamble=delay_steps(reply),
            gzip=reply.gzip,
        )

    def failed() -> Plan:
        steps.append(shape.stream_error(ctx, reply))
        if reply.done_after_error and shape.done_after_error:
            steps.append(DONE)
        return finish()

    if reply.error_only:
        return failed()
    steps += shape.preface(ctx)
    steps += shape.opening(ctx, answer.model)
    for event in stream_events(reply, answer.tokens, ctx.tokens_per_chunk):
        if steps:
            steps += gap
        if isinstance(event, Emit):
            steps.append(shape.content(ctx, answer.model, event.content))
        elif event.kind == "error":
            return failed()
        else:
            steps += interruption_steps(reply, event.kind)
            return finish()
    if steps:
        steps += gap
    steps.append(shape.finish(ctx, answer.model, answer.finish_reason))
    if ctx.include_usage:
        steps.append(shape.usage_chunk(ctx, answer.model, shape.usage(answer, reply)))
    if not reply.no_terminator:
        steps.append(DONE)
    return finish()


def render(reply: Reply, ctx: ChatContext, shape: Shape = OLLAMA) -> Plan:
    return render_sse(reply, ctx, shape) if ctx.stream else render_json(reply, ctx, shape)


def usage(answer: Answer, reply: Reply) -> dict[str, int]:
    """Ollama's ``/v1`` usage object (kept for callers of the old module-level function)."""
    return OLLAMA.usage(answer, reply)


# --------------------------------------------------------------------------- the OpenAI API


@dataclass(frozen=True)
class ChatAsk:
    """A chat request that passed a service's checks: what the answer needs from it."""

    model: str
    """The model the answer reports (Azure: the deployment's model, not the deployment name)."""
    stream: bool
    include_usage: bool
    max_tokens: int | None
    messages: list[Any]


_REASONING = re.compile(r"^(?:o\d|gpt-5)")
"""Model families that refuse ``max_tokens`` on Chat Completions (they take ``max_completion_tokens``)."""


def is_reasoning_model(model: str) -> bool:
    return _REASONING.match(model) is not None


def max_tokens(body: dict[str, Any]) -> int | None:
    """The smaller of ``max_tokens`` / ``max_completion_tokens`` (non-negative ints only)."""
    limits = [
        v
        for v in (body.get("max_tokens"), body.get("max_completion_tokens"))
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0
    ]
    return min(limits) if limits else None


def _openai_400(message: str, param: str | None = None, code: str | None = None) -> ErrorResponse:
    return openai_error(400, message, param=param, code=code)


_INVALID_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library "
    "correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble "
    "figuring out how to fix this, please contact us through our help center at help.openai.com.)"
)
_JSON_TYPES = {list: "an array", str: "a string", bool: "a boolean", dict: "an object", int: "an integer"}


class OpenAIService:
    """The OpenAI API under :attr:`prefix` (see the module docstring); Azure and Cloudflare subclass it."""

    prefix = OPENAI_PREFIX
    wire: Wire = "openai-api"
    shape: Shape = OPENAI

    def endpoint(self, req: RecordedRequest) -> str | None:
        """``"chat"`` for the chat endpoint, another name for the other endpoints, ``None`` for a 404."""
        rest = req.path.removeprefix(self.prefix)
        if rest == "/chat/completions" and req.method == "POST":
            return "chat"
        if rest == "/models" and req.method == "GET":
            return "models"
        if rest.startswith("/models/") and len(rest) > len("/models/") and req.method == "GET":
            return "model"
        return None

    # ---------------------------------------------------------------- auth

    def authorise(self, req: RecordedRequest, fake: FakeProvider) -> ErrorResponse | None:
        if req.bearer is None:
            return oa_401_no_key()
        if req.bearer not in fake.keys:
            return oa_401(req.bearer)
        return None

    # ---------------------------------------------------------------- chat

    def models(self, fake: FakeProvider) -> frozenset[str]:
        return fake.openai_models

    def parse_body(self, req: RecordedRequest) -> dict[str, Any] | ErrorResponse:
        """The JSON object the request sent, or OpenAI's 400 for anything else."""
        body = req.body
        if isinstance(body, dict):
            return body
        if body is None:
            return _openai_400(_INVALID_JSON)
        kind = _JSON_TYPES.get(type(body), "a number")
        return _openai_400(f"Invalid type for request body: expected an object, but got {kind} instead.")

    def check_body(self, req: RecordedRequest, body: dict[str, Any]) -> ErrorResponse | None:
        """``model`` and ``messages`` present and well typed (before the model is looked up)."""
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _openai_400("you must provide a model parameter")
        messages = body.get("messages")
        if messages is None:
            return _openai_400("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
        if not isinstance(messages, list):
            kind = _JSON_TYPES.get(type(messages), "a number")
            message = f"Invalid type for 'messages': expected an array, but got {kind} instead."
            return _openai_400(message, "messages", "invalid_type")
        if not messages:
            message = "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."
            return _openai_400(message, "messages", "empty_array")
        return None

    def resolve_model(self, req: RecordedRequest, body: dict[str, Any], fake: FakeProvider) -> str | ErrorResponse:
        """The model that answers (the body's ``model``, once known to be served)."""
        model = str(body["model"])
        return model if model in self.models(fake) else oa_404_model_not_found(model)

    def check_options(self, body: dict[str, Any], model: str) -> ErrorResponse | None:
        if is_reasoning_model(model) and "max_tokens" in body:
            message = "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
            return _openai_400(message, "max_tokens", "unsupported_parameter")
        if body.get("stream_options") is not None and body.get("stream") is not True:
            message = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
            return _openai_400(message, "stream_options")
        return None

    def check_chat(self, req: RecordedRequest, fake: FakeProvider) -> ChatAsk | ErrorResponse:
        body = self.parse_body(req)
        if isinstance(body, ErrorResponse):
            return body
        problem = self.check_body(req, body)
        if problem is not None:
            return problem
        model = self.resolve_model(req, body, fake)
        if isinstance(model, ErrorResponse):
            return model
        problem = self.check_options(body, model)
        if problem is not None:
            return problem
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
        return ChatAsk(model, stream, include_usage, max_tokens(body), body["messages"])

    def chat_id(self, fake: FakeProvider, created: int) -> str:
        return "chatcmpl-" + fake._random_token(29)

    def answer_headers(self, fake: FakeProvider) -> tuple[tuple[str, str], ...]:
        """Headers on every chat answer (a scripted ``reply(headers=...)`` replaces any of them)."""
        return (
            ("x-request-id", "req_" + fake._random_token(32, hex=True)),
            ("openai-organization", "user-fakeorg"),
            ("openai-processing-ms", "123"),
            ("openai-version", "2020-10-01"),
            *oa_rate_limit_headers().items(),
        )

    # ---------------------------------------------------------------- other endpoints

    def not_found(self, req: RecordedRequest) -> ErrorResponse:
        real = req.path.removeprefix(self.prefix.removesuffix("/v1"))
        return openai_error(404, f"Invalid URL ({req.method} {real})")

    def respond(self, endpoint: str | None, req: RecordedRequest, fake: FakeProvider) -> ErrorResponse:
        """The whole response to a request that is not a chat (a 200 document is an :class:`ErrorResponse` too)."""
        if endpoint is None:
            return self.not_found(req)
        problem = self.authorise(req, fake)
        if problem is not None:
            return problem
        rows = {
            m: {"id": m, "object": "model", "created": 1_721_172_741, "owned_by": "system"} for m in self.models(fake)
        }
        if endpoint == "models":
            return error(200, {"object": "list", "data": [rows[m] for m in sorted(rows)]})
        model = req.path.removeprefix(self.prefix + "/models/")
        return error(200, rows[model]) if model in rows else oa_404_model_not_found(model)


SERVICE = OpenAIService()


def query_value(req: RecordedRequest, name: str) -> str | None:
    values = parse_qs(req.query).get(name)
    return values[0] if values else None


__all__ = [
    "DONE",
    "OLLAMA",
    "OPENAI",
    "SERVICE",
    "ChatAsk",
    "OpenAIService",
    "OpenAIShape",
    "Shape",
    "is_reasoning_model",
    "render",
    "render_json",
    "render_sse",
    "usage",
]
