"""Anthropic's Messages API (providers-next §4), mounted at ``/anthropic`` (what ``ANTHROPIC_BASE_URL`` points at).

Routes (after ``/anthropic``): ``POST /v1/messages``, ``GET /v1/models`` (``limit`` 1-1000, default 20;
``after_id`` / ``before_id``; newest first; ``{"data", "first_id", "last_id", "has_more"}``), ``GET
/v1/models/{id}``; anything else is 404 ``not_found_error`` "Not Found".

Strict like the real service, every route checks in this order: the key (missing: 401 "x-api-key header is
required"; unknown: 401 "invalid x-api-key"), ``anthropic-version`` (missing: 400 "anthropic-version: header is
required"; not a known version: 400 "... is not a valid version").  The key is the ``x-api-key`` header, as the
reference documents, or a bearer token: the official SDK 2.x sends ``Authorization: Bearer <api key>`` with
``anthropic-version: 2026-10-21`` (``anthropic._constants``), so the live API must take both; ``x-api-key`` wins
when a request sends the two.  Then ``POST /v1/messages`` checks the JSON
body, ``model``, ``max_tokens`` (required, a non-negative integer), ``messages`` (required, a non-empty list of
``user`` / ``assistant`` turns: a ``system`` role is refused with the real message pointing at the top-level
``system``), ``system`` (a string or a list of text blocks), ``temperature`` (0-1) and last the model (404
``not_found_error`` "model: <id>").  Field errors read like the live API's ("max_tokens: Field required"); the
texts of the body, role and range errors are written in that style, not captured.

Answers: a non-stream ``message`` with the reference's key order and usage (cache counts 0), ``thinking`` blocks
(with a ``signature``) before the ``text`` block when the reply has ``reasoning``.  A stream is the exact event
sequence of the reference's capture, ``event: X`` / ``data: {json}`` with the capture's ``", "`` / ``": "``
spacing: ``message_start`` (input tokens, ``output_tokens: 1``), per block ``content_block_start`` (a ``ping``
after the first), deltas (``thinking_delta`` then one ``signature_delta``; ``text_delta``), ``content_block_stop``,
then ``message_delta`` (``stop_reason``, cumulative ``output_tokens``) and ``message_stop``.  Stop reasons:
``end_turn``, ``max_tokens`` when ``max_tokens`` cut the answer; a reply's ``finish_reason`` may name any other
(``"stop"`` / ``"length"`` are translated).  Headers: ``request-id``, ``anthropic-organization-id`` and the
``anthropic-ratelimit-*`` headers (a scripted ``reply(headers=...)`` replaces any of them).

Reply knobs: ``error_after_tokens`` / ``error_only`` send an ``error`` event (``Reply.error_code``: an error type
such as ``"overloaded_error"``, or a status: 529 overloaded, 429 rate limit, anything else ``api_error``; the text
``error_message``, else the type's usual one) after which the stream ends without ``message_stop``; a non-stream
request gets that error as its HTTP answer.  ``no_terminator`` leaves out ``message_stop`` alone;
``end_after_tokens``, ``stall_after_tokens``, ``drop_after_tokens``, ``chunk_delay``, ``chunks``, ``gzip`` and
``delay`` work as on the other wires.  ``cost``, ``usage_shape``, ``processing_comments``, ``blank_lines``,
``done_after_error``, ``omit_prompt_eval_count`` and ``repeat`` are ignored (the API reports no cost).

Not modelled: tools and tool-use blocks, images and documents, prompt caching (cache counts are always 0),
``redacted_thinking``, ``stop_sequences`` (``stop_sequence`` is always null), the batch, token-counting and
files APIs, ``anthropic-beta`` features, and whether roles strictly alternate (the reference says a 400; the
2.x SDK documents that consecutive turns are combined: the fake combines them).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs

from .behaviours import ErrorResponse, Reply, compact_json, error
from .errors import (
    AN_RATE_LIMITS,
    an_400_version,
    an_401,
    an_404,
    an_rate_limit_headers,
    an_request_id,
    anthropic_error,
)
from .plan import (
    Answer,
    ChatContext,
    Emit,
    Pause,
    Plan,
    Step,
    Wire,
    cut_in_half,
    delay_steps,
    first_interruption,
    interruption_steps,
    reasoning_pieces,
    resolve_answer,
    stream_events,
)
from .records import RecordedRequest, parse_bearer

if TYPE_CHECKING:
    from .server import FakeProvider

PREFIX = "/anthropic"
MESSAGES_PATH = f"{PREFIX}/v1/messages"
MODELS_PATH = f"{PREFIX}/v1/models"
VERSIONS = frozenset({"2023-06-01", "2023-01-01", "2026-10-21"})
"""The ``anthropic-version`` values the API accepts: the reference's, the older one, and the 2.x SDK's."""
DEFAULT_ANTHROPIC_MODELS = frozenset({"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-6"})
"""The ids the reference names (its request and its model-list examples), which llmroute's aliases use too."""
ORGANIZATION_ID = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
"""The opaque ``signature`` that closes a thinking block (a made-up value of the real shape)."""

#: Known ids -> (display name, release date, context window); others get a name from their id.
MODEL_ROWS: dict[str, tuple[str, str, int]] = {
    "claude-opus-4-6": ("Claude Opus 4.6", "2026-02-05T00:00:00Z", 200_000),
    "claude-sonnet-4-5": ("Claude Sonnet 4.5", "2025-09-29T00:00:00Z", 200_000),
    "claude-haiku-4-5": ("Claude Haiku 4.5", "2025-10-15T00:00:00Z", 200_000),
    "claude-opus-4-5": ("Claude Opus 4.5", "2025-11-24T00:00:00Z", 200_000),
}
#: Deprecated ids -> end of life, as the official SDK's ``_data/deprecated_models.py`` (2.14) lists them; their rows
#: say ``lifecycle: "deprecated"`` and ``retires_at``.
RETIREMENTS: dict[str, str] = {
    "claude-sonnet-4-5": "2026-11-30T00:00:00Z",
    "claude-sonnet-4-5-20250929": "2026-11-30T00:00:00Z",
    "claude-opus-4-5": "2027-01-22T00:00:00Z",
    "claude-opus-4-5-20251101": "2027-01-22T00:00:00Z",
}
_FALLBACK_DATE = "2025-01-01T00:00:00Z"
_DATED_ID = re.compile(r"-(\d{8})$")
_ERROR_TYPES: dict[int, tuple[str, str]] = {
    529: ("overloaded_error", "Overloaded"),
    429: ("rate_limit_error", "Rate limited"),
    500: ("api_error", "Internal server error"),
}
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}


def owns(path: str) -> bool:
    """Whether a request path is the Anthropic API's (under :data:`PREFIX`)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def api_key(headers: Mapping[str, str]) -> str | None:
    """The secret a request authenticates with: the ``x-api-key`` header, else a bearer token (see the docstring)."""
    return headers.get("x-api-key", "").strip() or parse_bearer(headers.get("authorization"))


def display_name(model: str) -> str:
    """``claude-sonnet-4-5`` -> ``Claude Sonnet 4.5`` (a dated id keeps its name without the date)."""
    if model in MODEL_ROWS:
        return MODEL_ROWS[model][0]
    words = _DATED_ID.sub("", model).split("-")
    numbers = [w for w in words if w.isdigit()]
    names = [w.capitalize() for w in words if not w.isdigit()]
    return " ".join(names + ([".".join(numbers)] if numbers else []))


def model_row(model: str) -> dict[str, Any]:
    _, created, context = MODEL_ROWS.get(model, (None, _FALLBACK_DATE, 200_000))
    dated = _DATED_ID.search(model)
    if model not in MODEL_ROWS and dated:
        day = dated.group(1)
        created = f"{day[:4]}-{day[4:6]}-{day[6:]}T00:00:00Z"
    return {
        "type": "model",
        "id": model,
        "display_name": display_name(model),
        "created_at": created,
        "lifecycle": "deprecated" if model in RETIREMENTS else "active",
        "retires_at": RETIREMENTS.get(model),
        "max_input_tokens": context,
        "max_tokens": 64_000,
    }


def sse_event(name: str, data: Mapping[str, Any]) -> bytes:
    """``event: <name>`` / ``data: <json>`` with the capture's spacing (``", "`` and ``": "``)."""
    payload = json.dumps(data, ensure_ascii=False).encode("utf-8", "fake-json")
    return b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"


def _bad_request(message: str) -> ErrorResponse:
    return anthropic_error(400, "invalid_request_error", message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class MessagesAsk:
    """A ``POST /v1/messages`` that passed the checks: what the answer needs from it."""

    model: str
    stream: bool
    max_tokens: int
    messages: list[Any]
    system: Any = None


class AnthropicService:
    """The Anthropic API under :data:`PREFIX` (see the module docstring)."""

    prefix = PREFIX

    def endpoint(self, req: RecordedRequest) -> str | None:
        """``"messages"``, ``"models"``, ``"model"``, or ``None`` for a 404."""
        rest = req.path.removeprefix(self.prefix)
        if rest == "/v1/messages" and req.method == "POST":
            return "messages"
        if rest == "/v1/models" and req.method == "GET":
            return "models"
        if rest.startswith("/v1/models/") and len(rest) > len("/v1/models/") and req.method == "GET":
            return "model"
        return None

    def authorise(self, req: RecordedRequest, fake: FakeProvider) -> ErrorResponse | None:
        """The key, then the version: what every route checks first."""
        if req.bearer is None:
            return an_401(missing=True)
        if req.bearer not in fake.keys:
            return an_401()
        version = req.headers.get("anthropic-version")
        if version is None:
            return an_400_version()
        if version.strip() not in VERSIONS:
            return an_400_version(version)
        return None

    # ---------------------------------------------------------------- messages

    def check_messages(self, req: RecordedRequest, fake: FakeProvider) -> MessagesAsk | ErrorResponse:
        body = req.body
        if not isinstance(body, dict):
            return _bad_request("The request body is not a valid JSON object.")
        model = body.get("model")
        if model is None:
            return _bad_request("model: Field required")
        if not isinstance(model, str) or not model:
            return _bad_request("model: Input should be a valid string")
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            return _bad_request("max_tokens: Field required")
        if not _is_int(max_tokens) or max_tokens < 0:
            return _bad_request("max_tokens: Input should be a valid non-negative integer")
        messages = body.get("messages")
        if messages is None:
            return _bad_request("messages: Field required")
        if not isinstance(messages, list):
            return _bad_request("messages: Input should be a valid list")
        if not messages:
            return _bad_request("messages: at least one message is required")
        for index, message in enumerate(messages):
            problem = self._check_turn(index, message)
            if problem is not None:
                return problem
        system = body.get("system")
        if system is not None and not isinstance(system, str | list):
            return _bad_request("system: Input should be a valid string or a list of text blocks")
        temperature = body.get("temperature")
        if temperature is not None and (
            not isinstance(temperature, int | float) or isinstance(temperature, bool) or not 0 <= temperature <= 1
        ):
            return _bad_request("temperature: range: 0..1")
        if model not in fake.anthropic_models:
            return an_404(model)
        return MessagesAsk(model, body.get("stream") is True, max_tokens, messages, system)

    def _check_turn(self, index: int, message: object) -> ErrorResponse | None:
        if not isinstance(message, dict):
            return _bad_request(f"messages.{index}: Input should be a valid dictionary")
        role = message.get("role")
        if role == "system":
            return _bad_request(
                'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, '
                'not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            return _bad_request(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if content is None:
            return _bad_request(f"messages.{index}.content: Field required")
        if not isinstance(content, str | list):
            return _bad_request(f"messages.{index}.content: Input should be a valid string or a list of blocks")
        return None

    def context(self, ask: MessagesAsk, fake: FakeProvider) -> ChatContext:
        turns = list(ask.messages)
        if ask.system is not None:
            turns.append({"content": ask.system})
        return ChatContext(
            wire=cast(Wire, "anthropic"),  # rendered here, never by the server's shared ``_answer``
            stream=ask.stream,
            model=ask.model,
            max_tokens=ask.max_tokens,
            prompt_tokens=_count_words(turns),
            default_text=fake.default_text,
            tokens_per_chunk=fake.tokens_per_chunk,
            default_cost=0.0,
            provider_name="Anthropic",
            generation_id="msg_01" + fake._random_token(22),
            created=int(time.time()),
            extra_headers=self.answer_headers(),
        )

    def answer_headers(self) -> tuple[tuple[str, str], ...]:
        """Headers on every answer (a scripted ``reply(headers=...)`` replaces any of them)."""
        return (
            ("request-id", an_request_id()),
            ("anthropic-organization-id", ORGANIZATION_ID),
            *an_rate_limit_headers().items(),
        )

    def render(self, reply: Reply, ask: MessagesAsk, fake: FakeProvider) -> Plan:
        ctx = self.context(ask, fake)
        plan = render_sse(reply, ctx) if ask.stream else render_json(reply, ctx)
        if reply.headers and plan.status is not None:
            replaced = {name.lower() for name, _ in reply.headers}
            kept = tuple((name, value) for name, value in plan.headers if name.lower() not in replaced)
            plan = dataclasses.replace(plan, headers=kept + reply.headers)
        return plan

    # ---------------------------------------------------------------- other routes

    def respond(self, endpoint: str | None, req: RecordedRequest, fake: FakeProvider) -> ErrorResponse:
        """The whole response to a request that is not a message (a 200 document is an :class:`ErrorResponse` too)."""
        if endpoint is None:
            return anthropic_error(404, "not_found_error", "Not Found")
        problem = self.authorise(req, fake)
        if problem is not None:
            return problem
        rows = sorted((model_row(m) for m in fake.anthropic_models), key=lambda r: (r["created_at"], r["id"]))
        rows.reverse()  # newest first
        if endpoint == "model":
            model = req.path.removeprefix(self.prefix + "/v1/models/")
            row = next((r for r in rows if r["id"] == model), None)
            return error(200, row) if row is not None else an_404(model)
        return self._page(req, rows)

    def _page(self, req: RecordedRequest, rows: list[dict[str, Any]]) -> ErrorResponse:
        query = parse_qs(req.query)
        raw_limit = (query.get("limit") or ["20"])[0]
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            return _bad_request("limit: Input should be greater than or equal to 1 and less than or equal to 1000")
        limit = int(raw_limit)
        ids = [r["id"] for r in rows]
        after, before = (query.get("after_id") or [None])[0], (query.get("before_id") or [None])[0]
        for cursor in (after, before):
            if cursor is not None and cursor not in ids:
                return _bad_request(f"Invalid cursor: {cursor}")
        if after is not None:
            window = rows[ids.index(after) + 1 :]
            page, has_more = window[:limit], len(window) > limit
        elif before is not None:
            window = rows[: ids.index(before)]
            page, has_more = window[-limit:], len(window) > limit
        else:
            page, has_more = rows[:limit], len(rows) > limit
        doc = {
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": has_more,
        }
        return error(200, doc)


SERVICE = AnthropicService()


# --------------------------------------------------------------------------- rendering


def _count_words(turns: list[Any]) -> int:
    """Prompt "tokens": whitespace-separated words of every text (string content or text blocks)."""
    total = 0
    for turn in turns:
        content = turn.get("content") if isinstance(turn, dict) else None
        parts = [content] if isinstance(content, str) else content if isinstance(content, list) else []
        for part in parts:
            text = part if isinstance(part, str) else part.get("text") if isinstance(part, dict) else None
            if isinstance(text, str):
                total += len(text.split())
    return total


def stop_reason(answer: Answer) -> str:
    return _STOP_REASONS.get(answer.finish_reason, answer.finish_reason)


def failure(reply: Reply) -> tuple[int, str, str]:
    """(status, error type, message) of a reply that fails: its ``error_code`` is an error type or a status."""
    code = reply.error_code
    if isinstance(code, str) and not code.isdigit():
        status = _TYPE_STATUS.get(code, 500)
        usual = _ERROR_TYPES[status][1] if status in _ERROR_TYPES else code.replace("_", " ")
        return status, code, reply.error_message or usual
    status = int(code) if int(code) in _ERROR_TYPES else 500
    kind, usual = _ERROR_TYPES[status]
    return status, kind, reply.error_message or usual


def message_document(ctx: ChatContext, answer: Answer) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if answer.reasoning:
        content.append({"type": "thinking", "thinking": answer.reasoning_text, "signature": SIGNATURE})
    if answer.tokens or not answer.reasoning:
        content.append({"type": "text", "text": answer.text})
    return {
        "id": ctx.generation_id,
        "type": "message",
        "role": "assistant",
        "content": content,
        "model": answer.model,
        "stop_reason": stop_reason(answer),
        "stop_sequence": None,
        "usage": {
            "input_tokens": answer.prompt_tokens,
            "output_tokens": answer.completion_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def render_json(reply: Reply, ctx: ChatContext) -> Plan:
    answer = resolve_answer(reply, ctx)
    preamble = delay_steps(reply)
    interrupt = first_interruption(reply, answer)
    if interrupt is not None and interrupt.kind in ("drop", "stall"):
        return Plan(status=None, preamble=preamble + tuple(interruption_steps(reply, interrupt.kind)))
    if reply.error_only or (interrupt is not None and interrupt.kind == "error"):
        status, kind, message = failure(reply)
        extra = (("x-should-retry", "true"),) if status >= 500 else ()
        err = anthropic_error(status, kind, message, dict(extra))
        own = {name.lower() for name, _ in err.headers}
        kept = tuple((name, value) for name, value in ctx.extra_headers if name.lower() not in own)
        headers = (("Content-Type", err.content_type), *kept, *err.headers)
        return Plan(status=status, headers=headers, body=(err.body,), preamble=preamble, gzip=reply.gzip)
    document = compact_json(message_document(ctx, answer))
    return Plan(
        status=200,
        headers=(("Content-Type", "application/json"), *ctx.extra_headers),
        body=(cut_in_half(document) if interrupt is not None else document,),
        preamble=preamble,
        gzip=reply.gzip,
    )


def render_sse(reply: Reply, ctx: ChatContext) -> Plan:
    """The event sequence of the module docstring, interrupted where the reply says."""
    answer = resolve_answer(reply, ctx)
    gap: list[Step] = [Pause(reply.chunk_delay)] if reply.chunk_delay > 0 else []
    start = {
        "id": ctx.generation_id,
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": answer.model,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": answer.prompt_tokens, "output_tokens": 1},
    }
    steps: list[Step] = [sse_event("message_start", {"type": "message_start", "message": start})]

    def plan() -> Plan:
        headers = (("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache"))
        return Plan(
            status=200,
            headers=headers + ctx.extra_headers,
            body=tuple(steps),
            chunked=True,
            preamble=delay_steps(reply),
            gzip=reply.gzip,
        )

    def failed() -> Plan:
        _, kind, message = failure(reply)
        steps.append(sse_event("error", {"type": "error", "error": {"type": kind, "message": message}}))
        return plan()

    if reply.error_only:
        return failed()
    index = 0
    if answer.reasoning:
        steps += _block_start(index, {"type": "thinking", "thinking": "", "signature": ""})
        for piece in reasoning_pieces(answer, ctx.tokens_per_chunk):
            steps += [*gap, _delta(index, {"type": "thinking_delta", "thinking": piece})]
        steps += [_delta(index, {"type": "signature_delta", "signature": SIGNATURE}), _block_stop(index)]
        index += 1
    thresholds = (reply.error_after_tokens, reply.stall_after_tokens, reply.drop_after_tokens, reply.end_after_tokens)
    if answer.tokens or not answer.reasoning or any(t is not None for t in thresholds):
        steps += _block_start(index, {"type": "text", "text": ""})
        for event in stream_events(reply, answer.tokens, ctx.tokens_per_chunk):
            if isinstance(event, Emit):
                steps += [*gap, _delta(index, {"type": "text_delta", "text": event.content})]
            elif event.kind == "error":
                return failed()
            else:
                steps += interruption_steps(reply, event.kind)
                return plan()
        steps.append(_block_stop(index))
    delta = {"stop_reason": stop_reason(answer), "stop_sequence": None}
    usage = {"output_tokens": answer.completion_tokens}
    steps.append(sse_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    if not reply.no_terminator:
        steps.append(sse_event("message_stop", {"type": "message_stop"}))
    return plan()


def _block_start(index: int, block: dict[str, Any]) -> list[Step]:
    """``content_block_start``, then a ``ping`` after the message's first block (where the capture has it)."""
    start = sse_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
    return [start, sse_event("ping", {"type": "ping"})] if index == 0 else [start]


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return sse_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def _block_stop(index: int) -> bytes:
    return sse_event("content_block_stop", {"type": "content_block_stop", "index": index})


__all__ = [
    "AN_RATE_LIMITS",
    "DEFAULT_ANTHROPIC_MODELS",
    "MESSAGES_PATH",
    "MODELS_PATH",
    "PREFIX",
    "SERVICE",
    "AnthropicService",
    "MessagesAsk",
    "api_key",
    "owns",
    "render_json",
    "render_sse",
]
