"""Start-up and round-trip figures for the README (run by hand: ``python benchmarks/startup.py``; ``RUNS=31`` for more).

Measures, in one run so that the figures are comparable:
- the median wall time of one ``llmroute chat`` against the fake OpenRouter on 127.0.0.1 and of the yardstick,
  a minimal httpx script (``python -c``) that posts the same streamed request to the same fake and prints the
  answer; runs alternate, so both see the same machine, and the ratio of the medians is the figure to watch
  (issue 11: at most 1.15). The script, like anyone's, pays for what ``import httpx`` and ``httpx.stream`` do by
  default: httpx's own command-line client is imported (~45 ms here, with rich and click installed) and a
  verifying SSL context is built even for an ``http://`` URL (~35 ms); llmroute does neither. And the script ends
  as Python does, tearing the interpreter down (~20 ms), which a chat skips (``llmroute.cli.runner.exit_now``);
- ``-X importtime`` of such a chat: all its imports, and the cumulative time of the big pieces;
- the cumulative import time of ``llmroute.cli`` and of ``llmroute.cli.app`` (Typer + Click);
- the median wall time of ``python -c pass``, ``python -c "import httpx"``, ``llmroute --version`` and ``--help``.

CPU time (user + system, of the child) is shown beside each wall time: on a shared machine it varies less.
"""

from __future__ import annotations

import os
import resource
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
#: Every command runs in this environment: bytecode is written and used, as in a normal installation.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
IMPORT_RUNS = 7
KEY = "sk-or-v1-" + "0" * 60 + "beef"
MODEL = "openai/gpt-4o-mini"
ANSWER = "Hello from the fake provider.\n"

#: The yardstick: what anyone would write to send the chat's request with httpx and print the streamed answer.
HTTPX_SCRIPT = """
import json, sys
import httpx

url, key, model = sys.argv[1:]
body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
with httpx.stream("POST", f"{url}/chat/completions", json=body, headers=headers) as response:
    response.raise_for_status()
    for line in response.iter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for choice in json.loads(line[6:]).get("choices") or ():
                sys.stdout.write((choice.get("delta") or {}).get("content") or "")
sys.stdout.write("\\n")
"""

#: Pieces of a chat's imports worth a line each (cumulative ``-X importtime``, wherever they are first imported).
PIECES = (
    "llmroute.cli.fast_chat",
    "llmroute.cli.environment",
    "llmroute.cli.chat",
    "llmroute.router",
    "llmroute.store",
    "llmroute.config",
    "llmroute.types",
    "llmroute.providers",
    "llmroute.providers.openrouter",
    "asyncio",
    "httpx",
    "httpcore",
    "typer",
    "click",
)


def llmroute() -> list[str]:
    script = Path(sys.executable).with_name("llmroute")
    return [str(script)] if script.exists() else [sys.executable, "-m", "llmroute"]


#: Where every command runs: not the checkout, whose ``llmroute/`` would shadow ``PYTHONPATH`` for ``-c`` and ``-m``.
CWD = tempfile.gettempdir()


def timed(command: list[str], env: dict[str, str] | None = None, expect: str | None = None) -> tuple[float, float]:
    """Wall and CPU (user + system) milliseconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env or ENV, cwd=CWD, check=True, capture_output=True, text=True)
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if expect is not None and done.stdout != expect:
        raise SystemExit(f"{command[:3]} printed {done.stdout!r}, not {expect!r}; stderr: {done.stderr}")
    return wall, (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000


def medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def median_ms(command: list[str], env: dict[str, str] | None = None) -> str:
    timed(command, env)  # bytecode written, files cached: outside the figures
    wall, cpu = medians([timed(command, env) for _ in range(RUNS)])
    return f"{wall:5.0f} ms  (cpu {cpu:4.0f} ms)"


def import_times(command: list[str], env: dict[str, str] | None = None) -> list[dict[str, int]]:
    """Per run: module -> cumulative microseconds, and ``""`` -> the sum of every top-level import."""
    runs = []
    for run in range(IMPORT_RUNS + 1):  # the first writes any stale bytecode: not counted
        command_line = [sys.executable, "-X", "importtime", *command]
        stderr = subprocess.run(
            command_line, env=env or ENV, cwd=CWD, capture_output=True, text=True, check=True
        ).stderr
        if run == 0:
            continue
        found: dict[str, int] = {"": 0}
        for line in stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line or "imported package" in line:
                continue
            _, cumulative, name = line.split("|")
            found.setdefault(name.strip(), int(cumulative))
            if name.startswith(" ") and not name.startswith("  "):  # one space: imported at the top level
                found[""] += int(cumulative)
        runs.append(found)
    return runs


#: httpcore's async connections run on anyio, which loads its asyncio backend with ``importlib.import_module``: that
#: path ``-X importtime`` does not see. So it is timed in the process, after what a chat has loaded by then.
ANYIO_COST = """
import time, asyncio, ssl, httpx, httpcore
started = time.perf_counter()
import httpcore._backends.anyio, anyio._backends._asyncio, anyio.streams.tls, anyio.streams.stapled
print((time.perf_counter() - started) * 1000)
"""


def anyio_ms() -> float:
    return statistics.median(
        float(
            subprocess.run([sys.executable, "-c", ANYIO_COST], env=ENV, cwd=CWD, capture_output=True, check=True).stdout
        )
        for _ in range(IMPORT_RUNS)
    )


def import_ms(module: str) -> float:
    """Median cumulative ``-X importtime`` of ``import module`` (one run is noisy)."""
    return statistics.median(r.get(module, 0) for r in import_times(["-c", f"import {module}"])) / 1000


def main() -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {RUNS} runs each, medians of wall time (and CPU)")
    with (
        FakeProvider(keys={KEY: "bench"}, models={MODEL}) as fake,
        tempfile.TemporaryDirectory() as home,
    ):
        env = {
            "PATH": ENV.get("PATH", ""),
            "LLMROUTE_HOME": home,
            "OPENROUTER_API_KEY": KEY,
            "OPENROUTER_BASE_URL": fake.openrouter_url,
        }
        if "PYTHONPATH" in os.environ:  # to measure another checkout: PYTHONPATH=/path/to/it
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        chat_args = ["chat", "--no-stdin", "-m", f"openrouter:{MODEL}", "hi"]
        chat = [*llmroute(), *chat_args]
        yardstick = [sys.executable, "-c", HTTPX_SCRIPT, fake.openrouter_url, KEY, MODEL]
        timed(chat, env, ANSWER)  # the state file is created once, outside the figures
        timed(yardstick, env, ANSWER)
        chats, scripts = [], []
        for _ in range(RUNS):
            scripts.append(timed(yardstick, env, ANSWER))
            chats.append(timed(chat, env, ANSWER))
        (chat_wall, chat_cpu), (script_wall, script_cpu) = medians(chats), medians(scripts)
        pairs = statistics.median(c[0] / s[0] for c, s in zip(chats, scripts, strict=True))
        print(f"llmroute chat (fake OpenRouter on 127.0.0.1):   {chat_wall:5.0f} ms  (cpu {chat_cpu:4.0f} ms)")
        print(f"minimal httpx script, same request:             {script_wall:5.0f} ms  (cpu {script_cpu:4.0f} ms)")
        print(
            f"ratio chat / httpx script:                      {chat_wall / script_wall:5.2f}"
            f"  (cpu {chat_cpu / script_cpu:.2f}; median of paired runs {pairs:.2f}; target <= 1.15)"
        )
        chat_imports = import_times(["-m", "llmroute", *chat_args], env)
    print(f"a chat's imports, -X importtime, median of {IMPORT_RUNS} (cumulative, where first imported):")
    total = statistics.median(r[""] for r in chat_imports) / 1000
    print(f"  all top-level imports:                        {total:5.1f} ms")
    for piece in PIECES:
        if any(piece in r for r in chat_imports):
            ms = statistics.median(r.get(piece, 0) for r in chat_imports) / 1000
            print(f"  {piece + ':':<46}{ms:5.1f} ms")
        else:
            print(f"  {piece + ':':<46}  not imported")
    print(f"  anyio, for httpcore's async connections:      {anyio_ms():5.1f} ms (timed apart: importtime misses it)")
    print(f"import llmroute.cli (cumulative):               {import_ms('llmroute.cli'):5.1f} ms")
    print(f"import llmroute.cli.app (Typer + Click):        {import_ms('llmroute.cli.app'):5.1f} ms")
    print(f"python -c 'pass':                            {median_ms([sys.executable, '-c', 'pass'])}")
    print(f"python -c 'import httpx':                    {median_ms([sys.executable, '-c', 'import httpx'])}")
    print(f"llmroute --version:                          {median_ms([*llmroute(), '--version'])}")
    print(f"llmroute --help:                             {median_ms([*llmroute(), '--help'])}")


if __name__ == "__main__":
    main()
