"""``llmroute models`` end to end: the real CLI as a subprocess against fake providers on 127.0.0.1."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmroute.catalog import current_targets
from llmroute.cli import models as models_command
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus
from llmroute.config import load_settings
from llmroute.store import Store
from llmroute.types import ModelInfo, Target
from tests.conftest import Cli, base_env, keys_env, with_env
from tests.fakes import FakeProvider, error

MODELS_PATH = "/api/v1/models"
TAGS_PATH = "/api/tags"
BOTH = keys_env(openrouter=2, ollama=1)
CONTROL_OR_BOX = re.compile(r"[\x1b\u2500-\u257f]")

#: The ``--json`` document, as a small JSON-Schema subset checked by :func:`check` below.
MODEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "provider": {"type": "string"},
        "model": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "context_length": {"type": ["integer", "null"]},
        "prompt_price_per_m": {"type": ["number", "null"]},
        "completion_price_per_m": {"type": ["number", "null"]},
        "variable_price": {"type": "boolean"},
        "free": {"type": "boolean"},
        "expires": {"type": ["string", "null"]},
        "retired": {"type": "boolean"},
        "successor": {"type": ["string", "null"]},
        "keys": {"type": "array", "items": {"type": "string"}},
    },
}
DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "models": {"type": "array", "items": MODEL_SCHEMA},
        "stale": {"type": "array", "items": {"type": "string"}},
        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
        "fetched_at": {"type": "object", "additionalProperties": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT"}},
    },
}
_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "integer": int,
    "number": (int, float),
}


def check(value: Any, schema: dict[str, Any], where: str = "$") -> None:
    """Assert ``value`` fits ``schema``: type, every listed property required, items, pattern."""
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    fits = [t for t in types if isinstance(value, _TYPES[t]) and not (t in ("integer", "number") and value is True)]
    assert fits and not (isinstance(value, bool) and "boolean" not in types), f"{where}: {value!r} is not {types}"
    if "pattern" in schema and isinstance(value, str):
        assert re.match(schema["pattern"], value), f"{where}: {value!r} does not match {schema['pattern']}"
    if isinstance(value, list):
        for i, item in enumerate(value):
            check(item, schema["items"], f"{where}[{i}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        assert set(properties) <= set(value), f"{where}: missing {sorted(set(properties) - set(value))}"
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                check(item, properties[key], f"{where}.{key}")
            else:
                assert extra is not False, f"{where}: unexpected {key!r}"
                if isinstance(extra, dict):
                    check(item, extra, f"{where}.{key}")


def rows(stdout: str) -> dict[str, list[str]]:
    """Table rows by ``provider:model``, cells split on runs of two or more spaces."""
    table = {}
    for line in stdout.splitlines()[1:]:
        cells = re.split(r"\s{2,}", line.strip())
        table[f"{cells[0]}:{cells[1]}"] = cells
    return table


def document(cli: Cli, *args: str, **env: str) -> dict[str, Any]:
    result = cli("models", "--json", *args, **env)
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    check(data, DOCUMENT_SCHEMA)
    return data


def specs(data: dict[str, Any]) -> list[str]:
    return [f"{m['provider']}:{m['model']}" for m in data["models"]]


# --- what is shown ------------------------------------------------------------------------------------


def test_table_shows_prices_per_million_free_flags_and_keys(cli: Cli) -> None:
    result = cli("models", **BOTH)
    assert result.code == 0 and not CONTROL_OR_BOX.search(result.stdout)
    assert result.stdout.splitlines()[0].split() == ["provider", "model", "context", "$/M", "in", "$/M", "out", "free", "keys", "status"]  # fmt: skip
    table = rows(result.stdout)
    assert table["openrouter:openai/gpt-4o-mini"][2:] == ["131,072", "0.15", "0.60", "no", "OPENROUTER_API_KEY_1 +1"]
    assert table["openrouter:meta-llama/llama-3.3-70b-instruct:free"][3:6] == ["0", "0", "yes"]
    assert table["openrouter:openrouter/auto"][3:5] == ["varies", "varies"]
    assert table["ollama:gpt-oss:120b"][2:] == ["—", "—", "—", "no", "OLLAMA_API_KEY"]
    assert table["ollama:kimi-k2.5"][-1] == "retired → kimi-k2.6"
    assert result.stderr == ""


def test_json_document_fits_the_schema(cli: Cli) -> None:
    data = document(cli, **BOTH)
    mini = next(m for m in data["models"] if m["model"] == "openai/gpt-4o-mini")
    assert (mini["prompt_price_per_m"], mini["completion_price_per_m"], mini["context_length"]) == (0.15, 0.6, 131072)
    assert mini["keys"] == ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2"]
    kimi = next(m for m in data["models"] if m["provider"] == "ollama" and m["model"] == "kimi-k2.5")
    assert (kimi["retired"], kimi["successor"], kimi["expires"]) == (True, "kimi-k2.6", "2026-07-31")
    assert data["stale"] == [] and set(data["fetched_at"]) == {"ollama", "openrouter"}


def test_prices_and_expiry_come_from_the_catalogue(home: Any) -> None:
    with FakeProvider(
        keys={"sk-or-v1-" + "e" * 64: "x"},
        models={"openai/gpt-4", "openai/gpt-4o-mini"},
        prices={"openai/gpt-4": ("0.00003", "0.00006")},
        expiring={"openai/gpt-4": "2099-12-01"},
    ) as fake:
        cli = Cli(home=home, env=base_env(home) | {"OPENROUTER_BASE_URL": fake.openrouter_url})
        result = cli("models", OPENROUTER_API_KEY="sk-or-v1-" + "e" * 64)
    assert result.code == 0
    assert rows(result.stdout)["openrouter:openai/gpt-4"][3:] == ["30.00", "60.00", "no", "OPENROUTER_API_KEY", "retires 2099-12-01"]  # fmt: skip


def test_every_retired_model_is_shown_with_the_successor_chat_would_use(cli: Cli) -> None:
    data = document(cli, **BOTH)
    shown = {(m["provider"], m["model"]): (m["retired"], m["successor"]) for m in data["models"]}
    assert {spec: s for spec, s in shown.items() if s[0]} == {
        ("ollama", "kimi-k2.5"): (True, "kimi-k2.6"),
        ("openrouter", "moonshotai/kimi-k2.5"): (True, "moonshotai/kimi-k2.6"),
    }
    table = rows(cli("models", **BOTH).stdout)
    assert table["openrouter:moonshotai/kimi-k2.5"][-1] == "retired → moonshotai/kimi-k2.6"
    assert table["ollama:kimi-k2.6"][-1] == "OLLAMA_API_KEY", "a current model has no status"
    store = Store.open(load_settings({"LLMROUTE_HOME": str(cli.home)}).state_path)
    try:
        for (provider, model), (retired, successor) in shown.items():
            target = Target(provider, model)
            kept, _ = current_targets([target], store, time.time())  # what chat's planner does
            assert retired == (kept != (target,)) and (not retired or successor == kept[0].model), target
    finally:
        store.close()


def test_an_openrouter_model_past_its_expiration_date_is_retired(home: Any) -> None:
    with FakeProvider(
        keys={"sk-or-v1-" + "e" * 64: "x"},
        models={"acme/gone:free", "openai/gpt-4o-mini"},
        expiring={"acme/gone:free": "2026-10-01"},
    ) as fake:
        cli = Cli(home=home, env=base_env(home) | {"OPENROUTER_BASE_URL": fake.openrouter_url})
        result = cli("models", OPENROUTER_API_KEY="sk-or-v1-" + "e" * 64)
    assert result.code == 0
    assert rows(result.stdout)["openrouter:acme/gone:free"][-1] == "retired"


def test_a_local_daemons_cloud_names_of_retired_models_are_retired(cli: Cli) -> None:
    with FakeProvider(
        keys={}, models={"kimi-k2.5:cloud", "qwen3-coder:480b-cloud", "llama3.2"}, require_auth=False
    ) as local:
        result = cli("models", "--provider", "local", OLLAMA_HOST=local.base_url)
    assert result.code == 0, result.stderr
    table = rows(result.stdout)
    assert table["local:kimi-k2.5:cloud"][-1] == "retired → kimi-k2.6:cloud"
    assert table["local:qwen3-coder:480b-cloud"][-1] == "retired"
    assert table["local:llama3.2"][-1] == "local"


def test_a_local_daemon_needs_no_key_and_its_models_are_free(cli: Cli, local: FakeProvider) -> None:
    result = cli("models", "--provider", "local", OLLAMA_HOST=local.base_url)
    assert result.code == 0
    table = rows(result.stdout)
    assert set(table) == {"local:gpt-oss:20b", "local:kimi-k2.5", "local:llama3.2"}
    assert table["local:llama3.2"][5:] == ["yes", "local"]
    assert all(r.bearer is None for r in local.requests_to(TAGS_PATH))


# --- the cache ----------------------------------------------------------------------------------------


def test_second_call_within_the_ttl_makes_no_request_and_refresh_does(cli: Cli, cloud: FakeProvider) -> None:
    first = document(cli, **BOTH)
    assert len(cloud.requests_to(MODELS_PATH)) == 1 and len(cloud.requests_to(TAGS_PATH)) == 1
    assert document(cli, **BOTH) == first
    assert len(cloud.requests_to(MODELS_PATH)) == 1 and len(cloud.requests_to(TAGS_PATH)) == 1
    document(cli, "--refresh", **BOTH)
    assert len(cloud.requests_to(MODELS_PATH)) == 2 and len(cloud.requests_to(TAGS_PATH)) == 2


def test_the_ttl_comes_from_the_environment(cli: Cli, cloud: FakeProvider) -> None:
    for _ in range(2):
        document(cli, LLMROUTE_CATALOG_TTL="0", **keys_env(openrouter=1))
    assert len(cloud.requests_to(MODELS_PATH)) == 2


def test_a_bad_ttl_is_a_config_error(cli: Cli) -> None:
    result = cli("models", LLMROUTE_CATALOG_TTL="soon", **BOTH)
    assert result.code == ExitStatus.CONFIG and "LLMROUTE_CATALOG_TTL" in result.stderr


def test_a_failed_refresh_keeps_the_old_catalogue_and_warns(cli: Cli, cloud: FakeProvider) -> None:
    before = document(cli, **BOTH)
    cloud.script(None, error(500, {"error": {"code": 500, "message": "Internal Server Error"}}), path=MODELS_PATH)
    result = cli("models", "--refresh", **BOTH)
    assert result.code == 0 and "openai/gpt-4o-mini" in result.stdout
    assert re.fullmatch(
        r"warning: could not refresh openrouter \(HTTP 500: Internal Server Error\); "
        r"showing the catalogue from \d+ seconds? ago\n",
        result.stderr,
    ), result.stderr
    cloud.script(None, error(502, "<html>bad gateway</html>"), path=MODELS_PATH)
    after = document(cli, "--refresh", **BOTH)
    assert after["stale"] == ["openrouter"] and "HTTP 502" in after["errors"]["openrouter"]
    assert after["fetched_at"]["openrouter"] == before["fetched_at"]["openrouter"]
    assert [m for m in after["models"] if m["provider"] == "openrouter"] == [
        m for m in before["models"] if m["provider"] == "openrouter"
    ]


def test_a_failed_first_fetch_with_nothing_cached_fails(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(None, error(503, {"error": {"code": 503, "message": "Service Unavailable"}}), path=MODELS_PATH)
    result = cli("models", **keys_env(openrouter=1))
    assert result.code == ExitStatus.ALL_FAILED and result.stdout == ""
    assert result.stderr.startswith("error: could not fetch any model catalogue (openrouter: HTTP 503: ")
    assert result.stderr.count("\n") == 1 and "Service Unavailable" in result.stderr


def test_a_cached_catalogue_is_shown_after_the_keys_are_gone(cli: Cli, cloud: FakeProvider) -> None:
    document(cli, **keys_env(openrouter=1))
    result = cli("models")
    assert result.code == 0 and rows(result.stdout)["openrouter:openai/gpt-4o-mini"][6] == "—"
    assert len(cloud.requests_to(MODELS_PATH)) == 1


# --- filters and sorts --------------------------------------------------------------------------------


def test_free_filter(cli: Cli) -> None:
    assert specs(document(cli, "--free", **BOTH)) == ["openrouter:meta-llama/llama-3.3-70b-instruct:free"]


def test_search_is_case_insensitive_on_ids_and_names(cli: Cli) -> None:
    assert specs(document(cli, "--search", "KIMI", **BOTH)) == [
        "ollama:kimi-k2.5",
        "ollama:kimi-k2.6",
        "openrouter:moonshotai/kimi-k2.5",
        "openrouter:moonshotai/kimi-k2.6",
    ]
    assert specs(document(cli, "--search", "auto router", **BOTH)) == ["openrouter:openrouter/auto"]


def test_max_price_keeps_known_prices_within_the_limit(cli: Cli) -> None:
    assert specs(document(cli, "--max-price", "1", **BOTH)) == [
        "openrouter:meta-llama/llama-3.3-70b-instruct:free",
        "openrouter:openai/gpt-4o-mini",
    ]


def test_provider_filter_fetches_only_that_provider(cli: Cli, cloud: FakeProvider) -> None:
    assert specs(document(cli, "--provider", "ollama", **BOTH)) == [
        "ollama:gpt-oss:120b",
        "ollama:kimi-k2.5",
        "ollama:kimi-k2.6",
    ]
    assert cloud.requests_to(MODELS_PATH) == []


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (
            "price",
            [
                "openrouter:meta-llama/llama-3.3-70b-instruct:free",
                "openrouter:openai/gpt-4o-mini",
                "openrouter:moonshotai/kimi-k2.6",
                "openrouter:moonshotai/kimi-k2.5",
                "ollama:gpt-oss:120b",
                "ollama:kimi-k2.5",
                "ollama:kimi-k2.6",
                "openrouter:openrouter/auto",
            ],
        ),
        ("context", ["openrouter:openrouter/auto"]),
        (
            "name",
            [
                "ollama:gpt-oss:120b",
                "ollama:kimi-k2.5",
                "ollama:kimi-k2.6",
                "openrouter:meta-llama/llama-3.3-70b-instruct:free",
            ],
        ),
    ],
)
def test_sorts(cli: Cli, sort: str, expected: list[str]) -> None:
    assert specs(document(cli, "--sort", sort, **BOTH))[: len(expected)] == expected


def test_no_match_is_not_an_error(cli: Cli) -> None:
    result = cli("models", "--search", "no-such-model", **BOTH)
    assert (result.code, result.stdout, result.stderr) == (0, "", "warning: no models match\n")


# --- usage and configuration errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--sort", "popularity"), "name, price, context"), (("--provider", "acme"), "unknown provider 'acme'")],
)
def test_bad_arguments_are_usage_errors(cli: Cli, cloud: FakeProvider, args: tuple[str, ...], message: str) -> None:
    result = cli("models", *args, **BOTH)
    assert result.code == ExitStatus.USAGE and message in result.stderr
    assert cloud.requests == []


def test_no_keys_and_no_cache_names_the_variables(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("models")
    assert result.code == ExitStatus.CONFIG and result.stdout == ""
    assert "OPENROUTER_API_KEY" in result.stderr and "OLLAMA_API_KEY" in result.stderr
    assert "OLLAMA_HOST" in result.stderr and cloud.requests == []


def test_a_disabled_local_daemon_says_how_to_enable_it(cli: Cli) -> None:
    result = cli("models", "--provider", "local", **BOTH)
    assert result.code == ExitStatus.CONFIG and "OLLAMA_HOST" in result.stderr


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 seconds"), (1, "1 second"), (61, "1 minute"), (7300, "2 hours"), (86400, "1 day"), (-3, "0 seconds")],
)
def test_ages_are_said_in_the_largest_whole_unit(seconds: float, text: str) -> None:
    assert models_command.describe_age(seconds) == text


# --- on a terminal ------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_drawn_table_without_colour_under_no_color(tmp_path: Path) -> None:
    settings = load_settings({"LLMROUTE_HOME": str(tmp_path)})
    store = Store.open(settings.state_path)
    store.replace_catalog("openrouter", [ModelInfo("openrouter", "a/b", prompt_price=1.0, completion_price=2.0)], 1.0)
    store.close()
    stdout, stderr = _Terminal(), _Terminal()
    environment = Environment(stdout=stdout, stderr=stderr, env={"NO_COLOR": "1", "TERM": "xterm"})
    assert models_command.run(models_command.ModelsOptions(), settings, environment) == ExitStatus.OK
    assert "a/b" in stdout.getvalue() and "─" in stdout.getvalue()
    assert not re.search(r"\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-7])m", stdout.getvalue()), "no colour codes"


# --- shell completion ---------------------------------------------------------------------------------


def completing(cli: Cli, word: str) -> tuple[int, list[str]]:
    """What bash's completion script gets for ``llmroute chat -m WORD`` (``WORD`` whole: no word break in it)."""
    env = {"_LLMROUTE_COMPLETE": "complete_bash", "_LLMROUTE_COMPLETE_LINE": f"llmroute chat -m {word}"}
    result = with_env(cli, {**env, "_LLMROUTE_COMPLETE_WORD": word})()
    return result.code, [line.removeprefix("plain,") for line in result.stdout.splitlines()]


def test_completion_offers_cached_models_after_the_aliases(cli: Cli) -> None:
    document(cli, **BOTH)
    assert completing(cli, "openrouter:openai/") == (0, ["openrouter:openai/gpt-4o-mini"])
    assert completing(cli, "kimi-k2")[1] == ["kimi-k2-thinking", "kimi-k2.5", "kimi-k2.6"]


def test_completion_never_creates_the_state_file(cli: Cli) -> None:
    assert completing(cli, "ollama:") == (0, ["ollama:"])
    assert not (cli.home / "state.db").exists()
