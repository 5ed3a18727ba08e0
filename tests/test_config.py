from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from llmroute.config import Settings, load_environment, load_settings
from llmroute.config_providers import normalize_ollama_host
from llmroute.errors import ConfigError
from llmroute.limits import (
    OPENROUTER_FREE_LIMIT,
    BreakerSettings,
    Budget,
    FreeModelLimit,
    Limits,
    Price,
    RateLimit,
)
from tests.conftest import OLLAMA_KEYS, Warnings


def settings_for(tmp_path: Path, toml: str = "", **env: str) -> Settings:
    if toml:
        path = tmp_path / "config.toml"
        path.write_text(toml)
        path.chmod(0o600)
    return load_settings({"LLMROUTE_HOME": str(tmp_path), **env})


def test_llmroute_home_moves_config_and_state(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert settings.state_path == tmp_path / "state.db"
    assert settings.config_path == tmp_path / "config.toml"


def test_default_order_puts_vendors_before_the_aggregator_and_the_local_daemon_last(tmp_path: Path) -> None:
    order = settings_for(tmp_path).provider_order
    assert order == ("ollama", "openai", "azure", "anthropic", "gemini", "bedrock", "openrouter", "cloudflare", "local")


def test_prefer_ollama_false_puts_openrouter_first(tmp_path: Path) -> None:
    assert settings_for(tmp_path, PREFER_OLLAMA="false").provider_order[:2] == ("openrouter", "ollama")


def test_config_file_sets_order_aliases_and_default_model(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        'default_model = "fast"\n[routing]\nprovider_order = ["openrouter", "ollama"]\n'
        'key_selection = "round-robin"\n[aliases]\nfast = ["openrouter:a/b", "ollama:c"]\n',
    )
    assert settings.default_model == "fast"
    assert settings.provider_order[:2] == ("openrouter", "ollama")
    assert settings.key_selection == "round-robin"
    assert settings.aliases["fast"] == ("openrouter:a/b", "ollama:c")


def test_environment_outranks_the_config_file(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, 'default_model = "from-file"\n', LLMROUTE_MODEL="from-env")
    assert settings.default_model == "from-env"


def test_broken_toml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^config.toml line 2: "):
        settings_for(tmp_path, 'default_model = "x"\nthis is not toml\n')


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^config.toml: routing.max_attempts must be a positive integer$"):
        settings_for(tmp_path, '[routing]\nmax_attempts = "many"\n')


def test_non_http_base_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="base_url must be an http"):
        settings_for(tmp_path, '[providers.openrouter]\nbase_url = "file:///etc/passwd"\n')


def test_base_url_variables_point_providers_elsewhere(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, OPENROUTER_BASE_URL="http://127.0.0.1:9/api/v1/", OLLAMA_BASE_URL="http://127.0.0.1:8"
    )
    assert settings.provider("openrouter").base_url == "http://127.0.0.1:9/api/v1"
    assert settings.provider("ollama").base_url == "http://127.0.0.1:8"


def test_local_ollama_is_enabled_by_ollama_host(tmp_path: Path) -> None:
    assert not settings_for(tmp_path).provider("local").enabled
    local = settings_for(tmp_path, OLLAMA_HOST="127.0.0.1:11500").provider("local")
    assert local.enabled and local.base_url == "http://127.0.0.1:11500" and local.local


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.0.0.0", "http://127.0.0.1:11434"), ("myhost", "http://myhost:11434"), ("https://h:1", "https://h:1")],
)
def test_ollama_host_forms_are_normalized(value: str, expected: str) -> None:
    assert normalize_ollama_host(value) == expected


def test_dotenv_fills_in_but_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("OLLAMA_API_KEY=from-dotenv-file-123\nOPENROUTER_API_KEY=dotenv-loses-123456\n")
    monkeypatch.setenv("OPENROUTER_API_KEY", "environment-wins-123")
    env = load_environment(tmp_path)
    assert env["OLLAMA_API_KEY"] == "from-dotenv-file-123"
    assert env["OPENROUTER_API_KEY"] == "environment-wins-123"


def test_bad_numeric_variable_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^LLMROUTE_TIMEOUT must be a positive number, not 'soon'$"):
        settings_for(tmp_path, LLMROUTE_TIMEOUT="soon")


def test_required_models_come_from_the_file_unless_the_environment_lists_them(tmp_path: Path) -> None:
    toml = 'required_models = ["kimi-k2.5", "glm-4.7"]\n'
    assert settings_for(tmp_path, toml).required_models == ("kimi-k2.5", "glm-4.7")
    assert settings_for(tmp_path, toml, LLMROUTE_REQUIRED_MODELS="a, b").required_models == ("a", "b")


# --- limits, budgets, prices, breaker, reservations ---------------------------------------------------------

FULL = """
alert_at_percent = 80
[budgets]
daily = 5.0
monthly = 50
[breaker]
consecutive_failures = 3
failure_rate = 0.25
min_attempts = 4
window = 120
cool_off = 30
[reservations]
timeout = 900
reserve_tokens = 2048
[providers.openrouter.limits]
per_minute = 60
per_hour = 1000
per_day = 5000
[providers.openrouter.free_limits]
per_utc_day = 1000
[providers.openrouter.budget]
daily = 2.0
monthly = 20.0
[providers.ollama.prices]
"gpt-oss:120b" = [0.10, 0.50]
"*" = [0.20, 0.80]
[keys.OPENROUTER_API_KEY_1.limits]
per_minute = 10
[keys.OPENROUTER_API_KEY_1.budget]
daily = 1.0
"""


def test_every_limit_section_is_read(tmp_path: Path) -> None:
    limits = settings_for(tmp_path, FULL).limits
    assert limits.alert_at_percent == 80.0
    assert limits.total_budget == Budget(daily=5.0, monthly=50.0)
    assert limits.breaker == BreakerSettings(
        consecutive_failures=3, failure_rate=0.25, min_attempts=4, window=120.0, cool_off=30.0
    )
    assert (limits.reservation_timeout, limits.reserve_tokens) == (900.0, 2048)
    assert limits.provider_limits == {"openrouter": RateLimit(per_minute=60, per_hour=1000, per_day=5000)}
    assert limits.provider_budgets == {"openrouter": Budget(daily=2.0, monthly=20.0)}
    assert limits.key_limits == {"OPENROUTER_API_KEY_1": RateLimit(per_minute=10)}
    assert limits.key_budgets == {"OPENROUTER_API_KEY_1": Budget(daily=1.0)}
    assert limits.price("ollama", "gpt-oss:120b") == Price(prompt=0.10, completion=0.50)
    assert limits.price("ollama", "kimi-k2.5") == Price(prompt=0.20, completion=0.80)
    assert limits.price("openrouter", "gpt-oss:120b") is None


def test_a_partial_free_limit_keeps_openrouters_other_default(tmp_path: Path) -> None:
    free = settings_for(tmp_path, FULL).limits.free_limits
    assert free == {
        "openrouter": FreeModelLimit(per_minute=OPENROUTER_FREE_LIMIT.per_minute, per_utc_day=1000, reported_wins=False)
    }, "a daily cap the user sets wins over the one a key reports"


def test_without_limits_the_defaults_hold(tmp_path: Path) -> None:
    assert settings_for(tmp_path).limits == Limits()
    assert settings_for(tmp_path).limits.free_limits == {"openrouter": OPENROUTER_FREE_LIMIT}


def test_budgets_may_be_zero(tmp_path: Path) -> None:
    limits = settings_for(tmp_path, "[budgets]\ndaily = 0\n", OLLAMA_MONTHLY_BUDGET="0").limits
    assert limits.total_budget == Budget(daily=0.0)
    assert limits.provider_budgets["ollama"] == Budget(monthly=0.0)


def test_a_key_table_for_an_undiscovered_key_is_fine(tmp_path: Path, warnings: Warnings) -> None:
    settings = settings_for(tmp_path, "[keys.OLLAMA_API_KEY_9.limits]\nper_hour = 3\n")
    assert settings.limits.key_limits == {"OLLAMA_API_KEY_9": RateLimit(per_hour=3)}
    assert warnings() == []


def _budget(provider: str, field: str) -> Callable[[Limits], object]:
    return lambda limits: getattr(limits.provider_budgets[provider], field)


@pytest.mark.parametrize(
    ("variable", "value", "read", "expected"),
    [
        ("OLLAMA_DAILY_BUDGET", "1.5", _budget("ollama", "daily"), 1.5),
        ("OPENROUTER_DAILY_BUDGET", "2", _budget("openrouter", "daily"), 2.0),
        ("OLLAMA_MONTHLY_BUDGET", "30", _budget("ollama", "monthly"), 30.0),
        ("OPENROUTER_MONTHLY_BUDGET", "40.5", _budget("openrouter", "monthly"), 40.5),
        ("TOTAL_DAILY_BUDGET", "5", lambda limits: limits.total_budget.daily, 5.0),
        ("TOTAL_MONTHLY_BUDGET", "60", lambda limits: limits.total_budget.monthly, 60.0),
        ("ALERT_AT_PERCENT", "90", lambda limits: limits.alert_at_percent, 90.0),
        ("OLLAMA_MAX_CALLS_PER_HOUR", "100", lambda limits: limits.provider_limits["ollama"].per_hour, 100),
        ("OPENROUTER_MAX_CALLS_PER_HOUR", "200", lambda limits: limits.provider_limits["openrouter"].per_hour, 200),
    ],
)
def test_seed_variables_set_limits_and_outrank_the_file(
    tmp_path: Path, variable: str, value: str, read: Callable[[Limits], object], expected: object
) -> None:
    assert read(settings_for(tmp_path, **{variable: value}).limits) == expected
    everything_in_the_file = FULL.replace("alert_at_percent = 80", "alert_at_percent = 50") + (
        "[providers.ollama.budget]\ndaily = 9.0\nmonthly = 9.0\n[providers.ollama.limits]\nper_hour = 9\n"
    )
    settings = settings_for(tmp_path, everything_in_the_file, **{variable: value})
    assert read(settings.limits) == expected
    assert f"env {variable}" in settings.sources.values()


def test_alert_at_percent_defaults_to_75(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert settings.limits.alert_at_percent == 75.0
    assert settings.sources["alert_at_percent"] == "default"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            "[providers.openrouter.limits]\nper_minute = 0\n",
            "providers.openrouter.limits.per_minute must be a positive integer",
        ),
        (
            "[providers.openrouter.limits]\nper_minute = 1.5\n",
            "providers.openrouter.limits.per_minute must be a positive integer",
        ),
        (
            "[providers.ollama.free_limits]\nper_utc_day = -1\n",
            "providers.ollama.free_limits.per_utc_day must be a positive integer",
        ),
        (
            '[keys.OPENROUTER_API_KEY_2.limits]\nper_day = "many"\n',
            "keys.OPENROUTER_API_KEY_2.limits.per_day must be a positive integer",
        ),
        ("[budgets]\ndaily = -1\n", "budgets.daily must be a number of US dollars, 0 or more"),
        (
            "[providers.ollama.budget]\nmonthly = true\n",
            "providers.ollama.budget.monthly must be a number of US dollars",
        ),
        ("[breaker]\nfailure_rate = 1.5\n", "breaker.failure_rate must be a number over 0 and at most 1"),
        ("[breaker]\nfailure_rate = 0\n", "breaker.failure_rate must be a number over 0 and at most 1"),
        ("[breaker]\nwindow = nan\n", "breaker.window must be a positive number"),
        ("[breaker]\nconsecutive_failures = 2.0\n", "breaker.consecutive_failures must be a positive integer"),
        ("[reservations]\nreserve_tokens = 0\n", "reservations.reserve_tokens must be a positive integer"),
        ("alert_at_percent = 100\n", "alert_at_percent must be a number between 0 and 100"),
        ("alert_at_percent = 0\n", "alert_at_percent must be a number between 0 and 100"),
        (
            '[providers.ollama.prices]\n"gpt-oss:120b" = [0.1]\n',
            'providers.ollama.prices."gpt-oss:120b" must be [prompt, completion]',
        ),
        (
            '[providers.ollama.prices]\n"*" = "cheap"\n',
            'providers.ollama.prices."*" must be [prompt, completion]',
        ),
        ("budgets = 5\n", "budgets must be a table"),
        ("[keys]\nOPENROUTER_API_KEY_1 = 5\n", "keys.OPENROUTER_API_KEY_1 must be a table"),
        ('[routing]\nprivacy = "secret"\n', "routing.privacy must be one of normal, critical"),
    ],
)
def test_a_bad_value_in_the_file_names_its_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(f"config.toml: {message}")):
        settings_for(tmp_path, toml)


@pytest.mark.parametrize(
    ("variable", "value", "what"),
    [
        ("OPENROUTER_DAILY_BUDGET", "two", "a number of US dollars, 0 or more"),
        ("TOTAL_MONTHLY_BUDGET", "-5", "a number of US dollars, 0 or more"),
        ("OLLAMA_MAX_CALLS_PER_HOUR", "1.5", "a positive integer"),
        ("OPENROUTER_MAX_CALLS_PER_HOUR", "0", "a positive integer"),
        ("ALERT_AT_PERCENT", "150", "a number between 0 and 100"),
        ("LLMROUTE_MAX_ATTEMPTS", "-1", "a positive integer"),
        ("LLMROUTE_KEY_SELECTION", "random", "one of ordered, round-robin"),
        ("OPENROUTER_BASE_URL", "ftp://x", "an http\\(s\\) URL"),
    ],
)
def test_a_bad_variable_names_itself(tmp_path: Path, variable: str, value: str, what: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{variable} must be {what}, not '{re.escape(value)}'$"):
        settings_for(tmp_path, **{variable: value})


def test_a_blank_variable_counts_as_unset(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "[budgets]\ndaily = 4.0\n", TOTAL_DAILY_BUDGET="  ")
    assert settings.limits.total_budget.daily == 4.0
    assert settings.sources["budgets.daily"] == "file"


# --- where each value came from -----------------------------------------------------------------------------


def test_sources_name_default_file_and_environment(tmp_path: Path) -> None:
    toml = '[routing]\ntimeout = 30\n[providers.ollama.prices]\n"gpt-oss:120b" = [0.1, 0.5]\n'
    settings = settings_for(tmp_path, toml, LLMROUTE_MODEL="kimi-k2.5", OPENROUTER_BASE_URL="http://127.0.0.1:9")
    sources = settings.sources
    assert sources["default_model"] == "env LLMROUTE_MODEL"
    assert sources["routing.timeout"] == "file"
    assert sources["routing.max_attempts"] == "default"
    assert sources["providers.openrouter.base_url"] == "env OPENROUTER_BASE_URL"
    assert sources["providers.ollama.base_url"] == "default"
    assert sources['providers.ollama.prices."gpt-oss:120b"'] == "file"
    assert settings.values["routing.timeout"] == 30.0
    assert settings.values["default_model"] == "kimi-k2.5"


def test_every_scalar_setting_has_a_source(tmp_path: Path) -> None:
    sources = settings_for(tmp_path).sources
    expected = {
        "default_model",
        "required_models",
        "alert_at_percent",
        *(f"routing.{name}" for name in ("provider_order", "key_selection", "max_attempts", "timeout", "privacy")),
        *(f"providers.{p}.{name}" for p in ("ollama", "openrouter", "local") for name in ("base_url", "enabled")),
        *(
            f"providers.{p}.limits.{name}"
            for p in ("ollama", "openrouter")
            for name in ("per_minute", "per_hour", "per_day")
        ),
        *(f"providers.{p}.budget.{name}" for p in ("ollama", "openrouter") for name in ("daily", "monthly")),
        "providers.openrouter.free_limits.per_minute",
        "providers.openrouter.free_limits.per_utc_day",
        "budgets.daily",
        "budgets.monthly",
        *(f"breaker.{name}" for name in ("consecutive_failures", "failure_rate", "min_attempts", "window", "cool_off")),
        "reservations.timeout",
        "reservations.reserve_tokens",
    }
    assert expected <= set(sources)
    assert set(sources.values()) == {"default"}


def test_flags_are_recorded_as_flags(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, LLMROUTE_TIMEOUT="30").with_overrides(timeout=5.0, privacy=None)
    assert settings.timeout == 5.0
    assert settings.sources["routing.timeout"] == "flag"
    assert settings.values["routing.timeout"] == 5.0
    assert settings.sources["routing.privacy"] == "default"


def test_ollama_host_enables_local_unless_the_file_says_otherwise(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, OLLAMA_HOST="127.0.0.1:11500")
    assert settings.sources["providers.local.enabled"] == "env OLLAMA_HOST"
    assert settings.sources["providers.local.base_url"] == "env OLLAMA_HOST"
    settings = settings_for(tmp_path, "[providers.local]\nenabled = false\n", OLLAMA_HOST="127.0.0.1:11500")
    assert not settings.provider("local").enabled
    assert settings.sources["providers.local.enabled"] == "file"


def test_prefer_ollama_is_named_as_the_orders_source(tmp_path: Path) -> None:
    assert settings_for(tmp_path, PREFER_OLLAMA="no").sources["routing.provider_order"] == "env PREFER_OLLAMA"
    toml = '[routing]\nprovider_order = ["openrouter", "ollama"]\n'
    assert settings_for(tmp_path, toml, PREFER_OLLAMA="false").sources["routing.provider_order"] == "file"


# --- warnings about the file ---------------------------------------------------------------------------------


def test_unknown_keys_are_named_and_ignored(tmp_path: Path, warnings: Warnings) -> None:
    toml = (
        'colour = "blue"\n[routing]\nprovder_order = ["openrouter"]\n[providers.acme]\nprotocol = "openai"\n'
        'base_url = "http://127.0.0.1:1234/v1"\nlocal = true\nmodels = 3\n'
        "[providers.openrouter.limits]\nper_second = 5\n[breaker]\ncooloff = 1\n[keys.MY_KEY]\nlimit = 3\n"
    )
    settings = settings_for(tmp_path, toml)
    assert settings.provider_order[0] == "ollama"
    assert warnings() == [
        f"config.toml: unknown key {name} (ignored)"
        for name in (
            "colour",
            "routing.provder_order",
            "providers.acme.models",
            "providers.openrouter.limits.per_second",
            "breaker.cooloff",
            "keys.MY_KEY.limit",
        )
    ]


def test_a_full_file_warns_about_nothing(tmp_path: Path, warnings: Warnings) -> None:
    toml = FULL + (
        '[aliases]\nfast = ["openrouter:meta-llama/llama-3.3-70b-instruct:free", "ollama:qwen3-coder-480b-a35b-instruct-fp8"]\n'
        '[providers.local]\nenabled = true\nbase_url = "http://127.0.0.1:11434"\nkey_variable = "LOCAL_KEY"\n'
    )
    settings_for(tmp_path, toml)
    assert warnings() == []


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        ('[providers.openrouter]\nkey_variable = "sk-or-v1-0123"\n', "providers.openrouter.key_variable"),
        (f'[aliases]\nfast = ["ollama:x", "{OLLAMA_KEYS[0]}"]\n', "aliases.fast"),
        (f'default_model = "{secrets.token_hex(20)}"\n', "default_model"),
    ],
    ids=["key-prefix", "in-a-list", "hex-run"],
)
def test_a_value_that_looks_like_a_key_is_warned_about_without_showing_it(
    tmp_path: Path, warnings: Warnings, toml: str, where: str
) -> None:
    settings_for(tmp_path, toml)
    assert warnings() == [f"config.toml holds what looks like an API key at {where}; keep keys in the environment"]


def test_a_config_file_others_can_read_is_warned_about(tmp_path: Path, warnings: Warnings) -> None:
    path = tmp_path / "config.toml"
    path.write_text('default_model = "x"\n')
    path.chmod(0o644)
    load_settings({"LLMROUTE_HOME": str(tmp_path)})
    assert warnings() == [f"config.toml is readable or writable by other users (mode 0644); run: chmod 600 {path}"]


def test_a_private_config_file_is_not_warned_about(tmp_path: Path, warnings: Warnings) -> None:
    settings_for(tmp_path, 'default_model = "x"\n')
    assert warnings() == []


def test_the_readme_example_loads_without_warnings(tmp_path: Path, warnings: Warnings) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Configuration file", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    settings = settings_for(tmp_path, example)
    assert warnings() == []
    assert settings.limits.key_budgets == {"OPENROUTER_API_KEY_1": Budget(daily=1.0)}
    assert settings.provider_order[0] == "openrouter"
