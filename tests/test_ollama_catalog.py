"""OllamaAdapter's catalogue and key probe, cloud and local (reference/providers.md §2.2, §3.1-3.2)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pytest_httpx import HTTPXMock

from llmroute.errors import ErrorKind, ProviderError
from llmroute.keys import ApiKey, KeySlot
from llmroute.providers import ClientPool, OllamaAdapter
from llmroute.types import KeyInfo, ModelInfo

CLOUD = "https://ollama.com"
LOCAL = "http://localhost:11434"
SECRET = "5b1e7c3a9d2f48e6b0c4a8d2e6f0b4c8.Qm4Rt8Yu2Io6Pa0Sd"
KEY = ApiKey("ollama", "OLLAMA_API_KEY", SECRET)

#: Captured (issue openJiuwen-ai/jiuwenswarm#11): cloud tags carry empty details.
CLOUD_TAGS = {
    "models": [
        {
            "name": "glm-4.7",
            "model": "glm-4.7",
            "modified_at": "2025-12-22T00:00:00Z",
            "size": 696060000000,
            "digest": "8c95dad96c75",
            "details": {
                "parent_model": "",
                "format": "",
                "family": "",
                "families": None,
                "parameter_size": "",
                "quantization_level": "",
            },
        },
        {"name": "gpt-oss:120b", "model": "gpt-oss:120b"},
    ]
}
LOCAL_TAGS = {
    "models": [
        {
            "name": "llama3.2:latest",
            "model": "llama3.2:latest",
            "modified_at": "2025-05-04T17:37:44.706015396-07:00",
            "size": 2019393189,
            "digest": "a80c4f17acd5",
            "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
        },
        {
            "name": "gpt-oss:120b-cloud",
            "model": "gpt-oss:120b-cloud",
            "remote_model": "gpt-oss:120b",
            "remote_host": "https://ollama.com:443",
            "size": 384,
        },
    ]
}
OPENAI_400 = {"error": {"message": "model is required", "type": "invalid_request_error", "param": None, "code": None}}


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    clients = ClientPool("llmroute-test")
    yield clients
    await clients.aclose()


@pytest.fixture
def cloud(pool: ClientPool) -> OllamaAdapter:
    return OllamaAdapter("ollama", CLOUD, pool)


@pytest.fixture
def local(pool: ClientPool) -> OllamaAdapter:
    return OllamaAdapter("local", LOCAL, pool, local=True)


async def failure_of(call: object) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call  # type: ignore[misc]
    assert SECRET not in caught.value.message
    return caught.value


# --- list_models --------------------------------------------------------------------------------------


async def test_cloud_tags_are_names_without_prices_or_context(cloud: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{CLOUD}/api/tags", method="GET", json=CLOUD_TAGS)
    models = await cloud.list_models(KeySlot("ollama", KEY), timeout=5)
    assert models == [ModelInfo(provider="ollama", model="glm-4.7"), ModelInfo(provider="ollama", model="gpt-oss:120b")]
    requests = httpx_mock.get_requests()
    assert len(requests) == 1, "no /api/show per model"
    assert requests[0].headers["Authorization"] == f"Bearer {SECRET}"


async def test_local_models_are_free_but_cloud_stubs_are_not(local: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{LOCAL}/api/tags", json=LOCAL_TAGS)
    models = await local.list_models(KeySlot("ollama", None), timeout=5)
    assert [(m.provider, m.model, m.free) for m in models] == [
        ("local", "llama3.2:latest", True),
        ("local", "gpt-oss:120b-cloud", False),
    ]
    request = httpx_mock.get_request()
    assert request is not None and "authorization" not in request.headers


async def test_rows_without_a_name_are_skipped(cloud: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    rows = [{"name": ""}, {"model": "only-model-field"}, "gpt-oss:20b", None, {"name": 5}]
    httpx_mock.add_response(url=f"{CLOUD}/api/tags", json={"models": rows})
    assert [m.model for m in await cloud.list_models(KeySlot("ollama", None), timeout=5)] == ["only-model-field"]


@pytest.mark.parametrize("body", [b"404 page not found", b'{"data": []}', b'{"models": null}'])
async def test_tags_of_the_wrong_shape_are_a_bad_response(
    cloud: OllamaAdapter, httpx_mock: HTTPXMock, body: bytes
) -> None:
    httpx_mock.add_response(url=f"{CLOUD}/api/tags", content=body)
    assert (await failure_of(cloud.list_models(KeySlot("ollama", KEY), timeout=5))).kind is ErrorKind.BAD_RESPONSE


async def test_tags_error_status_is_classified(cloud: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{CLOUD}/api/tags", status_code=503, json={"error": "account unavailable"})
    error = await failure_of(cloud.list_models(KeySlot("ollama", KEY), timeout=5))
    assert (error.kind, error.status, error.message) == (ErrorKind.OVERLOADED, 503, "account unavailable")


async def test_local_daemon_not_running_is_a_connection_error(local: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"), url=f"{LOCAL}/api/tags")
    assert (await failure_of(local.list_models(KeySlot("ollama", None), timeout=5))).kind is ErrorKind.CONNECTION


# --- probe_key: cloud ---------------------------------------------------------------------------------


async def test_cloud_key_is_valid_when_the_empty_chat_is_refused_as_a_bad_request(
    cloud: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=f"{CLOUD}/v1/chat/completions", method="POST", status_code=400, json=OPENAI_400)
    assert await cloud.probe_key(KeySlot("ollama", KEY), timeout=5) == KeyInfo()
    request = httpx_mock.get_request()
    assert request is not None and request.content == b"{}"
    assert request.headers["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize("status", [401, 403])
async def test_cloud_key_refused_is_auth(cloud: OllamaAdapter, httpx_mock: HTTPXMock, status: int) -> None:
    httpx_mock.add_response(url=f"{CLOUD}/v1/chat/completions", status_code=status, json={"error": "unauthorized"})
    error = await failure_of(cloud.probe_key(KeySlot("ollama", KEY), timeout=5))
    assert (error.kind, error.status) == (ErrorKind.AUTH, status)


async def test_cloud_usage_limit_on_the_probe_is_quota(cloud: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    text = "you've reached your weekly usage limit, please wait or upgrade to continue"
    httpx_mock.add_response(url=f"{CLOUD}/v1/chat/completions", status_code=429, json={"error": text})
    error = await failure_of(cloud.probe_key(KeySlot("ollama", KEY), timeout=5))
    assert error.kind is ErrorKind.QUOTA and error.retry_at is not None


async def test_cloud_plain_429_is_rate_limited(cloud: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{CLOUD}/v1/chat/completions", status_code=429, json={"error": {"message": "too many requests"}}
    )
    assert (await failure_of(cloud.probe_key(KeySlot("ollama", KEY), timeout=5))).kind is ErrorKind.RATE_LIMITED


async def test_cloud_server_error_on_the_probe_is_classified(cloud: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{CLOUD}/v1/chat/completions", status_code=502, text="bad gateway")
    error = await failure_of(cloud.probe_key(KeySlot("ollama", KEY), timeout=5))
    assert (error.kind, error.message) == (ErrorKind.SERVER, "HTTP 502: bad gateway")


async def test_cloud_probe_timeout_is_classified(cloud: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), url=f"{CLOUD}/v1/chat/completions")
    assert (await failure_of(cloud.probe_key(KeySlot("ollama", KEY), timeout=5))).kind is ErrorKind.TIMEOUT


# --- probe_key: local ---------------------------------------------------------------------------------


async def test_local_probe_reports_the_daemon_version(local: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{LOCAL}/api/version", method="GET", json={"version": "0.12.0"})
    assert await local.probe_key(KeySlot("ollama", None), timeout=5) == KeyInfo(detail="Ollama 0.12.0")


async def test_local_probe_against_something_else_is_a_bad_response(
    local: OllamaAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=f"{LOCAL}/api/version", text="<html>hello</html>")
    assert (await failure_of(local.probe_key(KeySlot("ollama", None), timeout=5))).kind is ErrorKind.BAD_RESPONSE


async def test_local_daemon_down_is_a_connection_error(local: OllamaAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"), url=f"{LOCAL}/api/version")
    assert (await failure_of(local.probe_key(KeySlot("ollama", None), timeout=5))).kind is ErrorKind.CONNECTION
