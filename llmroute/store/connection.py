"""Opening the state file: WAL, a busy timeout, write transactions that wait their turn.

Many ``llmroute`` processes share one file. Every write runs in ``BEGIN
IMMEDIATE`` (take the write lock up front, so a reader never has to upgrade and
fail with SQLITE_BUSY), and the busy timeout makes contenders queue instead of
failing with "database is locked".
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from llmroute.errors import StateError

log = logging.getLogger("llmroute")

BUSY_TIMEOUT_S = 60.0


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the state file; a damaged file is set aside, never lost."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot create the state directory {path.parent}: {exc.strerror}") from None
    try:
        return _open(path)
    except sqlite3.DatabaseError as exc:
        if not _is_corruption(exc):
            raise StateError(f"cannot open the state file {path}: {exc}") from None
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    try:
        path.rename(aside)
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    except OSError as exc:
        raise StateError(f"the state file {path} is damaged and cannot be moved aside: {exc.strerror}") from None
    log.warning("the state file %s was damaged; kept it as %s and started a new one", path, aside.name)
    try:
        return _open(path)
    except sqlite3.DatabaseError as exc:
        raise StateError(f"cannot open the state file {path}: {exc}") from None


def _open(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    except sqlite3.OperationalError as exc:
        raise StateError(f"cannot open the state file {path}: {exc}") from None
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        log.warning("the state file %s could not switch to WAL mode (%s)", path, mode)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return conn


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One short ``BEGIN IMMEDIATE`` transaction; committed on success, rolled back on error."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StateError(f"the state file is busy or read-only: {exc}") from None
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        conn.execute("ROLLBACK")
        raise StateError(f"cannot write the state file: {exc}") from None
