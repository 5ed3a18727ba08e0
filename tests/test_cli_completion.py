"""Shell completion: the committed scripts, the protocol they speak, and completion through a real bash.

bash is driven as a user drives it: an interactive ``bash`` on a pseudo-terminal, the committed script sourced,
``COMP_WORDBREAKS`` as bash sets it (``:`` and ``=`` included), a line typed and Tab pressed. zsh and fish are
not installed on the machines these tests run on, so their protocol is checked without the shell.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmroute.cli.completion import line_arguments, replaced_prefix
from llmroute.store import Store
from llmroute.types import ModelInfo
from tests.conftest import OR_KEYS, Cli, assert_no_secret, keys_env, with_env

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"
CACHED = {"openrouter": ["moonshotai/kimi-k2", "moonshotai/kimi-k2.5", "openai/gpt-4o"], "ollama": ["gpt-oss:120b"]}


@pytest.fixture
def cached(cli: Cli) -> Cli:
    """The CLI with a catalogue cache in its state file and two OpenRouter keys set."""
    store = Store.open(cli.home / "state.db")
    for provider, models in CACHED.items():
        store.replace_catalog(provider, [ModelInfo(provider, m) for m in models], time.time())
    store.close()
    return with_env(cli, keys_env(openrouter=2))


# --- the scripts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_committed_script_matches_what_the_cli_prints(cli: Cli, shell: str) -> None:
    result = cli("completion", shell)
    assert result.code == 0
    assert result.stdout == (COMPLETIONS / f"llmroute.{shell}").read_text()


def test_unknown_shell_is_a_usage_error(cli: Cli) -> None:
    result = cli("completion", "powershell")
    assert result.code == 2 and "bash, zsh, fish" in result.stderr


def test_the_bash_script_is_valid_bash() -> None:
    check = subprocess.run(["bash", "-n", str(COMPLETIONS / "llmroute.bash")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


# --- reading bash's command line --------------------------------------------------------------------------


def test_the_word_being_typed_is_split_from_the_finished_ones() -> None:
    assert line_arguments("llmroute chat -m openrouter:mo") == (["chat", "-m"], "openrouter:mo")


def test_after_a_blank_the_word_being_typed_is_empty() -> None:
    assert line_arguments("llmroute chat -m ") == (["chat", "-m"], "")


def test_an_open_quote_is_part_of_the_word_being_typed() -> None:
    assert line_arguments('llmroute chat -m "openrouter:mo') == (["chat", "-m"], "openrouter:mo")


def test_what_precedes_the_last_word_break_is_trimmed() -> None:
    assert replaced_prefix("openrouter:mo", "mo") == "openrouter:"


def test_right_after_a_colon_the_whole_value_is_trimmed() -> None:
    assert replaced_prefix("openrouter:", "") == "openrouter:"


def test_nothing_is_trimmed_when_colons_do_not_break_words() -> None:
    assert replaced_prefix("openrouter:mo", "openrouter:mo") == ""


def test_an_options_equals_sign_is_not_part_of_the_value() -> None:
    assert replaced_prefix("--model=openrouter:mo", "mo") == "openrouter:"


# --- the protocol, as each script speaks it ---------------------------------------------------------------


def bash_protocol(cli: Cli, line: str, word: str) -> list[str]:
    result = cli(_LLMROUTE_COMPLETE="complete_bash", _LLMROUTE_COMPLETE_LINE=line, _LLMROUTE_COMPLETE_WORD=word)
    assert result.code == 0
    return result.stdout.split()


def test_bash_completes_model_aliases_without_the_network(cli: Cli) -> None:
    assert bash_protocol(cli, "llmroute chat -m kimi-k2", "kimi-k2") == [
        "plain,kimi-k2-thinking",
        "plain,kimi-k2.5",
        "plain,kimi-k2.6",
    ]


def test_bash_completes_subcommands(cli: Cli) -> None:
    assert bash_protocol(cli, "llmroute comp", "comp") == ["plain,completion"]


def test_a_path_option_asks_the_shell_for_file_names(cli: Cli) -> None:
    assert bash_protocol(cli, "llmroute metrics --output ", "") == ["file,"]


def test_zsh_gets_whole_model_ids_with_colons(cached: Cli) -> None:
    result = cached(_LLMROUTE_COMPLETE="complete_zsh", COMP_WORDS="llmroute chat -m openrouter:mo", COMP_CWORD="3")
    assert result.stdout.split("\n")[:6] == [
        "plain",
        "openrouter:moonshotai/kimi-k2",
        "_",
        "plain",
        "openrouter:moonshotai/kimi-k2.5",
        "_",
    ]


def test_fish_gets_whole_model_ids_with_colons(cached: Cli) -> None:
    result = cached(_LLMROUTE_COMPLETE="complete_fish", COMP_WORDS="llmroute chat -m gpt-oss:", COMP_CWORD="gpt-oss:")
    assert result.stdout.split() == ["plain,gpt-oss:120b", "plain,gpt-oss:20b"]


def test_fish_completes_key_labels(cached: Cli) -> None:
    result = cached(_LLMROUTE_COMPLETE="complete_fish", COMP_WORDS="llmroute reset-limits --key ", COMP_CWORD="")
    assert result.stdout.split() == ["plain,OPENROUTER_API_KEY_1", "plain,OPENROUTER_API_KEY_2"]


def test_a_broken_configuration_completes_nothing(cached: Cli) -> None:
    (cached.home / "config.toml").write_text("[providers\nnot toml")
    assert bash_protocol(cached, "llmroute test-keys --provider ", "") == []
    assert bash_protocol(cached, "llmroute test-keys --key ", "") == []


def test_a_broken_state_file_still_completes_aliases(cli: Cli) -> None:
    (cli.home / "state.db").write_bytes(b"not a database" * 100)
    assert bash_protocol(cli, "llmroute chat -m gpt-oss:2", "2") == ["plain,20b"]


# --- through a real interactive bash ----------------------------------------------------------------------


class InteractiveBash:
    """``bash -i`` on a pseudo-terminal with the committed script sourced.

    ``llmroute`` typed at the prompt runs a shell function that records its arguments (so Enter shows the line
    bash built), while the completion script still runs the real ``llmroute`` (``env`` ignores functions);
    a wrapper records ``COMPREPLY`` after each completion.
    """

    def __init__(self, cli: Cli, tmp: Path) -> None:
        self.cli = cli
        self.replies = tmp / "replies"
        self.ran = tmp / "ran"
        self.transcript = b""
        primary, secondary = pty.openpty()
        env = {**cli.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{cli.env.get('PATH', '')}"}
        env |= {"PS1": "$ ", "TERM": "dumb", "INPUTRC": os.devnull}
        self.process = subprocess.Popen(
            ["bash", "--norc", "--noprofile", "-i"],
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            env=env,
            cwd=cli.cwd,
            start_new_session=True,
        )
        os.close(secondary)
        self.fd = primary
        self.run(
            f"source {COMPLETIONS / 'llmroute.bash'}",
            'eval "$(declare -f _llmroute_completion | sed 1s/_llmroute_completion/_llmroute_real/)"',
            f'_llmroute_completion() {{ _llmroute_real "$@"; printf \'%s\\n\' "${{COMPREPLY[@]}}" >{self.replies}; }}',
            f"llmroute() {{ printf '%s' \"$*\" >{self.ran}; }}",
            "bind 'set show-all-if-ambiguous on'; bind 'set bell-style none'",
        )

    def run(self, *lines: str) -> None:
        for line in lines:
            os.write(self.fd, line.encode() + b"\n")
        self.read(0.3)

    def read(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    self.transcript += os.read(self.fd, 65536)
                except OSError:
                    return

    def tab(self, typed: str) -> list[str]:
        """Type ``typed``, press Tab, and return what the completion offered."""
        self.replies.unlink(missing_ok=True)
        os.write(self.fd, f"{typed}\t".encode())
        self._wait_for(self.replies)
        return [line for line in self.replies.read_text().split("\n") if line]

    def enter(self) -> str:
        """Press Enter: the line as bash completed it (the arguments ``llmroute`` got)."""
        self.ran.unlink(missing_ok=True)
        os.write(self.fd, b"\n")
        self._wait_for(self.ran)
        return self.ran.read_text()

    def _wait_for(self, path: Path) -> None:
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline:
            self.read(0.05)
        assert path.exists(), self.transcript.decode("utf-8", "replace")
        self.read(0.1)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self.fd)
        assert_no_secret(self.transcript, "the terminal")
        assert b"Traceback" not in self.transcript


@pytest.fixture
def bash(cached: Cli, tmp_path: Path) -> Iterator[InteractiveBash]:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    shell = InteractiveBash(cached, tmp_path)
    yield shell
    shell.close()


def test_bash_sets_colons_and_equals_signs_as_word_breaks(bash: InteractiveBash) -> None:
    bash.run(f'printf %s "$COMP_WORDBREAKS" >{bash.ran}')
    assert {":", "="} <= set(bash.ran.read_text())


def test_bash_offers_the_models_after_a_provider_and_colon(bash: InteractiveBash) -> None:
    assert bash.tab("llmroute chat -m openrouter:mo") == ["moonshotai/kimi-k2", "moonshotai/kimi-k2.5"]


def test_bash_inserts_a_model_id_whole_after_a_colon(bash: InteractiveBash) -> None:
    bash.tab("llmroute chat -m openrouter:op")
    assert bash.enter() == "chat -m openrouter:openai/gpt-4o"


def test_bash_offers_every_model_of_a_provider_right_after_its_colon(bash: InteractiveBash) -> None:
    assert bash.tab("llmroute chat -m openrouter:") == CACHED["openrouter"]


def test_bash_completes_an_alias_with_a_colon(bash: InteractiveBash) -> None:
    assert bash.tab("llmroute chat -m gpt-oss:") == ["120b", "20b"]
    bash.tab("2")
    assert bash.enter() == "chat -m gpt-oss:20b"


def test_bash_completes_a_model_given_with_an_equals_sign(bash: InteractiveBash) -> None:
    bash.tab("llmroute chat --model=openrouter:op")
    assert bash.enter() == "chat --model=openrouter:openai/gpt-4o"


def test_bash_completes_a_provider_without_a_trailing_space(bash: InteractiveBash) -> None:
    assert bash.tab("llmroute chat -m anthro") == ["anthropic:"]
    os.write(bash.fd, b"x")
    assert bash.enter() == "chat -m anthropic:x"


def test_bash_without_colons_in_its_word_breaks_gets_whole_ids(bash: InteractiveBash) -> None:
    bash.run("COMP_WORDBREAKS=${COMP_WORDBREAKS//:}")
    assert bash.tab("llmroute chat -m openrouter:mo") == [
        "openrouter:moonshotai/kimi-k2",
        "openrouter:moonshotai/kimi-k2.5",
    ]


def test_bash_completes_the_labels_of_the_keys_that_are_set(bash: InteractiveBash) -> None:
    assert bash.tab("llmroute test-keys --key ") == ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2"]
    assert OR_KEYS[0] not in bash.replies.read_text()


def test_bash_completes_the_configured_providers(bash: InteractiveBash) -> None:
    assert bash.tab("llmroute reset-limits --provider o") == ["ollama", "openrouter", "openai"]


def test_bash_with_a_broken_configuration_completes_nothing_quietly(bash: InteractiveBash) -> None:
    (bash.cli.home / "config.toml").write_text("[providers\nnot toml")
    assert bash.tab("llmroute models --provider ") == []
