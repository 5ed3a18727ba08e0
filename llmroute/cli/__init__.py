"""The command line. The only part of llmroute that imports Typer, Click or Rich.

Typer is imported only when needed: ``--version`` answers before it is, and a plain ``chat`` command line
is run by :mod:`.fast_chat` without it: a chat is the command that scripts call in loops, so it starts and ends
as fast as it can. Every command ends without the interpreter's teardown (:func:`.runner.exit_now`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        from llmroute._version import __version__

        try:
            sys.stdout.write(f"llmroute {__version__}\n")
            sys.stdout.flush()
        except BrokenPipeError:
            from llmroute.cli.runner import silence_stdout

            silence_stdout()
            sys.exit(141)
        return
    from llmroute.cli import fast_chat

    status = fast_chat.run(args)
    if status is not None:
        from llmroute.cli.runner import exit_now

        exit_now(status)
    from llmroute.cli.app import run
    from llmroute.cli.runner import exit_now

    exit_now(run(args))
