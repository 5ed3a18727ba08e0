"""``llmroute reset-limits`` end to end: cooldowns, disabled keys and breakers cleared; the ledger untouched."""

from __future__ import annotations

import json
import time

import pytest

from llmroute import windows
from llmroute.cli.failures import ExitStatus
from llmroute.limits import BreakerSettings, Scope
from llmroute.store import AttemptRow, Store
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, keys_env
from tests.fakes import FakeProvider, oll_401, or_401, or_429

MODEL = "openrouter:openai/gpt-4o-mini"
TOTAL = Scope("total", "", "total")


def in_an_hour_ms() -> int:
    return int((time.time() + 3600) * 1000)


def open_breaker(cli: Cli, provider: str = "openrouter") -> None:
    store = Store.open(cli.home / "state.db")
    settings = BreakerSettings(consecutive_failures=1, cool_off=600)
    store.breaker_record(provider, time.time(), error_kind="server", reason="502 Bad Gateway", settings=settings)
    store.close()


def snapshot(cli: Cli) -> tuple[list[AttemptRow], int]:
    store = Store.open(cli.home / "state.db")
    try:
        now = time.time()
        day = windows.day(now)
        spend = store.spend(TOTAL, day.start, day.end, now=now, reservation_timeout=600)
        return store.attempts(), spend.settled_micros
    finally:
        store.close()


def states(cli: Cli, env: dict[str, str]) -> dict[str, str]:
    document = json.loads(cli("status", "--json", **env).stdout)
    found = {k["label"]: k["state"] for k in document["keys"]}
    return found | {f"breaker {p['name']}": p["breaker"]["state"] for p in document["providers"]}


@pytest.fixture
def limited(cli: Cli, cloud: FakeProvider) -> dict[str, str]:
    """OPENROUTER_API_KEY_1 cooling (429), OPENROUTER_API_KEY_2 disabled (401), OLLAMA_API_KEY disabled, breaker open."""
    env = keys_env(openrouter=3, ollama=1)
    cloud.script(OR_KEYS[0], or_429(reset_ms=in_an_hour_ms()))
    cloud.script(OR_KEYS[1], or_401())
    assert cli("chat", "-m", MODEL, "hi", **env).code == ExitStatus.OK
    cloud.script(OLLAMA_KEYS[0], oll_401())
    cli("chat", "-m", "ollama:gpt-oss:120b", "hi", **env)
    open_breaker(cli)
    assert states(cli, env) == {
        "OLLAMA_API_KEY": "disabled",
        "OPENROUTER_API_KEY_1": "cooling",
        "OPENROUTER_API_KEY_2": "disabled",
        "OPENROUTER_API_KEY_3": "ready",
        "breaker ollama": "closed",
        "breaker openrouter": "open",
    }
    return env


def test_everything_is_cleared_and_said_but_the_ledger_and_spend_stay(
    cli: Cli, cloud: FakeProvider, limited: dict[str, str]
) -> None:
    before = snapshot(cli)
    result = cli("reset-limits", **limited)
    assert result.code == ExitStatus.OK
    lines = sorted(result.stdout.splitlines())
    assert len(lines) == 4, result.stdout
    assert lines[0].startswith("cleared cooldown of OPENROUTER_API_KEY_1 (rate_limited until ")
    assert lines[1].startswith("closed breaker of openrouter (open until ")
    assert lines[2].startswith("re-enabled OLLAMA_API_KEY (disabled: ")
    assert lines[3] == "re-enabled OPENROUTER_API_KEY_2 (disabled: User not found.)"
    assert set(states(cli, limited).values()) == {"ready", "closed"}
    assert snapshot(cli) == before and before[1] > 0
    assert cli("reset-limits", **limited).stdout == "nothing to clear\n"


def test_a_chat_after_the_reset_uses_the_first_key_again(
    cli: Cli, cloud: FakeProvider, limited: dict[str, str]
) -> None:
    sent = len(cloud.chat_requests)
    assert cli("chat", "-m", MODEL, "hi", **limited).code == ExitStatus.LIMITED, "the breaker is open"
    assert len(cloud.chat_requests) == sent
    assert cli("reset-limits", **limited).code == ExitStatus.OK
    assert cli("chat", "-m", MODEL, "hi", **limited).code == ExitStatus.OK
    assert cloud.chat_requests[-1].bearer == OR_KEYS[0]


def test_one_key_is_cleared_alone(cli: Cli, limited: dict[str, str]) -> None:
    result = cli("reset-limits", "--key", "OPENROUTER_API_KEY_2", **limited)
    assert result.stdout == "re-enabled OPENROUTER_API_KEY_2 (disabled: User not found.)\n"
    after = states(cli, limited)
    assert after["OPENROUTER_API_KEY_2"] == "ready" and after["OPENROUTER_API_KEY_1"] == "cooling"
    assert after["OLLAMA_API_KEY"] == "disabled" and after["breaker openrouter"] == "open"


def test_a_provider_is_cleared_with_its_breaker_and_no_other(cli: Cli, limited: dict[str, str]) -> None:
    result = cli("reset-limits", "--provider", "openrouter", **limited)
    assert len(result.stdout.splitlines()) == 3 and "OLLAMA" not in result.stdout
    after = states(cli, limited)
    assert after["OLLAMA_API_KEY"] == "disabled"
    assert {after[k] for k in after if "OPENROUTER" in k or k == "breaker openrouter"} == {"ready", "closed"}


def test_nothing_to_clear(cli: Cli) -> None:
    result = cli("reset-limits", **keys_env(openrouter=1))
    assert (result.code, result.stdout) == (ExitStatus.OK, "nothing to clear\n")


@pytest.mark.parametrize(("option", "value"), [("--key", "OPENROUTER_API_KEY_7"), ("--provider", "acme")])
def test_an_unknown_key_or_provider_is_a_usage_error(cli: Cli, option: str, value: str) -> None:
    result = cli("reset-limits", option, value, **keys_env(openrouter=1))
    assert result.code == ExitStatus.USAGE and value in result.stderr and result.stdout == ""
