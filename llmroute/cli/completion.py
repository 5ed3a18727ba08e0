"""Shell completion: the bash, zsh and fish scripts, the protocol they speak, and what each option completes.

``completions/`` holds the committed copies of the scripts (``llmroute completion SHELL`` prints the same).
The scripts run ``llmroute`` with ``_LLMROUTE_COMPLETE=complete_SHELL``; the classes below read what the shell
sent and answer one candidate per line as ``type,value`` (``plain``, or ``file`` for a path: the shell then
completes file names itself).

Model ids hold colons (``openrouter:moonshotai/kimi-k2``, ``gpt-oss:20b``). bash splits the word under the cursor
at every character of ``COMP_WORDBREAKS`` (``:`` and ``=`` by default) and replaces only the part after the last
one, so its script sends the command line up to the cursor and the part readline will replace; the candidates
come back with what precedes that part trimmed (what bash-completion's ``__ltrim_colon_completions`` does).
zsh and fish do not split words at colons.

Candidates come from the configuration and the catalogue cache in the state file only: never the network, never
a key's value, and nothing at all (no traceback) when either file is broken.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from click.shell_completion import (
    BashComplete,
    CompletionItem,
    FishComplete,
    ZshComplete,
    add_completion_class,
    split_arg_string,
)

from llmroute.cli.runner import COMPLETE_VAR

if TYPE_CHECKING:
    from llmroute.config import Settings

#: The command line up to the cursor, as bash's script sends it.
LINE_VAR = "_LLMROUTE_COMPLETE_LINE"
#: The part of the current word bash replaces (the text after its last ``COMP_WORDBREAKS`` character).
WORD_VAR = "_LLMROUTE_COMPLETE_WORD"

BASH_SCRIPT = r"""# bash completion for %(prog_name)s; load with: source <(%(prog_name)s completion bash)
%(complete_func)s() {
    local IFS=$'\n' item
    local -a response
    COMPREPLY=()
    response=($(env %(complete_var)s=complete_bash \
        %(line_var)s="${COMP_LINE:0:COMP_POINT}" %(word_var)s="$2" "$1" 2>/dev/null))
    for item in "${response[@]}"; do
        case ${item%%%%,*} in
            plain) COMPREPLY+=("${item#*,}") ;;
            file) COMPREPLY=(); compopt -o default 2>/dev/null; return 0 ;;
        esac
    done
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *: ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}

complete -F %(complete_func)s %(prog_name)s
"""

ZSH_SCRIPT = r"""#compdef %(prog_name)s
# zsh completion for %(prog_name)s; load with: source <(%(prog_name)s completion zsh)
# or save it as _%(prog_name)s in a directory of $fpath

%(complete_func)s() {
    local -a response plain described prefixes
    local type key descr
    response=("${(@f)$(env COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT-1)) \
        %(complete_var)s=complete_zsh %(prog_name)s 2>/dev/null)}")
    for type key descr in "${response[@]}"; do
        if [[ $type == plain ]]; then
            if [[ $descr != _ ]]; then
                described+=("$key:$descr")
            elif [[ $key == *: ]]; then
                prefixes+=("$key")
            else
                plain+=("$key")
            fi
        elif [[ $type == file ]]; then
            _path_files -f
        fi
    done
    (( ${#described} )) && _describe -V unsorted described -U
    (( ${#prefixes} )) && compadd -U -S '' -V unsorted -a prefixes
    (( ${#plain} )) && compadd -U -V unsorted -a plain
    return 0
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    %(complete_func)s "$@"
else
    compdef %(complete_func)s %(prog_name)s
fi
"""

FISH_SCRIPT = r"""# fish completion for %(prog_name)s; load with: %(prog_name)s completion fish | source
function %(complete_func)s
    set -l response (env %(complete_var)s=complete_fish COMP_WORDS=(commandline -cp) COMP_CWORD=(commandline -ct) \
        %(prog_name)s 2>/dev/null)
    for item in $response
        set -l field (string split -m 1 , -- $item)
        switch $field[1]
            case plain
                echo $field[2]
            case file
                __fish_complete_path (commandline -ct)
        end
    end
end

complete --command %(prog_name)s --no-files --arguments "(%(complete_func)s)"
"""

SCRIPTS = {"bash": BASH_SCRIPT, "zsh": ZSH_SCRIPT, "fish": FISH_SCRIPT}


def completion_script(shell: str) -> str:
    """The script that makes ``shell`` complete ``llmroute`` command lines (``completions/llmroute.SHELL``)."""
    return SCRIPTS[shell] % _script_vars()


def _script_vars() -> dict[str, str]:
    return {
        "prog_name": "llmroute",
        "complete_func": "_llmroute_completion",
        "complete_var": COMPLETE_VAR,
        "line_var": LINE_VAR,
        "word_var": WORD_VAR,
    }


class _FilesForPaths:
    """Typer's path options complete nothing (it counted on the shell falling back to file names for every
    word); here a path option asks the shell for file names, and no other word does."""

    def get_completions(self, args: list[str], incomplete: str) -> list[CompletionItem]:
        from click.shell_completion import _resolve_context, _resolve_incomplete

        ctx = _resolve_context(self.cli, self.ctx_args, self.prog_name, args)  # type: ignore[attr-defined]
        obj, incomplete = _resolve_incomplete(ctx, args, incomplete)
        if isinstance(obj, click.Parameter) and isinstance(obj.type, click.Path):
            return [CompletionItem(incomplete, type="file")]
        return obj.shell_complete(ctx, incomplete)


class Bash(_FilesForPaths, BashComplete):
    """bash: the line up to the cursor in, candidates trimmed to the part of the word bash replaces out."""

    source_template = BASH_SCRIPT

    def source_vars(self) -> dict[str, str]:
        return _script_vars()

    def get_completion_args(self) -> tuple[list[str], str]:
        return line_arguments(os.environ.get(LINE_VAR, ""))

    def complete(self) -> str:
        args, incomplete = self.get_completion_args()
        prefix = replaced_prefix(incomplete, os.environ.get(WORD_VAR, ""))
        lines = []
        for item in self.get_completions(args, incomplete):
            if item.type != "plain":
                lines.append(f"{item.type},{item.value}")
            elif item.value.startswith(prefix):
                lines.append(f"plain,{item.value[len(prefix) :]}")
        return "\n".join(lines)


class Zsh(_FilesForPaths, ZshComplete):
    source_template = ZSH_SCRIPT

    def source_vars(self) -> dict[str, str]:
        return _script_vars()


class Fish(_FilesForPaths, FishComplete):
    source_template = FISH_SCRIPT

    def source_vars(self) -> dict[str, str]:
        return _script_vars()


def line_arguments(line: str) -> tuple[list[str], str]:
    """The finished arguments of a command line cut at the cursor (the program name dropped) and the word
    being typed: ``""`` after a blank, the unquoted text of an open quote."""
    words = split_arg_string(line + "_")  # a sentinel: a word of its own after a blank, else the word's end
    return words[1:-1], words[-1][:-1]


def replaced_prefix(incomplete: str, word: str) -> str:
    """What every candidate for ``incomplete`` must lose so that bash, which replaces only ``word`` (the text
    after the last ``COMP_WORDBREAKS`` character), ends with the candidate whole.

    Candidates for ``--model=gpt`` complete the value after the ``=``, so the prefix is taken from the value.
    """
    value = incomplete.partition("=")[2] if incomplete.startswith("-") and "=" in incomplete else incomplete
    if not word:
        return value
    return value[: -len(word)] if value.endswith(word) else ""


def enable_completion() -> None:
    """Register the classes that speak the scripts' protocol (only when completing)."""
    for name, cls in (("bash", Bash), ("zsh", Zsh), ("fish", Fish)):
        add_completion_class(cls, name)


# --- what each option completes ---------------------------------------------------------------------------


def quietly(completer: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """``completer``, completing nothing instead of failing: a traceback in the middle of a command line helps
    no one, and the command itself will report a broken file properly."""

    def complete(incomplete: str) -> list[str]:
        try:
            return completer(incomplete)
        except Exception:
            return []

    return complete


@quietly
def model_candidates(incomplete: str) -> list[str]:
    """Aliases (built in and configured), ``provider:`` for each usable provider, cached ``provider:model`` ids."""
    from llmroute.aliases import BUILTIN_ALIASES

    settings = _settings()
    aliases = {*BUILTIN_ALIASES, *(settings.aliases if settings else ())}
    providers = _provider_names(settings) if settings else ("ollama", "openrouter", "local")
    names = sorted({*aliases, *(f"{p}:" for p in providers)})
    cached = [s for s in _cached_specs(settings) if s not in names]
    return [n for n in (*names, *cached) if n.startswith(incomplete)]


@quietly
def provider_candidates(incomplete: str) -> list[str]:
    """The usable providers named in the configuration, in its order."""
    settings = _settings()
    return [p for p in (_provider_names(settings) if settings else ()) if p.startswith(incomplete)]


@quietly
def key_candidates(incomplete: str) -> list[str]:
    """The variable names of the keys that are set (names only, never a value)."""
    settings = _settings()
    slots = settings.all_slots() if settings else ()
    return [s.label for s in slots if s.key is not None and s.label.startswith(incomplete)]


def _settings() -> Settings | None:
    """The settings as a command would load them, or None when they cannot be loaded."""
    from llmroute.config import load_environment, load_settings

    try:
        return load_settings(load_environment())
    except Exception:
        return None


def _provider_names(settings: Settings) -> tuple[str, ...]:
    return tuple(p.name for p in settings.providers if p.enabled)


def _cached_specs(settings: Settings | None) -> list[str]:
    from llmroute.catalog import cached_model_specs
    from llmroute.config import config_paths

    state_path = settings.state_path if settings else config_paths(os.environ)[1]
    return cached_model_specs(state_path)
