"""Start-up and round-trip figures for the README (run by hand: ``python benchmarks/startup.py``).

Measures, in one run so the figures are comparable:
- the cumulative import time of ``llmroute.cli`` (``python -X importtime``),
- the median wall time of ``python -c "import httpx"`` (the yardstick),
- the median wall time of ``llmroute --version`` and ``llmroute --help``,
- the median wall time of one ``llmroute chat`` against the fake provider on 127.0.0.1.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes import FakeProvider  # noqa: E402

RUNS = int(os.environ.get("RUNS", "15"))
KEY = "sk-or-v1-" + "0" * 60 + "beef"


def llmroute() -> list[str]:
    script = Path(sys.executable).with_name("llmroute")
    return [str(script)] if script.exists() else [sys.executable, "-m", "llmroute"]


def median_ms(command: list[str], env: dict[str, str] | None = None) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def import_time_us(module: str, runs: int = 7) -> float:
    """Median over several runs of the cumulative ``-X importtime`` figure (one run is noisy)."""
    samples = []
    for _ in range(runs):
        stderr = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, check=True
        ).stderr
        line = next(line for line in stderr.splitlines() if line.rstrip().endswith(f"| {module}"))
        samples.append(int(line.split("|")[1]))
    return statistics.median(samples)


def main() -> None:
    print(f"python {sys.version.split()[0]}, {RUNS} runs each, medians")
    print(f"import llmroute.cli (cumulative, -X importtime): {import_time_us('llmroute.cli') / 1000:.1f} ms")
    print(f"import llmroute.cli.app (Typer + click):         {import_time_us('llmroute.cli.app') / 1000:.1f} ms")
    print(
        f"python -c 'import httpx':                        {median_ms([sys.executable, '-c', 'import httpx']):.0f} ms"
    )
    print(f"python -c 'pass':                                {median_ms([sys.executable, '-c', 'pass']):.0f} ms")
    print(f"llmroute --version:                              {median_ms([*llmroute(), '--version']):.0f} ms")
    print(f"llmroute --help:                                 {median_ms([*llmroute(), '--help']):.0f} ms")
    with (
        FakeProvider(keys={KEY: "bench"}, models={"openai/gpt-4o-mini"}) as fake,
        tempfile.TemporaryDirectory() as home,
    ):
        env = {
            "PATH": os.environ.get("PATH", ""),
            "LLMROUTE_HOME": home,
            "OPENROUTER_API_KEY": KEY,
            "OPENROUTER_BASE_URL": fake.openrouter_url,
        }
        chat = [*llmroute(), "chat", "--no-stdin", "-m", "openrouter:openai/gpt-4o-mini", "hi"]
        print(f"llmroute chat (fake OpenRouter on 127.0.0.1):    {median_ms(chat, env):.0f} ms")


if __name__ == "__main__":
    main()
