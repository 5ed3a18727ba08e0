"""The CLI's error boundary: every failure is one line on stderr and a documented exit status."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from llmroute import errors
from llmroute.cli import chat as chat_command
from llmroute.cli.app import run
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus, exit_status, message


class Tty(io.BytesIO):
    def isatty(self) -> bool:
        return True


def environment(tmp_path: Path) -> Environment:
    return Environment(
        stdin=Tty(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        env={"LLMROUTE_HOME": str(tmp_path), "OPENROUTER_API_KEY": "sk-or-v1-" + "a" * 60},
    )


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.ConfigError("x"), ExitStatus.CONFIG),
        (errors.NoKeysError("x"), ExitStatus.CONFIG),
        (errors.StateError("x"), ExitStatus.CONFIG),
        (errors.AllCandidatesFailed("x"), ExitStatus.ALL_FAILED),
        (errors.DeadlineExceeded("x"), ExitStatus.ALL_FAILED),
        (errors.NoCandidateAvailable("x"), ExitStatus.LIMITED),
        (errors.RequestRejected("x"), ExitStatus.REJECTED),
        (errors.ModelNotFound("x"), ExitStatus.REJECTED),
        (errors.StreamBroken("x"), ExitStatus.STREAM_BROKEN),
        (errors.PrivacyRefused("x"), ExitStatus.PRIVACY),
    ],
)
def test_each_error_has_its_exit_status(error: errors.LlmrouteError, status: ExitStatus) -> None:
    assert exit_status(error) == status


def test_exit_codes_are_stable() -> None:
    assert {s.name: int(s) for s in ExitStatus} == {
        "OK": 0,
        "ERROR": 1,
        "USAGE": 2,
        "CONFIG": 3,
        "ALL_FAILED": 4,
        "LIMITED": 5,
        "REJECTED": 6,
        "STREAM_BROKEN": 7,
        "PRIVACY": 8,
        "CHECKS_FAILED": 9,
        "INTERRUPTED": 130,
        "BROKEN_PIPE": 141,
    }


def test_messages_are_one_line() -> None:
    assert message(errors.ConfigError("first\nsecond")) == "first second"


def test_an_internal_bug_is_one_line_and_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> ExitStatus:
        raise KeyError("oops")

    monkeypatch.setattr(chat_command, "chat", broken)
    env = environment(tmp_path)
    assert run(["chat", "hi"], env) == ExitStatus.ERROR
    assert env.stderr.getvalue() == "error: internal error: KeyError: 'oops' (rerun with --debug for details)\n"


def test_debug_shows_the_traceback_of_an_internal_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-or-v1-" + "a" * 60

    def broken(*_: object) -> ExitStatus:
        raise KeyError(f"oops {secret}")

    monkeypatch.setattr(chat_command, "chat", broken)
    env = environment(tmp_path)
    assert run(["--debug", "chat", "hi"], env) == ExitStatus.ERROR
    stderr = env.stderr.getvalue()
    assert stderr.startswith("Traceback (most recent call last):") and "KeyError: 'oops sk-or-v1…aaaa'" in stderr
    assert secret not in stderr


def test_an_option_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    env = environment(tmp_path)
    assert run(["chat", "--temperature", "5", "hi"], env) == ExitStatus.USAGE
    assert "temperature" in env.stderr.getvalue()


def test_an_unknown_provider_is_a_usage_error(tmp_path: Path) -> None:
    env = environment(tmp_path)
    assert run(["chat", "--provider", "nope", "hi"], env) == ExitStatus.USAGE
    known = "ollama, openrouter, openai, azure, cloudflare, anthropic, gemini, bedrock, local"
    assert env.stderr.getvalue() == f"error: unknown provider 'nope' (known: {known})\n"


def test_a_bad_privacy_flag_is_a_usage_error_and_a_bad_variable_a_config_error(tmp_path: Path) -> None:
    env = environment(tmp_path)
    assert run(["chat", "--privacy", "secret", "hi"], env) == ExitStatus.USAGE
    env = environment(tmp_path)
    env.env = {**env.env, "LLMROUTE_PRIVACY": "secret"}
    assert run(["chat", "hi"], env) == ExitStatus.CONFIG


def test_build_prompt_puts_stdin_first_and_a_blank_line_between() -> None:
    assert chat_command.build_prompt(["explain"], "code\n") == "code\n\nexplain"
    assert chat_command.build_prompt([], "only stdin\n") == "only stdin\n"
    assert chat_command.build_prompt(["only", "args"], None) == "only args"
