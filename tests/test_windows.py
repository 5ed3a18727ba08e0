from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmroute.windows import day, month, period, utc_clock


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_day_runs_from_utc_midnight_to_the_next() -> None:
    p = day(at("2026-11-21T23:59:59.999"))
    assert (p.start, p.end, p.key) == (at("2026-11-21T00:00:00"), at("2026-11-22T00:00:00"), "2026-11-21")


def test_utc_midnight_belongs_to_the_new_day() -> None:
    assert day(at("2026-11-22T00:00:00")).key == "2026-11-22"


def test_a_month_ends_on_the_first_of_the_next() -> None:
    p = month(at("2026-02-28T12:00:00"))
    assert (p.start, p.end, p.key) == (at("2026-02-01T00:00:00"), at("2026-03-01T00:00:00"), "2026-02")


def test_leap_february_has_29_days() -> None:
    p = month(at("2028-02-29T23:00:00"))
    assert p.end - p.start == 29 * 86400


def test_december_rolls_over_into_january_of_the_next_year() -> None:
    p = month(at("2026-12-31T23:59:59"))
    assert (p.end, p.key) == (at("2027-01-01T00:00:00"), "2026-12")


def test_the_last_second_of_a_month_and_the_first_of_the_next() -> None:
    assert month(at("2026-11-30T23:59:59")).key == "2026-11"
    assert month(at("2026-12-01T00:00:00")).key == "2026-12"


def test_periods_ignore_the_local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    try:
        assert day(at("2026-11-21T23:30:00")).key == "2026-11-21"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_an_unknown_period_kind_is_an_error() -> None:
    with pytest.raises(ValueError):
        period("week", 0.0)


def test_a_time_today_names_utc_and_the_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: a local clock would read another hour
    time.tzset()
    try:
        now = datetime.now(UTC).replace(hour=0, minute=0, second=7, microsecond=0)
        assert utc_clock(now.timestamp()) == "00:00:07 UTC"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_time_on_another_day_names_the_date_and_utc() -> None:
    assert utc_clock(at("2020-12-01T00:00:00")) == "2020-12-01 00:00 UTC"
