"""``llmroute chat`` and reasoning models, end to end: the real CLI against the fake providers.

A reasoning model sends its reasoning apart from the answer (OpenRouter ``reasoning``, Ollama
``thinking``). Only the answer is ever printed on stdout; ``--show-reasoning`` shows the
reasoning on stderr; ``--json`` carries both, apart. An answer cut off by the max-tokens limit
(finish reason ``length``) warns on stderr and exits 0. ``--json`` prints nothing before the
answer is whole, so a stream that breaks midway fails over to the next key.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from dataclasses import dataclass

import pytest

from llmroute.cli.failures import ExitStatus
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, Result, keys_env
from tests.fakes import DEFAULT_TEXT, FakeProvider, reply, stream_reply

ANSWER = DEFAULT_TEXT
REASONING = "The user wants a greeting. I will say hello."
CUT_REASONING = "The user wants"
"""What is left of ``REASONING`` with ``--max-tokens 3``: the whole budget, and no answer."""


@dataclass(frozen=True)
class Wire:
    model: str
    keys: list[str]
    env: dict[str, str]


WIRES = {
    "openrouter": Wire("openrouter:openai/gpt-4o-mini", OR_KEYS, keys_env(openrouter=2)),
    "ollama": Wire("ollama:gpt-oss:120b", OLLAMA_KEYS, keys_env(ollama=2)),
}
BOTH_WIRES = pytest.mark.parametrize("wire", [WIRES["openrouter"], WIRES["ollama"]], ids=list(WIRES))
BOTH_MODES = pytest.mark.parametrize("mode", [[], ["--no-stream"]], ids=["streamed", "no-stream"])


def chat(cli: Cli, wire: Wire, *args: str, **env: str) -> Result:
    return cli("chat", "-m", wire.model, *args, "hi", **wire.env, **env)


def cut_off_by_max_tokens(stderr: str) -> bool:
    return "warning: the answer was cut off by the max-tokens limit" in stderr and "raise --max-tokens" in stderr


# --- (a) reasoning is never the answer ---------------------------------------------------------------


@BOTH_WIRES
@BOTH_MODES
def test_a_reasoning_only_answer_is_never_printed_and_warns_it_was_cut_off(
    cli: Cli, cloud: FakeProvider, wire: Wire, mode: list[str]
) -> None:
    cloud.script(wire.keys[0], reply(text=ANSWER, reasoning=REASONING))
    result = chat(cli, wire, *mode, "--max-tokens", "3")
    assert (result.code, result.stdout) == (0, "")
    assert "The user" not in result.stdout and cut_off_by_max_tokens(result.stderr)
    assert "(3) while the model was still reasoning, before any answer" in result.stderr
    assert "The user" not in result.stderr and result.stderr.count("\n") == 1


@BOTH_WIRES
@BOTH_MODES
def test_json_of_a_reasoning_only_answer_has_no_text_and_finish_reason_length(
    cli: Cli, cloud: FakeProvider, wire: Wire, mode: list[str]
) -> None:
    cloud.script(wire.keys[0], reply(text="", reasoning=REASONING, finish_reason="length"))
    result = chat(cli, wire, "--json", *mode)
    document = json.loads(result.stdout)
    assert result.code == 0 and (document["text"], document["finish_reason"]) == ("", "length")
    assert document["reasoning"] == REASONING and cut_off_by_max_tokens(result.stderr)
    assert len(cloud.chat_requests) == 1


@BOTH_WIRES
def test_an_answer_cut_off_after_some_text_warns_and_still_exits_0(cli: Cli, cloud: FakeProvider, wire: Wire) -> None:
    result = chat(cli, wire, "--max-tokens", "3")
    assert (result.code, result.stdout) == (0, "Hello from the\n")
    assert "warning: the answer was cut off by the max-tokens limit (3); raise --max-tokens" in result.stderr


def test_a_whole_answer_gives_no_cut_off_warning(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], stream_reply(reasoning=REASONING))
    result = chat(cli, WIRES["openrouter"])
    assert (result.code, result.stdout, result.stderr) == (0, ANSWER + "\n", "")


# --- (b) reasoning and an answer ---------------------------------------------------------------------


@BOTH_WIRES
@BOTH_MODES
def test_stdout_has_only_the_answer_of_a_reasoning_model(
    cli: Cli, cloud: FakeProvider, wire: Wire, mode: list[str]
) -> None:
    cloud.script(wire.keys[0], reply(reasoning=REASONING))
    result = chat(cli, wire, *mode)
    assert (result.code, result.stdout, result.stderr) == (0, ANSWER + "\n", "")


@BOTH_WIRES
@BOTH_MODES
def test_show_reasoning_writes_the_reasoning_to_stderr_only(
    cli: Cli, cloud: FakeProvider, wire: Wire, mode: list[str]
) -> None:
    cloud.script(wire.keys[0], reply(reasoning=REASONING))
    result = chat(cli, wire, "--show-reasoning", *mode)
    assert (result.code, result.stdout) == (0, ANSWER + "\n")
    assert result.stderr == REASONING + "\n"


@BOTH_WIRES
def test_json_has_the_answer_and_the_reasoning_apart(cli: Cli, cloud: FakeProvider, wire: Wire) -> None:
    cloud.script(wire.keys[0], stream_reply(reasoning=REASONING))
    result = chat(cli, wire, "--json")
    document = json.loads(result.stdout)
    assert (result.code, document["text"], document["reasoning"]) == (0, ANSWER, REASONING)
    assert (document["finish_reason"], document["notices"]) == ("stop", [])


def test_json_of_a_model_that_does_not_reason_has_an_empty_reasoning(cli: Cli, cloud: FakeProvider) -> None:
    document = json.loads(chat(cli, WIRES["openrouter"], "--json").stdout)
    assert (document["text"], document["reasoning"], document["notices"]) == (ANSWER, "", [])


def test_json_with_show_reasoning_still_prints_one_document_and_the_reasoning_on_stderr(
    cli: Cli, cloud: FakeProvider
) -> None:
    cloud.script(OR_KEYS[0], stream_reply(reasoning=REASONING))
    result = chat(cli, WIRES["openrouter"], "--json", "--show-reasoning")
    assert json.loads(result.stdout)["text"] == ANSWER and result.stderr == REASONING + "\n"


def test_reasoning_shown_on_stderr_cannot_send_escape_sequences_to_the_terminal(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], stream_reply(reasoning="think \x1b]0;pwned\x07\x1b[2J hard"))
    result = chat(cli, WIRES["openrouter"], "--show-reasoning")
    assert result.stderr == "think \\x1b]0;pwned\\x07\\x1b[2J hard\n" and "\x1b" not in result.stderr


def run_with_stderr_on_a_terminal(cli: Cli, *args: str, **env: str) -> Result:
    """Run the CLI with stdout a pipe and stderr a terminal; colour is up to ``env`` (NO_COLOR is unset)."""
    controller, terminal = pty.openpty()
    environment = {k: v for k, v in cli.env.items() if k != "NO_COLOR"} | {"TERM": "xterm"} | env
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmroute", *args],
            env=environment,
            cwd=cli.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
        )
        os.close(terminal)
        out, _ = proc.communicate(timeout=60)
        err = b""
        while True:
            try:
                piece = os.read(controller, 4096)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not piece:
                break
            err += piece
    finally:
        os.close(controller)
    return Cli.result(proc.returncode, out, err.replace(b"\r\n", b"\n"))


def test_show_reasoning_is_dim_when_stderr_is_a_terminal(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], stream_reply(reasoning=REASONING))
    wire = WIRES["openrouter"]
    result = run_with_stderr_on_a_terminal(cli, "chat", "--show-reasoning", "-m", wire.model, "hi", **wire.env)
    assert (result.code, result.stdout) == (0, ANSWER + "\n")
    assert "\x1b[2m" in result.stderr and result.stderr.replace("\x1b[2m", "").replace("\x1b[0m", "") == (
        REASONING + "\n"
    )


def test_show_reasoning_on_a_terminal_is_plain_with_no_color(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], stream_reply(reasoning=REASONING))
    wire = WIRES["openrouter"]
    result = run_with_stderr_on_a_terminal(
        cli, "chat", "--show-reasoning", "-m", wire.model, "hi", NO_COLOR="1", **wire.env
    )
    assert (result.code, result.stdout, result.stderr) == (0, ANSWER + "\n", REASONING + "\n")


# --- (c) --json fails over until output begins ----------------------------------------------------------


@BOTH_WIRES
def test_json_fails_over_when_the_stream_breaks_after_3_tokens(cli: Cli, cloud: FakeProvider, wire: Wire) -> None:
    cloud.script(wire.keys[0], stream_reply(error_after_tokens=3))
    result = chat(cli, wire, "--json")
    document = json.loads(result.stdout)
    assert (result.code, document["text"]) == (0, ANSWER)
    assert [r.bearer for r in cloud.chat_requests] == wire.keys[:2]
    assert [a["outcome"] for a in document["attempts"]] == ["failed", "ok"]


def test_json_fails_over_when_the_connection_drops_after_3_tokens(cli: Cli, cloud: FakeProvider) -> None:
    # A dropped connection is retried once on the same key (policy), then the next key answers.
    cloud.script(OR_KEYS[0], stream_reply(drop_after_tokens=3), stream_reply(drop_after_tokens=3))
    result = chat(cli, WIRES["openrouter"], "--json")
    document = json.loads(result.stdout)
    assert (result.code, document["text"], document["key_label"]) == (0, ANSWER, "OPENROUTER_API_KEY_2")
    assert [r.bearer for r in cloud.chat_requests] == [OR_KEYS[0], OR_KEYS[0], OR_KEYS[1]]


def test_json_reasoning_is_that_of_the_key_that_answered(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], stream_reply(reasoning="first thoughts", error_after_tokens=3))
    cloud.script(OR_KEYS[1], stream_reply(reasoning=REASONING))
    document = json.loads(chat(cli, WIRES["openrouter"], "--json").stdout)
    assert (document["text"], document["reasoning"]) == (ANSWER, REASONING)


@BOTH_WIRES
def test_no_stream_fails_over_when_the_answer_broke_midway(cli: Cli, cloud: FakeProvider, wire: Wire) -> None:
    cloud.script(wire.keys[0], stream_reply(error_after_tokens=3))
    result = chat(cli, wire, "--no-stream")
    assert (result.code, result.stdout) == (0, ANSWER + "\n")
    assert [r.bearer for r in cloud.chat_requests] == wire.keys[:2]


@BOTH_WIRES
def test_a_stream_broken_after_the_reasoning_but_before_any_text_fails_over(
    cli: Cli, cloud: FakeProvider, wire: Wire
) -> None:
    cloud.script(wire.keys[0], stream_reply(reasoning="first thoughts", error_after_tokens=0))
    result = chat(cli, wire)
    assert (result.code, result.stdout) == (0, ANSWER + "\n")
    assert [r.bearer for r in cloud.chat_requests] == wire.keys[:2]


# --- (d) without --json, a break after text reached stdout ends the run ----------------------------------


def test_without_json_the_same_break_after_text_reached_stdout_exits_7(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], stream_reply(error_after_tokens=3))
    result = chat(cli, WIRES["openrouter"])
    assert (result.code, result.stdout) == (ExitStatus.STREAM_BROKEN, "Hello from the\n")
    assert "after the answer began" in result.stderr and len(cloud.chat_requests) == 1
