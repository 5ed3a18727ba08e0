"""``llmroute costs`` end to end: sums checked against the ledger, reported and estimated apart, exact CSV."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from llmroute.cli.failures import ExitStatus
from llmroute.keys import fingerprint
from llmroute.reports import usd
from llmroute.store import AttemptRow, Store
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, keys_env
from tests.fakes import DEFAULT_COST, FakeProvider, or_401

MODEL = "openrouter:openai/gpt-4o-mini"
REPORTED = round(DEFAULT_COST * 1_000_000)
DAY = 86400.0


def record(cli: Cli, label: str, secret: str | None, *, cost: int, estimated: bool, ts: float | None = None) -> None:
    """A settled attempt written straight into the ledger (e.g. an Ollama call costed from configured prices)."""
    store = Store.open(cli.home / "state.db")
    provider = "ollama" if label.startswith("OLLAMA") else "openrouter"
    store.record_attempt(
        AttemptRow(
            ts=time.time() if ts is None else ts,
            request_id="direct",
            provider=provider,
            key_label=label,
            key_fingerprint=fingerprint(secret) if secret else None,
            model="gpt-oss:120b" if provider == "ollama" else "moonshotai/kimi-k2.5",
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


def ledger(cli: Cli, since: float = 0.0) -> list[AttemptRow]:
    store = Store.open(cli.home / "state.db")
    try:
        return store.attempts(since=since)
    finally:
        store.close()


def costs(cli: Cli, *args: str, **env: str) -> dict[str, Any]:
    result = cli("costs", "--json", *args, **env)
    assert result.code == ExitStatus.OK, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"by", "period", "rows", "total", "budgets"}
    return document


@pytest.fixture
def spent(cli: Cli, cloud: FakeProvider) -> dict[str, str]:
    """Two reported OpenRouter calls, a failed one, an unpriced Ollama call and two estimated Ollama costs."""
    env = keys_env(openrouter=2, ollama=1)
    cloud.script(OR_KEYS[0], or_401())
    assert cli("chat", "-m", MODEL, "one", **env).code == ExitStatus.OK
    assert cli("chat", "-m", MODEL, "two", **env).code == ExitStatus.OK
    assert cli("chat", "-m", "ollama:gpt-oss:120b", "three", **env).code == ExitStatus.OK
    record(cli, "OLLAMA_API_KEY", OLLAMA_KEYS[0], cost=1_234_567, estimated=True)
    record(cli, "OLLAMA_API_KEY", OLLAMA_KEYS[0], cost=3, estimated=True)
    return env


def test_costs_by_key_equal_the_ledger_with_estimates_apart(cli: Cli, spent: dict[str, str]) -> None:
    document = costs(cli, **spent)
    assert document["by"] == "key" and document["period"]["name"] == "today"
    rows = {r["key"]: r for r in document["rows"]}
    assert list(rows) == ["OLLAMA_API_KEY", "OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2"]
    attempts = ledger(cli)
    for label, row in rows.items():
        mine = [a for a in attempts if a.key_label == label]
        assert row["calls"] == len(mine)
        assert row["reported_micros"] == sum(a.cost_micros or 0 for a in mine if not a.cost_estimated)
        assert row["estimated_micros"] == sum(a.cost_micros or 0 for a in mine if a.cost_estimated)
        assert row["tokens_out"] == sum(a.tokens_out or 0 for a in mine)
    revoked, working = rows["OPENROUTER_API_KEY_1"], rows["OPENROUTER_API_KEY_2"]
    assert (revoked["calls"], revoked["ok"], revoked["failed"], revoked["cost_micros"]) == (1, 0, 1, 0)
    assert (working["reported_micros"], working["estimated_micros"]) == (2 * REPORTED, 0)
    assert (rows["OLLAMA_API_KEY"]["estimated_micros"], rows["OLLAMA_API_KEY"]["reported_micros"]) == (1_234_570, 0)
    assert rows["OLLAMA_API_KEY"]["unpriced_calls"] == 1
    total = document["total"]
    assert total["cost_micros"] == sum(a.cost_micros or 0 for a in attempts) == 2 * REPORTED + 1_234_570
    assert (total["reported_usd"], total["estimated_usd"], total["cost_usd"]) == ("0.000084", "1.234570", "1.234654")


def test_every_grouping_adds_up_to_the_same_total(cli: Cli, spent: dict[str, str]) -> None:
    totals = [costs(cli, "--by", by, **spent)["total"] for by in ("key", "provider", "model", "day")]
    assert all(t == totals[0] for t in totals)
    models = {(r["provider"], r["model"]): r["cost_micros"] for r in costs(cli, "--by", "model", **spent)["rows"]}
    assert models == {("ollama", "gpt-oss:120b"): 1_234_570, ("openrouter", "openai/gpt-4o-mini"): 2 * REPORTED}
    (today,) = costs(cli, "--by", "day", **spent)["rows"]
    assert today["day"] == datetime.now(UTC).strftime("%Y-%m-%d")


def test_csv_has_a_header_and_exact_money(cli: Cli, spent: dict[str, str]) -> None:
    result = cli("costs", "--csv", "--by", "provider", **spent)
    assert result.code == ExitStatus.OK
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "provider",
        "calls",
        "ok",
        "failed",
        "tokens_in",
        "tokens_out",
        "reported_usd",
        "estimated_usd",
        "cost_usd",
    ]
    by_provider = {r["provider"]: r for r in rows}
    assert (by_provider["ollama"]["estimated_usd"], by_provider["ollama"]["cost_usd"]) == ("1.234570", "1.234570")
    assert (by_provider["openrouter"]["reported_usd"], by_provider["openrouter"]["calls"]) == (usd(2 * REPORTED), "3")


def test_periods_select_utc_days(cli: Cli, spent: dict[str, str]) -> None:
    now = time.time()
    record(cli, "OLLAMA_API_KEY", OLLAMA_KEYS[0], cost=500, estimated=False, ts=now - 3 * DAY)
    today = costs(cli, **spent)["total"]["calls"]
    assert costs(cli, "--days", "4", **spent)["total"]["calls"] == today + 1
    assert costs(cli, "--days", "1", **spent)["total"]["calls"] == today
    since = datetime.fromtimestamp(now - 3 * DAY, UTC).strftime("%Y-%m-%d")
    document = costs(cli, "--since", since, "--by", "day", **spent)
    assert [r["calls"] for r in document["rows"]] == [1, 0, 0, today]
    assert document["total"]["reported_micros"] == 2 * REPORTED + 500
    month = costs(cli, "--month", **spent)
    assert month["period"]["label"] == datetime.now(UTC).strftime("%Y-%m")


@pytest.mark.parametrize(
    "args",
    [
        ["--today", "--month"],
        ["--days", "2", "--since", "2026-01-01"],
        ["--since", "yesterday"],
        ["--since", "2999-01-01"],
        ["--by", "colour"],
        ["--json", "--csv"],
        ["--days", "0"],
    ],
)
def test_bad_options_are_usage_errors(cli: Cli, args: list[str]) -> None:
    result = cli("costs", *args, **keys_env(openrouter=1))
    assert result.code == ExitStatus.USAGE
    if "--json" in args:  # --json answers even a usage error, with one document
        assert json.loads(result.stdout)["error"]["code"] == "usage"
    else:
        assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_a_key_no_longer_configured_keeps_its_costs(cli: Cli, spent: dict[str, str]) -> None:
    only_ollama = keys_env(ollama=1)
    rows = {r["key"]: r for r in costs(cli, **only_ollama)["rows"]}
    assert rows["OPENROUTER_API_KEY_2"]["mask"] == "(not configured)"
    assert rows["OPENROUTER_API_KEY_2"]["reported_micros"] == 2 * REPORTED


def test_the_table_shows_reported_estimated_and_total(cli: Cli, spent: dict[str, str]) -> None:
    result = cli("costs", **spent)
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "key",
        "provider",
        "mask",
        "calls",
        "failed",
        "tokens",
        "in",
        "tokens",
        "out",
        "reported",
        "estimated",
        "total",
    ]
    (ollama,) = [line for line in lines if line.startswith("OLLAMA_API_KEY")]
    assert ollama.split()[-5:] == ["$0", "~$1.23457", "~$1.23457", "(+1", "unpriced)"]
    assert lines[-1].split()[0] == "total" and lines[-1].split()[-3:] == ["~$1.234654", "(+1", "unpriced)"]
