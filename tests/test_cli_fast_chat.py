"""The chat fast path (``llmroute/cli/fast_chat.py``): what it reads, it reads as Typer does; the rest it leaves to Typer."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer.main

from llmroute.cli import app as app_module
from llmroute.cli import chat as chat_command
from llmroute.cli import fast_chat
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus
from llmroute.cli.runner import COMPLETE_VAR, INVALID_TEXT_WARNING
from tests.conftest import OR_KEYS, Cli, keys_env
from tests.fakes import FakeProvider, stream_reply

KINDS = {fast_chat.TEXT: click.STRING, fast_chat.FLOAT: click.FLOAT, fast_chat.INT: click.INT}


def chat_command_params() -> dict[str, click.Parameter]:
    group = typer.main.get_command(app_module.app)
    assert isinstance(group, click.Group)
    return {p.name: p for p in group.commands["chat"].params if p.name}


def test_the_option_table_is_the_typer_chat_signature() -> None:
    params = chat_command_params()
    prompt = params.pop("prompt")
    assert isinstance(prompt, click.Argument) and prompt.nargs == -1 and not prompt.required
    assert set(params) == {option[0] for option in fast_chat.CHAT_OPTIONS}
    for name, spellings, kind, least, most in fast_chat.CHAT_OPTIONS:
        param = params[name]
        assert isinstance(param, click.Option), name
        assert sorted(param.opts + param.secondary_opts) == sorted(spellings), name
        assert param.is_flag == (kind == fast_chat.FLAG) and not param.envvar, name
        assert (param.multiple, param.nargs) == ((True, 2) if kind == fast_chat.PAIRS else (False, 1)), name
        assert getattr(param.type, "min", None) == least and getattr(param.type, "max", None) == most, name
        assert not getattr(param.type, "min_open", False) and not getattr(param.type, "max_open", False), name
        if kind == fast_chat.FLAG:
            assert param.default is False, name
        elif kind == fast_chat.PAIRS:
            assert param.default is None and not param.required, name
        else:
            assert isinstance(param.type, type(KINDS[kind])) and param.default is None, name


def test_the_only_option_before_chat_that_it_reads_is_debug() -> None:
    group = typer.main.get_command(app_module.app)
    assert sorted(o for p in group.params for o in p.opts) == ["--debug", "--version", "-V"]


def run_both_ways(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """What ``chat`` is called with when ``args`` are read by the fast path, then by Typer."""
    seen: list[tuple[object, ...]] = []

    def recorded(options: chat_command.ChatOptions, settings: object, environment: Environment) -> ExitStatus:
        debug = environment.env.get("LLMROUTE_DEBUG")
        seen.append((options, logging.getLogger("llmroute").level, debug))
        return ExitStatus.OK

    monkeypatch.setattr(chat_command, "chat", recorded)
    env = {"LLMROUTE_HOME": str(tmp_path), "OPENROUTER_API_KEY": OR_KEYS[0]}
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr(fast_chat, "run", lambda *_: None)
        environment = Environment(stdin=io.BytesIO(), stdout=io.StringIO(), stderr=io.StringIO(), env=dict(env))
        assert app_module.run(args, environment) == ExitStatus.OK, environment.stderr.getvalue()  # type: ignore[attr-defined]
    return seen


READ_ALIKE = [
    ["chat", "hi"],
    ["chat"],
    ["--debug", "chat", "hi", "there"],
    ["chat", "-m", "openrouter:openai/gpt-4o-mini", "-s", "be brief", "explain", "this"],
    ["chat", "--model=kimi-k2.5", "--system=", "--provider", "openrouter", "--privacy", "critical", "x"],
    ["chat", "--temperature", "0", "--max-tokens", "12", "--timeout", "0.1", "hi"],
    ["chat", "--temperature=2", "--max-tokens=000120", "--timeout=30.", "hi"],
    ["chat", "--temperature", ".5", "--timeout", "999999999999", "hi"],
    ["chat", "--no-stream", "--no-stdin", "--json", "--show-reasoning", "-v", "hi"],
    ["chat", "hi", "--verbose", "there", "-m", "m", "again"],
    ["chat", "-m", "", "hi"],
    ["chat", "", "hi"],
    ["chat", "--", "-5", "--help", "-m", "x"],
    ["chat", "-m", "x", "--"],
    ["chat", "ünïcode", "日本語", "a=b", "--json"],
    ["chat", "--key", "OPENROUTER_API_KEY_2", "--no-log", "hi"],
    ["chat", "-c", "--log", "--key=OPENROUTER_API_KEY_1", "hi"],
    ["chat", "--continue", "--cid", "0123abcd", "hi"],
    ["chat", "--conversation", "0123abcd", "hi"],
]


@pytest.mark.parametrize("args", READ_ALIKE, ids=" ".join)
def test_a_command_line_it_reads_is_read_as_typer_reads_it(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fast_chat.parse(args) is not None
    fast, typer_read = run_both_ways(args, tmp_path, monkeypatch)
    assert fast == typer_read


LEFT_TO_TYPER = [
    ["chat", "--help"],
    ["chat", "-h", "hi"],
    ["--help"],
    ["--version"],
    ["-V", "chat", "hi"],
    ["--debug", "--debug", "chat", "hi"],
    ["chat", "--debug", "hi"],
    ["models"],
    ["config", "show"],
    [],
    ["chat", "-vm", "x", "hi"],
    ["chat", "-mx", "hi"],
    ["chat", "-5"],
    ["chat", "-", "hi"],
    ["chat", "--mod", "x", "hi"],
    ["chat", "-m"],
    ["chat", "-m", "--json", "hi"],
    ["chat", "-s", "-be terse", "hi"],
    ["chat", "--model=-x", "hi"],
    ["chat", "--json=1", "hi"],
    ["chat", "-m", "a", "--model", "b", "hi"],
    ["chat", "-v", "-v", "hi"],
    ["chat", "--temperature", "2.5", "hi"],
    ["chat", "--temperature", "-1", "hi"],
    ["chat", "--temperature", "nan", "hi"],
    ["chat", "--temperature", "inf", "hi"],
    ["chat", "--temperature", "1e-1", "hi"],
    ["chat", "--temperature", " 1", "hi"],
    ["chat", "--temperature", "1_0", "hi"],
    ["chat", "--temperature", "\u0661", "hi"],
    ["chat", "--temperature", ".", "hi"],
    ["chat", "--temperature=", "hi"],
    ["chat", "--max-tokens", "0", "hi"],
    ["chat", "--max-tokens", "1.5", "hi"],
    ["chat", "--max-tokens", "+5", "hi"],
    ["chat", "--max-tokens", "9" * 19, "hi"],
    ["chat", "--timeout", "0.05", "hi"],
    ["chat", "--timeout", "9" * 400, "hi"],
    ["chat", "-o", "seed", "1", "hi"],
    ["chat", "hi", "--option", "top_p", "0.5"],
    ["chat", "--option=stop", "x", "hi"],
    ["chat", "-c", "-c", "hi"],
    ["chat", "--key", "-x", "hi"],
]


@pytest.mark.parametrize("args", LEFT_TO_TYPER, ids=" ".join)
def test_anything_it_is_not_sure_of_is_left_to_typer(args: list[str]) -> None:
    assert fast_chat.parse(args) is None
    assert fast_chat.run(args, Environment(stdin=io.BytesIO(), stdout=io.StringIO(), stderr=io.StringIO())) is None


def test_shell_completion_is_left_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COMPLETE_VAR, "complete_bash")
    assert fast_chat.run(["chat", "hi"]) is None


def test_an_argument_that_is_not_utf8_is_replaced_and_warned_about_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[chat_command.ChatOptions] = []
    monkeypatch.setattr(chat_command, "chat", lambda options, *_: seen.append(options) or ExitStatus.OK)
    stderr = io.StringIO()
    env = {"LLMROUTE_HOME": str(tmp_path)}
    environment = Environment(stdin=io.BytesIO(), stdout=io.StringIO(), stderr=stderr, env=env)
    assert fast_chat.run(["chat", "caf\udce9"], environment) == ExitStatus.OK
    assert seen[0].prompt == ("caf\ufffd",)
    assert stderr.getvalue() == f"warning: {INVALID_TEXT_WARNING}\n"


def test_a_bad_value_gets_typers_usage_error(cli: Cli) -> None:
    result = cli("chat", "--temperature", "5", "hi", **keys_env(openrouter=1))
    assert result.code == ExitStatus.USAGE and "Invalid value for '--temperature'" in result.stderr


def test_a_chat_imports_neither_typer_click_rich_nor_the_other_providers(cli: Cli) -> None:
    chat = ["chat", "--no-stdin", "-m", "openrouter:openai/gpt-4o-mini", "hi"]
    command = [sys.executable, "-X", "importtime", "-m", "llmroute", *chat]
    env = {**cli.env, **keys_env(openrouter=1)}
    proc = subprocess.run(command, env=env, cwd=cli.cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hello from the fake provider.\n"
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert {"llmroute.cli.fast_chat", "llmroute.router", "llmroute.providers.openrouter", "httpx"} <= imported
    heavy = {"typer", "click", "rich", "pydantic", "llmroute.cli.app"}
    others = {"ollama", "openai_api", "azure", "cloudflare", "gemini", "anthropic", "bedrock", "eventstream"}
    assert not imported & (heavy | {f"llmroute.providers.{o}" for o in others})


def test_a_chat_ends_with_its_status_and_its_whole_answer(cli: Cli, cloud: FakeProvider) -> None:
    """The fast path ends the process without the interpreter's teardown: nothing written may be lost."""
    big = "word " * 50_000
    cloud.script(OR_KEYS[0], stream_reply(big))
    result = cli("chat", "--no-stdin", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=1))
    assert (result.code, result.stdout) == (ExitStatus.OK, big + "\n")
    failed = cli("chat", "--no-stdin", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env())
    assert failed.code == ExitStatus.CONFIG and failed.stderr.startswith("error: ")
