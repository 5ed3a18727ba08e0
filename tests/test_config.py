from __future__ import annotations

from pathlib import Path

import pytest

from llmroute.config import load_environment, load_settings, normalize_ollama_host
from llmroute.errors import ConfigError


def settings_for(tmp_path: Path, toml: str = "", **env: str):
    if toml:
        (tmp_path / "config.toml").write_text(toml)
    return load_settings({"LLMROUTE_HOME": str(tmp_path), **env})


def test_llmroute_home_moves_config_and_state(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert settings.state_path == tmp_path / "state.db"
    assert settings.config_path == tmp_path / "config.toml"


def test_default_order_is_ollama_cloud_then_openrouter(tmp_path: Path) -> None:
    assert settings_for(tmp_path).provider_order[:2] == ("ollama", "openrouter")


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
    with pytest.raises(ConfigError, match=r"routing.max_attempts must be an integer"):
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
    with pytest.raises(ConfigError, match="LLMROUTE_TIMEOUT must be a number"):
        settings_for(tmp_path, LLMROUTE_TIMEOUT="soon")


def test_required_models_come_from_the_file_unless_the_environment_lists_them(tmp_path: Path) -> None:
    toml = 'required_models = ["kimi-k2.5", "glm-4.7"]\n'
    assert settings_for(tmp_path, toml).required_models == ("kimi-k2.5", "glm-4.7")
    assert settings_for(tmp_path, toml, LLMROUTE_REQUIRED_MODELS="a, b").required_models == ("a", "b")
