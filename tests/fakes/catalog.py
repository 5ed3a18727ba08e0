"""Static documents: OpenRouter ``/models`` and ``/key`` (ref §1.5/§1.6), Ollama ``/api/tags`` and
``/api/show`` (ref §2.2/§3.2)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from .plan import is_free_model

ROUTER_IDS = ("openrouter/auto",)
CREATED = 1_750_000_000
PAID_PRICING = {"prompt": "0.00000015", "completion": "0.0000006", "request": "0", "image": "0"}
FREE_PRICING = {"prompt": "0", "completion": "0", "request": "0", "image": "0"}
ROUTER_PRICING = {"prompt": "-1", "completion": "-1"}
OLLAMA_MODIFIED_AT = "2025-12-22T00:00:00Z"


def _model_row(model_id: str, pricing: Mapping[str, str], context_length: int) -> dict[str, Any]:
    return {
        "id": model_id,
        "canonical_slug": model_id,
        "name": model_id,
        "created": CREATED,
        "description": f"{model_id} served by the fake provider.",
        "context_length": context_length,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": dict(pricing),
        "top_provider": {
            "context_length": context_length,
            "max_completion_tokens": 16384,
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": ["max_tokens", "temperature", "top_p", "stop", "seed"],
        "default_parameters": None,
        "supported_voices": None,
        "links": {"details": f"/api/v1/models/{model_id}/endpoints"},
        "expiration_date": None,
        "knowledge_cutoff": None,
        "hugging_face_id": None,
    }


def openrouter_models(models: Iterable[str], context_length: int) -> dict[str, Any]:
    """``{"data":[...],"total_count":n,"links":{"next":null}}`` with one ``openrouter/auto`` ``"-1"`` row."""
    rows = [
        _model_row(m, FREE_PRICING if is_free_model(m) else PAID_PRICING, context_length)
        for m in sorted(models)
        if m not in ROUTER_IDS
    ]
    rows += [_model_row(r, ROUTER_PRICING, 2_000_000) for r in ROUTER_IDS]
    return {"data": rows, "total_count": len(rows), "links": {"next": None}}


def key_label(secret: str) -> str:
    """``sk-or-v1-au7...890`` style label."""
    return f"{secret[:11]}...{secret[-3:]}" if len(secret) > 14 else secret


def openrouter_key(secret: str, usage: float, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``GET /key`` document; ``limit``/``limit_remaining`` null (uncapped) unless overridden."""
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
        data["limit_remaining"] = data["limit"] - usage
    return {"data": data}


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _is_cloud_stub(name: str) -> bool:
    return name.endswith(":cloud") or name.endswith("-cloud")


def ollama_tags(models: Iterable[str], cloud: bool) -> dict[str, Any]:
    """Cloud mode: entries with empty ``details`` (captured); local mode: gguf details, and
    ``remote_model``/``remote_host`` for ``-cloud``/``:cloud`` stubs."""
    entries: list[dict[str, Any]] = []
    for name in sorted(models):
        entry: dict[str, Any] = {"name": name, "model": name}
        if cloud:
            entry.update(
                modified_at=OLLAMA_MODIFIED_AT,
                size=696_060_000_000,
                digest=_digest(name)[:12],
                details={
                    "parent_model": "",
                    "format": "",
                    "family": "",
                    "families": None,
                    "parameter_size": "",
                    "quantization_level": "",
                },
            )
        elif _is_cloud_stub(name):
            remote = name.removesuffix(":cloud").removesuffix("-cloud")
            entry.update(
                remote_model=remote,
                remote_host="https://ollama.com:443",
                modified_at=OLLAMA_MODIFIED_AT,
                size=384,
                digest=_digest(name),
                details=_local_details(),
            )
        else:
            entry.update(
                modified_at=OLLAMA_MODIFIED_AT,
                size=2_019_393_189,
                digest=_digest(name),
                details=_local_details(),
            )
        entries.append(entry)
    return {"models": entries}


def _local_details() -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "3.2B",
        "quantization_level": "Q4_K_M",
    }


def ollama_show(model: str, context_length: int) -> dict[str, Any]:
    """A minimal ``POST /api/show`` document (context length under ``model_info``)."""
    return {
        "modelfile": f"# Modelfile generated by the fake provider\nFROM {model}\n",
        "parameters": "",
        "template": "{{ .Prompt }}",
        "details": _local_details(),
        "model_info": {
            "general.architecture": "llama",
            "general.parameter_count": 3_212_749_888,
            "llama.context_length": context_length,
        },
        "capabilities": ["completion", "tools"],
        "modified_at": OLLAMA_MODIFIED_AT,
    }
