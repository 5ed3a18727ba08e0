"""Rendering shared by the table commands: tables that fit the terminal. Rich is imported only to draw on one.

On a terminal a table fits the terminal's width (``COLUMNS`` overrides what the terminal reports, as for every
Unix tool). Each table declares its columns with a priority: when they do not all fit, the columns least needed
are taken out of the row and their values shown in an indented detail line under it (``header: value · ...``),
so nothing is ever cut. A cell is one unbroken token (a label, an id, an amount, a time) unless its column holds
free text, which wraps at spaces but never inside a time. A token wider than the whole terminal overflows onto a
line of its own rather than being folded mid-token. Colour unless ``NO_COLOR``, a bold header and rules.

Piped: every column, whole values, no width limit, no colour or control codes and no trailing spaces: one line
per row that ``awk`` and ``cut`` can read.
"""

from __future__ import annotations

import functools
import io
import os
import re
import textwrap
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Literal

from llmroute.cli.environment import Environment, escape_unprintable
from llmroute.money import usd
from llmroute.windows import utc_clock

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table as RichTable

PIPE_WIDTH = 400
DASH = "—"
#: The width assumed for a terminal that does not say (and when ``COLUMNS`` is unset).
DEFAULT_WIDTH = 80
#: Spaces between two columns.
GAP = 2
#: How far a detail line (the values of the columns that did not fit) is indented under its row.
DETAIL_INDENT = 2
DETAIL_SEPARATOR = " · "
#: The narrowest a free-text column is made before it is folded instead.
WRAP_MIN = 24
#: A time by the one rule (``windows.utc_clock``); wrapping free text never breaks one.
_CLOCK = re.compile(r"(?:\d{4}-\d\d-\d\d )?\d\d:\d\d(?::\d\d)? UTC")
#: Stands for a space that must not break while text is wrapped (cells hold no control character).
_HARD_SPACE = "\x00"

Fragment = tuple[str, str]
"""A piece of a line and its Rich style (``""`` for none)."""
Line = list[Fragment]


@dataclass(frozen=True)
class Column:
    """A table column. ``priority`` 0 is always shown; on a narrow terminal the highest numbers are folded into
    the detail line first. ``wrap``: free text that may wrap at spaces; otherwise each cell is one token."""

    header: str
    priority: int = 0
    wrap: bool = False
    justify: Literal["left", "right"] = "left"


@dataclass(frozen=True)
class Cell:
    text: str
    style: str = ""


@dataclass(frozen=True)
class _Row:
    cells: tuple[Cell, ...]
    rule: bool


@dataclass
class Table:
    """Columns and rows, drawn by :func:`print_table` to fit where they go."""

    columns: tuple[Column, ...]
    title: str | None = None
    rows: list[_Row] = field(default_factory=list)

    def add_row(self, *cells: str | Cell, rule: bool = False) -> None:
        """A row; ``rule`` draws a line above it on a terminal (before a total)."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(_Row(tuple(_printable(cell) for cell in cells), rule))


def print_table(table: Table, environment: Environment, stream: IO[str]) -> None:
    """Fitted to the terminal (styled by the colour rules) when ``stream`` is one, else plain and complete."""
    if not _isatty(stream):
        for line in plain_lines(table):
            stream.write(line + "\n")
        return
    out = console(environment, stream)
    from rich.text import Text

    for line in terminal_lines(table, terminal_width(environment, stream)):
        out.print(Text.assemble(*line), soft_wrap=True)


def plain_lines(table: Table) -> list[str]:
    """Every column, whole: each column as wide as its widest cell, no trailing spaces."""
    shown = list(range(len(table.columns)))
    widths = {i: _natural_width(table, i) for i in shown}
    lines = [_header(table, shown, widths)]
    lines += [_row_lines(table, row, shown, widths, wrap=False)[0] for row in table.rows]
    return ["".join(text for text, _ in line) for line in lines]


def terminal_lines(table: Table, width: int) -> list[Line]:
    """The table fitted to ``width`` columns of a terminal: title, header, rule, rows and detail lines."""
    shown, widths = _fit(table, width)
    span = min(width, sum(widths.values()) + GAP * (len(shown) - 1))
    lines: list[Line] = [[(table.title, "italic")]] if table.title else []
    lines += [_header(table, shown, widths, style="bold"), [("─" * span, "")]]
    for row in table.rows:
        if row.rule:
            lines.append([("─" * span, "")])
        lines += _row_lines(table, row, shown, widths)
        lines += _detail_lines(table, row, shown, width)
    return lines


def terminal_width(environment: Environment, stream: IO[str]) -> int:
    """``COLUMNS`` when set to a number (forces a width, as in every Unix tool), else what the terminal reports."""
    forced = environment.env.get("COLUMNS", "").strip()
    if forced.isdigit() and int(forced) > 0:
        return int(forced)
    try:
        return os.get_terminal_size(stream.fileno()).columns or DEFAULT_WIDTH
    except (AttributeError, ValueError, OSError):
        return DEFAULT_WIDTH


def _fit(table: Table, width: int) -> tuple[list[int], dict[int, int]]:
    """Which columns a terminal of ``width`` shows, and how wide each is.

    Columns are taken by priority (tokens before free text of the same priority, then from the left) while they
    fit; priority 0 always. Free text claims the room left, up to its widest cell, before columns of a lower
    priority are taken. If the columns that must show are still too wide, the widest token column is narrowed:
    its longer cells then overflow onto a line of their own, whole.
    """
    columns = table.columns
    order = sorted(range(len(columns)), key=lambda i: (columns[i].priority, columns[i].wrap, i))
    widths: dict[int, int] = {}
    used = -GAP
    for i in order:
        least = _least_width(table, i)
        if columns[i].priority and used + GAP + least > width:
            continue
        room = width - used - GAP
        widths[i] = max(least, min(room, _natural_width(table, i))) if columns[i].wrap else least
        used += GAP + widths[i]
    for i in (i for i in widths if columns[i].wrap):
        grow = max(0, min(width - used, _natural_width(table, i) - widths[i]))
        widths[i] += grow
        used += grow
    tokens = [i for i in widths if not columns[i].wrap]
    if used > width and tokens:
        widest = max(tokens, key=lambda i: widths[i])
        widths[widest] = max(_cell_len(columns[widest].header), widths[widest] - (used - width))
    return sorted(widths), widths


def _natural_width(table: Table, i: int) -> int:
    return max([_cell_len(table.columns[i].header), *(_cell_len(row.cells[i].text) for row in table.rows)])


def _least_width(table: Table, i: int) -> int:
    """A token column's widest cell; a free-text column's header or ``WRAP_MIN``, whichever is wider."""
    natural = _natural_width(table, i)
    if not table.columns[i].wrap:
        return natural
    return max(_cell_len(table.columns[i].header), min(natural, WRAP_MIN))


def _header(table: Table, shown: list[int], widths: dict[int, int], style: str = "") -> Line:
    header = _Row(tuple(Cell(table.columns[i].header, style) for i in range(len(table.columns))), False)
    return _row_lines(table, header, shown, widths, wrap=False)[0]


def _row_lines(table: Table, row: _Row, shown: list[int], widths: dict[int, int], wrap: bool = True) -> list[Line]:
    """A row as lines: free text wrapped to its column; a cell wider than its column starts a new line."""
    starts, x = {}, 0
    for i in shown:
        starts[i], x = x, x + widths[i] + GAP
    pieces = {
        i: _wrap(row.cells[i].text, widths[i]) if wrap and table.columns[i].wrap else [row.cells[i].text] for i in shown
    }
    lines: list[Line] = []
    for k in range(max(len(p) for p in pieces.values())):
        line: Line = []
        at = 0
        for i in shown:
            text = pieces[i][k] if k < len(pieces[i]) else ""
            if not text:
                continue
            if at > starts[i]:
                lines.append(line)
                line, at = [], 0
            room = widths[i] - _cell_len(text)
            indent = starts[i] - at + (room if table.columns[i].justify == "right" and room > 0 else 0)
            line += [(" " * indent, ""), (text, row.cells[i].style)]
            at += indent + _cell_len(text)
        lines.append(line)
    return lines


def _detail_lines(table: Table, row: _Row, shown: list[int], width: int) -> list[Line]:
    """The values of the columns the terminal had no room for, ``header: value`` joined by `` · ``, packed into
    indented lines; an item is never split (one too long for a line has a line of its own)."""
    items = [
        (f"{column.header}: ", cell)
        for i, (column, cell) in enumerate(zip(table.columns, row.cells, strict=True))
        if i not in shown and cell.text not in ("", DASH)
    ]
    lines: list[Line] = []
    line: Line = []
    at = 0
    for label, cell in items:
        size = _cell_len(label + cell.text)
        if line and at + len(DETAIL_SEPARATOR) + size > width:
            lines.append(line)
            line, at = [], 0
        if line:
            line.append((DETAIL_SEPARATOR, "dim"))
            at += len(DETAIL_SEPARATOR)
        else:
            line.append((" " * DETAIL_INDENT, ""))
            at = DETAIL_INDENT
        line += [(label, "dim"), (cell.text, cell.style)]
        at += size
    return [*lines, line] if line else lines


def _wrap(text: str, width: int) -> list[str]:
    """Free text in lines of at most ``width`` cells, broken at spaces only, never inside a time."""
    guarded = _CLOCK.sub(lambda m: m.group().replace(" ", _HARD_SPACE), text)
    lines = textwrap.wrap(guarded, width, break_long_words=False, break_on_hyphens=False)
    return [line.replace(_HARD_SPACE, " ") for line in lines] or [""]


def _printable(cell: str | Cell) -> Cell:
    """Cells hold text from providers and files (model names, error messages): an ESC there would be a terminal
    escape sequence. Each control or invisible format character is shown escaped."""
    if isinstance(cell, str):
        return Cell(escape_unprintable(cell))
    return Cell(escape_unprintable(cell.text), cell.style)


def _cell_len(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


def console(environment: Environment, stream: IO[str]) -> Console:
    """A Rich console: colour by the colour rules on a terminal; piped, plain and with no trailing spaces."""
    from rich.console import Console

    if environment.color(stream) or _isatty(stream):
        return Console(file=stream, no_color=not environment.color(stream), highlight=False)
    return Console(file=_RightStripped(stream), no_color=True, force_terminal=False, width=PIPE_WIDTH, highlight=False)


def table(
    environment: Environment, stream: IO[str], *columns: str, title: str | None = None, wrap: bool = True
) -> RichTable:
    """A Rich table for the simple listings (``config``); the data commands use :class:`Table`."""
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
def _printable_table() -> type[RichTable]:
    """A Rich table whose cells never carry a control or invisible format character to the terminal."""
    from rich.table import Table as RichTable
    from rich.text import Text

    def printable(cell: object) -> object:
        if isinstance(cell, str):
            return escape_unprintable(cell)
        if isinstance(cell, Text) and (plain := escape_unprintable(cell.plain)) != cell.plain:
            return Text(plain, style=cell.style)
        return cell

    class PrintableTable(RichTable):
        def add_row(self, *renderables: Any, **options: Any) -> None:
            super().add_row(*(printable(cell) for cell in renderables), **options)

    return PrintableTable


class _RightStripped(io.TextIOBase):
    """Passes whole lines on without their trailing spaces (Rich pads every cell to its column's width)."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream
        self.partial = ""

    def write(self, text: str) -> int:
        *lines, self.partial = (self.partial + text).split("\n")
        if lines:
            self.stream.write("".join(line.rstrip() + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self.partial:
            self.stream.write(self.partial)
            self.partial = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


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
