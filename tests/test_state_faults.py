"""The state file damaged, unwritable or out of space, through the real CLI: never silent loss.

A damaged file is copied aside whole (with a warning naming the copy) and a
fresh one serves the run; a directory or file that cannot be written, and a
full disk, are one clear ``error:`` line and exit 3, with nothing already in
the file lost.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from llmroute.cli.failures import ExitStatus
from llmroute.store import AttemptRow, Store
from tests.conftest import Cli, Result, keys_env
from tests.fakes import DEFAULT_TEXT, FakeProvider

MODEL = "openrouter:openai/gpt-4o-mini"
ENV = keys_env(openrouter=1)


def run(cli: Cli, *args: str, preexec: Callable[[], None] | None = None, **env: str) -> Result:
    """The CLI as a subprocess, like the ``cli`` fixture, with a hook run in the child before it starts."""
    proc = subprocess.run(
        [sys.executable, "-m", "llmroute", *args],
        env={**cli.env, **env},
        cwd=cli.cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        preexec_fn=preexec,
    )
    return Cli.result(proc.returncode, proc.stdout, proc.stderr)


def one_error_line(result: Result) -> str:
    assert result.code == ExitStatus.CONFIG, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def ledger(path: Path) -> list[AttemptRow]:
    store = Store.open(path)
    try:
        return store.attempts()
    finally:
        store.close()


def seed(cli: Cli, rows: int = 300) -> list[AttemptRow]:
    """A real state file: one answered chat, then ``rows`` more attempts; closed, so no log is left beside it."""
    assert cli("chat", "-m", MODEL, "before the trouble", **ENV).code == 0
    store = Store.open(cli.home / "state.db")
    try:
        (kept_row,) = store.attempts()
        for i in range(rows):
            store.record_attempt(replace(kept_row, request_id=f"seeded {i}", message="x" * 200))
        kept = store.attempts()
    finally:
        store.close()
    assert not Path(f"{cli.home / 'state.db'}-wal").exists()
    return kept


def kept_aside(cli: Cli) -> Path:
    (aside,) = (p for p in cli.home.glob("state.db.corrupt-*") if not p.name.endswith("-wal"))
    return aside


# --- damaged ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("chat", "-m", MODEL, "hi"), ("costs", "--json")], ids=["chat", "costs"])
def test_a_corrupt_state_file_is_kept_aside_whole_and_a_fresh_one_serves_the_run(
    cli: Cli, cloud: FakeProvider, command: tuple[str, ...]
) -> None:
    state = cli.home / "state.db"
    damaged = b"not a database: " + os.urandom(64 * 1024)
    state.write_bytes(damaged)
    result = cli(*command, **ENV)
    assert result.code == 0, result.stderr
    aside = kept_aside(cli)
    assert aside.read_bytes() == damaged
    assert result.stderr.startswith(f"warning: the state file {state} was damaged") and aside.name in result.stderr
    assert integrity(state) == "ok"
    if command[0] == "chat":
        assert result.stdout.strip() == DEFAULT_TEXT and [r.outcome for r in ledger(state)] == ["ok"]
    else:
        assert json.loads(result.stdout)["total"]["calls"] == 0


TOGETHER = 4


def test_processes_starting_together_on_a_corrupt_file_keep_one_copy_and_share_the_fresh_one(
    cli: Cli, cloud: FakeProvider
) -> None:
    state = cli.home / "state.db"
    damaged = b"not a database: " + os.urandom(64 * 1024)
    state.write_bytes(damaged)
    procs = [cli.popen("chat", "-m", MODEL, f"together {i}", **ENV) for i in range(TOGETHER)]
    outputs = [p.communicate(timeout=60) for p in procs]
    results = [Cli.result(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]
    assert [r.code for r in results] == [0] * TOGETHER, [r.stderr for r in results]
    assert kept_aside(cli).read_bytes() == damaged, "one copy, of the damaged file"
    assert sum("was damaged" in r.stderr for r in results) == 1
    assert integrity(state) == "ok" and [r.outcome for r in ledger(state)] == ["ok"] * TOGETHER


COMMITTED_THEN_KILLED = """
import os, signal, sys, time
from pathlib import Path
from llmroute.store import Store
store = Store.open(Path(sys.argv[1]))
store.next_cursor("only in the log")
os.kill(os.getpid(), signal.SIGKILL)  # before any checkpoint: the commit lives in the -wal file alone
"""


def test_a_damaged_files_last_commit_still_only_in_its_log_is_kept_too(cli: Cli, cloud: FakeProvider) -> None:
    seed(cli, rows=0)
    state = cli.home / "state.db"
    subprocess.run([sys.executable, "-c", COMMITTED_THEN_KILLED, str(state)], check=False)
    assert Path(f"{state}-wal").stat().st_size, "the last commit is only in the log"
    with open(state, "r+b") as f:
        header = f.read(18)
        f.seek(0)
        f.write(b"overwritten header")
    result = cli("costs", "--json", **ENV)
    assert result.code == 0 and "was damaged" in result.stderr
    # Closing the failed connection may checkpoint the log into the copy's source; either way nothing is lost:
    # with its header mended, the copy (and its log, if one is left) holds the last commit.
    aside = kept_aside(cli)
    mended = cli.home / "mended.db"
    mended.write_bytes(header + aside.read_bytes()[len(header) :])
    if Path(f"{aside}-wal").exists():
        Path(f"{mended}-wal").write_bytes(Path(f"{aside}-wal").read_bytes())
    conn = sqlite3.connect(mended)
    try:
        assert conn.execute("SELECT position FROM cursors WHERE name = 'only in the log'").fetchone() == (1,)
    finally:
        conn.close()


def test_a_truncated_state_file_is_kept_aside_with_every_byte_left(cli: Cli, cloud: FakeProvider) -> None:
    seed(cli)
    state = cli.home / "state.db"
    whole = state.read_bytes()
    cut = whole[: len(whole) // 2]
    state.write_bytes(cut)
    result = cli("chat", "-m", MODEL, "after the cut", **ENV)
    assert result.code == 0, result.stderr
    assert kept_aside(cli).read_bytes() == cut
    assert f"kept a copy as {kept_aside(cli).name}" in result.stderr
    assert [r.outcome for r in ledger(state)] == ["ok"], "the fresh file holds this run"


def test_damage_a_query_meets_is_one_error_naming_the_kept_copy_and_the_next_run_starts_afresh(
    cli: Cli, cloud: FakeProvider
) -> None:
    seed(cli)
    state = cli.home / "state.db"
    conn = sqlite3.connect(state)
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'usage_days'").fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    data = bytearray(state.read_bytes())
    data[(root - 1) * page_size : root * page_size] = b"\xff" * page_size  # the daily totals' root page
    state.write_bytes(data)

    line = one_error_line(run(cli, "costs", "--json", **ENV))
    aside = kept_aside(cli)
    assert line.startswith(f"error: the state file {state} was damaged") and aside.name in line
    assert aside.read_bytes() == bytes(data)
    again = run(cli, "costs", "--json", **ENV)
    assert again.code == 0 and json.loads(again.stdout)["total"]["calls"] == 0
    assert run(cli, "chat", "-m", MODEL, "afresh", **ENV).code == 0


# --- unwritable ---------------------------------------------------------------------------------------------


def no_root_override() -> None:
    """In the child, before exec: as root, give up the capabilities that ignore file modes (Linux)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone after exec
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def modes_bind(directory: Path) -> bool:
    """Whether a child started with ``no_root_override`` really cannot write into a 0500 directory."""
    probe = directory / "probe"
    probe.mkdir(mode=0o500)
    try:
        touched = subprocess.run(["touch", str(probe / "x")], preexec_fn=no_root_override, capture_output=True)
    except OSError:
        return False
    finally:
        probe.chmod(0o700)
    return touched.returncode != 0


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    modes = [p.stat().st_mode for p in paths]
    for p in paths:
        p.chmod(0o500 if p.is_dir() else 0o400)
    try:
        yield
    finally:
        for p, mode in zip(paths, modes, strict=True):
            p.chmod(mode)


@pytest.fixture
def modes_hold(tmp_path: Path) -> None:
    if sys.platform != "linux" and os.geteuid() == 0:
        pytest.skip("root ignores file modes and the capabilities cannot be dropped here")
    if not modes_bind(tmp_path):
        pytest.skip("file modes do not bind this process's children here")


def test_a_read_only_home_without_a_state_file_is_one_error(cli: Cli, cloud: FakeProvider, modes_hold: None) -> None:
    with read_only(cli.home):
        line = one_error_line(run(cli, "chat", "-m", MODEL, "hi", preexec=no_root_override, **ENV))
    assert f"cannot open the state file {cli.home / 'state.db'}" in line and "writable" in line
    assert not cloud.chat_requests and not (cli.home / "state.db").exists()


def test_a_read_only_home_with_a_state_file_is_one_error_and_the_file_is_untouched(
    cli: Cli, cloud: FakeProvider, modes_hold: None
) -> None:
    seed(cli, rows=0)
    state = cli.home / "state.db"
    before, requests = state.read_bytes(), len(cloud.chat_requests)
    with read_only(cli.home):
        line = one_error_line(run(cli, "chat", "-m", MODEL, "hi", preexec=no_root_override, **ENV))
    assert f"cannot write the state file {state}: it or its directory is read-only" in line
    assert state.read_bytes() == before and len(cloud.chat_requests) == requests


def test_a_read_only_state_file_can_be_read_but_chat_is_one_error(
    cli: Cli, cloud: FakeProvider, modes_hold: None
) -> None:
    kept = seed(cli, rows=3)
    state = cli.home / "state.db"
    requests = len(cloud.chat_requests)
    with read_only(state):
        status = run(cli, "status", "--json", preexec=no_root_override, **ENV)
        line = one_error_line(run(cli, "chat", "-m", MODEL, "hi", preexec=no_root_override, **ENV))
    assert status.code == 0 and json.loads(status.stdout)
    assert f"cannot write the state file {state}: it or its directory is read-only" in line
    assert len(cloud.chat_requests) == requests, "refused before any request was sent"
    assert ledger(state) == kept


def test_a_home_under_a_regular_file_is_one_error(cli: Cli, cloud: FakeProvider) -> None:
    blocker = cli.home / "a-file"
    blocker.write_text("not a directory")
    home = blocker / "llmroute"
    line = one_error_line(
        run(cli, "chat", "-m", MODEL, "hi", LLMROUTE_HOME=str(home), LLMROUTE_CONFIG=str(cli.cwd / "none.toml"), **ENV)
    )
    assert line == f"error: cannot create the state directory {home}: Not a directory"
    assert not cloud.chat_requests


# --- out of space -------------------------------------------------------------------------------------------


def file_size_limit(limit: int) -> Callable[[], None]:
    """In the child: no file may grow past ``limit`` bytes; a write beyond fails with EFBIG instead of a signal."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_is_one_error_and_loses_nothing_already_written(cli: Cli, cloud: FakeProvider) -> None:
    """RLIMIT_FSIZE stands in for the full disk: no file may be written past 32 KiB.

    That leaves room for the shared-memory index (32 KiB) and seven pages of log, fewer than one run writes,
    and forbids rewriting any page of the (200 KiB) state file beyond its first 32 KiB.
    """
    kept = seed(cli)
    state = cli.home / "state.db"
    result = run(cli, "chat", "-m", MODEL, "no room", preexec=file_size_limit(32 * 1024), **ENV)
    line = one_error_line(result)
    assert line.startswith(f"error: cannot write the state file {state}: the disk is full, a quota or file size limit")
    assert integrity(state) == "ok"
    assert ledger(state)[: len(kept)] == kept, "every row written before is still there, unchanged"
    assert run(cli, "chat", "-m", MODEL, "room again", **ENV).code == 0


@contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[None]:
    if os.geteuid() != 0 or sys.platform != "linux":
        pytest.skip("mounting a tmpfs needs root on Linux")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def fill(directory: Path, leave: int) -> None:
    """Write a file until the filesystem is full, then give back ``leave`` bytes."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        f.truncate(max(0, f.tell() - leave))


def test_a_really_full_disk_is_one_error_and_loses_nothing(cli: Cli, cloud: FakeProvider) -> None:
    with small_tmpfs(cli.home, "4m"):
        kept = seed(cli, rows=100)
        state = cli.home / "state.db"
        fill(cli.home, leave=40 * 1024)
        line = one_error_line(run(cli, "chat", "-m", MODEL, "no room", **ENV))
        assert line.startswith(
            f"error: cannot write the state file {state}: the disk is full (database or disk is full)"
        )
        (cli.home / "filler").unlink()
        assert integrity(state) == "ok"
        assert ledger(state)[: len(kept)] == kept
