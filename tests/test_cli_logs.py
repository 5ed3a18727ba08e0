"""``llmroute logs``: the newest exchanges oldest first, searchable, by conversation, as Markdown or JSON; and
``logs on|off|status``."""

from __future__ import annotations

import json
import re

from llmroute.cli.failures import ExitStatus
from tests.conftest import OR_KEYS, Cli, keys_env
from tests.fakes import FakeProvider, reply, stream_reply

MODEL = "openrouter:openai/gpt-4o-mini"
OR = keys_env(openrouter=2)


def chat(cli: Cli, *args: str) -> str:
    """Run a chat; its conversation id."""
    result = cli("chat", "--json", "-m", MODEL, *args, **OR)
    assert result.code == 0, result.stderr
    return str(json.loads(result.stdout)["conversation_id"])


def listed(cli: Cli, *args: str) -> list[dict[str, object]]:
    result = cli("logs", "--json", *args)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def test_the_newest_three_are_listed_oldest_first(cli: Cli, cloud: FakeProvider) -> None:
    for n in range(1, 6):
        chat(cli, f"prompt {n}")
    assert [e["prompt"] for e in listed(cli)] == ["prompt 3", "prompt 4", "prompt 5"]
    assert [e["prompt"] for e in listed(cli, "-n", "2")] == ["prompt 4", "prompt 5"]
    assert len(listed(cli, "-n", "0")) == 5


def test_search_finds_text_in_prompts_and_answers_literally(cli: Cli, cloud: FakeProvider) -> None:
    chat(cli, "growth was 50% last year")
    chat(cli, "growth was 500 last year")
    cloud.script(OR_KEYS[0], stream_reply("use snake_case here"))
    chat(cli, "naming?")
    assert [e["prompt"] for e in listed(cli, "--search", "50%")] == ["growth was 50% last year"]
    assert [e["prompt"] for e in listed(cli, "-q", "SNAKE_case")] == ["naming?"]
    assert listed(cli, "--search", "nowhere") == []


def test_conversation_lists_only_that_conversation(cli: Cli, cloud: FakeProvider) -> None:
    first = chat(cli, "one")
    chat(cli, "other")
    assert chat(cli, "--cid", first, "two") == first
    assert [e["prompt"] for e in listed(cli, "--cid", first)] == ["one", "two"]
    missing = cli("logs", "--conversation", "feedfacefeedface")
    assert missing.code == ExitStatus.USAGE and "no conversation 'feedfacefeedface'" in missing.stderr


def test_json_has_every_field_and_only_the_keys_label(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], reply(cost=0.0014))
    cid = chat(cli, "--no-stream", "-s", "be brief", "hi")
    (item,) = listed(cli)
    assert item["conversation_id"] == cid and item["key_label"] == "OPENROUTER_API_KEY_1"
    assert (item["system"], item["prompt"], item["answer"]) == ("be brief", "hi", "Hello from the fake provider.")
    assert (item["cost_micros"], item["cost_usd"], item["provider"]) == (1400, 0.0014, "openrouter")
    assert str(item["time"]).endswith("Z") and item["request_id"] and item["model_asked"] == MODEL
    assert OR_KEYS[0][-4:] not in json.dumps(item)


def test_the_markdown_block_says_who_answered_and_escapes_control_characters(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], reply(text="red \x1b[31mtext\x1b[0m\nsecond line", cost=0.000126))
    cid = chat(cli, "--no-stream", "-s", "sys prompt", "colour me")
    result = cli("logs")
    assert result.code == 0
    out = result.stdout
    assert re.match(r"# \d\d:\d\d:\d\d UTC    conversation: ", out) and f"conversation: {cid}" in out
    assert "Model: **openai/gpt-4o-mini** via openrouter, key OPENROUTER_API_KEY_1" in out
    assert "Cost: $0.000126" in out
    assert "## Prompt\n\ncolour me\n" in out and "## System\n\nsys prompt\n" in out
    assert "## Response\n\nred \\x1b[31mtext\\x1b[0m\nsecond line\n" in out
    assert "\x1b" not in out


def test_status_says_whether_where_and_how_much(cli: Cli, cloud: FakeProvider) -> None:
    chat(cli, "one")
    chat(cli, "-c", "two")
    status = cli("logs", "status")
    assert status.code == 0
    assert status.stdout == (
        f"Logging is on (default)\nState file: {cli.home / 'state.db'}\nConversations: 1\nResponses: 2\n"
    )
    assert cli("logs", "off").stdout.startswith("Logging is off (llmroute logs off)\n")
    document = json.loads(cli("logs", "status", "--json").stdout)
    assert document == {
        "logging": False,
        "source": "llmroute logs off",
        "state_file": str(cli.home / "state.db"),
        "conversations": 1,
        "responses": 2,
    }
    overridden = cli("logs", "status", LLMROUTE_LOGS="1")
    assert overridden.stdout.startswith("Logging is on (env LLMROUTE_LOGS)\n  (LLMROUTE_LOGS overrides")


def test_an_unknown_action_is_a_usage_error(cli: Cli) -> None:
    result = cli("logs", "clear")
    assert result.code == ExitStatus.USAGE and "use on, off or status" in result.stderr


def test_an_empty_log_lists_nothing(cli: Cli) -> None:
    result = cli("logs")
    assert (result.code, result.stdout) == (0, "")
