"""``llmroute config path | init | show``: where the files live, a starter config.toml, the effective settings.

``app.py`` imports this module on every run to register the sub-app, so only
Typer is imported here at module level; each command imports its work when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from llmroute.cli.environment import Environment
    from llmroute.cli.failures import ExitStatus
    from llmroute.config import ProviderSettings, Settings

config_app = typer.Typer(
    help="Where the configuration lives, a starter config.toml, and the effective settings with their sources.",
    no_args_is_help=True,
)


@config_app.command("path")
def path_command(ctx: typer.Context) -> None:
    """Print the config file and the state file paths, and whether each exists."""
    from llmroute.cli.app import _run

    _run(ctx, False, lambda environment, env: print_paths(env, environment), needs_settings=False)


@config_app.command("init")
def init_command(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing config file.")] = False,
) -> None:
    """Write a commented starter config.toml from the keys, URLs and variables found (never a secret)."""
    from llmroute.cli.app import _run

    _run(ctx, False, lambda environment, settings: init(settings, environment, force=force))


@config_app.command("show")
def show_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Print every effective setting with its source (default, file, env VARIABLE, flag), and the keys, masked."""
    from llmroute.cli.app import _run

    _run(ctx, False, lambda environment, settings: show(settings, environment, as_json=as_json))


# --- path ------------------------------------------------------------------------------------------------------


def print_paths(env: Mapping[str, str], environment: Environment) -> ExitStatus:
    """Works even when the config file is broken: that is when its path is wanted most."""
    from llmroute.cli.failures import ExitStatus
    from llmroute.config import config_paths

    for label, path in zip(("config", "state"), config_paths(env), strict=True):
        state = "exists" if path.exists() else "missing"
        environment.stdout.write(f"{label}: {path} ({state})\n")
    return ExitStatus.OK


# --- init ------------------------------------------------------------------------------------------------------

_HEADER = """\
# llmroute configuration, written by `llmroute config init`.
# Precedence: defaults < this file < environment (and ./.env) < command-line flags.
# API keys stay in the environment (OPENROUTER_API_KEY_1, OLLAMA_API_KEY, ...): never put one here.
# `llmroute config show` prints every effective value and where it came from; the README documents each key.
"""


def _example_tables() -> tuple[tuple[str, tuple[str, ...], dict[str, Any]], ...]:
    """Commented-out examples: (what it means, where it goes, an example table); defaults where there are some."""
    from dataclasses import asdict

    from llmroute.config import DEFAULT_KEEP_DAYS
    from llmroute.limits import BreakerSettings, Limits

    defaults = Limits()
    return (
        (
            "Total spend allowed, USD per UTC day and calendar month (0 = nothing may be spent).",
            ("budgets",),
            {"daily": 5.0, "monthly": 50.0},
        ),
        (
            "Calls allowed per sliding minute, hour and 24 hours, per provider.",
            ("providers", "openrouter", "limits"),
            {"per_minute": 60, "per_hour": 1000, "per_day": 5000},
        ),
        (
            "Caps on :free models (default: OpenRouter's own, 20 a minute and 50 a UTC day).",
            ("providers", "openrouter", "free_limits"),
            {"per_minute": 20, "per_utc_day": 1000},
        ),
        ("Spend allowed per provider, USD.", ("providers", "openrouter", "budget"), {"daily": 2.0, "monthly": 20.0}),
        (
            'USD per million tokens [prompt, completion] where the provider publishes no price; "*" = any other model.',
            ("providers", "ollama", "prices"),
            {"gpt-oss:120b": [0.1, 0.5], "*": [0.2, 0.8]},
        ),
        ("Per key, named by its variable.", ("keys", "{label}", "limits"), {"per_minute": 10}),
        ("", ("keys", "{label}", "budget"), {"daily": 1.0}),
        (
            "Any OpenAI-compatible endpoint, reached as NAME:model (keys in key_variable, _1, _2, ...).",
            ("providers", "groq"),
            {"protocol": "openai", "base_url": "https://api.groq.com/openai/v1", "key_variable": "GROQ_API_KEY"},
        ),
        (
            "",
            ("providers", "deepseek"),
            {"protocol": "openai", "base_url": "https://api.deepseek.com/v1", "key_variable": "DEEPSEEK_API_KEY"},
        ),
        (
            "A server on this machine (no key): counts as local for --privacy critical.",
            ("providers", "lmstudio"),
            {"protocol": "openai", "base_url": "http://localhost:1234/v1", "local": True},
        ),
        (
            "Azure OpenAI serves models through deployments you named: map model names to them.",
            ("providers", "azure", "deployments"),
            {"gpt-4o-mini": "prod-gpt4o-mini"},
        ),
        (
            "Keys that share one quota (one account, project or organization) form a pool: free-model caps,\n"
            "quota cooldowns and the pool's own limits count once for all of them. By default each key is its own.",
            ("pools", "personal"),
            {"keys": ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2"], "limits": {"per_minute": 20}},
        ),
        (
            "Circuit breaker (the defaults): open after N consecutive failures, or when failure_rate of at least\n"
            "min_attempts attempts in the last `window` seconds failed; one trial request after cool_off seconds.",
            ("breaker",),
            asdict(BreakerSettings()),
        ),
        (
            "Seconds before a crashed run's reservation is released; output tokens assumed when a request\n"
            "sets no max_tokens (for the worst-case cost reserved against budgets); the price, USD per million\n"
            "tokens [prompt, completion], assumed for a model with no known price. The defaults.",
            ("reservations",),
            {
                "timeout": defaults.reservation_timeout,
                "reserve_tokens": defaults.reserve_tokens,
                "unpriced_price": [defaults.unpriced_price.prompt, defaults.unpriced_price.completion],
            },
        ),
        (
            "Days raw attempts stay in the ledger (the default); older ones are pruned once a day and by\n"
            "`llmroute prune`, leaving their daily totals, so `costs` over any period is unchanged.",
            ("ledger",),
            {"keep_days": DEFAULT_KEEP_DAYS},
        ),
    )


def init(settings: Settings, environment: Environment, *, force: bool) -> ExitStatus:
    from llmroute.cli.failures import ExitStatus, UsageProblem

    path = settings.config_path or Path("config.toml")
    if path.exists() and not force:
        raise UsageProblem(f"{path} exists; use --force to replace it")
    write_private(path, starter_config(settings))
    environment.stdout.write(f"{path}\n")
    return ExitStatus.OK


def starter_config(settings: Settings) -> str:
    """The file's text: what was discovered as data (via tomli-w), examples as comments."""
    seeds = _seeded(settings)
    top: dict[str, Any] = {"default_model": settings.default_model}
    if "alert_at_percent" in seeds:
        top["alert_at_percent"] = seeds.pop("alert_at_percent")
    if settings.required_models:
        top["required_models"] = list(settings.required_models)
    parts = [_HEADER, _toml(top)]
    if "alert_at_percent" not in top:
        parts.append(_commented("alert_at_percent = 75   # warn when a budget is this % spent (the default)"))
    routing = {"provider_order": list(settings.provider_order), "key_selection": settings.key_selection}
    optional = {"max_attempts": settings.max_attempts, "timeout": settings.timeout, "privacy": settings.privacy}
    parts += [_toml({"routing": routing}) + _commented(_toml(optional))]
    seeded = seeds.get("providers", {})
    parts += [_provider_block(provider, seeded.get(provider.name, {})) for provider in settings.providers]
    if "budgets" in seeds:
        parts.append(_toml({"budgets": seeds["budgets"]}))
    parts.append(_examples(settings, seeds))
    return "\n".join(p.rstrip("\n") + "\n" for p in parts if p)


def _provider_block(provider: ProviderSettings, seeded: dict[str, Any]) -> str:
    """A provider's table when it has keys, is enabled locally, or a seed variable set one of its limits."""
    name = provider.name
    labels = ", ".join(k.label for k in provider.keys)
    if provider.local:
        wanted = provider.enabled
        note = "Local Ollama." if wanted else "Local Ollama: set OLLAMA_HOST, or uncomment to enable it."
        table = {"enabled": True, "base_url": provider.base_url}
    else:
        wanted = bool(provider.keys)
        note = f"Keys found: {labels} (they stay in the environment)." if wanted else f"No {name} key found."
        table = {"base_url": provider.base_url, "key_variable": provider.key_variable}
    table = {k: v for k, v in table.items() if v not in (None, "")}
    text = _toml({"providers": {name: {**table, **seeded}}})
    if wanted or seeded:
        return _commented(note) + text
    return _commented(note) + _commented(_toml({"providers": {name: table}}))


def _seeded(settings: Settings) -> dict[str, Any]:
    """The seed project's variables that are set, as the file's nested keys."""
    from llmroute.config_limits import SEED_VARIABLES, dotted

    data: dict[str, Any] = {}
    for path, variable in SEED_VARIABLES.items():
        name = dotted(path)
        if settings.sources.get(name) == f"env {variable}":
            node = data
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = settings.values[name]
    return data


def _examples(settings: Settings, seeds: dict[str, Any]) -> str:
    label = next((k.label for k in settings.keys), "OPENROUTER_API_KEY_1")
    blocks = [_commented("Limits, budgets, prices and the circuit breaker: uncomment and edit to use.")]
    for meaning, path, table in _example_tables():
        path = tuple(part.format(label=label) for part in path)
        if _has(seeds, path):
            continue
        nested: dict[str, Any] = table
        for part in reversed(path):
            nested = {part: nested}
        blocks.append((_commented(meaning) if meaning else "") + _commented(_toml(nested)))
    return "\n".join(blocks)


def _has(data: dict[str, Any], path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _toml(data: dict[str, Any]) -> str:
    import tomli_w

    return tomli_w.dumps(data)


def _commented(text: str) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in text.rstrip("\n").splitlines())


def write_private(path: Path, text: str) -> None:
    """Atomically, readable by the owner only (mode 0600), creating the directories."""
    import os
    import tempfile

    from llmroute.errors import ConfigError

    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc.__class__.__name__}") from None


# --- show ------------------------------------------------------------------------------------------------------


def show(settings: Settings, environment: Environment, *, as_json: bool) -> ExitStatus:
    from llmroute.cli.failures import ExitStatus

    if as_json:
        import json

        environment.stdout.write(json.dumps(config_document(settings), ensure_ascii=False, indent=2) + "\n")
    else:
        _print_tables(settings, environment)
    return ExitStatus.OK


def config_document(settings: Settings) -> dict[str, Any]:
    return {
        "settings": {
            name: {"value": _plain(settings.values.get(name)), "source": source}
            for name, source in sorted(settings.sources.items())
        },
        "keys": [
            {"provider": k.provider, "label": k.label, "mask": k.mask(), "fingerprint": k.fingerprint}
            for k in settings.keys
        ],
        "config_path": str(settings.config_path) if settings.config_path else None,
        "state_path": str(settings.state_path),
    }


def _plain(value: Any) -> Any:
    """JSON-ready: tuples as lists, a :class:`Price` as ``[prompt, completion]``."""
    from llmroute.limits import Price

    if isinstance(value, Price):
        return [value.prompt, value.completion]
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _text(value: Any) -> str:
    from llmroute.cli.render import DASH

    value = _plain(value)
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "(none)"
    return str(value)


def _print_tables(settings: Settings, environment: Environment) -> None:
    from rich.text import Text

    from llmroute.cli import render

    out = environment.stdout
    console = render.console(environment, out)
    settings_table = render.table(environment, out, "setting", "value", "source")
    for name, source in sorted(settings.sources.items()):
        settings_table.add_row(Text(name), Text(_text(settings.values.get(name))), Text(source))
    console.print(settings_table)
    keys_table = render.table(environment, out, "provider", "key", "mask")
    for key in settings.keys:
        keys_table.add_row(Text(key.provider), Text(key.label), Text(key.mask()))
    out.write("\n")
    if settings.keys:
        console.print(keys_table)
    else:
        out.write("no API keys found in the environment\n")
    out.write(f"\nconfig: {settings.config_path}\nstate: {settings.state_path}\n")
