"""Circuit breakers per provider: open, half-open with one trial, closed again."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from llmroute.limits import BreakerSettings
from llmroute.store import AttemptRow, Store

SETTINGS = BreakerSettings(consecutive_failures=3, failure_rate=0.5, min_attempts=4, window=300, cool_off=60)


def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "state.db")


def fail(s: Store, now: float, kind: str = "server") -> str:
    return s.breaker_record(
        "openrouter", now, error_kind=kind, reason="502 Provider returned error", settings=SETTINGS
    ).state


def test_consecutive_provider_failures_open_the_circuit(tmp_path: Path) -> None:
    s = store(tmp_path)
    assert [fail(s, 1000.0 + i) for i in range(3)] == ["closed", "closed", "open"]
    assert s.breaker_acquire("openrouter", 1010.0, trial_timeout=120) == 1002.0 + 60


def test_caller_errors_and_rate_limits_never_count(tmp_path: Path) -> None:
    s = store(tmp_path)
    for kind in ("bad_request", "rate_limited", "auth", "quota", "model_not_found", None):
        fail(s, 1000.0)
        fail(s, 1001.0)
        assert fail(s, 1002.0, kind=kind) == "closed"  # type: ignore[arg-type]


def test_after_the_cool_off_exactly_one_trial_goes_through(tmp_path: Path) -> None:
    s = store(tmp_path)
    for i in range(3):
        fail(s, 1000.0 + i)
    assert s.breaker_acquire("openrouter", 1063.0, trial_timeout=120) is None
    assert s.breaker_acquire("openrouter", 1063.5, trial_timeout=120) == 1063.0 + 120


def test_a_successful_trial_closes_the_circuit(tmp_path: Path) -> None:
    s = store(tmp_path)
    for i in range(3):
        fail(s, 1000.0 + i)
    s.breaker_acquire("openrouter", 1063.0, trial_timeout=120)
    s.breaker_record("openrouter", 1064.0, error_kind=None, reason=None, settings=SETTINGS)
    assert s.breaker_acquire("openrouter", 1065.0, trial_timeout=120) is None
    assert s.breaker_states()[0].state == "closed"


def test_a_failed_trial_opens_the_circuit_again(tmp_path: Path) -> None:
    s = store(tmp_path)
    for i in range(3):
        fail(s, 1000.0 + i)
    s.breaker_acquire("openrouter", 1063.0, trial_timeout=120)
    assert fail(s, 1064.0) == "open"
    assert s.breaker_acquire("openrouter", 1065.0, trial_timeout=120) == 1064.0 + 60


def test_a_crashed_trial_is_taken_over_after_the_trial_timeout(tmp_path: Path) -> None:
    s = store(tmp_path)
    for i in range(3):
        fail(s, 1000.0 + i)
    s.breaker_acquire("openrouter", 1063.0, trial_timeout=120)
    assert s.breaker_acquire("openrouter", 1063.0 + 121, trial_timeout=120) is None


def test_a_high_failure_rate_over_recent_attempts_opens_the_circuit(tmp_path: Path) -> None:
    s = store(tmp_path)
    now = time.time()
    for i, kind in enumerate(["server", None, "timeout", None]):
        s.record_attempt(
            AttemptRow(
                now - 10 + i,
                "r",
                "openrouter",
                "K",
                "fp",
                "m",
                "failed" if kind else "ok",
                kind,
                None,
                None,
                1.0,
                None,
                None,
                None,
                None,
            )
        )
    s.breaker_record("openrouter", now - 5, error_kind=None, reason=None, settings=SETTINGS)
    assert fail(s, now) == "open", "2 of 4 recent attempts failed: 50 %"


def test_reset_closes_open_circuits_and_says_which(tmp_path: Path) -> None:
    s = store(tmp_path)
    for i in range(3):
        fail(s, 1000.0 + i)
    assert [b.provider for b in s.reset_breakers()] == ["openrouter"]
    assert s.breaker_acquire("openrouter", 1010.0, trial_timeout=120) is None


TRIAL = """
import sys, time
from pathlib import Path
from llmroute.store import Store
store = Store.open(Path(sys.argv[1]))
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
print("trial" if store.breaker_acquire("openrouter", time.time(), trial_timeout=120) is None else "skip")
"""


def test_concurrent_processes_share_a_single_trial(tmp_path: Path) -> None:
    s = store(tmp_path)
    now = time.time()
    for i in range(3):
        fail(s, now - 200 + i)
    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TRIAL, str(tmp_path / "state.db"), str(start)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    results = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(results) == ["skip"] * 7 + ["trial"]
