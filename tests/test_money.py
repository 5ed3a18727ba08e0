"""The one money rule: exact to the micro-dollar, whole cents as cents, estimates marked ``~``."""

from __future__ import annotations

import pytest

from llmroute.limits import usd as limits_usd
from llmroute.money import dollars, unpriced, usd


@pytest.mark.parametrize(
    ("micros", "shown"),
    [
        (0, "$0"),
        (1, "$0.000001"),
        (42, "$0.000042"),
        (126, "$0.000126"),
        (1_400, "$0.0014"),
        (9_900, "$0.0099"),
        (9_999, "$0.009999"),
        (10_000, "$0.01"),
        (16_815, "$0.016815"),
        (1_230_000, "$1.23"),
        (5_000_000, "$5.00"),
        (1_234_500_000, "$1,234.50"),
        (1_234_567_891, "$1,234.567891"),
        (-5, "-$0.000005"),
    ],
)
def test_amounts_keep_their_significant_digits(micros: int, shown: str) -> None:
    assert dollars(micros) == shown


def test_an_estimate_carries_a_tilde() -> None:
    assert [dollars(1_400, estimated=True), dollars(1_234_500_000, estimated=True)] == ["~$0.0014", "~$1,234.50"]
    assert usd(0.0014, estimated=True) == "~$0.0014"


def test_dollars_as_floats_follow_the_same_rule() -> None:
    assert [usd(0.0), usd(0.0002), usd(0.000084), usd(0.5), usd(10.0), usd(1234.5)] == [
        "$0",
        "$0.0002",
        "$0.000084",
        "$0.50",
        "$10.00",
        "$1,234.50",
    ]
    assert usd(0.0000001) == "<$0.000001", "a non-zero amount never reads as zero"
    assert limits_usd is usd, "limits.usd is the same formatter, not a second one"


def test_unpriced_calls_are_counted_after_an_amount() -> None:
    assert [unpriced(0), unpriced(1), unpriced(1200)] == ["", " (+1 unpriced)", " (+1,200 unpriced)"]
