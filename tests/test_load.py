"""Load: 16 processes x 50 ``llmroute chat`` runs against keys with mixed faults, sharing one state file.

Each worker is a separate Python process that runs the real CLI 50 times *in
process* (``llmroute.cli.app.run`` with its own stdout and stderr, in the
environment and working directory a ``llmroute`` subprocess would get): the same
code path as the console script, without 800 interpreter start-ups, so the test
fits in CI. What is checked afterwards, against the fake provider's own records:

- every HTTP attempt the fake received has exactly one ledger row (per key, and
  per request for the answered ones), none is left pending;
- no run printed "database is locked" and every exit code is a documented one;
- ``costs --json`` equals the exact sum of the rows' ``cost_micros`` and what the
  fake billed: OpenRouter's ``usage.cost`` per answer, and Ollama's tokens at the
  configured price;
- the per-minute limit of one key held in every sliding minute, and the key and
  total budgets were never overspent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmroute.cli.failures import ExitStatus
from llmroute.limits import usd
from llmroute.store import AttemptRow, Store
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, keys_env
from tests.fakes import Behaviour, FakeProvider, error, ollama_error, or_429, reply, stream_reply

WORKERS = 16
RUNS = 50
MODEL = "kimi-k2.6"  # Ollama Cloud's kimi-k2.6 and OpenRouter's moonshotai/kimi-k2.6

PER_MINUTE = 40
"""OPENROUTER_API_KEY_1's own limit."""
KEY_BUDGET = 0.0015
"""OPENROUTER_API_KEY_3's daily budget, USD: about 11 of its answers. Key 3 cools for a second after each of its
scripted faults while Ollama drains the total budget, so a larger budget (0.004 was) is reached only on a slow run."""
TOTAL_BUDGET = 0.045
"""The daily budget over everything, USD: reached after some 500 answers; the runs after it are refused."""
PRICE = 10.0
"""USD per million tokens, prompt and completion, for both providers: what every attempt reserves at, and
what an Ollama answer costs (Ollama reports no cost: llmroute estimates it from the tokens)."""
OLLAMA_BUSY_EVERY = 6
"""OLLAMA_API_KEY_2 answers 503 to its 1st, 7th, 13th, ... request."""
OLLAMA_ANSWER_MICROS = round((3 + 5) * PRICE)
"""The fake counts a prompt "load wN rM" as 3 tokens and answers its 5-token default text."""

CONFIG = f"""
[routing]
provider_order = ["openrouter", "ollama"]
key_selection = "round-robin"

[budgets]
daily = {TOTAL_BUDGET}

[breaker]
cool_off = 1

[keys.OPENROUTER_API_KEY_1.limits]
per_minute = {PER_MINUTE}

[keys.OPENROUTER_API_KEY_3.budget]
daily = {KEY_BUDGET}

[providers.openrouter.prices]
"*" = [{PRICE}, {PRICE}]

[providers.ollama.prices]
"*" = [{PRICE}, {PRICE}]
"""

LABELS = {
    OR_KEYS[0]: "OPENROUTER_API_KEY_1",
    OR_KEYS[1]: "OPENROUTER_API_KEY_2",
    OR_KEYS[2]: "OPENROUTER_API_KEY_3",
    OLLAMA_KEYS[0]: "OLLAMA_API_KEY",
    OLLAMA_KEYS[1]: "OLLAMA_API_KEY_2",
}

WORKER = """
import functools, io, json, os, sys, time
from pathlib import Path
import httpx, typer.main
import llmroute.cli.chat
from llmroute.cli.app import run
from llmroute.cli.environment import Environment

# Typer rebuilds the click command from the function signatures on every call (~45 ms): a real
# process pays that once, so a worker builds it once too. Nothing else differs from `llmroute`.
typer.main.get_command = functools.cache(typer.main.get_command)

worker, runs, gate = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
args = json.loads(sys.argv[4])
(gate / f"ready-{worker}").touch()
while not (gate / "go").exists():
    time.sleep(0.002)
for i in range(runs):
    prompt = f"load w{worker} r{i}"
    out, err = io.StringIO(), io.StringIO()
    environment = Environment(stdin=io.BytesIO(), stdout=out, stderr=err, env=dict(os.environ))
    began = time.perf_counter()
    code = run([*args, prompt], environment)
    seconds = time.perf_counter() - began
    print(json.dumps({"prompt": prompt, "code": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                      "seconds": seconds}), flush=True)
"""


@dataclass(frozen=True)
class Run:
    prompt: str
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def faults(pattern: list[Behaviour], count: int) -> list[Behaviour]:
    """``pattern`` repeated to ``count`` behaviours (more than a key can be asked in this test)."""
    return [pattern[i % len(pattern)] for i in range(count)]


def script_faults(fake: FakeProvider) -> None:
    total = WORKERS * RUNS
    # Slow, and capped at PER_MINUTE calls by the config file.
    fake.script(OR_KEYS[0], *faults([reply(delay=0.15, cost=0.000042)], total))
    # A 429 with a one-second Retry-After now and then; streams in small chunks otherwise.
    limited = or_429(retry_after=1)
    fake.script(OR_KEYS[1], *faults([limited, *[stream_reply(chunk_delay=0.005, cost=0.000097)] * 9], total))
    # A 503 or a 500 now and then (with a one-second hint), and its own budget.
    hint = {"Retry-After": "1"}
    overloaded = error(503, {"error": {"message": "Provider overloaded", "code": 503}}, hint)
    server = error(500, {"error": {"message": "Internal Server Error", "code": 500}}, hint)
    answer = reply(cost=0.000137)
    fake.script(OR_KEYS[2], *faults([overloaded, *[answer] * 4, server, *[answer] * 4], total))
    # Ollama Cloud: slow, or busy now and then (a one-second hint).
    fake.script(OLLAMA_KEYS[0], *faults([reply(delay=0.05)], total))
    busy = ollama_error(503, "server busy, please try again.", {"Retry-After": "1"})
    fake.script(OLLAMA_KEYS[1], *faults([busy, *[reply()] * (OLLAMA_BUSY_EVERY - 1)], total))


def ollama_billed(fake: FakeProvider) -> int:
    """What Ollama's answers cost, from the fake's own counts: every request but the scripted 503s answered."""
    first = len(fake.requests_for(OLLAMA_KEYS[0]))
    second = len(fake.requests_for(OLLAMA_KEYS[1]))
    busy = -(-second // OLLAMA_BUSY_EVERY)  # requests 0, 6, 12, ... were answered 503
    return (first + second - busy) * OLLAMA_ANSWER_MICROS


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    keys = dict(LABELS)
    with FakeProvider(keys=keys, models={"moonshotai/kimi-k2.6", "kimi-k2.6"}) as provider:
        yield provider


def run_workers(cli: Cli, env: dict[str, str]) -> tuple[list[Run], list[str], float]:
    """Start every worker, release them at once, and collect every run; returns (runs, worker stderrs, seconds)."""
    gate = cli.home.parent / "gate"
    gate.mkdir()
    procs = []
    for worker in range(WORKERS):
        args = ["chat", "--json", "-v", "-m", MODEL, "--max-tokens", "8", "--timeout", "30"]
        if worker % 2:
            args.append("--no-stream")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(worker), str(RUNS), str(gate), json.dumps(args)],
                env={**cli.env, **env},
                cwd=cli.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    deadline = time.monotonic() + 120
    while len(list(gate.glob("ready-*"))) < WORKERS:
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a worker did not start"
        time.sleep(0.01)
    start = time.monotonic()
    (gate / "go").touch()
    outputs = [p.communicate(timeout=300) for p in procs]
    seconds = time.monotonic() - start
    runs = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode("utf-8", "replace")
        for line in out.decode().splitlines():
            item = json.loads(line)
            Cli.result(item["code"], item["stdout"].encode(), item["stderr"].encode())  # leak and traceback scan
            runs.append(Run(item["prompt"], item["code"], item["stdout"], item["stderr"], item["seconds"]))
    return runs, [err.decode("utf-8", "replace") for _, err in outputs], seconds


def ledger(path: Path) -> list[AttemptRow]:
    store = Store.open(path)
    try:
        return store.attempts()
    finally:
        store.close()


def prompt_of(body: object) -> str:
    assert isinstance(body, dict)
    return str(body["messages"][-1]["content"])


def test_sixteen_processes_times_fifty_runs_lose_no_row_and_hold_every_limit(cli: Cli, fake: FakeProvider) -> None:
    (cli.home / "config.toml").write_text(CONFIG)
    (cli.home / "config.toml").chmod(0o600)
    script_faults(fake)
    env = keys_env(openrouter=3, ollama=2) | {
        "OPENROUTER_BASE_URL": fake.openrouter_url,
        "OLLAMA_BASE_URL": fake.ollama_url,
    }

    runs, worker_errors, seconds = run_workers(cli, env)
    requests = fake.chat_requests
    durations = sorted(r.seconds for r in runs)
    print(
        f"\nload: {WORKERS} processes x {RUNS} runs = {len(runs)} chats, {len(requests)} HTTP attempts "
        f"in {seconds:.1f}s ({len(runs) / seconds:.0f} chats/s, {len(requests) / seconds:.0f} attempts/s; "
        f"a chat's median {durations[len(durations) // 2]:.2f}s, slowest {durations[-1]:.2f}s); "
        f"exit codes {dict(Counter(r.code for r in runs))}; attempts per key "
        f"{dict(Counter(LABELS[r.bearer or ''] for r in requests))}"
    )

    # Every run ended with a documented status, one JSON document, and never "database is locked".
    assert len(runs) == WORKERS * RUNS
    assert {r.code for r in runs} <= {ExitStatus.OK, ExitStatus.ALL_FAILED, ExitStatus.LIMITED}
    assert not any("locked" in text for r in runs for text in (r.stdout, r.stderr))
    assert not any("locked" in text or "Traceback" in text for text in worker_errors)
    documents = {r.prompt: r.document for r in runs}

    # Zero lost, zero duplicated: the fake's requests, the runs' attempts and the ledger agree.
    rows = ledger(cli.home / "state.db")
    assert {row.outcome for row in rows} <= {"ok", "failed"}, "nothing is left pending or abandoned"
    sent = Counter((prompt_of(r.body), LABELS[r.bearer or ""]) for r in requests)
    told = Counter((prompt, a["key_label"]) for prompt, doc in documents.items() for a in doc["attempts"])
    assert sent == told
    assert Counter(row.key_label for row in rows) == Counter(label for _, label in sent.elements())
    by_request: dict[str, Counter[str]] = {}
    for row in rows:
        by_request.setdefault(row.request_id, Counter())[row.key_label] += 1
    for doc in documents.values():
        if "request_id" in doc:  # an answer: its own rows, one per attempt it reports
            assert Counter(a["key_label"] for a in doc["attempts"]) == by_request.get(doc["request_id"], Counter())

    # Money: the report, the ledger and the fake's bill agree to the micro-dollar.
    spent = sum(row.cost_micros or 0 for row in rows)
    reported = sum(round(fake.usage_of(secret) * 1_000_000) for secret in OR_KEYS)
    estimated = sum(row.cost_micros or 0 for row in rows if row.cost_estimated)
    assert estimated == ollama_billed(fake), "Ollama's answers, costed from their tokens at the configured price"
    costs = cli("costs", "--json", **env)
    assert costs.code == 0
    assert json.loads(costs.stdout)["total"]["cost_micros"] == spent == reported + estimated

    # Limits and budgets held: the per-minute cap in every sliding minute, the budgets in total.
    for times in (
        sorted(r.time for r in requests if r.bearer == OR_KEYS[0]),  # when the fake saw them
        sorted(row.ts for row in rows if row.key_label == "OPENROUTER_API_KEY_1"),  # when they were admitted
    ):
        assert all(later - first >= 60 for first, later in zip(times, times[PER_MINUTE:], strict=False))
    key3 = sum(row.cost_micros or 0 for row in rows if row.key_label == "OPENROUTER_API_KEY_3")
    assert key3 <= KEY_BUDGET * 1_000_000 and spent <= TOTAL_BUDGET * 1_000_000
    refusals = "\n".join(r.stderr for r in runs)
    assert f"at {PER_MINUTE} calls per minute" in refusals, "the per-minute limit was reached"
    assert "OPENROUTER_API_KEY_3 at daily budget" in refusals, "the key's budget was reached"
    # "is spent", or "has $x left, less than the $y a call may cost": either way the budget refused.
    total_spent = f"the daily budget {usd(TOTAL_BUDGET)} of total "
    assert any(r.code == ExitStatus.LIMITED and total_spent in r.stderr for r in runs), "the total budget was reached"
