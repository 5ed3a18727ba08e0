"""``test-keys`` progress: the spinner's line on a terminal, one line per key elsewhere."""

from __future__ import annotations

import io
import logging

import pytest

from llmroute.cli.environment import Environment
from llmroute.cli.progress import KeyProgress, status_text
from llmroute.diagnostics import KeyReport, Verdict

LABELS = ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2", "OLLAMA_API_KEY"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def report(label: str) -> KeyReport:
    return KeyReport(provider="openrouter", label=label, mask="sk-or-v1…abcd", verdict=Verdict.OK, latency_ms=12.0)


def test_the_line_counts_done_and_total_and_names_the_pending_keys() -> None:
    assert status_text(1, 3, LABELS[1:], 120) == "checking keys 1/3 — pending: OPENROUTER_API_KEY_2, OLLAMA_API_KEY"


def test_pending_keys_that_do_not_fit_are_counted() -> None:
    text = status_text(0, 3, LABELS, 70)
    assert text == "checking keys 0/3 — pending: OPENROUTER_API_KEY_1 +2 more"


def test_the_line_never_passes_the_width() -> None:
    labels = [f"OPENROUTER_API_KEY_{n}" for n in range(50)]
    for width in range(10, 200, 7):
        assert len(status_text(3, 53, labels, width)) <= max(width, len("checking keys 3/53"))


def test_when_no_label_fits_only_the_count_of_pending_is_shown() -> None:
    assert status_text(0, 3, LABELS, 40) == "checking keys 0/3 — 3 pending"


def test_nothing_pending_shows_the_count_alone() -> None:
    assert status_text(3, 3, [], 80) == "checking keys 3/3"


def test_the_spinner_shows_the_pending_keys_as_keys_finish() -> None:
    stderr = Terminal()
    progress = KeyProgress(Environment(stderr=stderr, env={"NO_COLOR": "1"}), LABELS, lambda r: r.verdict.value)
    progress.done(report("OPENROUTER_API_KEY_2"))
    assert str(progress.status.renderable.text) == (  # type: ignore[union-attr]
        "checking keys 1/3 — pending: OPENROUTER_API_KEY_1, OLLAMA_API_KEY"
    )
    progress.stop()


def test_log_lines_are_printed_above_the_spinner(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("llmroute")
    monkeypatch.setattr(logger, "handlers", [])
    previous = logger.level
    logger.setLevel(logging.INFO)  # (not the attribute alone: the logger caches what each level is enabled for)
    try:
        stderr = Terminal()
        progress = KeyProgress(Environment(stderr=stderr, env={"NO_COLOR": "1"}), LABELS, lambda r: r.verdict.value)
        logger.info("probe openrouter OPENROUTER_API_KEY_1: GET /api/v1/key 200 in 12 ms: ok")
        progress.stop()
    finally:
        logger.setLevel(previous)
    assert "llmroute: probe openrouter OPENROUTER_API_KEY_1: GET /api/v1/key 200 in 12 ms: ok\n" in stderr.getvalue()
    assert logger.handlers == []


def test_off_a_terminal_each_finished_key_is_one_line() -> None:
    stderr = io.StringIO()
    progress = KeyProgress(Environment(stderr=stderr), LABELS, lambda r: r.verdict.value)
    progress.done(report("OLLAMA_API_KEY"))
    progress.stop()
    assert stderr.getvalue() == "checked openrouter OLLAMA_API_KEY (sk-or-v1…abcd): ok, 12 ms\n"
