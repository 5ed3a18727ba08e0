"""The admission transaction: rate limits and budgets that hold across processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from llmroute import windows
from llmroute.limits import Budget, FreeModelLimit, RateLimit, Scope
from llmroute.store import AttemptRow, Refusal, Store, Ticket

KEY = Scope("key", "fp-key-1", "OPENROUTER_API_KEY_1")
PROVIDER = Scope("provider", "openrouter", "openrouter")
TOTAL = Scope("total", "", "total")


def ticket(**overrides: object) -> Ticket:
    values: dict[str, object] = {
        "request_id": "r",
        "provider": "openrouter",
        "model": "openai/gpt-4o-mini",
        "key_label": "OPENROUTER_API_KEY_1",
        "key_fingerprint": "fp-key-1",
        "free_model": False,
    }
    values.update(overrides)
    return Ticket(**values)  # type: ignore[arg-type]


def settled(cost_micros: int | None, outcome: str = "ok") -> AttemptRow:
    return AttemptRow(
        ts=time.time(),
        request_id="r",
        provider="openrouter",
        key_label="OPENROUTER_API_KEY_1",
        key_fingerprint="fp-key-1",
        model="m",
        outcome=outcome,
        error_kind=None,
        http_status=None,
        message=None,
        latency_ms=5.0,
        ttft_ms=None,
        tokens_in=10,
        tokens_out=10,
        cost_micros=cost_micros,
    )


def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "state.db")


def test_a_key_at_its_per_minute_limit_is_refused_until_the_oldest_call_leaves_the_window(tmp_path: Path) -> None:
    s = store(tmp_path)
    limited = ticket(rate_limits=((KEY, RateLimit(per_minute=3)),))
    times = [1000.0, 1010.0, 1020.0]
    assert all(isinstance(s.admit(limited, t), int) for t in times)
    refusal = s.admit(limited, 1030.0)
    assert isinstance(refusal, Refusal) and refusal.reason == "3 calls per minute"
    assert refusal.until == 1060.0 and refusal.scope == KEY
    assert isinstance(s.admit(limited, 1060.5), int)


def test_failed_attempts_count_as_calls(tmp_path: Path) -> None:
    s = store(tmp_path)
    limited = ticket(rate_limits=((KEY, RateLimit(per_hour=1)),))
    first = s.admit(limited, 1000.0)
    assert isinstance(first, int)
    s.settle(first, settled(0, outcome="failed"))
    assert isinstance(s.admit(limited, 1001.0), Refusal)


def test_the_free_model_cap_resets_at_utc_midnight(tmp_path: Path) -> None:
    s = store(tmp_path)
    capped = ticket(free_model=True, free_limit=(PROVIDER, FreeModelLimit(per_utc_day=2)))
    late = windows.day(time.time()).end - 100
    assert isinstance(s.admit(capped, late - 50), int) and isinstance(s.admit(capped, late - 40), int)
    refusal = s.admit(capped, late)
    assert isinstance(refusal, Refusal) and refusal.until == windows.day(late).end
    assert isinstance(s.admit(capped, windows.day(late).end + 1), int)


def test_paid_calls_do_not_use_the_free_model_cap(tmp_path: Path) -> None:
    s = store(tmp_path)
    cap = (PROVIDER, FreeModelLimit(per_minute=1))
    assert isinstance(s.admit(ticket(free_model=True, free_limit=cap), 1000.0), int)
    assert isinstance(s.admit(ticket(free_model=False, free_limit=cap), 1001.0), int)
    assert isinstance(s.admit(ticket(free_model=True, free_limit=cap), 1002.0), Refusal)


def test_a_reservation_holds_budget_until_settled_to_the_real_cost(tmp_path: Path) -> None:
    s = store(tmp_path)
    budgeted = ticket(budgets=((PROVIDER, Budget(daily=0.001)),), reserve_micros=600)
    now = time.time()
    first = s.admit(budgeted, now)
    assert isinstance(first, int)
    assert isinstance(s.admit(budgeted, now + 1), Refusal), "600 reserved + 600 more would pass $0.001"
    s.settle(first, settled(100))
    assert isinstance(s.admit(budgeted, now + 2), int), "100 spent + 600 reserved fits in 1000"


def test_a_budget_refusal_names_the_budget_and_its_reset(tmp_path: Path) -> None:
    s = store(tmp_path)
    now = time.time()
    refusal = s.admit(ticket(budgets=((TOTAL, Budget(monthly=0.0)),), reserve_micros=1), now)
    assert isinstance(refusal, Refusal) and refusal.budget
    assert refusal.reason == "monthly budget $0" and refusal.until == windows.month(now).end


def test_a_call_known_to_cost_nothing_is_never_refused_by_a_budget(tmp_path: Path) -> None:
    s = store(tmp_path)
    assert isinstance(s.admit(ticket(budgets=((TOTAL, Budget(daily=0.0)),), reserve_micros=0), time.time()), int)


def test_an_answered_call_of_unknown_cost_keeps_its_reservation_against_the_budget(tmp_path: Path) -> None:
    s = store(tmp_path)
    budgeted = ticket(budgets=((TOTAL, Budget(daily=0.001)),), reserve_micros=600)
    now = time.time()
    first = s.admit(budgeted, now)
    assert isinstance(first, int)
    s.settle(first, settled(None))
    assert isinstance(s.admit(budgeted, now), Refusal), "600 held by the unpriced answer + 600 > 1000"


def test_a_crashed_processs_reservation_is_released_after_its_timeout_and_is_never_spend(tmp_path: Path) -> None:
    s = store(tmp_path)
    budgeted = ticket(budgets=((KEY, Budget(daily=0.001)),), reserve_micros=900, reservation_timeout=60)
    now = time.time()
    assert isinstance(s.admit(budgeted, now - 120), int), "a process that then crashed"
    assert isinstance(s.admit(budgeted, now), int), "its reservation stopped counting after 60 s"
    day = windows.day(now)
    used = s.spend(KEY, day.start, day.end, now=now, reservation_timeout=60)
    assert (used.settled_micros, used.reserved_micros) == (0, 900)
    assert [r.outcome for r in s.attempts()] == ["abandoned", "pending"]


def test_spend_tells_estimated_from_reported_costs(tmp_path: Path) -> None:
    s = store(tmp_path)
    now = time.time()
    a, b = s.admit(ticket(), now), s.admit(ticket(), now)
    assert isinstance(a, int) and isinstance(b, int)
    s.settle(a, settled(250))
    row = settled(40)
    s.settle(b, AttemptRow(**{**row.__dict__, "cost_estimated": True}))
    day = windows.day(now)
    used = s.spend(TOTAL, day.start, day.end, now=now, reservation_timeout=600)
    assert (used.settled_micros, used.estimated_micros, used.reserved_micros) == (290, 40, 0)


RACER = """
import sys, time
from pathlib import Path
from llmroute.limits import Budget, RateLimit, Scope
from llmroute.store import AttemptRow, Store, Ticket
store = Store.open(Path(sys.argv[1]))
key = Scope("key", "fp-key-1", "K")
ticket = Ticket("r", "openrouter", "m", "K", "fp-key-1", False,
                rate_limits=((key, RateLimit(per_minute=int(sys.argv[2]))),) if sys.argv[2] != "0" else (),
                budgets=((key, Budget(daily=float(sys.argv[3]))),) if sys.argv[3] != "0" else (),
                reserve_micros=int(sys.argv[4]))
start = float(sys.argv[5])
while time.time() < start:
    time.sleep(0.001)
result = store.admit(ticket, time.time())
if isinstance(result, int):
    store.settle(result, AttemptRow(time.time(), "r", "openrouter", "K", "fp-key-1", "m", "ok", None, 200, None,
                                    1.0, None, 1, 1, int(sys.argv[6])))
print("sent" if isinstance(result, int) else "refused")
"""


def race(tmp_path: Path, *args: object, processes: int = 16) -> list[str]:
    Store.open(tmp_path / "state.db").close()
    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / "state.db"), *map(str, args[:3]), str(start), str(args[3])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert not any("locked" in err for _, err in outputs)
    return [out.strip() for out, _ in outputs]


def test_sixteen_processes_against_a_ten_per_minute_key_send_exactly_ten(tmp_path: Path) -> None:
    results = race(tmp_path, 10, 0, 0, 0)
    assert results.count("sent") == 10 and results.count("refused") == 6
    assert len(store(tmp_path).attempts()) == 10


def test_concurrent_reservations_never_overshoot_the_budget(tmp_path: Path) -> None:
    results = race(tmp_path, 0, 0.001, 300, 250)
    rows = store(tmp_path).attempts()
    spent = sum(r.cost_micros or 0 for r in rows)
    assert results.count("sent") == len(rows) and spent <= 1000
    assert len(rows) >= 3, "300-micro reservations: at least three fit in $0.001"
