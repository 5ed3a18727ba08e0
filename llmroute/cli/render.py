"""Rich rendering shared by the table commands. Rich is imported only when a table is drawn.

On a terminal: colour (unless ``NO_COLOR``) and boxes. Otherwise: plain aligned
columns, no colour or control codes, and a width that never truncates a cell.
"""

from __future__ import annotations

import functools
import time
from typing import IO, TYPE_CHECKING, Any

from llmroute.cli.environment import Environment, escape_unprintable
from llmroute.money import usd
from llmroute.windows import utc_clock

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

PIPE_WIDTH = 400
DASH = "—"


def console(environment: Environment, stream: IO[str]) -> Console:
    from rich.console import Console

    if environment.color(stream) or _isatty(stream):
        return Console(file=stream, no_color=not environment.color(stream), highlight=False)
    return Console(file=stream, no_color=True, force_terminal=False, width=PIPE_WIDTH, highlight=False)


def table(
    environment: Environment, stream: IO[str], *columns: str, title: str | None = None, wrap: bool = True
) -> Table:
    from rich import box

    fancy = _isatty(stream)
    result = _printable_table()(
        title=title,
        box=box.SIMPLE_HEAD if fancy else None,
        show_edge=False,
        pad_edge=False,
        header_style="bold" if fancy else "",
        title_justify="left",
    )
    for column in columns:
        result.add_column(column, overflow="fold" if fancy else "ignore", no_wrap=not (fancy and wrap))
    return result


@functools.cache
def _printable_table() -> type[Table]:
    """A Rich table whose cells never carry a control or invisible format character to the terminal.

    Cells hold text from providers and files (model names from a catalogue, error messages): an
    ESC there would be a terminal escape sequence, which Rich passes through. Each is shown escaped.
    """
    from rich.table import Table
    from rich.text import Text

    def printable(cell: object) -> object:
        if isinstance(cell, str):
            return escape_unprintable(cell)
        if isinstance(cell, Text) and (plain := escape_unprintable(cell.plain)) != cell.plain:
            return Text(plain, style=cell.style)
        return cell

    class PrintableTable(Table):
        def add_row(self, *renderables: Any, **options: Any) -> None:
            super().add_row(*(printable(cell) for cell in renderables), **options)

    return PrintableTable


def money(value: float | None, *, estimated: bool = False) -> str:
    """An amount in US dollars by the one money rule (``llmroute.money``); ``—`` when unknown."""
    return DASH if value is None else usd(value, estimated=estimated)


def number(value: float | int | None, unit: str = "") -> str:
    if value is None:
        return DASH
    return f"{value:,.0f}{unit}" if isinstance(value, float) else f"{value:,}{unit}"


def clock_time(epoch: float | None) -> str:
    """A moment by the one time rule (``windows.utc_clock``): ``14:03:07 UTC`` today (UTC), else
    ``2026-12-01 00:00 UTC``; ``—`` when there is none, ``never`` when it never comes."""
    if epoch is None:
        return DASH
    if epoch == float("inf"):
        return "never"
    return utc_clock(epoch)


def iso(epoch: float | None) -> str | None:
    if epoch is None or epoch == float("inf"):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False
