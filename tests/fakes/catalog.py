"""Static documents: OpenRouter ``/models`` and ``/key`` (ref §1.5/§1.6), Ollama ``/api/tags``,
``/api/show`` and ``/v1/models`` (ref §2.2/§3.2/§3.3).

Which served ids appear where: OpenRouter's catalogue lists the ids with a ``/`` (plus the
``openrouter/auto`` router row, always); Ollama's listings list the ids without one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from .plan import is_free_model

ROUTER_IDS = ("openrouter/auto",)
CREATED = 1_750_000_000
PAID_PRICING = {"prompt": "0.00000015", "completion": "0.0000006", "request": "0", "image": "0"}
"""Kept for compatibility: gpt-4o-mini's price, the one every paid row had before per-id prices."""
DEFAULT_PAID_PRICING = {"prompt": "0.0000005", "completion": "0.0000015", "request": "0", "image": "0"}
"""A paid id without a price in :data:`KNOWN_PRICES` and no ``prices=`` override."""
FREE_PRICING = {"prompt": "0", "completion": "0", "request": "0", "image": "0"}
ROUTER_PRICING = {"prompt": "-1", "completion": "-1"}
OLLAMA_MODIFIED_AT = "2025-12-22T00:00:00Z"
OLLAMA_MODIFIED_EPOCH = int(datetime.fromisoformat(OLLAMA_MODIFIED_AT.replace("Z", "+00:00")).timestamp())

KNOWN_PRICES: dict[str, tuple[str, str]] = {
    "openai/gpt-4o-mini": ("0.00000015", "0.0000006"),
    "openai/gpt-4o": ("0.0000025", "0.00001"),
    "openai/gpt-5-mini": ("0.00000025", "0.000002"),
    "anthropic/claude-sonnet-4.5": ("0.000003", "0.000015"),
    "google/gemini-2.5-flash": ("0.0000003", "0.0000025"),
    "meta-llama/llama-3.3-70b-instruct": ("0.00000013", "0.00000039"),
    "moonshotai/kimi-k2.5": ("0.0000006", "0.0000025"),
    "deepseek/deepseek-chat-v3.1": ("0.0000002", "0.0000008"),
    "qwen/qwen3-coder": ("0.00000022", "0.00000095"),
}
"""USD per token (prompt, completion) for ids tests commonly serve (approximate list prices)."""

_AUTHORS = {
    "openai": ("OpenAI", "GPT"),
    "anthropic": ("Anthropic", "Claude"),
    "google": ("Google", "Gemini"),
    "meta-llama": ("Meta", "Llama3"),
    "mistralai": ("Mistral", "Mistral"),
    "moonshotai": ("MoonshotAI", "Other"),
    "deepseek": ("DeepSeek", "DeepSeek"),
    "qwen": ("Qwen", "Qwen3"),
    "x-ai": ("xAI", "Grok"),
    "openrouter": ("OpenRouter", "Router"),
}
_ROUTER_NAMES = {"openrouter/auto": "Auto Router"}

Price = str | int | float | Decimal
PriceOverride = Sequence[Price] | Mapping[str, Price]


def price_string(value: Price) -> str:
    """A price as OpenRouter writes it: a plain decimal string (``1.5e-7`` -> ``"0.00000015"``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(f"a price must be a string or a number, not {value!r}")
    return format(Decimal(str(value)).normalize(), "f")


def _pricing(model_id: str, override: PriceOverride | None) -> dict[str, str]:
    if model_id in ROUTER_IDS:
        base = dict(ROUTER_PRICING)
    elif is_free_model(model_id):
        base = dict(FREE_PRICING)
    elif model_id in KNOWN_PRICES:
        prompt, completion = KNOWN_PRICES[model_id]
        base = {**DEFAULT_PAID_PRICING, "prompt": prompt, "completion": completion}
    else:
        base = dict(DEFAULT_PAID_PRICING)
    if override is None:
        return base
    if isinstance(override, Mapping):
        base.update({str(k): price_string(v) for k, v in override.items()})
        return base
    if isinstance(override, (str, bytes)) or len(override) != 2:
        raise ValueError(f"a price override is (prompt, completion) or a mapping, not {override!r}")
    base["prompt"], base["completion"] = price_string(override[0]), price_string(override[1])
    return base


def _created(model_id: str) -> int:
    """A stable, per-id creation time within a year before :data:`CREATED` (so "newest" sorts vary)."""
    return CREATED - int(hashlib.sha256(model_id.encode()).hexdigest()[:8], 16) % 365 * 86_400


def _model_row(
    model_id: str,
    pricing: Mapping[str, str],
    context_length: int,
    expiration_date: str | None = None,
) -> dict[str, Any]:
    author, _, slug = model_id.partition("/")
    base = model_id.split(":", 1)[0]  # the variant suffix (":free") is not part of the canonical slug
    author_name, tokenizer = _AUTHORS.get(author, (author.replace("-", " ").title(), "Other"))
    name = _ROUTER_NAMES.get(model_id) or (
        f"{author_name}: {slug.split(':', 1)[0]}" + (" (free)" if is_free_model(model_id) else "")
    )
    return {
        "id": model_id,
        "canonical_slug": base,
        "name": name,
        "created": _created(model_id),
        "description": f"{model_id} served by the fake provider.",
        "context_length": context_length,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "tokenizer": tokenizer,
            "instruct_type": None,
        },
        "pricing": dict(pricing),
        "top_provider": {
            "context_length": context_length,
            "max_completion_tokens": min(16384, context_length),
            "is_moderated": author == "openai",
        },
        "per_request_limits": None,
        "supported_parameters": ["max_tokens", "temperature", "top_p", "stop", "seed"],
        "default_parameters": None,
        "supported_voices": None,
        "links": {"details": f"/api/v1/models/{base}/endpoints"},
        "expiration_date": expiration_date,
        "knowledge_cutoff": None,
        "hugging_face_id": None,
    }


def is_openrouter_id(model_id: str) -> bool:
    """OpenRouter ids are ``author/slug``; Ollama names have no ``/``."""
    return "/" in model_id


def openrouter_models(
    models: Iterable[str],
    context_length: int,
    *,
    prices: Mapping[str, PriceOverride] | None = None,
    expiring: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``{"data":[...],"total_count":n,"links":{"next":null}}``: one row per served ``author/slug`` id
    (sorted), then the ``openrouter/auto`` row priced ``"-1"``.

    ``:free`` ids are priced ``"0"``; other ids use ``prices`` (``(prompt, completion)`` or a mapping
    merged over the default), else :data:`KNOWN_PRICES`, else :data:`DEFAULT_PAID_PRICING`.
    ``expiring`` maps ids to their ``expiration_date`` (``null`` otherwise).
    """
    prices = prices or {}
    expiring = expiring or {}
    rows = [
        _model_row(m, _pricing(m, prices.get(m)), context_length, expiring.get(m))
        for m in sorted(models)
        if is_openrouter_id(m) and m not in ROUTER_IDS
    ]
    rows += [_model_row(r, _pricing(r, prices.get(r)), 2_000_000, expiring.get(r)) for r in ROUTER_IDS]
    return {"data": rows, "total_count": len(rows), "links": {"next": None}}


def key_label(secret: str) -> str:
    """``sk-or-v1-au7...890`` style label."""
    return f"{secret[:11]}...{secret[-3:]}" if len(secret) > 14 else secret


def openrouter_key(secret: str, usage: float, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``GET /key`` document; ``limit``/``limit_remaining`` null (uncapped) unless overridden.

    ``overrides`` replace fields (unknown ones are added, e.g. ``free_model_daily_requests``,
    ``organization_id``).  ``limit`` without ``limit_remaining`` gets ``limit - usage``;
    ``free_model_daily_requests`` with ``used`` and ``limit`` but no ``remaining`` gets
    ``max(0, limit - used)``.
    """
    data: dict[str, Any] = {
        "label": key_label(secret),
        "limit": None,
        "limit_remaining": None,
        "limit_reset": None,
        "include_byok_in_limit": False,
        "usage": usage,
        "usage_daily": usage,
        "usage_weekly": usage,
        "usage_monthly": usage,
        "byok_usage": 0,
        "byok_usage_daily": 0,
        "byok_usage_weekly": 0,
        "byok_usage_monthly": 0,
        "is_free_tier": False,
        "is_management_key": False,
        "is_provisioning_key": False,
        "creator_user_id": "user_fake",
        "expires_at": None,
        "rate_limit": {
            "requests": -1,
            "interval": "10s",
            "note": "This field is deprecated and safe to ignore.",
        },
    }
    data.update(overrides or {})
    if overrides and "limit" in overrides and "limit_remaining" not in overrides and data["limit"] is not None:
        data["limit_remaining"] = data["limit"] - data["usage"]
    daily = data.get("free_model_daily_requests")
    if isinstance(daily, Mapping):
        daily = dict(daily)
        used, limit = daily.get("used"), daily.get("limit")
        if "remaining" not in daily and isinstance(used, int) and isinstance(limit, int):
            daily["remaining"] = max(0, limit - used)
        data["free_model_daily_requests"] = daily
    return {"data": data}


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _is_cloud_stub(name: str) -> bool:
    return name.endswith(":cloud") or name.endswith("-cloud")


# name prefix -> (family, parameter size of the untagged/default variant, quantization)
_OLLAMA_FAMILIES: tuple[tuple[str, str, str, str], ...] = (
    ("gpt-oss", "gptoss", "20.9B", "MXFP4"),
    ("llama3.2", "llama", "3.2B", "Q4_K_M"),
    ("llama3.1", "llama", "8.0B", "Q4_K_M"),
    ("llama3", "llama", "8.0B", "Q4_0"),
    ("qwen3", "qwen3", "8.2B", "Q4_K_M"),
    ("qwen2.5", "qwen2", "7.6B", "Q4_K_M"),
    ("gemma3", "gemma3", "4.3B", "Q4_K_M"),
    ("mistral", "llama", "7.2B", "Q4_0"),
    ("phi4", "phi3", "14.7B", "Q4_K_M"),
    ("deepseek-r1", "qwen2", "8.2B", "Q4_K_M"),
    ("kimi", "deepseek2", "1.0T", "Q4_K_M"),
)
_SIZE_TAG = re.compile(r"(?:^|[:-])(\d+(?:\.\d+)?)([bmt])(?:$|[-_])", re.IGNORECASE)


def ollama_details(name: str, *, cloud: bool = False) -> dict[str, Any]:
    """``details`` of a tags/show entry; plausible values derived from the name (``gpt-oss:20b`` ->
    family ``gptoss``, ``20B``).  ``cloud=True`` = ollama.com's captured empty details."""
    if cloud:
        return {
            "parent_model": "",
            "format": "",
            "family": "",
            "families": None,
            "parameter_size": "",
            "quantization_level": "",
        }
    base = name.split(":", 1)[0].lower()
    family, size, quant = "llama", "7.6B", "Q4_K_M"
    for prefix, fam, default_size, default_quant in _OLLAMA_FAMILIES:
        if base.startswith(prefix):
            family, size, quant = fam, default_size, default_quant
            break
    tag = name.split(":", 1)[1] if ":" in name else ""
    match = _SIZE_TAG.search(tag)
    if match:
        size = f"{match.group(1)}{match.group(2).upper()}"
    return {
        "parent_model": "",
        "format": "" if _is_cloud_stub(name) else "gguf",
        "family": family,
        "families": [family],
        "parameter_size": size,
        "quantization_level": quant,
    }


def ollama_names(models: Iterable[str]) -> list[str]:
    """The served ids an Ollama listing shows: those without ``/``, sorted."""
    return sorted(m for m in models if not is_openrouter_id(m))


def ollama_tags(models: Iterable[str], cloud: bool) -> dict[str, Any]:
    """Every served id without ``/``.  Cloud mode: entries with empty ``details`` (captured); local
    mode: gguf details from :func:`ollama_details`, and ``remote_model``/``remote_host`` for
    ``-cloud``/``:cloud`` stubs."""
    entries: list[dict[str, Any]] = []
    for name in ollama_names(models):
        entry: dict[str, Any] = {"name": name, "model": name}
        if cloud:
            entry.update(
                modified_at=OLLAMA_MODIFIED_AT,
                size=696_060_000_000,
                digest=_digest(name)[:12],
                details=ollama_details(name, cloud=True),
            )
        elif _is_cloud_stub(name):
            remote = name.removesuffix(":cloud").removesuffix("-cloud")
            entry.update(
                remote_model=remote,
                remote_host="https://ollama.com:443",
                modified_at=OLLAMA_MODIFIED_AT,
                size=384,
                digest=_digest(name),
                details=ollama_details(name),
            )
        else:
            entry.update(
                modified_at=OLLAMA_MODIFIED_AT,
                size=2_019_393_189,
                digest=_digest(name),
                details=ollama_details(name),
            )
        entries.append(entry)
    return {"models": entries}


def ollama_openai_models(models: Iterable[str]) -> dict[str, Any]:
    """``GET /v1/models``: ``{"object":"list","data":[{"id","object":"model","created","owned_by"}]}``."""
    data = [
        {"id": name, "object": "model", "created": OLLAMA_MODIFIED_EPOCH, "owned_by": "library"}
        for name in ollama_names(models)
    ]
    return {"object": "list", "data": data}


def ollama_show(model: str, context_length: int) -> dict[str, Any]:
    """A minimal ``POST /api/show`` document (context length under ``model_info``)."""
    details = ollama_details(model)
    arch = details["family"]
    return {
        "modelfile": f"# Modelfile generated by the fake provider\nFROM {model}\n",
        "parameters": "",
        "template": "{{ .Prompt }}",
        "details": details,
        "model_info": {
            "general.architecture": arch,
            "general.parameter_count": 3_212_749_888,
            f"{arch}.context_length": context_length,
        },
        "capabilities": ["completion", "tools"],
        "modified_at": OLLAMA_MODIFIED_AT,
    }
