"""Retention: raw ``attempts`` rows older than a number of days are deleted; the file's space is given back.

Nothing is rolled up here, because nothing needs to be: every write of the
ledger also adds the attempt to its day's ``usage_days`` row, in the same
transaction (``totals``), so the per-day roll-up of every attempt ever written
already exists and pruning only deletes raw rows. ``usage_days`` is never
touched, which is why ``costs`` over any period stays exact to the micro-dollar.

Deletion runs in small batches, each its own short ``BEGIN IMMEDIATE``
transaction, so concurrent ``chat`` runs wait at most one batch, and a
``kill -9`` at any moment leaves every batch either wholly done or not at all:
nothing is lost and nothing counts twice. Pending attempts (still in flight,
holding a reservation) are never deleted. The cutoff is a UTC midnight, so the
raw rows kept are whole UTC days.

A new state file is created with ``auto_vacuum = INCREMENTAL`` (``connection``),
so the daily trim can free a bounded number of pages; :func:`vacuum` rewrites
the whole file (and converts an older file) for ``llmroute prune``.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from llmroute.store.connection import write_transaction

DAY = 86_400.0
TASK = "prune"
"""The ``maintenance`` row of the daily trim."""
BATCH = 5_000
TRIM_SECONDS = 0.02
"""What the daily trim may spend deleting (about 5,000 attempts: a heavy day's worth); a backlog (a ledger from
before retention, a lowered ``keep_days``) goes on at the next runs, or at once with ``llmroute prune``."""
TRIM_BATCH = 1_000
"""Rows per batch of the daily trim: small, so its time budget is kept to within one batch."""
TRIM_PAGES = 256
"""Pages (1 MiB at the default page size, a few ms) the daily trim hands back to the disk at most."""

_PRUNABLE = "ts < ? AND outcome != 'pending'"


@dataclass(frozen=True)
class PruneResult:
    cutoff: float
    """Raw attempts before this UTC midnight were (or would be) deleted."""
    deleted: int
    """Rows deleted (by :func:`prune`), or that would be (by :func:`prunable`)."""
    first: float | None
    """Time of the oldest row deleted (None when none was)."""
    last: float | None
    """Time of the newest row deleted."""
    finished: bool
    """No prunable row is left before the cutoff (False when the time budget ran out first)."""
    oldest_kept: float | None
    """Time of the oldest raw attempt left in the ledger (None when it is empty)."""
    pending_kept: int = 0
    """Attempts before the cutoff kept because they are still in flight."""
    batches: int = 0


@dataclass(frozen=True)
class VacuumResult:
    bytes_before: int
    """The database's size (pages x page size) before, free pages included."""
    bytes_after: int
    free_before: int
    """Bytes of free pages before: what a VACUUM can give back."""
    free_after: int
    rewritten: bool
    """A full ``VACUUM`` ran (not needed for a file with no free page that is already incremental)."""
    checkpointed: bool
    """The write-ahead log was copied back and truncated (False when a reader kept it busy)."""

    @property
    def reclaimed(self) -> int:
        return max(0, self.bytes_before - self.bytes_after)


def cutoff_for(now: float, keep_days: int) -> float:
    """The UTC midnight at or before ``now - keep_days`` days: every attempt is kept at least ``keep_days`` days.

    Integer arithmetic on day numbers (a UTC day is 86,400 epoch seconds), never before 1970-01-01,
    so any ``keep_days`` is safe.
    """
    if keep_days < 1:
        raise ValueError(f"keep_days must be a positive integer, not {keep_days!r}")
    return float(max(0, math.floor(now / DAY) - keep_days) * int(DAY))


def prunable(conn: sqlite3.Connection, *, cutoff: float) -> PruneResult:
    """What :func:`prune` would delete, without deleting it (``prune --dry-run``)."""
    _check_cutoff(cutoff)
    count, first, last = conn.execute(
        f"SELECT count(*), min(ts), max(ts) FROM attempts WHERE {_PRUNABLE}", (cutoff,)
    ).fetchone()
    return PruneResult(
        cutoff=cutoff,
        deleted=int(count),
        first=first,
        last=last,
        finished=True,
        oldest_kept=_oldest(conn),
        pending_kept=_pending_before(conn, cutoff),
    )


def prune(
    conn: sqlite3.Connection,
    *,
    cutoff: float,
    batch: int = BATCH,
    time_budget: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    done_at: float | None = None,
) -> PruneResult:
    """Delete settled raw attempts with ``ts < cutoff``, ``batch`` rows per transaction, oldest first.

    With a ``time_budget`` (seconds by ``clock``) no new batch starts once it is spent; the first
    batch always runs. ``done_at``: when the prune finishes, the ``maintenance`` row of the daily
    trim is set to it in the same transaction as the last batch. ``usage_days`` is never touched.
    """
    _check_cutoff(cutoff)
    if batch < 1:
        raise ValueError(f"batch must be a positive integer, not {batch!r}")
    started = clock()
    deleted, batches = 0, 0
    first: float | None = None
    last: float | None = None
    finished = False
    while not finished:
        if batches and time_budget is not None and clock() - started >= time_budget:
            break
        with write_transaction(conn):
            # The subquery walks the ``attempts_ts`` index from the oldest row; the rows go by rowid.
            times = [
                row[0]
                for row in conn.execute(
                    f"""
                    DELETE FROM attempts WHERE id IN (
                        SELECT id FROM attempts WHERE {_PRUNABLE} ORDER BY ts LIMIT ?
                    ) RETURNING ts
                    """,
                    (cutoff, batch),
                )
            ]
            finished = len(times) < batch
            if finished and done_at is not None:
                _mark_done(conn, done_at, f"pruned raw attempts before {_date(cutoff)}")
        batches += 1
        if times:
            deleted += len(times)
            oldest, newest = min(times), max(times)
            first = oldest if first is None else min(first, oldest)
            last = newest if last is None else max(last, newest)
    return PruneResult(
        cutoff=cutoff,
        deleted=deleted,
        first=first,
        last=last,
        finished=finished,
        oldest_kept=_oldest(conn),
        pending_kept=_pending_before(conn, cutoff),
        batches=batches,
    )


def trim_if_due(
    conn: sqlite3.Connection, *, now: float, keep_days: int, time_budget: float = TRIM_SECONDS
) -> PruneResult | None:
    """The daily trim: prune for at most ``time_budget`` seconds when the last full one is a day old or more.

    Cheap when not due: one primary-key look-up. An unfinished trim is not marked done,
    so the next run goes on where it stopped. Then, on a file with incremental
    auto-vacuum, at most :data:`TRIM_PAGES` free pages are given back to the disk.
    Returns None when it was not due.
    """
    row = conn.execute("SELECT done_at FROM maintenance WHERE task = ?", (TASK,)).fetchone()
    if row is not None and 0 <= now - row[0] < DAY:
        return None
    result = prune(conn, cutoff=cutoff_for(now, keep_days), batch=TRIM_BATCH, time_budget=time_budget, done_at=now)
    release_pages(conn, TRIM_PAGES)
    return result


def release_pages(conn: sqlite3.Connection, pages: int) -> int:
    """Give up to ``pages`` free pages back to the disk when the file's auto-vacuum is incremental.

    Returns how many were freed (0 on a file without incremental auto-vacuum, or inside a transaction,
    which this must not commit).
    """
    if conn.in_transaction or conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return 0
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    count = min(int(pages), free)
    if count <= 0:
        return 0
    # Python's ``execute`` steps a statement once, and this pragma frees one page per step;
    # ``executescript`` steps each statement to its end (and commits first: nothing is pending here).
    try:
        conn.executescript(f"BEGIN IMMEDIATE; PRAGMA incremental_vacuum({count}); COMMIT;")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    return free - conn.execute("PRAGMA freelist_count").fetchone()[0]


def vacuum(conn: sqlite3.Connection) -> VacuumResult:
    """Rewrite the whole file without its free pages, as incremental auto-vacuum, and truncate the WAL.

    ``VACUUM`` holds the write lock for as long as it copies the file (other
    processes wait, thanks to the busy timeout), and is atomic: a ``kill -9``
    during it leaves the file as it was. A file that has no free page and is
    already incremental is not rewritten. The WAL is then checkpointed back and
    truncated, so the file on disk really shrinks.
    """
    before, free_before = _size(conn)
    rewritten = bool(free_before) or conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2
    if rewritten:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("VACUUM")
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    after, free_after = _size(conn)
    return VacuumResult(before, after, free_before, free_after, rewritten=rewritten, checkpointed=not busy)


def _size(conn: sqlite3.Connection) -> tuple[int, int]:
    """The database's bytes (pages x page size), and those of its free pages."""
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return pages * page, free * page


def _mark_done(conn: sqlite3.Connection, now: float, note: str) -> None:
    conn.execute(
        "INSERT INTO maintenance (task, done_at, note) VALUES (?, ?, ?) "
        "ON CONFLICT (task) DO UPDATE SET done_at = excluded.done_at, note = excluded.note",
        (TASK, now, note),
    )


def _oldest(conn: sqlite3.Connection) -> float | None:
    return conn.execute("SELECT min(ts) FROM attempts").fetchone()[0]


def _pending_before(conn: sqlite3.Connection, cutoff: float) -> int:
    """Through the partial ``attempts_pending`` index: in-flight rows are few."""
    return conn.execute("SELECT count(*) FROM attempts WHERE outcome = 'pending' AND ts < ?", (cutoff,)).fetchone()[0]


def _check_cutoff(cutoff: float) -> None:
    if not math.isfinite(cutoff) or cutoff % DAY:
        raise ValueError(f"the cutoff must be a UTC midnight (a multiple of {DAY:.0f} epoch seconds), not {cutoff!r}")


def _date(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))
