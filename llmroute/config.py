"""Effective settings: defaults < config.toml < environment (and ./.env) < flags.

Flags are applied by the caller (the CLI) on top of :func:`load_settings`, with
:meth:`Settings.with_overrides`. The config file never needs to hold a secret;
keys come from the environment. Every scalar setting is resolved through one
:class:`~llmroute.config_limits.Resolver`, which records where its value came from.
"""

from __future__ import annotations

import functools
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
    FLAG,
    LIMIT_SCHEMA,
    POSITIVE_INT,
    POSITIVE_NUMBER,
    STRING,
    STRINGS,
    Resolver,
    one_of,
    parse_limits,
    parse_pools,
    secret_like,
    unknown_keys,
)
from llmroute.config_providers import (
    BUILTIN_PROVIDERS,
    ProviderSettings,
    builtin_provider,
    custom_providers,
    provider_schema,
)
from llmroute.errors import ConfigError
from llmroute.keys import ApiKey, KeySlot, redact
from llmroute.limits import Limits

log = logging.getLogger("llmroute")

DEFAULT_MODEL = "gpt-oss:120b"
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_KEEP_DAYS = 90
"""Days raw attempts stay in the ledger (``[ledger] keep_days``); their daily totals are kept for good."""
DEFAULT_ORDER = ("ollama", "openai", "azure", "anthropic", "gemini", "bedrock", "openrouter", "cloudflare", "local")
"""Vendors' own endpoints before the aggregator, the local daemon last (``--privacy critical`` aside)."""
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
    "keep_days": "ledger.keep_days",
}


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
    keep_days: int = DEFAULT_KEEP_DAYS
    """Raw attempts older than this many days are pruned (``[ledger] keep_days``, ``LLMROUTE_KEEP_DAYS``)."""
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
        return self._by_name.get(name)

    @functools.cached_property
    def _by_name(self) -> dict[str, ProviderSettings]:
        """Providers by name, built once: every attempt's plan and gate look providers up."""
        return {p.name: p for p in self.providers}

    @functools.cached_property
    def _slots(self) -> dict[str, tuple[KeySlot, ...]]:
        """Each provider's slots, built once: the same objects (their cached fingerprints, endpoints and masks
        with them) serve every request."""
        return {p.name: self._slots_of(p) for p in self.providers}

    @property
    def keys(self) -> tuple[ApiKey, ...]:
        return tuple(k for p in self.providers for k in p.keys)

    def slots(self, name: str) -> tuple[KeySlot, ...]:
        """The key slots of a provider, in key order: one per key, or one keyless slot for a local daemon."""
        return self._slots.get(name, ())

    def _slots_of(self, provider: ProviderSettings) -> tuple[KeySlot, ...]:
        if provider.key_variable is None:
            return (KeySlot(provider.name, None, base_url=provider.base_url),)
        return tuple(
            KeySlot(
                provider.name,
                key,
                self._pool(provider, key.label),
                provider.base_url,
                provider.accounts.get(key.label, ""),
            )
            for key in provider.keys
        )

    def all_slots(self, *, enabled_only: bool = True) -> tuple[KeySlot, ...]:
        return tuple(s for p in self.providers if p.enabled or not enabled_only for s in self.slots(p.name))

    def pool_members(self, slot: KeySlot) -> tuple[str, ...]:
        """The ids of every slot in ``slot``'s quota pool (itself alone by default)."""
        if not slot.pool:
            return (slot.id,)
        return tuple(s.id for s in self.slots(slot.provider) if s.pool == slot.pool)

    def _pool(self, provider: ProviderSettings, label: str) -> str:
        """The declared pool, else a Cloudflare key's account (its daily allocation is the account's), else none."""
        name = self.pools.get(label)
        if name:
            return f"pool:{name}"
        account = provider.accounts.get(label) if provider.protocol == "cloudflare" else None
        return f"pool:cloudflare-{account[:8]}" if account else ""

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
    builtin = tuple(builtin_provider(r, spec) for spec in BUILTIN_PROVIDERS)
    providers = builtin + custom_providers(r, {p.name for p in builtin})
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
        keep_days=r.get("ledger", "keep_days", kind=POSITIVE_INT, env="LLMROUTE_KEEP_DAYS", default=DEFAULT_KEEP_DAYS),
        limits=parse_limits(r, names),
        pools=parse_pools(r, {p.name: p.key_variable for p in providers if p.key_variable}),
        state_path=state_path,
        config_path=config_path,
        sources=r.sources,
        values=r.values,
        file_secrets=file_secrets,
    )


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _provider_order(r: Resolver, names: Sequence[str]) -> tuple[str, ...]:
    setting = "routing.provider_order"
    order = list(r.get("routing", "provider_order", kind=STRINGS, default=DEFAULT_ORDER))
    if not order:
        raise ConfigError(f"{r.file_name}: {setting} is empty; name at least one provider or remove the key")
    unknown = [n for n in order if n not in names]
    if unknown:
        raise ConfigError(f"{r.file_name}: {setting} names unknown provider {unknown[0]!r}")
    source = r.sources[setting]
    prefer = r.env.get("PREFER_OLLAMA", "").strip().lower()
    if prefer not in ("", *_TRUE, *_FALSE):
        raise ConfigError(
            f"PREFER_OLLAMA must be true or false (1/0, yes/no, on/off), not {r.env['PREFER_OLLAMA'].strip()!r}"
        )
    if prefer in _FALSE and "openrouter" in order and "ollama" in order:
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
    routing = ("provider_order", "key_selection", "max_attempts", "timeout", "privacy")
    return {
        "default_model": None,
        "required_models": None,
        "routing": dict.fromkeys(routing),
        "ledger": {"keep_days": None},
        "aliases": {"*": None},
        "providers": provider_schema(),
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
