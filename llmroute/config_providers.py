"""The providers: built-in ones with their variables and defaults, custom OpenAI-compatible endpoints from the
config file, and what some providers need beside a key (Cloudflare's account id, Azure's deployments).

Every base URL is overridable (that is also how the tests reach fakes on loopback); plain ``http://`` is
refused for a provider that is not local unless the host is loopback or the user allows it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from llmroute.config_limits import (
    BOOLEAN,
    DEFAULT,
    PROVIDER_SCHEMA,
    STRING,
    URL,
    Kind,
    Resolver,
    dotted,
    is_loopback,
    one_of,
    split_url,
)
from llmroute.errors import ConfigError
from llmroute.keys import ApiKey, discover_keys

log = logging.getLogger("llmroute")


@dataclass(frozen=True)
class ProviderSettings:
    name: str
    protocol: str
    """Wire protocol, the adapter to use: ``openrouter``, ``ollama``, ``openai``, ``azure`` or ``cloudflare``."""
    base_url: str
    key_variable: str | None
    local: bool = False
    """Runs on the user's machine: counts as local for ``--privacy critical``."""
    enabled: bool = True
    keys: tuple[ApiKey, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    """Extra request headers (a custom provider's)."""
    deployments: Mapping[str, str] = field(default_factory=dict)
    """Azure: model name -> deployment name, so that aliases reach deployments."""
    accounts: Mapping[str, str] = field(default_factory=dict)
    """Key label -> the account the key is paired with: Cloudflare's account id, an AWS access key id."""
    region: str = ""
    """AWS: the region requests are signed for."""


#: The built-in providers with their defaults; ``local`` is opt-in (``OLLAMA_HOST`` or the file) because
#: contacting localhost costs a round trip per request when nothing listens; ``azure`` needs its endpoint.
BUILTIN_PROVIDERS = (
    ProviderSettings("ollama", "ollama", "https://ollama.com", "OLLAMA_API_KEY"),
    ProviderSettings("openrouter", "openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    ProviderSettings("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    ProviderSettings("azure", "azure", "", "AZURE_OPENAI_API_KEY", enabled=False),
    ProviderSettings("cloudflare", "cloudflare", "https://api.cloudflare.com/client/v4", "CLOUDFLARE_API_TOKEN"),
    ProviderSettings("anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    ProviderSettings("gemini", "gemini", "https://generativelanguage.googleapis.com/v1beta", "GEMINI_API_KEY"),
    ProviderSettings("bedrock", "bedrock", "", "AWS_ACCESS_KEY_ID", enabled=False),
    ProviderSettings("local", "ollama", "http://localhost:11434", None, local=True, enabled=False),
)
URL_VARIABLES = {
    "ollama": "OLLAMA_BASE_URL",
    "openrouter": "OPENROUTER_BASE_URL",
    "openai": "OPENAI_BASE_URL",
    "azure": "AZURE_OPENAI_ENDPOINT",
    "cloudflare": "CLOUDFLARE_BASE_URL",
    "anthropic": "ANTHROPIC_BASE_URL",
    "gemini": "GEMINI_BASE_URL",
    "bedrock": "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "local": "OLLAMA_HOST",
}
#: Other names some setups give a provider's keys, read after the conventional one.
KEY_ALIASES = {"cloudflare": ("CLOUDFLARE_API_KEY",), "gemini": ("GOOGLE_API_KEY",)}
AWS_SECRET, AWS_TOKEN, AWS_BEARER = "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"
AWS_REGIONS = ("AWS_REGION", "AWS_DEFAULT_REGION")
CLOUDFLARE_ACCOUNT = "CLOUDFLARE_ACCOUNT_ID"
INSECURE_VARIABLE = "LLMROUTE_ALLOW_INSECURE_HTTP"
CUSTOM_PROTOCOLS = ("openai",)
_CUSTOM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")


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
HEADERS = Kind(
    "a table of header names to string values",
    lambda v: isinstance(v, dict) and all(_HEADER_NAME.fullmatch(k) and isinstance(x, str) for k, x in v.items()),
    convert=lambda v: tuple(sorted(v.items())),
)
DEPLOYMENTS = Kind(
    "a table of model names to deployment names",
    lambda v: isinstance(v, dict) and all(isinstance(x, str) and x for x in v.values()),
    convert=dict,
)


def builtin_provider(r: Resolver, spec: ProviderSettings) -> ProviderSettings:
    name, variable = spec.name, URL_VARIABLES[spec.name]
    base_url = r.get(
        "providers", name, "base_url", kind=HOST if spec.local else URL, env=variable, default=spec.base_url
    )
    # OLLAMA_HOST only implies the local provider is wanted, and AZURE_OPENAI_ENDPOINT the Azure one, so the
    # file's ``enabled`` outranks them.
    from_env = bool(r.env.get(variable, "").strip())
    implied = (spec.local and from_env) or (name == "azure" and bool(base_url))
    enabled = r.get(
        "providers",
        name,
        "enabled",
        kind=BOOLEAN,
        default=spec.enabled or implied,
        default_source=f"env {variable}" if implied and from_env else DEFAULT,
    )
    key_variable = r.get("providers", name, "key_variable", kind=STRING, default=spec.key_variable)
    keys = _keys(r, name, key_variable)
    if name == "azure" and keys and not base_url:
        log.warning("%s is set but %s is not: Azure OpenAI is off until it is", keys[0].label, variable)
        enabled = False
    if not spec.local:
        refuse_plain_http(r, name, base_url, enabled)
    provider = replace(spec, base_url=base_url, enabled=enabled, key_variable=key_variable, keys=keys)
    if name == "azure":
        deployments = r.get("providers", name, "deployments", kind=DEPLOYMENTS, default={})
        provider = replace(provider, deployments=deployments)
    if name == "cloudflare":
        provider = _paired_with_accounts(r, provider)
    if name == "bedrock":
        provider = _aws(r, provider)
    return provider


def custom_providers(r: Resolver, builtin: set[str]) -> tuple[ProviderSettings, ...]:
    """Every ``[providers.NAME]`` table that names no built-in provider: an OpenAI-compatible endpoint."""
    found = []
    for name in r.section("providers"):
        if name in builtin:
            continue
        if not _CUSTOM_NAME.fullmatch(name):
            raise ConfigError(
                f"{r.file_name}: providers.{dotted((name,))} is no usable provider name "
                "(lower-case letters, digits, - and _, at most 32)"
            )
        found.append(_custom(r, name))
    return tuple(found)


def _custom(r: Resolver, name: str) -> ProviderSettings:
    where = f"providers.{name}"
    protocol = r.get("providers", name, "protocol", kind=one_of(*CUSTOM_PROTOCOLS), default=None)
    if protocol is None:
        raise ConfigError(f'{r.file_name}: {where}.protocol must be set (protocol = "openai")')
    base_url = r.get("providers", name, "base_url", kind=URL, default=None)
    if base_url is None:
        raise ConfigError(f"{r.file_name}: {where}.base_url must be set (the URL that ends before /chat/completions)")
    local = r.get("providers", name, "local", kind=BOOLEAN, default=False)
    enabled = r.get("providers", name, "enabled", kind=BOOLEAN, default=True)
    key_variable = r.get("providers", name, "key_variable", kind=STRING, default=None)
    headers = r.get("providers", name, "headers", kind=HEADERS, default=())
    if not local:
        refuse_plain_http(r, name, base_url, enabled)
    keys = _keys(r, name, key_variable)
    return ProviderSettings(name, protocol, base_url, key_variable, local, enabled, keys, headers)


def _keys(r: Resolver, name: str, key_variable: str | None) -> tuple[ApiKey, ...]:
    if not key_variable:
        return ()
    keys = list(discover_keys(name, key_variable, r.env))
    seen = {k.secret for k in keys}
    for other in KEY_ALIASES.get(name, ()) if key_variable == _default_variable(name) else ():
        keys += [k for k in discover_keys(name, other, r.env) if k.secret not in seen]
        seen |= {k.secret for k in keys}
    return tuple(keys)


def _default_variable(name: str) -> str | None:
    return next((p.key_variable for p in BUILTIN_PROVIDERS if p.name == name), None)


def _paired_with_accounts(r: Resolver, provider: ProviderSettings) -> ProviderSettings:
    """Each Cloudflare token with its account id: ``CLOUDFLARE_ACCOUNT_ID_N`` for a ``_N`` token, else the
    unsuffixed one. A token with no account id cannot be used: it is left out with a warning."""
    accounts: dict[str, str] = {}
    kept = []
    for key in provider.keys:
        suffix = re.search(r"_(\d+)$", key.label)
        account = r.env.get(f"{CLOUDFLARE_ACCOUNT}_{suffix.group(1)}", "").strip() if suffix else ""
        account = account or r.env.get(CLOUDFLARE_ACCOUNT, "").strip()
        if not account:
            log.warning(
                "%s has no account id: set %s (or %s_N beside a _N token)",
                key.label,
                CLOUDFLARE_ACCOUNT,
                CLOUDFLARE_ACCOUNT,
            )
            continue
        if not re.fullmatch(r"[0-9a-fA-F]{32}", account):
            raise ConfigError(f"the account id paired with {key.label} must be 32 hex characters")
        accounts[key.label] = account.lower()
        kept.append(key)
    return replace(provider, keys=tuple(kept), accounts=accounts)


def _aws(r: Resolver, provider: ProviderSettings) -> ProviderSettings:
    """AWS credentials as the AWS tools read them: an access key id (``_N`` pairs with ``AWS_SECRET_ACCESS_KEY_N``
    and ``AWS_SESSION_TOKEN_N``), or a Bedrock API key (``AWS_BEARER_TOKEN_BEDROCK``); the region from
    ``AWS_REGION`` / ``AWS_DEFAULT_REGION``. Bedrock is on when there are credentials and a region (or an
    endpoint)."""
    region = next((r.env[v].strip() for v in AWS_REGIONS if r.env.get(v, "").strip()), "")
    keys: list[ApiKey] = []
    accounts: dict[str, str] = {}
    for access in discover_keys("bedrock", provider.key_variable or "AWS_ACCESS_KEY_ID", r.env):
        suffix = access.label.removeprefix(provider.key_variable or "AWS_ACCESS_KEY_ID")
        secret = r.env.get(f"{AWS_SECRET}{suffix}", "").strip()
        if not secret:
            log.warning("%s has no %s%s: it is left out", access.label, AWS_SECRET, suffix)
            continue
        token = r.env.get(f"{AWS_TOKEN}{suffix}", "").strip()
        keys.append(ApiKey("bedrock", access.label, secret, token))
        accounts[access.label] = access.secret
    keys += discover_keys("bedrock", AWS_BEARER, r.env)
    base_url = provider.base_url or (f"https://bedrock-runtime.{region}.amazonaws.com" if region else "")
    if keys and not base_url:
        log.warning("AWS credentials are set but no region: set AWS_REGION for Bedrock")
    source = r.sources.get(dotted(("providers", "bedrock", "enabled")), DEFAULT)
    enabled = provider.enabled if source != DEFAULT else bool(keys and base_url)
    return replace(
        provider, keys=tuple(keys), accounts=accounts, base_url=base_url, region=region or "us-east-1", enabled=enabled
    )


def refuse_plain_http(r: Resolver, name: str, base_url: str, enabled: bool) -> None:
    """A cloud provider gets the key and the prompt: plain http only to this machine, or when allowed.

    A local provider is exempt (it is the user's own server, wherever it runs).
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


def provider_schema() -> dict[str, Any]:
    """The keys a ``[providers.*]`` table may hold, for the unknown-key warnings."""
    local = {"base_url": None, "enabled": None, "key_variable": None, **PROVIDER_SCHEMA}
    cloud = {**local, "allow_insecure_http": None}
    tables: dict[str, Any] = {spec.name: local if spec.local else cloud for spec in BUILTIN_PROVIDERS}
    tables["azure"] = {**cloud, "deployments": {"*": None}}
    tables["*"] = {**cloud, "protocol": None, "local": None, "headers": {"*": None}}
    return tables
