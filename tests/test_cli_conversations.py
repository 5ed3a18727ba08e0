"""Conversations end to end: ``chat -c`` and ``--cid`` continue a logged conversation in a later process, on
whichever provider answers, by sending its earlier turns again (the fake providers' request logs show them);
``--no-log`` and ``llmroute logs off`` leave no trace."""

from __future__ import annotations

import json
import sqlite3

from llmroute.cli.failures import ExitStatus
from llmroute.store import Store
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, keys_env
from tests.fakes import FakeProvider, error, oll_usage_limit, reply, stream_reply

MODEL = "openrouter:openai/gpt-4o-mini"
ANSWER = "Hello from the fake provider."
OR = keys_env(openrouter=2)


def sent(request: object) -> list[tuple[str, str]]:
    """The (role, content) of each message a recorded chat request carried."""
    return [(m["role"], m["content"]) for m in request.body["messages"]]  # type: ignore[attr-defined]


def logged(cli: Cli) -> list[tuple[str, str, str]]:
    """(conversation id, prompt, answer) of every logged exchange, oldest first."""
    store = Store.open(cli.home / "state.db")
    try:
        return [(e.conversation_id, e.prompt, e.answer) for e in store.logged(limit=None)]
    finally:
        store.close()


def test_c_continues_the_latest_conversation_in_a_new_process(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], stream_reply("Paris."))
    assert cli("chat", "-m", MODEL, "Capital of France?", **OR).code == 0
    cloud.script(OR_KEYS[0], stream_reply("About 2 million."))
    assert cli("chat", "-m", MODEL, "-c", "Its population?", **OR).code == 0
    third = cli("chat", "-c", "And its mayor?", **OR)
    assert third.code == 0
    assert sent(cloud.chat_requests[1]) == [
        ("user", "Capital of France?"),
        ("assistant", "Paris."),
        ("user", "Its population?"),
    ]
    assert sent(cloud.chat_requests[2])[-3:] == [
        ("user", "Its population?"),
        ("assistant", "About 2 million."),
        ("user", "And its mayor?"),
    ]
    assert cloud.chat_requests[2].body["model"] == "openai/gpt-4o-mini", "the conversation's model is kept"
    conversations = {cid for cid, _, _ in logged(cli)}
    assert len(conversations) == 1 and len(logged(cli)) == 3


def test_a_conversation_goes_on_on_another_provider_with_its_turns(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(ollama=1, openrouter=1)
    assert cli("chat", "-m", "kimi-k2.6", "Remember 42", **env).code == 0
    assert cloud.chat_requests[0].path == "/api/chat"
    cloud.script(OLLAMA_KEYS[0], oll_usage_limit("weekly"))
    result = cli("chat", "-c", "What number?", **env)
    assert result.code == 0
    assert [r.path for r in cloud.chat_requests[1:]] == ["/api/chat", "/api/v1/chat/completions"]
    assert sent(cloud.chat_requests[2]) == [
        ("user", "Remember 42"),
        ("assistant", ANSWER),
        ("user", "What number?"),
    ]
    store = Store.open(cli.home / "state.db")
    try:
        first, second = store.logged(limit=None)
    finally:
        store.close()
    assert (first.provider, second.provider) == ("ollama", "openrouter")
    assert first.conversation_id == second.conversation_id and second.model_asked == "kimi-k2.6"


def test_cid_continues_the_given_conversation_not_the_latest(cli: Cli, cloud: FakeProvider) -> None:
    first = cli("chat", "--json", "-m", MODEL, "Topic A", **OR)
    cid = json.loads(first.stdout)["conversation_id"]
    assert cli("chat", "-m", MODEL, "Topic B", **OR).code == 0
    assert cli("chat", "--cid", cid, "More on it", **OR).code == 0
    assert sent(cloud.chat_requests[-1]) == [("user", "Topic A"), ("assistant", ANSWER), ("user", "More on it")]
    assert [c for c, *_ in logged(cli)].count(cid) == 2


def test_an_unknown_cid_is_a_usage_error_and_nothing_is_sent(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "--cid", "0123456789abcdef", "hi", **OR)
    assert result.code == ExitStatus.USAGE
    assert result.stderr == "error: no conversation '0123456789abcdef' in the log: `llmroute logs` shows their ids\n"
    assert cloud.requests == []


def test_c_and_cid_together_are_refused(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "-c", "--cid", "abc", "hi", **OR)
    assert result.code == ExitStatus.USAGE and "give one of them" in result.stderr
    assert cloud.requests == []


def test_c_with_no_earlier_conversation_starts_one(cli: Cli, cloud: FakeProvider) -> None:
    assert cli("chat", "-c", "-m", MODEL, "hello", **OR).code == 0
    assert sent(cloud.chat_requests[0]) == [("user", "hello")]
    assert len(logged(cli)) == 1


def test_the_system_prompt_is_kept_unless_s_replaces_it(cli: Cli, cloud: FakeProvider) -> None:
    assert cli("chat", "-m", MODEL, "-s", "be brief", "one", **OR).code == 0
    assert cli("chat", "-c", "two", **OR).code == 0
    assert sent(cloud.chat_requests[1])[0] == ("system", "be brief")
    assert cli("chat", "-c", "-s", "be verbose", "three", **OR).code == 0
    assert sent(cloud.chat_requests[2])[0] == ("system", "be verbose")
    assert [r for r, _ in sent(cloud.chat_requests[2])].count("system") == 1


def test_no_log_leaves_no_trace(cli: Cli, cloud: FakeProvider) -> None:
    assert cli("chat", "--no-log", "-m", MODEL, "private words", **OR).code == 0
    assert logged(cli) == []
    with sqlite3.connect(cli.home / "state.db") as conn:
        text = "\n".join(
            str(row) for table in ("responses", "conversations") for row in conn.execute(f"SELECT * FROM {table}")
        )
    conn.close()
    assert "private words" not in text
    shown = cli("logs", "-n", "0", "--json")
    assert (shown.code, json.loads(shown.stdout)) == (0, [])


def test_no_log_with_c_reads_the_conversation_but_adds_nothing(cli: Cli, cloud: FakeProvider) -> None:
    assert cli("chat", "-m", MODEL, "first", **OR).code == 0
    assert cli("chat", "-c", "--no-log", "second", **OR).code == 0
    assert sent(cloud.chat_requests[1]) == [("user", "first"), ("assistant", ANSWER), ("user", "second")]
    assert [p for _, p, _ in logged(cli)] == ["first"]


def test_a_failed_exchange_is_not_a_turn(cli: Cli, cloud: FakeProvider) -> None:
    assert cli("chat", "-m", MODEL, "first", **OR).code == 0
    cloud.script(OR_KEYS[0], error(400, {"error": {"code": 400, "message": "bad"}}))
    assert cli("chat", "-c", "broken", **OR).code == ExitStatus.REJECTED
    assert cli("chat", "-c", "third", **OR).code == 0
    assert [p for _, p, _ in logged(cli)] == ["first", "third"]
    assert sent(cloud.chat_requests[-1]) == [("user", "first"), ("assistant", ANSWER), ("user", "third")]


def test_logs_off_is_kept_until_logs_on_and_log_forces_one(cli: Cli, cloud: FakeProvider) -> None:
    assert cli("logs", "off").code == 0
    assert cli("chat", "-m", MODEL, "not kept", **OR).code == 0
    assert cli("chat", "--log", "-m", MODEL, "kept anyway", **OR).code == 0
    assert cli("chat", "-m", MODEL, "kept by env", LLMROUTE_LOGS="1", **OR).code == 0
    assert cli("logs", "on").code == 0
    assert cli("chat", "-m", MODEL, "kept again", **OR).code == 0
    assert cli("chat", "-m", MODEL, "not by env", LLMROUTE_LOGS="0", **OR).code == 0
    assert [p for _, p, _ in logged(cli)] == ["kept anyway", "kept by env", "kept again"]


def test_a_bad_llmroute_logs_value_is_a_config_error(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "-m", MODEL, "hi", LLMROUTE_LOGS="maybe", **OR)
    assert result.code == ExitStatus.CONFIG and "LLMROUTE_LOGS" in result.stderr
    assert cloud.requests == []


def test_the_log_holds_what_answered_and_what_it_cost(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], error(500, {"error": {"code": 500, "message": "down"}}))
    cloud.script(OR_KEYS[1], reply(cost=0.000126))
    result = cli("chat", "--json", "--no-stream", "-m", MODEL, "-s", "sys", "the prompt", **OR)
    document = json.loads(result.stdout)
    store = Store.open(cli.home / "state.db")
    try:
        (item,) = store.logged(limit=None)
    finally:
        store.close()
    assert item.request_id == document["request_id"] and item.conversation_id == document["conversation_id"]
    assert (item.provider, item.key_label, item.model, item.model_asked) == (
        "openrouter",
        "OPENROUTER_API_KEY_2",
        "openai/gpt-4o-mini",
        MODEL,
    )
    assert (item.system, item.prompt, item.answer) == ("sys", "the prompt", ANSWER)
    assert (item.cost_micros, item.cost_estimated, item.finish_reason) == (126, False, document["finish_reason"])
    assert item.tokens_in == document["usage"]["input_tokens"] and item.latency_ms > 0


def test_a_streamed_answer_is_logged_up_to_the_limit_with_a_note_of_the_rest() -> None:
    from llmroute.cli.chat import _Kept

    kept = _Kept(10)
    for piece in ("Hello", " there,", " friend"):
        kept.add(piece)
    assert kept.text() == "Hello ther\n[9 more characters of the answer were not logged]"


def test_an_answer_within_the_limit_is_logged_whole() -> None:
    from llmroute.cli.chat import _Kept

    kept = _Kept(10)
    kept.add("Hello")
    assert kept.text() == "Hello"
