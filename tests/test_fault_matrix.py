"""The fault matrix: one row per provider fault, each run end to end through the real CLI.

Every row scripts a fault on key 1 of one wire (OpenRouter, Ollama Cloud, OpenAI, Azure OpenAI,
Cloudflare Workers AI, and the native wires: Anthropic, Gemini, Bedrock) on the fake server on 127.0.0.1, with two keys of that wire configured so
that failover shows, and runs ``llmroute chat -m <pinned model> --timeout T hi``. It then checks
what the user sees (exit code, the one ``error:`` line, stdout), what the state file says about
key 1 (cooling until when, disabled, unavailable for the model, or untouched; at which scope) and
about the provider's circuit breaker, and the ledger: exactly
one row per HTTP attempt, key 1's rows with the expected outcome, kind and status. The fake's
request log proves how often key 1 was contacted, and a second run proves that a key the row
cooled or disabled is not contacted again. No run may print a traceback (every CLI run passes
the ``tests.conftest`` checks) or outlast its deadline, and no run may put a key in a URL (Gemini accepts
``?key=``; ``keys_in_urls`` must stay empty on every row).

A row scripts one behaviour per attempt it expects on key 1 (two for a fault that is retried),
so a row that makes fewer attempts than it should leaves a behaviour unused and fails.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest

from llmroute.cli.failures import ExitStatus
from llmroute.config import load_settings
from llmroute.store import Store
from llmroute.store import Hold
from llmroute.store.ledger import AttemptRow
from tests.conftest import (
    ANTHROPIC_KEYS,
    AWS_ACCESS_KEY_IDS,
    AZURE_KEYS,
    CLOUDFLARE_ACCOUNTS,
    CLOUDFLARE_TOKENS,
    GEMINI_KEYS,
    OLLAMA_KEYS,
    OPENAI_KEYS,
    OR_KEYS,
    Cli,
    Result,
    keys_env,
    with_env,
)
from tests.fakes import (
    BR_INVALID_TOKEN,
    OA_SERVER_ERROR,
    Behaviour,
    ErrorResponse,
    FakeProvider,
    an_400_credit,
    an_400_usage_limits,
    an_401,
    an_402_billing,
    an_404,
    an_429,
    an_500,
    an_529,
    an_spend_limit,
    an_stream_error,
    anthropic_error,
    az_400_content_filter,
    az_401,
    az_404_deployment,
    az_429,
    azure_error,
    br_access_denied,
    br_corrupt_crc,
    br_expired_token,
    br_internal,
    br_invalid_model,
    br_invalid_signature,
    br_model_error,
    br_model_not_ready,
    br_model_timeout,
    br_not_found,
    br_on_demand_unsupported,
    br_quota,
    br_stream_exception,
    br_throttling,
    br_tokens_per_day,
    br_truncated,
    br_unavailable,
    br_unrecognized_client,
    br_validation,
    cf_3036,
    cf_3040,
    cf_4006,
    cf_5007,
    cf_5018,
    cf_10000,
    cf_code,
    cf_error,
    cf_timeout_text,
    cloudflare_524,
    drop_connection,
    error,
    gemini_error,
    gm_400,
    gm_400_key_invalid,
    gm_400_location,
    gm_403,
    gm_404,
    gm_429_limit_zero,
    gm_429_per_day,
    gm_429_per_minute,
    gm_500,
    gm_503,
    gm_504,
    gm_blocked,
    gm_wrapped,
    hang,
    html_error,
    http_date,
    huge_error,
    oa_401,
    oa_401_no_organization,
    oa_403_unsupported_country,
    oa_404_model_not_found,
    oa_429_insufficient_quota,
    oa_429_rate_limit,
    oa_429_too_large,
    oa_500,
    oa_503,
    oa_responses_only,
    oa_stream_error,
    oll_401,
    oll_402_usage_limit,
    oll_403_cloud_disabled,
    oll_404,
    oll_503_busy,
    oll_status,
    oll_usage_limit,
    ollama_error,
    openai_error,
    openrouter_error,
    or_200_error_only,
    or_401,
    or_402_credits,
    or_402_insufficient,
    or_403_forbidden,
    or_403_moderation,
    or_403_region,
    or_404_no_endpoints,
    or_429,
    or_502_raw,
    or_blank_lines_json,
    or_daily_cap,
    or_status,
    reply,
    stream_reply,
)
from tests.fakes import anthropic_wire, bedrock_wire
from tests.fakes.records import RecordedRequest

Wire = Literal["openrouter", "ollama", "openai", "azure", "cloudflare", "anthropic", "gemini", "bedrock"]
WIRES: tuple[Wire, ...] = ("openrouter", "ollama")
"""The wires the generic rows (``both``: framing, encodings, the network, 50 MB) run on. OpenAI, Azure and
Cloudflare have rows of their own for each documented status and body (``OPENAI_ROWS``, ...): their SSE and body
reader is OpenRouter's (one ``OpenAIWireAdapter``), which the generic rows already put through its paces."""
CF_MODEL = "@cf/meta/llama-3.1-8b-instruct"
MODEL: dict[Wire, str] = {
    "openrouter": "openrouter:openai/gpt-4o-mini",
    "ollama": "ollama:gpt-oss:120b",
    "openai": "openai:gpt-4o-mini",
    "azure": "azure:my-gpt4o-mini",  # a pinned deployment, used as given
    "cloudflare": f"cloudflare:{CF_MODEL}",
    "anthropic": "anthropic:claude-haiku-4-5",
    "gemini": "gemini:gemini-2.5-flash",
    "bedrock": "bedrock:anthropic.claude-3-5-haiku-20241022-v1:0",  # a ``:`` in the id: signed as ``%253A``
}
KEYS: dict[Wire, tuple[str, str]] = {
    "openrouter": (OR_KEYS[0], OR_KEYS[1]),
    "ollama": (OLLAMA_KEYS[0], OLLAMA_KEYS[1]),
    "openai": (OPENAI_KEYS[0], OPENAI_KEYS[1]),
    "azure": (AZURE_KEYS[0], AZURE_KEYS[1]),  # sent as ``api-key``: the fake scripts and logs them by it
    "cloudflare": (CLOUDFLARE_TOKENS[0], CLOUDFLARE_TOKENS[1]),  # on two accounts unless a row shares one
    "anthropic": (ANTHROPIC_KEYS[0], ANTHROPIC_KEYS[1]),  # sent as ``x-api-key``
    "gemini": (GEMINI_KEYS[0], GEMINI_KEYS[1]),  # sent as ``x-goog-api-key``
    "bedrock": (AWS_ACCESS_KEY_IDS[0], AWS_ACCESS_KEY_IDS[1]),  # SigV4: the fake scripts and logs by access key id
}
LABELS: dict[Wire, tuple[str, str]] = {
    "openrouter": ("OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2"),
    "ollama": ("OLLAMA_API_KEY", "OLLAMA_API_KEY_2"),
    "openai": ("OPENAI_API_KEY", "OPENAI_API_KEY_2"),
    "azure": ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_API_KEY_2"),
    "cloudflare": ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_TOKEN_2"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY_2"),
    "gemini": ("GEMINI_API_KEY", "GEMINI_API_KEY_2"),
    "bedrock": ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID_2"),
}
BASE_URL_VARIABLE: dict[Wire, str] = {
    "openrouter": "OPENROUTER_BASE_URL",
    "ollama": "OLLAMA_BASE_URL",
    "openai": "OPENAI_BASE_URL",
    "azure": "AZURE_OPENAI_ENDPOINT",
    "cloudflare": "CLOUDFLARE_BASE_URL",
    "anthropic": "ANTHROPIC_BASE_URL",
    "gemini": "GEMINI_BASE_URL",
    "bedrock": "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
}
BASE_PATH: dict[Wire, str] = {
    "openrouter": "/api/v1",
    "ollama": "",
    "openai": "/openai/v1",
    "azure": "/azure",
    "cloudflare": "/cloudflare/client/v4",
    "anthropic": "/anthropic",
    "gemini": "/gemini/v1beta",
    "bedrock": "/bedrock",
}
"""The path of each wire's base URL on the fake (kept when a row points the wire at an unreachable host)."""
ALIAS = "kimi-k2.6"
"""Served on both wires (``ollama:kimi-k2.6``, ``openrouter:moonshotai/kimi-k2.6``): rows whose
whole provider is unreachable let the other one answer through it."""
OTHER: dict[Wire, tuple[Wire, str]] = {
    "openrouter": ("ollama", ALIAS),
    "ollama": ("openrouter", ALIAS),
    "openai": ("openrouter", "gpt-4o-mini"),  # openai:gpt-4o-mini, then openrouter:openai/gpt-4o-mini
    "azure": ("openrouter", "gpt-4o-mini"),  # azure:<the deployment mapped to it>, openrouter:openai/gpt-4o-mini
    "cloudflare": ("ollama", "gpt-oss:120b"),  # cloudflare:@cf/openai/gpt-oss-120b first (CONFIG), ollama:gpt-oss:120b
    # The native wires: an alias of CONFIG's, their model first, then openrouter:openai/gpt-4o-mini.
    "anthropic": ("openrouter", "fault-alias"),
    "gemini": ("openrouter", "fault-alias"),
    "bedrock": ("openrouter", "fault-alias"),
}
"""For rows with ``other``: the provider configured beside the faulty one (one key) and the alias both serve."""
DEPLOYMENTS = '[providers.azure.deployments]\n"gpt-4o-mini" = "my-gpt4o-mini"\n'
CONFIG: dict[Wire, str] = {
    "azure": DEPLOYMENTS,
    "cloudflare": '[routing]\nprovider_order = ["cloudflare"]\n',  # the faulty provider first, the rest after it
    **{
        wire: f'[routing]\nprovider_order = ["{wire}"]\n[aliases]\n'
        f'"fault-alias" = ["{MODEL[wire]}", "openrouter:openai/gpt-4o-mini"]\n'
        for wire in ("anthropic", "gemini", "bedrock")
    },
}
"""A config file for a wire's rows (``LLMROUTE_CONFIG``): what its alias needs to reach it first."""
ANSWER = "Hello from the fake provider."
DNS_HOST = "llmroute-dns-test.invalid"
SLACK = 2.5
"""Seconds a run may take beyond its ``--timeout``: starting and stopping the process."""
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0

Fault = Behaviour | Callable[[float], Behaviour]
"""A behaviour, or one built from the time of the run (for hints that name an absolute time)."""


@dataclass(frozen=True)
class Cooled:
    """Key 1 cools down ``seconds`` (up to ``upto``) past the run, or until ``at(time of the run)``,
    give or take ``slack`` seconds."""

    seconds: float = 0.0
    upto: float | None = None
    at: Callable[[float], float] | None = None
    slack: float = 2.0


UNTOUCHED: Literal["untouched"] = "untouched"
DISABLED: Literal["disabled"] = "disabled"
UNAVAILABLE: Literal["unavailable"] = "unavailable"
"""Held for the model until ``reset-limits`` or the provider's catalogue is fetched again (not for a time)."""
KeyOutcome = Cooled | Literal["untouched", "disabled", "unavailable"]
Answerer = Literal["key1", "key2", "other"] | None
Host = Literal["fake", "connection-refused", "dns-failure"]
UNREACHABLE: tuple[tuple[Host, str], ...] = (
    ("connection-refused", "refused the connection"),
    ("dns-failure", f"could not resolve {DNS_HOST} (https://{DNS_HOST}:9)"),
)
"""Ways key 1's whole host can be out of reach, with the reason the error line gives (after the endpoint's
origin, which :func:`test_fault` checks on its own: the refused port is only known at run time)."""


@dataclass(frozen=True)
class Row:
    id: str
    wire: Wire
    faults: tuple[Fault, ...]
    """Scripted on key 1, one per attempt key 1 should see (none when its host is unreachable)."""
    exit: ExitStatus
    key1: KeyOutcome
    kind: str | None
    """``error_kind`` of key 1's ledger rows; None when key 1 answered."""
    status: int | None = None
    """``http_status`` of key 1's ledger rows."""
    answered: Answerer = "key2"
    stdout: str = ANSWER + "\n"
    partial: bool = False
    """``stdout`` is only the start of what was printed (a stream that broke off)."""
    stderr: str | None = None
    """A piece of the one ``error:`` line; None: nothing on stderr at all."""
    message: str | None = None
    """A piece of key 1's last ledger message."""
    args: tuple[str, ...] = ()
    timeout: float = 5.0
    host: Host = "fake"
    """Where key 1's provider points: the fake, a closed port, or a name that does not resolve."""
    other: bool = False
    """Configure the other wire too (one key) and ask for an alias both serve."""
    tries: int | None = None
    """Attempts on key 1 when they never reach the fake (default: one per scripted fault)."""
    breaker: int = 0
    """The provider's consecutive breaker failures after the run (a success resets it)."""
    second_exit: ExitStatus = ExitStatus.OK
    scope: str | None = None
    """The scope of key 1's hold (``key``, ``pool``, ``pool_model``, ...), where the row names it."""
    shared_account: bool = False
    """Cloudflare: key 2 is a second token of key 1's account (one pool), not of an account of its own."""
    second_run: bool = True
    """Run again to prove key 1 is not contacted while held; off only where the hold ends before a run could start."""
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())

    @property
    def attempts(self) -> int:
        return self.tries if self.tries is not None else len(self.faults)

    def param(self) -> Any:
        return pytest.param(self, id=f"{self.wire}-{self.id}", marks=self.marks)


# --------------------------------------------------------------------------- row builders


def failover(wire: Wire, id: str, *faults: Fault, kind: str, status: int | None, key1: KeyOutcome, **kw: Any) -> Row:
    """Key 1 fails before any output; key 2 answers."""
    return Row(id, wire, faults, ExitStatus.OK, key1, kind, status, **kw)


def answered(wire: Wire, id: str, behaviour: Fault, stdout: str = ANSWER + "\n", **kw: Any) -> Row:
    """Key 1 answers despite the quirk."""
    return Row(id, wire, (behaviour,), ExitStatus.OK, UNTOUCHED, None, None, "key1", stdout, **kw)


def rejected(wire: Wire, id: str, fault: Fault, *, kind: str, status: int, stderr: str, **kw: Any) -> Row:
    """The request itself is refused (exit 6); no other key is tried, none is blamed."""
    return Row(id, wire, (fault,), ExitStatus.REJECTED, UNTOUCHED, kind, status, None, "", stderr=stderr, **kw)


def broken(wire: Wire, id: str, fault: Fault, *, stdout: str, kind: str, status: int | None, **kw: Any) -> Row:
    """The stream broke after the first token reached stdout (exit 7): no failover."""
    kw.setdefault("stderr", "after the answer began")
    kw.setdefault("partial", True)
    return Row(
        id, wire, (fault,), ExitStatus.STREAM_BROKEN, kw.pop("key1", UNTOUCHED), kind, status, None, stdout, **kw
    )


def timed_out(wire: Wire, id: str, fault: Fault, **kw: Any) -> Row:
    """The run's deadline ends it before any output (exit 4); the deadline is the caller's, so nobody is blamed."""
    return Row(id, wire, (fault,), ExitStatus.ALL_FAILED, UNTOUCHED, "timeout", None, None, "", **kw)


def both(id: str, faults: dict[Wire, Fault | tuple[Fault, ...]], make: Callable[..., Row], **kw: Any) -> list[Row]:
    """The same row for each wire, with that wire's own bytes for the fault.

    A keyword given as ``{"openrouter": ..., "ollama": ...}`` takes each wire's own value.
    """
    rows = []
    for wire, fault in faults.items():
        scripted = fault if isinstance(fault, tuple) else (fault,)
        own = {
            name: value[wire] if isinstance(value, dict) and set(value) == set(WIRES) else value
            for name, value in kw.items()
        }
        rows.append(make(wire, id, *scripted, **own))
    return rows


def twice(fault: Fault) -> tuple[Fault, Fault]:
    """A fault that persists through the one retry of the same key."""
    return (fault, fault)


def gzipped(response: ErrorResponse) -> ErrorResponse:
    return dataclasses.replace(response, gzip=True)


def next_multiple(period: float) -> Callable[[float], float]:
    return lambda now: (now // period + 1) * period


def next_utc_midnight(now: float) -> float:
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight + timedelta(days=1)).timestamp()


def next_monday_utc(now: float) -> float:
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight + timedelta(days=7 - midnight.weekday())).timestamp()


def sse(*chunks: bytes) -> ErrorResponse:
    return error(200, b"".join(chunks), content_type="text/event-stream")


def ndjson(*lines: bytes) -> ErrorResponse:
    return error(200, b"".join(lines), content_type="application/x-ndjson")


# --------------------------------------------------------------------------- the matrix

NO_STREAM = ("--no-stream",)
PROXY_PAGE = "HTTP 502: <html> <head><title>502 Bad Gateway</title>"
TOO_MANY = "too many requests"

ROWS: list[Row] = [
    # ---- HTTP statuses -----------------------------------------------------------------------
    *both(
        "400",
        {"openrouter": or_status(400), "ollama": oll_status(400)},
        rejected,
        kind="bad_request",
        status=400,
        stderr="rejected the request",
    ),
    *both(
        "401",
        {"openrouter": or_401(), "ollama": oll_401()},
        failover,
        kind="auth",
        status=401,
        key1=DISABLED,
    ),
    failover(
        "openrouter",
        "402-fewer-max-tokens",
        or_402_credits(),
        kind="quota",
        status=402,
        key1=Cooled(300),
        message="fewer max_tokens",
    ),
    failover(
        "openrouter",
        "402-out-of-credits",
        or_402_insufficient(),
        kind="quota",
        status=402,
        key1=Cooled(HOUR),
        message="Insufficient credits",
    ),
    failover("ollama", "402-usage-limit", oll_402_usage_limit(), kind="quota", status=402, key1=Cooled(HOUR)),
    *both(
        "403-forbidden",
        {"openrouter": or_403_forbidden(), "ollama": oll_403_cloud_disabled()},
        failover,
        kind="auth",
        status=403,
        key1=DISABLED,
    ),
    rejected("openrouter", "403-moderation", or_403_moderation(), kind="bad_request", status=403, stderr="blocked"),
    rejected(
        "openrouter",
        "403-region-restricted",
        or_403_region(),
        kind="model_not_found",
        status=403,
        stderr="no provider serves the model",
    ),
    *both(
        "404",
        {"openrouter": or_404_no_endpoints("openai/gpt-4o-mini"), "ollama": oll_404("gpt-oss:120b")},
        rejected,
        kind="model_not_found",
        status=404,
        stderr="no provider serves the model",
    ),
    *both(
        "408",
        {"openrouter": twice(or_status(408)), "ollama": twice(oll_status(408))},
        failover,
        kind="timeout",
        status=408,
        key1=Cooled(30),
    ),
    *both(
        "413",
        {"openrouter": or_status(413), "ollama": oll_status(413)},
        rejected,
        kind="bad_request",
        status=413,
        stderr="rejected the request",
    ),
    *both(
        "422",
        {"openrouter": or_status(422), "ollama": oll_status(422)},
        rejected,
        kind="bad_request",
        status=422,
        stderr="rejected the request",
    ),
    *both(
        "429-retry-after-seconds",
        {"openrouter": or_429(retry_after=120), "ollama": ollama_error(429, TOO_MANY, {"Retry-After": "120"})},
        failover,
        kind="rate_limited",
        status=429,
        key1=Cooled(120),
    ),
    *both(
        "429-retry-after-http-date",
        {
            "openrouter": lambda now: or_429(retry_after=http_date(now + 600)),
            "ollama": lambda now: ollama_error(429, TOO_MANY, {"Retry-After": http_date(now + 600)}),
        },
        failover,
        kind="rate_limited",
        status=429,
        key1=Cooled(600),
    ),
    failover(
        "openrouter",
        "429-reset-epoch-ms",
        lambda now: or_429(reset_ms=int((now + 900) * 1000)),
        kind="rate_limited",
        status=429,
        key1=Cooled(900),
    ),
    failover(
        "openrouter",
        "429-free-daily-cap",
        lambda now: or_daily_cap(int((now + 7200) * 1000)),
        kind="quota",
        status=429,
        key1=Cooled(7200),
        message="free-models-per-day",
    ),
    failover(
        "openrouter",
        "429-retry-after-seconds-in-body",
        or_429(retry_after_seconds=45),
        kind="rate_limited",
        status=429,
        key1=Cooled(45),
    ),
    *both(
        "429-no-hint",
        {"openrouter": or_429(), "ollama": ollama_error(429, TOO_MANY)},
        failover,
        kind="rate_limited",
        status=429,
        key1=Cooled(MINUTE),
    ),
    failover(
        "ollama",
        "429-session-usage-limit",
        oll_usage_limit("session"),
        kind="quota",
        status=429,
        key1=Cooled(at=next_multiple(5 * HOUR)),
    ),
    failover(
        "ollama",
        "429-hourly-usage-limit",
        oll_usage_limit("hourly"),
        kind="quota",
        status=429,
        key1=Cooled(at=next_multiple(HOUR)),
    ),
    failover(
        "ollama",
        "429-weekly-usage-limit",
        oll_usage_limit("weekly"),
        kind="quota",
        status=429,
        key1=Cooled(at=next_monday_utc),
    ),
    *both(
        "500",
        {"openrouter": or_status(500), "ollama": oll_status(500)},
        failover,
        kind="server",
        status=500,
        key1=Cooled(30),
    ),
    failover(
        "openrouter",
        "502-metadata-raw",
        or_502_raw(),
        kind="server",
        status=502,
        key1=Cooled(30),
        message="Provider returned error: {",
    ),
    failover("ollama", "502", oll_status(502), kind="server", status=502, key1=Cooled(30), message="unreachable"),
    *both(
        "503",
        {"openrouter": or_status(503), "ollama": oll_503_busy()},
        failover,
        kind="overloaded",
        status=503,
        key1=Cooled(30),
    ),
    failover(
        "openrouter",
        "503-retry-after",
        or_status(503, headers={"Retry-After": "90"}),
        kind="overloaded",
        status=503,
        key1=Cooled(90),
    ),
    *both(
        "504",
        {"openrouter": twice(or_status(504)), "ollama": twice(oll_status(504))},
        failover,
        kind="timeout",
        status=504,
        key1=Cooled(30),
    ),
    *both(
        "524",
        {"openrouter": twice(or_status(524)), "ollama": twice(oll_status(524))},
        failover,
        kind="timeout",
        status=524,
        key1=Cooled(30),
    ),
    failover(
        "openrouter",
        "524-cloudflare-page",
        *twice(cloudflare_524()),
        kind="timeout",
        status=524,
        key1=Cooled(30),
        message="<title>openrouter.ai | 524: A timeout occurred</title>",
    ),
    *both(
        "529",
        {"openrouter": or_status(529), "ollama": oll_status(529)},
        failover,
        kind="overloaded",
        status=529,
        key1=Cooled(30),
    ),
    # ---- the network ------------------------------------------------------------------------
    *[
        failover(
            wire,
            f"{host}-other-provider-answers",
            kind="connection",
            status=None,
            key1=Cooled(5),  # the endpoint, every key of it, cools briefly
            host=host,
            other=True,
            tries=2,
            answered="other",
            breaker=2,
            message=detail,
        )
        for host, detail in UNREACHABLE
        for wire in WIRES
    ],
    *[
        Row(
            f"{host}-nothing-else",
            "openrouter",
            (),
            ExitStatus.ALL_FAILED,
            Cooled(5),  # the endpoint, every key of it, cools briefly
            "connection",
            answered=None,
            stdout="",
            stderr=detail,
            host=host,
            tries=2,
            breaker=2,
            second_exit=ExitStatus.ALL_FAILED,
        )
        for host, detail in UNREACHABLE
    ],
    *both(
        "reset-mid-body-before-first-token",
        {wire: twice(drop_connection(200, reset=True, reply=stream_reply())) for wire in WIRES},
        failover,
        kind="connection",
        status=None,
        key1=Cooled(30),
        message="was reset",
    ),
    *both(
        "closed-mid-body-after-first-token",
        {wire: stream_reply(drop_after_tokens=2) for wire in WIRES},
        broken,
        stdout="Hello from",
        kind="connection",
        status=None,
        key1=Cooled(30),
        breaker=1,
    ),
    *both(
        "read-timeout-before-headers",
        {wire: hang(30) for wire in WIRES},
        timed_out,
        stderr="no answer within the 2s deadline",
        timeout=2.0,
    ),
    *both(
        "stall-after-first-token",
        {wire: stream_reply(stall_after_tokens=1) for wire in WIRES},
        broken,
        stdout="Hello",
        kind="timeout",
        status=None,
        stderr="the overall deadline ran out",
        timeout=2.0,
    ),
    # ---- streams -------------------------------------------------------------------------------
    answered("openrouter", "stream-without-done-after-finish", stream_reply(no_terminator=True)),
    broken(
        "ollama",
        "stream-without-done-object",
        stream_reply(no_terminator=True),
        stdout=ANSWER + "\n",
        partial=False,
        kind="bad_response",
        status=None,
        breaker=1,
        stderr="stream ended before completion",
    ),
    *both(
        "stream-ends-cleanly-mid-answer",
        {wire: stream_reply(end_after_tokens=2) for wire in WIRES},
        broken,
        stdout="Hello from\n",
        partial=False,
        kind="bad_response",
        status=None,
        breaker=1,
        stderr="stream ended before completion",
    ),
    *both(
        "error-chunk-before-first-token",
        {wire: stream_reply(error_after_tokens=0) for wire in WIRES},
        failover,
        kind="server",
        status={"openrouter": 502, "ollama": 200},  # Ollama's error line carries no code of its own
        key1=Cooled(30),
    ),
    failover(
        "openrouter",
        "error-only-stream",
        or_200_error_only(),
        kind="server",
        status=502,
        key1=Cooled(30),
        message="Provider returned error",
    ),
    *both(
        "error-chunk-after-first-token",
        {wire: stream_reply(error_after_tokens=2) for wire in WIRES},
        broken,
        status={"openrouter": 502, "ollama": 200},
        stdout="Hello from",
        kind="server",
        key1=Cooled(30),
        breaker=1,
    ),
    broken(
        "openrouter",
        "rate-limit-chunk-after-first-token",
        stream_reply(error_after_tokens=2, error_code=429),
        stdout="Hello from",
        kind="rate_limited",
        status=429,
        key1=Cooled(MINUTE),
    ),
    *both(
        "malformed-json-chunk",
        {
            "openrouter": sse(b'data: {"choices":[{"delta":{"content":"Hel\n\n', b"data: [DONE]\n\n"),
            "ollama": ndjson(b'{"model":"gpt-oss:120b","message":{"content":"Hel\n'),
        },
        failover,
        kind="bad_response",
        status=None,
        key1=UNTOUCHED,
        message="malformed JSON in stream",
    ),
    *both(
        "line-separators-inside-json-strings",
        {wire: stream_reply("one\u2028two\u2029three\x85four") for wire in WIRES},
        answered,
        stdout="one\u2028two\u2029three\x85four\n",
    ),
    *both(
        "surrogate-pair-split-across-chunks",
        {wire: stream_reply(chunks=("smile ", "\ud83d", "\ude00")) for wire in WIRES},
        answered,
        stdout="smile \U0001f600\n",
    ),
    *both(
        "lone-surrogate-escape",
        {wire: stream_reply(chunks=("smile ", "\ud83d", " ok")) for wire in WIRES},
        answered,
        stdout="smile \ufffd ok\n",
    ),
    # ---- bodies --------------------------------------------------------------------------------
    failover(
        "openrouter",
        "200-body-holding-only-error",
        or_200_error_only(),
        kind="server",
        status=502,
        key1=Cooled(30),
        args=NO_STREAM,
    ),
    answered("openrouter", "blank-lines-before-json", or_blank_lines_json(blank_lines=3, interval=0.2), args=NO_STREAM),
    *both(
        "malformed-json-body",
        {
            "openrouter": error(200, b'{"id":"gen-1","choices":[{"message":{"content":"Hel'),
            "ollama": error(200, b'{"model":"gpt-oss:120b","message":{"content":"Hel'),
        },
        failover,
        kind="bad_response",
        status=200,
        key1=UNTOUCHED,
        args=NO_STREAM,
        message="response is not a JSON object",
    ),
    *both(
        "html-502-from-a-proxy",
        {wire: html_error(502) for wire in WIRES},
        failover,
        kind="server",
        status=502,
        key1=Cooled(30),
        message=PROXY_PAGE,
    ),
    *both(
        "html-200-instead-of-a-stream",
        {wire: error(200, b"<html><body>Just a moment...</body></html>", content_type="text/html") for wire in WIRES},
        failover,
        kind="bad_response",
        status=200,
        key1=UNTOUCHED,
        message="HTTP 200: <html><body>Just a moment...",
    ),
    *both("gzip-stream", {wire: stream_reply(gzip=True) for wire in WIRES}, answered),
    *both("gzip-body", {wire: reply(gzip=True) for wire in WIRES}, answered, args=NO_STREAM),
    failover(
        "openrouter",
        "gzip-error-body",
        gzipped(or_status(500)),
        kind="server",
        status=500,
        key1=Cooled(30),
        message="Internal Server Error",
    ),
    *both(
        "corrupt-gzip-body",
        {wire: error(200, b"this is not gzip", headers={"Content-Encoding": "gzip"}) for wire in WIRES},
        failover,
        kind="bad_response",
        status=None,
        key1=UNTOUCHED,
        message="could not be decoded",
    ),
    *both(
        "huge-50mb-error-page",
        {wire: huge_error(502) for wire in WIRES},
        failover,
        kind="server",
        status=502,
        key1=Cooled(30),
        message="HTTP 502: <p>upstream said no.",
    ),
    failover(
        "openrouter",
        "huge-50mb-gzip-bomb-error-page",
        huge_error(502, gzip=True),
        kind="server",
        status=502,
        key1=Cooled(30),
        message="HTTP 502: <p>upstream said no.",
    ),
    *both(
        "huge-50mb-non-json-200-body",
        {wire: huge_error(200, content_type="application/json") for wire in WIRES},
        failover,
        kind="bad_response",
        status=200,
        key1=UNTOUCHED,
        args=NO_STREAM,
        message="larger than 16 MiB",
    ),
    *both(
        "invalid-utf8-in-stream",
        {wire: stream_reply("caf\udce9 au lait") for wire in WIRES},
        answered,
        stdout="caf\ufffd au lait\n",
    ),
    *both(
        "invalid-utf8-in-body",
        {wire: reply("caf\udce9 au lait") for wire in WIRES},
        answered,
        stdout="caf\ufffd au lait\n",
        args=NO_STREAM,
    ),
    *both(
        "invalid-utf8-in-error-body",
        {
            "openrouter": openrouter_error(502, "Provider returned error \udcff\udcfe"),
            "ollama": ollama_error(500, "runner crashed \udcff\udcfe"),
        },
        failover,
        status={"openrouter": 502, "ollama": 500},
        kind="server",
        key1=Cooled(30),
        message="\ufffd\ufffd",
    ),
]


# --------------------------------------------------------------------------- the providers on the OpenAI wire


def with_headers(response: ErrorResponse, **headers: str) -> ErrorResponse:
    """``response`` with exactly these headers (``retry_after_ms="12500"`` is ``retry-after-ms: 12500``)."""
    return dataclasses.replace(response, headers=tuple((k.replace("_", "-"), v) for k, v in headers.items()))


def refused_other_answers(wire: Wire) -> Row:
    """Key 1's whole host refuses the connection: the endpoint (every key) cools briefly, the other provider answers."""
    return failover(
        wire,
        "connection-refused-other-provider-answers",
        kind="connection",
        status=None,
        key1=Cooled(5),
        host="connection-refused",
        other=True,
        tries=2,
        answered="other",
        breaker=2,
        message="refused the connection",
        scope="endpoint",
    )


EXACT = 0.1
"""Slack for a wait the provider states exactly: the CLI adds it to a moment between the run's start and end."""
OA: Wire = "openai"
AZ: Wire = "azure"
CF: Wire = "cloudflare"
NOT_SERVED = "no provider serves the model"
AZ_DENIED = az_401().json["error"]["message"]

# OpenAI (providers-next §3): its error table, its reset hints, its streams.
OPENAI_ROWS: list[Row] = [
    failover(
        OA,
        "401-invalid-api-key",
        oa_401(OPENAI_KEYS[0]),  # the live message, which echoes the key masked
        kind="auth",
        status=401,
        key1=DISABLED,
        scope="key",
        message="Incorrect API key provided: sk-proj-**",
    ),
    failover(
        OA,
        "401-not-a-member-of-an-organization",
        oa_401_no_organization(),
        kind="auth",
        status=401,
        key1=DISABLED,
        scope="key",
        message="You must be a member of an organization",
    ),
    failover(
        OA,
        "403-unsupported-country-region-territory",
        oa_403_unsupported_country(),
        kind="auth",
        status=403,
        key1=DISABLED,
        scope="key",
        message="Country, region, or territory not supported",
    ),
    rejected(
        OA,
        "404-model-not-found",
        oa_404_model_not_found("gpt-4o-mini"),
        kind="model_not_found",
        status=404,
        stderr=NOT_SERVED,
        message="does not exist or you do not have access to it",
    ),
    # No Responses adapter yet: the model is not served here, and no key is blamed for it.
    rejected(
        OA,
        "404-only-supported-in-v1-responses",
        oa_responses_only(),
        kind="model_not_found",
        status=404,
        stderr=NOT_SERVED,
        message="only supported in v1/responses",
    ),
    rejected(
        OA,
        "404-not-a-chat-model",
        openai_error(
            404,
            "This is not a chat model and thus not supported in the v1/chat/completions endpoint. Did you mean to use "
            "v1/completions?",
            param="model",
        ),
        kind="model_not_found",
        status=404,
        stderr=NOT_SERVED,
        message="This is not a chat model",
    ),
    rejected(
        OA,
        "400-context-length-exceeded",
        openai_error(
            400,
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. "
            "Please reduce the length of the messages.",
            param="messages",
            code="context_length_exceeded",
        ),
        kind="bad_request",
        status=400,
        stderr="rejected the request: This model's maximum context length",
    ),
    # The exhausted limit's reset (x-ratelimit-remaining-requests: 0, reset 6m0s), not the tokens' 644ms nor the text.
    failover(
        OA,
        "429-reset-requests-6m0s",
        oa_429_rate_limit(reset_requests="6m0s", remaining_requests=0),
        kind="rate_limited",
        status=429,
        key1=Cooled(360, slack=EXACT),
        scope="key",
        message="Rate limit reached",
    ),
    # retry-after-ms outranks the reset headers.
    failover(
        OA,
        "429-retry-after-ms",
        oa_429_rate_limit(retry_after_ms=90500),
        kind="rate_limited",
        status=429,
        key1=Cooled(90.5, slack=EXACT),
        scope="key",
    ),
    # No x-ratelimit-* headers at all: the message's Go duration.
    failover(
        OA,
        "429-try-again-in-644ms",
        oa_429_rate_limit(limit_headers=False, try_again="644ms"),
        kind="rate_limited",
        status=429,
        key1=Cooled(0.644, slack=EXACT),
        scope="key",
        second_run=False,
    ),  # free again before a second process could start
    failover(
        OA,
        "429-try-again-in-2m59.56s",
        oa_429_rate_limit(limit_headers=False, try_again="2m59.56s"),
        kind="rate_limited",
        status=429,
        key1=Cooled(179.56, slack=EXACT),
        scope="key",
    ),
    # Money gone: the key's pool (itself) cools long, never for a reset hint; key 2 is a pool of its own.
    failover(
        OA,
        "429-insufficient-quota",
        oa_429_insufficient_quota(),
        kind="quota",
        status=429,
        key1=Cooled(HOUR, slack=EXACT),
        scope="pool",
        message="You exceeded your current quota",
    ),
    # Too large for key 1's tokens per minute, ever: waiting does not help, the key stays usable for others.
    failover(
        OA,
        "429-request-too-large",
        oa_429_too_large(),
        kind="rate_limited",
        status=429,
        key1=UNTOUCHED,
        message="Request too large for gpt-4o",
    ),
    failover(OA, "500", oa_500(), kind="server", status=500, key1=Cooled(30), scope="key", message=OA_SERVER_ERROR),
    failover(
        OA, "503-slow-down", oa_503(), kind="overloaded", status=503, key1=Cooled(30), scope="key", message="Slow Down"
    ),
    failover(
        OA,
        "error-chunk-before-first-token",
        oa_stream_error(),
        kind="server",
        status=200,
        key1=Cooled(30),
        scope="key",
        message=OA_SERVER_ERROR,
    ),
    failover(
        OA,
        "quota-error-chunk-before-first-token",
        sse(
            b'data: {"error":{"message":"You exceeded your current quota, please check your plan and billing '
            b'details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}\n\n'
        ),
        kind="quota",
        status=200,
        key1=Cooled(HOUR, slack=EXACT),
        scope="pool",
    ),
    broken(
        OA,
        "error-chunk-after-first-token",
        oa_stream_error(after_tokens=2),
        stdout="Hello from",
        kind="server",
        status=200,
        key1=Cooled(30),
        breaker=1,
        scope="key",
    ),
    broken(
        OA,
        "stream-ends-cleanly-mid-answer",
        stream_reply(end_after_tokens=2),
        stdout="Hello from\n",
        partial=False,
        kind="bad_response",
        status=None,
        breaker=1,
        stderr="stream ended before completion",
    ),
    broken(
        OA,
        "closed-mid-body-after-first-token",
        stream_reply(drop_after_tokens=2),
        stdout="Hello from",
        kind="connection",
        status=None,
        key1=Cooled(30),
        breaker=1,
        scope="key",
    ),
    refused_other_answers(OA),
]

# Azure OpenAI (providers-next §5): the api-key header, deployments, the content filter, three 429 texts.
AZURE_ROWS: list[Row] = [
    failover(AZ, "401", az_401(), kind="auth", status=401, key1=DISABLED, scope="key", message=AZ_DENIED[:60]),
    failover(
        AZ,
        "401-code-unauthorized",
        azure_error(401, "Unauthorized", AZ_DENIED),
        kind="auth",
        status=401,
        key1=DISABLED,
        scope="key",
    ),
    rejected(
        AZ,
        "404-deployment-not-found",
        az_404_deployment(),
        kind="model_not_found",
        status=404,
        stderr=NOT_SERVED,
        message="The API deployment for this resource does not exist",
    ),
    # The same verdict on every retry and every key: the request stops (exit 6), no key is blamed.
    rejected(
        AZ,
        "400-content-filter",
        az_400_content_filter(),
        kind="bad_request",
        status=400,
        stderr="rejected the request: The response was filtered",
        message="content management policy",
    ),
    # The reference: "Falling back to a non-Azure provider is the only route" (no other Azure key: same verdict).
    Row(
        "400-content-filter-a-non-azure-provider-answers",
        AZ,
        (az_400_content_filter(),),
        ExitStatus.OK,
        UNTOUCHED,
        "bad_request",
        400,
        answered="other",
        other=True,
        message="content management policy",
    ),
    # "Try again in N seconds." with no header: the text is the only hint.
    failover(
        AZ,
        "429-try-again-in-n-seconds",
        az_429(45, "simple", header=False),
        kind="rate_limited",
        status=429,
        key1=Cooled(45, slack=EXACT),
        scope="key",
        message="Rate limit is exceeded. Try again in 45 seconds.",
    ),
    # The token rate limit: retry-after and "Please retry after 86400 seconds" agree on a day.
    failover(
        AZ,
        "429-token-rate-limit-retry-after-86400",
        az_429(text="tokens"),
        kind="rate_limited",
        status=429,
        key1=Cooled(DAY, slack=EXACT),
        scope="key",
        message="exceeded token rate limit",
    ),
    # Peak load: the retry-after-ms header (12.5 s) outranks the text's "Please retry after 20 seconds".
    failover(
        AZ,
        "429-peak-load-retry-after-ms",
        with_headers(az_429(text="peak", header=False), retry_after_ms="12500"),
        kind="rate_limited",
        status=429,
        key1=Cooled(12.5, slack=EXACT),
        scope="key",
        message="peak load",
    ),
    # Not quoted in the reference: Azure's envelope with its usual codes.
    failover(
        AZ,
        "500",
        azure_error(500, "InternalServerError", "The server had an error while processing your request."),
        kind="server",
        status=500,
        key1=Cooled(30),
        scope="key",
    ),
    failover(
        AZ,
        "503",
        azure_error(503, "ServiceUnavailable", "The service is temporarily unable to process your request."),
        kind="overloaded",
        status=503,
        key1=Cooled(30),
        scope="key",
    ),
    refused_other_answers(AZ),
]

# Cloudflare Workers AI (providers-next §2): every documented code, the 4006 and timeout text shapes; a key's pool
# is its account, so key 2 is on another account (unless the row is about a shared one).
CLOUDFLARE_ROWS: list[Row] = [
    failover(
        CF,
        "10000-authentication-error",
        cf_10000(),
        kind="auth",
        status=403,
        key1=DISABLED,
        scope="key",
        message="10000: Authentication error",
    ),
    failover(
        CF,
        "10000-authentication-error-401",
        cf_error(401, 10000, "Authentication error"),
        kind="auth",
        status=401,
        key1=DISABLED,
        scope="key",
    ),
    failover(
        CF,
        "3023-service-unavailable-for-account",
        cf_code(3023),
        kind="auth",
        status=403,
        key1=DISABLED,
        scope="key",
        message="3023: Service unavailable for account",
    ),
    failover(
        CF,
        "3036-daily-free-allocation",
        cf_3036(),
        kind="quota",
        status=429,
        key1=Cooled(at=next_utc_midnight, slack=EXACT),
        scope="pool",
        message="3036: You have used up",
    ),
    failover(
        CF,
        "4006-daily-allocation-text-shape",
        cf_4006(),
        kind="quota",
        status=429,
        key1=Cooled(at=next_utc_midnight, slack=EXACT),
        scope="pool",
        message="4006: you have used up",
    ),
    Row(
        "3036-on-a-shared-account",
        CF,
        (cf_3036(),),
        ExitStatus.LIMITED,
        Cooled(at=next_utc_midnight, slack=EXACT),
        "quota",
        429,
        answered=None,  # key 2 draws on the same allocation: skipped, never asked
        stdout="",
        stderr="is cooling down after quota (3036: You have used up",
        scope="pool",
        shared_account=True,
        second_exit=ExitStatus.LIMITED,
    ),
    failover(
        CF,
        "3040-no-more-data-centers",
        cf_3040(),
        kind="overloaded",
        status=429,
        key1=Cooled(30),
        scope="key",
        message="3040: No more data centers",
    ),
    rejected(
        CF,
        "5007-no-such-model",
        cf_5007(CF_MODEL),
        kind="model_not_found",
        status=400,
        stderr=NOT_SERVED,
        message=f"5007: No such model {CF_MODEL} or task",
    ),
    rejected(
        CF,
        "3042-model-name-invalid",
        cf_code(3042),
        kind="model_not_found",
        status=404,
        stderr=NOT_SERVED,
        message="3042: The model name is invalid",
    ),
    # Not for this account (terms not agreed, not allowed): the model is unavailable to the account's pool only.
    *[
        failover(CF, name, fault, kind="auth", status=403, key1=UNAVAILABLE, scope="pool_model", message=text)
        for name, fault, text in (
            ("5016-model-terms-not-agreed", cf_code(5016), "5016: User has not agreed"),
            ("5018-account-not-allowed-this-model", cf_5018(), "5018: The account is not allowed"),
            ("3041-account-not-allowed-this-model", cf_code(3041), "3041: The account is not allowed"),
        )
    ],
    *[
        rejected(CF, name, cf_code(code), kind="bad_request", status=status, stderr="rejected the request")
        for name, code, status in (
            ("3006-request-too-large", 3006, 413),
            ("3003-missing-headers-or-body", 3003, 400),
            ("5004-invalid-base64", 5004, 400),
        )
    ],
    failover(
        CF,
        "3007-request-timeout",
        *twice(cf_code(3007)),
        kind="timeout",
        status=408,
        key1=Cooled(30),
        scope="key",
        message="3007: Request timeout",
    ),
    failover(
        CF, "3008-request-aborted", *twice(cf_code(3008)), kind="timeout", status=408, key1=Cooled(30), scope="key"
    ),
    failover(
        CF,
        "timeout-text-shape",
        *twice(cf_timeout_text()),
        kind="timeout",
        status=400,
        key1=Cooled(30),
        scope="key",
        message="AiError: AiError: Request timeout",
    ),
    refused_other_answers(CF),
]

ROWS += OPENAI_ROWS + AZURE_ROWS + CLOUDFLARE_ROWS


# --------------------------------------------------------------------------- the native wires

AN: Wire = "anthropic"
GM: Wire = "gemini"
BR: Wire = "bedrock"
FLASH = "gemini-2.5-flash"
HAIKU = "anthropic.claude-3-5-haiku-20241022-v1:0"
EVENT_STREAM = "application/vnd.amazon.eventstream"
REJECTED = "rejected the request"


def next_pacific_midnight(now: float) -> float:
    """The next 00:00 in Los Angeles (Gemini's per-day quotas reset then), from the time-zone database."""
    zone = ZoneInfo("America/Los_Angeles")
    tomorrow = datetime.fromtimestamp(now, zone).date() + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone).timestamp()


def regain_day(now: float) -> str:
    """A date two days on, as Anthropic's "You will regain access on <date> at 00:00 UTC." names it."""
    return datetime.fromtimestamp(now + 2 * DAY, UTC).strftime("%Y-%m-%d")


def regain_at(now: float) -> float:
    return datetime.strptime(regain_day(now), "%Y-%m-%d").replace(tzinfo=UTC).timestamp()


def an_usage_limits(now: float) -> ErrorResponse:
    return an_400_usage_limits(regain_day(now))


def an_429_resets(now: float) -> ErrorResponse:
    """No ``retry-after``: two limits exhausted (input tokens in 90 s, requests in 150 s); the later one frees it."""
    return an_429(None, {"input-tokens": 90, "requests": 150})


def an_429_weekly(now: float) -> ErrorResponse:
    """No ``retry-after``; a weekly token limit exhausted (reset in 3 days) beside the per-minute headers."""
    return an_429(None, {"tokens-weekly": 3 * DAY})


def eventstream(*frames: bytes) -> ErrorResponse:
    """A 200 ConverseStream body of exactly these frames (built with real CRCs by ``bedrock_wire.frame``)."""
    return error(200, b"".join(frames), content_type=EVENT_STREAM)


BR_START = bedrock_wire.event_frame("messageStart", {"role": "assistant"})
BR_HELLO = bedrock_wire.event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}})
BR_STOP = bedrock_wire.event_frame("messageStop", {"stopReason": "end_turn"})

# Anthropic (providers-next §4): its error table by type and text, its two reset hints, its typed SSE events.
ANTHROPIC_ROWS: list[Row] = [
    rejected(
        AN,
        "400-invalid-request",
        anthropic_error(400, "invalid_request_error", "max_tokens: Field required"),
        kind="bad_request",
        status=400,
        stderr=f"{REJECTED}: invalid_request_error: max_tokens: Field required",
    ),
    # Money gone, dressed as a bad request: the key's pool (its organization) cools long; key 2 is another's.
    failover(
        AN,
        "400-credit-balance-too-low",
        an_400_credit(),
        kind="quota",
        status=400,
        key1=Cooled(HOUR, slack=EXACT),
        scope="pool",
        message="Your credit balance is too low",
    ),
    failover(
        AN,
        "400-usage-limits-until-the-regain-date",
        an_usage_limits,
        kind="quota",
        status=400,
        key1=Cooled(at=regain_at, slack=EXACT),
        scope="pool",
        message="You have reached your specified API usage limits",
    ),
    failover(
        AN,
        "401-authentication-error",
        an_401(),
        kind="auth",
        status=401,
        key1=DISABLED,
        scope="key",
        message="authentication_error: invalid x-api-key",
    ),
    failover(
        AN,
        "402-billing-error",
        an_402_billing(),
        kind="quota",
        status=402,
        key1=Cooled(HOUR, slack=EXACT),
        scope="pool",
        message="billing_error",
    ),
    # The adapter reads permission_error as a dead key (see the report: the reference says "key lacks the model").
    failover(
        AN,
        "403-permission-error",
        anthropic_error(
            403, "permission_error", "Your API key does not have permission to use the specified resource."
        ),
        kind="auth",
        status=403,
        key1=DISABLED,
        scope="key",
        message="permission_error",
    ),
    rejected(
        AN,
        "404-not-found-error",
        an_404("claude-haiku-4-5"),
        kind="model_not_found",
        status=404,
        stderr=NOT_SERVED,
        message="not_found_error: model: claude-haiku-4-5",
    ),
    rejected(
        AN,
        "413-request-too-large",
        anthropic_error(413, "request_too_large", "Request exceeds the maximum allowed number of bytes."),
        kind="bad_request",
        status=413,
        stderr=REJECTED,
    ),
    failover(
        AN,
        "429-retry-after",
        an_429(retry_after=45),
        kind="rate_limited",
        status=429,
        key1=Cooled(45, slack=EXACT),
        scope="key",
        message="This request would exceed the rate limit",
    ),
    # No retry-after: the latest reset of the exhausted anthropic-ratelimit-* limits (RFC 3339, whole seconds).
    failover(
        AN,
        "429-ratelimit-resets-latest-exhausted",
        an_429_resets,
        kind="rate_limited",
        status=429,
        key1=Cooled(150, upto=151),
        scope="key",
    ),
    failover(
        AN,
        "429-weekly-ratelimit-reset",
        an_429_weekly,
        kind="rate_limited",
        status=429,
        key1=Cooled(3 * DAY, upto=3 * DAY + 1),
        scope="key",
    ),
    # A monthly spend cap in a 429: money gone, the pool cools long, never for a per-minute reset.
    failover(
        AN,
        "429-enforced-spend-limit",
        an_spend_limit(),
        kind="quota",
        status=429,
        key1=Cooled(HOUR, slack=EXACT),
        scope="pool",
        message="monthly API usage threshold",
    ),
    failover(
        AN,
        "500-api-error",
        an_500(),
        kind="server",
        status=500,
        key1=Cooled(30),
        scope="key",
        message="api_error: Internal server error",
    ),
    failover(
        AN,
        "504-timeout-error",
        *twice(anthropic_error(504, "timeout_error", "Request timed out")),
        kind="timeout",
        status=504,
        key1=Cooled(30),
        scope="key",
    ),
    failover(
        AN,
        "529-overloaded",
        an_529(),
        kind="overloaded",
        status=529,
        key1=Cooled(30),
        scope="key",
        message="overloaded_error: Overloaded",
    ),
    failover(
        AN,
        "529-overloaded-retry-after",
        an_529(retry_after=75),
        kind="overloaded",
        status=529,
        key1=Cooled(75, slack=EXACT),
        scope="key",
    ),
    # An error event after message_start, before any text: a 200 that failed; key 2 answers.
    failover(
        AN,
        "error-event-before-first-token",
        an_stream_error(),
        kind="overloaded",
        status=200,
        key1=Cooled(30),
        scope="key",
        message="overloaded_error: Overloaded",
    ),
    failover(
        AN,
        "rate-limit-error-event-before-first-token",
        an_stream_error(type="rate_limit_error", message="Number of request tokens has exceeded your rate limit"),
        kind="rate_limited",
        status=200,
        key1=Cooled(MINUTE),
        scope="key",
    ),
    broken(
        AN,
        "error-event-after-first-token",
        an_stream_error(after_tokens=2),
        stdout="Hello from",
        kind="overloaded",
        status=200,
        key1=Cooled(30),
        breaker=1,
        scope="key",
        stderr="overloaded_error: Overloaded",
    ),
    # Every event but message_stop: the whole text arrived, yet the answer is not known to be whole.
    broken(
        AN,
        "stream-without-message-stop",
        stream_reply(no_terminator=True),
        stdout=ANSWER + "\n",
        partial=False,
        kind="bad_response",
        status=None,
        breaker=1,
        stderr="stream ended before message_stop",
    ),
    broken(
        AN,
        "stream-ends-cleanly-mid-answer",
        stream_reply(end_after_tokens=2),
        stdout="Hello from\n",
        partial=False,
        kind="bad_response",
        status=None,
        breaker=1,
        stderr="stream ended before message_stop",
    ),
    failover(
        AN,
        "stream-of-message-start-only",
        sse(anthropic_wire.sse_event("message_start", {"type": "message_start", "message": {"usage": {}}})),
        kind="bad_response",
        status=None,
        key1=UNTOUCHED,
        message="stream ended before message_stop",
    ),
    broken(
        AN,
        "closed-mid-body-after-first-token",
        stream_reply(drop_after_tokens=2),
        stdout="Hello from",
        kind="connection",
        status=None,
        key1=Cooled(30),
        breaker=1,
        scope="key",
    ),
    failover(
        AN,
        "529-error-body-without-stream",
        an_529(),
        kind="overloaded",
        status=529,
        key1=Cooled(30),
        scope="key",
        args=NO_STREAM,
    ),
    refused_other_answers(AN),
]

# Gemini (providers-next §1): 400 for a dead key, RESOURCE_EXHAUSTED by quotaId (per project and model), the
# safety block in a 200, an SSE stream with no terminator. No row may put the key in a URL (checked on every row).
GEMINI_ROWS: list[Row] = [
    failover(
        GM,
        "400-api-key-invalid",
        gm_400_key_invalid(),
        kind="auth",
        status=400,
        key1=DISABLED,
        scope="key",
        message="API key not valid",
    ),
    failover(
        GM,
        "400-api-key-not-found-text-only",
        gemini_error(400, "INVALID_ARGUMENT", "API Key not found. Please pass a valid API key."),
        kind="auth",
        status=400,
        key1=DISABLED,
        scope="key",
    ),
    failover(
        GM,
        "400-failed-precondition-location",
        gm_400_location(),
        kind="auth",
        status=400,
        key1=DISABLED,
        scope="key",
        message="free tier is not available in your country",
    ),
    rejected(
        GM,
        "400-invalid-argument",
        gm_400(
            'Invalid JSON payload received. Unknown name "foo": Cannot find field.',
            [{"field": "foo", "description": 'Invalid JSON payload received. Unknown name "foo"'}],
        ),
        kind="bad_request",
        status=400,
        stderr=f"{REJECTED}: Invalid JSON payload received",
    ),
    failover(
        GM,
        "403-permission-denied-leaked-key",
        gm_403(),
        kind="auth",
        status=403,
        key1=DISABLED,
        scope="key",
        message="Your API key was reported as leaked",
    ),
    rejected(
        GM,
        "404-not-found",
        gm_404(FLASH),
        kind="model_not_found",
        status=404,
        stderr=NOT_SERVED,
        message=f"models/{FLASH} is not found for API version v1beta",
    ),
    # Per project and model: this model on key 1's pool (its project) waits exactly retryDelay.
    failover(
        GM,
        "429-per-minute-retry-delay",
        gm_429_per_minute(delay="37s", model=FLASH),
        kind="rate_limited",
        status=429,
        key1=Cooled(37, slack=EXACT),
        scope="pool_model",
        message="GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
    ),
    failover(
        GM,
        "429-per-minute-fractional-retry-delay",
        gm_429_per_minute(delay="45.837906927s", model=FLASH),
        kind="rate_limited",
        status=429,
        key1=Cooled(45.837906927, slack=EXACT),
        scope="pool_model",
    ),
    # Per day: the retryDelay (36 s) is misleading; the model waits for midnight Pacific.
    failover(
        GM,
        "429-per-day-until-midnight-pacific",
        gm_429_per_day(model=FLASH),
        kind="quota",
        status=429,
        key1=Cooled(at=next_pacific_midnight, slack=EXACT),
        scope="pool_model",
        message="GenerateRequestsPerDayPerProjectPerModel-FreeTier",
    ),
    # limit: 0: the model is not offered on the project's tier at all; not a wait.
    failover(
        GM,
        "429-limit-zero-model-unavailable",
        gm_429_limit_zero(model=FLASH),
        kind="quota",
        status=429,
        key1=UNAVAILABLE,
        scope="pool_model",
        message="limit 0",
    ),
    failover(
        GM,
        "500-internal",
        gm_500(),
        kind="server",
        status=500,
        key1=Cooled(30),
        scope="key",
        message="An internal error has occurred",
    ),
    failover(
        GM,
        "503-unavailable",
        gm_503(),
        kind="overloaded",
        status=503,
        key1=Cooled(30),
        scope="key",
        message="The model is overloaded",
    ),
    failover(
        GM,
        "504-deadline-exceeded",
        *twice(gm_504()),
        kind="timeout",
        status=504,
        key1=Cooled(30),
        scope="key",
    ),
    # The error body inside a one-element array: read the same as the bare object.
    failover(
        GM,
        "array-wrapped-400-api-key-invalid",
        gm_wrapped(gm_400_key_invalid()),
        kind="auth",
        status=400,
        key1=DISABLED,
        scope="key",
    ),
    failover(
        GM,
        "array-wrapped-429-per-minute",
        gm_wrapped(gm_429_per_minute(delay="20s", model=FLASH)),
        kind="rate_limited",
        status=429,
        key1=Cooled(20, slack=EXACT),
        scope="pool_model",
    ),
    # A prompt the safety filters refuse is refused on every key: the request stops, nobody is blamed.
    rejected(
        GM,
        "safety-block-in-a-stream",
        gm_blocked(stream=True),
        kind="bad_request",
        status=200,
        stderr="blocked the prompt (blockReason SAFETY)",
    ),
    rejected(
        GM,
        "safety-block-in-a-body",
        gm_blocked("PROHIBITED_CONTENT"),
        kind="bad_request",
        status=200,
        stderr="blocked the prompt (blockReason PROHIBITED_CONTENT)",
        args=NO_STREAM,
    ),
    broken(
        GM,
        "stream-ends-without-finish-reason",
        stream_reply(end_after_tokens=2),
        stdout="Hello from\n",
        partial=False,
        kind="bad_response",
        status=None,
        breaker=1,
        stderr="stream ended before completion",
    ),
    failover(
        GM,
        "empty-stream-without-finish-reason",
        sse(),
        kind="bad_response",
        status=None,
        key1=UNTOUCHED,
        message="stream ended before completion",
    ),
    failover(
        GM,
        "error-event-before-first-token",
        stream_reply(error_only=True),
        kind="server",
        status=500,
        key1=Cooled(30),
        scope="key",
        message="An internal error has occurred",
    ),
    broken(
        GM,
        "error-event-after-first-token",
        stream_reply(error_after_tokens=2),
        stdout="Hello from",
        kind="server",
        status=500,
        key1=Cooled(30),
        breaker=1,
        scope="key",
    ),
    failover(
        GM,
        "429-per-minute-event-inside-a-stream",
        sse(b"data: " + json.dumps(gm_429_per_minute(delay="30s", model=FLASH).json).encode() + b"\r\n\r\n"),
        kind="rate_limited",
        status=429,
        key1=Cooled(30, slack=EXACT),
        scope="pool_model",
    ),
    refused_other_answers(GM),
]

# Bedrock (providers-next §6): errors by type (x-amzn-ErrorType), none with a reset hint; the binary event stream
# with its CRCs, exception frames and cut frames. Key 1 is an access key id with its secret, signed with SigV4.
BEDROCK_ROWS: list[Row] = [
    failover(
        BR,
        "429-throttling-exception",
        br_throttling(),
        kind="rate_limited",
        status=429,
        key1=Cooled(MINUTE),
        scope="key",
        message="ThrottlingException: Too many requests",
    ),
    failover(
        BR,
        "429-throttling-tokens-per-day",
        br_tokens_per_day(),
        kind="quota",
        status=429,
        key1=Cooled(HOUR, slack=EXACT),
        scope="pool",
        message="Too many tokens per day",
    ),
    failover(
        BR,
        "service-quota-exceeded",
        br_quota(),
        kind="quota",
        status=400,
        key1=Cooled(HOUR, slack=EXACT),
        scope="pool",
        message="ServiceQuotaExceededException",
    ),
    failover(
        BR,
        "503-service-unavailable",
        br_unavailable(),
        kind="overloaded",
        status=503,
        key1=Cooled(30),
        scope="key",
        message="ServiceUnavailableException: Bedrock is unable to process your request.",
    ),
    failover(
        BR,
        "429-model-not-ready",
        br_model_not_ready(),
        kind="overloaded",
        status=429,
        key1=Cooled(30),
        scope="key",
        message="ModelNotReadyException",
    ),
    failover(
        BR,
        "408-model-timeout",
        *twice(br_model_timeout()),
        kind="timeout",
        status=408,
        key1=Cooled(30),
        scope="key",
        message="ModelTimeoutException",
    ),
    failover(
        BR,
        "424-model-error",
        br_model_error(),
        kind="server",
        status=424,
        key1=Cooled(30),
        scope="key",
        message="ModelErrorException",
    ),
    failover(
        BR,
        "500-internal-server",
        br_internal(),
        kind="server",
        status=500,
        key1=Cooled(30),
        scope="key",
        message="InternalServerException",
    ),
    # The credential works; this account may not use this model: unavailable to key 1's pool for it, key 2 answers
    # (test_access_denied_for_a_model_leaves_the_credential_alive shows key 1 still answers another model).
    *[
        failover(BR, name, fault, kind="auth", status=status, key1=UNAVAILABLE, scope="pool_model", message=text)
        for name, fault, status, text in (
            ("403-access-denied-model-access", br_access_denied(), 403, "AccessDeniedException: You don't have access"),
            (
                "403-access-denied-iam",
                br_access_denied(HAIKU),
                403,
                "is not authorized to perform: bedrock:InvokeModel",
            ),
            ("404-legacy-model-for-this-account", br_not_found(legacy=True), 404, "marked by provider as Legacy"),
        )
    ],
    # The credential itself is refused: disabled.
    *[
        failover(BR, name, fault, kind="auth", status=403, key1=DISABLED, scope="key", message=text)
        for name, fault, text in (
            ("403-unrecognized-client", br_unrecognized_client(), BR_INVALID_TOKEN),
            ("403-invalid-signature", br_invalid_signature(), "signature we calculated does not match"),
            ("403-expired-token", br_expired_token(), "security token included in the request is expired"),
        )
    ],
    rejected(
        BR,
        "404-resource-not-found-end-of-life",
        br_not_found(),
        kind="model_not_found",
        status=404,
        stderr=NOT_SERVED,
        message="ResourceNotFoundException: This model version has reached the end of its life",
    ),
    rejected(
        BR,
        "400-validation-exception",
        br_validation("Input is too long for requested model."),
        kind="bad_request",
        status=400,
        stderr=f"{REJECTED}: ValidationException: Input is too long",
    ),
    rejected(
        BR,
        "400-invalid-model-identifier",
        br_invalid_model(),
        kind="model_not_found",
        status=400,
        stderr=NOT_SERVED,
        message="The provided model identifier is invalid.",
    ),
    rejected(
        BR,
        "400-on-demand-throughput-unsupported",
        br_on_demand_unsupported(HAIKU),
        kind="model_not_found",
        status=400,
        stderr=NOT_SERVED,
    ),
    # Exception frames inside the 200 event stream (status 200: the HTTP answer was a success).
    failover(
        BR,
        "throttling-exception-frame-before-first-token",
        br_stream_exception("throttlingException"),
        kind="rate_limited",
        status=200,
        key1=Cooled(MINUTE),
        scope="key",
        message="ThrottlingException: Too many requests",
    ),
    failover(
        BR,
        "service-unavailable-frame-before-first-token",
        br_stream_exception("serviceUnavailableException"),
        kind="overloaded",
        status=200,
        key1=Cooled(30),
        scope="key",
    ),
    rejected(
        BR,
        "validation-exception-frame-before-first-token",
        br_stream_exception("validationException"),
        kind="bad_request",
        status=200,
        stderr=f"{REJECTED}: ValidationException: Input is too long",
    ),
    failover(
        BR,
        "unmodelled-error-frame-before-first-token",
        eventstream(BR_START, bedrock_wire.error_frame("InternalFailure", "An internal failure occurred.")),
        kind="server",
        status=200,
        key1=Cooled(30),
        scope="key",
        message="InternalFailure: An internal failure occurred.",
    ),
    broken(
        BR,
        "model-stream-error-frame-after-first-token",
        br_stream_exception("modelStreamErrorException", after_tokens=2),
        stdout="Hello from",
        kind="server",
        status=200,
        key1=Cooled(30),
        breaker=1,
        scope="key",
        stderr="ModelStreamErrorException",
    ),
    broken(
        BR,
        "throttling-frame-after-first-token",
        br_stream_exception("throttlingException", after_tokens=2),
        stdout="Hello from",
        kind="rate_limited",
        status=200,
        key1=Cooled(MINUTE),
        scope="key",
    ),
    # Framing faults: a bad response (the key is not blamed), before or after the first token.
    *[
        failover(
            BR, name, fault, kind="bad_response", status=200, key1=UNTOUCHED, message=f"malformed event stream: {text}"
        )
        for name, fault, text in (
            ("corrupt-message-crc-before-first-token", br_corrupt_crc(0), "message checksum mismatch"),
            ("corrupt-prelude-crc-before-first-token", br_corrupt_crc(0, part="prelude"), "prelude checksum mismatch"),
            ("truncated-frame-before-first-token", br_truncated(0), "the stream ended inside a frame"),
        )
    ],
    *[
        broken(BR, name, fault, stdout="Hello from", kind="bad_response", status=200, breaker=1, stderr=text)
        for name, fault, text in (
            ("corrupt-message-crc-after-first-token", br_corrupt_crc(2), "message checksum mismatch"),
            ("corrupt-prelude-crc-after-first-token", br_corrupt_crc(2, part="prelude"), "prelude checksum mismatch"),
            ("truncated-frame-after-first-token", br_truncated(2), "the stream ended inside a frame"),
        )
    ],
    broken(
        BR,
        "stream-without-message-stop",
        eventstream(BR_START, BR_HELLO),
        stdout="Hello\n",
        partial=False,
        kind="bad_response",
        status=200,
        breaker=1,
        stderr="stream ended before messageStop",
    ),
    answered(
        BR,
        "unknown-frames-and-headers-are-skipped",
        eventstream(
            BR_START,
            bedrock_wire.frame(((":message-type", "event"), (":event-type", "somethingNew"), ("x-flag", True)), b"{}"),
            BR_HELLO,
            BR_STOP,
        ),
        stdout="Hello\n",
    ),
    failover(
        BR,
        "http-throttling-without-stream",
        br_stream_exception("throttlingException"),  # a non-stream request gets it as the HTTP 429
        kind="rate_limited",
        status=429,
        key1=Cooled(MINUTE),
        scope="key",
        args=NO_STREAM,
    ),
    refused_other_answers(BR),
]

ROWS += ANTHROPIC_ROWS + GEMINI_ROWS + BEDROCK_ROWS


# --------------------------------------------------------------------------- running a row


def ledger(home: Path) -> list[AttemptRow]:
    store = Store.open(home / "state.db")
    try:
        return store.attempts()
    finally:
        store.close()


def key_state(home: Path, *labels: str) -> Hold | None:
    """Key 1's hold: the one hold shown under any of ``labels`` (see :func:`hold_labels`)."""
    store = Store.open(home / "state.db")
    try:
        found = [s for s in store.all_holds() if s.label in labels]
    finally:
        store.close()
    assert len(found) <= 1, found
    return found[0] if found else None


def hold_labels(row: Row, env: dict[str, str]) -> tuple[str, ...]:
    """The labels key 1's holds are shown under: its variable (key scopes, and the pool scopes of a key that is a
    pool of its own), and its pool's name where its pool has one: a Cloudflare key's pool is its account
    (``cloudflare-<account>``), named as the settings the CLI ran with name it."""
    if row.host != "fake":
        return (row.wire,)  # the endpoint's hold, shown by the provider's name
    label = LABELS[row.wire][0]
    slot = next(s for s in load_settings(env).slots(row.wire) if s.label == label)
    if row.wire == "cloudflare":
        assert slot.pool_name.startswith("cloudflare-") and slot.pool_name != label, slot.pool_name
    return tuple(dict.fromkeys((label, slot.pool_name)))


def breaker_streak(home: Path, provider: str) -> tuple[str, int]:
    store = Store.open(home / "state.db")
    try:
        state = next((s for s in store.breaker_states() if s.provider == provider), None)
    finally:
        store.close()
    return (state.state, state.consecutive_failures) if state else ("closed", 0)


_CREDENTIAL = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/")


def sent_with(cloud: FakeProvider, wire: Wire, key: str) -> list[RecordedRequest]:
    """The requests made with ``key``: its bearer or key header, or for Bedrock (SigV4, where the fake records no
    bearer) the access key id its signature's credential scope names."""
    if wire != "bedrock":
        return cloud.requests_for(key)
    return [r for r in cloud.requests if (m := _CREDENTIAL.match(r.headers.get("authorization", ""))) and m[1] == key]


def closed_port() -> int:
    """A loopback port that was just bound and closed: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dns_hook(directory: Path) -> str:
    """A ``sitecustomize`` for the CLI's process: ``DNS_HOST`` fails to resolve without any resolver
    being asked, every other name resolves as usual; each lookup of ``DNS_HOST`` is logged, so the
    row can prove that the hook (not the machine's resolver) answered."""
    directory.mkdir(exist_ok=True)
    (directory / "sitecustomize.py").write_text(
        "import socket\n"
        "_getaddrinfo = socket.getaddrinfo\n\n\n"
        "def getaddrinfo(host, *args, **kwargs):\n"
        "    name = host.decode() if isinstance(host, bytes) else host\n"
        f"    if name == {DNS_HOST!r}:\n"
        f"        with open({str(directory / 'lookups.log')!r}, 'a') as log:\n"
        "            log.write(name + '\\n')\n"
        '        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")\n'
        "    return _getaddrinfo(host, *args, **kwargs)\n\n\n"
        "socket.getaddrinfo = getaddrinfo\n"
    )
    return str(directory)


def environment(row: Row, tmp_path: Path, cloud: FakeProvider) -> dict[str, str]:
    other, _ = OTHER[row.wire]
    env = keys_env(**{row.wire: 2}) | (keys_env(**{other: 1}) if row.other else {})
    if row.other and row.wire == "openrouter":
        env["PREFER_OLLAMA"] = "false"  # the faulty provider first
    if row.wire == "azure":
        env[BASE_URL_VARIABLE["azure"]] = cloud.azure_endpoint  # setting it enables Azure
    if row.shared_account:  # key 2 is a second token of key 1's account, on the fake too
        env["CLOUDFLARE_ACCOUNT_ID_2"] = CLOUDFLARE_ACCOUNTS[0]
        cloud.cloudflare_accounts[KEYS["cloudflare"][1]] = CLOUDFLARE_ACCOUNTS[0]
    if row.wire in CONFIG:
        config = tmp_path / "config.toml"
        config.write_text(CONFIG[row.wire])
        config.chmod(0o600)
        env["LLMROUTE_CONFIG"] = str(config)
    path = BASE_PATH[row.wire]
    if row.host == "connection-refused":
        env[BASE_URL_VARIABLE[row.wire]] = f"http://127.0.0.1:{closed_port()}{path}"
    elif row.host == "dns-failure":
        env[BASE_URL_VARIABLE[row.wire]] = f"https://{DNS_HOST}:9{path}"
        env["PYTHONPATH"] = dns_hook(tmp_path / "dns-hook")
    return env


def run(cli: Cli, row: Row, env: dict[str, str]) -> tuple[Result, float, float]:
    model = OTHER[row.wire][1] if row.other else MODEL[row.wire]
    started = time.time()
    result = cli("chat", "-m", model, "--timeout", f"{row.timeout:g}", *row.args, "hi", timeout=60, **env)
    return result, started, time.time()


def assert_cooled(state: Hold | None, expected: Cooled, started: float, ended: float) -> None:
    assert state is not None and not state.disabled and state.cooldown_until is not None, state
    until = state.cooldown_until
    slack = expected.slack  # by default two seconds either way: an HTTP-date has whole seconds only
    if expected.at is not None:
        assert any(abs(until - expected.at(t)) <= slack for t in (started, ended)), (until, expected.at(started))
    else:
        upto = expected.upto if expected.upto is not None else expected.seconds
        assert started + expected.seconds - slack <= until <= ended + upto + slack, (until - started, expected)


@pytest.mark.parametrize("row", [row.param() for row in ROWS])
def test_fault(row: Row, cli: Cli, cloud: FakeProvider, tmp_path: Path) -> None:
    key1, key2 = KEYS[row.wire]
    label1, label2 = LABELS[row.wire]
    now = time.time()
    cloud.script(key1, *(fault(now) if callable(fault) else fault for fault in row.faults))
    env = environment(row, tmp_path, cloud)

    result, started, ended = run(cli, row, env)

    # What the user sees, and when.
    assert result.code == row.exit, result.stderr
    if row.partial:
        assert result.stdout.startswith(row.stdout) and result.stdout.rstrip("\n") != ANSWER, result.stdout
    else:
        assert result.stdout == row.stdout
    if row.stderr is None:
        assert result.stderr == ""
    else:
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
        assert row.stderr in result.stderr, result.stderr
    assert ended - started < row.timeout + SLACK
    if row.host == "dns-failure":
        assert (tmp_path / "dns-hook" / "lookups.log").read_text().splitlines() == [DNS_HOST] * row.attempts

    # Who was asked: key 1 as often as the row says, key 2 only to answer (or the other provider).
    assert len(sent_with(cloud, row.wire, key1)) == (row.attempts if row.host == "fake" else 0)
    assert cloud.remaining(key1) == 0, "key 1 was tried fewer times than its scripted faults"
    assert len(sent_with(cloud, row.wire, key2)) == (row.answered == "key2")
    assert cloud.keys_in_urls == [], "a key travelled in a URL"
    if row.host != "fake":
        assert len(cloud.chat_requests) == (row.answered == "other")

    # The ledger: one row per HTTP attempt, key 1's first, then the answer.
    rows = ledger(cli.home)
    answer = 1 if row.answered in ("key2", "other") else 0
    assert len(rows) == row.attempts + answer
    if row.host == "fake":
        assert len(rows) == len(cloud.chat_requests)
    key1_rows, rest = rows[: row.attempts], rows[row.attempts :]
    expected_outcome = "ok" if row.answered == "key1" else "failed"
    assert [(r.key_label, r.outcome, r.error_kind, r.http_status) for r in key1_rows] == [
        (label1, expected_outcome, row.kind, row.status)
    ] * row.attempts
    if row.message is not None:
        assert row.message in (key1_rows[-1].message or ""), key1_rows[-1].message
    if row.kind == "connection" and row.status is None:  # a transport failure names the endpoint, origin only
        base = env.get(BASE_URL_VARIABLE[row.wire], cloud.base_url)
        origin = base.split("://", 1)[0] + "://" + base.split("://", 1)[1].split("/", 1)[0]
        said = key1_rows[-1].message or ""
        assert origin in said and (BASE_PATH[row.wire] or "/api") not in said, (origin, said)
        if row.stderr is not None and row.host == "connection-refused":  # the port is known only now
            assert f"{origin} {row.stderr}" in result.stderr, result.stderr
    if answer:
        assert [(r.outcome, r.key_label == label2) for r in rest] == [("ok", row.answered == "key2")]

    # The state file: key 1 (its whole endpoint when that could not be reached), and the provider's breaker.
    state = key_state(cli.home, *hold_labels(row, cli.env | env))
    if row.key1 == UNTOUCHED:
        assert state is None or state.blocked_until(time.time()) is None, state
    elif row.key1 == DISABLED:
        assert state is not None and state.disabled, state
    elif row.key1 == UNAVAILABLE:
        assert state is not None and state.until_refresh and not state.disabled, state
        assert state.blocked_until(time.time()) == float("inf"), state
    else:
        assert isinstance(row.key1, Cooled)
        assert_cooled(state, row.key1, started, ended)
    if row.scope is not None:
        assert state is not None and state.scope == row.scope, state
        assert state.model == (MODEL[row.wire].split(":", 1)[1] if row.scope.endswith("_model") else ""), state
    assert breaker_streak(cli.home, row.wire) == ("closed", row.breaker)

    # A second run never contacts a key the first one cooled down, disabled or found the model unavailable to.
    if row.key1 != UNTOUCHED and row.second_run:
        again, _, _ = run(cli, row, env)
        assert again.code == row.second_exit, again.stderr
        assert len(sent_with(cloud, row.wire, key1)) == (row.attempts if row.host == "fake" else 0)
        assert cloud.keys_in_urls == [], "a key travelled in a URL"
        after = ledger(cli.home)
        assert all(r.key_label != label1 for r in after[len(rows) :])
        if row.host == "fake":
            assert len(after) == len(cloud.chat_requests)


REFUSED_BY_THE_SERVICE: dict[str, Callable[[FakeProvider], object]] = {
    "anthropic-unknown-key": lambda cloud: cloud.keys.pop(KEYS[AN][0]),
    "gemini-unknown-key": lambda cloud: cloud.keys.pop(KEYS[GM][0]),
    "bedrock-unknown-access-key-id": lambda cloud: cloud.bedrock.credentials.pop(KEYS[BR][0]),
    "bedrock-signature-does-not-verify": lambda cloud: cloud.bedrock.credentials.update({KEYS[BR][0]: "not-it"}),
}


@pytest.mark.parametrize("case", sorted(REFUSED_BY_THE_SERVICE))
def test_a_credential_the_service_itself_refuses_is_disabled(case: str, cli: Cli, cloud: FakeProvider) -> None:
    """Not a scripted error: the fake's own authentication refuses key 1 as the service would (Anthropic's 401
    ``invalid x-api-key``, Gemini's 400 ``API_KEY_INVALID``, AWS's UnrecognizedClient, or InvalidSignature quoting
    the canonical request it expected): disabled, key 2 answers, and the next run leaves key 1 alone."""
    wire: Wire = case.split("-", 1)[0]  # type: ignore[assignment]
    REFUSED_BY_THE_SERVICE[case](cloud)
    env = keys_env(**{wire: 2})
    first = cli("chat", "-m", MODEL[wire], "hi", **env)
    assert (first.code, first.stdout) == (ExitStatus.OK, ANSWER + "\n"), first.stderr
    assert [(r.key_label, r.outcome, r.error_kind) for r in ledger(cli.home)] == [
        (LABELS[wire][0], "failed", "auth"),
        (LABELS[wire][1], "ok", None),
    ]
    state = key_state(cli.home, LABELS[wire][0])
    assert state is not None and state.disabled and state.scope == "key", state
    again = cli("chat", "-m", MODEL[wire], "hi", **env)
    assert (again.code, len(sent_with(cloud, wire, KEYS[wire][0]))) == (ExitStatus.OK, 1), again.stderr
    assert cloud.keys_in_urls == []


def test_access_denied_for_a_model_leaves_the_bedrock_credential_alive(cli: Cli, cloud: FakeProvider) -> None:
    """The matrix's AccessDenied rows hold the model on key 1's pool; here key 1, alone, still answers another
    model at once, and the held model is still not asked of it."""
    akid = KEYS[BR][0]
    cloud.script(akid, br_access_denied(HAIKU), model=HAIKU)
    assert cli("chat", "-m", MODEL[BR], "hi", **keys_env(bedrock=2)).stdout == ANSWER + "\n"
    alone = keys_env(bedrock=1)
    other = cli("chat", "-m", "bedrock:amazon.nova-micro-v1:0", "hi", **alone)
    assert (other.code, other.stdout) == (ExitStatus.OK, ANSWER + "\n"), other.stderr
    held = cli("chat", "-m", MODEL[BR], "hi", **alone)
    assert held.code == ExitStatus.LIMITED, held.stderr
    paths = [r.path.rsplit("/", 2)[1] for r in sent_with(cloud, BR, akid)]
    assert paths == ["anthropic.claude-3-5-haiku-20241022-v1%3A0", "amazon.nova-micro-v1%3A0"], paths
    state = key_state(cli.home, LABELS[BR][0])
    assert state is not None and (state.scope, state.model, state.disabled) == ("pool_model", HAIKU, False), state


# --------------------------------------------------------------------------- a 50 MB answer


def run_measured(cli: Cli, env: dict[str, str], *args: str) -> tuple[int, int, str, int]:
    """Run the CLI, counting stdout instead of keeping it; (exit code, bytes out, their last 100, peak RSS KiB)."""
    proc = with_env(cli, env).popen(*args)
    assert proc.stdout is not None and proc.stderr is not None
    stderr: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    size, tail = 0, b""
    while chunk := proc.stdout.read(1 << 16):
        size += len(chunk)
        tail = (tail + chunk)[-100:]
    reader.join()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    Cli.result(proc.returncode, tail, stderr[0])  # the secret and traceback checks
    return proc.returncode, size, tail.decode("utf-8", "replace"), usage.ru_maxrss


class AnswerBuffered(AssertionError):
    """The process held the whole answer in memory instead of passing it on."""


@pytest.mark.parametrize("wire", WIRES)
def test_a_50_mb_answer_streams_through_without_being_buffered(wire: Wire, cli: Cli, cloud: FakeProvider) -> None:
    key1, _ = KEYS[wire]
    env = keys_env(**{wire: 2})
    _, _, _, baseline = run_measured(cli, env, "chat", "-m", MODEL[wire], "hi")
    token = " " + "x" * (16 * 1024 - 1)
    copies = 50 * 64  # 50 MiB of text, in 16 KiB tokens
    cloud.script(key1, stream_reply(token, repeat=copies))

    started = time.monotonic()
    code, size, tail, peak = run_measured(cli, env, "chat", "-m", MODEL[wire], "--timeout", "60", "hi")

    assert (code, size) == (0, copies * len(token) + 1) and tail.endswith("x\n")
    assert time.monotonic() - started < 30
    assert [(r.outcome, r.tokens_out) for r in ledger(cli.home)[1:]] == [("ok", copies)]
    if peak - baseline > 20 * 1024:
        raise AnswerBuffered(f"peak RSS grew by {(peak - baseline) // 1024} MiB for a 50 MiB answer")
