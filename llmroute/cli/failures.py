"""The one place that turns errors into a one-line message, an exit status and a machine code.

The rule, for every command and both front ends (Typer and the ``chat`` fast path):

- a bad command line (a Click parsing error, a bad option value, flags that contradict each other, an unknown
  ``--provider`` or ``--key``) is a usage error, exit 2, ``UsageProblem`` after parsing;
- a bad value from the environment or ``config.toml`` is a configuration error, exit 3 (``ConfigError``);
- each other failure has its own status in :data:`_STATUS_BY_ERROR`, and a stable ``code`` for ``--json``;
- a reader that closed stdout ends the run quietly with 141, however the write failed (:func:`closed_pipe`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING

from llmroute import errors

if TYPE_CHECKING:
    from llmroute.config import Settings


class ExitStatus(IntEnum):
    """Stable exit codes; documented in the README. Never renumber one."""

    OK = 0
    ERROR = 1
    """An unexpected internal error (a bug: please report it)."""
    USAGE = 2
    CONFIG = 3
    """Broken configuration, no usable key, or an unusable state file."""
    ALL_FAILED = 4
    """Every candidate that was tried failed (or the deadline ran out)."""
    LIMITED = 5
    """Every candidate is rate-limited, out of quota, cooling down or disabled."""
    REJECTED = 6
    """The provider rejected the request (fix it), no provider has the model, or the prompt is longer than every
    candidate model's context."""
    STREAM_BROKEN = 7
    """The answer broke off after output began: what was printed is incomplete."""
    PRIVACY = 8
    """Privacy critical was asked and no local model could answer."""
    CHECKS_FAILED = 9
    """``test-keys``: a key failed its check, or a required model is reachable through no working key."""
    INTERRUPTED = 130
    BROKEN_PIPE = 141


class UsageProblem(Exception):
    """Bad command-line input found after parsing: reported like a usage error (exit 2)."""


def require_provider(settings: Settings, name: str | None) -> None:
    """``--provider NAME`` must name a configured provider."""
    if name and settings.provider(name) is None:
        known = ", ".join(p.name for p in settings.providers)
        raise UsageProblem(f"unknown provider {name!r} (known: {known})")


def require_keys(
    settings: Settings, labels: Sequence[str], provider: str | None = None, *, also: Collection[str] = ()
) -> None:
    """Each ``--key LABEL`` must name a configured key (or one of ``also``, e.g. a key with stored state), of
    ``--provider`` when that is given: the same usage error, with the known names, in every command."""
    require_provider(settings, provider)
    slots = settings.all_slots()
    owner = {s.label: s.provider for s in slots}
    for label in labels:
        if label not in owner and label not in also:
            names = ", ".join(sorted(owner)) or "none"
            raise UsageProblem(f"unknown key {label!r} (known: {names})")
        if provider and label in owner and owner[label] != provider:
            raise UsageProblem(f"--key {label} belongs to {owner[label]}, not to --provider {provider}")


_STATUS_BY_ERROR: tuple[tuple[type[BaseException], ExitStatus, str], ...] = (
    (UsageProblem, ExitStatus.USAGE, "usage"),
    (errors.KeyServesNoTarget, ExitStatus.USAGE, "usage"),
    (errors.NoKeysError, ExitStatus.CONFIG, "no_keys"),
    (errors.ConfigError, ExitStatus.CONFIG, "config"),
    (errors.StateError, ExitStatus.CONFIG, "state"),
    (errors.PrivacyRefused, ExitStatus.PRIVACY, "privacy_refused"),
    (errors.StreamBroken, ExitStatus.STREAM_BROKEN, "stream_broken"),
    (errors.ModelNotFound, ExitStatus.REJECTED, "model_not_found"),
    (errors.PromptTooLarge, ExitStatus.REJECTED, "context_length_exceeded"),
    (errors.RequestRejected, ExitStatus.REJECTED, "rejected"),
    (errors.NoCandidateAvailable, ExitStatus.LIMITED, "limited"),
    (errors.DeadlineExceeded, ExitStatus.ALL_FAILED, "deadline"),
    (errors.AllCandidatesFailed, ExitStatus.ALL_FAILED, "all_failed"),
)
#: The machine code of a status no error class above names.
_CODE_BY_STATUS = {ExitStatus.ERROR: "internal", ExitStatus.USAGE: "usage", ExitStatus.INTERRUPTED: "interrupted"}


def classify(error: BaseException) -> tuple[ExitStatus, str]:
    """The exit status and the stable machine code (``--json``'s ``error.code``) of ``error``."""
    for cls, status, code in _STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status, code
    if isinstance(error, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED, "interrupted"
    return ExitStatus.ERROR, "internal"


def exit_status(error: errors.LlmrouteError) -> ExitStatus:
    return classify(error)[0]


def code_for(status: int) -> str:
    """The machine code of a status reached without an exception (a Click usage error)."""
    return _CODE_BY_STATUS.get(status, "internal")  # type: ignore[call-overload]


def error_document(code: str, text: str, status: int) -> dict[str, object]:
    """``--json``'s answer to every failure: ``{"error": {"code", "message", "exit_code"}}``."""
    return {"error": {"code": code, "message": text, "exit_code": int(status)}}


def closed_pipe(error: BaseException) -> bool:
    """The reader closed stdout: a ``BrokenPipeError``, or the ``SystemExit`` rich raises on handling one."""
    if isinstance(error, SystemExit):
        return isinstance(error.__context__, BrokenPipeError)
    return isinstance(error, BrokenPipeError)


def message(error: BaseException) -> str:
    """One line, never a traceback; secrets are redacted by the caller's output layer."""
    text = " ".join(str(error).split()) or error.__class__.__name__
    if not isinstance(error, errors.LlmrouteError):
        return f"internal error: {error.__class__.__name__}: {text} (rerun with --debug for details)"
    return text
