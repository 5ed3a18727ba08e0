"""``llmroute chat`` without Typer: the start-up fast path of the command that scripts call in loops.

Importing Typer and Click and building the command from its signature is about a fifth of a whole
chat's run time (see ``benchmarks/startup.py``). A command line this module reads with certainty,
``llmroute [--debug] chat [OPTIONS] [PROMPT]...`` with every option spelled out and every value plainly
valid, is run here, by the same :func:`~llmroute.cli.runner.run_command` and the same
:func:`llmroute.cli.chat.chat` as through Typer. Anything else returns None, having done nothing, and
Typer reads the whole command line: ``--help``, an unknown, repeated or clustered option (``-vm``), an
option value that starts with ``-``, a number that is not plain decimal or is out of range, ``-o NAME
VALUE`` (its two values and its repeats are Typer's to read), shell completion. So every message about
a bad command line still comes from one place.

:data:`CHAT_OPTIONS` mirrors the ``chat`` signature in :mod:`llmroute.cli.app`;
``tests/test_cli_fast_chat.py`` checks the two against each other, and that both read the same
command lines into the same options.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus
from llmroute.cli.runner import (
    COMPLETE_VAR,
    INVALID_TEXT_WARNING,
    fail,
    fail_json,
    run_command,
    secret_values,
    valid_text,
)

FLAG, TEXT, FLOAT, INT = "flag", "text", "float", "int"
PAIRS = "pairs"
"""An option taking two values, repeatable (``-o NAME VALUE``): a command line holding it is left to Typer."""

#: The options of ``chat``: (its parameter in ``app.chat``, its spellings, its kind, the least and the most
#: value allowed). Typer's own checks beyond these (``nan``, ``inf``) cannot arise from plain decimals.
CHAT_OPTIONS: tuple[tuple[str, tuple[str, ...], str, float | None, float | None], ...] = (
    ("model", ("-m", "--model"), TEXT, None, None),
    ("system", ("-s", "--system"), TEXT, None, None),
    ("temperature", ("--temperature",), FLOAT, 0.0, 2.0),
    ("max_tokens", ("--max-tokens",), INT, 1, None),
    ("no_stream", ("--no-stream",), FLAG, None, None),
    ("provider", ("--provider",), TEXT, None, None),
    ("privacy", ("--privacy",), TEXT, None, None),
    ("timeout", ("--timeout",), FLOAT, 0.1, None),
    ("no_stdin", ("--no-stdin",), FLAG, None, None),
    ("as_json", ("--json",), FLAG, None, None),
    ("show_reasoning", ("--show-reasoning",), FLAG, None, None),
    ("verbose", ("-v", "--verbose"), FLAG, None, None),
    ("option", ("-o", "--option"), PAIRS, None, None),
    ("key", ("--key",), TEXT, None, None),
    ("continue_latest", ("-c", "--continue"), FLAG, None, None),
    ("conversation", ("--cid", "--conversation"), TEXT, None, None),
    ("no_log", ("--no-log",), FLAG, None, None),
    ("log", ("--log",), FLAG, None, None),
)
_BY_SPELLING = {spelling: option for option in CHAT_OPTIONS for spelling in option[1]}
#: Longest integer read here: far above any token count, and never near ``int``'s digit limit.
_INT_DIGITS = 18

Parsed = tuple[bool, dict[str, object], list[str]]
"""``--debug`` given, the options given (by parameter name), the prompt's words."""


def parse(args: Sequence[str]) -> Parsed | None:
    """``args`` read as Typer would read them, or None where that is not certain (Typer then reads them)."""
    debug = args[:1] == ["--debug"]
    if args[int(debug) : int(debug) + 1] != ["chat"]:
        return None
    values: dict[str, object] = {}
    prompt: list[str] = []
    rest = iter(args[int(debug) + 1 :])
    for arg in rest:
        if arg == "--":
            prompt.extend(rest)
            break
        if not arg.startswith("-"):
            prompt.append(arg)
            continue
        spelling, equals, attached = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        option = _BY_SPELLING.get(spelling)
        if option is None or option[0] in values or option[2] == PAIRS:
            return None
        name, _, kind, least, most = option
        if kind == FLAG:
            if equals:
                return None
            values[name] = True
            continue
        value = attached if equals else next(rest, None)
        converted = None if value is None or value.startswith("-") else _convert(value, kind, least, most)
        if converted is None:
            return None
        values[name] = converted
    return debug, values, prompt


def _convert(value: str, kind: str, least: float | None, most: float | None) -> object | None:
    """The value as Typer converts it, or None when Typer would have to judge it (it may refuse it)."""
    if kind == TEXT:
        return value
    plain = value.replace(".", "", 1) if kind == FLOAT else value
    if not (plain.isascii() and plain.isdigit()) or (kind == INT and len(value) > _INT_DIGITS):
        return None
    number = float(value) if kind == FLOAT else int(value)
    if not math.isfinite(number) or (least is not None and number < least) or (most is not None and number > most):
        return None
    return number


def run(args: Sequence[str], environment: Environment | None = None) -> int | None:
    """Run ``llmroute chat ...`` and return its exit status, or return None (having done nothing) for Typer."""
    if COMPLETE_VAR in os.environ:
        return None
    arguments = [valid_text(a) for a in args]
    parsed = parse(arguments)
    if parsed is None:
        return None
    debug, values, prompt = parsed
    as_json = bool(values.get("as_json"))
    environment = environment or Environment()
    environment.guard_output()
    environment.remember_secrets(secret_values(environment.env))
    if arguments != list(args):
        environment.warn(INVALID_TEXT_WARNING)
    if debug:
        environment.env = {**environment.env, "LLMROUTE_DEBUG": "1"}
    try:
        from llmroute.cli import chat as chat_command

        options = chat_command.ChatOptions(
            prompt=tuple(prompt),
            model=values.get("model"),  # type: ignore[arg-type]
            system=values.get("system"),  # type: ignore[arg-type]
            temperature=values.get("temperature"),  # type: ignore[arg-type]
            max_tokens=values.get("max_tokens"),  # type: ignore[arg-type]
            stream=not values.get("no_stream"),
            provider=values.get("provider"),  # type: ignore[arg-type]
            privacy=values.get("privacy"),  # type: ignore[arg-type]
            timeout=values.get("timeout"),  # type: ignore[arg-type]
            read_stdin=not values.get("no_stdin"),
            json=bool(values.get("as_json")),
            show_reasoning=bool(values.get("show_reasoning")),
            key=values.get("key"),  # type: ignore[arg-type]
            continue_latest=bool(values.get("continue_latest")),
            conversation=values.get("conversation"),  # type: ignore[arg-type]
            no_log=bool(values.get("no_log")),
            log=bool(values.get("log")),
        )
        verbose = bool(values.get("verbose"))
        return int(
            run_command(
                environment,
                verbose,
                lambda env, settings: chat_command.chat(options, settings, env),
                as_json=options.json,
            )
        )
    except (KeyboardInterrupt, EOFError):  # outside the command's own boundary, as Click's Abort
        environment.stderr.write("\n")
        return int(fail_json(environment, "interrupted", "interrupted", ExitStatus.INTERRUPTED, as_json=as_json))
    except Exception as exc:  # a bug outside the command's own error boundary
        return int(fail(environment, exc, as_json=as_json))
