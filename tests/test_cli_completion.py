from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_committed_script_matches_what_the_cli_prints(cli: Cli, shell: str) -> None:
    result = cli("completion", shell)
    assert result.code == 0
    assert result.stdout == (COMPLETIONS / f"llmroute.{shell}").read_text()


def test_unknown_shell_is_a_usage_error(cli: Cli) -> None:
    result = cli("completion", "powershell")
    assert result.code == 2 and "bash, zsh, fish" in result.stderr


def test_bash_completes_model_aliases_without_the_network(cli: Cli) -> None:
    result = cli(_LLMROUTE_COMPLETE="complete_bash", COMP_WORDS="llmroute chat -m kimi-k2", COMP_CWORD="3")
    assert result.code == 0
    assert result.stdout.split() == ["kimi-k2-thinking", "kimi-k2.5", "kimi-k2.6"]


def test_bash_completes_subcommands(cli: Cli) -> None:
    result = cli(_LLMROUTE_COMPLETE="complete_bash", COMP_WORDS="llmroute comp", COMP_CWORD="1")
    assert result.stdout.split() == ["completion"]
