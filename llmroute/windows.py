"""Budget periods in UTC: the calendar day and the calendar month that contain a moment.

Budgets reset at 00:00 UTC each day and on the first of each month, like the
providers' own daily caps. Rate limits use sliding windows instead (``limits``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Period:
    kind: str
    """``day`` or ``month``."""
    start: float
    end: float
    """Exclusive: the moment the next period begins (when a budget resets)."""
    key: str
    """``2026-11-21`` or ``2026-11``: names the period, e.g. to warn once per period."""


def day(now: float) -> Period:
    return _day(int(now // DAY_SECONDS))


def month(now: float) -> Period:
    return _month(int(now // DAY_SECONDS))


DAY_SECONDS = 86400
"""A UTC day in POSIX time, which has no leap seconds: a day's number is ``epoch // 86400``."""


@functools.lru_cache(maxsize=8)
def _day(number: int) -> Period:
    start = number * DAY_SECONDS
    key = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d")
    return Period("day", float(start), float(start + DAY_SECONDS), key)


@functools.lru_cache(maxsize=8)
def _month(day_number: int) -> Period:
    start = datetime.fromtimestamp(day_number * DAY_SECONDS, UTC).replace(day=1)
    following = (
        start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    )
    return Period("month", start.timestamp(), following.timestamp(), start.strftime("%Y-%m"))


def period(kind: str, now: float) -> Period:
    if kind == "day":
        return day(now)
    if kind == "month":
        return month(now)
    raise ValueError(f"unknown period {kind!r}")


def utc_clock(epoch: float) -> str:
    """The one rule for a time shown to a person: UTC, with the zone named. ``14:03:07 UTC`` when it falls
    on today's UTC date, else ``2026-12-01 00:00 UTC``. Machine output uses ISO 8601 with ``Z`` instead."""
    moment = datetime.fromtimestamp(epoch, UTC)
    if moment.date() == datetime.now(UTC).date():
        return moment.strftime("%H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")
