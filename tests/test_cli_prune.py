"""``llmroute prune`` end to end: what goes, what stays, ``costs`` unchanged, the setting and its errors."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from llmroute.cli.failures import ExitStatus
from llmroute.keys import fingerprint
from llmroute.store import AttemptRow, Store
from llmroute.store.retention import DAY, cutoff_for
from tests.conftest import OR_KEYS, Cli, keys_env
from tests.test_retention import mixed, seed

MODEL = "openrouter:openai/gpt-4o-mini"
OLD = 300
"""Attempts seeded 40 to 10 days ago."""


def history(cli: Cli) -> dict[str, str]:
    """Old attempts (seeded with their daily totals, and two through the library's own write path) and a
    real ``chat`` today; returns the keys' environment."""
    env = keys_env(openrouter=1)
    path = cli.home / "state.db"
    store = Store.open(path)
    try:
        today = time.time() // DAY * DAY
        seed(store._conn, mixed(OLD, today - 40 * DAY, today - 10 * DAY))
        for ts in (today - 20 * DAY, today - 20 * DAY + 60):
            store.record_attempt(old_call(ts))
    finally:
        store.close()
    assert cli("chat", "-m", MODEL, "hello", **env).code == ExitStatus.OK
    return env


def old_call(ts: float) -> AttemptRow:
    return AttemptRow(
        ts=ts,
        request_id="old",
        provider="openrouter",
        key_label="OPENROUTER_API_KEY_1",
        key_fingerprint=fingerprint(OR_KEYS[0]),
        model="openai/gpt-4o-mini",
        outcome="ok",
        error_kind=None,
        http_status=None,
        message=None,
        latency_ms=120.0,
        ttft_ms=40.0,
        tokens_in=11,
        tokens_out=13,
        cost_micros=4_321,
    )


def raw_times(cli: Cli) -> list[float]:
    conn = sqlite3.connect(cli.home / "state.db")
    try:
        return [row[0] for row in conn.execute("SELECT ts FROM attempts ORDER BY ts")]
    finally:
        conn.close()


def prune(cli: Cli, *args: str, **env: str) -> dict[str, Any]:
    result = cli("prune", "--json", *args, **env)
    assert result.code == ExitStatus.OK, result.stderr
    return json.loads(result.stdout)


def costs(cli: Cli, by: str, since: str, env: dict[str, str]) -> dict[str, Any]:
    result = cli("costs", "--json", "--by", by, "--since", since, **env)
    assert result.code == ExitStatus.OK, result.stderr
    document = json.loads(result.stdout)
    return {"rows": document["rows"], "total": document["total"]}


def utc_day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def test_a_dry_run_counts_what_would_go_and_changes_nothing(cli: Cli) -> None:
    env = history(cli)
    before = raw_times(cli)
    result = cli("prune", "--dry-run", "--keep-days", "5", **env)
    assert result.code == ExitStatus.OK, result.stderr
    first, last = utc_day(before[0]), utc_day(before[OLD + 1])
    cutoff = utc_day(cutoff_for(time.time(), 5))
    assert result.stdout.startswith(
        f"would remove {OLD + 2:,} attempts from {first} to {last}: every attempt before {cutoff} (UTC) "
        "(keep_days 5: flag)\n"
    )
    assert "dry run: nothing was changed" in result.stdout
    assert "reclaimed" not in result.stdout
    assert raw_times(cli) == before

    document = prune(cli, "--dry-run", "--keep-days", "5", **env)
    assert document["dry_run"] is True and document["removed"]["rows"] == OLD + 2 and document["vacuum"] is None


def test_prune_removes_old_attempts_and_costs_over_the_period_is_unchanged(cli: Cli) -> None:
    env = history(cli)
    since = utc_day(time.time() - 45 * DAY)
    before = {by: costs(cli, by, since, env) for by in ("key", "provider", "model", "day")}
    assert before["key"]["total"]["calls"] == OLD + 3

    result = cli("prune", "--keep-days", "1", **env)
    assert result.code == ExitStatus.OK, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"removed {OLD + 2:,} attempts from ")
    assert lines[0].endswith("(keep_days 1: flag)")
    assert lines[1] == "their totals are kept per day, key, provider and model: `costs` over any period is unchanged"
    assert lines[2].startswith("reclaimed ") and "the state file went from" in lines[2]

    cutoff = cutoff_for(time.time(), 1)
    assert [ts for ts in raw_times(cli) if ts < cutoff] == [], "the old raw rows are gone"
    assert len(raw_times(cli)) == 1, "today's call stays"
    after = {by: costs(cli, by, since, env) for by in before}
    assert after == before, "costs over the pruned period is exact to the micro-dollar"

    again = cli("prune", "--keep-days", "1", **env)
    assert again.code == ExitStatus.OK
    assert again.stdout.startswith("nothing to remove: no attempt before ")


def test_the_json_document(cli: Cli) -> None:
    env = history(cli)
    document = prune(cli, "--keep-days", "7", **env)
    assert set(document) == {
        "dry_run",
        "keep_days",
        "keep_days_source",
        "cutoff",
        "removed",
        "finished",
        "pending_kept",
        "oldest_kept",
        "vacuum",
    }
    assert (document["dry_run"], document["keep_days"], document["keep_days_source"]) == (False, 7, "flag")
    assert document["cutoff"] == datetime.fromtimestamp(cutoff_for(time.time(), 7), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert document["removed"]["rows"] == OLD + 2
    assert document["removed"]["first"] < document["removed"]["last"] < document["cutoff"] < document["oldest_kept"]
    assert (document["finished"], document["pending_kept"]) == (True, 0)
    vacuum = document["vacuum"]
    assert set(vacuum) == {"bytes_before", "bytes_after", "bytes_reclaimed", "rewritten", "checkpointed"}
    assert vacuum["bytes_reclaimed"] == vacuum["bytes_before"] - vacuum["bytes_after"] > 0
    assert vacuum["checkpointed"] is True

    no_vacuum = prune(cli, "--no-vacuum", **env)
    assert no_vacuum["vacuum"] is None and no_vacuum["removed"] == {"rows": 0, "first": None, "last": None}
    assert (no_vacuum["keep_days"], no_vacuum["keep_days_source"]) == (90, "default")


def test_prune_works_on_a_new_state_file(cli: Cli) -> None:
    result = cli("prune")
    assert result.code == ExitStatus.OK, result.stderr
    assert result.stdout.startswith("nothing to remove: no attempt before ")
    assert "(keep_days 90: default)" in result.stdout


@pytest.mark.parametrize("value", ["0", "-3", "two", "36501"])
def test_a_bad_keep_days_flag_is_a_usage_error(cli: Cli, value: str) -> None:
    result = cli("prune", "--keep-days", value)
    assert result.code == ExitStatus.USAGE
    assert "--keep-days" in result.stderr
    assert not (cli.home / "state.db").exists(), "nothing was opened"


def write_config(cli: Cli, text: str) -> None:
    path = cli.home / "config.toml"
    path.write_text(text)
    path.chmod(0o600)


def test_keep_days_comes_from_the_file_then_the_environment_then_the_flag(cli: Cli) -> None:
    write_config(cli, "[ledger]\nkeep_days = 30\n")
    assert (prune(cli, "--dry-run")["keep_days"], prune(cli, "--dry-run")["keep_days_source"]) == (30, "file")
    from_env = prune(cli, "--dry-run", LLMROUTE_KEEP_DAYS="20")
    assert (from_env["keep_days"], from_env["keep_days_source"]) == (20, "env LLMROUTE_KEEP_DAYS")
    flagged = prune(cli, "--dry-run", "--keep-days", "3", LLMROUTE_KEEP_DAYS="20")
    assert (flagged["keep_days"], flagged["keep_days_source"]) == (3, "flag")

    shown = cli("config", "show", "--json", LLMROUTE_KEEP_DAYS="20")
    assert json.loads(shown.stdout)["settings"]["ledger.keep_days"] == {"value": 20, "source": "env LLMROUTE_KEEP_DAYS"}


@pytest.mark.parametrize("value", ["0", "1.5", '"90"', "true"])
def test_a_bad_keep_days_in_the_file_is_a_config_error(cli: Cli, value: str) -> None:
    write_config(cli, f"[ledger]\nkeep_days = {value}\n")
    result = cli("prune")
    assert result.code == ExitStatus.CONFIG
    assert result.stderr.strip() == "error: config.toml: ledger.keep_days must be a positive integer"


def test_a_bad_keep_days_variable_is_a_config_error(cli: Cli) -> None:
    result = cli("status", LLMROUTE_KEEP_DAYS="a week")
    assert result.code == ExitStatus.CONFIG
    assert result.stderr.strip() == "error: LLMROUTE_KEEP_DAYS must be a positive integer, not 'a week'"


def test_an_unknown_ledger_key_is_a_warning(cli: Cli) -> None:
    write_config(cli, "[ledger]\nkeep_days = 30\nkeep_dayz = 3\n")
    result = cli("prune", "--dry-run")
    assert result.code == ExitStatus.OK
    assert result.stderr.strip() == "warning: config.toml: unknown key ledger.keep_dayz (ignored)"


def test_config_show_and_init_know_keep_days(cli: Cli) -> None:
    shown = cli("config", "show", "--json")
    assert json.loads(shown.stdout)["settings"]["ledger.keep_days"] == {"value": 90, "source": "default"}
    assert cli("config", "init").code == ExitStatus.OK
    text = (cli.home / "config.toml").read_text()
    assert "# [ledger]\n# keep_days = 90\n" in text


def test_an_unusable_state_file_is_a_config_error(cli: Cli) -> None:
    (cli.home / "state.db").mkdir()
    result = cli("prune")
    assert result.code == ExitStatus.CONFIG
    assert result.stderr.startswith("error: cannot open the state file")


def test_prune_is_listed_in_help(cli: Cli) -> None:
    result = cli("--help")
    assert "prune" in result.stdout


def test_the_write_ahead_log_is_not_left_behind(cli: Cli) -> None:
    """After a prune, nothing holds the write-ahead log: it was truncated and removed with the last connection."""
    history(cli)
    assert prune(cli, "--keep-days", "1")["vacuum"]["checkpointed"] is True
    wal = cli.home / "state.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
