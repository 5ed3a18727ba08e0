"""Opening the state file: WAL, a busy timeout, write transactions that wait their turn.

Many ``llmroute`` processes share one file. Every write runs in ``BEGIN
IMMEDIATE`` (take the write lock up front, so a reader never has to upgrade and
fail with SQLITE_BUSY), and the busy timeout makes contenders queue instead of
failing with "database is locked".

Every SQLite failure leaves the store as a :class:`StateError` built by
:func:`state_error`: one line that names the file and says what to do.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from llmroute.errors import StateError
from llmroute.store import recovery

log = logging.getLogger("llmroute")

BUSY_TIMEOUT_S = 60.0


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the state file; a damaged file is kept aside for a fresh one, never lost."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot create the state directory {path.parent}: {exc.strerror}") from None
    error: sqlite3.Error | None = None
    for _ in range(3):
        seen = recovery.snapshot(path)
        try:
            return _open(path)
        except sqlite3.Error as exc:
            if not recovery.is_corruption(exc):
                raise state_error(exc, path) from exc
            error = exc
        aside = recovery.reset(path, seen, str(error))
        if aside is not None:
            warn_reset(path, error, aside)
    assert error is not None
    raise state_error(error, path) from error


def reset_damaged(conn: sqlite3.Connection, path: Path, exc: sqlite3.Error) -> Path | None:
    """A query met damage: if ``PRAGMA quick_check`` confirms it, close, keep a copy aside, empty the file.

    Returns the copy, or None when the damage is not confirmed (the connection
    stays open) or another process has already reset the file.
    """
    if not recovery.confirmed(conn):
        return None
    conn.close()
    return recovery.reset(path, recovery.snapshot(path), str(exc))


def warn_reset(path: Path, exc: sqlite3.Error, aside: Path) -> None:
    log.warning("the state file %s was damaged (%s); kept a copy as %s and started a new one", path, exc, aside.name)


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        # Takes effect only on a file with no table yet, and only before the switch to WAL: a new state file
        # can then hand pages freed by pruning back to the disk bit by bit (``retention``). On an older file
        # it merely makes the next full VACUUM (``llmroute prune``) convert it.
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:  # never a write to a file that exists
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            log.warning("the state file %s could not switch to WAL mode (%s)", path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def state_error(exc: sqlite3.Error, path: Path) -> StateError:
    """One clear line for a failure of the state file: what happened to which file, and what to do."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    lowered = text.lower()
    if name == "SQLITE_FULL" or "disk is full" in lowered:
        return StateError(f"cannot write the state file {path}: the disk is full ({text}); free some space and retry")
    if name in ("SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE"):
        return StateError(
            f"cannot write the state file {path}: the disk is full, a quota or file size limit was reached, "
            f"or the disk is failing ({text})"
        )
    if name in ("SQLITE_IOERR_SHMOPEN", "SQLITE_IOERR_SHMSIZE", "SQLITE_IOERR_SHMMAP"):
        return StateError(
            f"cannot create {path}-shm beside the state file: the disk is full or a size limit was reached ({text})"
        )
    if name.startswith("SQLITE_READONLY") or "readonly" in lowered:
        return StateError(
            f"cannot write the state file {path}: it or its directory is read-only ({text}); "
            "make both writable or set LLMROUTE_HOME to a writable directory"
        )
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in lowered:
        return StateError(
            f"cannot open the state file {path} ({text}); check that its directory exists and is writable, "
            "or set LLMROUTE_HOME to one that is"
        )
    if name.startswith("SQLITE_BUSY") or "locked" in lowered:
        return StateError(
            f"the state file {path} stayed locked by another process for over {BUSY_TIMEOUT_S:g}s ({text}); retry"
        )
    if name.startswith("SQLITE_IOERR") or "i/o error" in lowered:
        return StateError(f"disk I/O error on the state file {path} ({text}); is the disk full or failing?")
    if recovery.is_corruption(exc):
        return StateError(f"the state file {path} is damaged ({text})")
    return StateError(f"the state file {path} failed: {text}")


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One short ``BEGIN IMMEDIATE`` transaction; committed on success, rolled back on error.

    SQLite errors pass through unchanged (the store turns them into a :class:`StateError`).
    A failed statement or commit may already have rolled the transaction back (a full
    disk does): the rollback here never hides the error that caused it.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
