"""AWS Bedrock through its native runtime API: Converse and ConverseStream, signed with SigV4 or sent with an API key.

See ``reference/providers-next.md`` §6. Chat is ``POST {base}/model/{modelId}/converse`` (one JSON body) or
``/converse-stream`` (binary ``application/vnd.amazon.eventstream`` frames, read by :mod:`.eventstream`); the
base is ``https://bedrock-runtime.{region}.amazonaws.com`` unless configured otherwise. The catalogue and the key
check use the control plane, ``https://bedrock.{region}.amazonaws.com`` (``GET /foundation-models``,
``GET /inference-profiles``); behind a configured runtime endpoint (a proxy, the test fake) the same base serves
both unless ``control_url`` says otherwise.

Two kinds of credentials, told apart by the key slot:

- **SigV4** (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``): the slot's ``account`` is
  the access key id, ``key.secret`` the secret access key, ``key.token`` the session token (or empty). Every request
  is signed (:func:`sign`) with the adapter's region and the signing name ``bedrock``, whatever the host.
- **Bedrock API key** (``AWS_BEARER_TOKEN_BEDROCK``): a slot without an ``account``; ``Authorization: Bearer``.

SigV4 is written here (about 60 lines of ``hmac``/``hashlib``) rather than taken from a library: the one that would
beat it, ``aws-sdk-signers``, needs Python 3.12 and llmroute supports 3.11; ``botocore`` is 21 MB with three
dependencies and costs ~40 ms to import at the first signed request; ``httpx-auth`` pins ``httpx==0.28.*`` and signs
a ``:`` in a model id wrongly. The signer is checked against botocore's, byte for byte, in the tests. The known
pitfall is handled: a model id's ``:`` is sent as ``%3A`` and signed as ``%253A`` (the canonical URI encodes the
already-encoded path once more, as every AWS service but S3 expects).

Errors name their type in the ``x-amzn-ErrorType`` header or the body's ``__type``, and their text in ``message``
(or ``Message``); inside a stream, in the ``:exception-type`` header of an ``exception`` frame. Bedrock sends no
rate-limit headers and no ``Retry-After``: throttles take the failure table's default cooldown. Cost is not
reported; the gate prices answers from the catalogue.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from llmroute.errors import Cause, ConfigError, ErrorKind, ProviderError
from llmroute.providers.base import ERROR_BODY_LIMIT, HttpChatAdapter, body_bytes, parsed_url
from llmroute.providers.classify import (
    as_dict,
    as_int,
    body_excerpt,
    clean,
    context_exceeded,
    header,
    kind_for_status,
    load_json,
    transport_error,
    valid_unicode,
)
from llmroute.providers.framing import TextRepair, json_object
from llmroute.providers.options import require_options, stop_sequences
from llmroute.providers.resets import retry_hint
from llmroute.types import KeyInfo, ModelInfo, ReasoningDelta, StreamEnd, StreamEvent, TextDelta, Usage

if TYPE_CHECKING:
    import httpx

    from llmroute.keys import KeySlot
    from llmroute.providers.eventstream import Message
    from llmroute.providers.http import ClientPool
    from llmroute.types import Candidate, ChatRequest

DEFAULT_REGION = "us-east-1"
SIGNING_NAME = "bedrock"
"""The SigV4 service name of both the runtime and the control plane."""
ALGORITHM = "AWS4-HMAC-SHA256"
EVENT_STREAM = "application/vnd.amazon.eventstream"
# The regular expressions below are kept as text and compiled on first use (``re`` caches them): compiling them
# all at import would cost more than a millisecond of every start, Bedrock configured or not.
#: A region goes into host names and the credential scope: lower-case letters, digits and dashes only.
_REGION = r"[a-z]{2}(?:-[a-z0-9]+)+"
#: The public runtime host, whose control plane is the same host without ``-runtime``.
_RUNTIME_HOST = r"(https?://)bedrock-runtime((?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?(?::\d+)?)"
#: Text-output models (the catalogue asks only for these).
_TEXT = "TEXT"
#: Pages of inference profiles read at most, and profiles asked per page.
_PROFILE_PAGES = 10
_PROFILE_PAGE_SIZE = 1000
_FOUNDATION_ARN = r"arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:foundation-model/(.+)"

#: Converse ``stopReason`` -> the finish reason callers know from the other wires.
STOP_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def runtime_url(region: str) -> str:
    """The public runtime endpoint of ``region``: ``https://bedrock-runtime.{region}.amazonaws.com``."""
    return f"https://bedrock-runtime.{region}.amazonaws.com"


def control_plane_url(base_url: str) -> str:
    """Where the catalogue lives: the public runtime host's ``bedrock.`` twin, else ``base_url`` itself."""
    base = base_url.rstrip("/")
    match = re.fullmatch(_RUNTIME_HOST, base)
    return f"{match.group(1)}bedrock{match.group(2)}" if match else base


# --------------------------------------------------------------------------- SigV4


class AwsCredentials:
    """What SigV4 signs with; only the access key id shows in ``repr``, and only its ends."""

    __slots__ = ("access_key_id", "secret_access_key", "session_token")

    def __init__(self, access_key_id: str, secret_access_key: str, session_token: str = "") -> None:
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.session_token = session_token

    def __repr__(self) -> str:
        return f"AwsCredentials({mask_access_key_id(self.access_key_id)})"


def mask_access_key_id(access_key_id: str) -> str:
    """``AKIA…MPLE``: the type prefix (``AKIA`` long-term, ``ASIA`` session) and the last four characters."""
    return f"{access_key_id[:4]}…{access_key_id[-4:]}" if len(access_key_id) >= 16 else "…"


def amz_date(now: float) -> str:
    """``X-Amz-Date``: ``20261103T174500Z``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def uri_encode(text: str) -> str:
    """AWS's URI encoding: everything but the unreserved characters ``A-Z a-z 0-9 - _ . ~``, as UTF-8 ``%XX``."""
    return quote(text, safe="-_.~")


def canonical_uri(raw_path: str) -> str:
    """The path as it is sent (already percent-encoded), dot segments removed, then URI-encoded once more.

    Every AWS service but S3 signs the path encoded twice: a model id's ``:`` travels as ``%3A`` and is
    signed as ``%253A``.
    """
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    path = "/" + "/".join(segments)
    if raw_path.endswith("/") and segments:
        path += "/"
    return quote(path, safe="/~")


def canonical_query(raw_query: str) -> str:
    """Each ``key=value`` decoded, URI-encoded again, sorted by key then value, joined with ``&``."""
    pairs = []
    for part in raw_query.split("&") if raw_query else ():
        if part:
            key, _, value = part.partition("=")
            pairs.append((uri_encode(unquote(key)), uri_encode(unquote(value))))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def canonical_request(
    method: str, raw_path: str, raw_query: str, headers: Mapping[str, str], signed: Sequence[str], payload_hash: str
) -> str:
    """The canonical request of SigV4 (``signed`` are lower-case header names, sorted)."""
    lines = [f"{name}:{' '.join(str(headers[name]).split())}" for name in signed]
    head = (method.upper(), canonical_uri(raw_path), canonical_query(raw_query))
    return "\n".join((*head, *lines, "", ";".join(signed), payload_hash))


def signing_key(secret_access_key: str, day: str, region: str, service: str) -> bytes:
    import hmac

    key = f"AWS4{secret_access_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature_headers(
    credentials: AwsCredentials,
    region: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    service: str = SIGNING_NAME,
) -> dict[str, str]:
    """The headers that sign a request: ``X-Amz-Date``, ``X-Amz-Security-Token`` (session credentials) and
    ``Authorization``.

    ``headers`` (lower-case names) must hold ``host`` as it is sent; ``host``, ``content-type`` and every
    ``x-amz-*`` header are signed.
    """
    stamp = amz_date(now)
    added = {"x-amz-date": stamp}
    if credentials.session_token:
        added["x-amz-security-token"] = credentials.session_token
    everything = {name.lower(): value for name, value in headers.items()} | added
    signed = sorted(n for n in everything if n in ("host", "content-type") or n.startswith("x-amz-"))
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical = canonical_request(method, raw_path, raw_query, everything, signed, payload_hash)
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join((ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()))
    import hmac

    key = signing_key(credentials.secret_access_key, stamp[:8], region, service)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    signing = {"X-Amz-Date": stamp}
    if credentials.session_token:
        signing["X-Amz-Security-Token"] = credentials.session_token
    signing["Authorization"] = authorization
    return signing


def sign(request: httpx.Request, credentials: AwsCredentials, region: str, now: float) -> None:
    """Sign an httpx request in place, over exactly the path, query, headers and body bytes it will send."""
    raw_path, _, raw_query = request.url.raw_path.decode("ascii").partition("?")
    headers = {name.lower(): value for name, value in request.headers.items()}
    request.headers.update(
        signature_headers(credentials, region, request.method, raw_path, raw_query, headers, request.content, now)
    )


# --------------------------------------------------------------------------- errors

_KIND = tuple[ErrorKind, Cause | None]
_DEAD: _KIND = (ErrorKind.AUTH, None)
#: Error types (lower-case, as the ``x-amzn-ErrorType`` header, ``__type`` or a stream's ``:exception-type``
#: name them) -> kind and cause.
ERROR_TYPES: dict[str, _KIND] = {
    "throttlingexception": (ErrorKind.RATE_LIMITED, None),
    "toomanyrequestsexception": (ErrorKind.RATE_LIMITED, None),
    "servicequotaexceededexception": (ErrorKind.QUOTA, None),
    "serviceunavailableexception": (ErrorKind.OVERLOADED, None),
    # "Not ready to serve inference requests" (a model being loaded): the SDK retries it for seconds, so
    # retrying once within a second rarely helps; another candidate answers sooner.
    "modelnotreadyexception": (ErrorKind.OVERLOADED, None),
    "modeltimeoutexception": (ErrorKind.TIMEOUT, None),
    "modelerrorexception": (ErrorKind.SERVER, None),
    "modelstreamerrorexception": (ErrorKind.SERVER, None),
    "internalserverexception": (ErrorKind.SERVER, None),
    "internalfailure": (ErrorKind.SERVER, None),
    # The credential works; this account (or its IAM policy) may not use this model.
    "accessdeniedexception": (ErrorKind.AUTH, Cause.MODEL_ACCESS),
    # The credential itself is refused: unknown, expired, or the signature does not verify.
    "unrecognizedclientexception": _DEAD,
    "invalidsignatureexception": _DEAD,
    "incompletesignatureexception": _DEAD,
    "missingauthenticationtokenexception": _DEAD,
    "expiredtokenexception": _DEAD,
    "invalidclienttokenid": _DEAD,
    "signaturedoesnotmatch": _DEAD,
    "resourcenotfoundexception": (ErrorKind.MODEL_NOT_FOUND, None),
    "validationexception": (ErrorKind.BAD_REQUEST, None),
    "serializationexception": (ErrorKind.BAD_REQUEST, None),
}
#: Texts that mean the credential is dead, whatever type the error carries ("Authentication failed: Please make
#: sure your API Key is valid." and "Invalid API Key format" come with a bare 403 [obs]).
_DEAD_TEXTS = (
    r"security token included in the request is (?:invalid|expired)|signature we calculated does not match|"
    r"signature expired|authentication failed|api key is valid|invalid api key|bearer token (?:is )?(?:invalid|"
    r"has expired|expired)|missing authentication token|request must contain either a valid"
)
#: A validation error about the model id, not the request: another provider may well serve the model.
_MODEL_TEXTS = (
    r"model identifier is invalid|with on-demand throughput isn.t supported|at 'modelId' failed to satisfy|"
    r"end of its life"
)
#: A model the provider retired for accounts that did not use it lately: other accounts may still use it.
_LEGACY_TEXT = r"marked by provider as legacy"
#: The account's daily token quota, not a per-minute limit ("Too many tokens per day, please wait ...") [obs].
_PER_DAY = r"\bper day\b"
#: The HTTP status each modelled exception is documented with, for an exception frame inside a stream.
STREAM_STATUSES = {
    "throttlingexception": 429,
    "validationexception": 400,
    "internalserverexception": 500,
    "serviceunavailableexception": 503,
    "modelstreamerrorexception": 424,
}


def error_type(headers: Mapping[str, Any] | None, data: object) -> str:
    """The error's type name: ``x-amzn-ErrorType`` (``ThrottlingException:http://internal...``), else the body's
    ``__type`` (``com.amazon.coral.service#UnrecognizedClientException``) or ``code``; empty when none says."""
    raw = header(headers, "x-amzn-errortype") or ""
    if not raw and isinstance(data, dict):
        value = data.get("__type") or data.get("code") or data.get("Code")
        raw = value if isinstance(value, str) else ""
    return raw.split(":", 1)[0].rsplit("#", 1)[-1].strip()


def error_message(data: object) -> str:
    """The body's ``message`` (``Message`` in some services' errors)."""
    if not isinstance(data, dict):
        return ""
    for name in ("message", "Message", "errorMessage"):
        value = data.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def classify_error(
    status: int,
    type_name: str,
    message: str,
    secrets: Iterable[str],
    *,
    headers: Mapping[str, Any] | None = None,
    now: float | None = None,
    provider: str | None = None,
) -> ProviderError:
    """One Bedrock error as a classified failure; ``status`` 200 means it came inside a stream.

    The type decides; its text refines it: a dead credential whatever the type, a model id the service
    does not know (a validation error), a legacy model (per account), a daily token quota (a throttle).
    """
    key = type_name.lower()
    kind, cause = ERROR_TYPES.get(key) or (kind_for_status(status) if status >= 400 else ErrorKind.SERVER, None)
    if re.search(_DEAD_TEXTS, message, re.IGNORECASE):
        kind, cause = _DEAD
    elif key == "validationexception" and re.search(_MODEL_TEXTS, message, re.IGNORECASE):
        kind, cause = ErrorKind.MODEL_NOT_FOUND, None
    elif re.search(_LEGACY_TEXT, message, re.IGNORECASE):
        kind, cause = ErrorKind.AUTH, Cause.MODEL_ACCESS
    elif kind is ErrorKind.RATE_LIMITED and re.search(_PER_DAY, message, re.IGNORECASE):
        kind = ErrorKind.QUOTA
    elif context_exceeded(kind, message):
        cause = Cause.CONTEXT_LENGTH
    shown = type_name[:1].upper() + type_name[1:] if type_name else ""
    text = f"{shown}: {message}" if shown and message else (shown or message)
    retry_at = retry_hint(headers, time.time() if now is None else now) if headers else None
    return ProviderError(
        kind,
        clean(text, secrets) or f"HTTP {status}",
        status=status,
        retry_at=retry_at,
        provider=provider,
        cause=cause,
    )


# --------------------------------------------------------------------------- the adapter


class BedrockAdapter(HttpChatAdapter):
    """Bedrock's runtime in one region; ``base_url`` is ``https://bedrock-runtime.{region}.amazonaws.com`` or an
    endpoint that stands in for it (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``)."""

    protocol = "bedrock"

    def __init__(
        self,
        name: str,
        base_url: str,
        clients: ClientPool,
        *,
        local: bool = False,
        headers: Iterable[tuple[str, str]] = (),
        region: str = DEFAULT_REGION,
        control_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not re.fullmatch(_REGION, region):
            raise ConfigError(f"{name}: {region!r} is not an AWS region (such as us-east-1)")
        super().__init__(name, base_url or runtime_url(region), clients, local=local, headers=headers)
        self.region = region
        #: Where ``ListFoundationModels`` goes (``AWS_ENDPOINT_URL_BEDROCK``); derived from the runtime URL by default.
        self.control_url = (control_url or control_plane_url(self.base_url)).rstrip("/")
        self._clock = clock

    # --- the request ---------------------------------------------------------------------------------------

    def model_url(self, model: str, stream: bool) -> str:
        """``{base}/model/{modelId}/converse[-stream]``, the id percent-encoded whole (``:`` -> ``%3A``, an
        ARN's ``/`` -> ``%2F``) as the AWS SDKs send it."""
        if not model or model in (".", ".."):
            raise ProviderError(ErrorKind.MODEL_NOT_FOUND, f"{model!r} is not a Bedrock model id", provider=self.name)
        operation = "converse-stream" if stream else "converse"
        return f"{self.base_url}/model/{quote(model, safe='')}/{operation}"

    def chat_url(self, candidate: Candidate) -> str:
        return self.model_url(candidate.model, stream=False)

    def request_body(self, candidate: Candidate, request: ChatRequest) -> dict[str, Any]:
        """The Converse body: ``system`` blocks, ``messages`` of text blocks (turns of one role merged, as
        Converse wants roles to alternate; empty texts left out, as it refuses blank blocks), ``inferenceConfig``
        (``maxTokens``, ``temperature``, ``topP``, ``stopSequences``: the same for every model family). Converse
        has no seed, so a request with one is refused (:func:`~llmroute.providers.options.check_options`)."""
        require_options(self.protocol, request, self.name)
        system = [{"text": m.content} for m in request.messages if m.role == "system" and m.content]
        messages: list[dict[str, Any]] = []
        for message in request.messages:
            if message.role == "system" or not message.content:
                continue
            role = "assistant" if message.role == "assistant" else "user"
            if messages and messages[-1]["role"] == role:
                messages[-1]["content"].append({"text": message.content})
            else:
                messages.append({"role": role, "content": [{"text": message.content}]})
        body: dict[str, Any] = {"messages": messages}
        if system:
            body["system"] = system
        config: dict[str, Any] = {}
        if request.max_tokens is not None:
            config["maxTokens"] = request.max_tokens
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.top_p is not None:
            config["topP"] = request.top_p
        if stop := stop_sequences(request):
            config["stopSequences"] = stop
        if config:
            body["inferenceConfig"] = config
        return body

    def request_headers(self, candidate: Candidate, request: ChatRequest) -> dict[str, str]:
        headers = {**self.extra_headers, "Content-Type": "application/json"}
        if request.stream:
            headers["Accept"] = EVENT_STREAM
        return headers

    def slot_secrets(self, slot: KeySlot) -> tuple[str, ...]:
        """What to redact: the key's secrets, configured header values, and the access key id (not a secret,
        but never shown whole)."""
        return self.secrets(slot.key) + ((slot.account,) if slot.account else ())

    def authorise(self, request: httpx.Request, slot: KeySlot) -> None:
        """Sign ``request`` (SigV4, a slot with an access key id) or give it the API key (``Bearer``)."""
        key = slot.key
        if key is None:
            return
        if slot.account:
            credentials = AwsCredentials(slot.account, key.secret, key.token)
            sign(request, credentials, self.region, self._clock())
        else:
            request.headers["Authorization"] = f"Bearer {key.secret}"

    def request_url(self, candidate: Candidate, request: ChatRequest) -> str:
        return self.model_url(candidate.model, request.stream)

    def request_secrets(self, candidate: Candidate) -> tuple[str, ...]:
        return self.slot_secrets(candidate.slot)

    def build_request(
        self, client: httpx.AsyncClient, candidate: Candidate, request: ChatRequest, timeout: httpx.Timeout
    ) -> httpx.Request:
        """The body is serialised here and the exact bytes are signed."""
        outgoing = client.build_request(
            "POST",
            parsed_url(self.request_url(candidate, request)),
            content=encode_json(self.request_body(candidate, request)),
            headers=self.request_headers(candidate, request),
            timeout=timeout,
        )
        self.authorise(outgoing, candidate.slot)
        return outgoing

    # --- the answer ----------------------------------------------------------------------------------------

    def http_error(self, response: httpx.Response, body: bytes, secrets: tuple[str, ...]) -> ProviderError:
        data = load_json(body)
        type_name = error_type(response.headers, data)
        message = error_message(data)
        if not message and not type_name:
            message = body_excerpt(response.status_code, body, secrets)
        return classify_error(
            response.status_code, type_name, message, secrets, headers=response.headers, provider=self.name
        )

    def read_body(
        self, response: httpx.Response, body: bytes, candidate: Candidate, secrets: tuple[str, ...]
    ) -> list[StreamEvent]:
        data = load_json(body)
        content = as_dict(as_dict(data).get("output")).get("message")
        blocks = as_dict(content).get("content")
        if not isinstance(data, dict) or not isinstance(blocks, list):
            excerpt = body_excerpt(response.status_code, body, secrets)
            raise ProviderError(
                ErrorKind.BAD_RESPONSE,
                f"response has no output message ({excerpt})",
                status=response.status_code,
                provider=self.name,
            )
        reasoning = "".join(reasoning_text(as_dict(block.get("reasoningContent"))) for block in map(as_dict, blocks))
        text = "".join(t for block in map(as_dict, blocks) if isinstance(t := block.get("text"), str))
        events: list[StreamEvent] = []
        if reasoning:
            events.append(ReasoningDelta(valid_unicode(reasoning)))
        if text:
            events.append(TextDelta(valid_unicode(text)))
        events.append(StreamEnd(candidate.model, usage_of(data.get("usage")), finish_reason(data.get("stopReason"))))
        return events

    async def read_stream(
        self, response: httpx.Response, candidate: Candidate, secrets: tuple[str, ...]
    ) -> AsyncIterator[StreamEvent]:
        from llmroute.providers.eventstream import EventStreamDecoder, FrameError

        decoder = EventStreamDecoder()
        repair, thoughts = TextRepair(), TextRepair()
        usage, finish, stopped = Usage(), None, False
        async for chunk in body_bytes(response):
            try:
                frames = decoder.feed(chunk)
            except FrameError as exc:
                raise self._bad_stream(exc) from None
            for frame in frames:
                kind = frame.header(":message-type")
                if kind in ("exception", "error"):
                    raise self.stream_error(frame, secrets)
                if kind != "event":
                    continue
                event = frame.header(":event-type")
                if event not in ("contentBlockDelta", "messageStop", "metadata"):
                    continue  # messageStart, contentBlockStart/Stop, and whatever comes next: nothing to pass on
                payload = json_object(frame.payload.decode("utf-8", errors="replace"), self.name)
                if event == "contentBlockDelta":
                    delta = as_dict(payload.get("delta"))
                    if thought := thoughts.feed(reasoning_text(as_dict(delta.get("reasoningContent")))):
                        yield ReasoningDelta(thought)
                    text = delta.get("text")
                    if isinstance(text, str) and (text := repair.feed(text)):
                        yield TextDelta(text)
                elif event == "messageStop":
                    finish, stopped = finish_reason(payload.get("stopReason")), True
                else:
                    usage = usage_of(payload.get("usage"))
        try:
            decoder.close()
        except FrameError as exc:
            raise self._bad_stream(exc) from None
        if tail := thoughts.flush():
            yield ReasoningDelta(tail)
        if tail := repair.flush():
            yield TextDelta(tail)
        if not stopped:
            raise ProviderError(
                ErrorKind.BAD_RESPONSE, "stream ended before messageStop", status=200, provider=self.name
            )
        yield StreamEnd(candidate.model, usage, finish)

    def _bad_stream(self, exc: Exception) -> ProviderError:
        return ProviderError(ErrorKind.BAD_RESPONSE, f"malformed event stream: {exc}", status=200, provider=self.name)

    def stream_error(self, frame: Message, secrets: tuple[str, ...]) -> ProviderError:
        """An ``exception`` frame (``:exception-type``, payload ``{"message"}``) or an unmodelled ``error`` frame
        (``:error-code``, ``:error-message``) as a classified failure."""
        if frame.header(":message-type") == "exception":
            type_name = frame.header(":exception-type") or ""
            message = error_message(load_json(frame.payload))
        else:
            type_name = frame.header(":error-code") or ""
            message = frame.header(":error-message") or ""
        return classify_error(200, type_name, message or "error inside the stream", secrets, provider=self.name)

    # --- the catalogue and the key check -------------------------------------------------------------------

    async def list_models(self, slot: KeySlot, *, timeout: float) -> list[ModelInfo]:
        """The text models: ``GET /foundation-models?byOutputModality=TEXT`` (those invocable on demand), then the
        system-defined inference profiles of those models (``GET /inference-profiles``; ``us.``, ``eu.``,
        ``global.`` ids, the only way to call many newer models). A credential refused the profiles
        (``AccessDenied``) still gets the foundation models."""
        data = await self.get_json(f"{self.control_url}/foundation-models", slot, timeout, {"byOutputModality": _TEXT})
        rows = data.get("modelSummaries")
        if not isinstance(rows, list):
            raise ProviderError(ErrorKind.BAD_RESPONSE, "the model list has no modelSummaries", provider=self.name)
        text_models: set[str] = set()
        models: list[ModelInfo] = []
        for row in map(as_dict, rows):
            model = row.get("modelId")
            if not isinstance(model, str) or not model.strip():
                continue
            text_models.add(model)
            inference = row.get("inferenceTypesSupported")
            if isinstance(inference, list) and "ON_DEMAND" not in inference:
                continue
            name = row.get("modelName")
            models.append(ModelInfo(self.name, model.strip(), name=name if isinstance(name, str) else None))
        try:
            models += await self._profiles(slot, timeout, text_models)
        except ProviderError as exc:
            if exc.cause is not Cause.MODEL_ACCESS:
                raise
        return models

    async def _profiles(self, slot: KeySlot, timeout: float, text_models: set[str]) -> list[ModelInfo]:
        profiles: list[ModelInfo] = []
        token: str | None = None
        for _ in range(_PROFILE_PAGES):
            params = {"type": "SYSTEM_DEFINED", "maxResults": str(_PROFILE_PAGE_SIZE)}
            if token:
                params["nextToken"] = token
            data = await self.get_json(f"{self.control_url}/inference-profiles", slot, timeout, params)
            rows = data.get("inferenceProfileSummaries")
            for row in map(as_dict, rows if isinstance(rows, list) else ()):
                profile, name = row.get("inferenceProfileId"), row.get("inferenceProfileName")
                if not isinstance(profile, str) or not profile or row.get("status", "ACTIVE") != "ACTIVE":
                    continue
                underlying = {
                    match.group(1)
                    for m in row.get("models") or ()
                    if (match := re.fullmatch(_FOUNDATION_ARN, str(as_dict(m).get("modelArn", ""))))
                }
                if underlying and not underlying & text_models:
                    continue
                profiles.append(ModelInfo(self.name, profile, name=name if isinstance(name, str) else None))
            token = data.get("nextToken") if isinstance(data.get("nextToken"), str) else None
            if not token:
                break
        return profiles

    async def probe_key(self, slot: KeySlot, *, timeout: float) -> KeyInfo:
        """``GET /foundation-models?byOutputModality=TEXT`` on the control plane (ListFoundationModels: free, no
        model invoked).

        What it proves: AWS authenticated the credential in this region (a SigV4 signature by a known,
        unexpired access key, or a live API key). A 200 also proves the ``bedrock:ListFoundationModels``
        permission; an ``AccessDeniedException`` still proves the credential (AWS authenticates before it
        authorises) and is reported as a working key that may not list models.
        What it does not prove: access to any particular model. Only an inference call tells that
        (``AccessDeniedException`` on Converse, classified per model).
        """
        try:
            data = await self.get_json(
                f"{self.control_url}/foundation-models", slot, timeout, {"byOutputModality": _TEXT}
            )
        except ProviderError as exc:
            if exc.kind is ErrorKind.AUTH and exc.cause is Cause.MODEL_ACCESS:
                return KeyInfo(detail="credentials valid; not allowed to list models (bedrock:ListFoundationModels)")
            raise
        rows = data.get("modelSummaries")
        count = len(rows) if isinstance(rows, list) else 0
        return KeyInfo(detail=f"credentials valid in {self.region}; {count} text models listed")

    async def get_json(
        self, url: str, slot: KeySlot, timeout: float, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """A signed GET answered with a JSON object; anything else is a classified failure. The query is encoded
        here (AWS's way, ``%20`` for a space), so the bytes signed are the bytes sent."""
        import httpx

        secrets = self.slot_secrets(slot)
        if params:
            url += "?" + "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in params.items())
        client = self._clients.client(self.control_url)
        try:
            outgoing = client.build_request("GET", url, headers=self.extra_headers, timeout=httpx.Timeout(timeout))
            self.authorise(outgoing, slot)
            response = await client.send(outgoing)
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.name, secrets) from exc
        if not response.is_success:
            raise self.http_error(response, response.content[:ERROR_BODY_LIMIT], secrets)
        data = load_json(response.content)
        if not isinstance(data, dict):
            excerpt = body_excerpt(response.status_code, response.content, secrets)
            raise ProviderError(
                ErrorKind.BAD_RESPONSE, f"response is not a JSON object ({excerpt})", status=200, provider=self.name
            )
        return data


def encode_json(body: Mapping[str, Any]) -> bytes:
    """The request body's bytes, compact UTF-8 (a lone surrogate in the prompt becomes ``?`` rather than a crash)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def reasoning_text(block: Mapping[str, Any]) -> str:
    """A reasoning block's readable text: ``reasoningText.text`` in a body, ``text`` in a stream delta (never the
    ``signature`` or ``redactedContent``)."""
    text = block.get("text")
    if not isinstance(text, str):
        text = as_dict(block.get("reasoningText")).get("text")
    return text if isinstance(text, str) else ""


def usage_of(data: object) -> Usage:
    """Token counts; the prompt's cached tokens (read and written) count as input, as the other wires count them."""
    usage = as_dict(data)
    prompt = as_int(usage.get("inputTokens"))
    if prompt is not None:
        prompt += sum(as_int(usage.get(name)) or 0 for name in ("cacheReadInputTokens", "cacheWriteInputTokens"))
    return Usage(input_tokens=prompt, output_tokens=as_int(usage.get("outputTokens")))


def finish_reason(value: object) -> str | None:
    """``stopReason`` in the common words (``end_turn`` -> ``stop``, ``max_tokens`` -> ``length``); others as sent."""
    if not isinstance(value, str) or not value:
        return None
    return STOP_REASONS.get(value, value)
