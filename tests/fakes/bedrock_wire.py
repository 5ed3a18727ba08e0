"""AWS Bedrock (providers-next §6), mounted at ``/bedrock`` (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``).

Routes (after the mount point), each the real service's path:

* ``POST /model/{modelId}/converse`` — Converse: one JSON body (``output.message.content[]``, ``stopReason``,
  ``usage``, ``metrics``);
* ``POST /model/{modelId}/converse-stream`` — ConverseStream: ``application/vnd.amazon.eventstream`` frames with
  real CRC32s: ``messageStart``, ``contentBlockDelta`` (reasoning first, in its own block, then the text),
  ``contentBlockStop``, ``messageStop``, ``metadata``;
* ``GET /foundation-models`` (ListFoundationModels; ``byOutputModality``, ``byInferenceType``, ``byProvider``
  honoured) and ``GET /inference-profiles`` (ListInferenceProfiles; ``type``, ``maxResults``, ``nextToken``): the
  control plane, which the real service has on ``bedrock.{region}`` and the fake serves under the same mount;
* anything else: 404 ``UnknownOperationException``.

Every request is authenticated first, strictly:

* **SigV4**: the ``Authorization: AWS4-HMAC-SHA256 Credential=AKID/day/region/bedrock/aws4_request,
  SignedHeaders=..., Signature=...`` header is verified with the secret the fake knows for the access key id
  (``FakeProvider(aws_credentials={akid: secret})``), recomputed by **botocore's** signer over the request as
  received (raw path, query, the signed headers, the body's bytes): an independent oracle for llmroute's own signer.
  An unknown key id, or a session token (``X-Amz-Security-Token``) other than ``aws_session_tokens[akid]``, is
  ``UnrecognizedClientException``; a wrong signature, region (``bedrock_region``), service or day, an unsigned
  ``host``/``x-amz-date``/token, or a date more than 15 minutes off is ``InvalidSignatureException`` (with the
  expected canonical request and string to sign, as AWS writes them).
* **API key**: ``Authorization: Bearer <key>`` with a key in ``bedrock_api_keys``; any other bearer gets the captured
  "Authentication failed" 403.
* Neither: 403 ``MissingAuthenticationTokenException``.

Scripted behaviours are looked up by the *identity*: the access key id for SigV4, the API key for a bearer
(``fake.script(akid, br_throttling())``), and for chat by the model id from the path too (``script(akid,
br_access_denied(m), model=m)``); ``RecordedRequest.bearer`` stays None for SigV4 requests. Chat validates, in
order: a JSON object, ``messages`` (present, starting with ``user``, alternating, no blank text), the model (a
``bedrock_models`` id, a ``bedrock_profiles`` id, or a ``foundation-model`` ARN of a served id; else "The provided
model identifier is invalid."). A :class:`BedrockReply` (see :func:`~.errors.br_corrupt_crc`) can corrupt a CRC or
cut a frame in half; ``error_after_tokens``/``error_only`` send an ``exception`` frame whose type is
``Reply.error_code`` (a name such as ``"throttlingException"``, or a status mapped to one). Usage counts words.
"""

from __future__ import annotations

import hashlib
import re
import struct
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

from .behaviours import DropConnection, ErrorResponse, Hang, Reply, compact_json, error
from .errors import (
    bedrock_error,
    br_invalid_api_key,
    br_invalid_model,
    br_invalid_signature,
    br_unrecognized_client,
    br_validation,
)
from .plan import (
    Answer,
    ChatContext,
    Emit,
    Pause,
    Plan,
    Stall,
    Step,
    count_prompt_words,
    cut_in_half,
    delay_steps,
    first_interruption,
    interruption_steps,
    reasoning_pieces,
    resolve_answer,
    stream_events,
    tokenize,
)
from .records import RecordedRequest

if TYPE_CHECKING:
    from .server import FakeProvider

PREFIX = "/bedrock"
EVENT_STREAM = "application/vnd.amazon.eventstream"
DEFAULT_BEDROCK_MODELS = frozenset({"anthropic.claude-3-5-haiku-20241022-v1:0", "amazon.nova-micro-v1:0"})
DEFAULT_BEDROCK_PROFILES: Mapping[str, str] = {
    "us.anthropic.claude-3-5-haiku-20241022-v1:0": "anthropic.claude-3-5-haiku-20241022-v1:0"
}
"""System-defined inference profile id -> the foundation model it runs."""
CLOCK_SKEW = 15 * 60
"""Seconds a request's ``X-Amz-Date`` may differ from the fake's clock, as on AWS."""
_CHAT = re.compile(rf"{PREFIX}/model/([^/]+)/(converse|converse-stream)")
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,\s*"
    r"SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})"
)
_ARN = re.compile(r"arn:aws:bedrock:[a-z0-9-]*:\d*:foundation-model/(.+)")
#: A status given as ``Reply.error_code`` -> the stream exception that carries it.
_STREAM_EXCEPTIONS = {
    429: "throttlingException",
    400: "validationException",
    500: "internalServerException",
    503: "serviceUnavailableException",
    424: "modelStreamErrorException",
}
_EXCEPTION_STATUS = {name.lower(): status for status, name in _STREAM_EXCEPTIONS.items()}
_EXCEPTION_TEXTS = {
    "throttlingexception": "Too many requests, please wait before trying again.",
    "serviceunavailableexception": "Bedrock is unable to process your request.",
    "validationexception": "Input is too long for requested model.",
    "internalserverexception": "An internal server error occurred. Retry your request.",
    "modelstreamerrorexception": "The model stream failed while processing the request.",
}
"""Default texts; the service-unavailable one is captured [obs], the others are plausible stand-ins."""


@dataclass(frozen=True)
class BedrockReply(Reply):
    """A :class:`~.behaviours.Reply` with faults only binary framing has (built by ``br_corrupt_crc`` /
    ``br_truncated``); other wires render it as a plain reply."""

    corrupt_after_tokens: int | None = None
    """The first frame sent after this many answer tokens carries a wrong CRC32."""
    corrupt: Literal["message", "prelude"] = "message"
    truncate_after_tokens: int | None = None
    """The body ends (cleanly) half-way through the first frame after this many answer tokens."""


@dataclass
class BedrockOptions:
    """What the fake's Bedrock knows: credentials, models, region (``FakeProvider``'s ``aws_*``/``bedrock_*``)."""

    credentials: dict[str, str] = field(default_factory=dict)
    session_tokens: dict[str, str] = field(default_factory=dict)
    api_keys: frozenset[str] = frozenset()
    models: frozenset[str] = DEFAULT_BEDROCK_MODELS
    profiles: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BEDROCK_PROFILES))
    region: str = "us-east-1"

    @classmethod
    def build(
        cls,
        aws_credentials: Mapping[str, str] | None,
        aws_session_tokens: Mapping[str, str] | None,
        bedrock_api_keys: Iterable[str] | None,
        bedrock_models: Iterable[str] | None,
        bedrock_profiles: Mapping[str, str] | None,
        bedrock_region: str,
    ) -> BedrockOptions:
        models = frozenset(DEFAULT_BEDROCK_MODELS if bedrock_models is None else bedrock_models)
        profiles = dict(DEFAULT_BEDROCK_PROFILES if bedrock_profiles is None else bedrock_profiles)
        unknown = sorted(m for m in profiles.values() if m not in models)
        if unknown:
            raise ValueError(f"bedrock_profiles: {unknown} are not in bedrock_models")
        tokens = dict(aws_session_tokens or {})
        stray = sorted(set(tokens) - set(aws_credentials or {}))
        if stray:
            raise ValueError(f"aws_session_tokens: {stray} have no secret in aws_credentials")
        return cls(
            dict(aws_credentials or {}), tokens, frozenset(bedrock_api_keys or ()), models, profiles, bedrock_region
        )

    def resolve(self, model: str) -> str | None:
        """The foundation model a model id, profile id or foundation-model ARN names, if served."""
        if model in self.models:
            return model
        if model in self.profiles:
            return self.profiles[model]
        match = _ARN.fullmatch(model)
        return match.group(1) if match and match.group(1) in self.models else None


# --------------------------------------------------------------------------- event-stream frames


def _header(name: str, value: str | bytes | bool | int) -> bytes:
    raw = name.encode()
    head = struct.pack(">B", len(raw)) + raw
    if isinstance(value, bool):
        return head + struct.pack(">B", 0 if value else 1)
    if isinstance(value, int):
        return head + struct.pack(">Bi", 4, value)
    data = value.encode() if isinstance(value, str) else value
    return head + struct.pack(">BH", 7 if isinstance(value, str) else 6, len(data)) + data


def frame(headers: Iterable[tuple[str, str | bytes | bool | int]], payload: bytes) -> bytes:
    """One event-stream message with correct CRCs (strings as type 7, bytes 6, booleans 0/1, ints as i32)."""
    head = b"".join(_header(name, value) for name, value in headers)
    total = len(head) + len(payload) + 16
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event_frame(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """An ``event`` message in the header order the service uses."""
    headers = ((":event-type", event_type), (":content-type", "application/json"), (":message-type", "event"))
    return frame(headers, compact_json(payload))


def exception_frame(exception_type: str, message: str) -> bytes:
    """A modelled ``exception`` message (``:exception-type`` lower camel case, payload ``{"message"}``)."""
    headers = (
        (":exception-type", exception_type),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    )
    return frame(headers, compact_json({"message": message}))


def error_frame(code: str, message: str) -> bytes:
    """An unmodelled ``error`` message (``:error-code`` / ``:error-message`` headers, empty payload)."""
    return frame(((":error-code", code), (":error-message", message), (":message-type", "error")), b"")


def corrupt(data: bytes, part: Literal["message", "prelude"]) -> bytes:
    """``data`` (one frame) with its message or prelude CRC32 off by one bit."""
    at = len(data) - 1 if part == "message" else 11
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _padding(seed: str) -> str:
    """The random ``p`` field some payloads carry [hedge]: here a length derived from the content."""
    return "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"[: 1 + len(seed) % 50]


# --------------------------------------------------------------------------- answers


def exception_of(reply: Reply) -> tuple[str, str]:
    """The stream exception a failing reply sends: (lower camel case type, message)."""
    code = reply.error_code
    name = code if isinstance(code, str) else _STREAM_EXCEPTIONS.get(code, "modelStreamErrorException")
    return name, reply.error_message or _EXCEPTION_TEXTS.get(name.lower(), "The model stream failed.")


def http_exception(reply: Reply) -> ErrorResponse:
    """What a non-stream request gets for a failing reply: the same exception as an HTTP error."""
    name, message = exception_of(reply)
    type_name = name[:1].upper() + name[1:]
    if type_name == "ModelStreamErrorException":
        type_name = "ModelErrorException"
    status = _EXCEPTION_STATUS.get(name.lower(), 424)
    return bedrock_error(status, type_name, message)


def stop_reason(answer: Answer) -> str:
    return {"stop": "end_turn", "length": "max_tokens"}.get(answer.finish_reason, answer.finish_reason)


def usage(answer: Answer) -> dict[str, int]:
    return {
        "inputTokens": answer.prompt_tokens,
        "outputTokens": answer.completion_tokens,
        "totalTokens": answer.prompt_tokens + answer.completion_tokens,
    }


def _headers(ctx: ChatContext, content_type: str) -> tuple[tuple[str, str], ...]:
    return (("Content-Type", content_type), ("x-amzn-RequestId", ctx.generation_id), *ctx.extra_headers)


def render_json(reply: Reply, ctx: ChatContext) -> Plan:
    """A Converse answer, or the exception / interruption the reply asks for."""
    answer = resolve_answer(reply, ctx)
    preamble = delay_steps(reply)
    interrupt = first_interruption(reply, answer)
    if interrupt is not None and interrupt.kind in ("drop", "stall"):
        return Plan(status=None, preamble=preamble + tuple(interruption_steps(reply, interrupt.kind)))
    if reply.error_only or (interrupt is not None and interrupt.kind == "error"):
        err = http_exception(reply)
        return Plan(err.status, (("Content-Type", err.content_type), *err.headers), (err.body,), preamble=preamble)
    content: list[dict[str, Any]] = []
    if answer.reasoning:
        signature = hashlib.sha256(answer.reasoning_text.encode("utf-8", "replace")).hexdigest()
        content.append({"reasoningContent": {"reasoningText": {"text": answer.reasoning_text, "signature": signature}}})
    content.append({"text": answer.text * reply.repeat})
    document = compact_json(
        {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop_reason(answer),
            "usage": usage(answer),
            "metrics": {"latencyMs": 302},
        }
    )
    body = cut_in_half(document) if interrupt is not None else document
    return Plan(200, _headers(ctx, "application/json"), (body,), preamble=preamble, gzip=reply.gzip)


def render_stream(reply: Reply, ctx: ChatContext) -> Plan:
    """ConverseStream frames; a :class:`BedrockReply` may corrupt or cut the frame after N answer tokens."""
    answer = resolve_answer(reply, ctx)
    gap: list[Step] = [Pause(reply.chunk_delay)] if reply.chunk_delay > 0 else []
    steps: list[Step] = []
    faulty = reply if isinstance(reply, BedrockReply) else None
    emitted = 0
    faulted = False

    def finish() -> Plan:
        return Plan(200, _headers(ctx, EVENT_STREAM), tuple(steps), chunked=True, preamble=delay_steps(reply))

    def send(data: bytes) -> bool:
        """Send one frame; False when the reply's framing fault ended the body here."""
        nonlocal faulted
        if steps:
            steps.extend(gap)
        if faulty is not None and not faulted:
            if faulty.corrupt_after_tokens is not None and emitted >= faulty.corrupt_after_tokens:
                faulted = True
                steps.append(corrupt(data, faulty.corrupt))
                return True
            if faulty.truncate_after_tokens is not None and emitted >= faulty.truncate_after_tokens:
                steps.append(data[: len(data) // 2])
                return False
        steps.append(data)
        return True

    def failed() -> Plan:
        send(exception_frame(*exception_of(reply)))
        return finish()

    if not send(event_frame("messageStart", {"p": _padding(ctx.generation_id), "role": "assistant"})):
        return finish()
    if reply.error_only:
        return failed()
    index = 0
    if answer.reasoning:
        for piece in reasoning_pieces(answer, ctx.tokens_per_chunk):
            delta = {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": piece}}}
            if not send(event_frame("contentBlockDelta", delta)):
                return finish()
        signature = hashlib.sha256(answer.reasoning_text.encode("utf-8", "replace")).hexdigest()
        delta = {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": signature}}}
        if not (
            send(event_frame("contentBlockDelta", delta))
            and send(event_frame("contentBlockStop", {"contentBlockIndex": 0}))
        ):
            return finish()
        index = 1
    for _ in range(reply.repeat):
        for event in stream_events(reply, answer.tokens, ctx.tokens_per_chunk):
            if isinstance(event, Emit):
                payload = {"contentBlockIndex": index, "delta": {"text": event.content}, "p": _padding(event.content)}
                if not send(event_frame("contentBlockDelta", payload)):
                    return finish()
                emitted += len(tokenize(event.content)) or 1
            elif event.kind == "error":
                return failed()
            else:
                steps.extend(interruption_steps(reply, event.kind))
                return finish()
    closing = (
        event_frame("contentBlockStop", {"contentBlockIndex": index}),
        event_frame("messageStop", {"p": _padding(answer.finish_reason), "stopReason": stop_reason(answer)}),
        event_frame("metadata", {"usage": usage(answer), "metrics": {"latencyMs": 420}, "p": "abc"}),
    )
    for data in closing:
        if not send(data):
            break
    return finish()


# --------------------------------------------------------------------------- authentication


def _amz_time(stamp: str) -> float | None:
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _query_pairs(query: str) -> list[tuple[str, str]]:
    """The query's pairs decoded the strict way (``+`` is a plus, not a space)."""
    pairs = []
    for part in query.split("&") if query else ():
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote(key), unquote(value)))
    return pairs


def verify_sigv4(req: RecordedRequest, options: BedrockOptions, now: float) -> tuple[str | None, ErrorResponse | None]:
    """(access key id, None) when the request's SigV4 signature holds, else (None, the error AWS would send)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    match = _AUTHORIZATION.fullmatch(req.headers.get("authorization", "").strip())
    if match is None:
        return None, bedrock_error(
            400,
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'.",
        )
    akid, day, region, service, signed_names, signature = match.groups()
    secret = options.credentials.get(akid)
    token = req.headers.get("x-amz-security-token")
    if secret is None or token != options.session_tokens.get(akid):
        return None, br_unrecognized_client()
    if region != options.region:
        return None, br_invalid_signature_text(f"Credential should be scoped to a valid region, not '{region}'. ")
    if service != "bedrock":
        return None, br_invalid_signature_text("Credential should be scoped to correct service: 'bedrock'. ")
    names = signed_names.split(";")
    required = {"host", "x-amz-date"} | ({"x-amz-security-token"} if token else set())
    if not required <= set(names) or any(n not in req.headers for n in names):
        return None, br_invalid_signature_text(f"Signed headers must include {sorted(required)} and only sent headers.")
    stamp = req.headers["x-amz-date"]
    when = _amz_time(stamp)
    if when is None or stamp[:8] != day:
        return None, br_invalid_signature_text(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{day}' != '{stamp[:8]}', from '{stamp}'."
        )
    if abs(when - now) > CLOCK_SKEW:
        return None, br_invalid_signature_text(f"Signature expired: {stamp} is now earlier than the allowed skew.")
    request = AWSRequest(
        method=req.method,
        url=f"http://{req.headers['host']}{req.path}",
        headers={name: req.headers[name] for name in names},
        data=req.raw_body,
        params=_query_pairs(req.query),
    )
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(akid, secret, token), "bedrock", region)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    if signer.signature(string_to_sign, request) != signature:
        return None, br_invalid_signature(canonical, string_to_sign)
    return akid, None


def br_invalid_signature_text(message: str) -> ErrorResponse:
    from .errors import CORAL_NAMESPACE

    return bedrock_error(403, "InvalidSignatureException", message, namespace=CORAL_NAMESPACE)


def authenticate(req: RecordedRequest, options: BedrockOptions, now: float) -> tuple[str | None, ErrorResponse | None]:
    """(identity, None) for a request AWS would accept: the access key id (SigV4) or the API key (bearer)."""
    authorization = req.headers.get("authorization", "").strip()
    scheme = authorization.split(" ", 1)[0]
    if scheme == "AWS4-HMAC-SHA256":
        return verify_sigv4(req, options, now)
    if scheme.lower() == "bearer":
        token = authorization[len(scheme) :].strip()
        return (token, None) if token in options.api_keys else (None, br_invalid_api_key())
    return None, bedrock_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")


# --------------------------------------------------------------------------- routing


def route_of(req: RecordedRequest) -> tuple[str, str | None, bool]:
    """(endpoint, model id, stream): ``"chat"``, ``"models"``, ``"profiles"`` or ``""`` (unknown)."""
    chat = _CHAT.fullmatch(req.path)
    if chat and req.method == "POST":
        return "chat", unquote(chat.group(1)), chat.group(2) == "converse-stream"
    if req.path == f"{PREFIX}/foundation-models" and req.method == "GET":
        return "models", None, False
    if req.path == f"{PREFIX}/inference-profiles" and req.method == "GET":
        return "profiles", None, False
    return "", None, False


def handle(handler: Any, req: RecordedRequest) -> None:
    """Answer one request under ``/bedrock`` on ``handler`` (the fake's request handler)."""
    fake: FakeProvider = handler.provider
    options: BedrockOptions = fake.bedrock
    endpoint, model, stream = route_of(req)
    identity, problem = authenticate(req, options, time.time())
    if problem is not None:
        handler._send_error(problem)
        return
    if not endpoint:
        handler._send_error(bedrock_error(404, "UnknownOperationException", "Unknown operation"))
        return
    reply = _take(handler, req, identity, model)
    if reply is None:
        return
    if endpoint != "chat":
        if reply.delay > 0:
            handler._step(Pause(reply.delay))
        handler._send_error(error(200, catalogue(endpoint, req, options)))
        return
    assert model is not None
    body = req.body
    problem = check_chat(body, model, options)
    if problem is not None:
        handler._reject(reply, problem)
        return
    assert isinstance(body, dict)
    ctx = context(fake, body, model, stream)
    plan = render_stream(reply, ctx) if stream else render_json(reply, ctx)
    handler._execute(plan)


def _take(handler: Any, req: RecordedRequest, identity: str | None, model: str | None) -> Reply | None:
    """Pop the next behaviour for (path, identity[, model]) (chat also the shared chat queues) and carry out the
    parts that need no valid body, as the fake does for the other services; None when already answered."""
    paths: list[str | None] = [req.path, None] if model is not None else [req.path]
    keys: list[tuple[Any, ...]] = [(p, identity, model) for p in paths] if model else []
    keys += [(p, identity) for p in paths]
    behaviour = handler.provider._next_behaviour(keys)
    if behaviour is None:
        return Reply()
    if isinstance(behaviour, ErrorResponse):
        handler._send_error(behaviour)
        return None
    if isinstance(behaviour, Hang):
        handler._step(Stall(behaviour.seconds))
        return None
    if isinstance(behaviour, DropConnection):
        handler._budget = max(0, behaviour.after_bytes)
        handler._reset = behaviour.reset
        return behaviour.reply
    return behaviour


def check_chat(body: Any, model: str, options: BedrockOptions) -> ErrorResponse | None:
    """Converse's own validation, in the order the fake applies it (see the module docstring)."""
    if not isinstance(body, dict):
        return br_validation("Malformed input request, please reformat your input and try again.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return br_validation("The model returned the following errors: messages: at least one message is required")
    previous = None
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if i == 0 and role != "user":
            return br_validation(
                "A conversation must start with a user message. Try again with a conversation that starts with a "
                "user message."
            )
        if role == previous:
            return br_validation(
                "A conversation must alternate between user and assistant roles. Make sure the conversation "
                "alternates between user and assistant roles and try again."
            )
        previous = role
        for j, block in enumerate(message.get("content") or ()):
            text = block.get("text") if isinstance(block, dict) else None
            if isinstance(text, str) and not text.strip():
                return br_validation(
                    f"The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to "
                    "the text field, and try again."
                )
    if options.resolve(model) is None:
        return br_invalid_model()
    return None


def context(fake: FakeProvider, body: dict[str, Any], model: str, stream: bool) -> ChatContext:
    config = body.get("inferenceConfig") if isinstance(body.get("inferenceConfig"), dict) else {}
    max_tokens = config.get("maxTokens")
    system = body.get("system") if isinstance(body.get("system"), list) else []
    created = int(time.time())
    return ChatContext(
        wire="bedrock",  # type: ignore[arg-type]
        stream=stream,
        model=model,
        max_tokens=max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None,
        prompt_tokens=count_prompt_words(body["messages"]) + count_prompt_words([{"content": system}]),
        default_text=fake.default_text,
        tokens_per_chunk=fake.tokens_per_chunk,
        default_cost=0.0,
        provider_name=fake.provider_name,
        generation_id=fake._random_uuid(),
        created=created,
    )


def catalogue(endpoint: str, req: RecordedRequest, options: BedrockOptions) -> dict[str, Any]:
    """The ListFoundationModels or ListInferenceProfiles document for the request's filters."""
    query = dict(_query_pairs(req.query))
    if endpoint == "models":
        rows = []
        for model in sorted(options.models):
            profile_only = model.startswith(("anthropic.claude-sonnet-4", "anthropic.claude-opus-4"))
            row = {
                "modelArn": f"arn:aws:bedrock:{options.region}::foundation-model/{model}",
                "modelId": model,
                "modelName": model.split(".", 1)[-1].rsplit("-v", 1)[0].replace("-", " ").title(),
                "providerName": model.split(".", 1)[0].title(),
                "inputModalities": ["TEXT"],
                "outputModalities": ["TEXT"],
                "responseStreamingSupported": True,
                "customizationsSupported": [],
                "inferenceTypesSupported": ["INFERENCE_PROFILE"] if profile_only else ["ON_DEMAND"],
                "modelLifecycle": {"status": "ACTIVE"},
            }
            if query.get("byInferenceType") and query["byInferenceType"] not in row["inferenceTypesSupported"]:
                continue
            if query.get("byOutputModality") and query["byOutputModality"] not in row["outputModalities"]:
                continue
            if query.get("byProvider") and query["byProvider"].lower() != row["providerName"].lower():
                continue
            rows.append(row)
        return {"modelSummaries": rows}
    profiles = sorted(options.profiles.items())
    if query.get("type", "SYSTEM_DEFINED") != "SYSTEM_DEFINED":
        profiles = []
    size = int(query["maxResults"]) if query.get("maxResults", "").isdigit() else 1000
    start = int(query["nextToken"]) if query.get("nextToken", "").isdigit() else 0
    page = profiles[start : start + max(1, size)]
    document: dict[str, Any] = {
        "inferenceProfileSummaries": [
            {
                "inferenceProfileName": f"US {model}",
                "description": f"Routes requests to {model} in us-east-1, us-east-2 and us-west-2.",
                "inferenceProfileArn": f"arn:aws:bedrock:{options.region}:123456789012:inference-profile/{profile}",
                "models": [
                    {"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model}"}
                    for region in ("us-east-1", "us-east-2", "us-west-2")
                ],
                "inferenceProfileId": profile,
                "status": "ACTIVE",
                "type": "SYSTEM_DEFINED",
            }
            for profile, model in page
        ]
    }
    if start + len(page) < len(profiles):
        document["nextToken"] = str(start + len(page))
    return document
