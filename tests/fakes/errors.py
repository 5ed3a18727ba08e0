"""Ready-made provider error responses, byte-for-byte where the reference quotes a captured body.

OpenRouter bodies follow ref §1.7/§1.8 (``{"error":{...},"user_id":...}``); Ollama bodies are
``{"error":"<text>"}`` (ref §2.5/§2.7).  OpenAI (``oa_*``), Azure OpenAI (``az_*``) and Cloudflare
Workers AI (``cf_*``) follow providers-next.md §3, §5 and §2.  Every builder returns an
:class:`ErrorResponse` (``oa_stream_error`` a :class:`Reply`); use ``dataclasses.replace(resp, delay=...,
headers=...)`` to tweak one.

Where the reference elides part of a quoted body ("``...``"), the elided part is filled in from the full
captures cited there (e.g. the Azure content-filter body) and the docstring says so; messages the
reference quotes whole are kept exactly.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any, Literal

from .behaviours import ErrorResponse, Reply, compact_json, error

FAKE_USER_ID = "user_fake"
OLLAMA_JSON = "application/json; charset=utf-8"
"""gin's ``c.JSON`` content type, which is what the real Ollama sends."""


def _next_utc_midnight_ms(now: float | None = None) -> int:
    now = time.time() if now is None else now
    return (int(now) // 86400 + 1) * 86400 * 1000


def _next_minute_ms(now: float | None = None) -> int:
    now = time.time() if now is None else now
    return (int(now) // 60 + 1) * 60 * 1000


def http_date(when: float) -> str:
    """``when`` (epoch seconds) as an HTTP-date, the other form of ``Retry-After`` (RFC 9110 §10.2.3)."""
    return formatdate(when, usegmt=True)


# --------------------------------------------------------------------------- OpenRouter


def openrouter_error(
    status: int,
    message: str,
    metadata: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    user_id: str | None = FAKE_USER_ID,
    delay: float = 0.0,
) -> ErrorResponse:
    """``{"error":{"code":status,"message":...,"metadata":...},"user_id":"user_fake"}``.

    ``metadata=None`` leaves the key out (as real bodies without metadata do); ``user_id=None``
    leaves ``user_id`` out (as unauthenticated errors do).
    """
    err: dict[str, Any] = {"code": status, "message": message}
    if metadata is not None:
        err["metadata"] = dict(metadata)
    body: dict[str, Any] = {"error": err}
    if user_id is not None:
        body["user_id"] = user_id
    return error(status, body, headers=headers, delay=delay)


def _or_body(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> ErrorResponse:
    """An OpenRouter error whose key order follows a captured body (``message`` before ``code``)."""
    return error(status, body, headers=headers)


def or_daily_cap(reset_ms: int | None = None) -> ErrorResponse:
    """429 free-models-per-day (ref §1.8, captured body).  ``reset_ms`` = epoch ms, default next 00:00 UTC.

    The rate-limit values are mirrored in ``X-RateLimit-*`` response headers; there is no
    ``Retry-After`` header.
    """
    reset = str(_next_utc_midnight_ms() if reset_ms is None else reset_ms)
    limits = {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    body = {
        "error": {
            "message": "Rate limit exceeded: free-models-per-day. "
            "Add 10 credits to unlock 1000 free model requests per day",
            "code": 429,
            "metadata": {"headers": limits, "provider_name": None},
        },
        "user_id": FAKE_USER_ID,
    }
    return _or_body(429, body, headers=limits)


def or_per_minute(reset_ms: int | None = None, retry_after: int | None = None) -> ErrorResponse:
    """429 free-models-per-min with ``X-RateLimit-*`` headers (limit 20, ref §1.8).

    ``reset_ms`` defaults to the next minute boundary; ``retry_after`` adds a ``Retry-After`` header.
    """
    reset = str(_next_minute_ms() if reset_ms is None else reset_ms)
    limits = {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    headers = dict(limits)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = {
        "error": {
            "message": "Rate limit exceeded: free-models-per-min.",
            "code": 429,
            "metadata": {"headers": limits, "provider_name": None},
        },
        "user_id": FAKE_USER_ID,
    }
    return _or_body(429, body, headers=headers)


def or_upstream_429(retry_after_seconds: int = 29, model: str = "qwen/qwen3-coder:free") -> ErrorResponse:
    """Upstream provider 429 "Provider returned error" with ``metadata.raw`` (captured, ref §1.8)."""
    body = {
        "error": {
            "message": "Provider returned error",
            "code": 429,
            "metadata": {
                "raw": f"{model} is temporarily rate-limited upstream. Please retry shortly, or add your own "
                "key to accumulate your rate limits: https://openrouter.ai/settings/integrations",
                "provider_name": "Venice",
                "is_byok": False,
                "retry_after_seconds": retry_after_seconds,
                "retry_after_seconds_raw": round(retry_after_seconds - 0.577, 3),
                "headers": {"Retry-After": str(retry_after_seconds)},
            },
        },
        "user_id": FAKE_USER_ID,
    }
    return _or_body(429, body)


def or_402_credits(requested: int = 64000, affordable: int = 2666) -> ErrorResponse:
    """402 "requires more credits, or fewer max_tokens" (ref §1.7; suffix as in 2026 captures)."""
    body = {
        "error": {
            "message": "This request requires more credits, or fewer max_tokens. "
            f"You requested up to {requested} tokens, but can only afford {affordable}. "
            "To increase, visit https://openrouter.ai/settings/credits and add more credits",
            "code": 402,
            "metadata": {"provider_name": None},
        },
        "user_id": FAKE_USER_ID,
    }
    return _or_body(402, body)


def or_402_insufficient() -> ErrorResponse:
    """402 out of credits: the spec's example message (ref §1.7), the other meaning of a 402."""
    body = {
        "error": {"message": "Insufficient credits. Add more using https://openrouter.ai/credits", "code": 402},
        "user_id": FAKE_USER_ID,
    }
    return _or_body(402, body)


def or_403_moderation() -> ErrorResponse:
    """403 guardrail block of the prompt (ref §1.7, captured shape): the request, not the key, is at fault."""
    body = {
        "error": {
            "code": 403,
            "message": "Request blocked: prompt injection patterns detected",
            "metadata": {"patterns": ["ignore previous instructions"]},
        }
    }
    return _or_body(403, body)


def or_403_region(model: str = "openai/gpt-4o-mini") -> ErrorResponse:
    """403 ``region_restricted`` availability error (ref §1.7): typed fields inside ``error``, no ``code``."""
    body = {
        "error": {
            "message": f"{model} is not available in your region.",
            "error_type": "permission_denied",
            "http_status": 403,
            "availability": {
                "code": "region_restricted",
                "retryable": False,
                "requested_models": [model],
                "docs_url": "https://openrouter.ai/docs/api/errors",
            },
        },
        "user_id": FAKE_USER_ID,
    }
    return _or_body(403, body)


def or_403_forbidden() -> ErrorResponse:
    """403 insufficient permission for the key (ref §1.7; message illustrative)."""
    body = {
        "error": {
            "code": 403,
            "message": "This API key does not have permission to use this endpoint",
            "metadata": {"error_type": "permission_denied"},
        },
        "user_id": FAKE_USER_ID,
    }
    return _or_body(403, body)


def or_429(
    *,
    retry_after: str | int | None = None,
    reset_ms: int | None = None,
    retry_after_seconds: float | None = None,
) -> ErrorResponse:
    """A bare 429 "Rate limit exceeded" with exactly the reset hints asked for, and no other.

    ``retry_after``: a ``Retry-After`` header, seconds or an HTTP-date (:func:`http_date`);
    ``reset_ms``: an ``X-RateLimit-Reset`` header in epoch milliseconds (ref §1.8);
    ``retry_after_seconds``: the body's ``error.metadata.retry_after_seconds`` (upstream 429s).
    """
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if reset_ms is not None:
        headers |= {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_ms)}
    metadata: dict[str, Any] = {"error_type": "rate_limit_exceeded"}
    if retry_after_seconds is not None:
        metadata |= {"provider_name": "Venice", "retry_after_seconds": retry_after_seconds}
    return openrouter_error(429, "Rate limit exceeded", metadata, headers)


#: Status -> (message, ``metadata.error_type`` or None) for :func:`or_status`; messages are the
#: reference's examples where it gives one (ref §1.7), else the spec's reason phrase.
_OR_STATUS: dict[int, tuple[str, str | None]] = {
    400: ("Reasoning is mandatory for this endpoint and cannot be disabled.", None),
    408: ("Operation timed out. Please try again later.", "timeout"),
    413: ("Request payload too large: reduce the prompt or attachments", "payload_too_large"),
    422: ("Unprocessable request: 'messages' content could not be processed", "unprocessable"),
    500: ("Internal Server Error", "server"),
    503: ("No available provider meets your routing requirements", "provider_unavailable"),
    504: ("Gateway Timeout", "timeout"),
    524: ("Request timed out. Please try again later.", None),
    529: ("Provider returned error", None),
}


def or_status(status: int, headers: Mapping[str, str] | None = None) -> ErrorResponse:
    """OpenRouter's error body for ``status`` (400, 408, 413, 422, 500, 503, 504, 524, 529), per ref §1.7."""
    try:
        message, error_type = _OR_STATUS[status]
    except KeyError:
        raise ValueError(f"no ready-made OpenRouter body for {status}; use openrouter_error()") from None
    if status == 529:  # the spec's example exactly: {"error":{"code":529,"message":"Provider returned error"}}
        return error(529, {"error": {"code": 529, "message": message}}, headers=headers)
    metadata = {"error_type": error_type} if error_type else None
    return openrouter_error(status, message, metadata, headers)


def or_401() -> ErrorResponse:
    """401 for an unknown key: ``{"error":{"message":"User not found.","code":401}}``."""
    return _or_body(401, {"error": {"message": "User not found.", "code": 401}})


def or_401_no_auth() -> ErrorResponse:
    """401 for a request without a key."""
    return _or_body(401, {"error": {"message": "No cookie auth credentials found", "code": 401}})


def or_400_invalid_model(model: str) -> ErrorResponse:
    """400 ``"<id> is not a valid model ID"`` with ``user_id`` (ref §1.7)."""
    body = {"error": {"message": f"{model} is not a valid model ID", "code": 400}, "user_id": FAKE_USER_ID}
    return _or_body(400, body)


def or_400_input_required() -> ErrorResponse:
    """400 for a chat request without (non-empty) ``messages``."""
    body = {
        "error": {"message": 'Input required: specify "prompt" or "messages"', "code": 400},
        "user_id": FAKE_USER_ID,
    }
    return _or_body(400, body)


def or_404_no_endpoints(model: str) -> ErrorResponse:
    """404 ``"No endpoints found for <id>."`` (model exists, nothing routable; ref §1.7)."""
    body = {"error": {"message": f"No endpoints found for {model}.", "code": 404}, "user_id": FAKE_USER_ID}
    return _or_body(404, body)


def or_502_raw(
    raw: str = '{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}',
    provider_name: str = "Google AI Studio",
) -> ErrorResponse:
    """502 "Provider returned error" with the upstream text in ``metadata.raw`` (ref §1.7)."""
    body = {
        "error": {
            "message": "Provider returned error",
            "code": 502,
            "metadata": {
                "raw": raw,
                "provider_name": provider_name,
                "is_byok": False,
                "provider_error_code": "500",
            },
        }
    }
    return _or_body(502, body)


def or_200_error_only(code: int | str = 502, message: str = "Provider returned error") -> Reply:
    """HTTP 200 whose only content is an ``error`` (ref §1.3/§1.4).

    Returned as a :class:`Reply` with ``error_only=True`` so it adapts to the request: a JSON body
    holding only ``error`` for non-stream requests, a single ``data: {"error":...}`` event for
    streams.
    """
    return Reply(error_only=True, error_code=code, error_message=message)


def or_blank_lines_json(text: str | None = None, blank_lines: int = 3, interval: float = 0.0) -> Reply:
    """A normal non-stream answer preceded by ``blank_lines`` keep-alive newlines (ref §1.3).

    ``interval`` seconds pass between the blank lines (sent chunked, as a slow keep-alive would).
    """
    return Reply(text=text, blank_lines=blank_lines, chunk_delay=interval)


# --------------------------------------------------------------------------- Ollama


def ollama_error(
    status: int, message: str, headers: Mapping[str, str] | None = None, *, delay: float = 0.0
) -> ErrorResponse:
    """``{"error": message}`` with Ollama's content type."""
    return ErrorResponse(
        status=status,
        body=compact_json({"error": message}),
        content_type=OLLAMA_JSON,
        headers=tuple((k, v) for k, v in (headers or {}).items()),
        delay=delay,
    )


def oll_401(signin_url: str | None = None) -> ErrorResponse:
    """401 ``{"error":"unauthorized"}``; with ``signin_url`` the local-daemon-not-signed-in variant."""
    if signin_url is None:
        return ollama_error(401, "unauthorized")
    return ErrorResponse(401, compact_json({"error": "unauthorized", "signin_url": signin_url}), OLLAMA_JSON)


_USAGE_LIMIT_TEXTS: dict[str, str] = {
    "session": "you (ae2055838) have reached your session usage limit, "
    "upgrade for higher limits: https://ollama.com/upgrade",
    "weekly": "you've reached your weekly usage limit, please wait or upgrade to continue",
    "hourly": "you've reached your hourly usage limit, please wait or upgrade to continue",
}


def oll_usage_limit(window: Literal["session", "weekly", "hourly"] = "session") -> ErrorResponse:
    """429 cloud usage-limit error with the captured texts of ref §2.7."""
    try:
        text = _USAGE_LIMIT_TEXTS[window]
    except KeyError:
        raise ValueError(f"window must be one of {sorted(_USAGE_LIMIT_TEXTS)}, not {window!r}") from None
    return ollama_error(429, text)


def oll_402_usage_limit() -> ErrorResponse:
    """402 with the text the Ollama app shows for it (ref §2.7: "a 402 path may also exist")."""
    return ollama_error(402, "You've reached your usage limit, please upgrade to continue")


def oll_403_cloud_disabled() -> ErrorResponse:
    """403 cloud disabled on the daemon (ref §2.5)."""
    return ollama_error(403, "ollama cloud is disabled: remote model is unavailable")


def oll_403_subscription() -> ErrorResponse:
    """403 a Free plan asking for a subscription-only model (providers-next §8): the key still works for
    free-tier models, so script it per model (``fake.script(key, oll_403_subscription(), model=...)``)."""
    return ollama_error(403, "this model requires a subscription, upgrade for access: https://ollama.com/upgrade")


def oll_402_extra_usage() -> ErrorResponse:
    """402 a model that draws on extra usage only, with none left (providers-next §8, observed).

    The reference quotes the text from "this model uses ..." on (what comes before it is elided there).
    """
    return ollama_error(
        402,
        "this model uses extra usage only (not included plan usage) and your extra usage balance is empty",
    )


def oll_500_unserved(ref: str = "c0ffee00-1d2e-4f3a-8b9c-0d1e2f3a4b5c") -> ErrorResponse:
    """500 ``"Internal Server Error (ref: …)"``: how Ollama Cloud has answered a model it no longer serves,
    instead of a 404 (providers-next §8, observed); ``ref`` stands for the elided request reference."""
    return ollama_error(500, f"Internal Server Error (ref: {ref})")


#: Status -> ``error`` text for :func:`oll_status`: documented texts where ref §2.5 has one, else
#: what Ollama's Go server writes for that status (``http.StatusText``, lower-cased).
_OLLAMA_STATUS: dict[int, str] = {
    400: '"gpt-oss:120b" does not support thinking',
    408: "request timeout",
    413: "request entity too large",
    422: "unprocessable entity",
    500: "an error was encountered while running the model",
    502: "cloud model unreachable: upstream connect error",
    503: "server busy, please try again.  maximum pending requests exceeded",
    504: "gateway timeout",
    524: "a timeout occurred",
    529: "overloaded",
}


def oll_status(status: int, headers: Mapping[str, str] | None = None) -> ErrorResponse:
    """Ollama's ``{"error": text}`` for ``status`` (400, 408, 413, 422, 500, 502-504, 524, 529)."""
    try:
        return ollama_error(status, _OLLAMA_STATUS[status], headers)
    except KeyError:
        raise ValueError(f"no ready-made Ollama body for {status}; use ollama_error()") from None


def oll_404(model: str) -> ErrorResponse:
    """404 ``{"error":"model '<name>' not found"}``."""
    return ollama_error(404, f"model '{model}' not found")


def oll_503_busy() -> ErrorResponse:
    """503 queue full (``OLLAMA_MAX_QUEUE`` exceeded; note the double space, as in the source)."""
    return ollama_error(503, "server busy, please try again.  maximum pending requests exceeded")


# --------------------------------------------------------------------------- Ollama, OpenAI-compatible /v1

_OPENAI_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


def ollama_openai_error(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    delay: float = 0.0,
    wrapped: bool = False,
) -> ErrorResponse:
    """Ollama ``/v1`` error: ``{"error":{"message":...,"type":...,"param":null,"code":null}}`` (ref §3.3).

    ``type`` is ``invalid_request_error`` for 400, ``not_found_error`` for 404, ``api_error`` otherwise
    (``openai.NewError``).  ``wrapped=False`` is the request-validation form (gin's
    ``AbortWithStatusJSON``: ``application/json; charset=utf-8``, no trailing newline);
    ``wrapped=True`` a native error re-encoded by the ``/v1`` writer (``application/json`` and a
    trailing newline, as Go's ``json.Encoder`` writes), e.g. an unknown model or a runner failure.
    """
    body = {
        "error": {
            "message": message,
            "type": _OPENAI_ERROR_TYPES.get(status, "api_error"),
            "param": None,
            "code": None,
        }
    }
    return ErrorResponse(
        status=status,
        body=compact_json(body) + (b"\n" if wrapped else b""),
        content_type="application/json" if wrapped else OLLAMA_JSON,
        headers=tuple((k, v) for k, v in (headers or {}).items()),
        delay=delay,
    )


# --------------------------------------------------------------------------- proxies in front of any provider

_REASONS = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
    413: "Request Entity Too Large",
}


def html_error(status: int, *, server: str = "nginx") -> ErrorResponse:
    """The HTML error page a reverse proxy sends (nginx's, byte for byte), as ``text/html``."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n"
    )
    return error(status, page.encode(), content_type="text/html")


def cloudflare_524(host: str = "openrouter.ai") -> ErrorResponse:
    """Cloudflare's 524 page (the origin answered nothing within 100 s), as ``text/html; charset=UTF-8``."""
    page = (
        '<!DOCTYPE html>\n<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->\n'
        f'<html class="no-js" lang="en-US"> <!--<![endif]-->\n<head>\n<title>{host} | 524: A timeout occurred</title>\n'
        '<meta charset="UTF-8" />\n<style>body{font-family:sans-serif}</style>\n</head>\n<body>\n'
        '<div id="cf-wrapper"><h1><span class="cf-error-type">Error</span> <span class="cf-error-code">524</span></h1>'
        "<h2>A timeout occurred</h2></div>\n</body>\n</html>\n"
    )
    return error(524, page.encode(), content_type="text/html; charset=UTF-8")


MIB = 1024 * 1024


def huge_error(
    status: int, size: int = 50 * MIB, *, content_type: str = "text/html", gzip: bool = False
) -> ErrorResponse:
    """A ``size``-byte body (rounded up to 64 KiB) of repeated HTML, never built in memory at once."""
    unit = (b"<p>" + b"upstream said no. " * 3639 + b"</p>\n")[: 64 * 1024]
    unit = unit.ljust(64 * 1024, b" ")
    return error(status, unit, content_type=content_type, gzip=gzip, repeat=-(-size // len(unit)))


# --------------------------------------------------------------------------- OpenAI (providers-next §3)

OA_SERVER_ERROR = "The server had an error while processing your request."
"""The 500 message as the reference quotes it (the live one appends " Sorry about that!")."""
OA_KEYS_URL = "https://platform.openai.com/account/api-keys"


def openai_error(
    status: int,
    message: str,
    type: str | None = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> ErrorResponse:
    """``{"error":{"message":...,"type":...,"param":...,"code":...}}``, OpenAI's error shape (all four keys)."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return error(status, body, headers=headers)


def mask_key(secret: str) -> str:
    """How OpenAI echoes a key it refuses: the first 8 and last 4 characters around stars
    (``sk-PMafP***…***E873``).  A key shorter than 20 characters (which OpenAI would echo whole) is all
    stars here, so the fake never sends back a test key or 12 characters of one in a row."""
    if len(secret) < 20:
        return "*" * len(secret)
    return secret[:8] + "*" * (len(secret) - 12) + secret[-4:]


def oa_401(key: str | None = None) -> ErrorResponse:
    """401 ``invalid_api_key``.  Without ``key``, the reference's body exactly ("Incorrect API key provided:
    sk-..."); with it, the live message: the key masked by :func:`mask_key` and the help sentence."""
    if key is None:
        message = "Incorrect API key provided: sk-..."
    else:
        message = f"Incorrect API key provided: {mask_key(key)}. You can find your API key at {OA_KEYS_URL}."
    return openai_error(401, message, code="invalid_api_key")


def oa_401_no_key() -> ErrorResponse:
    """401 for a request without ``Authorization: Bearer`` (captured, openai-python #1434)."""
    message = (
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
        "auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're "
        "accessing the API from your browser and are prompted for a username and password. You can obtain an "
        f"API key from {OA_KEYS_URL}."
    )
    return openai_error(401, message)


def oa_401_no_organization() -> ErrorResponse:
    """401 "You must be a member of an organization to use the API" (the reference's text), code ``no_organization``:
    the whole live body as captured in abi/screenshot-to-code #9 and OpenHands #2562."""
    message = (
        "You must be a member of an organization to use the API. Please contact us through our help center at "
        "help.openai.com."
    )
    return openai_error(401, message, code="no_organization")


def oa_403_unsupported_country() -> ErrorResponse:
    """403 ``unsupported_country_region_territory`` "Country, region, or territory not supported" (the reference's code
    and text), type ``request_forbidden`` and ``param: null`` as captured (continuedev/continue #11449)."""
    return openai_error(
        403,
        "Country, region, or territory not supported",
        type="request_forbidden",
        code="unsupported_country_region_territory",
    )


def oa_rate_limit_headers(
    *,
    limit_requests: int = 60,
    limit_tokens: int = 150000,
    remaining_requests: int = 59,
    remaining_tokens: int = 149984,
    reset_requests: str = "1s",
    reset_tokens: str = "6m0s",
) -> dict[str, str]:
    """The six ``x-ratelimit-*`` headers (defaults: the reference's example values; resets are Go durations)."""
    return {
        "x-ratelimit-limit-requests": str(limit_requests),
        "x-ratelimit-limit-tokens": str(limit_tokens),
        "x-ratelimit-remaining-requests": str(remaining_requests),
        "x-ratelimit-remaining-tokens": str(remaining_tokens),
        "x-ratelimit-reset-requests": reset_requests,
        "x-ratelimit-reset-tokens": reset_tokens,
    }


def oa_429_rate_limit(
    *,
    reset_requests: str = "6m0s",
    reset_tokens: str = "644ms",
    retry_after: int | str | None = None,
    remaining_requests: int = 0,
    remaining_tokens: int = 63,
    limit_requests: int = 60,
    limit_tokens: int = 30000,
    model: str = "gpt-4o",
    per: Literal["tokens", "requests"] = "tokens",
    used: int = 29937,
    requested: int = 385,
    try_again: str = "644ms",
    retry_after_ms: int | None = None,
    limit_headers: bool = True,
) -> ErrorResponse:
    """429 ``rate_limit_exceeded`` with the ``x-ratelimit-*`` headers (and ``retry-after`` / ``retry-after-ms`` if
    given).

    The message is the reference's TPM text (BuilderIO/micro-agent #86; "org-..." as quoted); ``per="requests"``
    says "requests per min (RPM)" and uses ``limit_requests``.  ``type`` is ``per`` ("tokens"/"requests").
    ``limit_headers=False`` leaves the six ``x-ratelimit-*`` headers out ("headers can be missing entirely",
    community 935514): the message's "try again in" is then the only hint.
    """
    unit, limit = (
        ("tokens per min (TPM)", limit_tokens) if per == "tokens" else ("requests per min (RPM)", limit_requests)
    )
    message = (
        f"Rate limit reached for {model} in organization org-... on {unit}: Limit {limit}, Used {used}, "
        f"Requested {requested}. Please try again in {try_again}."
    )
    headers = oa_rate_limit_headers(
        limit_requests=limit_requests,
        limit_tokens=limit_tokens,
        remaining_requests=remaining_requests,
        remaining_tokens=remaining_tokens,
        reset_requests=reset_requests,
        reset_tokens=reset_tokens,
    )
    if not limit_headers:
        headers = {}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return openai_error(429, message, type=per, code="rate_limit_exceeded", headers=headers)


def oa_429_too_large(model: str = "gpt-4o", limit: int = 30000, requested: int = 31538) -> ErrorResponse:
    """429 "Request too large ... (TPM)": waiting will not help (shell_gpt #653; the quoted text ends in "...",
    completed with the live suffix)."""
    message = (
        f"Request too large for {model} in organization org-... on tokens per min (TPM): Limit {limit}, "
        f"Requested {requested}. The input or output tokens must be reduced in order to run successfully. "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    return openai_error(429, message, type="tokens", code="rate_limit_exceeded")


def oa_429_insufficient_quota() -> ErrorResponse:
    """429 ``insufficient_quota`` (type and code): the key is out of money, not rate limited."""
    message = "You exceeded your current quota, please check your plan and billing details."
    return openai_error(429, message, type="insufficient_quota", code="insufficient_quota")


def oa_404_model_not_found(model: str) -> ErrorResponse:
    """404 ``model_not_found``: "The model `<id>` does not exist or you do not have access to it."."""
    message = f"The model `{model}` does not exist or you do not have access to it."
    return openai_error(404, message, code="model_not_found")


def oa_responses_only(model: str | None = None) -> ErrorResponse:
    """404 "only supported in v1/responses" (open-webui #15356), ``param:"model"``, ``code:null``.

    The real body does not name the model; ``model`` is accepted so calls read like the other helpers
    (script it per model with ``fake.script(key, oa_responses_only(), model="gpt-5-pro")``).
    """
    del model
    message = "This model is only supported in v1/responses and not in v1/chat/completions."
    return openai_error(404, message, param="model")


def oa_500() -> ErrorResponse:
    """500 ``server_error`` with the reference's message."""
    return openai_error(500, OA_SERVER_ERROR, type="server_error")


def oa_503(message: str = "Slow Down") -> ErrorResponse:
    """503 "Slow Down" (the reference quotes only the text; the envelope is OpenAI's, type ``server_error``)."""
    return openai_error(503, message, type="server_error")


def oa_stream_error(after_tokens: int | None = None, message: str = OA_SERVER_ERROR) -> Reply:
    """An error inside a 200 stream: ``data: {"error":{"message":...,"type":"server_error",...}}`` after
    ``after_tokens`` tokens (``None``: as the first event), then the stream ends without ``[DONE]``.
    A non-stream request gets :func:`oa_500`'s body with ``message``."""
    if after_tokens is None:
        return Reply(error_only=True, error_message=message)
    return Reply(error_after_tokens=after_tokens, error_message=message)


# --------------------------------------------------------------------------- Azure OpenAI (providers-next §5)


def azure_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> ErrorResponse:
    """Azure's own error shape: ``{"error":{"code":"<string>","message":...}}``."""
    return error(status, {"error": {"code": code, "message": message}}, headers=headers)


def az_401() -> ErrorResponse:
    """401 for a missing or wrong ``api-key`` (SciSharp/BotSharp #386, byte for byte)."""
    message = (
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
        "for an active subscription and use a correct regional API endpoint for your resource."
    )
    return azure_error(401, "401", message)


def az_404_deployment() -> ErrorResponse:
    """404 ``DeploymentNotFound`` (the reference hedges on the text; this is the live one)."""
    message = (
        "The API deployment for this resource does not exist. If you created the deployment within the last "
        "5 minutes, please wait a moment and try again."
    )
    return azure_error(404, "DeploymentNotFound", message)


def az_404_resource() -> ErrorResponse:
    """404 "Resource not found": a wrong path, or a dated route without a supported ``api-version``."""
    return azure_error(404, "404", "Resource not found")


_SAFE = {"filtered": False, "severity": "safe"}


def az_400_content_filter() -> ErrorResponse:
    """400 ``content_filter``: the prompt tripped the filter; the same on every retry.

    The reference (compl-ai #20) elides the message's end and the categories after ``violence``; both are
    filled in from the full capture in vibrantlabsai/ragas #649 (message, and hate / self_harm / sexual /
    violence with violence filtered at medium).
    """
    body = {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
            "policy. Please modify your prompt and retry. To learn more about our content filtering policies "
            "please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": _SAFE,
                    "self_harm": _SAFE,
                    "sexual": _SAFE,
                    "violence": {"filtered": True, "severity": "medium"},
                },
            },
        }
    }
    return error(400, body)


_AZ_429_TEXTS: dict[str, tuple[str, int]] = {
    "simple": ("Rate limit is exceeded. Try again in {n} seconds.", 2),
    "tokens": (
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-08-01-preview have "
        "exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after {n} seconds. "
        "Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
        86400,
    ),
    "peak": (
        "The system is currently experiencing high demand and cannot process your request. Your request exceeds "
        "the maximum usage size allowed during peak load. Please retry after {n} seconds.",
        20,
    ),
}


def az_429(
    retry_after: int | None = None,
    text: Literal["simple", "tokens", "peak"] = "simple",
    *,
    header: bool = True,
    retry_after_ms: bool = False,
) -> ErrorResponse:
    """429 ``{"error":{"code":"429","message":...}}`` in one of the three quoted forms.

    ``text``: ``"simple"`` "Rate limit is exceeded. Try again in N seconds." (copilot-camp #551);
    ``"tokens"`` the token-rate-limit text (climb #1; the quote's "..." completed with the live
    "Please go here: https://aka.ms/oai/quotaincrease ..." sentence); ``"peak"`` the peak-load text
    (pollinations #6260).  ``retry_after`` is N in the text and in the ``retry-after`` header (default:
    the quoted number, 2 / 86400 / 20); ``header=False`` leaves the header out (the text is then the only
    hint); ``retry_after_ms`` adds ``retry-after-ms``.
    """
    try:
        template, quoted = _AZ_429_TEXTS[text]
    except KeyError:
        raise ValueError(f"text must be one of {sorted(_AZ_429_TEXTS)}, not {text!r}") from None
    seconds = quoted if retry_after is None else retry_after
    headers: dict[str, str] = {}
    if header:
        headers["retry-after"] = str(seconds)
    if retry_after_ms:
        headers["retry-after-ms"] = str(seconds * 1000)
    return azure_error(429, "429", template.format(n=seconds), headers)


# --------------------------------------------------------------------------- Cloudflare Workers AI (providers-next §2)


def cf_error(status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> ErrorResponse:
    """The v4 envelope: ``{"success":false,"errors":[{"code":N,"message":...}],"messages":[],"result":null}``."""
    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
    return error(status, body, headers=headers)


def cf_3036() -> ErrorResponse:
    """429 daily free allocation used up (reset 00:00 UTC).  The reference's text ends in "..."; completed
    with the errors page's "if you would like to continue usage."."""
    message = (
        "You have used up your daily free allocation of 10,000 neurons. Please upgrade to Cloudflare's Workers "
        "Paid plan if you would like to continue usage."
    )
    return cf_error(429, 3036, message)


def cf_3040() -> ErrorResponse:
    """429 capacity: "No more data centers to forward the request to" (short backoff, not a quota)."""
    return cf_error(429, 3040, "No more data centers to forward the request to")


def cf_5007(model: str) -> ErrorResponse:
    """400 "No such model <model> or task" (a missing model reads ``undefined``, as the JS template gives)."""
    return cf_error(400, 5007, f"No such model {model} or task")


def cf_5018() -> ErrorResponse:
    """403 "The account is not allowed to access this model": that (key, model) is unusable."""
    return cf_error(403, 5018, "The account is not allowed to access this model")


def cf_10000() -> ErrorResponse:
    """403 ``10000 Authentication error``: a bad token, or a token used on another account's path."""
    return cf_error(403, 10000, "Authentication error")


def cf_4006(status: int = 429) -> ErrorResponse:
    """The other shape of the daily-allocation error [obs]: ``{"error":{"message":"4006: ...","stage":"pipeline",
    "code":"internal_error"}}``, the message as quoted (ending in "...").  The status is not quoted: 429 here."""
    message = "4006: you have used up your daily free allocation of 10,000 neurons, please upgrade..."
    return error(status, {"error": {"message": message, "stage": "pipeline", "code": "internal_error"}})


#: The rest of Workers AI's documented errors (providers-next §2, developers.cloudflare.com/workers-ai/platform/errors):
#: code -> (HTTP status, text).  3036, 3040, 5007, 5018 and 10000 have helpers of their own.
CF_CODES: dict[int, tuple[int, str]] = {
    5004: (400, "Invalid data type for base64 input"),
    3003: (400, "Request is missing headers or body"),
    3041: (403, "The account is not allowed to access this model"),
    5016: (403, "User has not agreed to Llama3.2 model terms"),
    3023: (403, "Service unavailable for account"),
    3042: (404, "The model name is invalid"),
    3006: (413, "Request is too large"),
    3007: (408, "Request timeout"),
    3008: (408, "Request aborted"),
}


def cf_code(code: int) -> ErrorResponse:
    """A documented Workers AI error of :data:`CF_CODES` in the v4 envelope, with its documented status and text."""
    try:
        status, message = CF_CODES[code]
    except KeyError:
        raise ValueError(f"code must be one of {sorted(CF_CODES)}, not {code}") from None
    return cf_error(status, code, message)


def cf_timeout_text(status: int = 400) -> ErrorResponse:
    """A timeout in the other shape [obs]: ``{"error":{"code":"invalid_prompt","message":"AiError: AiError: Request
    timeout (uuid)"}}`` (a uuid filled in).  The status is not quoted: 400 here, what its code ``invalid_prompt``
    names, so that only the text tells a timeout."""
    message = "AiError: AiError: Request timeout (0b5c2d9e-7f41-4a8e-9c3d-5e6f7a8b9c0d)"
    return error(status, {"error": {"code": "invalid_prompt", "message": message}})


def cf_invalid_token() -> ErrorResponse:
    """401 ``1000 Invalid API Token`` from the token-verify endpoints (unknown token; an account-owned
    ``cfat_`` token on ``/user/tokens/verify``)."""
    return cf_error(401, 1000, "Invalid API Token")


def cf_no_route(real_path: str, identifier_ok: bool) -> ErrorResponse:
    """404 from Cloudflare's router, in its captured key order (``result`` first): 7003 "Could not route to
    <path>, perhaps your object identifier is invalid?" (anomalyco/opencode #23773) when the account id is
    malformed, else 7000 "No route for that URI"."""
    if identifier_ok:
        err = {"code": 7000, "message": "No route for that URI"}
    else:
        err = {"code": 7003, "message": f"Could not route to {real_path}, perhaps your object identifier is invalid?"}
    return error(404, {"result": None, "success": False, "errors": [err], "messages": []})


# --------------------------------------------------------------------------- Anthropic (providers-next §4)

AN_CREDIT_TEXT = (
    "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or "
    "purchase credits."
)
"""The 400 ``invalid_request_error`` of an empty prepaid balance (ref §4 [hedge]; captured whole in
anthropics/claude-code #66314 and anthropic-sdk-typescript #618, still a 400 in September 2026)."""
AN_RATE_LIMIT_TEXT = (
    "This request would exceed the rate limit for your organization (...) of 20,000 input tokens per minute..."
)
"""The 429 message exactly as the reference quotes it (its "(...)" and "..." kept)."""
AN_RATE_LIMITS: dict[str, tuple[int, int, int]] = {
    "requests": (1000, 999, 1),
    "tokens": (96000, 90000, 3),
    "input-tokens": (80000, 78000, 3),
    "output-tokens": (16000, 12000, 18),
}
"""Limit family -> (limit, remaining, seconds to reset): the reference's captured values, its resets (22:25:30,
:32, :32, :47) made relative to now."""
_AN_IDS = [0]
_AN_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def an_request_id() -> str:
    """``req_011C`` + 20 base-62 characters, the shape of the real ids (``req_011CZLrUfBVkVHn5T6EqQaf7``);
    a new one on every call, the same sequence in every test run."""
    _AN_IDS[0] += 1
    number = (_AN_IDS[0] * 0x9E3779B97F4A7C15F39CC0605CEDC8341082276B + 0x632BE59BD9B4E019) % 62**20
    chars = []
    for _ in range(20):
        number, digit = divmod(number, 62)
        chars.append(_AN_ALPHABET[digit])
    return "req_011C" + "".join(chars)


def an_timestamp(when: float) -> str:
    """``when`` (epoch seconds, rounded up to a whole second) as the RFC 3339 the ``*-reset`` headers use."""
    whole = int(when) + (when > int(when))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(whole))


def anthropic_error(
    status: int,
    type: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    details: Mapping[str, Any] | None = None,
) -> ErrorResponse:
    """``{"type":"error","error":{"type":...,"message":...},"request_id":"req_..."}`` (``details`` inside ``error``
    when given), with the same id in a ``request-id`` header, as the API sends every error."""
    request_id = an_request_id()
    inner: dict[str, Any] = {"type": type, "message": message}
    if details is not None:
        inner["details"] = dict(details)
    body = {"type": "error", "error": inner, "request_id": request_id}
    return error(status, body, headers={"request-id": request_id, **(headers or {})})


def an_rate_limit_headers(now: float | None = None, *, resets: Mapping[str, float] | None = None) -> dict[str, str]:
    """The ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`` headers
    every answer carries (the reference's values; resets a few seconds from ``now``).  ``resets`` maps a family
    (or another, e.g. ``"tokens"`` with a ``-weekly`` window written ``"tokens-weekly"``) to seconds from now:
    that limit is exhausted (``remaining`` 0) and resets then."""
    now = time.time() if now is None else now
    exhausted = dict(resets or {})
    headers: dict[str, str] = {}
    for family, (limit, remaining, seconds) in AN_RATE_LIMITS.items():
        if family in exhausted:
            remaining, seconds = 0, exhausted.pop(family)
        headers[f"anthropic-ratelimit-{family}-limit"] = str(limit)
        headers[f"anthropic-ratelimit-{family}-remaining"] = str(remaining)
        headers[f"anthropic-ratelimit-{family}-reset"] = an_timestamp(now + seconds)
    for name, seconds in exhausted.items():  # a window suffix: "tokens-weekly" -> ...-tokens-remaining-weekly
        family, _, window = name.rpartition("-") if name.endswith("-weekly") else (name, "", "")
        suffix = f"-{window}" if window else ""
        headers[f"anthropic-ratelimit-{family}-limit{suffix}"] = "1000000"
        headers[f"anthropic-ratelimit-{family}-remaining{suffix}"] = "0"
        headers[f"anthropic-ratelimit-{family}-reset{suffix}"] = an_timestamp(now + seconds)
    return headers


def an_401(*, missing: bool = False) -> ErrorResponse:
    """401 ``authentication_error`` "invalid x-api-key" (open-webui/pipelines #145 and many others, byte for
    byte); ``missing=True``: "x-api-key header is required" (no key sent)."""
    message = "x-api-key header is required" if missing else "invalid x-api-key"
    return anthropic_error(401, "authentication_error", message)


def an_400_version(value: str | None = None) -> ErrorResponse:
    """400 for a missing ``anthropic-version`` ("anthropic-version: header is required", PipedreamHQ/pipedream
    #9697), or an unknown one (``anthropic-version: "X" is not a valid version``, decolua/9router #2357)."""
    if value is None:
        return anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
    return anthropic_error(400, "invalid_request_error", f'anthropic-version: "{value}" is not a valid version')


def an_429(
    retry_after: int | None = 20,
    resets: Mapping[str, float] | None = None,
    *,
    message: str = AN_RATE_LIMIT_TEXT,
) -> ErrorResponse:
    """429 ``rate_limit_error`` with the reference's message, ``retry-after`` (seconds; ``None`` leaves it out)
    and the rate-limit headers, where ``resets`` (family -> seconds from now, see :func:`an_rate_limit_headers`)
    are exhausted; by default the input-tokens limit, resetting when ``retry-after`` says (or in 20 s)."""
    if resets is None:
        resets = {"input-tokens": retry_after if retry_after is not None else 20}
    headers = an_rate_limit_headers(resets=resets)
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    return anthropic_error(429, "rate_limit_error", message, headers)


def an_spend_limit() -> ErrorResponse:
    """429 ``rate_limit_error`` with ``details.error_code: "enforced_spend_limit_reached"``: the organization crossed
    the monthly usage threshold of its tier (the code as the official SDK 2.x maps it to
    ``EnforcedSpendLimitReachedError``; no capture gives the live message, so the SDK's description is used).
    No ``retry-after``: nothing frees it before the month ends."""
    message = "The organization has crossed the monthly API usage threshold of its API tier."
    return anthropic_error(429, "rate_limit_error", message, details={"error_code": "enforced_spend_limit_reached"})


def an_529(retry_after: int | None = None) -> ErrorResponse:
    """529 ``overloaded_error`` "Overloaded", the body the reference quotes (claude-code #35783) with a fresh
    ``request_id`` for its elided one, and the quoted ``x-should-retry: true`` / ``request-id`` headers;
    ``retry_after`` adds ``retry-after``."""
    headers = {"x-should-retry": "true"}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    return anthropic_error(529, "overloaded_error", "Overloaded", headers)


def an_402_billing() -> ErrorResponse:
    """402 ``billing_error`` (the documented type for money gone; the live text is not captured, so the credit
    message the API used before the type existed stands in)."""
    return anthropic_error(402, "billing_error", AN_CREDIT_TEXT)


def an_400_credit() -> ErrorResponse:
    """400 ``invalid_request_error`` "Your credit balance is too low ..." (ref §4 [hedge]): money gone, dressed
    as a bad request."""
    return anthropic_error(400, "invalid_request_error", AN_CREDIT_TEXT)


def an_400_usage_limits(regain: str = "2026-12-01") -> ErrorResponse:
    """400 ``invalid_request_error`` of a console spend limit [obs] (anthropics/claude-code #38035, byte for byte
    but the date): "You have reached your specified API usage limits. You will regain access on <regain> at
    00:00 UTC."."""
    message = f"You have reached your specified API usage limits. You will regain access on {regain} at 00:00 UTC."
    return anthropic_error(400, "invalid_request_error", message)


def an_404(model: str) -> ErrorResponse:
    """404 ``not_found_error`` "model: <id>" (an unknown or unserved model)."""
    return anthropic_error(404, "not_found_error", f"model: {model}")


def an_500() -> ErrorResponse:
    """500 ``api_error`` "Internal server error" (anthropics/claude-code #11840)."""
    return anthropic_error(500, "api_error", "Internal server error")


def an_stream_error(
    after_tokens: int | None = None, type: str = "overloaded_error", message: str = "Overloaded"
) -> Reply:
    """An ``error`` event inside a 200 stream, in the reference's wire form (``event: error`` / ``data: {"type":
    "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}``), after ``after_tokens`` answer
    tokens (``None``: right after ``message_start``); the stream then ends without ``message_stop``. A non-stream
    request gets the HTTP error of that type (529 for ``overloaded_error``)."""
    if after_tokens is None:
        return Reply(error_only=True, error_code=type, error_message=message)
    return Reply(error_after_tokens=after_tokens, error_code=type, error_message=message)


# --------------------------------------------------------------------------- Google Gemini (providers-next §1)

GOOGLE_JSON = "application/json; charset=UTF-8"
"""The content type of every Google API JSON body, errors and answers alike."""
GM_KEY_INVALID = "API key not valid. Please pass a valid API key."
GM_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
GM_LEAKED = "Your API key was reported as leaked. Please use another API key."
GM_INTERNAL = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
GM_OVERLOADED = "The model is overloaded. Please try again later."
GM_QUOTA_TEXT = (
    "You exceeded your current quota, please check your plan and billing details. For more information on this "
    "error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: "
    "https://ai.dev/usage?tab=rate-limit. "
)
_GM_SERVICE = "generativelanguage.googleapis.com"
_GM_REQUESTS = f"{_GM_SERVICE}/generate_content_free_tier_requests"
_GM_INPUT_TOKENS = f"{_GM_SERVICE}/generate_content_free_tier_input_token_count"
_GM_HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}


def google_json(obj: Any) -> bytes:
    """A Google API JSON body as the service writes it: indented by two spaces, UTF-8, a final newline."""
    return json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8", "fake-json") + b"\n"


def gemini_error(
    status: int,
    rpc_status: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ErrorResponse:
    """``{"error":{"code":status,"message":...,"status":"RESOURCE_EXHAUSTED","details":[...]}}``, indented as Google
    sends it; ``details=None`` leaves the key out (as bodies without details do).  :func:`gm_wrapped` makes the
    array form."""
    err: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if details is not None:
        err["details"] = details
    return ErrorResponse(
        status=status,
        body=google_json({"error": err}),
        content_type=GOOGLE_JSON,
        headers=tuple((str(k), str(v)) for k, v in (headers or {}).items()),
    )


def gm_wrapped(response: ErrorResponse) -> ErrorResponse:
    """The same error inside a one-element JSON array (``[{"error":{...}}]``), as Gemini's OpenAI-compatible
    endpoint and some native routes send it (providers-next §1b)."""
    return dataclasses.replace(response, body=google_json([json.loads(response.body)]))


def _error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": _GM_SERVICE},
    }


def gm_400(message: str, field_violations: list[dict[str, str]] | None = None) -> ErrorResponse:
    """400 ``INVALID_ARGUMENT`` (a bad body); ``field_violations`` adds a ``google.rpc.BadRequest`` detail."""
    details = None
    if field_violations is not None:
        details = [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": field_violations}]
    return gemini_error(400, "INVALID_ARGUMENT", message, details)


def gm_400_key_invalid(message: str = GM_KEY_INVALID) -> ErrorResponse:
    """400 ``INVALID_ARGUMENT`` with ``ErrorInfo.reason`` ``API_KEY_INVALID``: an unknown key is a 400, not a 401
    (continue #8516, with its ``LocalizedMessage``).  The other quoted text is "API Key not found. Please pass a
    valid API key." (gemini-cli #25198)."""
    localized = {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message}
    return gemini_error(400, "INVALID_ARGUMENT", message, [_error_info("API_KEY_INVALID"), localized])


def gm_400_location() -> ErrorResponse:
    """400 ``FAILED_PRECONDITION``: the free tier is not offered where the call comes from (ref §1, [doc])."""
    message = (
        "Gemini API free tier is not available in your country. Please enable billing on your project in Google "
        "AI Studio."
    )
    return gemini_error(400, "FAILED_PRECONDITION", message)


def gm_403(message: str = GM_LEAKED) -> ErrorResponse:
    """403 ``PERMISSION_DENIED``: by default a key blocked as leaked ([doc]); any other ``message`` works
    (e.g. "Permission denied: Consumer 'api_key:<key>' has been suspended.", which echoes the key)."""
    return gemini_error(403, "PERMISSION_DENIED", message)


def gm_403_no_key() -> ErrorResponse:
    """403 ``PERMISSION_DENIED`` for a request without any key (the public captures carry no details)."""
    return gemini_error(403, "PERMISSION_DENIED", GM_NO_KEY)


def gm_404(model: str, api_version: str = "v1beta") -> ErrorResponse:
    """404 ``NOT_FOUND``: the model is unknown (or cannot ``generateContent``), in the service's own words."""
    message = (
        f"models/{model} is not found for API version {api_version}, or is not supported for generateContent. "
        "Call ListModels to see the list of available models and their supported methods."
    )
    return gemini_error(404, "NOT_FOUND", message)


def _quota_429(model: str, violations: list[tuple[str, str, int]], delay: str) -> ErrorResponse:
    """429 ``RESOURCE_EXHAUSTED`` with ``QuotaFailure`` (one per (metric, quotaId, limit)), ``Help`` and
    ``RetryInfo``, in the order of the captures (ref §1 "429 anatomy"); no ``Retry-After`` header."""
    lines = "".join(
        f"\n* Quota exceeded for metric: {metric}, limit: {limit}, model: {model}" for metric, _, limit in violations
    )
    message = f"{GM_QUOTA_TEXT}{lines}\nPlease retry in {delay}."
    quota = {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": metric,
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global", "model": model},
                "quotaValue": str(limit),
            }
            for metric, quota_id, limit in violations
        ],
    }
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
    return gemini_error(429, "RESOURCE_EXHAUSTED", message, [quota, _GM_HELP, retry])


def gm_429_per_minute(delay: str = "37s", model: str = "gemini-2.5-flash", limit: int = 10) -> ErrorResponse:
    """429 for the free tier's requests per minute (``GenerateRequestsPerMinutePerProjectPerModel-FreeTier``):
    retry after ``delay`` (a protobuf Duration, ``"37s"``, ``"0.5s"``)."""
    return _quota_429(model, [(_GM_REQUESTS, "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", limit)], delay)


def gm_429_per_day(model: str = "gemini-2.5-flash", limit: int = 20, delay: str = "36s") -> ErrorResponse:
    """429 for the free tier's requests per day (``GenerateRequestsPerDayPerProjectPerModel-FreeTier``, the
    captured body of ref §1): its ``retryDelay`` is seconds although the quota resets at midnight Pacific time."""
    return _quota_429(model, [(_GM_REQUESTS, "GenerateRequestsPerDayPerProjectPerModel-FreeTier", limit)], delay)


def gm_429_limit_zero(model: str = "gemini-2.5-pro", delay: str = "25s") -> ErrorResponse:
    """429 whose quotas have ``limit: 0``: the model is not offered on the project's tier at all (continue #9570,
    gemini-cli #22486: input tokens and requests, per minute and per day, all 0)."""
    violations = [
        (_GM_INPUT_TOKENS, "GenerateContentInputTokensPerModelPerMinute-FreeTier", 0),
        (_GM_REQUESTS, "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", 0),
        (_GM_REQUESTS, "GenerateRequestsPerDayPerProjectPerModel-FreeTier", 0),
    ]
    return _quota_429(model, violations, delay)


def gm_500() -> ErrorResponse:
    """500 ``INTERNAL`` (Google-side; long contexts can also cause it)."""
    return gemini_error(500, "INTERNAL", GM_INTERNAL)


def gm_503(message: str = GM_OVERLOADED) -> ErrorResponse:
    """503 ``UNAVAILABLE``: the model is overloaded (the other quoted text: "This model is currently experiencing
    high demand. Spikes in demand are usually temporary. Please try again later.")."""
    return gemini_error(503, "UNAVAILABLE", message)


def gm_504() -> ErrorResponse:
    """504 ``DEADLINE_EXCEEDED``."""
    return gemini_error(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.")


_GM_RATINGS = [
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"},
]


def gm_blocked(reason: str = "SAFETY", *, stream: bool = False, model: str = "gemini-2.5-flash") -> ErrorResponse:
    """200 with ``promptFeedback.blockReason`` and no ``candidates``: the safety filters refused the prompt.

    ``stream=True`` sends it as a stream does: one SSE event (CRLF-terminated) of ``text/event-stream``.
    ``SAFETY`` carries the safety ratings; other reasons (``PROHIBITED_CONTENT``, ``BLOCKLIST``, ``OTHER``) none.
    """
    feedback: dict[str, Any] = {"blockReason": reason}
    if reason == "SAFETY":
        feedback["safetyRatings"] = _GM_RATINGS
    body = {
        "promptFeedback": feedback,
        "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
        "modelVersion": model,
        "responseId": "bl0ck3dR3sp0ns3Id12345",
    }
    if stream:
        event = b"data: " + json.dumps(body, separators=(",", ": "), ensure_ascii=False).encode() + b"\r\n\r\n"
        return ErrorResponse(status=200, body=event, content_type="text/event-stream")
    return ErrorResponse(status=200, body=google_json(body), content_type=GOOGLE_JSON)


# --------------------------------------------------------------------------- AWS Bedrock (providers-next §6)

BEDROCK_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"
"""What follows the type in ``x-amzn-ErrorType`` for Bedrock's own errors (captured: ``AccessDeniedException:
http://internal.amazon.com/coral/com.amazon.bedrock/``, aws-samples/amazon-bedrock-client-for-mac #1)."""
CORAL_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.coral.service/"
"""The namespace of the errors AWS's front door raises before Bedrock sees the request (bad credentials)."""
FAKE_AWS_ACCOUNT = "123456789012"
BR_INVALID_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)
BR_INVALID_TOKEN = "The security token included in the request is invalid."


def bedrock_error(
    status: int,
    type_name: str | None,
    message: str,
    *,
    namespace: str = BEDROCK_NAMESPACE,
    field: str = "message",
    headers: Mapping[str, str] | None = None,
) -> ErrorResponse:
    """``{"message": ...}`` (``field="Message"`` for the capitalised bodies some errors carry [obs]) with
    ``x-amzn-ErrorType: <Type>:<namespace>`` (none when ``type_name`` is None) and an ``x-amzn-RequestId``."""
    import hashlib

    request_id = hashlib.sha256(f"{status}{type_name}{message}".encode()).hexdigest()
    uuid = "-".join(request_id[a:b] for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)))
    extra: dict[str, str] = {"x-amzn-RequestId": uuid}
    if type_name:
        extra["x-amzn-ErrorType"] = f"{type_name}:{namespace}"
    return error(status, {field: message}, headers={**extra, **(headers or {})})


def br_throttling(message: str = "Too many requests, please wait before trying again.") -> ErrorResponse:
    """429 ThrottlingException; no ``Retry-After`` nor rate-limit headers (Bedrock sends none). The default text is
    the one captured from the service; "Too many tokens, please wait before trying again." is the other."""
    return bedrock_error(429, "ThrottlingException", message)


def br_tokens_per_day() -> ErrorResponse:
    """429 ThrottlingException for the account's daily token quota [obs]: a quota, not a per-minute limit."""
    return br_throttling("Too many tokens per day, please wait before trying again.")


def br_access_denied(model: str | None = None) -> ErrorResponse:
    """403 AccessDeniedException: this account may not use the model. With ``model``, IAM's wording naming it
    (``{"Message":"User: arn:aws:iam::... is not authorized to perform: bedrock:InvokeModel on resource: ..."}``
    as captured in BerriAI/litellm #39166); without, the model-access text "You don't have access to the model with
    the specified model ID."."""
    if model is None:
        return bedrock_error(
            403, "AccessDeniedException", "You don't have access to the model with the specified model ID."
        )
    message = (
        f"User: arn:aws:iam::{FAKE_AWS_ACCOUNT}:user/llmroute-test is not authorized to perform: bedrock:InvokeModel "
        f"on resource: arn:aws:bedrock:us-east-1::foundation-model/{model} because no identity-based policy allows the "
        "bedrock:InvokeModel action"
    )
    return bedrock_error(403, "AccessDeniedException", message, field="Message")


def br_validation(message: str) -> ErrorResponse:
    """400 ValidationException with ``message`` (the request's fault, unless it is about the model id)."""
    return bedrock_error(400, "ValidationException", message)


def br_invalid_model() -> ErrorResponse:
    """400 ValidationException "The provided model identifier is invalid." (what an unknown model id gets)."""
    return br_validation("The provided model identifier is invalid.")


def br_on_demand_unsupported(model: str) -> ErrorResponse:
    """400 ValidationException for a model served only through an inference profile [obs], curly apostrophe and all."""
    return br_validation(
        f"Invocation of model ID {model} with on-demand throughput isn\u2019t supported. Retry your request with the "
        "ID or ARN of an inference profile that contains this model."
    )


def br_not_found(model: str | None = None, *, legacy: bool = False) -> ErrorResponse:
    """404 ResourceNotFoundException as captured: "This model version has reached the end of its life. ..." or, with
    ``legacy``, the per-account "Access denied. This Model is marked by provider as Legacy ...". Neither text names
    the model (``model`` is accepted for symmetry with the other helpers)."""
    if legacy:
        message = (
            "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model "
            "in the last 30 days. Please upgrade to an active model on Amazon Bedrock"
        )
    else:
        message = (
            "This model version has reached the end of its life. Please refer to the AWS documentation for more "
            "details."
        )
    return bedrock_error(404, "ResourceNotFoundException", message)


def br_unavailable(message: str = "Bedrock is unable to process your request.") -> ErrorResponse:
    """503 ServiceUnavailableException (the text as captured inside a stream)."""
    return bedrock_error(503, "ServiceUnavailableException", message)


def br_model_not_ready() -> ErrorResponse:
    """429 ModelNotReadyException (the API reference's description as the text)."""
    message = (
        "The model specified in the request is not ready to serve inference requests. The AWS SDK will automatically "
        "retry the operation up to 5 times."
    )
    return bedrock_error(429, "ModelNotReadyException", message)


def br_model_timeout() -> ErrorResponse:
    """408 ModelTimeoutException (the API reference's description as the text)."""
    message = "The request took too long to process. Processing time exceeded the model timeout length."
    return bedrock_error(408, "ModelTimeoutException", message)


def br_model_error() -> ErrorResponse:
    """424 ModelErrorException (the API reference's description as the text)."""
    return bedrock_error(424, "ModelErrorException", "The request failed due to an error while processing the model.")


def br_internal() -> ErrorResponse:
    """500 InternalServerException (the API reference's description as the text)."""
    return bedrock_error(500, "InternalServerException", "An internal server error occurred. Retry your request.")


def br_quota() -> ErrorResponse:
    """ServiceQuotaExceededException with the 400 the control plane documents for it (its type, not its status,
    makes it a quota)."""
    message = (
        "Your request exceeds the service quota for your account. You can view your quotas at Viewing service quotas. "
        "You can resubmit your request later."
    )
    return bedrock_error(400, "ServiceQuotaExceededException", message)


def br_unrecognized_client() -> ErrorResponse:
    """403 UnrecognizedClientException "The security token included in the request is invalid.": an unknown access
    key id, or a session token that does not belong to it."""
    return bedrock_error(403, "UnrecognizedClientException", BR_INVALID_TOKEN, namespace=CORAL_NAMESPACE)


def br_invalid_signature(canonical: str | None = None, string_to_sign: str | None = None) -> ErrorResponse:
    """403 InvalidSignatureException; with the canonical request and string to sign the service expected appended,
    as AWS's JSON services do."""
    message = BR_INVALID_SIGNATURE
    if canonical is not None and string_to_sign is not None:
        message += (
            f"\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n"
        )
    return bedrock_error(403, "InvalidSignatureException", message, namespace=CORAL_NAMESPACE)


def br_expired_token() -> ErrorResponse:
    """403 ExpiredTokenException: session credentials past their expiry."""
    return bedrock_error(
        403, "ExpiredTokenException", "The security token included in the request is expired", namespace=CORAL_NAMESPACE
    )


def br_invalid_api_key() -> ErrorResponse:
    """403 ``{"Message":"Authentication failed: Please make sure your API Key is valid."}`` for an unknown Bedrock API
    key [obs] (ai4s-research/open-science #53); no error type is known for it, so none is sent."""
    return bedrock_error(403, None, "Authentication failed: Please make sure your API Key is valid.", field="Message")


def br_stream_exception(kind: str, after_tokens: int | None = None, message: str | None = None) -> Reply:
    """A ConverseStream answer that fails with an ``exception`` frame (``:exception-type`` = ``kind``, e.g.
    ``"throttlingException"``, ``"modelStreamErrorException"``): after ``after_tokens`` answer tokens, or
    right after ``messageStart`` when None. A non-stream request gets the same exception as an HTTP error."""
    from .bedrock_wire import BedrockReply

    return BedrockReply(
        error_after_tokens=after_tokens, error_only=after_tokens is None, error_code=kind, error_message=message
    )


def br_corrupt_crc(after_tokens: int = 0, *, part: Literal["message", "prelude"] = "message") -> Reply:
    """A ConverseStream answer whose frame after ``after_tokens`` answer tokens has a wrong ``message`` (or
    ``prelude``) CRC32; the frames after it are sent intact."""
    from .bedrock_wire import BedrockReply

    return BedrockReply(corrupt_after_tokens=after_tokens, corrupt=part)


def br_truncated(after_tokens: int = 0) -> Reply:
    """A ConverseStream answer that ends cleanly (a complete HTTP body) half-way through the frame after
    ``after_tokens`` answer tokens."""
    from .bedrock_wire import BedrockReply

    return BedrockReply(truncate_after_tokens=after_tokens)
