"""OpenRouterAdapter's catalogue and key probe: ``GET /models`` and ``GET /key`` (reference/providers.md §1.5-1.6)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pytest_httpx import HTTPXMock

from llmroute.errors import ErrorKind, ProviderError
from llmroute.keys import ApiKey, KeySlot
from llmroute.providers import ClientPool, OpenRouterAdapter
from llmroute.providers.openrouter_catalog import VARIABLE_PRICE, key_info, model_info, per_million
from llmroute.types import KeyInfo, ModelInfo

BASE = "https://openrouter.ai/api/v1"
SECRET = "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"
KEY = ApiKey("openrouter", "OPENROUTER_API_KEY", SECRET)

GPT4_ROW = {
    "id": "openai/gpt-4",
    "canonical_slug": "openai/gpt-4",
    "name": "GPT-4",
    "created": 1692901234,
    "description": "…",
    "context_length": 8192,
    "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"]},
    "pricing": {"prompt": "0.00003", "completion": "0.00006", "request": "0", "image": "0"},
    "top_provider": {"context_length": 8192, "max_completion_tokens": 4096, "is_moderated": True},
    "per_request_limits": None,
    "supported_parameters": ["temperature", "top_p", "max_tokens", "tools", "reasoning"],
    "expiration_date": None,
}
AUTO_ROW = {
    "id": "openrouter/auto",
    "name": "Auto Router",
    "context_length": 2000000,
    "pricing": {"prompt": "-1", "completion": "-1"},
}
FREE_ROW = {
    "id": "meta-llama/llama-3.3-70b-instruct:free",
    "name": "Meta: Llama 3.3 70B Instruct (free)",
    "context_length": None,
    "top_provider": {"context_length": 65536},
    "pricing": {"prompt": "0", "completion": "0"},
    "expiration_date": "2026-12-01",
}
KEY_DOC = {
    "data": {
        "label": "sk-or-v1-au7...890",
        "limit": 100,
        "limit_remaining": 74.5,
        "limit_reset": "monthly",
        "include_byok_in_limit": False,
        "usage": 25.5,
        "usage_daily": 1.25,
        "usage_weekly": 5.5,
        "usage_monthly": 20.5,
        "is_free_tier": False,
        "rate_limit": {"requests": -1, "interval": "10s", "note": "This field is deprecated and safe to ignore."},
        "free_model_daily_requests": {"used": 12, "limit": 1000, "remaining": 988},
    }
}


@pytest.fixture
async def adapter() -> AsyncIterator[OpenRouterAdapter]:
    clients = ClientPool("llmroute-test")
    yield OpenRouterAdapter("openrouter", BASE, clients)
    await clients.aclose()


# --- parsing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [("0.00003", 30.0), ("0.00000015", 0.15), ("0.0000006", 0.6), ("0", 0.0), (0.000002, 2.0), ("-1", VARIABLE_PRICE)],
)
def test_per_token_strings_become_usd_per_million(wire: object, expected: float) -> None:
    assert per_million(wire) == expected


@pytest.mark.parametrize("garbage", [None, "", "free", "NaN", "inf", True, [], {}])
def test_a_garbage_price_is_unknown(garbage: object) -> None:
    assert per_million(garbage) is None


def test_a_documented_row_is_parsed() -> None:
    assert model_info("openrouter", GPT4_ROW) == ModelInfo(
        provider="openrouter",
        model="openai/gpt-4",
        name="GPT-4",
        context_length=8192,
        prompt_price=30.0,
        completion_price=60.0,
    )


def test_the_minus_one_sentinel_is_a_variable_price_not_a_negative_one() -> None:
    info = model_info("openrouter", AUTO_ROW)
    assert info is not None and info.variable_price
    assert (info.prompt_price, info.completion_price, info.free) == (None, None, False)


def test_free_comes_from_the_id_suffix_and_context_from_top_provider_when_missing() -> None:
    info = model_info("openrouter", FREE_ROW)
    assert info is not None and info.free and info.context_length == 65536
    assert info.expires == "2026-12-01" and (info.prompt_price, info.completion_price) == (0.0, 0.0)


def test_zero_prices_without_the_free_suffix_are_not_free() -> None:
    info = model_info("openrouter", {**GPT4_ROW, "id": "x/image-model", "pricing": {"prompt": "0", "completion": "0"}})
    assert info is not None and not info.free


@pytest.mark.parametrize(
    "row",
    [
        {"id": "a/b"},
        {"id": "a/b", "name": 3, "context_length": "big", "pricing": "free", "top_provider": [], "expiration_date": 1},
        {"id": "a/b", "context_length": -5, "pricing": {"prompt": None}},
    ],
)
def test_missing_or_garbage_fields_are_unknown(row: dict[str, object]) -> None:
    assert model_info("openrouter", row) == ModelInfo(provider="openrouter", model="a/b")


@pytest.mark.parametrize("row", [{}, {"id": ""}, {"id": None}, {"id": 7}, "openai/gpt-4", None, [GPT4_ROW]])
def test_a_row_without_an_id_is_skipped(row: object) -> None:
    assert model_info("openrouter", row) is None


def test_key_report_is_parsed_and_the_legacy_rate_limit_ignored() -> None:
    assert key_info(KEY_DOC["data"]) == KeyInfo(
        credit_limit=100.0,
        credit_remaining=74.5,
        limit_reset="monthly",
        usage_today=1.25,
        usage_month=20.5,
        usage_total=25.5,
        free_tier=False,
        free_requests_used=12,
        free_requests_limit=1000,
        free_requests_remaining=988,
    )


def test_an_uncapped_key_without_the_newer_fields() -> None:
    info = key_info({"limit": None, "limit_remaining": None, "limit_reset": None, "usage": 0, "is_free_tier": True})
    assert info == KeyInfo(usage_total=0.0, free_tier=True)


# --- list_models on the wire --------------------------------------------------------------------------


async def test_list_models_reads_every_row_and_skips_rows_without_an_id(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    document = {"data": [GPT4_ROW, {"name": "no id"}, AUTO_ROW, FREE_ROW], "total_count": 4, "links": {"next": None}}
    httpx_mock.add_response(url=f"{BASE}/models", method="GET", json=document)
    models = await adapter.list_models(KeySlot("openrouter", None), timeout=5)
    assert [m.model for m in models] == ["openai/gpt-4", "openrouter/auto", "meta-llama/llama-3.3-70b-instruct:free"]
    request = httpx_mock.get_request()
    assert request is not None and "authorization" not in request.headers


async def test_list_models_sends_the_key_when_given(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/models", json={"data": []})
    assert await adapter.list_models(KeySlot("openrouter", KEY), timeout=5) == []
    request = httpx_mock.get_request()
    assert request is not None and request.headers["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize("body", [b"<html>Bad gateway</html>", b'{"models": []}', b'{"data": {"id": "x"}}', b"[]"])
async def test_a_model_list_of_the_wrong_shape_is_a_bad_response(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock, body: bytes
) -> None:
    httpx_mock.add_response(url=f"{BASE}/models", content=body)
    with pytest.raises(ProviderError) as caught:
        await adapter.list_models(KeySlot("openrouter", None), timeout=5)
    assert caught.value.kind is ErrorKind.BAD_RESPONSE


async def test_a_server_error_is_classified(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/models", status_code=500, json={"error": {"code": 500, "message": "Internal"}})
    with pytest.raises(ProviderError) as caught:
        await adapter.list_models(KeySlot("openrouter", KEY), timeout=5)
    assert (caught.value.kind, caught.value.status, caught.value.message) == (ErrorKind.SERVER, 500, "Internal")


async def test_a_connection_failure_is_classified(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"), url=f"{BASE}/models")
    with pytest.raises(ProviderError) as caught:
        await adapter.list_models(KeySlot("openrouter", None), timeout=5)
    assert caught.value.kind is ErrorKind.CONNECTION


# --- probe_key on the wire ----------------------------------------------------------------------------


async def test_probe_key_reads_the_key_report_with_the_bearer(
    adapter: OpenRouterAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=f"{BASE}/key", method="GET", json=KEY_DOC)
    info = await adapter.probe_key(KeySlot("openrouter", KEY), timeout=5)
    assert info.credit_remaining == 74.5 and info.free_requests_remaining == 988
    request = httpx_mock.get_request()
    assert request is not None and request.headers["Authorization"] == f"Bearer {SECRET}"


async def test_probe_key_with_a_bad_key_is_auth(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/key", status_code=401, json={"error": {"message": "User not found.", "code": 401}}
    )
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(KeySlot("openrouter", KEY), timeout=5)
    assert (caught.value.kind, caught.value.message) == (ErrorKind.AUTH, "User not found.")


async def test_probe_key_error_inside_a_200_is_classified(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/key", json={"error": {"message": "No cookie auth credentials found", "code": 401}}
    )
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(KeySlot("openrouter", None), timeout=5)
    assert caught.value.kind is ErrorKind.AUTH


async def test_probe_key_without_data_is_a_bad_response(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/key", json={"label": "x"})
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(KeySlot("openrouter", KEY), timeout=5)
    assert caught.value.kind is ErrorKind.BAD_RESPONSE


async def test_a_secret_echoed_in_an_error_is_redacted(adapter: OpenRouterAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/key", status_code=403, text=f"forbidden for {SECRET}")
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(KeySlot("openrouter", KEY), timeout=5)
    assert caught.value.kind is ErrorKind.AUTH and SECRET not in caught.value.message
