"""The fake's Bedrock, checked by botocore (the AWS SDK's core) and used by the real adapter end to end.

botocore signs its requests itself, so a request the fake accepts from it shows that the fake verifies SigV4 as AWS
does; botocore's parsers read the fake's event-stream frames and errors, so a frame or error it cannot read is a
wrong fake. Then :class:`~llmroute.providers.bedrock.BedrockAdapter` talks to the same fake over loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch
from botocore.exceptions import ClientError, EventStreamError

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.keys import ApiKey, KeySlot
from llmroute.providers import ClientPool
from llmroute.providers.bedrock import BedrockAdapter
from llmroute.types import Candidate, ChatRequest, ReasoningDelta, StreamEnd, Target, TextDelta
from tests.fakes import (
    DEFAULT_TEXT,
    ErrorResponse,
    FakeProvider,
    br_access_denied,
    br_corrupt_crc,
    br_internal,
    br_invalid_model,
    br_model_error,
    br_model_not_ready,
    br_model_timeout,
    br_not_found,
    br_on_demand_unsupported,
    br_quota,
    br_stream_exception,
    br_throttling,
    br_tokens_per_day,
    br_truncated,
    br_unavailable,
    br_validation,
    drop_connection,
    stream_reply,
)

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_AKID = "ASIAQWERTYUIOPASDFGH"
SESSION_SECRET = "tHisIsAsEsSiOnSeCrEtAcCeSsKeY0123456789/+"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEFake//////////SessionTokenForTheFake0123456789=="
API_KEY = "ABSKQmVkcm9ja0FQSUtleS1mYWtlLWtleS0wMTIzNDU2Nzg5YWJjZGVm"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
OTHER = "amazon.nova-micro-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hi there"}]}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(
        aws_credentials={AKID: SECRET, SESSION_AKID: SESSION_SECRET},
        aws_session_tokens={SESSION_AKID: SESSION_TOKEN},
        bedrock_api_keys={API_KEY},
    ) as server:
        yield server
        assert server.errors == []


def client(fake: FakeProvider, service: str = "bedrock-runtime", **credentials: str) -> Any:
    options = {"aws_access_key_id": AKID, "aws_secret_access_key": SECRET, **credentials}
    return botocore.session.get_session().create_client(
        service,
        region_name="us-east-1",
        endpoint_url=fake.bedrock_url,
        config=Config(retries={"total_max_attempts": 1}),
        **options,
    )


# --------------------------------------------------------------------------- botocore against the fake


def test_botocore_converse_is_verified_and_parsed(fake: FakeProvider) -> None:
    answer = client(fake).converse(modelId=MODEL, messages=MESSAGES, inferenceConfig={"maxTokens": 3})
    assert answer["output"]["message"] == {"role": "assistant", "content": [{"text": "Hello from the"}]}
    assert answer["stopReason"] == "max_tokens"
    assert answer["usage"] == {"inputTokens": 2, "outputTokens": 3, "totalTokens": 5}
    sent = fake.requests_to(f"/bedrock/model/{MODEL.replace(':', '%3A')}/converse")[-1]
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={AKID}/")


def test_botocore_reads_the_event_stream(fake: FakeProvider) -> None:
    fake.script(AKID, stream_reply(text="one two", reasoning="think first"), model=MODEL)
    stream = client(fake).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]
    seen = [(name, body) for event in stream for name, body in event.items()]
    assert [name for name, _ in seen] == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockDelta",  # the reasoning's signature
        "contentBlockStop",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert seen[1][1]["delta"] == {"reasoningContent": {"text": "think"}}
    assert [body["delta"]["text"] for name, body in seen[5:7]] == ["one", " two"]
    assert seen[8][1] == {"stopReason": "end_turn"}
    assert seen[9][1]["usage"] == {"inputTokens": 2, "outputTokens": 4, "totalTokens": 6}


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("throttlingException", "throttlingException"),
        ("serviceUnavailableException", "serviceUnavailableException"),
        ("modelStreamErrorException", "modelStreamErrorException"),
        ("validationException", "validationException"),
    ],
)
def test_botocore_reads_stream_exceptions(fake: FakeProvider, kind: str, code: str) -> None:
    fake.script(AKID, br_stream_exception(kind, after_tokens=1))
    stream = client(fake).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]
    with pytest.raises(EventStreamError) as caught:
        for _ in stream:
            pass
    assert caught.value.response["Error"]["Code"] == code


@pytest.mark.parametrize("part", ["message", "prelude"])
def test_botocore_finds_the_corrupt_crc(fake: FakeProvider, part: str) -> None:
    fake.script(AKID, br_corrupt_crc(1, part=part))  # type: ignore[arg-type]
    stream = client(fake).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]
    with pytest.raises(ChecksumMismatch):
        for _ in stream:
            pass


def test_a_truncated_stream_holds_only_whole_frames_before_the_cut(fake: FakeProvider) -> None:
    """botocore drops the half frame silently (llmroute does not: see the adapter tests)."""
    fake.script(AKID, br_truncated(after_tokens=2))
    stream = client(fake).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]
    assert [next(iter(event)) for event in stream] == ["messageStart", "contentBlockDelta", "contentBlockDelta"]


ERRORS: list[tuple[ErrorResponse, str, int]] = [
    (br_throttling(), "ThrottlingException", 429),
    (br_tokens_per_day(), "ThrottlingException", 429),
    (br_access_denied(), "AccessDeniedException", 403),
    (br_access_denied(MODEL), "AccessDeniedException", 403),
    (br_validation("Input is too long for requested model."), "ValidationException", 400),
    (br_invalid_model(), "ValidationException", 400),
    (br_on_demand_unsupported(MODEL), "ValidationException", 400),
    (br_not_found(MODEL), "ResourceNotFoundException", 404),
    (br_not_found(legacy=True), "ResourceNotFoundException", 404),
    (br_unavailable(), "ServiceUnavailableException", 503),
    (br_model_not_ready(), "ModelNotReadyException", 429),
    (br_model_timeout(), "ModelTimeoutException", 408),
    (br_model_error(), "ModelErrorException", 424),
    (br_internal(), "InternalServerException", 500),
    (br_quota(), "ServiceQuotaExceededException", 400),
]


@pytest.mark.parametrize(("response", "code", "status"), ERRORS)
def test_botocore_reads_the_error_helpers(fake: FakeProvider, response: ErrorResponse, code: str, status: int) -> None:
    fake.script(AKID, response)
    with pytest.raises(ClientError) as caught:
        client(fake).converse(modelId=MODEL, messages=MESSAGES)
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    assert error["Error"]["Message"] == (response.json.get("message") or response.json.get("Message"))


def test_the_fake_refuses_a_wrong_secret_and_an_unknown_key(fake: FakeProvider) -> None:
    with pytest.raises(ClientError) as caught:
        client(fake, aws_secret_access_key="x" + SECRET).converse(modelId=MODEL, messages=MESSAGES)
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "The Canonical String for this request should have been" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        client(fake, aws_access_key_id="AKIAUNKNOWNKEY000000").converse(modelId=MODEL, messages=MESSAGES)
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_session_credentials_need_their_token(fake: FakeProvider) -> None:
    session = {"aws_access_key_id": SESSION_AKID, "aws_secret_access_key": SESSION_SECRET}
    answer = client(fake, **session, aws_session_token=SESSION_TOKEN).converse(modelId=MODEL, messages=MESSAGES)
    assert answer["stopReason"] == "end_turn"
    with pytest.raises(ClientError) as caught:
        client(fake, **session).converse(modelId=MODEL, messages=MESSAGES)
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_model_arns_and_profiles_are_served(fake: FakeProvider) -> None:
    runtime = client(fake)
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{OTHER}"
    assert runtime.converse(modelId=arn, messages=MESSAGES)["stopReason"] == "end_turn"
    assert runtime.converse(modelId=f"us.{MODEL}", messages=MESSAGES)["stopReason"] == "end_turn"
    with pytest.raises(ClientError) as caught:
        runtime.converse(modelId="meta.llama-unknown-v1:0", messages=MESSAGES)
    assert caught.value.response["Error"]["Message"] == "The provided model identifier is invalid."


def test_converse_validation(fake: FakeProvider) -> None:
    runtime = client(fake)
    for messages, text in (
        ([{"role": "assistant", "content": [{"text": "hi"}]}], "must start with a user message"),
        ([*MESSAGES, *MESSAGES], "must alternate between user and assistant"),
        ([{"role": "user", "content": [{"text": " "}]}], "messages.0.content.0 is blank"),
    ):
        with pytest.raises(ClientError) as caught:
            runtime.converse(modelId=MODEL, messages=messages)
        assert caught.value.response["Error"]["Code"] == "ValidationException"
        assert text in caught.value.response["Error"]["Message"]


def test_botocore_reads_the_control_plane(fake: FakeProvider) -> None:
    control = client(fake, service="bedrock")
    summaries = control.list_foundation_models(byOutputModality="TEXT")["modelSummaries"]
    assert sorted(s["modelId"] for s in summaries) == [OTHER, MODEL]
    profiles = control.list_inference_profiles(typeEquals="SYSTEM_DEFINED", maxResults=1)
    assert [p["inferenceProfileId"] for p in profiles["inferenceProfileSummaries"]] == [f"us.{MODEL}"]


# --------------------------------------------------------------------------- the adapter against the fake


@pytest.fixture
async def adapter(fake: FakeProvider) -> AsyncIterator[BedrockAdapter]:
    pool = ClientPool("llmroute-test")
    yield BedrockAdapter("bedrock", fake.bedrock_url, pool, region="us-east-1")
    await pool.aclose()


SIGV4 = KeySlot("bedrock", ApiKey("bedrock", "AWS_ACCESS_KEY_ID", SECRET), account=AKID)
SESSION = KeySlot(
    "bedrock", ApiKey("bedrock", "AWS_ACCESS_KEY_ID", SESSION_SECRET, SESSION_TOKEN), account=SESSION_AKID
)
BEARER = KeySlot("bedrock", ApiKey("bedrock", "AWS_BEARER_TOKEN_BEDROCK", API_KEY))


async def chat(adapter: BedrockAdapter, slot: KeySlot = SIGV4, model: str = MODEL, stream: bool = True) -> list[Any]:
    request = ChatRequest.from_prompt("hi there", system="be terse", stream=stream)
    return [event async for event in adapter.chat(Candidate(Target("bedrock", model), slot), request, timeout=5)]


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("slot", [SIGV4, SESSION, BEARER], ids=["sigv4", "session", "api-key"])
@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("model", [MODEL, f"us.{MODEL}", f"arn:aws:bedrock:us-east-1::foundation-model/{OTHER}"])
async def test_the_adapter_is_accepted_by_the_strict_fake(
    adapter: BedrockAdapter, slot: KeySlot, stream: bool, model: str
) -> None:
    events = await chat(adapter, slot, model, stream)
    assert text_of(events) == DEFAULT_TEXT
    end = events[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "stop"
    assert (end.usage.input_tokens, end.usage.output_tokens) == (4, 5)


async def test_the_adapter_reads_reasoning_from_the_fake(adapter: BedrockAdapter, fake: FakeProvider) -> None:
    fake.script(AKID, stream_reply(text="ok", reasoning="let me see"))
    events = await chat(adapter)
    assert [e for e in events if isinstance(e, ReasoningDelta)] == [
        ReasoningDelta("let"),
        ReasoningDelta(" me"),
        ReasoningDelta(" see"),
    ]


async def test_a_wrong_secret_is_a_dead_credential(adapter: BedrockAdapter) -> None:
    wrong = KeySlot("bedrock", ApiKey("bedrock", "AWS_ACCESS_KEY_ID", "y" + SECRET), account=AKID)
    with pytest.raises(ProviderError) as caught:
        await chat(adapter, wrong)
    assert (caught.value.kind, caught.value.cause) == (ErrorKind.AUTH, None)
    assert "InvalidSignatureException" in caught.value.message and SECRET not in caught.value.message


async def test_an_unknown_api_key_is_a_dead_credential(adapter: BedrockAdapter) -> None:
    wrong = KeySlot("bedrock", ApiKey("bedrock", "AWS_BEARER_TOKEN_BEDROCK", "ABSK" + "z" * 60))
    with pytest.raises(ProviderError) as caught:
        await chat(adapter, wrong)
    assert (caught.value.kind, caught.value.cause, caught.value.status) == (ErrorKind.AUTH, None, 403)


async def test_access_denied_for_one_model_leaves_the_others(adapter: BedrockAdapter, fake: FakeProvider) -> None:
    fake.script(AKID, br_access_denied(MODEL), model=MODEL)
    with pytest.raises(ProviderError) as caught:
        await chat(adapter, model=MODEL)
    assert (caught.value.kind, caught.value.cause) == (ErrorKind.AUTH, Cause.MODEL_ACCESS)
    assert text_of(await chat(adapter, model=OTHER)) == DEFAULT_TEXT


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [
        (br_stream_exception("throttlingException"), ErrorKind.RATE_LIMITED),
        (br_stream_exception("serviceUnavailableException"), ErrorKind.OVERLOADED),
        (br_stream_exception("modelStreamErrorException", after_tokens=2), ErrorKind.SERVER),
        (br_corrupt_crc(1), ErrorKind.BAD_RESPONSE),
        (br_corrupt_crc(0, part="prelude"), ErrorKind.BAD_RESPONSE),
        (br_truncated(2), ErrorKind.BAD_RESPONSE),
        (stream_reply(end_after_tokens=2), ErrorKind.BAD_RESPONSE),
        (drop_connection(after_bytes=400), ErrorKind.CONNECTION),
        (br_throttling(), ErrorKind.RATE_LIMITED),
        (br_model_not_ready(), ErrorKind.OVERLOADED),
        (br_on_demand_unsupported(MODEL), ErrorKind.MODEL_NOT_FOUND),
    ],
)
async def test_stream_failures_against_the_fake(
    adapter: BedrockAdapter, fake: FakeProvider, behaviour: Any, kind: ErrorKind
) -> None:
    fake.script(AKID, behaviour)
    with pytest.raises(ProviderError) as caught:
        await chat(adapter)
    assert caught.value.kind is kind


async def test_a_non_stream_failure_is_the_same_exception_over_http(
    adapter: BedrockAdapter, fake: FakeProvider
) -> None:
    fake.script(AKID, br_stream_exception("throttlingException"))
    with pytest.raises(ProviderError) as caught:
        await chat(adapter, stream=False)
    assert (caught.value.kind, caught.value.status) == (ErrorKind.RATE_LIMITED, 429)


async def test_list_models_and_probe_against_the_fake(adapter: BedrockAdapter, fake: FakeProvider) -> None:
    models = await adapter.list_models(SIGV4, timeout=5)
    assert [m.model for m in models] == [OTHER, MODEL, f"us.{MODEL}"]
    assert (await adapter.probe_key(BEARER, timeout=5)).detail == "credentials valid in us-east-1; 2 text models listed"
    fake.script(AKID, br_access_denied(), path="/bedrock/foundation-models")
    assert "not allowed to list models" in ((await adapter.probe_key(SIGV4, timeout=5)).detail or "")
    wrong = KeySlot("bedrock", ApiKey("bedrock", "AWS_ACCESS_KEY_ID", SECRET), account="AKIAUNKNOWNKEY000000")
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(wrong, timeout=5)
    assert (caught.value.kind, caught.value.cause) == (ErrorKind.AUTH, None)
    assert "AKIAUNKNOWNKEY000000" not in caught.value.message


async def test_a_wrong_region_is_refused_by_the_fake(fake: FakeProvider) -> None:
    pool = ClientPool("llmroute-test")
    try:
        elsewhere = BedrockAdapter("bedrock", fake.bedrock_url, pool, region="eu-west-1")
        with pytest.raises(ProviderError) as caught:
            await chat(elsewhere)
        assert caught.value.kind is ErrorKind.AUTH and "scoped to a valid region" in caught.value.message
    finally:
        await pool.aclose()
