"""Shared fixtures: a clean environment, the real CLI as a subprocess, and a leak scanner.

Every CLI run's stdout and stderr, and every file under the test's
``LLMROUTE_HOME`` at teardown, is searched for every test secret (raw, base64
and URL-encoded): a leak fails the test that caused it.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fakes import FakeProvider

OR_KEYS = [f"sk-or-v1-{secrets.token_hex(32)}" for _ in range(3)]
OLLAMA_KEYS = [secrets.token_hex(16) + "." + secrets.token_urlsafe(18) for _ in range(2)]
ALL_SECRETS = OR_KEYS + OLLAMA_KEYS


def leaked_forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(), urllib.parse.quote(secret)]


def assert_no_secret(text: str | bytes, where: str) -> None:
    data = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    for secret in ALL_SECRETS:
        for form in leaked_forms(secret):
            assert form not in data, f"a test secret leaked into {where}"


def _cli_command() -> list[str]:
    script = Path(sys.executable).with_name("llmroute")
    return [str(script)] if script.exists() else [sys.executable, "-m", "llmroute"]


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


@dataclass
class Cli:
    """Runs ``llmroute`` as a real subprocess with a clean, test-controlled environment."""

    home: Path
    env: dict[str, str]

    @property
    def cwd(self) -> Path:
        """The working directory of each run (where a ``.env`` is read), apart from the state home."""
        path = self.home.parent / "work"
        path.mkdir(exist_ok=True)
        return path

    def popen(self, *args: str, stdin: int | None = subprocess.DEVNULL, **env: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*_cli_command(), *args],
            env={**self.env, **env},
            cwd=self.cwd,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def __call__(self, *args: str, input: str | bytes | None = None, timeout: float = 60, **env: str) -> Result:
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(
            [*_cli_command(), *args],
            env={**self.env, **env},
            cwd=self.cwd,
            input=data,
            stdin=None if data is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
        return self.result(proc.returncode, proc.stdout, proc.stderr)

    @staticmethod
    def result(code: int, stdout: bytes, stderr: bytes) -> Result:
        assert_no_secret(stdout, "stdout")
        assert_no_secret(stderr, "stderr")
        assert "Traceback" not in stderr.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")
        return Result(code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))


def base_env(home: Path) -> dict[str, str]:
    """Only what a run needs: no real keys, proxies or config from the developer's machine."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "SYSTEMROOT", "LANG", "LC_ALL", "TMPDIR")}
    return {**keep, "HOME": str(home), "LLMROUTE_HOME": str(home), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    path.mkdir()
    yield path
    for file in path.rglob("*"):
        if file.is_file():
            assert_no_secret(file.read_bytes(), f"state file {file.name}")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cloud() -> Iterator[FakeProvider]:
    """A fake OpenRouter + Ollama Cloud on 127.0.0.1 that knows every test key."""
    from tests.fakes import FakeProvider

    keys = {k: f"or{i + 1}" for i, k in enumerate(OR_KEYS)} | {k: f"oll{i + 1}" for i, k in enumerate(OLLAMA_KEYS)}
    models = {
        "openai/gpt-4o-mini",
        "moonshotai/kimi-k2.5",
        "kimi-k2.5",
        "gpt-oss:120b",
        "meta-llama/llama-3.3-70b-instruct:free",
    }
    with FakeProvider(keys=keys, models=models) as fake:
        yield fake


@pytest.fixture
def local() -> Iterator[FakeProvider]:
    """A fake local Ollama (no auth) on 127.0.0.1."""
    from tests.fakes import FakeProvider

    with FakeProvider(keys={}, models={"llama3.2", "gpt-oss:20b", "kimi-k2.5"}, require_auth=False) as fake:
        yield fake


def keys_env(openrouter: int = 0, ollama: int = 0) -> dict[str, str]:
    env = {f"OPENROUTER_API_KEY_{i + 1}": OR_KEYS[i] for i in range(openrouter)}
    env |= {("OLLAMA_API_KEY" if i == 0 else f"OLLAMA_API_KEY_{i + 1}"): OLLAMA_KEYS[i] for i in range(ollama)}
    return env


@pytest.fixture
def cli(home: Path, cloud: FakeProvider) -> Cli:
    """The CLI pointed at the fake cloud, with no keys yet (tests add them with ``keys_env``)."""
    env = base_env(home) | {"OPENROUTER_BASE_URL": cloud.openrouter_url, "OLLAMA_BASE_URL": cloud.ollama_url}
    return Cli(home=home, env=env)


def with_env(cli: Cli, extra: Mapping[str, str]) -> Cli:
    return Cli(home=cli.home, env={**cli.env, **extra})
