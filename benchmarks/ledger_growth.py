"""Does the ledger's size slow anything down? (run by hand: ``python benchmarks/ledger_growth.py``)

Builds two state files: an empty one, and one holding ``ROWS`` attempts (default 2 million: a heavy year for five
keys) written through the store's own API (``Store.record_attempts``, which keeps the daily totals as every write
does). Then, against the fake provider on 127.0.0.1, with a daily and a monthly budget and an hourly limit on the
key, the median wall time of one ``llmroute chat`` on each file, and of ``llmroute costs --month`` and
``llmroute status``.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llmroute.keys import fingerprint  # noqa: E402
from llmroute.store import AttemptRow, Store  # noqa: E402
from tests.fakes import FakeProvider  # noqa: E402

ROWS = int(os.environ.get("ROWS", "2000000"))
RUNS = int(os.environ.get("RUNS", "9"))
KEYS = [f"sk-or-v1-{'0' * 56}{i:04x}beef" for i in range(5)]
MODELS = ["openai/gpt-4o-mini", "moonshotai/kimi-k2.6", "meta-llama/llama-3.3-70b-instruct:free"]
CONFIG = """
[ledger]
keep_days = 400  # keep the whole year raw: what is measured is reading a big ledger, not trimming it

[keys.OPENROUTER_API_KEY_1.budget]
daily = 100.0
monthly = 1000.0

[keys.OPENROUTER_API_KEY_1.limits]
per_hour = 100000
"""


def fill(path: Path, rows: int) -> float:
    """Seconds taken to write ``rows`` attempts spread over the past year, in batches of 10,000."""
    store = Store.open(path)
    now = time.time()
    started = time.perf_counter()
    rng = random.Random(7)
    prints = [fingerprint(key) for key in KEYS]
    for first in range(0, rows, 10_000):
        batch = []
        for i in range(first, min(first + 10_000, rows)):
            k = i % len(KEYS)
            ok = rng.random() > 0.05
            batch.append(
                AttemptRow(
                    ts=now - 365 * 86400 + (i / rows) * 365 * 86400,
                    request_id=f"{i:016x}",
                    provider="openrouter",
                    key_label=f"OPENROUTER_API_KEY_{k + 1}",
                    key_fingerprint=prints[k],
                    model=MODELS[i % len(MODELS)],
                    outcome="ok" if ok else "failed",
                    error_kind=None if ok else "rate_limited",
                    http_status=None if ok else 429,
                    message=None if ok else "Rate limit exceeded",
                    latency_ms=rng.uniform(200, 3000),
                    ttft_ms=rng.uniform(100, 800) if ok else None,
                    tokens_in=rng.randint(10, 4000) if ok else None,
                    tokens_out=rng.randint(10, 1500) if ok else None,
                    cost_micros=rng.randint(0, 3000) if ok else None,
                )
            )
        store.record_attempts(batch)
    store.close()
    return time.perf_counter() - started


def in_process(home: Path, report: str) -> float:
    """Median milliseconds to build ``status`` or ``costs --month`` (no process start, no rendering)."""
    from llmroute.config import load_settings
    from llmroute.reports import build_costs, build_status, cost_period

    env = {"LLMROUTE_HOME": str(home), **{f"OPENROUTER_API_KEY_{i + 1}": key for i, key in enumerate(KEYS)}}
    settings = load_settings(env)
    store = Store.open(settings.state_path)
    timings = []
    for _ in range(RUNS):
        now = time.time()
        started = time.perf_counter()
        if report == "status":
            build_status(settings, store, now)
        else:
            build_costs(settings, store, "key", cost_period(now, month=True), now)
        timings.append((time.perf_counter() - started) * 1000)
    store.close()
    return statistics.median(timings)


def median_ms(command: list[str], env: dict[str, str]) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    llmroute = [sys.executable, "-m", "llmroute"]
    keys = {key: f"k{i}" for i, key in enumerate(KEYS)}
    with tempfile.TemporaryDirectory() as tmp, FakeProvider(keys=keys, models=set(MODELS)) as fake:
        homes = {"empty": Path(tmp) / "empty", f"{ROWS:,} rows": Path(tmp) / "full"}
        for home in homes.values():
            home.mkdir()
            (home / "config.toml").write_text(CONFIG)
            (home / "config.toml").chmod(0o600)
        seconds = fill(homes[f"{ROWS:,} rows"] / "state.db", ROWS)
        os.sync()  # else the first runs pay for flushing the fill's dirty pages (SQLite syncs at close)
        size = (homes[f"{ROWS:,} rows"] / "state.db").stat().st_size
        print(f"wrote {ROWS:,} attempts through Store.record_attempts in {seconds:.1f} s ({size / 2**20:.0f} MiB)")
        print(f"{RUNS} runs each, medians (ms); a daily and a monthly budget and an hourly limit on the key")
        figures: dict[str, list[float]] = {}
        for name, home in homes.items():
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": str(home),
                "LLMROUTE_HOME": str(home),
                "OPENROUTER_BASE_URL": fake.openrouter_url,
                **{f"OPENROUTER_API_KEY_{i + 1}": key for i, key in enumerate(KEYS)},
            }
            figures[name] = [
                median_ms([*llmroute, "chat", "-m", "openrouter:openai/gpt-4o-mini", "hello"], env),
                median_ms([*llmroute, "costs", "--month"], env),
                median_ms([*llmroute, "status"], env),
            ]
        empty, full = figures.values()
        for label, a, b in zip(("chat", "costs --month", "status"), empty, full, strict=True):
            print(f"{label:14} empty {a:6.0f}   {ROWS:,} rows {b:6.0f}   ({b / a:.2f}x)")
        print("in-process, building the report from the state file (ms):")
        for name, home in homes.items():
            status, costs = in_process(home, "status"), in_process(home, "costs")
            print(f"  {name:16} status {status:6.1f}   costs --month {costs:6.1f}")
        print(f"the daily trim (keep_days 90) on the {ROWS:,}-row file, three runs:")
        store = Store.open(homes[f"{ROWS:,} rows"] / "state.db")
        for day in range(3):
            started = time.perf_counter()
            result = store.trim_if_due(now=time.time() + (day + 1) * 86400, keep_days=90)
            assert result is not None
            print(f"  deleted {result.deleted:,} attempts in {(time.perf_counter() - started) * 1000:.0f} ms")
        store.close()


if __name__ == "__main__":
    main()
