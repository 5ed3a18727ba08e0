"""``llmroute metrics``: the ledger's Prometheus families, for node_exporter's textfile collector.

The same families the gateway's ``GET /metrics`` serves from the ledger (:mod:`llmroute.reports.metrics`), so
the CLI alone can feed Prometheus. To stdout, or with ``--output FILE`` written atomically: a temporary file in
the same directory (a dot file not ending in ``.prom``, which the collector ignores) renamed over ``FILE``, so
a scrape never reads half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus, UsageProblem
from llmroute.config import Settings
from llmroute.store import Store


@dataclass(frozen=True)
class MetricsOptions:
    output: Path | None = None


def run(options: MetricsOptions, settings: Settings, environment: Environment) -> ExitStatus:
    from llmroute.reports.metrics import exposition

    if options.output is not None and not options.output.parent.is_dir():
        raise UsageProblem(f"--output {options.output}: the directory {options.output.parent} does not exist")
    store = Store.open(settings.state_path)
    try:
        body, _ = exposition(settings, store, clock=time.time)
    finally:
        store.close()
    text = environment.redact(body.decode("utf-8"))
    if options.output is None:
        environment.stdout.write(text)
        environment.stdout.flush()
    else:
        write_atomically(options.output, text.encode("utf-8"))
    return ExitStatus.OK


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename; readers see the old file or the new one, never a part.

    The new file keeps the old one's permission bits, or gets the usual ``0o666`` less the umask (a
    collector running as another user must be able to read it).
    """
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = _default_mode()
    except OSError as exc:
        raise UsageProblem(f"cannot write --output {path}: {exc.strerror}") from None
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageProblem(f"cannot write --output {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise UsageProblem(f"cannot write --output {path}: {exc.strerror}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
