"""The fake OpenAI, Azure OpenAI and Cloudflare Workers AI servers, read by the official ``openai`` client.

The client is the oracle: if it parses the fake's answers, streams and errors the way it parses the real
services' (answers into typed objects, a 429 into ``RateLimitError`` with the response headers, a 401 into
``AuthenticationError``, ...), adapter tests that trust the fake are not testing a private dialect.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes import (
    DEFAULT_TEXT,
    OA_SERVER_ERROR,
    FakeProvider,
    az_400_content_filter,
    az_429,
    cf_3036,
    cf_5018,
    oa_429_insufficient_quota,
    oa_429_rate_limit,
    oa_responses_only,
    oa_stream_error,
    reply,
    stream_reply,
)

OA_KEY = "sk-proj-" + "Qx7" * 30
AZ_KEY = "4f9c2e1a" * 4
CF_TOKEN = "cfut_" + "T0k3n" * 8
CF_OTHER = "cfut_" + "0th3r" * 8
ACCOUNT = "0123456789abcdef0123456789abcdef"
OTHER_ACCOUNT = "fedcba9876543210fedcba9876543210"
CF_MODEL = "@cf/meta/llama-3.1-8b-instruct"
MESSAGES: list[Any] = [{"role": "user", "content": "say hello please"}]


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    accounts = {CF_TOKEN: ACCOUNT, CF_OTHER: OTHER_ACCOUNT}
    with FakeProvider(keys={OA_KEY: "oa", AZ_KEY: "az"}, cloudflare_accounts=accounts) as provider:
        yield provider
    assert provider.errors == []


def openai_client(fake: FakeProvider, key: str = OA_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_url, api_key=key, max_retries=0)


def azure_v1_client(fake: FakeProvider, key: str = AZ_KEY) -> openai.OpenAI:
    """The v1 API with the stock client (ref §5), the key in ``api-key`` as the fake's Azure requires."""
    return openai.OpenAI(
        base_url=fake.azure_endpoint + "/openai/v1", api_key=key, default_headers={"api-key": key}, max_retries=0
    )


def azure_dated_client(fake: FakeProvider, key: str = AZ_KEY) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=fake.azure_endpoint, api_key=key, api_version="2024-10-21", max_retries=0)


def cloudflare_client(fake: FakeProvider, token: str = CF_TOKEN, account: str = ACCOUNT) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{fake.cloudflare_url}/accounts/{account}/ai/v1", api_key=token, max_retries=0)


# (client factory, model to ask for, model the answer reports, chat path)
SERVICES = {
    "openai": (openai_client, "gpt-4o-mini", "gpt-4o-mini", "/openai/v1/chat/completions"),
    "azure-v1": (azure_v1_client, "my-gpt4o-mini", "gpt-4o-mini", "/azure/openai/v1/chat/completions"),
    "azure-dated": (
        azure_dated_client,
        "my-gpt4o-mini",
        "gpt-4o-mini",
        "/azure/openai/deployments/my-gpt4o-mini/chat/completions",
    ),
    "cloudflare": (
        cloudflare_client,
        CF_MODEL,
        CF_MODEL,
        f"/cloudflare/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions",
    ),
}


@pytest.mark.parametrize("service", SERVICES)
def test_each_fake_answers_and_streams_through_the_official_client(fake: FakeProvider, service: str) -> None:
    make, model, reported, path = SERVICES[service]
    client = make(fake)
    answer = client.chat.completions.create(model=model, messages=MESSAGES, max_completion_tokens=64)
    assert answer.object == "chat.completion" and answer.model == reported
    assert answer.choices[0].message.content == DEFAULT_TEXT and answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (3, 5)

    stream = client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_TEXT
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.usage is None for c in chunks)

    requests = fake.requests_to(path)
    assert len(requests) == 2 and all(r.is_chat for r in requests) and requests[1].stream is True
    assert fake.usage_of(OA_KEY) == fake.usage_of(AZ_KEY) == fake.usage_of(CF_TOKEN) == 0.0


@pytest.mark.parametrize("service", SERVICES)
def test_include_usage_adds_one_usage_chunk_before_done(fake: FakeProvider, service: str) -> None:
    make, model, _, _ = SERVICES[service]
    stream = make(fake).chat.completions.create(
        model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.total_tokens == 3 + 5
    # Every other chunk carries "usage": null (present in the JSON, so in the fields the client saw set).
    assert all("usage" in c.model_fields_set and c.usage is None for c in chunks[:-1])

    plain = list(make(fake).chat.completions.create(model=model, messages=MESSAGES, stream=True))
    assert all("usage" not in c.model_fields_set for c in plain)
    assert [c for c in plain if not c.choices] == [c for c in plain if c.model_extra.get("prompt_filter_results")]


def test_openai_answers_carry_rate_limit_headers_and_scripted_overrides(fake: FakeProvider) -> None:
    client = openai_client(fake)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.headers["x-ratelimit-limit-requests"] == "60" and raw.headers["x-ratelimit-reset-tokens"] == "6m0s"
    assert raw.headers["x-request-id"].startswith("req_")
    completion = raw.parse()
    assert completion.id.startswith("chatcmpl-") and len(completion.id) == len("chatcmpl-") + 29
    assert completion.choices[0].message.refusal is None and completion.service_tier == "default"

    fake.script(OA_KEY, reply("scripted", headers={"x-ratelimit-remaining-requests": "0"}))
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.headers["x-ratelimit-remaining-requests"] == "0" and raw.headers["x-ratelimit-limit-requests"] == "60"
    assert raw.parse().choices[0].message.content == "scripted"
    assert [m.id for m in client.models.list()] == ["gpt-4o-mini"]
    assert client.models.retrieve("gpt-4o-mini").owned_by == "system"


def test_429_rate_limit_and_insufficient_quota_are_told_apart(fake: FakeProvider) -> None:
    client = openai_client(fake)
    fake.script(OA_KEY, oa_429_rate_limit(retry_after=7), oa_429_insufficient_quota())
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    err = limited.value
    assert err.status_code == 429 and err.code == "rate_limit_exceeded" and err.type == "tokens"
    headers = err.response.headers
    assert (headers["x-ratelimit-reset-requests"], headers["x-ratelimit-reset-tokens"]) == ("6m0s", "644ms")
    assert (headers["x-ratelimit-remaining-requests"], headers["retry-after"]) == ("0", "7")
    assert isinstance(err.body, dict) and "Please try again in 644ms." in err.body["message"]

    with pytest.raises(openai.RateLimitError) as broke:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert broke.value.code == "insufficient_quota" and broke.value.type == "insufficient_quota"
    assert "x-ratelimit-reset-requests" not in broke.value.response.headers


def test_401_is_an_authentication_error_that_never_echoes_the_key(fake: FakeProvider) -> None:
    wrong = "sk-proj-" + "W" * 40 + "tail"
    with pytest.raises(openai.AuthenticationError) as refused:
        openai_client(fake, wrong).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert refused.value.code == "invalid_api_key"
    text = refused.value.response.text
    assert wrong not in text and "W" * 12 not in text and "sk-proj-****" in text and "tail." in text
    with pytest.raises(openai.AuthenticationError):
        openai_client(fake, wrong).models.list()

    # Azure takes the key from api-key: the stock client's bearer alone is refused, so is a wrong key.
    bearer_only = openai.OpenAI(base_url=fake.azure_endpoint + "/openai/v1", api_key=AZ_KEY, max_retries=0)
    for client in (bearer_only, azure_dated_client(fake, "0" * 32)):
        with pytest.raises(openai.AuthenticationError) as az:
            client.chat.completions.create(model="my-gpt4o-mini", messages=MESSAGES)
        assert az.value.code == "401" and az.value.message.startswith("Error code: 401 - ")


def test_404s_are_not_found_errors(fake: FakeProvider) -> None:
    client = openai_client(fake)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-9", messages=MESSAGES)
    assert missing.value.code == "model_not_found" and "`gpt-9`" in str(missing.value.body)

    fake.script(OA_KEY, oa_responses_only("gpt-4o-mini"), model="gpt-4o-mini")
    with pytest.raises(openai.NotFoundError) as responses_only:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert responses_only.value.param == "model" and responses_only.value.code is None
    assert "only supported in v1/responses" in responses_only.value.message

    with pytest.raises(openai.NotFoundError) as deployment:
        azure_v1_client(fake).chat.completions.create(model="no-such-deployment", messages=MESSAGES)
    assert deployment.value.code == "DeploymentNotFound"
    with pytest.raises(openai.BadRequestError) as no_model:  # Cloudflare answers an unknown model with a 400
        cloudflare_client(fake).chat.completions.create(model="@cf/nobody/nothing", messages=MESSAGES)
    assert no_model.value.body == {
        "success": False,
        "errors": [{"code": 5007, "message": "No such model @cf/nobody/nothing or task"}],
        "messages": [],
        "result": None,
    }


def test_azure_content_filter_and_429s(fake: FakeProvider) -> None:
    client = azure_v1_client(fake)
    fake.script(AZ_KEY, az_400_content_filter(), az_429(), az_429(text="tokens", header=False))
    with pytest.raises(openai.BadRequestError) as filtered:
        client.chat.completions.create(model="my-gpt4o-mini", messages=MESSAGES)
    assert filtered.value.code == "content_filter" and filtered.value.param == "prompt"
    assert isinstance(filtered.value.body, dict)
    assert filtered.value.body["innererror"]["content_filter_result"]["violence"]["filtered"] is True

    with pytest.raises(openai.RateLimitError) as simple:
        client.chat.completions.create(model="my-gpt4o-mini", messages=MESSAGES)
    assert simple.value.code == "429" and simple.value.response.headers["retry-after"] == "2"
    with pytest.raises(openai.RateLimitError) as tokens:
        client.chat.completions.create(model="my-gpt4o-mini", messages=MESSAGES)
    assert "retry-after" not in tokens.value.response.headers
    assert "Please retry after 86400 seconds." in tokens.value.message


def test_azure_streams_with_filter_annotations_and_reports_the_model(fake: FakeProvider) -> None:
    fake.script(AZ_KEY, stream_reply("a b"), model="my-gpt4o-mini")
    chunks = list(
        azure_dated_client(fake).chat.completions.create(model="my-gpt4o-mini", messages=MESSAGES, stream=True)
    )
    first, *rest = chunks
    assert first.choices == [] and first.id == "" and first.created == 0
    assert first.model_extra["prompt_filter_results"][0]["prompt_index"] == 0
    assert [c.choices[0].delta.content for c in rest] == ["", "a", " b", None]
    assert [c.model for c in rest] == ["gpt-4o-mini"] * 4
    filters = [c.choices[0].model_extra["content_filter_results"] for c in rest]
    assert filters[0] == filters[-1] == {} and filters[1]["hate"] == {"filtered": False, "severity": "safe"}
    answer = azure_dated_client(fake).chat.completions.create(model="my-gpt4o-mini", messages=MESSAGES)
    assert answer.model_extra["prompt_filter_results"] and answer.choices[0].model_extra["content_filter_results"]


def test_an_error_inside_a_200_stream_raises_mid_stream(fake: FakeProvider) -> None:
    client = openai_client(fake)
    fake.script(OA_KEY, oa_stream_error(after_tokens=2), oa_stream_error(message="quota exhausted"))
    seen: list[str] = []
    with pytest.raises(openai.APIError) as broken:
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "Hello from" and broken.value.message == OA_SERVER_ERROR
    assert broken.value.body == {"message": OA_SERVER_ERROR, "type": "server_error", "param": None, "code": None}
    with pytest.raises(openai.InternalServerError) as failed:  # the same behaviour, asked without streaming
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert failed.value.status_code == 500 and "quota exhausted" in failed.value.message


def test_cloudflare_errors_keep_the_v4_envelope(fake: FakeProvider) -> None:
    fake.script(CF_TOKEN, cf_3036(), cf_5018())
    client = cloudflare_client(fake)
    with pytest.raises(openai.RateLimitError) as daily:
        client.chat.completions.create(model=CF_MODEL, messages=MESSAGES)
    assert isinstance(daily.value.body, dict) and daily.value.body["errors"][0]["code"] == 3036
    with pytest.raises(openai.PermissionDeniedError) as private:
        client.chat.completions.create(model=CF_MODEL, messages=MESSAGES)
    assert isinstance(private.value.body, dict) and private.value.body["errors"][0]["code"] == 5018
    # A token on another account's path: 403 10000, before any scripted behaviour is used.
    fake.script(CF_OTHER, reply("never sent"))
    with pytest.raises(openai.PermissionDeniedError) as elsewhere:
        cloudflare_client(fake, CF_OTHER, ACCOUNT).chat.completions.create(model=CF_MODEL, messages=MESSAGES)
    assert elsewhere.value.body == {
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
        "result": None,
    }
    assert fake.remaining(CF_OTHER) == 1


def test_reasoning_models_refuse_max_tokens_and_count_reasoning() -> None:
    with FakeProvider(keys=[OA_KEY, AZ_KEY], openai_models={"o4-mini"}, deployments={"thinker": "o4-mini"}) as strict:
        for client, model, key in (
            (openai_client(strict), "o4-mini", OA_KEY),
            (azure_v1_client(strict), "thinker", AZ_KEY),
        ):
            with pytest.raises(openai.BadRequestError) as refused:
                client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=50)
            assert refused.value.code == "unsupported_parameter" and refused.value.param == "max_tokens"
            strict.script(key, reply("ok", reasoning="think first"))
            answer = client.chat.completions.create(model=model, messages=MESSAGES, max_completion_tokens=50)
            assert answer.choices[0].message.content == "ok" and answer.usage is not None
            details = answer.usage.completion_tokens_details
            assert details is not None and details.reasoning_tokens == 2 and answer.usage.completion_tokens == 3
            assert "think" not in answer.model_dump_json()  # OpenAI counts reasoning, never sends it
        assert [m.id for m in azure_v1_client(strict).models.list()] == ["o4-mini"]
    assert strict.errors == []
