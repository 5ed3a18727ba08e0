"""A damaged state file: how it is recognised, and how a copy is kept aside (never deleted) for a fresh start.

A healthy start pays two ``stat`` calls here (:func:`snapshot`), nothing more:
SQLite itself refuses a file that is not a database and a truncated one (its
header counts more pages than the file holds). Damage found later, by a query,
is confirmed with ``PRAGMA quick_check`` before anything is touched, so that
cost is paid only on the error path.

The damaged file is *copied* aside and then emptied in place, rather than
renamed: SQLite finds a database's ``-wal`` and ``-shm`` files by name, so a
process that opened the old file before a rename could pair it with the new
file's log. Emptying in place keeps one inode, and it happens only while no
other process uses the file: the reset holds the same POSIX byte-range locks
SQLite takes (every WAL-mode connection holds a shared lock for as long as it is
open), so a process that is still using the file makes it wait, and a process
about to open it waits for the reset to finish.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from llmroute.errors import StateError

# The unix VFS's lock bytes (sqlite3.c, "PENDING_BYTE"): readers hold a read lock on SHARED.
PENDING_BYTE = 0x40000000
SHARED_FIRST = PENDING_BYTE + 2
SHARED_SIZE = 510

LOCK_WAIT_S = 2.0
"""How long a reset waits for other processes to let go of the damaged file."""


def is_corruption(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return True
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def confirmed(conn: sqlite3.Connection) -> bool:
    """Whether ``PRAGMA quick_check`` finds the file damaged (damage that stops it from running counts)."""
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return is_corruption(exc)
    return [tuple(r) for r in rows] != [("ok",)]


Snapshot = tuple[int, ...]
"""What the state file looked like (device, inode, size, change time; its log's size) when it was opened."""


def snapshot(path: Path) -> Snapshot | None:
    """Taken before opening (two ``stat`` calls), so that a reset applies only to the file that was seen damaged."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        wal_size = os.stat(f"{path}-wal").st_size
    except OSError:
        wal_size = 0
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, wal_size


def reset(path: Path, seen: Snapshot | None, reason: str) -> Path | None:
    """Copy the damaged file (and its write-ahead log) to ``<name>.corrupt-<UTC time>``, then empty it.

    Returns the copy, or None when the file is no longer the one seen damaged
    (another process has already reset it): there is nothing left to do. Raises
    :class:`StateError` when no copy can be made (nothing is changed then) or
    another process keeps using the file.
    """
    if seen is None or snapshot(path) != seen:
        return None
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"the state file {path} is damaged ({reason}) and cannot be reset: {exc.strerror}") from None
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while not _lock(fd):
            if snapshot(path) != seen:  # reset by another process meanwhile
                return None
            if time.monotonic() > deadline:
                raise StateError(
                    f"the state file {path} is damaged ({reason}) and another llmroute process is using it; "
                    "retry when it has ended (a copy is kept aside then)"
                )
            time.sleep(0.02)
        if snapshot(path) != seen:
            return None
        aside = _copy_aside(path, reason)
        try:
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            os.ftruncate(fd, 0)
            os.fsync(fd)
        except OSError as exc:
            raise StateError(
                f"the state file {path} is damaged ({reason}); a copy is kept as {aside.name} "
                f"but the file cannot be emptied: {exc.strerror}"
            ) from None
        return aside
    finally:
        os.close(fd)  # releases the locks


def _lock(fd: int) -> bool:
    """Take SQLite's pending lock (no new reader) and its whole shared range (no reader left), or neither."""
    try:
        import fcntl  # only here: the error path alone pays for it
    except ImportError:  # Windows: no POSIX locks; the reset is then best effort
        return True
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, PENDING_BYTE)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, SHARED_SIZE, SHARED_FIRST)
    except OSError:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, PENDING_BYTE)
        return False
    return True


def _copy_aside(path: Path, reason: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    made: list[Path] = []
    try:
        for n in range(1, 1000):
            aside = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{n}" if n > 1 else ""))
            try:
                _copy(path, aside)
            except FileExistsError:
                continue
            made.append(aside)
            wal = Path(f"{path}-wal")
            if wal.exists() and wal.stat().st_size:
                _copy(wal, Path(f"{aside}-wal"))
            return aside
        raise FileExistsError("too many damaged copies kept aside")
    except OSError as exc:
        for copy in made:
            copy.unlink(missing_ok=True)
        raise StateError(
            f"the state file {path} is damaged ({reason}) and no copy can be kept aside: {exc.strerror or exc}; "
            "it was left as it is"
        ) from None


def _copy(source: Path, target: Path) -> None:
    """Copy to a new file (``FileExistsError`` if ``target`` exists); a partial copy is removed."""
    import shutil

    with open(source, "rb") as src:
        dst = open(target, "xb")  # noqa: SIM115 - removed on failure below
        try:
            with dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
        except BaseException:
            target.unlink(missing_ok=True)
            raise
