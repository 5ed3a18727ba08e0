from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.keys import redact
from llmroute.providers import (
    ADAPTERS,
    AzureAdapter,
    CloudflareAdapter,
    OllamaAdapter,
    OpenAIAdapter,
    OpenRouterAdapter,
)
from llmroute.providers.classify import (
    as_int,
    body_excerpt,
    clean,
    kind_for_status,
    load_json,
    parse_reset_ms,
    parse_retry_after,
    transport_error,
)

NOW = 1_788_200_000.0
SECRET = "sk-or-v1-0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.BAD_REQUEST),
        (413, ErrorKind.BAD_REQUEST),
        (422, ErrorKind.BAD_REQUEST),
        (401, ErrorKind.AUTH),
        (403, ErrorKind.AUTH),
        (402, ErrorKind.QUOTA),
        (404, ErrorKind.MODEL_NOT_FOUND),
        (408, ErrorKind.TIMEOUT),
        (429, ErrorKind.RATE_LIMITED),
        (500, ErrorKind.SERVER),
        (502, ErrorKind.SERVER),
        (503, ErrorKind.OVERLOADED),
        (529, ErrorKind.OVERLOADED),
        (504, ErrorKind.TIMEOUT),
        (524, ErrorKind.TIMEOUT),
        (501, ErrorKind.SERVER),
        (418, ErrorKind.BAD_REQUEST),
        (302, ErrorKind.BAD_RESPONSE),
    ],
)
def test_kind_for_status_default_table(status: int, kind: ErrorKind) -> None:
    assert kind_for_status(status) is kind


def test_retry_after_in_seconds_is_relative_to_now() -> None:
    assert parse_retry_after("29", NOW) == NOW + 29


def test_retry_after_accepts_fractional_seconds() -> None:
    assert parse_retry_after("1.5", NOW) == NOW + 1.5


def test_retry_after_http_date_is_an_epoch_time() -> None:
    when = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(when, usegmt=True), NOW) == when.timestamp()


def test_retry_after_in_the_past_means_now() -> None:
    assert parse_retry_after("Thu, 01 Jan 2015 00:00:00 GMT", NOW) == NOW


@pytest.mark.parametrize("value", [None, "", "soon", "-"])
def test_retry_after_that_is_missing_or_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_reset_header_in_milliseconds_becomes_seconds() -> None:
    assert parse_reset_ms("1788220800000") == 1_788_220_800.0


def test_reset_header_that_is_clearly_seconds_stays_seconds() -> None:
    assert parse_reset_ms("1788220800") == 1_788_220_800.0


@pytest.mark.parametrize("value", [None, "", "tomorrow", "0", True])
def test_reset_header_that_is_missing_or_garbage_is_none(value: object) -> None:
    assert parse_reset_ms(value) is None


def test_clean_redacts_the_secret_before_truncating() -> None:
    text = "x" * 230 + SECRET
    cleaned = clean(text, [SECRET])
    assert SECRET not in cleaned
    assert SECRET[:12] not in cleaned


def test_clean_makes_one_short_line() -> None:
    cleaned = clean("a\n\n  b\r\n" + "c" * 1000, [], limit=50)
    assert "\n" not in cleaned
    assert cleaned.startswith("a b c")
    assert len(cleaned) == 50


def test_load_json_tolerates_leading_blank_lines() -> None:
    assert load_json(b'\n\n\n   \n{"a": 1}') == {"a": 1}


def test_load_json_of_invalid_utf8_or_html_is_none() -> None:
    assert load_json(b"\xff\xfe{not json") is None
    assert load_json(b"<html><body>502 Bad Gateway</body></html>") is None


def test_body_excerpt_of_an_html_page_is_short_and_single_line() -> None:
    page = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>" + b"x" * 5000 + b"</body></html>"
    message = body_excerpt(502, page, [])
    assert message.startswith("HTTP 502: <html> <head><title>502 Bad Gateway</title>")
    assert "\n" not in message
    assert len(message) < 140


def test_body_excerpt_of_an_empty_body_says_so() -> None:
    assert body_excerpt(503, b"", []) == "HTTP 503 with an empty body"


def test_body_excerpt_survives_invalid_utf8() -> None:
    assert body_excerpt(500, b"oops \xff\xfe", []).startswith("HTTP 500: oops")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), ErrorKind.CONNECTION),
        (httpx.ConnectTimeout("timed out"), ErrorKind.TIMEOUT),
        (httpx.ReadTimeout("timed out"), ErrorKind.TIMEOUT),
        (httpx.WriteTimeout("timed out"), ErrorKind.TIMEOUT),
        (httpx.PoolTimeout("timed out"), ErrorKind.TIMEOUT),
        (
            httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
            ErrorKind.CONNECTION,
        ),
        (httpx.ReadError("connection reset"), ErrorKind.CONNECTION),
        (httpx.DecodingError("bad gzip"), ErrorKind.BAD_RESPONSE),
    ],
)
def test_transport_errors_are_classified(exc: Exception, kind: ErrorKind) -> None:
    error = transport_error(exc, "openrouter")
    assert error.kind is kind
    assert error.provider == "openrouter"
    assert error.status is None


# --- transport errors name the endpoint ----------------------------------------------------------------

LOCAL_CHAT = "http://localhost:11434/api/chat?stream=true"


def sent_to(exc: httpx.HTTPError, url: str, cause: BaseException | None = None) -> httpx.HTTPError:
    """``exc`` as httpx raises it: with the request it failed on, and the OS error behind it."""
    exc.request = httpx.Request("POST", url)
    exc.__cause__ = cause
    return exc


def anyio_refusal(*errors: OSError) -> OSError:
    """anyio's "All connection attempts failed", caused by one refusal or a group of them (one per address)."""
    behind = errors[0] if len(errors) == 1 else ExceptionGroup("multiple connection attempts failed", list(errors))
    failed = OSError("All connection attempts failed")
    failed.__cause__ = behind
    return failed


def test_refused_connection_names_the_endpoint_and_is_unreachable() -> None:
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 11434)")
    exc = sent_to(httpx.ConnectError("All connection attempts failed"), LOCAL_CHAT, anyio_refusal(refused))
    error = transport_error(exc, "ollama-local")
    assert (error.kind, error.cause, error.message) == (
        ErrorKind.CONNECTION,
        Cause.UNREACHABLE,
        "http://localhost:11434 refused the connection",
    )


def test_refusal_of_every_address_tried_is_a_refusal() -> None:
    refusals = (ConnectionRefusedError(111, "Connect call failed ('::1', 9)"), ConnectionRefusedError(111, "x"))
    exc = sent_to(httpx.ConnectError("All connection attempts failed"), "http://127.0.0.1:9/", anyio_refusal(*refusals))
    assert transport_error(exc, "p").message == "http://127.0.0.1:9 refused the connection"


def test_unresolvable_host_names_the_host_and_the_endpoint() -> None:
    lookup = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    exc = sent_to(
        httpx.ConnectError("[Errno -2] Name or service not known"), "https://openrouter.example/api/v1/x", lookup
    )
    error = transport_error(exc, "openrouter")
    assert (error.kind, error.cause, error.message) == (
        ErrorKind.CONNECTION,
        Cause.UNREACHABLE,
        "could not resolve openrouter.example (https://openrouter.example)",
    )


def test_connect_timeout_names_the_endpoint() -> None:
    error = transport_error(sent_to(httpx.ConnectTimeout(""), "https://ollama.com/api/chat"), "ollama")
    assert (error.kind, error.cause, error.message) == (
        ErrorKind.TIMEOUT,
        None,
        "timed out connecting to https://ollama.com",
    )


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (httpx.ReadTimeout(""), "timed out waiting for data from https://ollama.com"),
        (httpx.WriteTimeout(""), "timed out sending the request to https://ollama.com"),
        (httpx.PoolTimeout(""), "timed out waiting for a free connection to https://ollama.com"),
    ],
)
def test_other_timeouts_say_what_was_awaited_from_which_endpoint(exc: httpx.HTTPError, message: str) -> None:
    error = transport_error(sent_to(exc, "https://ollama.com/api/chat"), "ollama")
    assert (error.kind, error.message) == (ErrorKind.TIMEOUT, message)


def test_reset_mid_answer_names_the_endpoint_and_is_not_unreachable() -> None:
    reset = ConnectionResetError(104, "Connection reset by peer")
    error = transport_error(sent_to(httpx.ReadError(""), "http://127.0.0.1:9/api/chat", reset), "ollama")
    assert (error.kind, error.cause, error.message) == (
        ErrorKind.CONNECTION,
        None,
        "connection to http://127.0.0.1:9 was reset",
    )


def test_other_connect_failure_names_the_endpoint_and_keeps_the_reason() -> None:
    exc = sent_to(
        httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "https://x.example/a"
    )
    error = transport_error(exc, "p")
    assert (error.cause, error.message) == (
        Cause.UNREACHABLE,
        "could not connect to https://x.example: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
    )


def test_connection_broken_otherwise_names_the_endpoint_and_keeps_the_reason() -> None:
    exc = sent_to(httpx.RemoteProtocolError("peer closed connection without sending complete message body"), LOCAL_CHAT)
    error = transport_error(exc, "p")
    assert (error.kind, error.cause, error.message) == (
        ErrorKind.CONNECTION,
        None,
        "connection to http://localhost:11434 failed: peer closed connection without sending complete message body",
    )


def test_undecodable_body_names_the_endpoint() -> None:
    error = transport_error(sent_to(httpx.DecodingError("bad gzip"), "https://ollama.com/api/chat"), "ollama")
    assert (error.kind, error.message) == (
        ErrorKind.BAD_RESPONSE,
        "response body from https://ollama.com could not be decoded",
    )


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://openrouter.ai/api/v1/chat/completions?debug=1#frag", "https://openrouter.ai"),
        ("https://user:hunter2@proxy.example:8443/v1/chat?key=abc", "https://proxy.example:8443"),
        ("https://ollama.com:443/api/chat", "https://ollama.com"),
        ("http://[::1]:11434/api/chat?x=y", "http://[::1]:11434"),
    ],
)
@pytest.mark.parametrize(
    "exc",
    [
        lambda: httpx.ConnectError("[Errno 111] Connection refused"),
        lambda: httpx.ConnectError("[Errno -2] Name or service not known"),
        lambda: httpx.ConnectError("TLS handshake failed"),
        lambda: httpx.ConnectTimeout(""),
        lambda: httpx.ReadError("connection reset"),
        lambda: httpx.RemoteProtocolError("peer closed connection"),
    ],
    ids=["refused", "dns", "connect", "timeout", "reset", "protocol"],
)
def test_the_message_names_the_origin_never_the_path_query_or_user_info(
    exc: Callable[[], httpx.HTTPError], url: str, origin: str
) -> None:
    message = transport_error(sent_to(exc(), url), "p").message
    assert origin in message
    for hidden in ("/api", "/v1", "?", "debug", "key=", "frag", "user", "hunter2", "chat"):
        assert hidden not in message, (hidden, message)


@pytest.mark.parametrize(
    ("exc", "message", "cause"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "the host refused the connection", Cause.UNREACHABLE),
        (
            httpx.ConnectError("[Errno -2] Name or service not known"),
            "could not resolve the host: [Errno -2] Name or service not known",
            Cause.UNREACHABLE,
        ),
        (httpx.ConnectTimeout("timed out"), "timed out connecting", None),
        (httpx.ReadError("[Errno 104] Connection reset by peer"), "the connection was reset", None),
        (httpx.RemoteProtocolError("peer closed connection"), "connection failed: peer closed connection", None),
    ],
)
def test_without_a_request_the_message_still_says_what_happened(
    exc: httpx.HTTPError, message: str, cause: Cause | None
) -> None:
    error = transport_error(exc, "p")
    assert (error.message, error.cause) == (message, cause)


def test_a_secret_in_the_reason_is_redacted() -> None:
    exc = sent_to(httpx.ConnectError(f"proxy refused token {SECRET}\nand more"), "https://openrouter.ai/api/v1")
    message = transport_error(exc, "openrouter", secrets=[SECRET]).message
    assert SECRET not in message and "\n" not in message
    redacted = redact(SECRET, [SECRET])
    assert message == f"could not connect to https://openrouter.ai: proxy refused token {redacted} and more"


async def test_a_real_refused_connection_names_the_endpoint() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.post(f"http://127.0.0.1:{port}/api/chat?secret=no", json={})
    error = transport_error(caught.value, "ollama-local")
    assert (error.cause, error.message) == (Cause.UNREACHABLE, f"http://127.0.0.1:{port} refused the connection")


def test_adapters_are_registered_by_wire_protocol() -> None:
    assert {
        "openrouter": OpenRouterAdapter,
        "ollama": OllamaAdapter,
        "openai": OpenAIAdapter,
        "azure": AzureAdapter,
        "cloudflare": CloudflareAdapter,
    }.items() <= ADAPTERS.items()


def test_every_protocol_a_provider_can_be_configured_with_has_an_adapter() -> None:
    from llmroute.config_providers import BUILTIN_PROVIDERS, CUSTOM_PROTOCOLS

    assert {p.protocol for p in BUILTIN_PROVIDERS} | set(CUSTOM_PROTOCOLS) <= set(ADAPTERS)


def test_importing_the_providers_does_not_import_httpx() -> None:
    code = "import sys, llmroute.providers; sys.exit('httpx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("text", ["0\x1f", "\x1c7", "٣", "1\u2007"])
def test_a_count_spelled_with_characters_int_refuses_is_no_count(text: str) -> None:
    assert as_int(text) is None


def test_a_count_between_blanks_is_read() -> None:
    assert as_int(" 42\n") == 42


# --- a prompt longer than the model's context -----------------------------------------------------------------


def _context_errors() -> dict[str, ProviderError]:
    """Each provider's documented (or captured) answer to a prompt longer than the model's context."""
    from llmroute.providers import anthropic, azure, bedrock, cloudflare, gemini, ollama, openai_api, openrouter

    return {
        "openai": openai_api.classify_error(
            400,
            {
                "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in "
                "4194304 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            },
            {},
            (),
            NOW,
        ),
        "azure": azure.classify_error(
            400,
            {"code": "context_length_exceeded", "message": "This model's maximum context length is 128000 tokens."},
            {},
            (),
            NOW,
        ),
        "openrouter": openrouter.classify_error(
            400,
            {
                "code": 400,
                "message": "This endpoint's maximum context length is 131072 tokens. However, you requested about "
                "4194304 tokens (4194304 of text input). Please reduce the length of either one.",
                "metadata": {"error_type": "context_length_exceeded"},
            },
            {},
            (),
            NOW,
        ),
        "anthropic": anthropic.classify_error(
            400,
            {"type": "invalid_request_error", "message": "prompt is too long: 4194304 tokens > 200000 maximum"},
            {},
            (),
            NOW,
        ),
        "gemini": gemini.classify_error(
            400,
            {
                "code": 400,
                "message": "The input token count (4194304) exceeds the maximum number of tokens allowed (1048576).",
                "status": "INVALID_ARGUMENT",
            },
            (),
            NOW,
        ),
        "ollama": ollama.classify_error(400, "the input length exceeds the context length", {}, (), NOW),
        "bedrock": bedrock.classify_error(400, "ValidationException", "Input is too long for requested model.", ()),
        "cloudflare": cloudflare.classify_error(
            400,
            {
                "code": 5021,
                "message": "AiError: The estimated number of input and maximum output tokens (4194304) exceeded "
                "this model context window limit (24000).",
            },
            {},
            (),
            NOW,
        ),
    }


@pytest.mark.parametrize("provider", list(_context_errors()))
def test_a_prompt_longer_than_the_context_is_a_bad_request_about_its_context_length(provider: str) -> None:
    failure = _context_errors()[provider]
    assert (failure.kind, failure.cause) == (ErrorKind.BAD_REQUEST, Cause.CONTEXT_LENGTH)


def test_another_bad_request_is_not_about_the_context_length() -> None:
    from llmroute.providers import openai_api

    failure = openai_api.classify_error(
        400, {"message": "Invalid value for 'temperature'", "type": "invalid_request_error"}, {}, (), NOW
    )
    assert (failure.kind, failure.cause) == (ErrorKind.BAD_REQUEST, None)
