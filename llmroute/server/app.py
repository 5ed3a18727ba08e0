"""The aiohttp application of ``llmroute serve``: the fronts' routes behind one guard.

:func:`build_app` makes the application and lets each front add its routes. Every request passes one
middleware, which

- refuses without the gateway token when one is set (every route but ``GET /health``, the liveness probe), before
  anything else runs: a refused request never reaches a provider;
- turns every failure into the error shape of the API the request was made to (a front registers how it renders
  a :class:`~llmroute.server.gateway.Failure` for its paths with :func:`register_errors`; the OpenAI shape
  otherwise): unknown routes (a JSON 404), wrong methods, bodies over the size limit (413), bodies too slow to
  arrive (408), and bugs (500, one line on stderr, never a traceback or a key);
- counts the request as in flight, so that a graceful shutdown knows what to wait for;
- with ``-v``, logs one line per request: method, path (without its query), status, time, and the provider, key
  label and attempts where a front named them in its response headers.

aiohttp is imported only inside ``llmroute/server``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from llmroute.config import Settings
from llmroute.server.gateway import Failure, Gateway, RouteTrace, failure_of
from llmroute.types import ChatResult, Privacy

log = logging.getLogger("llmroute")

#: Largest request body accepted (aiohttp's ``client_max_size``): a long conversation fits many times over.
MAX_BODY = 32 * 1024 * 1024
#: Seconds a client may take to send a request body once its headers arrived.
BODY_TIMEOUT = 60.0

Front = Callable[[web.Application, Gateway], None]
"""Adds one API's routes (and its error renderer) to the application."""
Render = Callable[[web.Request, Failure, Mapping[str, str]], web.StreamResponse]
"""Renders a failure in one API's error shape, with extra headers (``Retry-After``, ``X-Llmroute-*``)."""

GATEWAY = web.AppKey("llmroute_gateway", Gateway)
RENDERERS = web.AppKey("llmroute_error_renderers", list)
"""``(path prefix, render)`` pairs; the longest prefix matching a request's path renders its failures."""
IN_FLIGHT = web.AppKey("llmroute_in_flight", set)
"""The tasks of the requests being handled (what a graceful shutdown waits for)."""
BODY_TIMEOUT_KEY = web.AppKey("llmroute_body_timeout", float)

#: Paths anyone may read with a gateway token set: liveness only (``/health/providers`` needs the token).
PUBLIC = frozenset({"/health"})

#: Error ``type`` by status, as OpenAI names them (clients act on the status; people read the type).
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


class Refused(Exception):
    """Raised by a handler to answer with a failure (rendered in its API's error shape)."""

    def __init__(self, failure: Failure, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.headers = dict(headers or {})


def bad_request(message: str, code: str = "bad_request") -> Refused:
    return Refused(Failure(400, code, message))


def error_type(status: int) -> str:
    return _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def openai_error(request: web.Request, failure: Failure, headers: Mapping[str, str]) -> web.StreamResponse:
    """``{"error": {"message", "type", "code", "param"}}``: what the OpenAI client libraries read."""
    body = {"error": {"message": failure.message, "type": error_type(failure.status), "code": failure.code}}
    body["error"]["param"] = None
    return json_response(body, status=failure.status, headers=failure_headers(failure, headers))


def failure_headers(failure: Failure, headers: Mapping[str, str]) -> dict[str, str]:
    out = dict(headers)
    if failure.retry_after is not None:
        out["Retry-After"] = str(failure.retry_after)
    return out


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON; text that is not valid Unicode (a lone surrogate, as a provider may split an emoji
    across two chunks) is passed on as the JSON escape it arrived as."""
    try:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(document, separators=(",", ":")).encode("ascii")


def json_response(document: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(document), status=status, content_type="application/json", headers=headers)


def header_value(text: object) -> str:
    """A safe header value: printable ASCII only (labels and provider names are; this is belt and braces)."""
    value = str(text)
    if value.isascii() and value.isprintable():
        return value
    return "".join(c if " " <= c <= "~" else "?" for c in value)


def routing_of(headers: Mapping[str, str], settings: Settings) -> dict[str, Any]:
    """What a client's headers ask of routing, for every front: ``X-Provider`` (a preferred provider, which must
    be configured) and ``X-Llmroute-Privacy`` (which can raise privacy to ``critical``, never lower a configured
    ``critical``). Returns ``ChatRequest`` fields."""
    routing: dict[str, Any] = {}
    provider = headers.get("X-Provider", "").strip()
    if provider:
        if settings.provider(provider) is None:
            known = ", ".join(p.name for p in settings.providers)
            raise bad_request(f"X-Provider: unknown provider {provider!r} (known: {known})", "unknown_provider")
        routing["provider"] = provider
    asked = headers.get("X-Llmroute-Privacy", "").strip().lower()
    if asked and asked not in (Privacy.NORMAL, Privacy.CRITICAL):
        raise bad_request(f"X-Llmroute-Privacy must be 'normal' or 'critical', not {asked!r}")
    critical = Privacy.CRITICAL in (asked, settings.privacy)
    routing["privacy"] = Privacy.CRITICAL if critical else Privacy.NORMAL
    return routing


def route_headers(
    attempts: int, request_id: str | None, provider: str | None = None, key_label: str | None = None
) -> dict[str, str]:
    """``X-Llmroute-*``: who answers (labels, never a key), the attempts made, and the ledger's request id."""
    headers = {}
    if provider is not None and key_label is not None:
        headers = {"X-Llmroute-Provider": header_value(provider), "X-Llmroute-Key": header_value(key_label)}
    headers["X-Llmroute-Attempts"] = str(attempts)
    if request_id:
        headers["X-Llmroute-Request-Id"] = header_value(request_id)
    return headers


def result_headers(result: ChatResult) -> dict[str, str]:
    return route_headers(len(result.attempts), result.request_id, result.provider, result.key_label)


def trace_headers(trace: RouteTrace) -> dict[str, str]:
    """The head of a streamed answer sent with its first token: the candidate answering and the attempt it is;
    none when the router keeps no trace (a plain ``Router``)."""
    candidate = trace.candidate
    if candidate is None:
        return {}
    return route_headers(trace.attempt_number, trace.request_id, candidate.provider, candidate.key_label)


def register_errors(app: web.Application, prefix: str, render: Render) -> None:
    """Failures of requests whose path starts with ``prefix`` are rendered by ``render``."""
    app[RENDERERS].append((prefix, render))


def render_failure(
    request: web.Request, failure: Failure, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """The failure in the error shape of the API ``request`` was made to."""
    matches = [(len(p), r) for p, r in request.app[RENDERERS] if request.path.startswith(p)]
    render = max(matches, key=lambda m: m[0])[1] if matches else openai_error
    return render(request, failure, headers or {})


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; a failure (``Refused``) when it is too large, too slow, not UTF-8 or not JSON.

    ``NaN`` and ``Infinity`` are refused (they are not JSON), and so is nesting too deep to parse.
    """
    limit = request.app[BODY_TIMEOUT_KEY]
    if request.content_length is not None and request.content_length > request.client_max_size:
        raise _too_large(request)
    try:
        async with asyncio.timeout(limit):
            raw = await request.read()
    except TimeoutError:
        raise Refused(
            Failure(408, "request_timeout", f"the request body did not arrive within {limit:g} seconds")
        ) from None
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(request) from None
    if not raw.strip():
        raise bad_request("the request body is empty: send a JSON object", "invalid_json")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_not_json)
    except UnicodeDecodeError:
        raise bad_request("the request body is not valid UTF-8", "invalid_json") from None
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise bad_request(f"the request body is not valid JSON{where}", "invalid_json") from None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not valid JSON")


def _too_large(request: web.Request) -> Refused:
    mib = request.client_max_size / (1024 * 1024)
    return Refused(Failure(413, "request_too_large", f"the request body is larger than the {mib:g} MiB limit"))


def build_app(
    gateway: Gateway,
    fronts: Sequence[Front],
    *,
    max_body: int = MAX_BODY,
    body_timeout: float = BODY_TIMEOUT,
) -> web.Application:
    """The application: the guard middleware, then each front's routes."""
    app = web.Application(middlewares=[_guard], client_max_size=max_body)
    app[GATEWAY] = gateway
    with warnings.catch_warnings():  # the fronts' handlers may read it by this plain name too
        warnings.simplefilter("ignore")
        app["gateway"] = gateway
    app[RENDERERS] = []
    app[IN_FLIGHT] = set()
    app[BODY_TIMEOUT_KEY] = body_timeout
    for front in fronts:
        front(app, gateway)
    return app


def _authorised(gateway: Gateway, request: web.Request) -> bool:
    if gateway.token is None or (request.method in ("GET", "HEAD") and request.path in PUBLIC):
        return True
    try:
        return gateway.authorised(request.headers.get("Authorization"))
    except (UnicodeError, ValueError):  # a header that is not text cannot hold the token
        return False


@web.middleware
async def _guard(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    started = time.monotonic()
    task = asyncio.current_task()
    in_flight = request.app[IN_FLIGHT]
    if task is not None:
        in_flight.add(task)
    response: web.StreamResponse | None = None
    try:
        if not _authorised(request.app[GATEWAY], request):
            failure = Failure(
                401, "invalid_api_key", "a valid gateway token is required: send Authorization: Bearer <token>"
            )
            response = render_failure(request, failure, {"WWW-Authenticate": 'Bearer realm="llmroute"'})
        else:
            response = await handler(request)
    except Refused as exc:
        response = render_failure(request, exc.failure, exc.headers)
    except web.HTTPException as exc:  # aiohttp's own: unknown route, wrong method, body too large
        response = _http_failure(request, exc)
    except ConnectionError:  # the client left mid-answer: nothing to answer, nothing wrong here
        raise
    except Exception as exc:  # a bug: one line on stderr (through the redacting output), a 500 to the client
        log.error("internal error serving %s %s: %s: %s", request.method, request.path, type(exc).__name__, exc)
        response = render_failure(request, failure_of(exc))
    finally:
        if task is not None:
            in_flight.discard(task)
        if log.isEnabledFor(logging.INFO):
            _log_request(request, response, started)
    return response


def _http_failure(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    status = exc.status
    if status == 413:
        return render_failure(request, _too_large(request).failure)
    if status == 404:
        message = f"no such route: {request.method} {request.path}"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.path}"
    else:
        message = exc.reason
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
    return render_failure(request, Failure(status, _HTTP_CODES.get(status, "http_error"), message), headers)


def _log_request(request: web.Request, response: web.StreamResponse | None, started: float) -> None:
    status = response.status if response is not None else 499  # ended before an answer (client gone, shutdown)
    headers = response.headers if response is not None else {}
    parts = [request.method, request.path, str(status), f"{(time.monotonic() - started) * 1000:.0f} ms"]
    provider, key = headers.get("X-Llmroute-Provider"), headers.get("X-Llmroute-Key")
    if provider:
        parts.append(f"{provider} {key}" if key else provider)
    attempts = headers.get("X-Llmroute-Attempts")
    if attempts:
        parts.append(f"{attempts} attempt{'s' * (attempts != '1')}")
    log.info("%s", " ".join(parts))
