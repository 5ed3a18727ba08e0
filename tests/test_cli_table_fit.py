"""Tables that fit the terminal: the real CLI on a real pseudo-terminal 60, 80, 100 and 160 columns wide.

The state (keys cooling, disabled, spending, budgets) is written straight into the state file, so each
rendering is of a known mix; ``models`` and ``test-keys`` read the fake providers. What a terminal shows is
compared with what the same command prints piped, where every column is whole: each cell must reach the
terminal whole (on its row or in the detail line under it), and no line may be wider than the terminal.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

import pytest

from llmroute.cli.environment import Environment
from llmroute.cli.render import DASH, Column, Table, terminal_lines
from llmroute.keys import fingerprint
from llmroute.store import Address, AttemptRow, CheckRow, Store
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, Result, _cli_command, keys_env
from tests.fakes import FakeProvider

WIDTHS = (80, 100, 160)
COMMANDS = (("status",), ("costs",), ("models",), ("test-keys",))
LABELS = (
    "OLLAMA_API_KEY",
    "OLLAMA_API_KEY_2",
    "OPENROUTER_API_KEY_1",
    "OPENROUTER_API_KEY_2",
    "OPENROUTER_API_KEY_3",
)
#: Budgets whose month resets on another day than today: the reset reads ``2026-12-01 00:00 UTC``.
BUDGETS = {"TOTAL_DAILY_BUDGET": "0.5", "OPENROUTER_MONTHLY_BUDGET": "10"}
LONG_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BAR = re.compile(r"[█░]+ ")
LATENCY = re.compile(r"[\d,]+ ms")


def on_terminal(cli: Cli, columns: int, *args: str, **env: str) -> Result:
    """``llmroute *args`` with stdout on a pseudo-terminal ``columns`` wide (stderr piped apart), as a user sees
    it: control sequences removed, ``\\r\\n`` read as ``\\n``."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    environ = {k: v for k, v in cli.env.items() if k != "COLUMNS"} | {"TERM": "xterm"} | env
    proc = subprocess.Popen(
        [*_cli_command(), *args],
        env=environ,
        cwd=cli.cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    output = _read_all(leader, proc)
    os.close(leader)
    stderr = proc.stderr.read() if proc.stderr else b""
    result = Cli.result(proc.wait(timeout=60), output, stderr)
    return Result(result.code, ESCAPE.sub("", result.stdout.replace("\r\n", "\n")), result.stderr)


def _read_all(leader: int, proc: subprocess.Popen[bytes]) -> bytes:
    """Everything written to the terminal until the process closes it (Linux says EIO then)."""
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def mixed(cli: Cli, cloud: FakeProvider) -> dict[str, str]:
    """Five keys: one cooling for an hour, one disabled, one that spent $0.000084 and was checked, two Ollama
    keys (one with an unpriced call); a daily total budget and a monthly OpenRouter budget."""
    now = time.time()
    store = Store.open(cli.home / "state.db")
    for _ in range(2):
        store.record_attempt(_attempt("openrouter", "OPENROUTER_API_KEY_3", OR_KEYS[2], now, cost=42))
    store.record_attempt(_attempt("ollama", "OLLAMA_API_KEY_2", OLLAMA_KEYS[1], now, cost=None))
    store.record_checks([CheckRow(now, fingerprint(OR_KEYS[2]), "openrouter", "OPENROUTER_API_KEY_3", "ok", 3.0, None)])
    _hold(store, "OPENROUTER_API_KEY_1", OR_KEYS[0], now, "rate_limited", "429 Too Many Requests", now + 3600)
    _hold(store, "OPENROUTER_API_KEY_2", OR_KEYS[1], now, "auth", "User not found. [401]", None)
    store.close()
    return keys_env(openrouter=3, ollama=2) | BUDGETS


def _attempt(provider: str, label: str, secret: str, now: float, *, cost: int | None) -> AttemptRow:
    model = "openai/gpt-4o-mini" if provider == "openrouter" else "gpt-oss:120b"
    return AttemptRow(
        now, "seed", provider, label, fingerprint(secret), model, "ok", None, 200, None, 812.0, 90.0, 11, 13, cost
    )


def _hold(store: Store, label: str, secret: str, now: float, kind: str, reason: str, until: float | None) -> None:
    store.record_failure(
        Address("key", fingerprint(secret)),
        provider="openrouter",
        label=label,
        endpoint="",
        now=now,
        error_kind=kind,
        reason=reason,
        effect="disable" if until is None else "cooldown",
        deadline=None if until is None else (lambda streak: until),
    )


def piped_cells(text: str) -> set[str]:
    """Every value of the piped tables (columns are two or more spaces apart, cells never hold two); not
    ``—`` (no value, which a detail line leaves out) nor a latency (it differs from one run to the next)."""
    rows = [line for table in text.split("\n\n") for line in table.splitlines()[1:]]
    cells = {cell for line in rows for cell in re.split(r"\s{2,}", line.strip())}
    return {cell for cell in cells if cell not in ("", DASH) and not LATENCY.fullmatch(cell)}


def shows_whole(cell: str, text: str) -> bool:
    """``cell`` appears in ``text`` uncut, on one line, not glued to another token (a header may be followed by
    the colon of a detail line; bars are decoration)."""
    return re.search(rf"(?<!\S){re.escape(cell)}(?=:|\s|$)", BAR.sub("", text)) is not None


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_every_cell_reaches_the_terminal_whole(
    cli: Cli, mixed: dict[str, str], command: tuple[str, ...], width: int
) -> None:
    piped = cli(*command, **mixed)
    shown = on_terminal(cli, width, *command, **mixed)
    assert piped.code == shown.code and piped.stdout
    cut = sorted(cell for cell in piped_cells(piped.stdout) if not shows_whole(cell, shown.stdout))
    assert not cut, f"cut or missing at {width} columns: {cut}\n{shown.stdout}"


@pytest.mark.parametrize("width", (60, *WIDTHS))
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_no_line_is_wider_than_the_terminal(
    cli: Cli, mixed: dict[str, str], command: tuple[str, ...], width: int
) -> None:
    shown = on_terminal(cli, width, *command, **mixed)
    wide = [line for line in shown.stdout.splitlines() if len(line) > width]
    assert shown.stdout and not wide, "\n".join(wide)


@pytest.mark.parametrize("width", (60, 80, 100))
def test_the_two_ollama_keys_read_differently(cli: Cli, mixed: dict[str, str], width: int) -> None:
    text = on_terminal(cli, width, "status", **mixed).stdout
    for label in LABELS:
        assert shows_whole(label, text), f"{label} is not whole:\n{text}"


def test_the_cost_of_a_key_is_never_cut(cli: Cli, mixed: dict[str, str]) -> None:
    text = on_terminal(cli, 100, "status", **mixed).stdout
    (row,) = [line for line in text.splitlines() if "OPENROUTER_API_KEY_3" in line and "ready" in line]
    assert row.rstrip().endswith("$0.000084")


def test_a_reset_time_stays_on_one_line_at_80_columns(cli: Cli, mixed: dict[str, str]) -> None:
    text = on_terminal(cli, 80, "status", **mixed).stdout
    assert len(LONG_TIME.findall(text)) >= 1 and not re.search(r"\d\d:\d\d\s*\n\s*UTC", text)


def test_columns_that_do_not_fit_fold_into_a_detail_line_under_their_row(cli: Cli, mixed: dict[str, str]) -> None:
    lines = on_terminal(cli, 80, "status", **mixed).stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "OPENROUTER_API_KEY_3" in line)
    assert "mask" not in lines[0].split()
    assert lines[at + 1].startswith("  ") and f"mask: sk-or-v1…{OR_KEYS[2][-4:]}" in lines[at + 1]


def test_a_wide_terminal_shows_every_column_on_the_header_line(cli: Cli, mixed: dict[str, str]) -> None:
    header = on_terminal(cli, 160, "status", **mixed).stdout.splitlines()[0]
    assert header.split() == ["provider", "key", "mask", "state", "calls", "tokens", "in/out", "cost", "today", "latency", "last", "check"]  # fmt: skip


def test_model_ids_stay_whole_at_80_columns(cli: Cli, mixed: dict[str, str]) -> None:
    text = on_terminal(cli, 80, "models", **mixed).stdout
    for model in ("gpt-oss:120b", "meta-llama/llama-3.3-70b-instruct:free", "openai/gpt-4o-mini"):
        assert shows_whole(model, text), text


def test_an_id_wider_than_the_room_overflows_whole_rather_than_folding(cli: Cli, mixed: dict[str, str]) -> None:
    shown = on_terminal(cli, 30, "models", **mixed)
    assert shown.code == 0 and shows_whole("meta-llama/llama-3.3-70b-instruct:free", shown.stdout)


def test_columns_forces_the_width_of_a_terminal(cli: Cli, mixed: dict[str, str]) -> None:
    text = on_terminal(cli, 80, "status", COLUMNS="160", **mixed).stdout
    assert "last check" in text.splitlines()[0] and max(len(line) for line in text.splitlines()) > 80


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_piped_output_is_complete_with_no_trailing_spaces(
    cli: Cli, mixed: dict[str, str], command: tuple[str, ...]
) -> None:
    narrow = cli(*command, COLUMNS="40", **mixed).stdout
    wide = cli(*command, **mixed).stdout
    assert LATENCY.sub("", narrow).split() == LATENCY.sub("", wide).split(), "no width limit when piped"
    padded = [line for line in narrow.splitlines() if line != line.rstrip()]
    assert narrow and not padded, padded


def test_free_text_wraps_at_spaces_but_never_inside_a_time() -> None:
    table = Table((Column("key"), Column("why", wrap=True)))
    table.add_row("OPENROUTER_API_KEY_1", "rate_limited: the free-model cap resets 2026-12-01 00:00 UTC so wait")
    lines = ["".join(text for text, _ in line) for line in terminal_lines(table, 50)]
    assert any("2026-12-01 00:00 UTC" in line for line in lines) and all(len(line) <= 50 for line in lines)


def test_amounts_are_right_aligned_under_their_header() -> None:
    table = Table((Column("key"), Column("total", justify="right")))
    table.add_row("OLLAMA_API_KEY", "$0.000084")
    table.add_row("OLLAMA_API_KEY_2", "$12.50")
    lines = ["".join(text for text, _ in line) for line in terminal_lines(table, 80)]
    assert {len(line) for line in (lines[0], *lines[2:])} == {len(lines[0])}


def test_the_width_comes_from_columns_before_the_terminal() -> None:
    from llmroute.cli.render import terminal_width

    environment = Environment(env={"COLUMNS": "123"})
    assert terminal_width(environment, environment.stdout) == 123
