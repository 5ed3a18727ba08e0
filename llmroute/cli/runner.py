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
from llmroute.errors import RouteError

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
    as_json: bool = False,
) -> ExitStatus:
    """Load the settings, run the command, and turn every failure into one line and an exit status.

    A command that must work even when the configuration is broken (``config path``)
    gets the merged environment instead of the settings. With ``as_json`` every failure is also
    one JSON document on stdout (:func:`fail`).
    """
    from llmroute.config import load_environment, load_settings

    environment.guard_output()
    environment.configure_logging(verbose)
    try:
        try:
            env = {**load_environment(), **environment.env}
            # Before anything can fail: a message about a broken setting must not show a key either.
            environment.remember_secrets(secret_values(env))
            if not needs_settings:
                return command(environment, env)
            settings = load_settings(env)
            environment.remember_secrets((*(s for k in settings.keys for s in k.secrets), *settings.file_secrets))
            return command(environment, settings)
        except KeyboardInterrupt:
            environment.stderr.write("\n")
            raise
        except BaseException as exc:
            from llmroute.cli.failures import closed_pipe

            if isinstance(exc, SystemExit) and not closed_pipe(exc):
                raise
            return fail(environment, exc, as_json=as_json)
    except KeyboardInterrupt as exc:
        return fail(environment, exc, as_json=as_json, note=False)


def fail(environment: Environment, error: BaseException, *, as_json: bool, note: bool = True) -> ExitStatus:
    """The one report of a failure: a closed pipe ends quietly (141); anything else is one ``error:`` line on
    stderr (or, for a bug with ``--debug``, the traceback) and, with ``--json``, one document on stdout."""
    from llmroute.cli.failures import classify, closed_pipe, message

    if closed_pipe(error):
        silence_stdout()
        return ExitStatus.BROKEN_PIPE
    status, code = classify(error)
    text = {"usage": str(error), "interrupted": "interrupted"}.get(code) or message(error)
    if status is ExitStatus.ERROR:
        internal_error(environment, error)
    elif note:
        environment.error(text)
    extra: dict[str, object] = {}
    if isinstance(error, RouteError):  # every routing failure lists its attempts, none made included
        from llmroute.cli.chat import attempts_list

        extra["attempts"] = attempts_list(error)
    return fail_json(environment, code, text, status, as_json=as_json, extra=extra)


def fail_json(
    environment: Environment,
    code: str,
    text: str,
    status: int,
    *,
    as_json: bool,
    extra: Mapping[str, object] | None = None,
) -> ExitStatus:
    """With ``--json``, the error document on stdout (redacted, one line); returns ``status``."""
    if as_json:
        import json

        from llmroute.cli.failures import error_document

        document = {**error_document(code, environment.one_line(text), status), **(extra or {})}
        try:
            environment.stdout.write(environment.redact(json.dumps(document, ensure_ascii=False)) + "\n")
            environment.stdout.flush()
        except BrokenPipeError:
            silence_stdout()
            return ExitStatus.BROKEN_PIPE
    return ExitStatus(status) if status in ExitStatus._value2member_map_ else status  # type: ignore[return-value]


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
    stream that cannot be flushed, a thread still running, coverage or a profiler or tracer watching the run, which
    write their results at exit) the process exits normally.
    """
    threading = sys.modules.get("threading")
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # the usual exit reports it, as it always has
        sys.exit(status)
    watched = "coverage" in sys.modules or sys.getprofile() is not None or sys.gettrace() is not None
    if (threading is not None and threading.active_count() > 1) or watched:
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
