"""``llmroute config path | init | show`` end to end: the real CLI as a subprocess under a test ``LLMROUTE_HOME``."""

from __future__ import annotations

import json
import re
import stat
import tomllib
from typing import Any

from llmroute.cli.failures import ExitStatus
from tests.conftest import ALL_SECRETS, Cli, keys_env, with_env


def show(cli: Cli, **env: str) -> dict[str, Any]:
    result = cli("config", "show", "--json", **env)
    assert result.code == ExitStatus.OK, result.stderr
    return json.loads(result.stdout)


def setting(document: dict[str, Any], name: str) -> tuple[Any, str]:
    entry = document["settings"][name]
    return entry["value"], entry["source"]


def test_config_path_names_both_files_and_whether_they_exist(cli: Cli) -> None:
    result = cli("config", "path")
    assert result.code == ExitStatus.OK
    assert result.stdout.splitlines() == [
        f"config: {cli.home / 'config.toml'} (missing)",
        f"state: {cli.home / 'state.db'} (missing)",
    ]
    (cli.home / "config.toml").write_text("")
    assert cli("config", "path").stdout.splitlines()[0] == f"config: {cli.home / 'config.toml'} (exists)"


def test_llmroute_config_moves_the_config_file(cli: Cli) -> None:
    elsewhere = cli.home / "elsewhere.toml"
    assert cli("config", "path", LLMROUTE_CONFIG=str(elsewhere)).stdout.startswith(f"config: {elsewhere} (missing)")


def test_init_writes_a_private_file_without_secrets_that_loads_cleanly(cli: Cli) -> None:
    keyed = with_env(cli, keys_env(openrouter=2, ollama=1))
    result = keyed("config", "init", PREFER_OLLAMA="false")
    path = cli.home / "config.toml"
    assert result.code == ExitStatus.OK, result.stderr
    assert result.stdout == f"{path}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert not any(secret in text for secret in ALL_SECRETS)
    assert "OPENROUTER_API_KEY_1, OPENROUTER_API_KEY_2" in text, "the labels of the keys found are named"
    data = tomllib.loads(text)
    assert data["providers"]["openrouter"]["base_url"] == cli.env["OPENROUTER_BASE_URL"].rstrip("/")

    reloaded = keyed("config", "show", "--json")
    assert reloaded.code == ExitStatus.OK and reloaded.stderr == "", "the written file loads without warnings"
    order, source = setting(json.loads(reloaded.stdout), "routing.provider_order")
    assert order[:2] == ["openrouter", "ollama"] and source == "file", "PREFER_OLLAMA's order is kept in the file"


def test_init_turns_the_seed_variables_into_file_keys(cli: Cli) -> None:
    seeds = {
        "OPENROUTER_DAILY_BUDGET": "2.5",
        "TOTAL_MONTHLY_BUDGET": "40",
        "ALERT_AT_PERCENT": "80",
        "OLLAMA_MAX_CALLS_PER_HOUR": "100",
    }
    assert cli("config", "init", **seeds).code == ExitStatus.OK
    data = tomllib.loads((cli.home / "config.toml").read_text())
    assert data["providers"]["openrouter"]["budget"] == {"daily": 2.5}
    assert data["budgets"] == {"monthly": 40.0}
    assert data["alert_at_percent"] == 80.0
    assert data["providers"]["ollama"]["limits"] == {"per_hour": 100}
    document = show(cli)
    assert setting(document, "providers.openrouter.budget.daily") == (2.5, "file")
    assert setting(document, "providers.ollama.limits.per_hour") == (100, "file")


COMMENTED_TOML = re.compile(r"^# (\[.*\]|[\w\"*:.-]+ = .*| {4}.*|\])$")


def test_init_examples_uncommented_are_a_valid_file(cli: Cli) -> None:
    assert cli("config", "init").code == ExitStatus.OK
    path = cli.home / "config.toml"
    lines = [line[2:] if COMMENTED_TOML.match(line) else line for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    result = cli("config", "show", "--json")
    assert result.code == ExitStatus.OK and result.stderr == "", result.stderr
    document = json.loads(result.stdout)
    assert setting(document, "breaker.failure_rate") == (0.5, "file")
    assert setting(document, 'providers.ollama.prices."gpt-oss:120b"') == ([0.1, 0.5], "file")
    assert setting(document, "keys.OPENROUTER_API_KEY_1.limits.per_minute") == (10, "file")


def test_init_refuses_to_overwrite_without_force(cli: Cli) -> None:
    path = cli.home / "config.toml"
    path.write_text('default_model = "mine"\n')
    path.chmod(0o600)
    result = cli("config", "init")
    assert result.code == ExitStatus.USAGE
    assert result.stderr == f"error: {path} exists; use --force to replace it\n"
    assert path.read_text() == 'default_model = "mine"\n'
    assert cli("config", "init", "--force").code == ExitStatus.OK
    assert "# llmroute configuration" in path.read_text()


def test_init_creates_the_directories(cli: Cli) -> None:
    path = cli.home / "a" / "b" / "config.toml"
    result = cli("config", "init", LLMROUTE_CONFIG=str(path))
    assert result.code == ExitStatus.OK and path.is_file()


def test_show_json_gives_each_value_its_source_and_masks_the_keys(cli: Cli) -> None:
    path = cli.home / "config.toml"
    path.write_text("[routing]\ntimeout = 30\n[providers.openrouter.limits]\nper_minute = 10\n")
    path.chmod(0o600)
    document = show(with_env(cli, keys_env(openrouter=1)), LLMROUTE_MODEL="kimi-k2.5", TOTAL_DAILY_BUDGET="3")
    assert setting(document, "default_model") == ("kimi-k2.5", "env LLMROUTE_MODEL")
    assert setting(document, "routing.timeout") == (30.0, "file")
    assert setting(document, "routing.max_attempts") == (8, "default")
    assert setting(document, "budgets.daily") == (3.0, "env TOTAL_DAILY_BUDGET")
    assert setting(document, "providers.openrouter.limits.per_minute") == (10, "file")
    assert setting(document, "providers.openrouter.base_url")[1] == "env OPENROUTER_BASE_URL"
    [key] = document["keys"]
    assert key["provider"] == "openrouter" and key["label"] == "OPENROUTER_API_KEY_1"
    assert key["mask"].startswith("sk-or-v1…") and len(key["fingerprint"]) == 12
    assert document["config_path"] == str(path)
    assert document["state_path"] == str(cli.home / "state.db")


def test_show_prints_plain_columns_when_piped(cli: Cli) -> None:
    result = with_env(cli, keys_env(ollama=1))("config", "show", LLMROUTE_TIMEOUT="45")
    assert result.code == ExitStatus.OK
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.strip()}
    assert rows["routing.timeout"] == ["45.0", "env", "LLMROUTE_TIMEOUT"]
    assert rows["routing.privacy"] == ["normal", "default"]
    assert rows["ollama"][0] == "OLLAMA_API_KEY"
    assert "\x1b[" not in result.stdout


def test_a_broken_config_file_is_one_line_and_exit_3(cli: Cli) -> None:
    (cli.home / "config.toml").write_text('default_model = "x"\nthis is not toml\n')
    result = cli("config", "show")
    assert result.code == ExitStatus.CONFIG
    assert result.stderr.startswith("error: config.toml line 2: ") and result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_a_bad_value_names_its_key(cli: Cli) -> None:
    path = cli.home / "config.toml"
    path.write_text("[providers.openrouter.limits]\nper_minute = 0\n")
    path.chmod(0o600)
    result = cli("config", "show", "--json")
    assert result.code == ExitStatus.CONFIG
    assert result.stderr == "error: config.toml: providers.openrouter.limits.per_minute must be a positive integer\n"


def test_warnings_about_the_file_reach_stderr(cli: Cli) -> None:
    path = cli.home / "config.toml"
    path.write_text('[routing]\nprovder_order = ["openrouter"]\n')
    path.chmod(0o644)
    result = cli("config", "show", "--json")
    assert result.code == ExitStatus.OK
    assert result.stderr.splitlines() == [
        "warning: config.toml: unknown key routing.provder_order (ignored)",
        f"warning: config.toml is readable or writable by other users (mode 0644); run: chmod 600 {path}",
    ]
    json.loads(result.stdout)


def test_config_is_listed_in_help(cli: Cli) -> None:
    result = cli("--help")
    assert "config" in result.stdout
    assert cli("config", "--help").stdout.count("show") >= 1


def test_config_path_works_when_the_config_file_is_broken(cli: Cli) -> None:
    (cli.home / "config.toml").write_text("[routing\n")
    result = cli("config", "path")
    assert result.code == 0
    assert result.stdout.splitlines()[0] == f"config: {cli.home / 'config.toml'} (exists)"
