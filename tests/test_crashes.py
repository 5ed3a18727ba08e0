"""``kill -9`` of real ``llmroute chat`` processes, mid-stream and mid-write: the state file survives every one.

Ten rounds, two at a time, each with two kills: one process is killed as soon
as the first words of its streamed answer reach stdout; another, of two running
short requests beside it, at a random moment aimed at its admission, its
request in flight, or its settling. Afterwards the file passes ``PRAGMA
integrity_check``, the next admission turns every dead process's reservation
into an ``abandoned`` row once its timeout (one second here) has passed, and
``chat``, ``status`` and ``costs`` work. ``LLMROUTE_CRASH_SEED`` changes the
random moments.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from llmroute import windows
from llmroute.limits import Scope
from llmroute.store import Store
from tests.conftest import OR_KEYS, Cli, keys_env
from tests.fakes import FakeProvider, reply, stream_reply

MODEL = "openrouter:openai/gpt-4o-mini"
ROUNDS = 10
WRITERS = 2
TOGETHER = 2
"""Rounds run at once (each mostly waits: two at a time keep two cores busy)."""
RESERVATION_TIMEOUT = 1.0

CONFIG = f"""
[reservations]
timeout = {RESERVATION_TIMEOUT:g}

[budgets]
daily = 1.0

[providers.openrouter.prices]
"*" = [1.0, 1.0]
"""

STREAMER = keys_env(openrouter=1)
"""The streaming victims' key (OR_KEYS[0]): its answers are scripted to trickle."""
WRITER = {"OPENROUTER_API_KEY_2": OR_KEYS[1]}
"""The short requests' key: answers after ANSWER_DELAY."""
ANSWER_DELAY = 0.3


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def rows(path: Path) -> list[tuple[str, str, float | None, int | None]]:
    """Outcome, key label, reserved_until and cost of every attempt, oldest first."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute("SELECT outcome, key_label, reserved_until, cost_micros FROM attempts ORDER BY id"))
    finally:
        conn.close()


def first_output(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no output in time"
    return os.read(proc.stdout.fileno(), 1)


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, bytes, bytes]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def arrival(fake: FakeProvider, prompt: str) -> float | None:
    """When the short request carrying ``prompt`` reached the fake, if it has."""
    for request in fake.requests_for(OR_KEYS[1]):
        if isinstance(request.body, dict) and request.body["messages"][-1]["content"] == prompt:
            return request.time
    return None


def wait_for_arrival(fake: FakeProvider, prompt: str, proc: subprocess.Popen[bytes], timeout: float) -> float | None:
    """When the request carrying ``prompt`` reached the fake (None if the process ended first or time ran out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        when = arrival(fake, prompt)
        if when is not None:
            return when
        time.sleep(0.005)
    return arrival(fake, prompt)


def kill_round(n: int, cli: Cli, cloud: FakeProvider, reach: list[float]) -> tuple[list[str], float]:
    """One streamer killed after its first words, one of WRITERS killed while writing; returns what and when."""
    rng = random.Random(f"{os.environ.get('LLMROUTE_CRASH_SEED', 'kill -9')} {n}")
    streamer = cli.popen("chat", "-m", MODEL, f"stream {n}", **STREAMER)
    began = time.time()
    writers = [cli.popen("chat", "-m", MODEL, f"write {n}.{i}", **WRITER) for i in range(WRITERS)]
    victim = rng.randrange(WRITERS)
    prompt = f"write {n}.{victim}"
    if n % 3 == 2 and reach:
        # Around the admission: up to 300 ms before the request usually reaches the provider.
        time.sleep(max(0.0, began + statistics.median(reach) + rng.uniform(-0.3, 0.0) - time.time()))
    else:
        # While the request is in flight (its row pending), or around the settling once the answer is in.
        wait_for_arrival(cloud, prompt, writers[victim], timeout=20)
        in_flight = (0.0, ANSWER_DELAY - 0.05) if n % 3 == 0 else (ANSWER_DELAY - 0.05, ANSWER_DELAY + 0.15)
        time.sleep(rng.uniform(*in_flight))
    writers[victim].send_signal(signal.SIGKILL)
    kills = ["write, after its request was sent" if arrival(cloud, prompt) else "write, before its request"]
    assert first_output(streamer, timeout=20)
    streamer.send_signal(signal.SIGKILL)
    last_kill = time.time()
    kills.append("mid-stream")
    assert finish(streamer)[0] == -signal.SIGKILL
    for i, proc in enumerate(writers):
        code, out, err = finish(proc)
        if i == victim:
            assert code in (-signal.SIGKILL, 0), "the victim died or had already finished"
            continue
        result = Cli.result(code, out, err)
        assert result.code == 0, result.stderr
        assert "locked" not in result.stderr
        reach.append((arrival(cloud, f"write {n}.{i}") or began) - began)
    return kills, last_kill


def test_twenty_kill_nines_mid_stream_and_mid_write_leave_a_sound_state_file(cli: Cli, cloud: FakeProvider) -> None:
    (cli.home / "config.toml").write_text(CONFIG)
    (cli.home / "config.toml").chmod(0o600)
    state = cli.home / "state.db"
    # Long enough that no streamer can finish before it is killed, however slow the machine.
    trickle = stream_reply(" ".join(f"word{i}" for i in range(40)), chunk_delay=0.25)
    cloud.script(OR_KEYS[0], *[trickle] * ROUNDS)
    cloud.script(OR_KEYS[1], *[reply(delay=ANSWER_DELAY)] * (ROUNDS * WRITERS + 1))

    reach: list[float] = []
    """How long after its start a bystander's request reached the provider: where admission happens."""
    with ThreadPoolExecutor(max_workers=TOGETHER) as pool:
        done = list(pool.map(lambda n: kill_round(n, cli, cloud, reach), range(ROUNDS)))
    kills = [kill for round_kills, _ in done for kill in round_kills]
    last_kill = max(when for _, when in done)

    in_flight = sum(1 for outcome, label, *_ in rows(state) if outcome in ("pending", "abandoned") and label in WRITER)
    counted = {k: kills.count(k) for k in sorted(set(kills))}
    print(f"\nkill -9: {len(kills)} kills survived: {counted}; {in_flight} write kills between admission and settling")
    assert in_flight, "some write kills hit a request in flight"

    # The file itself came through every kill.
    assert integrity(state) == "ok"
    before = rows(state)
    assert sum(1 for outcome, *_ in before if outcome in ("pending", "abandoned")) >= ROUNDS, "each streamer's row"

    # Once the reservations have expired, the next admission marks the dead processes' attempts abandoned.
    time.sleep(max(0.0, last_kill + RESERVATION_TIMEOUT + 0.2 - time.time()))
    admitted = time.time()
    after_crashes = cli("chat", "-m", MODEL, "the next run", **WRITER)
    assert after_crashes.code == 0 and after_crashes.stdout.strip()
    after = rows(state)
    stuck = [r for r in after if r[0] == "pending" and (r[2] or 0) < admitted]
    assert not stuck, f"reservations stuck past their timeout: {stuck}"
    assert not any(r[0] == "pending" for r in after), "every process has ended: nothing is in flight"
    assert all(cost is None for outcome, _, _, cost in after if outcome == "abandoned"), "never counted as spend"
    settled = sum(1 for r in after if r[0] in ("ok", "failed"))
    assert settled <= len(cloud.chat_requests) <= len(after), "every request has its row; no row is invented"

    status = cli("status", "--json", **WRITER)
    costs = cli("costs", "--json", **WRITER)
    assert status.code == 0 and json.loads(status.stdout)
    assert costs.code == 0
    assert json.loads(costs.stdout)["total"]["cost_micros"] == sum(cost or 0 for *_, cost in after)
    store = Store.open(state)
    try:
        day = windows.day(time.time())
        held = store.spend(Scope("total"), day.start, day.end, now=time.time(), reservation_timeout=1)
    finally:
        store.close()
    assert held.reserved_micros == 0
    assert integrity(state) == "ok"


KILLED_IN_A_TRANSACTION = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
row = "(1.0, 'dead', 'openrouter', 'K', 'fp', 'm', 'ok', 1.0, 42)"
for _ in range(600):  # more than the page cache holds: frames reach the log before the commit
    conn.execute("INSERT INTO attempts (ts, request_id, provider, key_label, key_fingerprint, model, outcome, "
                 "latency_ms, cost_micros) VALUES " + ", ".join([row] * 100))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_process_killed_inside_a_write_transaction_leaves_no_trace_and_no_lock(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = Store.open(path)
    first = store.next_cursor("before")
    store.close()
    proc = subprocess.run([sys.executable, "-c", KILLED_IN_A_TRANSACTION, str(path)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert Path(f"{path}-wal").stat().st_size > 100_000, "the dead transaction's pages reached the log"

    began = time.monotonic()
    store = Store.open(path)
    try:
        assert store.next_cursor("before") == first + 1, "the next writer gets the lock at once"
        assert store.attempts() == []
    finally:
        store.close()
    assert time.monotonic() - began < 5, "no wait on the dead process's lock"
    assert integrity(path) == "ok"
