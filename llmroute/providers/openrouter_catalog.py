"""OpenRouter's catalogue and key documents (``GET /models``, ``GET /key``) as llmroute's data types.

Prices arrive as strings in USD per token; llmroute keeps USD per million
tokens. ``"-1"`` means the price depends on the route taken (routers such as
``openrouter/auto``): not free, not negative.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmroute.providers.classify import as_dict, as_int, as_number
from llmroute.types import KeyInfo, ModelInfo


def model_info(provider: str, row: object) -> ModelInfo | None:
    """One ``/models`` row; None for a row without an id. Every other field may be missing or garbage."""
    if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not row["id"].strip():
        return None
    model = row["id"].strip()
    pricing = as_dict(row.get("pricing"))
    prompt, completion = per_million(pricing.get("prompt")), per_million(pricing.get("completion"))
    variable = prompt == VARIABLE_PRICE or completion == VARIABLE_PRICE
    context = as_int(row.get("context_length")) or as_int(as_dict(row.get("top_provider")).get("context_length"))
    name, expires = row.get("name"), row.get("expiration_date")
    return ModelInfo(
        provider=provider,
        model=model,
        name=name if isinstance(name, str) and name else None,
        context_length=context if context and context > 0 else None,
        prompt_price=None if variable else prompt,
        completion_price=None if variable else completion,
        variable_price=variable,
        free=model.endswith(":free"),
        expires=expires if isinstance(expires, str) and expires else None,
    )


#: What :func:`per_million` returns for OpenRouter's ``"-1"`` sentinel (the price depends on the route).
VARIABLE_PRICE = -1.0


def per_million(value: object) -> float | None:
    """A per-token USD price (a string on the wire) as USD per million tokens; ``"-1"`` gives ``VARIABLE_PRICE``."""
    number = as_number(value)
    if number is None:
        return None
    if number < 0:
        return VARIABLE_PRICE
    return round(number * 1_000_000, 9)


def key_info(data: Mapping[str, Any]) -> KeyInfo:
    """The ``data`` of ``GET /key``; the legacy ``rate_limit`` object is ignored (it always says -1)."""
    free = as_dict(data.get("free_model_daily_requests"))
    reset, free_tier = data.get("limit_reset"), data.get("is_free_tier")
    return KeyInfo(
        credit_limit=as_number(data.get("limit")),
        credit_remaining=as_number(data.get("limit_remaining")),
        limit_reset=reset if isinstance(reset, str) and reset else None,
        usage_today=as_number(data.get("usage_daily")),
        usage_month=as_number(data.get("usage_monthly")),
        usage_total=as_number(data.get("usage")),
        free_tier=free_tier if isinstance(free_tier, bool) else None,
        free_requests_used=as_int(free.get("used")),
        free_requests_limit=as_int(free.get("limit")),
        free_requests_remaining=as_int(free.get("remaining")),
    )
