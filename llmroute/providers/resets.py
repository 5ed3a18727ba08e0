"""When a limit frees again, from what the OpenAI-wire providers say: headers, durations, message text.

Every function answers an epoch time (or a delay in seconds) exactly as the provider stated it, with
no floor and no padding, or None when the provider said nothing usable: the failure table's default
cooldown then applies.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from llmroute.providers.classify import as_number, header, parse_retry_after

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_GO_UNIT = r"(?:ns|us|µs|μs|ms|s|m|h)"  # "ms" before "m": "20ms" is 20 milliseconds, not 20 minutes
_GO_PART = re.compile(rf"({_GO_NUMBER})({_GO_UNIT})")
GO_DURATION = rf"(?:{_GO_NUMBER}{_GO_UNIT})+"
"""A Go duration as a regular expression's text, to find one inside a message."""
_GO_DURATION = re.compile(GO_DURATION)
#: Longer text than this is not a duration any provider sends (and is not worth a regex's time).
_DURATION_LIMIT = 64
#: The rate limits a reset header may name: ``x-ratelimit-reset-requests`` and ``x-ratelimit-reset-tokens``.
LIMITS = ("requests", "tokens")


def parse_go_duration(value: object) -> float | None:
    """A Go ``time.Duration`` string (``6m0s``, ``1s``, ``20ms``, ``2m59.56s``, ``1h2m3.5s``) in seconds.

    OpenAI writes its ``x-ratelimit-reset-*`` headers and its "try again in" hints this way. A bare
    ``0`` is zero, as in Go; a sign, a unitless number or anything else is None.
    """
    if not isinstance(value, str) or len(value) > _DURATION_LIMIT:
        return None
    text = value.strip()
    if text == "0":
        return 0.0
    if not _GO_DURATION.fullmatch(text):
        return None
    seconds = sum(float(number) * _GO_UNITS[unit] for number, unit in _GO_PART.findall(text))
    return seconds if math.isfinite(seconds) else None


def parse_seconds(value: object) -> float | None:
    """A delay written as a plain number of seconds (Azure's ``x-ratelimit-reset-*``); None if not one."""
    seconds = as_number(value)
    return seconds if seconds is not None and seconds >= 0 else None


def retry_hint(headers: Mapping[str, Any], now: float) -> float | None:
    """``retry-after-ms`` (milliseconds), else ``retry-after`` (seconds or an HTTP date), as an epoch time."""
    milliseconds = parse_seconds(header(headers, "retry-after-ms"))
    if milliseconds is not None:
        return now + milliseconds / 1000
    return parse_retry_after(header(headers, "retry-after"), now)


def limit_reset(headers: Mapping[str, Any], now: float, parse: Callable[[object], float | None]) -> float | None:
    """When the exhausted limit resets, from ``x-ratelimit-reset-{requests,tokens}`` read with ``parse``.

    The limit whose ``x-ratelimit-remaining-*`` is 0 is the one that refused; when none says 0 (or
    the counts are missing), the longest reset is the one that surely covers the refusal.
    """
    resets: list[float] = []
    exhausted: list[float] = []
    for limit in LIMITS:
        delay = parse(header(headers, f"x-ratelimit-reset-{limit}"))
        if delay is None:
            continue
        resets.append(delay)
        if as_number(header(headers, f"x-ratelimit-remaining-{limit}")) == 0:
            exhausted.append(delay)
    chosen = exhausted or resets
    return now + max(chosen) if chosen else None


def delay_in_text(
    text: str, pattern: re.Pattern[str], parse: Callable[[object], float | None], now: float
) -> float | None:
    """The delay a message states (``pattern``'s first group, read with ``parse``) as an epoch time."""
    match = pattern.search(text)
    delay = parse(match.group(1)) if match else None
    return now + delay if delay is not None else None


def next_utc_midnight(now: float) -> float:
    """The next 00:00 UTC after ``now``: when daily allocations such as Cloudflare's free neurons reset."""
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today + timedelta(days=1)).timestamp()
