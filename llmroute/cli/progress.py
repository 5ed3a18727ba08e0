"""Progress of ``llmroute test-keys`` on stderr.

On a terminal: a spinner saying how many keys are done and which are still pending, on one line, with any
log line (``-v``) printed above it rather than through it. Otherwise (a CI log, a pipe): one line per
finished key, as it finishes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from llmroute.cli import render
from llmroute.cli.environment import Environment
from llmroute.diagnostics import KeyReport

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

#: Columns the spinner itself and the gap after it take.
SPINNER_COLUMNS = 2


def status_text(done: int, total: int, pending: Sequence[str], width: int) -> str:
    """``checking keys 3/7 — pending: A, B +2 more``: as many pending labels as fit in ``width`` columns."""
    head = f"checking keys {done}/{total}"
    if not pending:
        return head
    for shown in range(len(pending), 0, -1):
        rest = len(pending) - shown
        text = f"{head} — pending: {', '.join(pending[:shown])}" + (f" +{rest} more" if rest else "")
        if len(text) <= width:
            return text
    text = f"{head} — {len(pending)} pending"
    return text if len(text) <= width else head


class KeyProgress:
    """Told of each finished key (:meth:`done`); :meth:`stop` once the check is over."""

    def __init__(self, environment: Environment, labels: Sequence[str], describe: Callable[[KeyReport], str]) -> None:
        self.environment = environment
        self.describe = describe
        self.total = len(labels)
        self.pending = list(labels)
        self.console: Console | None = None
        self.status: Status | None = None
        self._handlers: list[logging.Handler] = []
        if render._isatty(environment.stderr):
            self._start()

    def _start(self) -> None:
        self.console = render.console(self.environment, self.environment.stderr)
        self.status = self.console.status(self._text())
        self.status.start()
        logger = logging.getLogger("llmroute")
        self._handlers, logger.handlers = logger.handlers, [_AboveTheSpinner(self.console, self.environment)]

    def _text(self) -> str:
        width = (self.console.width if self.console else render.PIPE_WIDTH) - SPINNER_COLUMNS
        return status_text(self.total - len(self.pending), self.total, self.pending, width)

    def done(self, report: KeyReport) -> None:
        if report.label in self.pending:
            self.pending.remove(report.label)
        if self.status is not None:
            self.status.update(self._text())
            return
        latency = f", {report.latency_ms:.0f} ms" if report.latency_ms is not None else ""
        line = f"checked {report.provider} {report.label} ({report.mask}): {self.describe(report)}{latency}\n"
        self.environment.stderr.write(self.environment.redact(line))
        self.environment.stderr.flush()

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            logging.getLogger("llmroute").handlers = self._handlers
            self.status = None


class _AboveTheSpinner(logging.Handler):
    """Log lines as the environment's note handler writes them, but through the spinner's console, which
    prints them above the spinner instead of through it."""

    def __init__(self, console: Console, environment: Environment) -> None:
        super().__init__()
        self.console = console
        self.environment = environment

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        try:
            text = record.getMessage()
        except Exception:  # a malformed log call must not break the check
            text = str(record.msg)
        label, style = ("warning", "yellow") if record.levelno >= logging.WARNING else ("llmroute", "")
        if not self.environment.color(self.environment.stderr):
            style = ""
        line = Text(f"{label}:", style=style) + Text(f" {self.environment.one_line(text)}")
        self.console.print(line, soft_wrap=True, highlight=False)
