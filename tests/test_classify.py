from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from llmroute.errors import ErrorKind
from llmroute.providers import ADAPTERS, OllamaAdapter, OpenRouterAdapter
from llmroute.providers.classify import (
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


def test_adapters_are_registered_by_wire_protocol() -> None:
    assert {"openrouter": OpenRouterAdapter, "ollama": OllamaAdapter} == ADAPTERS


def test_importing_the_providers_does_not_import_httpx() -> None:
    code = "import sys, llmroute.providers; sys.exit('httpx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
