"""The one place that turns errors into a one-line message and an exit status."""

from __future__ import annotations

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
    """The provider rejected the request (fix it), or no provider has the model."""
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


_STATUS_BY_ERROR: tuple[tuple[type[errors.LlmrouteError], ExitStatus], ...] = (
    (errors.ConfigError, ExitStatus.CONFIG),
    (errors.StateError, ExitStatus.CONFIG),
    (errors.PrivacyRefused, ExitStatus.PRIVACY),
    (errors.StreamBroken, ExitStatus.STREAM_BROKEN),
    (errors.RequestRejected, ExitStatus.REJECTED),
    (errors.NoCandidateAvailable, ExitStatus.LIMITED),
    (errors.AllCandidatesFailed, ExitStatus.ALL_FAILED),
)


def exit_status(error: errors.LlmrouteError) -> ExitStatus:
    for cls, status in _STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return ExitStatus.ERROR


def message(error: BaseException) -> str:
    """One line, never a traceback; secrets are redacted by the caller's output layer."""
    text = " ".join(str(error).split()) or error.__class__.__name__
    if not isinstance(error, errors.LlmrouteError):
        return f"internal error: {error.__class__.__name__}: {text} (rerun with --debug for details)"
    return text
