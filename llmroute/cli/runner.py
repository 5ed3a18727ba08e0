"""Running one command: load the settings, run it, and turn every failure into one line and an exit status.

Shared by the Typer application (:mod:`.app`) and the chat fast path (:mod:`.fast_chat`), so it imports
neither Typer nor Click: whichever parsed the command line, the run itself is the same code.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus

#: Set by the shell completion scripts: the run is a completion request, which only Typer answers.
COMPLETE_VAR = "_LLMROUTE_COMPLETE"

#: What is said when an argument held bytes that are not UTF-8 (see :func:`valid_text`).
INVALID_TEXT_WARNING = "the command line is not valid UTF-8; undecodable bytes were replaced"

#: Variables whose values are masked in all output even before (or without) the settings naming them keys.
_SECRET_NAME = re.compile(r"(?:API_?KEY|TOKEN|SECRET|PASSWORD)(?:_\d+)?$", re.IGNORECASE)


def run_command(
    environment: Environment,
    verbose: bool,
    command: Callable[[Environment, Any], ExitStatus],
    *,
    needs_settings: bool = True,
) -> ExitStatus:
    """Load the settings, run the command, and turn every failure into one line and an exit status.

    A command that must work even when the configuration is broken (``config path``)
    gets the merged environment instead of the settings.
    """
    from llmroute.cli.failures import UsageProblem, exit_status, message
    from llmroute.config import load_environment, load_settings
    from llmroute.errors import LlmrouteError

    environment.guard_output()
    environment.configure_logging(verbose)
    try:
        env = {**load_environment(), **environment.env}
        # Before anything can fail: a message about a broken setting must not show a key either.
        environment.remember_secrets(secret_values(env))
        if not needs_settings:
            return command(environment, env)
        settings = load_settings(env)
        environment.remember_secrets((*(s for k in settings.keys for s in k.secrets), *settings.file_secrets))
        return command(environment, settings)
    except UsageProblem as exc:
        environment.error(str(exc))
        return ExitStatus.USAGE
    except LlmrouteError as exc:
        environment.error(message(exc))
        return exit_status(exc)
    except KeyboardInterrupt:
        environment.stderr.write("\n")
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        silence_stdout()
        return ExitStatus.BROKEN_PIPE
    except Exception as exc:
        return internal_error(environment, exc)


def secret_values(env: Mapping[str, str]) -> list[str]:
    """The values of ``*_API_KEY``, ``*_API_KEY_N``, ``*_TOKEN``, ... variables worth masking (8 characters or more)."""
    return [v.strip() for k, v in env.items() if _SECRET_NAME.search(k) and len(v.strip()) >= 8]


def internal_error(environment: Environment, exc: BaseException) -> ExitStatus:
    """A bug: one line, or with ``--debug`` the traceback, printed through the same redaction as every line."""
    from llmroute.cli.failures import message

    if environment.env.get("LLMROUTE_DEBUG"):
        import traceback

        environment.stderr.write(environment.printable("".join(traceback.format_exception(exc))))
        environment.stderr.flush()
    else:
        environment.error(message(exc))
    return ExitStatus.ERROR


def silence_stdout() -> None:
    """After the reader went away, send whatever is left to /dev/null so exit stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def exit_now(status: int) -> NoReturn:
    """End the process with ``status`` once the standard streams are flushed, without the interpreter's teardown.

    Freeing every module and object a chat loaded, one by one, takes ~20 ms (a tenth of the run) and does nothing
    a finished chat needs: the state file and the connections are closed by then. Whenever that is not certain (a
    stream that cannot be flushed, a thread still running, coverage measuring the run) the process exits normally.
    """
    threading = sys.modules.get("threading")
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # the usual exit reports it, as it always has
        sys.exit(status)
    if (threading is not None and threading.active_count() > 1) or "coverage" in sys.modules:
        sys.exit(status)
    os._exit(status)


def valid_text(argument: str) -> str:
    """An argument as valid Unicode: bytes that were not UTF-8 (kept by Python as lone surrogates) become U+FFFD."""
    try:
        argument.encode("utf-8")
        return argument
    except UnicodeEncodeError:
        pass
    try:
        return argument.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that no undecodable byte produced
        return argument.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
