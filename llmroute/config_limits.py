"""Resolving one setting (default < config.toml < environment) with its source, and the limit sections.

:class:`Resolver` is the one place a value is looked up: it checks the file's
and the environment's value against a :class:`Kind`, names the key or the
variable in every error, and records where the value came from. The rest of
this module reads rate limits, free-model caps, budgets, prices, the circuit
breaker and reservations, including the seed project's variables
(``OPENROUTER_DAILY_BUDGET``, ``OLLAMA_MAX_CALLS_PER_HOUR``, ...). Last, two
walks over the parsed file find keys the schema does not know and values that
look like API keys (``config.py`` turns both into warnings).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import SplitResult, urlsplit

from llmroute.errors import ConfigError
from llmroute.limits import BreakerSettings, Budget, FreeModelLimit, Limits, Price, RateLimit

DEFAULT, FILE, FLAG = "default", "file", "flag"


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Kind:
    """What a setting accepts: errors say ``<key> must be <what>``."""

    what: str
    valid: Callable[[Any], bool]
    from_text: Callable[[str], Any] = str
    """An environment variable's text to a candidate value (``ValueError`` when it cannot be one)."""
    convert: Callable[[Any], Any] = _same
    """A valid value to what :class:`Settings` holds."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _strings(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _switch(text: str) -> bool:
    """A variable's ``1/true/yes/on`` or ``0/false/no/off`` (any case)."""
    word = text.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError(text)


def split_url(value: object) -> SplitResult | None:
    """An ``http(s)://host[:port][/path]`` URL taken apart; None for anything httpx could not send to.

    Refused: another scheme, no host, a bad port, and whitespace or control characters anywhere.
    """
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        return None
    if any(c.isspace() or not c.isprintable() for c in value):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return None
    return parts if parts.hostname else None


def is_loopback(host: str | None) -> bool:
    """``localhost``, ``127.0.0.0/8`` or ``::1`` (also IPv4-mapped): traffic that never leaves the machine."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


POSITIVE_INT = Kind("a positive integer", lambda v: _integer(v) and v > 0, int)
POSITIVE_NUMBER = Kind("a positive number", lambda v: _number(v) and v > 0, float, float)
AMOUNT = Kind("a number of US dollars, 0 or more", lambda v: _number(v) and v >= 0, float, float)
RATE = Kind("a number over 0 and at most 1", lambda v: _number(v) and 0 < v <= 1, float, float)
PERCENT = Kind("a number between 0 and 100", lambda v: _number(v) and 0 < v < 100, float, float)
STRING = Kind("a non-empty string", lambda v: isinstance(v, str) and bool(v))
BOOLEAN = Kind("true or false", lambda v: isinstance(v, bool), _switch)
URL = Kind("an http(s) URL", lambda v: split_url(v) is not None, str, lambda v: v.rstrip("/"))
STRINGS = Kind("a list of strings", _strings, _comma_list, tuple)
PRICE = Kind(
    "[prompt, completion] in USD per million tokens, each 0 or more",
    lambda v: isinstance(v, list) and len(v) == 2 and all(_number(x) and x >= 0 for x in v),
    convert=lambda v: Price(prompt=float(v[0]), completion=float(v[1])),
)


UNPRICED = Kind(
    "[prompt, completion] in USD per million tokens, each over 0",
    lambda v: isinstance(v, list) and len(v) == 2 and all(_number(x) and x > 0 for x in v),
    convert=lambda v: Price(prompt=float(v[0]), completion=float(v[1])),
)


ALIAS = Kind(
    "a string or a list of strings",
    lambda v: isinstance(v, str) or _strings(v),
    convert=lambda v: (v,) if isinstance(v, str) else tuple(v),
)


def one_of(*choices: str) -> Kind:
    return Kind(f"one of {', '.join(choices)}", lambda v: v in choices)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dotted(path: Iterable[str]) -> str:
    """A TOML dotted key: ``providers.ollama.prices."gpt-oss:120b"``."""
    return ".".join(p if _BARE_KEY.fullmatch(p) else '"' + p.replace('"', '\\"') + '"' for p in path)


class Resolver:
    """Looks settings up in the environment, then the file, then the default; remembers each one's source."""

    def __init__(self, data: Mapping[str, Any], file_name: str, env: Mapping[str, str]) -> None:
        self.data = data
        self.file_name = file_name
        self.env = env
        self.sources: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def section(self, *path: str) -> dict[str, Any]:
        """The table at ``path`` (empty when absent)."""
        node: Any = self.data
        for depth, part in enumerate(path, 1):
            node = node.get(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{self.file_name}: {dotted(path[:depth])} must be a table")
        return node

    def get(
        self, *path: str, kind: Kind, env: str | None = None, default: Any = None, default_source: str = DEFAULT
    ) -> Any:
        """The variable ``env`` if set and not blank, else the file's value at ``path``, else ``default``."""
        name = dotted(path)
        raw = self.env.get(env, "").strip() if env else ""
        if env and raw:
            return self.record(name, self._from_text(env, raw, kind), f"env {env}")
        found = self.section(*path[:-1]).get(path[-1])
        if found is None:
            return self.record(name, default, default_source)
        if not kind.valid(found):
            raise ConfigError(f"{self.file_name}: {name} must be {kind.what}")
        return self.record(name, kind.convert(found), FILE)

    def record(self, name: str, value: Any, source: str) -> Any:
        self.sources[name] = source
        self.values[name] = value
        return value

    @staticmethod
    def _from_text(variable: str, raw: str, kind: Kind) -> Any:
        try:
            value = kind.from_text(raw)
        except ValueError:
            value = None
        if value is None or not kind.valid(value):
            # A value that looks like a key (a variable mixed up with another) is never echoed.
            shown = "a value that looks like an API key" if looks_like_key(raw) else repr(raw)
            raise ConfigError(f"{variable} must be {kind.what}, not {shown}")
        return kind.convert(value)


# --- the limit sections --------------------------------------------------------------------------------------

SEED_PROVIDERS = ("ollama", "openrouter")

#: The seed project's variables, by the file key each one overrides.
SEED_VARIABLES: Mapping[tuple[str, ...], str] = {
    ("alert_at_percent",): "ALERT_AT_PERCENT",
    ("budgets", "daily"): "TOTAL_DAILY_BUDGET",
    ("budgets", "monthly"): "TOTAL_MONTHLY_BUDGET",
    **{("providers", p, "budget", "daily"): f"{p.upper()}_DAILY_BUDGET" for p in SEED_PROVIDERS},
    **{("providers", p, "budget", "monthly"): f"{p.upper()}_MONTHLY_BUDGET" for p in SEED_PROVIDERS},
    **{("providers", p, "limits", "per_hour"): f"{p.upper()}_MAX_CALLS_PER_HOUR" for p in SEED_PROVIDERS},
}

RATE_FIELDS = {"per_minute": POSITIVE_INT, "per_hour": POSITIVE_INT, "per_day": POSITIVE_INT}
FREE_FIELDS = {"per_minute": POSITIVE_INT, "per_utc_day": POSITIVE_INT}
BUDGET_FIELDS = {"daily": AMOUNT, "monthly": AMOUNT}
BREAKER_FIELDS = {
    "consecutive_failures": POSITIVE_INT,
    "failure_rate": RATE,
    "min_attempts": POSITIVE_INT,
    "window": POSITIVE_NUMBER,
    "cool_off": POSITIVE_NUMBER,
}
RESERVATION_FIELDS = {"timeout": POSITIVE_NUMBER, "reserve_tokens": POSITIVE_INT, "unpriced_price": None}

#: The keys this module reads, for the unknown-key check: ``None`` is a value, ``"*"`` any name.
LIMIT_SCHEMA: dict[str, Any] = {
    "alert_at_percent": None,
    "budgets": dict.fromkeys(BUDGET_FIELDS),
    "breaker": dict.fromkeys(BREAKER_FIELDS),
    "reservations": dict.fromkeys(RESERVATION_FIELDS),
    "keys": {"*": {"limits": dict.fromkeys(RATE_FIELDS), "budget": dict.fromkeys(BUDGET_FIELDS)}},
    "pools": {"*": {"keys": None, "limits": dict.fromkeys(RATE_FIELDS)}},
}
PROVIDER_SCHEMA: dict[str, Any] = {
    "limits": dict.fromkeys(RATE_FIELDS),
    "free_limits": dict.fromkeys(FREE_FIELDS),
    "budget": dict.fromkeys(BUDGET_FIELDS),
    "prices": {"*": None},
}


def parse_limits(r: Resolver, providers: Iterable[str]) -> Limits:
    """Every limit, budget, price and threshold; keys are named by their variable (``[keys.LABEL]``)."""
    providers = tuple(providers)
    labels = tuple(r.section("keys"))
    defaults = Limits()
    return Limits(
        provider_limits=_set({p: _table(r, RateLimit, RATE_FIELDS, "providers", p, "limits") for p in providers}),
        key_limits=_set({k: _table(r, RateLimit, RATE_FIELDS, "keys", k, "limits") for k in labels}),
        pool_limits=_set({p: _table(r, RateLimit, RATE_FIELDS, "pools", p, "limits") for p in r.section("pools")}),
        free_limits=_free_limits(r, providers),
        total_budget=_table(r, Budget, BUDGET_FIELDS, "budgets"),
        provider_budgets=_set({p: _table(r, Budget, BUDGET_FIELDS, "providers", p, "budget") for p in providers}),
        key_budgets=_set({k: _table(r, Budget, BUDGET_FIELDS, "keys", k, "budget") for k in labels}),
        alert_at_percent=_get(r, "alert_at_percent", kind=PERCENT, default=defaults.alert_at_percent),
        prices={p: prices for p in providers if (prices := _prices(r, p))},
        breaker=_table(r, BreakerSettings, BREAKER_FIELDS, "breaker", defaults=BreakerSettings()),
        reservation_timeout=_get(
            r, "reservations", "timeout", kind=POSITIVE_NUMBER, default=defaults.reservation_timeout
        ),
        reserve_tokens=_get(r, "reservations", "reserve_tokens", kind=POSITIVE_INT, default=defaults.reserve_tokens),
        unpriced_price=_get(r, "reservations", "unpriced_price", kind=UNPRICED, default=defaults.unpriced_price),
    )


def _get(r: Resolver, *path: str, kind: Kind, default: Any = None) -> Any:
    return r.get(*path, kind=kind, env=SEED_VARIABLES.get(path), default=default)


def _table(r: Resolver, cls: type, fields: Mapping[str, Kind], *path: str, defaults: object = None) -> Any:
    """``cls`` built from the table at ``path``, one resolved value per field."""
    return cls(**{f: _get(r, *path, f, kind=kind, default=getattr(defaults, f, None)) for f, kind in fields.items()})


def _set(tables: Mapping[str, Any]) -> dict[str, Any]:
    """Only the scopes that limit something (an empty :class:`RateLimit` or :class:`Budget` is falsy)."""
    return {name: table for name, table in tables.items() if table}


def _free_limits(r: Resolver, providers: tuple[str, ...]) -> dict[str, FreeModelLimit]:
    """OpenRouter's documented caps unless overridden; other providers only when the file sets some.

    A daily cap the user sets wins over the one the provider reports for a key; the documented default does not.
    """
    defaults = Limits().free_limits
    found = {}
    for p in providers:
        if p in defaults or r.section("providers", p, "free_limits"):
            limit = _table(r, FreeModelLimit, FREE_FIELDS, "providers", p, "free_limits", defaults=defaults.get(p))
            chosen = r.sources[dotted(("providers", p, "free_limits", "per_utc_day"))] != DEFAULT
            if limit.per_minute is not None or limit.per_utc_day is not None:
                found[p] = replace(limit, reported_wins=not chosen)
    return found


def parse_pools(r: Resolver, variables: Mapping[str, str]) -> dict[str, str]:
    """Key label -> the name of the quota pool the file puts it in (``[pools.NAME] keys = [...]``).

    ``variables`` maps each provider to its key variable: a label must follow one of them
    (``VARIABLE`` or ``VARIABLE_N``), a pool holds keys of one provider, and a key sits in one pool.
    """
    found: dict[str, str] = {}
    for name in r.section("pools"):
        labels = r.get("pools", name, "keys", kind=STRINGS, default=())
        setting = f"{dotted(('pools', name, 'keys'))}"
        if not labels:
            raise ConfigError(f"{r.file_name}: {setting} must list the key variables of the pool")
        providers = set()
        for label in labels:
            provider = next((p for p, v in variables.items() if re.fullmatch(rf"{re.escape(v)}(_\d+)?", label)), None)
            if provider is None:
                known = ", ".join(f"{v}, {v}_N" for v in variables.values())
                raise ConfigError(f"{r.file_name}: {setting} names {label!r}, which is no key variable ({known})")
            if label in found:
                raise ConfigError(f"{r.file_name}: {label} is in two pools ({found[label]} and {name})")
            providers.add(provider)
            found[label] = name
        if len(providers) > 1:
            raise ConfigError(f"{r.file_name}: {setting} mixes keys of {' and '.join(sorted(providers))}")
    return found


def _prices(r: Resolver, provider: str) -> dict[str, Price]:
    models = r.section("providers", provider, "prices")
    return {model: r.get("providers", provider, "prices", model, kind=PRICE) for model in models}


# --- what the file holds ---------------------------------------------------------------------------------------


def unknown_keys(data: Mapping[str, Any], schema: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[str]:
    """Dotted names in ``data`` that ``schema`` does not know (a table's contents are checked only if it is one)."""
    for key, value in data.items():
        if key not in schema and "*" not in schema:
            yield dotted((*path, key))
            continue
        inner = schema.get(key, schema.get("*"))
        if isinstance(inner, dict) and isinstance(value, dict):
            yield from unknown_keys(value, inner, (*path, key))


_KEYISH = re.compile(r"[A-Za-z0-9_.\-]{31,}")
_UNBROKEN = re.compile(r"[A-Za-z0-9]{16,}")


def looks_like_key(text: str) -> bool:
    """``sk-…``, or over 30 key-ish characters with a long unbroken run (long model names have none). A plain
    URL (no query, no user info) is no key, however long its host name (``generativelanguage.googleapis.com``)."""
    parts = split_url(text)
    if parts is not None and not parts.query and not parts.username and not parts.password:
        return False
    return text.startswith("sk-") or any(_UNBROKEN.search(m.group()) for m in _KEYISH.finditer(text))


def secret_like(node: Any) -> Iterator[tuple[str, str]]:
    """``(where, value)`` of each string that looks like a key: the dotted key is for messages, the value only
    for redaction (it is never shown). Table names count too. Iterative, with each path kept as a link to its
    parent's, so that a file nesting tables thousands deep costs time in proportion to its size."""
    stack: list[tuple[Any, tuple[str, Any] | None]] = [(node, None)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key, value in reversed(item.items()):
                stack.append((value, (key, path)))
                if looks_like_key(key):
                    stack.append((key, (key, path)))
        elif isinstance(item, list):
            stack.extend((value, path) for value in reversed(item))
        elif isinstance(item, str) and looks_like_key(item):
            parts: list[str] = []
            while path is not None:
                parts.append(path[0])
                path = path[1]
            yield dotted(reversed(parts)), item
