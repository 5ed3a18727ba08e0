"""Money and time as a person reads them in ``status``, ``costs``, ``test-keys`` and ``reset-limits``: amounts
exact to the micro-dollar, estimates marked ``~``, unpriced calls counted, and every time in UTC, named."""

from __future__ import annotations

import re
import time

from llmroute.cli import render
from llmroute.cli.failures import ExitStatus
from llmroute.keys import fingerprint
from llmroute.limits import BreakerSettings
from llmroute.store import AttemptRow, Store
from tests.conftest import OR_KEYS, Cli, keys_env
from tests.fakes import FakeProvider, or_429

MODEL = "openrouter:openai/gpt-4o-mini"
TIME = re.compile(r"\d\d:\d\d(?::\d\d)?(?: [A-Z]+)?")


def record(cli: Cli, *, cost: int | None, estimated: bool = False) -> None:
    """A settled answer on OPENROUTER_API_KEY_1; ``cost=None`` is a call nobody knows the price of."""
    store = Store.open(cli.home / "state.db")
    store.record_attempt(
        AttemptRow(
            ts=time.time(),
            request_id="direct",
            provider="openrouter",
            key_label="OPENROUTER_API_KEY_1",
            key_fingerprint=fingerprint(OR_KEYS[0]),
            model="moonshotai/kimi-k2.5",
            outcome="ok",
            error_kind=None,
            http_status=None,
            message=None,
            latency_ms=100.0,
            ttft_ms=50.0,
            tokens_in=11,
            tokens_out=13,
            cost_micros=cost,
            cost_estimated=estimated,
        )
    )
    store.close()


def times_in(text: str) -> list[str]:
    return TIME.findall(text)


def assert_every_time_names_utc(text: str) -> None:
    found = times_in(text)
    assert found, text
    assert all(t.endswith(" UTC") for t in found), found


def line_of(text: str, start: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(start)]
    return line


def costs_total(text: str) -> str:
    """The costs table's total row (the budget table below it has a ``total`` row too)."""
    return next(line for line in text.splitlines() if line.startswith("total "))


def key_line(text: str) -> str:
    (line,) = [line for line in text.splitlines() if "OPENROUTER_API_KEY_1" in line]
    return line


def test_a_spend_and_a_budget_under_a_cent_read_right(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=1) | {"TOTAL_DAILY_BUDGET": "0.0002"}
    for prompt in ("one", "two"):  # 42 micro-dollars each, reported by the fake
        assert cli("chat", "-m", MODEL, "--max-tokens", "16", prompt, **env).code == ExitStatus.OK
    text = cli("status", **env).stdout
    key = key_line(text)
    assert " $0.000084 " in key and "~" not in key
    budget = line_of(text, "total ")
    assert "$0.000084 / $0.0002" in budget and " 42% " in budget
    assert_every_time_names_utc(text)
    costs = cli("costs", **env).stdout
    assert costs_total(costs).split()[-1] == "$0.000084"
    assert "$0.000084 / $0.0002" in costs
    assert_every_time_names_utc(costs)


def test_a_spent_budget_under_a_cent_is_named_by_its_amount(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=1) | {"TOTAL_DAILY_BUDGET": "0.0002"}
    record(cli, cost=250, estimated=True)
    text = cli("status", **env).stdout
    key = key_line(text)
    assert "total daily budget $0.0002 used up" in key and "$0.00 " not in key
    assert re.search(r"over budget until \d{4}-\d\d-\d\d 00:00 UTC", key)
    assert_every_time_names_utc(text)


def test_an_estimate_carries_a_tilde_and_an_unpriced_call_is_counted(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=1) | {"TOTAL_DAILY_BUDGET": "5"}
    record(cli, cost=1_400, estimated=True)
    record(cli, cost=None)
    status = cli("status", **env).stdout
    assert " ~$0.0014 (+1 unpriced) " in key_line(status)
    assert "~$0.0014 / $5.00 (~$0.0014 estimated)" in line_of(status, "total ")
    costs = cli("costs", **env).stdout
    row = line_of(costs, "OPENROUTER_API_KEY_1").split()
    assert row[-5:] == ["$0", "~$0.0014", "~$0.0014", "(+1", "unpriced)"]
    assert costs_total(costs).split()[-3:] == ["~$0.0014", "(+1", "unpriced)"]


def test_test_keys_shows_usage_under_a_cent(cli: Cli, cloud: FakeProvider) -> None:
    cloud.key_info[OR_KEYS[0]] = {"usage_daily": 0.000084, "usage_monthly": 0.5}
    result = cli("test-keys", **keys_env(openrouter=1))
    assert result.code == ExitStatus.OK, result.stderr
    row = key_line(result.stdout).split()
    assert "$0.000084" in row and "$0.50" in row


def test_every_time_reset_limits_prints_names_utc(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=2)
    cloud.script(OR_KEYS[0], or_429(reset_ms=int((time.time() + 3600) * 1000)))
    assert cli("chat", "-m", MODEL, "hi", **env).code == ExitStatus.OK
    store = Store.open(cli.home / "state.db")
    settings = BreakerSettings(consecutive_failures=1, cool_off=600)
    store.breaker_record("openrouter", time.time(), error_kind="server", reason="502 Bad Gateway", settings=settings)
    store.close()
    status = cli("status", **env).stdout
    assert "cooling until " in status and "open until " in status
    assert_every_time_names_utc(status)
    text = cli("reset-limits", **env).stdout
    assert "rate_limited until " in text and "open until " in text
    assert_every_time_names_utc(text)


def test_the_shared_renderer_follows_the_rules() -> None:
    assert (render.clock_time(None), render.clock_time(float("inf"))) == (render.DASH, "never")
    assert render.clock_time(time.time()).endswith(" UTC")
    assert (render.money(None), render.money(0.000126), render.money(0.0014, estimated=True)) == (
        render.DASH,
        "$0.000126",
        "~$0.0014",
    )
