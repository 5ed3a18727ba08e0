"""The I/O environment of one CLI run, injectable for tests (as httpie does).

Results go to stdout, everything else to stderr. Colour and control codes only
when the stream is a terminal and ``NO_COLOR`` is unset.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO

from llmroute.keys import redact


@dataclass
class Environment:
    stdin: IO[bytes] = field(default_factory=lambda: sys.stdin.buffer)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    secrets: tuple[str, ...] = ()

    @property
    def stdin_is_tty(self) -> bool:
        return _isatty(self.stdin)

    @property
    def stdout_is_tty(self) -> bool:
        return _isatty(self.stdout)

    def color(self, stream: IO[str]) -> bool:
        return _isatty(stream) and "NO_COLOR" not in self.env and self.env.get("TERM") != "dumb"

    def remember_secrets(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple({*self.secrets, *secrets})

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def error(self, text: str) -> None:
        self._note("error", text, "\x1b[1;31m")

    def warn(self, text: str) -> None:
        self._note("warning", text, "\x1b[33m")

    def _note(self, label: str, text: str, ansi: str) -> None:
        prefix = f"{ansi}{label}:\x1b[0m" if self.color(self.stderr) else f"{label}:"
        self.stderr.write(f"{prefix} {self.redact(text)}\n")
        self.stderr.flush()

    def configure_logging(self, verbose: bool) -> None:
        """Route the core's ``llmroute`` logger to stderr, redacted; ``-v`` shows every attempt."""
        logger = logging.getLogger("llmroute")
        logger.handlers = [_NoteHandler(self)]
        logger.setLevel(logging.INFO if verbose else logging.WARNING)
        logger.propagate = False


class _NoteHandler(logging.Handler):
    def __init__(self, environment: Environment) -> None:
        super().__init__()
        self.environment = environment

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed log call must not break a request
            text = str(record.msg)
        if record.levelno >= logging.WARNING:
            self.environment.warn(text)
        else:
            self.environment.stderr.write(f"llmroute: {self.environment.redact(text)}\n")
            self.environment.stderr.flush()


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False
