"""``llmroute metrics`` end to end: the ledger's families after real chats against the fake, to stdout or written
atomically for node_exporter's textfile collector; and ``chat`` never pays for prometheus_client."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmroute.cli.failures import ExitStatus
from llmroute.store import Store
from tests.conftest import OR_KEYS, Cli, assert_no_secret, keys_env
from tests.fakes import FakeProvider, or_401, or_429

MODEL = "openrouter:openai/gpt-4o-mini"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, family: str, /, **labels: str) -> float:
    return found.get((family, frozenset(labels.items())), 0.0)


def in_an_hour_ms() -> int:
    return int((time.time() + 3600) * 1000)


def test_metrics_count_what_the_ledger_and_costs_hold(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=3, ollama=1)
    cloud.script(OR_KEYS[0], or_429(reset_ms=in_an_hour_ms()))
    cloud.script(OR_KEYS[1], or_401())
    assert cli("chat", "-m", MODEL, "hi", **env).code == ExitStatus.OK
    assert cli("chat", "-m", MODEL, "again", **env).code == ExitStatus.OK
    assert cli("chat", "-m", "ollama:gpt-oss:120b", "hi", **env).code == ExitStatus.OK

    result = cli("metrics", **env)
    assert result.code == ExitStatus.OK, result.stderr
    assert result.stderr == ""
    found = samples(result.stdout)
    store = Store.open(cli.home / "state.db")
    try:
        rows = store.attempts()
    finally:
        store.close()
    assert len(rows) == 5
    for row_key in {(r.provider, r.key_label, r.model) for r in rows}:
        provider, label, model = row_key
        mine = [r for r in rows if (r.provider, r.key_label, r.model) == row_key]
        labels = {"provider": provider, "key": label, "model": model}
        for outcome in ("ok", "failed"):
            assert value(found, "llmroute_calls_total", **labels, outcome=outcome) == sum(
                r.outcome == outcome for r in mine
            )
        assert value(found, "llmroute_tokens_total", **labels, direction="in") == sum(r.tokens_in or 0 for r in mine)
        cost = sum(r.cost_micros or 0 for r in mine if not r.cost_estimated)
        assert value(found, "llmroute_cost_usd_total", **labels, source="reported") == cost / 1e6
    kinds = {labels: n for (name, labels), n in found.items() if name == "llmroute_recent_errors"}
    assert sorted(dict(k)["kind"] for k in kinds) == ["auth", "rate_limited"]
    assert value(found, "llmroute_recent_requests") == 3
    assert value(found, "llmroute_recent_failovers") == 2
    key_state = "llmroute_key_state"
    assert value(found, key_state, provider="openrouter", key="OPENROUTER_API_KEY_1", state="cooling") == 1
    assert value(found, key_state, provider="openrouter", key="OPENROUTER_API_KEY_2", state="disabled") == 1
    assert value(found, key_state, provider="openrouter", key="OPENROUTER_API_KEY_3", state="ready") == 1
    until = value(
        found, "llmroute_key_state_until_timestamp_seconds", provider="openrouter", key="OPENROUTER_API_KEY_1"
    )
    assert until == pytest.approx(in_an_hour_ms() / 1000, abs=120)

    costs = json.loads(cli("costs", "--by", "provider", "--json", **env).stdout)
    for group in costs["rows"]:
        spent = sum(
            v
            for (name, labels), v in found.items()
            if name == "llmroute_cost_usd_total" and ("provider", group["provider"]) in labels
        )
        assert spent == pytest.approx(group["cost_micros"] / 1e6, abs=1e-12)
        calls = sum(
            v
            for (name, labels), v in found.items()
            if name == "llmroute_calls_total" and ("provider", group["provider"]) in labels
        )
        assert calls == group["calls"]


def test_output_replaces_the_file_in_one_rename(cli: Cli, cloud: FakeProvider, tmp_path: Path) -> None:
    env = keys_env(openrouter=1)
    collector = tmp_path / "textfile"
    collector.mkdir()
    target = collector / "llmroute.prom"
    result = cli("metrics", "--output", str(target), **env)
    assert result.code == ExitStatus.OK, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    assert [p.name for p in collector.iterdir()] == ["llmroute.prom"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    first = target.read_text()
    assert_no_secret(first, "the metrics file")
    assert (
        value(
            samples(first),
            "llmroute_calls_total",
            provider="openrouter",
            key="OPENROUTER_API_KEY_1",
            model="openai/gpt-4o-mini",
            outcome="ok",
        )
        == 0
    )

    assert cli("chat", "-m", MODEL, "hi", **env).code == ExitStatus.OK
    target.chmod(0o640)
    inode = target.stat().st_ino
    reader = target.open()  # a collector reading the old file as it is replaced keeps reading the old file whole
    assert cli("metrics", "-o", str(target), **env).code == ExitStatus.OK
    assert reader.read() == first
    reader.close()
    assert target.stat().st_ino != inode and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in collector.iterdir()] == ["llmroute.prom"]
    found = samples(target.read_text())
    labels = {"provider": "openrouter", "key": "OPENROUTER_API_KEY_1", "model": "openai/gpt-4o-mini"}
    assert value(found, "llmroute_calls_total", **labels, outcome="ok") == 1


def test_output_to_a_missing_directory_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("metrics", "--output", str(tmp_path / "nowhere" / "llmroute.prom"), **keys_env(openrouter=1))
    assert result.code == ExitStatus.USAGE
    assert result.stdout == ""
    assert result.stderr.startswith("error: --output") and result.stderr.count("\n") == 1


def test_an_output_that_cannot_be_replaced_is_one_line_and_leaves_nothing_behind(cli: Cli, tmp_path: Path) -> None:
    collector = tmp_path / "textfile"
    (collector / "llmroute.prom").mkdir(parents=True)  # a directory where the file should go: the rename fails
    result = cli("metrics", "--output", str(collector / "llmroute.prom"), **keys_env(openrouter=1))
    assert result.code == ExitStatus.USAGE
    assert result.stderr.startswith("error: cannot write --output") and result.stderr.count("\n") == 1
    assert [p.name for p in collector.iterdir()] == ["llmroute.prom"]


PROBE = """
import sys
from llmroute.cli.app import run
status = run(sys.argv[1:])
heavy = [m for m in ("prometheus_client", "aiohttp") if m in sys.modules]
sys.stderr.write(f"\\nstatus={status} heavy={','.join(heavy)}\\n")
"""


@pytest.mark.parametrize(
    ("args", "heavy"),
    [
        (("chat", "-m", MODEL, "hi"), ""),
        (("chat", "--json", "-v", "-m", MODEL, "hi"), ""),
        (("status",), ""),
        (("costs", "--json"), ""),
        (("metrics",), "prometheus_client"),
    ],
    ids=["chat", "chat-typer", "status", "costs", "metrics"],
)
def test_only_metrics_imports_prometheus_client(cli: Cli, args: tuple[str, ...], heavy: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env={**cli.env, **keys_env(openrouter=1)},
        cwd=cli.cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    result = cli.result(proc.returncode, proc.stdout, proc.stderr)
    assert f"status=0 heavy={heavy}\n" in result.stderr, result.stderr
