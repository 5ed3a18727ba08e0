"""The library surface: what ``from llmroute import ...`` offers, and that it stays lean."""

from __future__ import annotations

import subprocess
import sys
import tempfile

import llmroute


def test_every_public_name_resolves() -> None:
    for name in llmroute.__all__:
        assert getattr(llmroute, name) is not None, name


def test_importing_the_package_or_the_cli_loads_no_heavy_module() -> None:
    code = "import sys, llmroute, llmroute.cli; print(sorted(m for m in ('httpx', 'typer', 'rich', 'sqlite3', 'asyncio') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_core_never_imports_typer_or_rich() -> None:
    code = (
        "import sys, llmroute.router, llmroute.store, llmroute.config, llmroute.providers;"
        "print(sorted(m for m in ('typer', 'click', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_importing_the_providers_or_building_one_adapter_loads_no_other_adapter() -> None:
    code = (
        "import sys\n"
        "import llmroute.providers\n"
        "adapters = lambda: sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('llmroute.providers.'))\n"
        "print(adapters())\n"
        "from llmroute.config import load_settings\n"
        "from llmroute.providers import ClientPool, build_adapter\n"
        "settings = load_settings({'LLMROUTE_HOME': sys.argv[1], 'OPENROUTER_API_KEY': 'sk-or-v1-' + 'a' * 64})\n"
        "adapter = build_adapter(settings.provider('openrouter'), ClientPool('test'))\n"
        "print(type(adapter).__name__, adapters())\n"
    )
    with tempfile.TemporaryDirectory() as home:
        proc = subprocess.run([sys.executable, "-c", code, home], capture_output=True, text=True, check=True)
    first, second = proc.stdout.splitlines()
    assert first == "[]"
    name, loaded = second.split(" ", 1)
    assert name == "OpenRouterAdapter"
    others = {"ollama", "openai_api", "azure", "cloudflare", "gemini", "anthropic", "bedrock", "eventstream"}
    assert "'openrouter'" in loaded and not {o for o in others if f"'{o}'" in loaded}, loaded


def test_the_adapter_registry_imports_an_adapter_only_when_its_protocol_is_looked_up() -> None:
    code = (
        "import sys\n"
        "from llmroute.providers import ADAPTERS\n"
        "assert 'gemini' in ADAPTERS and len(ADAPTERS) == 8 and 'llmroute.providers.gemini' not in sys.modules\n"
        "assert ADAPTERS['gemini'].__name__ == 'GeminiAdapter' and 'llmroute.providers.gemini' in sys.modules\n"
        "assert 'llmroute.providers.bedrock' not in sys.modules\n"
        "from llmroute.providers import BedrockAdapter\n"
        "assert ADAPTERS['bedrock'] is BedrockAdapter\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_readme_library_example_runs(cli, cloud) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from tests.conftest import OR_KEYS, assert_no_secret

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    example = readme.split("## As a library", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    env = {**cli.env, "OPENROUTER_API_KEY": OR_KEYS[0]}
    proc = subprocess.run(
        [sys.executable, "-c", example], env=env, cwd=cli.cwd, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert_no_secret(proc.stdout + proc.stderr, "the README example")
    assert proc.stdout.startswith("Hello from the fake provider. openrouter OPENROUTER_API_KEY Usage(")
    assert cloud.chat_requests[0].body["model"] == "moonshotai/kimi-k2.6"
