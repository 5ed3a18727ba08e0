"""The I/O environment of one CLI run, injectable for tests (as httpie does).

Results go to stdout, everything else to stderr. Colour and control codes only
when the stream is a terminal and ``NO_COLOR`` is unset. Every key the run knows
is masked in everything written to either stream (:meth:`Environment.guard_output`),
and notes (errors, warnings, log lines) are one line without control characters,
whatever text a provider or a file put in them.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from llmroute.keys import redact

#: Longest note (error, warning or log line) printed, in characters.
NOTE_LIMIT = 1000
#: Characters a note never passes to the terminal: C0/C1 controls (ESC starts terminal escape sequences),
#: DEL, and invisible format characters such as bidirectional overrides and zero-width spaces.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


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
        self.secrets = tuple(dict.fromkeys((*self.secrets, *(s for s in secrets if s))))

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def guard_output(self) -> None:
        """Mask every remembered key (also those remembered later) in all that reaches stdout and stderr."""
        if not isinstance(self.stdout, RedactingStream):
            self.stdout = RedactingStream(self.stdout, self.redact)
        if not isinstance(self.stderr, RedactingStream):
            self.stderr = RedactingStream(self.stderr, self.redact)

    def error(self, text: str) -> None:
        self._note("error", text, "\x1b[1;31m")

    def warn(self, text: str) -> None:
        self._note("warning", text, "\x1b[33m")

    def _note(self, label: str, text: str, ansi: str) -> None:
        prefix = f"{ansi}{label}:\x1b[0m" if self.color(self.stderr) else f"{label}:"
        self.stderr.write(f"{prefix} {self.one_line(text)}\n")
        self.stderr.flush()

    def one_line(self, text: str) -> str:
        """``text`` redacted, on one line, with every control or invisible format character shown escaped,
        and at most ``NOTE_LIMIT`` characters (a hostile 100 kB model name is not worth a screenful)."""
        text = escape_unprintable(" ".join(self.redact(text).split()))
        return text if len(text) <= NOTE_LIMIT else text[: NOTE_LIMIT - 1] + "…"

    def printable(self, text: str) -> str:
        """Lines of ``text`` (a traceback) redacted, each with control and invisible characters shown escaped."""
        return "\n".join(escape_unprintable(line) for line in self.redact(text).split("\n"))

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
            self.environment.stderr.write(f"llmroute: {self.environment.one_line(text)}\n")
            self.environment.stderr.flush()


class RedactingStream(io.TextIOBase):
    """A text stream that masks secrets in each write before passing it on; everything else is delegated.

    A secret split across two writes is not seen; everything llmroute writes besides a streamed
    answer is written whole, line by line at least.
    """

    def __init__(self, stream: IO[str], redact: Callable[[str], str]) -> None:
        super().__init__()
        self.stream = stream
        self._redact = redact

    def write(self, text: str) -> int:
        self.stream.write(self._redact(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return _isatty(self.stream)

    def fileno(self) -> int:
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        """The wrapped stream is not this object's to close (and flushing a dead pipe at exit would be noisy)."""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def escape_unprintable(text: str) -> str:
    """``text`` with each control or invisible format character written as its escape (``\\x1b``, ``\\u202e``)."""
    return _UNPRINTABLE.sub(lambda m: repr(m.group())[1:-1], text) if _UNPRINTABLE.search(text) else text


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False
