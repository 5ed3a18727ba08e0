"""Effective settings: defaults < config.toml < environment (and ./.env) < flags.

Flags are applied by the caller (the CLI) on top of :func:`load_settings`.
The config file never needs to hold a secret; keys come from the environment.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmroute.errors import ConfigError
from llmroute.keys import ApiKey, discover_keys
from llmroute.limits import Limits

DEFAULT_MODEL = "gpt-oss:120b"
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_ATTEMPTS = 8
KEY_SELECTIONS = ("ordered", "round-robin")


@dataclass(frozen=True)
class ProviderSettings:
    name: str
    protocol: str
    """Wire protocol, the adapter to use: ``openrouter`` or ``ollama``."""
    base_url: str
    key_variable: str | None
    local: bool = False
    enabled: bool = True
    keys: tuple[ApiKey, ...] = ()


@dataclass(frozen=True)
class Settings:
    providers: tuple[ProviderSettings, ...]
    provider_order: tuple[str, ...]
    default_model: str = DEFAULT_MODEL
    key_selection: str = "ordered"
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float = DEFAULT_TIMEOUT
    privacy: str = "normal"
    required_models: tuple[str, ...] = ()
    """Models ``test-keys`` must find reachable (``LLMROUTE_REQUIRED_MODELS`` or the file's list)."""
    limits: Limits = field(default_factory=Limits)
    state_path: Path = Path("state.db")
    config_path: Path | None = None

    def provider(self, name: str) -> ProviderSettings | None:
        return next((p for p in self.providers if p.name == name), None)

    @property
    def keys(self) -> tuple[ApiKey, ...]:
        return tuple(k for p in self.providers for k in p.keys)

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _builtin_providers(env: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "name": "ollama",
            "protocol": "ollama",
            "base_url": env.get("OLLAMA_BASE_URL") or "https://ollama.com",
            "key_variable": "OLLAMA_API_KEY",
        },
        {
            "name": "openrouter",
            "protocol": "openrouter",
            "base_url": env.get("OPENROUTER_BASE_URL") or "https://openrouter.ai/api/v1",
            "key_variable": "OPENROUTER_API_KEY",
        },
        {
            "name": "local",
            "protocol": "ollama",
            "base_url": normalize_ollama_host(env.get("OLLAMA_HOST") or "http://localhost:11434"),
            "key_variable": None,
            "local": True,
            # Contacting localhost costs a round trip per request when nothing
            # listens, so local Ollama is opt-in (or implied by privacy critical).
            "enabled": bool(env.get("OLLAMA_HOST")),
        },
    ]


def normalize_ollama_host(value: str) -> str:
    """Accept Ollama's own ``OLLAMA_HOST`` forms: ``host``, ``host:port``, or a URL."""
    value = value.strip().rstrip("/")
    if "://" not in value:
        value = f"http://{value}"
    rest = value.partition("://")[2]
    host = rest.split("/", 1)[0]
    if ":" not in host.rsplit("]", 1)[-1]:
        value = value.replace(host, f"{host}:11434", 1)
    return value.replace("://0.0.0.0", "://127.0.0.1", 1)


def default_home(env: Mapping[str, str]) -> tuple[Path, Path]:
    """The config file and state file locations (``LLMROUTE_HOME`` moves both)."""
    home = env.get("LLMROUTE_HOME")
    if home:
        return Path(home) / "config.toml", Path(home) / "state.db"
    import platformdirs

    return (
        Path(platformdirs.user_config_dir("llmroute")) / "config.toml",
        Path(platformdirs.user_data_dir("llmroute")) / "state.db",
    )


def load_environment(cwd: Path | None = None) -> dict[str, str]:
    """The process environment over the working directory's ``.env`` (the environment wins)."""
    env = dict(os.environ)
    dotenv = (cwd or Path.cwd()) / ".env"
    if dotenv.is_file():
        from dotenv import dotenv_values

        try:
            values = dotenv_values(dotenv)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {dotenv}: {exc.__class__.__name__}") from None
        env = {**{k: v for k, v in values.items() if v is not None}, **env}
    return env


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc.__class__.__name__}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name} {_toml_position(exc)}") from None


def _toml_position(exc: tomllib.TOMLDecodeError) -> str:
    """``line 3: Expected '=' ...`` from tomllib's ``... (at line 3, column 5)``."""
    message = str(exc)
    head, sep, where = message.rpartition(" (at ")
    if sep and where.startswith("line "):
        line = where.split(",")[0]
        return f"{line}: {head}"
    return message


def load_settings(env: Mapping[str, str]) -> Settings:
    default_config, state_path = default_home(env)
    config_path = Path(env["LLMROUTE_CONFIG"]) if env.get("LLMROUTE_CONFIG") else default_config
    data = read_config_file(config_path)
    file = _ConfigFile(data, config_path.name)
    providers = _providers(file, env)
    order = _provider_order(file, env, providers)
    return Settings(
        providers=tuple(providers),
        provider_order=order,
        default_model=env.get("LLMROUTE_MODEL") or file.get_str("default_model") or DEFAULT_MODEL,
        key_selection=_key_selection(file, env),
        aliases=file.aliases(),
        max_attempts=_positive_int(env, "LLMROUTE_MAX_ATTEMPTS")
        or file.get_int("routing", "max_attempts")
        or DEFAULT_MAX_ATTEMPTS,
        timeout=_positive_float(env, "LLMROUTE_TIMEOUT") or file.get_float("routing", "timeout") or DEFAULT_TIMEOUT,
        privacy=env.get("LLMROUTE_PRIVACY") or file.get_str("routing", "privacy") or "normal",
        required_models=_required_models(file, env),
        state_path=state_path,
        config_path=config_path,
    )


def _providers(file: _ConfigFile, env: Mapping[str, str]) -> list[ProviderSettings]:
    providers = []
    for spec in _builtin_providers(env):
        section = file.section("providers", spec["name"])
        base_url = _env_first(env, spec["name"]) or section.get("base_url") or spec["base_url"]
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{file.name}: providers.{spec['name']}.base_url must be an http(s) URL")
        enabled = section.get("enabled", spec.get("enabled", True))
        if not isinstance(enabled, bool):
            raise ConfigError(f"{file.name}: providers.{spec['name']}.enabled must be true or false")
        variable = section.get("key_variable", spec["key_variable"])
        keys = discover_keys(spec["name"], variable, env) if variable else ()
        providers.append(
            ProviderSettings(
                name=spec["name"],
                protocol=spec["protocol"],
                base_url=base_url.rstrip("/"),
                key_variable=variable,
                local=spec.get("local", False),
                enabled=enabled,
                keys=keys,
            )
        )
    return providers


def _env_first(env: Mapping[str, str], provider: str) -> str | None:
    """Base-URL variables outrank the file; ``OLLAMA_HOST`` was applied to the default already."""
    variable = {"ollama": "OLLAMA_BASE_URL", "openrouter": "OPENROUTER_BASE_URL"}.get(provider)
    if provider == "local" and env.get("OLLAMA_HOST"):
        return normalize_ollama_host(env["OLLAMA_HOST"])
    return env.get(variable) if variable else None


def _provider_order(file: _ConfigFile, env: Mapping[str, str], providers: list[ProviderSettings]) -> tuple[str, ...]:
    names = [p.name for p in providers]
    order = file.get_list("routing", "provider_order") or ["ollama", "openrouter", "local"]
    unknown = [n for n in order if n not in names]
    if unknown:
        raise ConfigError(f"{file.name}: routing.provider_order names unknown provider {unknown[0]!r}")
    prefer = env.get("PREFER_OLLAMA", "").strip().lower()
    if prefer in ("0", "false", "no", "off") and "openrouter" in order and "ollama" in order:
        order.remove("openrouter")
        order.insert(order.index("ollama"), "openrouter")
    return tuple(order + [n for n in names if n not in order])


def _required_models(file: _ConfigFile, env: Mapping[str, str]) -> tuple[str, ...]:
    listed = env.get("LLMROUTE_REQUIRED_MODELS")
    if listed is not None:
        return tuple(m.strip() for m in listed.split(",") if m.strip())
    return tuple(file.get_list("required_models") or ())


def _key_selection(file: _ConfigFile, env: Mapping[str, str]) -> str:
    value = env.get("LLMROUTE_KEY_SELECTION") or file.get_str("routing", "key_selection") or "ordered"
    if value not in KEY_SELECTIONS:
        raise ConfigError(f"key selection must be one of {', '.join(KEY_SELECTIONS)}, not {value!r}")
    return value


def _positive_int(env: Mapping[str, str], name: str) -> int | None:
    value = _positive_float(env, name)
    return int(value) if value is not None else None


def _positive_float(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {raw!r}")
    return value


class _ConfigFile:
    """Typed access to the parsed TOML, with errors that name the offending key."""

    def __init__(self, data: dict[str, Any], name: str) -> None:
        self.data = data
        self.name = name

    def section(self, *path: str) -> dict[str, Any]:
        node: Any = self.data
        for part in path:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if not isinstance(node, dict):
            raise ConfigError(f"{self.name}: {'.'.join(path)} must be a table")
        return node

    def _value(self, path: tuple[str, ...], kind: type | tuple[type, ...], what: str) -> Any:
        value = self.section(*path[:-1]).get(path[-1])
        if value is None:
            return None
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{self.name}: {'.'.join(path)} must be {what}")
        return value

    def get_str(self, *path: str) -> str | None:
        return self._value(path, str, "a string")

    def get_int(self, *path: str) -> int | None:
        return self._value(path, int, "an integer")

    def get_float(self, *path: str) -> float | None:
        value = self._value(path, (int, float), "a number")
        return float(value) if value is not None else None

    def get_list(self, *path: str) -> list[str] | None:
        value = self._value(path, list, "a list of strings")
        if value is not None and not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.name}: {'.'.join(path)} must be a list of strings")
        return list(value) if value is not None else None

    def aliases(self) -> dict[str, tuple[str, ...]]:
        aliases = {}
        for name, targets in self.section("aliases").items():
            if isinstance(targets, str):
                targets = [targets]
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                raise ConfigError(f"{self.name}: aliases.{name} must be a string or a list of strings")
            aliases[name] = tuple(targets)
        return aliases
