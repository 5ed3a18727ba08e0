"""Effective settings: defaults < config.toml < environment (and ./.env) < flags.

Flags are applied by the caller (the CLI) on top of :func:`load_settings`, with
:meth:`Settings.with_overrides`. The config file never needs to hold a secret;
keys come from the environment. Every scalar setting is resolved through one
:class:`~llmroute.config_limits.Resolver`, which records where its value came from.
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmroute.config_limits import (
    ALIAS,
    BOOLEAN,
    DEFAULT,
    FLAG,
    LIMIT_SCHEMA,
    POSITIVE_INT,
    POSITIVE_NUMBER,
    PROVIDER_SCHEMA,
    STRING,
    STRINGS,
    URL,
    Resolver,
    is_loopback,
    one_of,
    parse_limits,
    parse_pools,
    secret_like,
    split_url,
    unknown_keys,
)
from llmroute.errors import ConfigError
from llmroute.keys import ApiKey, KeySlot, discover_keys, redact
from llmroute.limits import Limits

log = logging.getLogger("llmroute")

DEFAULT_MODEL = "gpt-oss:120b"
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_ORDER = ("ollama", "openrouter", "local")
KEY_SELECTIONS = ("ordered", "round-robin")
PRIVACY_LEVELS = ("normal", "critical")

#: The :class:`Settings` fields a command-line flag may override, by their setting name.
FLAG_SETTINGS = {
    "default_model": "default_model",
    "provider_order": "routing.provider_order",
    "key_selection": "routing.key_selection",
    "max_attempts": "routing.max_attempts",
    "timeout": "routing.timeout",
    "privacy": "routing.privacy",
    "required_models": "required_models",
}


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
    pools: Mapping[str, str] = field(default_factory=dict)
    """Key label -> the name of the quota pool it shares (``[pools.NAME]``); a key not listed is its own pool."""
    state_path: Path = Path("state.db")
    config_path: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    """Setting name (the file's dotted key) -> ``default``, ``file``, ``env VARIABLE`` or ``flag``."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """Setting name -> its effective value: the flat view ``llmroute config`` prints."""
    file_secrets: tuple[str, ...] = ()
    """Strings in the config file that look like API keys: warned about, and masked wherever they are shown."""

    def provider(self, name: str) -> ProviderSettings | None:
        return next((p for p in self.providers if p.name == name), None)

    @property
    def keys(self) -> tuple[ApiKey, ...]:
        return tuple(k for p in self.providers for k in p.keys)

    def slots(self, name: str) -> tuple[KeySlot, ...]:
        """The key slots of a provider, in key order: one per key, or one keyless slot for a local daemon."""
        provider = self.provider(name)
        if provider is None:
            return ()
        if provider.key_variable is None:
            return (KeySlot(name, None, base_url=provider.base_url),)
        return tuple(KeySlot(name, key, self._pool(key.label), provider.base_url) for key in provider.keys)

    def all_slots(self, *, enabled_only: bool = True) -> tuple[KeySlot, ...]:
        return tuple(s for p in self.providers if p.enabled or not enabled_only for s in self.slots(p.name))

    def pool_members(self, slot: KeySlot) -> tuple[str, ...]:
        """The ids of every slot in ``slot``'s quota pool (itself alone by default)."""
        if not slot.pool:
            return (slot.id,)
        return tuple(s.id for s in self.slots(slot.provider) if s.pool == slot.pool)

    def _pool(self, label: str) -> str:
        name = self.pools.get(label)
        return f"pool:{name}" if name else ""

    def with_overrides(self, **changes: Any) -> Settings:
        """The settings with the flags that were given (``None`` = not given), recorded as source ``flag``."""
        given = {k: v for k, v in changes.items() if v is not None}
        flagged = {FLAG_SETTINGS[k]: v for k, v in given.items() if k in FLAG_SETTINGS}
        return replace(
            self,
            **given,
            sources={**self.sources, **dict.fromkeys(flagged, FLAG)},
            values={**self.values, **flagged},
        )


#: The built-in providers with their defaults; ``local`` is opt-in (``OLLAMA_HOST`` or the file) because
#: contacting localhost costs a round trip per request when nothing listens.
BUILTIN_PROVIDERS = (
    ProviderSettings("ollama", "ollama", "https://ollama.com", "OLLAMA_API_KEY"),
    ProviderSettings("openrouter", "openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    ProviderSettings("local", "ollama", "http://localhost:11434", None, local=True, enabled=False),
)
URL_VARIABLES = {"ollama": "OLLAMA_BASE_URL", "openrouter": "OPENROUTER_BASE_URL", "local": "OLLAMA_HOST"}
INSECURE_VARIABLE = "LLMROUTE_ALLOW_INSECURE_HTTP"


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


HOST = replace(URL, from_text=normalize_ollama_host)


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


def config_paths(env: Mapping[str, str]) -> tuple[Path, Path]:
    """The config file (``LLMROUTE_CONFIG`` names another) and the state file."""
    default_config, state_path = default_home(env)
    return (Path(env["LLMROUTE_CONFIG"]) if env.get("LLMROUTE_CONFIG") else default_config), state_path


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
        raise ConfigError(f"{path.name} {_toml_position(exc)} (in {path})") from None
    except RecursionError:
        raise ConfigError(f"{path.name}: arrays or tables nested too deeply (in {path})") from None


def _toml_position(exc: tomllib.TOMLDecodeError) -> str:
    """``line 3: Expected '=' ...`` from tomllib's ``... (at line 3, column 5)``."""
    message = str(exc)
    head, sep, where = message.rpartition(" (at ")
    if sep and where.startswith("line "):
        line = where.split(",")[0]
        return f"{line}: {head}"
    return message


def load_settings(env: Mapping[str, str]) -> Settings:
    config_path, state_path = config_paths(env)
    data = read_config_file(config_path)
    file_secrets = check_config_file(config_path, data)
    r = Resolver(data, config_path.name, env)
    providers = tuple(_provider(r, spec) for spec in BUILTIN_PROVIDERS)
    names = [p.name for p in providers]
    return Settings(
        providers=providers,
        provider_order=_provider_order(r, names),
        default_model=r.get("default_model", kind=STRING, env="LLMROUTE_MODEL", default=DEFAULT_MODEL),
        key_selection=r.get(
            "routing", "key_selection", kind=one_of(*KEY_SELECTIONS), env="LLMROUTE_KEY_SELECTION", default="ordered"
        ),
        aliases={name: r.get("aliases", name, kind=ALIAS) for name in r.section("aliases")},
        max_attempts=r.get(
            "routing", "max_attempts", kind=POSITIVE_INT, env="LLMROUTE_MAX_ATTEMPTS", default=DEFAULT_MAX_ATTEMPTS
        ),
        timeout=r.get("routing", "timeout", kind=POSITIVE_NUMBER, env="LLMROUTE_TIMEOUT", default=DEFAULT_TIMEOUT),
        privacy=r.get("routing", "privacy", kind=one_of(*PRIVACY_LEVELS), env="LLMROUTE_PRIVACY", default="normal"),
        required_models=r.get("required_models", kind=STRINGS, env="LLMROUTE_REQUIRED_MODELS", default=()),
        limits=parse_limits(r, names),
        pools=parse_pools(r, {p.name: p.key_variable for p in providers if p.key_variable}),
        state_path=state_path,
        config_path=config_path,
        sources=r.sources,
        values=r.values,
        file_secrets=file_secrets,
    )


def _provider(r: Resolver, spec: ProviderSettings) -> ProviderSettings:
    name, variable = spec.name, URL_VARIABLES[spec.name]
    base_url = r.get(
        "providers", name, "base_url", kind=HOST if spec.local else URL, env=variable, default=spec.base_url
    )
    # OLLAMA_HOST only implies the local provider is wanted, so the file's ``enabled`` outranks it.
    implied = spec.local and bool(r.env.get(variable, "").strip())
    enabled = r.get(
        "providers",
        name,
        "enabled",
        kind=BOOLEAN,
        default=spec.enabled or implied,
        default_source=f"env {variable}" if implied else DEFAULT,
    )
    key_variable = r.get("providers", name, "key_variable", kind=STRING, default=spec.key_variable)
    keys = discover_keys(name, key_variable, r.env) if key_variable else ()
    if not spec.local:
        _refuse_plain_http(r, name, base_url, enabled)
    return replace(spec, base_url=base_url, enabled=enabled, key_variable=key_variable, keys=keys)


def _refuse_plain_http(r: Resolver, name: str, base_url: str, enabled: bool) -> None:
    """A cloud provider gets the key and the prompt: plain http only to this machine, or when allowed.

    The local provider is exempt (it is the user's own daemon, wherever it runs).
    """
    allowed = r.get("providers", name, "allow_insecure_http", kind=BOOLEAN, env=INSECURE_VARIABLE, default=False)
    parts = split_url(base_url)
    if not enabled or allowed or parts is None or parts.scheme != "http" or is_loopback(parts.hostname):
        return
    setting = f"providers.{name}.base_url"
    source = r.sources[setting]
    where = source.removeprefix("env ") if source.startswith("env ") else f"{r.file_name}: {setting}"
    origin = f"http://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    raise ConfigError(
        f"{where} is plain http ({origin}): {name} would get your API key and prompts unencrypted; "
        f"use https://, or allow it with allow_insecure_http = true in [providers.{name}] "
        f"or {INSECURE_VARIABLE}=1"
    )


def _provider_order(r: Resolver, names: Sequence[str]) -> tuple[str, ...]:
    setting = "routing.provider_order"
    order = list(r.get("routing", "provider_order", kind=STRINGS, default=DEFAULT_ORDER))
    unknown = [n for n in order if n not in names]
    if unknown:
        raise ConfigError(f"{r.file_name}: {setting} names unknown provider {unknown[0]!r}")
    source = r.sources[setting]
    prefer = r.env.get("PREFER_OLLAMA", "").strip().lower()
    if prefer in ("0", "false", "no", "off") and "openrouter" in order and "ollama" in order:
        if order.index("openrouter") > order.index("ollama"):
            source = "env PREFER_OLLAMA"
        order.remove("openrouter")
        order.insert(order.index("ollama"), "openrouter")
    return r.record(setting, tuple(order + [n for n in names if n not in order]), source)


# --- warnings about the file ----------------------------------------------------------------------------------


def check_config_file(path: Path, data: Mapping[str, Any]) -> tuple[str, ...]:
    """Warn (never fail) about unknown keys, what looks like a secret, and a file others can read.

    Returns the strings that look like keys, so that callers mask them wherever they are shown;
    the warnings themselves name where they sit, masked too when a table's name is the key.
    """
    found = list(secret_like(data))
    secrets = tuple(dict.fromkeys(value for _, value in found))
    for name in unknown_keys(data, _schema()):
        log.warning("%s: unknown key %s (ignored)", path.name, redact(name, secrets))
    for where in dict.fromkeys(where for where, _ in found):
        log.warning(
            "%s holds what looks like an API key at %s; keep keys in the environment",
            path.name,
            redact(where, secrets),
        )
    mode = _mode(path)
    if mode is not None and mode & 0o077:
        log.warning("%s is readable or writable by other users (mode %04o); run: chmod 600 %s", path.name, mode, path)
    return secrets


def _schema() -> dict[str, Any]:
    local = {"base_url": None, "enabled": None, "key_variable": None, **PROVIDER_SCHEMA}
    cloud = {**local, "allow_insecure_http": None}
    routing = ("provider_order", "key_selection", "max_attempts", "timeout", "privacy")
    return {
        "default_model": None,
        "required_models": None,
        "routing": dict.fromkeys(routing),
        "aliases": {"*": None},
        "providers": {spec.name: local if spec.local else cloud for spec in BUILTIN_PROVIDERS},
        **LIMIT_SCHEMA,
    }


def _mode(path: Path) -> int | None:
    """The file's permission bits on POSIX; None when it is missing or permissions mean nothing here."""
    if os.name != "posix":
        return None
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
