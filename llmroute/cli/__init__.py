"""The command line. The only part of llmroute that imports Typer, Click or Rich."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point. ``--version`` answers before Typer is even imported."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        from llmroute._version import __version__

        sys.stdout.write(f"llmroute {__version__}\n")
        return
    from llmroute.cli.app import run

    sys.exit(run(args))
