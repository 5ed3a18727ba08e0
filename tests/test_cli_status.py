"""``llmroute status`` end to end: state built by real chats against the fake, read back without the network."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from typing import Any

from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus
from llmroute.cli.status import StatusOptions
from llmroute.cli.status import run as run_status
from llmroute.config import ProviderSettings, Settings
from llmroute.keys import ApiKey
from llmroute.limits import BreakerSettings, Budget, Limits
from llmroute.store import Address, AttemptRow, CheckRow, Store
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, keys_env
from tests.fakes import FakeProvider, or_401, or_429

MODEL = "openrouter:openai/gpt-4o-mini"
KEY_FIELDS = {
    "provider",
    "label",
    "mask",
    "state",
    "until",
    "reason",
    "today",
    "last_latency_ms",
    "p50_latency_ms",
    "last_check",
    "budgets",
}
TOTAL_FIELDS = {
    "calls",
    "ok",
    "failed",
    "tokens_in",
    "tokens_out",
    "cost_micros",
    "reported_micros",
    "estimated_micros",
    "unpriced_calls",
    "cost_usd",
    "reported_usd",
    "estimated_usd",
}


def state(cli: Cli) -> Store:
    return Store.open(cli.home / "state.db")


def ledger(cli: Cli) -> list[AttemptRow]:
    store = state(cli)
    try:
        return store.attempts()
    finally:
        store.close()


def status(cli: Cli, **env: str) -> dict[str, Any]:
    result = cli("status", "--json", **env)
    assert result.code == ExitStatus.OK, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"now", "day", "keys", "providers", "budgets"}
    for key in document["keys"]:
        assert set(key) == KEY_FIELDS and set(key["today"]) == TOTAL_FIELDS
    return document


def keys_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k["label"]: k for k in document["keys"]}


def in_an_hour_ms() -> int:
    return int((time.time() + 3600) * 1000)


def test_status_reports_each_keys_state_and_usage_as_the_ledger_has_it(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=3, ollama=1)
    cloud.script(OR_KEYS[0], or_429(reset_ms=in_an_hour_ms()))
    cloud.script(OR_KEYS[1], or_401())
    assert cli("chat", "-m", MODEL, "hi", **env).code == ExitStatus.OK
    assert cli("chat", "-m", MODEL, "again", **env).code == ExitStatus.OK
    assert cli("chat", "-m", "ollama:gpt-oss:120b", "hi", **env).code == ExitStatus.OK
    keys = keys_of(status(cli, **env))
    assert list(keys) == ["OLLAMA_API_KEY", "OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2", "OPENROUTER_API_KEY_3"]
    cooling, disabled, working = (
        keys["OPENROUTER_API_KEY_1"],
        keys["OPENROUTER_API_KEY_2"],
        keys["OPENROUTER_API_KEY_3"],
    )
    assert (
        cooling["state"] == "cooling" and cooling["until"] is not None and cooling["reason"].startswith("rate_limited")
    )
    assert (disabled["state"], disabled["until"]) == ("disabled", None) and disabled["reason"].startswith("auth")
    assert working["state"] == "ready" and keys["OLLAMA_API_KEY"]["state"] == "ready"
    assert working["mask"] == f"sk-or-v1…{OR_KEYS[2][-4:]}"
    rows = ledger(cli)
    for label, key in keys.items():
        mine = [r for r in rows if r.key_label == label]
        today = key["today"]
        assert today["calls"] == len(mine) and today["ok"] == sum(r.outcome == "ok" for r in mine)
        assert today["failed"] == sum(r.outcome == "failed" for r in mine)
        assert today["tokens_in"] == sum(r.tokens_in or 0 for r in mine)
        assert today["cost_micros"] == sum(r.cost_micros or 0 for r in mine)
    assert working["today"]["calls"] == 2 and working["today"]["reported_micros"] == 2 * 42
    assert working["today"]["cost_usd"] == "0.000084" and working["today"]["estimated_micros"] == 0
    assert keys["OLLAMA_API_KEY"]["today"]["unpriced_calls"] == 1
    ok_latencies = sorted(r.latency_ms for r in rows if r.key_label == "OPENROUTER_API_KEY_3")
    assert working["last_latency_ms"] in ok_latencies and working["p50_latency_ms"] == sum(ok_latencies) / 2
    assert keys["OPENROUTER_API_KEY_1"]["last_latency_ms"] is None


def test_status_sends_no_request_and_is_quick(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=2, ollama=2)
    assert cli("chat", "-m", MODEL, "hi", **env).code == ExitStatus.OK
    before = len(cloud.requests)
    started = time.monotonic()
    result = cli("status", **env)
    elapsed = time.monotonic() - started
    assert result.code == ExitStatus.OK and len(cloud.requests) == before
    assert elapsed < 3.0, f"status took {elapsed:.2f}s"
    unreachable = {"OPENROUTER_BASE_URL": "http://127.0.0.1:9", "OLLAMA_BASE_URL": "http://127.0.0.1:9"}
    assert cli("status", "--json", **env, **unreachable).code == ExitStatus.OK


def test_the_breaker_and_last_test_keys_verdict_are_shown(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=1)
    assert cli("test-keys", **env).code == ExitStatus.OK
    store = state(cli)
    breaker = BreakerSettings(consecutive_failures=1, cool_off=300)
    store.breaker_record("openrouter", time.time(), error_kind="server", reason="502 Bad Gateway", settings=breaker)
    store.close()
    document = status(cli, **env)
    (key,) = document["keys"]
    assert key["last_check"]["verdict"] == "ok" and key["last_check"]["at"].endswith("Z")
    providers = {p["name"]: p["breaker"] for p in document["providers"]}
    assert providers["openrouter"]["state"] == "open" and providers["openrouter"]["reason"] == "502 Bad Gateway"
    text = cli("status", **env).stdout
    assert "open until" in text and re.search(r" ok \d\d:\d\d:\d\d", text)


def test_piped_output_is_plain_columns_one_line_per_key(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=2)
    cloud.script(OR_KEYS[0], or_429(reset_ms=in_an_hour_ms()))
    assert cli("chat", "-m", MODEL, "hi", **env).code == ExitStatus.OK
    result = cli("status", **env)
    assert "\x1b[" not in result.stdout and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["provider", "key", "mask", "state"]
    (cooling,) = [line for line in lines if "OPENROUTER_API_KEY_1" in line]
    assert "cooling until" in cooling and "rate_limited" in cooling


def test_no_keys_is_a_warning_not_a_failure(cli: Cli) -> None:
    result = cli("status")
    assert result.code == ExitStatus.OK and "no keys are configured" in result.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def budget_settings(home: Path) -> Settings:
    key = ApiKey("openrouter", "OPENROUTER_API_KEY_1", OR_KEYS[0])
    providers = (ProviderSettings("openrouter", "openrouter", "http://127.0.0.1:9", "OPENROUTER_API_KEY", keys=(key,)),)
    limits = Limits(total_budget=Budget(daily=0.5), provider_budgets={"openrouter": Budget(monthly=10.0)})
    store = Store.open(home / "state.db")
    store.record_attempt(
        AttemptRow(
            time.time(),
            "r",
            "openrouter",
            key.label,
            key.fingerprint,
            "m",
            "ok",
            None,
            None,
            None,
            5.0,
            None,
            1,
            1,
            210_000,
            True,
        )
    )
    store.record_checks([CheckRow(time.time(), key.fingerprint, "openrouter", key.label, "ok", 3.0, None)])
    store.close()
    return Settings(providers=providers, provider_order=("openrouter",), limits=limits, state_path=home / "state.db")


def render_status(settings: Settings, stdout: io.StringIO) -> str:
    environment = Environment(stdout=stdout, stderr=io.StringIO(), env={"NO_COLOR": "1"})
    assert run_status(StatusOptions(), settings, environment) == ExitStatus.OK
    return stdout.getvalue()


def test_budgets_show_used_limit_percent_and_reset_plain_when_piped(tmp_path: Path) -> None:
    text = render_status(budget_settings(tmp_path), io.StringIO())
    (total,) = [line for line in text.splitlines() if line.startswith("total ")]
    assert "~$0.21 / $0.50 (~$0.21 estimated)" in total and " 42% " in total and "█" not in text
    (provider,) = [line for line in text.splitlines() if line.startswith("provider openrouter")]
    assert "this month" in provider and "~$0.21 / $10.00" in provider and " 2% " in provider


def test_budgets_are_bars_on_a_terminal(tmp_path: Path) -> None:
    text = render_status(budget_settings(tmp_path), _Terminal())
    assert "████░░░░░░ 42%" in text


def test_an_ollama_key_mask_never_shows_the_secret(cli: Cli, cloud: FakeProvider) -> None:
    keys = keys_of(status(cli, **keys_env(ollama=2)))
    assert keys["OLLAMA_API_KEY_2"]["mask"] == "…" + OLLAMA_KEYS[1][-4:]


def test_a_spent_total_budget_shows_every_key_over_budget(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=2) | {"TOTAL_DAILY_BUDGET": "0.00008"}
    for prompt in ("one", "two"):  # 16 tokens at the catalogue's price reserve well under the 42 each call costs
        assert cli("chat", "-m", MODEL, "--max-tokens", "16", prompt, **env).code == ExitStatus.OK
    document = status(cli, **env)
    (budget,) = document["budgets"]
    assert (budget["scope"], budget["period"], budget["limit_micros"], budget["used_micros"]) == (
        "total",
        "day",
        80,
        84,
    )
    assert budget["exhausted"] is True and budget["percent"] == 105.0
    assert {k["state"] for k in document["keys"]} == {"over_budget"}
    assert document["keys"][0]["until"] == budget["resets_at"]
    assert "total daily budget" in document["keys"][0]["reason"]


def test_on_a_terminal_the_reasons_are_listed_below_the_keys(tmp_path: Path) -> None:
    settings = budget_settings(tmp_path)
    store = Store.open(settings.state_path)
    key = settings.keys[0]
    store.record_failure(
        Address("key", key.fingerprint),
        provider="openrouter",
        label=key.label,
        endpoint="",
        now=time.time(),
        error_kind="auth",
        reason="User not found. [401]",
        effect="disable",
        deadline=None,
    )
    store.close()
    text = render_status(settings, _Terminal())
    assert re.search(r"OPENROUTER_API_KEY_1 +auth: User not found\. \[401\]", text)
