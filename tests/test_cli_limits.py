"""Limits and money end to end: real ``llmroute`` processes racing against fake providers on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import time

from llmroute.cli.failures import ExitStatus
from llmroute.store import Store
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, keys_env
from tests.fakes import FakeProvider, error, hang

MODEL = "openrouter:openai/gpt-4o-mini"


def configure(cli: Cli, toml: str) -> None:
    (cli.home / "config.toml").write_text(toml)
    (cli.home / "config.toml").chmod(0o600)


def ledger(cli: Cli):
    store = Store.open(cli.home / "state.db")
    try:
        return store.attempts()
    finally:
        store.close()


def run_all(cli: Cli, count: int, *args: str, **env: str) -> list[tuple[int, str, str]]:
    procs = [cli.popen("chat", *args, f"prompt {i}", **env) for i in range(count)]
    outputs = [p.communicate(timeout=120) for p in procs]
    results = [Cli.result(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]
    return [(r.code, r.stdout, r.stderr) for r in results]


def test_sixteen_processes_against_a_ten_per_minute_key_send_it_exactly_ten(cli: Cli, cloud: FakeProvider) -> None:
    configure(cli, "[keys.OPENROUTER_API_KEY_1.limits]\nper_minute = 10\n")
    results = run_all(cli, 16, "-m", MODEL, **keys_env(openrouter=2))
    assert [code for code, _, _ in results] == [0] * 16
    assert len(cloud.requests_for(OR_KEYS[0])) == 10
    assert len(cloud.requests_for(OR_KEYS[1])) == 6
    assert not any("locked" in err for _, _, err in results)


def test_when_every_key_is_at_its_limit_the_rest_fail_limited_with_the_time_a_slot_frees(
    cli: Cli, cloud: FakeProvider
) -> None:
    configure(cli, "[providers.openrouter.limits]\nper_minute = 10\n")
    results = run_all(cli, 16, "-m", MODEL, **keys_env(openrouter=2))
    codes = [code for code, _, _ in results]
    assert codes.count(0) == 10 and codes.count(ExitStatus.LIMITED) == 6
    assert len(cloud.chat_requests) == 10
    refused = [err for code, _, err in results if code == ExitStatus.LIMITED]
    assert all("provider openrouter at 10 calls per minute" in err and "frees at" in err for err in refused)


def test_concurrent_reservations_keep_spend_within_the_budget(cli: Cli, cloud: FakeProvider) -> None:
    """Each call is reserved at $10/M x (prompt + 8 tokens) >= the 42 micro-dollars the fake charges."""
    configure(
        cli,
        '[budgets]\ndaily = 0.0006\n[providers.openrouter.prices]\n"*" = [10.0, 10.0]\n',
    )
    results = run_all(cli, 16, "-m", MODEL, "--max-tokens", "8", **keys_env(openrouter=1))
    rows = ledger(cli)
    spent = sum(r.cost_micros or 0 for r in rows)
    sent = sum(code == 0 for code, _, _ in results)
    assert spent <= 600 and sent == len(rows) == len(cloud.chat_requests)
    assert sent >= 4, "four 150 micro-dollar reservations fit in $0.0006 at once"
    assert all(code in (0, ExitStatus.LIMITED) for code, _, _ in results)
    # "is spent", or "has $x left, less than the $y a call may cost" while others' reservations are in flight.
    assert all("the daily budget $0.0006 of total " in err for code, _, err in results if code)


def test_a_killed_processs_reservation_is_released_and_never_becomes_spend(cli: Cli, cloud: FakeProvider) -> None:
    configure(
        cli,
        '[budgets]\ndaily = 0.0001\n[reservations]\ntimeout = 1\n[providers.openrouter.prices]\n"*" = [1.0, 1.0]\n',
    )
    cloud.script(OR_KEYS[0], hang(30))
    env = keys_env(openrouter=1)
    victim = cli.popen("chat", "--timeout", "1", "-m", MODEL, "--max-tokens", "60", "hi", **env)
    deadline = time.monotonic() + 10
    while not cloud.chat_requests and time.monotonic() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    blocked = cli("chat", "-m", MODEL, "--max-tokens", "60", "hi", **env)
    assert blocked.code == ExitStatus.LIMITED, "the dead process still holds its reservation"
    time.sleep(2.5)
    answered = cli("chat", "-m", MODEL, "--max-tokens", "60", "hi", **env)
    assert answered.code == ExitStatus.OK
    rows = ledger(cli)
    assert [r.outcome for r in rows] == ["abandoned", "ok"] and rows[0].cost_micros is None
    costs = json.loads(cli("costs", "--json").stdout)
    assert costs["total"]["cost_micros"] == rows[1].cost_micros


def test_the_breaker_opens_lets_one_trial_through_after_the_cool_off_and_closes(cli: Cli, cloud: FakeProvider) -> None:
    configure(cli, "[breaker]\nconsecutive_failures = 2\ncool_off = 1\n")
    # Garbage from a proxy counts towards the breaker but cools no key, so only the breaker acts here.
    for _ in range(2):
        cloud.script(OLLAMA_KEYS[0], error(200, b"<html><body>502 Bad Gateway</body></html>"))
    env = keys_env(ollama=1, openrouter=1)
    for _ in range(2):
        assert cli("chat", "-m", "kimi-k2.6", "hi", **env).code == 0
    ollama_calls = len(cloud.requests_for(OLLAMA_KEYS[0]))
    assert cli("chat", "-m", "kimi-k2.6", "hi", **env).code == 0
    assert len(cloud.requests_for(OLLAMA_KEYS[0])) == ollama_calls, "open: Ollama Cloud is skipped"
    status = json.loads(cli("status", "--json", **env).stdout)
    assert {p["name"]: p["breaker"]["state"] for p in status["providers"]}["ollama"] == "open"
    time.sleep(1.2)
    trial = cli("chat", "-v", "-m", "kimi-k2.6", "hi", **env)
    assert trial.code == 0 and "answered by ollama" in trial.stderr
    status = json.loads(cli("status", "--json", **env).stdout)
    assert {p["name"]: p["breaker"]["state"] for p in status["providers"]}["ollama"] == "closed"
