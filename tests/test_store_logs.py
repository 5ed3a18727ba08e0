"""The conversation log in the state file (``llmroute/store/logs.py``): turns kept in order, the latest
conversation found, listing and search, the on/off switch, and nothing of it lost to the ledger's trim."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from llmroute.store import LogCounts, LogEntry, Store

DAY = 86_400.0


def entry(conversation: str = "c1", prompt: str = "hi", answer: str = "hello", **overrides: object) -> LogEntry:
    values: dict[str, object] = dict(
        request_id="r" + prompt[:8],
        conversation_id=conversation,
        ts=time.time(),
        model_asked="kimi-k2.6",
        model="moonshotai/kimi-k2.6",
        provider="openrouter",
        key_label="OPENROUTER_API_KEY_1",
        system=None,
        prompt=prompt,
        answer=answer,
        tokens_in=3,
        tokens_out=5,
        cost_micros=126,
        cost_estimated=False,
        finish_reason="stop",
        latency_ms=321.0,
    )
    values.update(overrides)
    return LogEntry(**values)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "state.db")
    yield store
    store.close()


def test_a_logged_exchange_reads_back_whole(store: Store) -> None:
    written = entry(system="be brief", cost_estimated=True)
    row_id = store.log_exchange(written)
    assert store.conversation("c1") == [replace(written, id=row_id)]


def test_a_conversation_keeps_its_turns_in_order_and_apart_from_others(store: Store) -> None:
    store.log_exchange(entry("c1", "one"))
    store.log_exchange(entry("c2", "other"))
    store.log_exchange(entry("c1", "two"))
    assert [e.prompt for e in store.conversation("c1") or []] == ["one", "two"]
    assert store.conversation("nope") is None
    assert store.log_counts() == LogCounts(conversations=2, responses=3)


def test_the_latest_conversation_is_that_of_the_newest_exchange(store: Store) -> None:
    assert store.latest_conversation() is None
    store.log_exchange(entry("c1", "one"))
    store.log_exchange(entry("c2", "two"))
    store.log_exchange(entry("c1", "three"))
    assert store.latest_conversation() == "c1"


def test_listing_gives_the_newest_n_oldest_first(store: Store) -> None:
    for prompt in ("a1", "a2", "a3", "a4"):
        store.log_exchange(entry(prompt=prompt))
    assert [e.prompt for e in store.logged(limit=3)] == ["a2", "a3", "a4"]
    assert [e.prompt for e in store.logged(limit=None)] == ["a1", "a2", "a3", "a4"]


def test_search_is_a_literal_substring_of_prompt_system_or_answer(store: Store) -> None:
    store.log_exchange(entry(prompt="100% sure", answer="x"))
    store.log_exchange(entry(prompt="1000 sure", answer="x"))
    store.log_exchange(entry(prompt="snake_case", answer="x"))
    store.log_exchange(entry(prompt="snakeXcase", answer="x"))
    store.log_exchange(entry(prompt="back\\slash", answer="x"))
    store.log_exchange(entry(prompt="q", answer="The ANSWER is here"))
    store.log_exchange(entry(prompt="p", answer="x", system="Speak like a Pirate"))

    def found(text: str) -> list[str]:
        return [e.prompt for e in store.logged(limit=None, search=text)]

    assert found("0%") == ["100% sure"]
    assert found("e_c") == ["snake_case"]
    assert found("k\\s") == ["back\\slash"]
    assert found("answer is") == ["q"]
    assert found("pirate") == ["p"]
    assert found("absent") == []


def test_search_and_conversation_combine(store: Store) -> None:
    store.log_exchange(entry("c1", "apple pie"))
    store.log_exchange(entry("c2", "apple tart"))
    assert [e.prompt for e in store.logged(limit=None, search="apple", conversation_id="c2")] == ["apple tart"]


def test_the_switch_is_unset_until_turned_and_then_kept(tmp_path: Path, store: Store) -> None:
    assert store.log_switch() is None
    store.set_log_switch(False, time.time())
    assert store.log_switch() is False
    again = Store.open(tmp_path / "state.db")
    try:
        assert again.log_switch() is False
        again.set_log_switch(True, time.time())
    finally:
        again.close()
    assert store.log_switch() is True


def test_the_ledger_trim_and_prune_leave_the_log_alone(store: Store) -> None:
    old = time.time() - 400 * DAY
    store.log_exchange(entry(ts=old))
    store.prune(cutoff=(time.time() // DAY) * DAY)
    store.trim_if_due(now=time.time(), keep_days=1)
    store.vacuum()
    assert [e.ts for e in store.logged(limit=None)] == [old]
