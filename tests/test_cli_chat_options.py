"""``chat`` options as ``llm`` users expect them: ``-o NAME VALUE`` (checked, and carried only where the wire takes
it), ``--key LABEL`` (one key, or a usage error), ``chat --help`` (examples, the default model), and a huge
piped stdin read without being held twice over."""

from __future__ import annotations

import io
import os
import threading
import tracemalloc

import pytest

from llmroute.cli import chat as chat_command
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus
from llmroute.config import DEFAULT_MODEL
from tests.conftest import OR_KEYS, Cli, keys_env
from tests.fakes import FakeProvider

MODEL = "openrouter:openai/gpt-4o-mini"
OR = keys_env(openrouter=2)


def test_o_options_reach_the_wire(cli: Cli, cloud: FakeProvider) -> None:
    result = cli(
        "chat", "-m", MODEL, "-o", "top_p", "0.9", "-o", "seed", "42", "-o", "stop", "END", "-o", "stop", "\n\n",
        "-o", "temperature", "0.3", "-o", "max_tokens", "50", "hi", **OR,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    body = cloud.chat_requests[0].body
    assert (body["top_p"], body["seed"], body["stop"], body["temperature"]) == (0.9, 42, ["END", "\n\n"], 0.3)
    assert 50 in (body.get("max_tokens"), body.get("max_completion_tokens"))


def test_a_hyphenated_name_is_the_same_option(cli: Cli, cloud: FakeProvider) -> None:
    assert cli("chat", "-m", MODEL, "-o", "top-p", "0.5", "hi", **OR).code == 0
    assert cloud.chat_requests[0].body["top_p"] == 0.5


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-o", "sed", "1"], "unknown option -o 'sed' (known: temperature, max_tokens, top_p, stop, seed)"),
        (["-o", "top_p", "1.5"], "-o top_p must be a number from 0 to 1, not '1.5'"),
        (["-o", "top_p", "nan"], "-o top_p must be a number from 0 to 1, not 'nan'"),
        (["-o", "seed", "x"], "-o seed must be a whole number, not 'x'"),
        (["-o", "max_tokens", "0"], "-o max_tokens must be a whole number of at least 1, not '0'"),
        (["-o", "stop", ""], "-o stop must be a non-empty text (repeat -o stop for several), not ''"),
        (["-o", "seed", "1", "-o", "seed", "2"], "-o seed is given twice: give it once"),
        (["--temperature", "1", "-o", "temperature", "0.5"], "--temperature and -o temperature both set it"),
        (["--max-tokens", "9", "-o", "max_tokens", "9"], "--max-tokens and -o max_tokens both set it"),
    ],
)
def test_a_bad_o_is_a_usage_error_before_anything_is_sent(
    cli: Cli, cloud: FakeProvider, args: list[str], said: str
) -> None:
    result = cli("chat", "-m", MODEL, *args, "hi", **OR)
    assert result.code == ExitStatus.USAGE and result.stderr.startswith("error: ") and said in result.stderr
    assert result.stderr.count("\n") == 1 and cloud.requests == []


def test_o_without_its_value_is_clicks_usage_error(cli: Cli) -> None:
    result = cli("chat", "-o", "seed")
    assert result.code == ExitStatus.USAGE and "requires 2 arguments" in result.stderr


def test_an_option_no_candidate_can_carry_is_refused_by_name_and_never_sent(cli: Cli, cloud: FakeProvider) -> None:
    """Anthropic's Messages API has no seed: a chat pinned there is refused, not sent without it."""
    result = cli("chat", "-o", "seed", "1", "-m", "anthropic:claude-haiku-4-5", "hi", **keys_env(anthropic=1))
    assert result.code == ExitStatus.REJECTED
    assert "seed: the Anthropic Messages API has no seed" in result.stderr and "no candidate" in result.stderr
    assert cloud.requests == []


def test_key_forces_that_key(cli: Cli, cloud: FakeProvider) -> None:
    for _ in range(2):
        assert cli("chat", "--key", "OPENROUTER_API_KEY_2", "-m", MODEL, "hi", **OR).code == 0
    assert [r.bearer for r in cloud.chat_requests] == [OR_KEYS[1], OR_KEYS[1]]


def test_an_unknown_key_is_the_usage_error_every_command_gives(cli: Cli, cloud: FakeProvider) -> None:
    chat = cli("chat", "--key", "OPENROUTER_API_KEY_9", "-m", MODEL, "hi", **OR)
    reset = cli("reset-limits", "--key", "OPENROUTER_API_KEY_9", **OR)
    assert chat.code == reset.code == ExitStatus.USAGE
    assert chat.stderr == reset.stderr
    assert "unknown key 'OPENROUTER_API_KEY_9' (known: OPENROUTER_API_KEY_1, OPENROUTER_API_KEY_2)" in chat.stderr
    assert cloud.requests == []


def test_a_key_of_another_provider_than_provider_or_m_is_refused(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=1, ollama=1)
    by_flag = cli("chat", "--key", "OLLAMA_API_KEY", "--provider", "openrouter", "hi", **env)
    assert by_flag.code == ExitStatus.USAGE
    assert "--key OLLAMA_API_KEY belongs to ollama, not to --provider openrouter" in by_flag.stderr
    by_model = cli("chat", "--key", "OLLAMA_API_KEY", "-m", MODEL, "hi", **env)
    assert by_model.code == ExitStatus.USAGE and f"not to -m {MODEL}" in by_model.stderr
    assert cloud.requests == []


def test_a_key_whose_provider_serves_none_of_the_models_targets_is_a_usage_error(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "--key", "OLLAMA_API_KEY", "-m", "openai/gpt-4o-mini", "hi", **keys_env(openrouter=1, ollama=1))
    assert result.code == ExitStatus.USAGE
    assert "key OLLAMA_API_KEY does not serve 'openai/gpt-4o-mini' (served by openrouter)" in result.stderr
    assert cloud.requests == []


def test_key_stays_on_the_fast_path(cli: Cli, cloud: FakeProvider) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-X", "importtime", "-m", "llmroute", "chat", "--key", "OPENROUTER_API_KEY_1"]
    command += ["--no-log", "--no-stdin", "-m", MODEL, "hi"]
    proc = subprocess.run(command, env={**cli.env, **OR}, cwd=cli.cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "llmroute.cli.fast_chat" in imported and "typer" not in imported and "click" not in imported


def test_chat_help_shows_examples_and_the_default_model(cli: Cli) -> None:
    result = cli("chat", "--help")
    assert result.code == 0
    text = " ".join(result.stdout.split())
    assert f"else {DEFAULT_MODEL}" in text and "LLMROUTE_MODEL" in text
    for example in (
        'git diff | llmroute chat -s "Write a commit message for this diff"',
        "llmroute chat -m openrouter:openai/gpt-4o-mini",
        'llmroute chat -c "Now in French"',
        "llmroute chat -o seed 42",
        "llmroute chat --key OPENROUTER_API_KEY_2",
        "llmroute chat --json",
        "!multi",
    ):
        assert example in text, example


def _piped(data: bytes) -> io.BufferedReader:
    """A real pipe fed ``data`` from a thread (its bytes allocated before measuring)."""
    read_end, write_end = os.pipe()

    def feed() -> None:
        with open(write_end, "wb") as stream:
            stream.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return open(read_end, "rb")


@pytest.mark.parametrize("arguments", [(), ("summarize", "this")])
def test_a_huge_stdin_is_not_held_twice_over(arguments: tuple[str, ...]) -> None:
    """20 MiB piped: the peak is the text in pieces plus the prompt (read whole, then decoded, it was 3-4 copies)."""
    size = 20 * 1024 * 1024
    data = (b"x" * 1023 + b"\n") * (size // 1024)
    stdin = _piped(data)
    environment = Environment(stdin=stdin, stderr=io.StringIO(), env={})
    options = chat_command.ChatOptions(prompt=arguments)
    tracemalloc.start()
    try:
        prompt = chat_command.read_prompt(options, environment)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        stdin.close()
    expected = chat_command.build_prompt(arguments, data.decode())
    assert prompt == expected
    assert peak < 2.2 * size, f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB stdin"


def test_stdin_split_inside_a_character_or_invalid_reads_as_before() -> None:
    text = "é" * (chat_command.STDIN_CHUNK // 2 + 1) + "\n\n\n"
    stdin = io.BytesIO(text.encode() + b"\xff tail")
    stderr = io.StringIO()
    environment = Environment(stdin=stdin, stderr=stderr, env={})
    prompt = chat_command.read_prompt(chat_command.ChatOptions(prompt=("end",)), environment)
    assert prompt == chat_command.build_prompt(("end",), (text.encode() + b"\xff tail").decode(errors="replace"))
    assert stderr.getvalue() == "warning: stdin is not valid UTF-8; undecodable bytes were replaced\n"
