"""``llmroute prune``: delete raw attempts older than ``keep_days``, then give the file's free space back.

Only raw rows go: every attempt is also counted in its day's totals (per key,
provider and model) as it is written, and those are never pruned, so ``costs``
over any period is unchanged. The same trim runs on its own once a day, a few
milliseconds at a time; this command does it all now and also rewrites the file
(a full ``VACUUM``) unless ``--no-vacuum``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from llmroute.cli import render
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus
from llmroute.config import Settings
from llmroute.store import Store
from llmroute.store.retention import PruneResult, VacuumResult, cutoff_for

KEPT = "their totals are kept per day, key, provider and model: `costs` over any period is unchanged"


@dataclass(frozen=True)
class PruneOptions:
    keep_days: int | None = None
    """``--keep-days N``: overrides ``[ledger] keep_days`` / ``LLMROUTE_KEEP_DAYS``."""
    dry_run: bool = False
    vacuum: bool = True
    json: bool = False


@dataclass(frozen=True)
class Pruned:
    """What one run did (or, dry, would do)."""

    keep_days: int
    source: str
    """Where ``keep_days`` came from: ``default``, ``file``, ``env LLMROUTE_KEEP_DAYS`` or ``flag``."""
    dry_run: bool
    result: PruneResult
    vacuum: VacuumResult | None


def run(options: PruneOptions, settings: Settings, environment: Environment) -> ExitStatus:
    if options.keep_days is not None:
        settings = settings.with_overrides(keep_days=options.keep_days)
    now = time.time()
    cutoff = cutoff_for(now, settings.keep_days)
    store = Store.open(settings.state_path)
    try:
        if options.dry_run:
            result, vacuumed = store.prunable(cutoff=cutoff), None
        else:
            result = store.prune(cutoff=cutoff, done_at=now)
            vacuumed = store.vacuum() if options.vacuum else None
    finally:
        store.close()
    source = settings.sources.get("ledger.keep_days", "default")
    pruned = Pruned(settings.keep_days, source, options.dry_run, result, vacuumed)
    text = json.dumps(document(pruned), ensure_ascii=False) if options.json else "\n".join(lines(pruned))
    environment.stdout.write(environment.redact(text) + "\n")
    environment.stdout.flush()
    return ExitStatus.OK


def lines(pruned: Pruned) -> list[str]:
    """The plain report: what went (or would go), that the totals stay, what the file gave back."""
    result = pruned.result
    setting = f"keep_days {pruned.keep_days}: {pruned.source}"
    before = f"every attempt before {_date(result.cutoff)} (UTC)"
    if not result.deleted:
        found = [f"nothing to remove: no attempt before {_date(result.cutoff)} (UTC) ({setting})"]
    else:
        verb = "would remove" if pruned.dry_run else "removed"
        span = _span(result.first, result.last)
        found = [f"{verb} {result.deleted:,} attempt{'s' * (result.deleted != 1)} {span}: {before} ({setting})"]
        found.append(KEPT)
    if result.pending_kept:
        count = result.pending_kept
        found.append(f"kept {count:,} attempt{'s' * (count != 1)} still in flight")
    if not result.finished:
        found.append("stopped before the end: run `llmroute prune` again")
    if pruned.dry_run:
        found.append("dry run: nothing was changed")
    if pruned.vacuum is not None:
        found.append(_vacuum_line(pruned.vacuum))
    return found


def _vacuum_line(vacuum: VacuumResult) -> str:
    if vacuum.reclaimed:
        line = (
            f"reclaimed {_bytes(vacuum.reclaimed)}: the state file went from {_bytes(vacuum.bytes_before)} "
            f"to {_bytes(vacuum.bytes_after)}"
        )
    else:
        line = f"the state file holds {_bytes(vacuum.bytes_after)}; nothing to reclaim"
    if not vacuum.checkpointed:
        line += " (its write-ahead log is still in use by another process and shrinks when that ends)"
    return line


def document(pruned: Pruned) -> dict[str, Any]:
    result, vacuum = pruned.result, pruned.vacuum
    return {
        "dry_run": pruned.dry_run,
        "keep_days": pruned.keep_days,
        "keep_days_source": pruned.source,
        "cutoff": render.iso(result.cutoff),
        "removed": {"rows": result.deleted, "first": render.iso(result.first), "last": render.iso(result.last)},
        "finished": result.finished,
        "pending_kept": result.pending_kept,
        "oldest_kept": render.iso(result.oldest_kept),
        "vacuum": None
        if vacuum is None
        else {
            "bytes_before": vacuum.bytes_before,
            "bytes_after": vacuum.bytes_after,
            "bytes_reclaimed": vacuum.reclaimed,
            "rewritten": vacuum.rewritten,
            "checkpointed": vacuum.checkpointed,
        },
    }


def _span(first: float | None, last: float | None) -> str:
    if first is None or last is None:
        return ""
    start, end = _date(first), _date(last)
    return f"of {start}" if start == end else f"from {start} to {end}"


def _date(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def _bytes(count: int) -> str:
    """``512 bytes``, ``12.0 KiB``, ``8.5 MiB``, ``1.2 GiB``."""
    if count < 1024:
        return f"{count:,} bytes"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:,.1f} {unit}"
