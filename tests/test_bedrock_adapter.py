"""BedrockAdapter against Converse / ConverseStream and the control plane (reference/providers-next.md §6).

SigV4 is checked against botocore's signer (the oracle) and AWS's published examples; the event-stream decoder
against botocore's parser, at every byte split; every classification row against the failure table.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from typing import Any
from unittest import mock

import botocore.session
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer
from botocore.serialize import create_serializer
from botocore.validate import ParamValidator
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpx import HTTPXMock, IteratorStream

from llmroute.errors import Cause, ConfigError, ErrorKind, ProviderError
from llmroute.keys import ApiKey, KeySlot
from llmroute.policy import KeyEffect, StateScope, action_for
from llmroute.providers import ClientPool
from llmroute.providers.bedrock import (
    AwsCredentials,
    BedrockAdapter,
    canonical_request,
    classify_error,
    control_plane_url,
    signature_headers,
)
from llmroute.providers.eventstream import EventStreamDecoder, FrameError, Message, parse_headers
from llmroute.providers.options import check_options
from llmroute.types import Candidate, ChatRequest, Message as ChatMessage, ReasoningDelta, StreamEnd, Target, TextDelta
from tests.fakes.bedrock_wire import corrupt, error_frame, event_frame, exception_frame, frame

REGION = "us-east-1"
BASE = "https://bedrock-runtime.us-east-1.amazonaws.com"
CONTROL = "https://bedrock.us-east-1.amazonaws.com"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
ENCODED = "anthropic.claude-3-5-haiku-20241022-v1%3A0"
URL = f"{BASE}/model/{ENCODED}/converse"
STREAM_URL = f"{BASE}/model/{ENCODED}/converse-stream"
AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION = "FwoGZXIvYXdzEJr//////////wEaDNhSeSsiOnToKeNvAlUe+x5yQ=="
API_KEY = "ABSKQmVkcm9ja0FQSUtleS1hYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk="
NOW = dt.datetime(2026, 11, 3, 17, 45, tzinfo=dt.UTC)
SIGV4 = KeySlot("bedrock", ApiKey("bedrock", "AWS_ACCESS_KEY_ID", SECRET), account=AKID)
SESSION_SLOT = KeySlot("bedrock", ApiKey("bedrock", "AWS_ACCESS_KEY_ID", SECRET, token=SESSION), account=AKID)
BEARER = KeySlot("bedrock", ApiKey("bedrock", "AWS_BEARER_TOKEN_BEDROCK", API_KEY))
CANDIDATE = Candidate(Target("bedrock", MODEL), SIGV4)
STREAM = ChatRequest.from_prompt("hi")
NON_STREAM = ChatRequest.from_prompt("hi", stream=False)
EVENT_STREAM = {"content-type": "application/vnd.amazon.eventstream"}

BODY = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Hello! How can I help?"}]}},
    "stopReason": "end_turn",
    "metrics": {"latencyMs": 302},
    "usage": {"inputTokens": 4, "outputTokens": 38, "totalTokens": 42},
}


def events(*frames: bytes) -> bytes:
    return b"".join(frames)


def delta(text: str, index: int = 0) -> bytes:
    return event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": text}})


START = event_frame("messageStart", {"p": "abcdefgh", "role": "assistant"})
STOP = event_frame("messageStop", {"stopReason": "end_turn"})
METADATA = event_frame(
    "metadata", {"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}, "metrics": {"latencyMs": 420}}
)
STREAMED = events(
    START, delta("Hel"), delta("lo"), event_frame("contentBlockStop", {"contentBlockIndex": 0}), STOP, METADATA
)


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    clients = ClientPool("llmroute-test")
    yield clients
    await clients.aclose()


@pytest.fixture
def adapter(pool: ClientPool) -> BedrockAdapter:
    return BedrockAdapter("bedrock", BASE, pool, region=REGION, clock=NOW.timestamp)


async def run(adapter: BedrockAdapter, request: ChatRequest = STREAM, candidate: Candidate = CANDIDATE) -> list[Any]:
    return [event async for event in adapter.chat(candidate, request, timeout=5)]


async def failure(
    adapter: BedrockAdapter, request: ChatRequest = STREAM, candidate: Candidate = CANDIDATE
) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await run(adapter, request, candidate)
    message = caught.value.message
    assert SECRET not in message and SESSION not in message and AKID not in message and "\n" not in message
    return caught.value


def text_of(items: Iterable[Any]) -> str:
    return "".join(e.text for e in items if isinstance(e, TextDelta))


def botocore_sign(method: str, url: str, body: bytes, headers: dict[str, str], token: str = "") -> AWSRequest:
    """The same request signed by botocore at ``NOW``: the oracle."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        SigV4Auth(Credentials(AKID, SECRET, token or None), "bedrock", REGION).add_auth(request)
    return request


def botocore_verifies(sent: httpx.Request, secret: str = SECRET, token: str = "") -> bool:
    """Whether botocore, given the request exactly as it went out, computes the signature it carries."""
    authorization = sent.headers["authorization"]
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    raw_path, _, raw_query = sent.url.raw_path.decode().partition("?")
    request = AWSRequest(
        method=sent.method,
        url=f"{sent.url.scheme}://{sent.headers['host']}{raw_path}" + (f"?{raw_query}" if raw_query else ""),
        data=sent.content,
        headers={name: sent.headers[name] for name in signed},
    )
    request.context["timestamp"] = sent.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(AKID, secret, token or None), "bedrock", REGION)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return authorization.endswith(f"Signature={expected}")


# --------------------------------------------------------------------------- SigV4


def test_canonical_request_of_a_model_id_with_a_colon_encodes_the_path_twice() -> None:
    body = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {
        "content-type": "application/json",
        "host": "bedrock-runtime.us-east-1.amazonaws.com",
        "x-amz-date": "20261103T174500Z",
    }
    canonical = canonical_request("POST", f"/model/{ENCODED}/converse", "", headers, sorted(headers), payload_hash)
    assert canonical.split("\n") == [
        "POST",
        "/model/anthropic.claude-3-5-haiku-20241022-v1%253A0/converse",
        "",
        "content-type:application/json",
        "host:bedrock-runtime.us-east-1.amazonaws.com",
        "x-amz-date:20261103T174500Z",
        "",
        "content-type;host;x-amz-date",
        payload_hash,
    ]
    oracle = SigV4Auth(Credentials(AKID, SECRET), "bedrock", REGION)
    request = AWSRequest(method="POST", url=f"{BASE}/model/{ENCODED}/converse", data=body, headers=headers)
    request.context["timestamp"] = "20261103T174500Z"
    assert canonical == oracle.canonical_request(request)


@pytest.mark.parametrize(
    "model",
    [
        MODEL,
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0",
        "amazon.nova-micro-v1:0",
    ],
)
@pytest.mark.parametrize("token", ["", SESSION])
def test_the_signature_is_botocores_byte_for_byte(pool: ClientPool, model: str, token: str) -> None:
    adapter = BedrockAdapter("bedrock", BASE, pool, region=REGION, clock=NOW.timestamp)
    url = adapter.model_url(model, stream=True)
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "héllo ✓"}]}]}).encode()
    ours = signature_headers(
        AwsCredentials(AKID, SECRET, token),
        REGION,
        "POST",
        httpx.URL(url).raw_path.decode(),
        "",
        {"content-type": "application/json", "host": httpx.URL(url).host},
        body,
        NOW.timestamp(),
    )
    oracle = botocore_sign("POST", url, body, {"Content-Type": "application/json"}, token)
    assert ours["Authorization"] == oracle.headers["Authorization"]
    assert ours["X-Amz-Date"] == oracle.headers["X-Amz-Date"] == "20261103T174500Z"
    assert ours.get("X-Amz-Security-Token") == (oracle.headers.get("X-Amz-Security-Token"))


@settings(max_examples=150, deadline=None)
@given(
    model=st.text(min_size=1, max_size=40).filter(lambda m: m not in (".", "..")),
    params=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=12), max_size=3),
)
def test_any_model_id_and_query_sign_as_botocore_signs_them(model: str, params: dict[str, str]) -> None:
    adapter = BedrockAdapter("bedrock", BASE, ClientPool("t"), region=REGION, clock=NOW.timestamp)
    url = adapter.model_url(model, stream=False)
    from llmroute.providers.bedrock import uri_encode

    query = "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in params.items())
    full = f"{url}?{query}" if query else url
    raw_path, _, raw_query = httpx.URL(full).raw_path.decode().partition("?")
    ours = signature_headers(
        AwsCredentials(AKID, SECRET),
        REGION,
        "POST",
        raw_path,
        raw_query,
        {"host": "bedrock-runtime.us-east-1.amazonaws.com"},
        b"{}",
        NOW.timestamp(),
    )
    oracle = botocore_sign("POST", full, b"{}", {})
    assert ours["Authorization"] == oracle.headers["Authorization"]


def test_aws_published_examples() -> None:
    """AWS's own known answers (SigV4 test suite "get-vanilla" and the IAM ListUsers example)."""
    credentials = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    when = dt.datetime(2015, 8, 30, 12, 36, tzinfo=dt.UTC).timestamp()
    vanilla = signature_headers(
        credentials, "us-east-1", "GET", "/", "", {"host": "example.amazonaws.com"}, b"", when, service="service"
    )
    assert vanilla["Authorization"].endswith(
        "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )
    iam = signature_headers(
        credentials,
        "us-east-1",
        "GET",
        "/",
        "Action=ListUsers&Version=2010-05-08",
        {"host": "iam.amazonaws.com", "content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        b"",
        when,
        service="iam",
    )
    assert iam["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    )


async def test_the_bytes_sent_are_the_bytes_signed(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=STREAM_URL, method="POST", stream=IteratorStream([STREAMED]), headers=EVENT_STREAM)
    await run(adapter, ChatRequest.from_prompt("naïve ✓ \ud83d", system="be terse"))
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.url.raw_path == f"/model/{ENCODED}/converse-stream".encode()
    assert sent.headers["x-amz-date"] == "20261103T174500Z"
    assert sent.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={AKID}/20261103/us-east-1/bedrock/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature="
    )
    assert "x-amz-security-token" not in sent.headers
    assert botocore_verifies(sent)
    assert not botocore_verifies(sent, secret="another" + SECRET)


async def test_session_credentials_send_and_sign_the_token(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    adapter = BedrockAdapter("bedrock", BASE, pool, region=REGION, clock=NOW.timestamp)
    httpx_mock.add_response(url=URL, method="POST", json=BODY)
    await run(adapter, NON_STREAM, Candidate(Target("bedrock", MODEL), SESSION_SLOT))
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["x-amz-security-token"] == SESSION
    assert "x-amz-security-token" in sent.headers["authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert botocore_verifies(sent, token=SESSION)


async def test_an_api_key_travels_as_a_bearer_without_sigv4(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", json=BODY)
    await run(adapter, NON_STREAM, Candidate(Target("bedrock", MODEL), BEARER))
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert "x-amz-date" not in sent.headers


def test_region_and_urls(pool: ClientPool) -> None:
    with pytest.raises(ConfigError):
        BedrockAdapter("bedrock", BASE, pool, region="us-east-1/../x")
    assert BedrockAdapter("bedrock", "", pool, region="eu-west-3").base_url == (
        "https://bedrock-runtime.eu-west-3.amazonaws.com"
    )
    assert control_plane_url(BASE) == CONTROL
    assert control_plane_url("https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com/") == (
        "https://bedrock-fips.us-gov-west-1.amazonaws.com"
    )
    assert control_plane_url("http://127.0.0.1:8080/bedrock") == "http://127.0.0.1:8080/bedrock"
    custom = BedrockAdapter("b", "https://proxy.example/br", pool, control_url="https://ctl.example/")
    assert custom.control_url == "https://ctl.example"


@pytest.mark.parametrize("model", ["", ".", ".."])
async def test_a_model_id_that_cannot_be_a_path_segment_is_refused_before_sending(
    adapter: BedrockAdapter, model: str
) -> None:
    error = await failure(adapter, STREAM, Candidate(Target("bedrock", model), SIGV4))
    assert error.kind is ErrorKind.MODEL_NOT_FOUND


# --------------------------------------------------------------------------- the request body


async def test_converse_body_shape(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, method="POST", json=BODY)
    request = ChatRequest(
        messages=(
            ChatMessage("system", "be terse"),
            ChatMessage("user", "first"),
            ChatMessage("user", "second"),
            ChatMessage("assistant", ""),
            ChatMessage("assistant", "ok"),
            ChatMessage("system", "and exact"),
            ChatMessage("user", "third"),
        ),
        temperature=0.2,
        max_tokens=64,
        stream=False,
    )
    await run(adapter, request)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {
        "messages": [
            {"role": "user", "content": [{"text": "first"}, {"text": "second"}]},
            {"role": "assistant", "content": [{"text": "ok"}]},
            {"role": "user", "content": [{"text": "third"}]},
        ],
        "system": [{"text": "be terse"}, {"text": "and exact"}],
        "inferenceConfig": {"maxTokens": 64, "temperature": 0.2},
    }


async def test_plain_prompt_has_no_system_nor_config(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([STREAMED]), headers=EVENT_STREAM)
    await run(adapter)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.content == b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
    assert sent.headers["accept"] == "application/vnd.amazon.eventstream"


async def test_top_p_and_stop_sequences_go_in_inference_config(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    request = ChatRequest.from_prompt("hi", stream=False, top_p=0.9, stop=("\n\nHuman:", "END"), max_tokens=64)
    await run(adapter, request)
    sent = httpx_mock.get_request()
    assert sent is not None
    assert json.loads(sent.content) == {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 64, "topP": 0.9, "stopSequences": ["\n\nHuman:", "END"]},
    }


async def test_the_body_is_what_botocore_serialises_for_converse(
    adapter: BedrockAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    request = ChatRequest.from_prompt(
        "hi", system="be brief", stream=False, temperature=0.3, top_p=0.8, max_tokens=100, stop=("END",)
    )
    await run(adapter, request)
    sent = httpx_mock.get_request()
    assert sent is not None
    ours = json.loads(sent.content)
    operation = botocore.session.get_session().get_service_model("bedrock-runtime").operation_model("Converse")
    params = {"modelId": MODEL, **ours}
    report = ParamValidator().validate(params, operation.input_shape)
    assert not report.has_errors(), report.generate_report()
    oracle = create_serializer("rest-json").serialize_to_request(params, operation)
    assert ours == json.loads(oracle["body"])
    assert URL.endswith(oracle["url_path"])


async def test_a_seed_is_refused_before_signing_or_sending(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    error = await failure(adapter, ChatRequest.from_prompt("hi", seed=5))
    assert (error.kind, error.provider) == (ErrorKind.BAD_REQUEST, "bedrock")
    assert error.message == "cannot send this request: seed: Bedrock Converse has no seed"
    assert httpx_mock.get_requests() == []


def test_converse_has_no_seed_field() -> None:
    # The service model is the contract the table follows: ``seed`` is no member of ``inferenceConfig``.
    operation = botocore.session.get_session().get_service_model("bedrock-runtime").operation_model("Converse")
    params = {"modelId": MODEL, "messages": [], "inferenceConfig": {"seed": 5}}
    assert (
        'Unknown parameter in inferenceConfig: "seed"'
        in ParamValidator().validate(params, operation.input_shape).generate_report()
    )
    assert operation.input_shape.members["inferenceConfig"].members["stopSequences"].metadata["max"] == 2500


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ({"top_p": 1.0, "stop": tuple(str(n) for n in range(2500))}, None),
        ({"stop": tuple(str(n) for n in range(2501))}, "stop"),
        ({"seed": 1}, "seed"),
    ],
)
def test_check_options_for_the_bedrock_wire(options: dict[str, Any], refused: str | None) -> None:
    reason = check_options("bedrock", ChatRequest.from_prompt("hi", **options))
    assert (reason.split(":")[0] if reason else None) == refused


# --------------------------------------------------------------------------- non-stream answers


async def test_converse_answer(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json=BODY)
    result = await run(adapter, NON_STREAM)
    assert result == [
        TextDelta("Hello! How can I help?"),
        StreamEnd(MODEL, usage=result[-1].usage, finish_reason="stop"),
    ]
    assert (result[-1].usage.input_tokens, result[-1].usage.output_tokens) == (4, 38)


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("malformed_model_output", "malformed_model_output"),
    ],
)
async def test_stop_reasons(adapter: BedrockAdapter, httpx_mock: HTTPXMock, stop: str, finish: str) -> None:
    httpx_mock.add_response(url=URL, json={**BODY, "stopReason": stop})
    assert (await run(adapter, NON_STREAM))[-1].finish_reason == finish


async def test_reasoning_and_cached_tokens(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    body = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "Let me think.", "signature": "c2ln"}}},
                    {"reasoningContent": {"redactedContent": "b3BhcXVl"}},
                    {"text": "42"},
                ],
            }
        },
        "stopReason": "end_turn",
        "usage": {"inputTokens": 3, "outputTokens": 9, "cacheReadInputTokens": 100, "cacheWriteInputTokens": 20},
    }
    httpx_mock.add_response(url=URL, json=body)
    result = await run(adapter, NON_STREAM)
    assert result[:2] == [ReasoningDelta("Let me think."), TextDelta("42")]
    assert (result[-1].usage.input_tokens, result[-1].usage.output_tokens) == (123, 9)


@pytest.mark.parametrize("body", [b"<html>gateway</html>", b'{"message":"hi"}', b"[1]", b"", b'{"output":{}}'])
async def test_an_answer_without_an_output_message_is_a_bad_response(
    adapter: BedrockAdapter, httpx_mock: HTTPXMock, body: bytes
) -> None:
    httpx_mock.add_response(url=URL, content=body)
    assert (await failure(adapter, NON_STREAM)).kind is ErrorKind.BAD_RESPONSE


# --------------------------------------------------------------------------- the event-stream decoder


def all_header_types() -> bytes:
    """A frame holding every header value type, written by hand (the fake's encoder knows only four)."""
    import struct
    import zlib

    def h(name: str, kind: int, raw: bytes) -> bytes:
        return bytes([len(name)]) + name.encode() + bytes([kind]) + raw

    head = b"".join(
        (
            h("true", 0, b""),
            h("false", 1, b""),
            h("byte", 2, b"\xff"),
            h("short", 3, struct.pack(">h", -2)),
            h("int", 4, struct.pack(">i", 70000)),
            h("long", 5, struct.pack(">q", -(2**40))),
            h("bytes", 6, struct.pack(">H", 3) + b"\x00\x01\x02"),
            h("string", 7, struct.pack(">H", 5) + "héé".encode()),
            h("timestamp", 8, struct.pack(">q", 1_700_000_000_000)),
            h("uuid", 9, bytes(range(16))),
        )
    )
    payload = b'{"x":1}'
    prelude = struct.pack(">II", len(head) + len(payload) + 16, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def botocore_messages(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(m.headers, m.payload) for m in buffer]


def ours(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    decoder = EventStreamDecoder()
    found = [(m.headers, m.payload) for m in decoder.feed(data)]
    decoder.close()
    return found


def test_decoder_agrees_with_botocore_on_every_header_type() -> None:
    data = all_header_types() + STREAMED + exception_frame("throttlingException", "slow down")
    mine, theirs = ours(data), botocore_messages(data)
    assert len(mine) == len(theirs) == 8
    for (headers, payload), (expected_headers, expected_payload) in zip(mine, theirs, strict=True):
        assert payload == expected_payload
        assert headers == expected_headers


def test_decoder_at_every_split_offset() -> None:
    data = STREAMED + exception_frame("modelStreamErrorException", "boom")
    expected = ours(data)
    for at in range(len(data) + 1):
        decoder = EventStreamDecoder()
        found = decoder.feed(data[:at]) + decoder.feed(data[at:])
        decoder.close()
        assert [(m.headers, m.payload) for m in found] == expected, at
    decoder = EventStreamDecoder()
    one_by_one = [m for i in range(len(data)) for m in decoder.feed(data[i : i + 1])]
    assert [(m.headers, m.payload) for m in one_by_one] == expected


def test_each_message_is_returned_as_soon_as_its_last_byte_arrives() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(START[:-1]) == []
    assert decoder.pending == len(START) - 1
    assert [m.header(":event-type") for m in decoder.feed(START[-1:])] == ["messageStart"]
    assert decoder.pending == 0


@pytest.mark.parametrize("part", ["message", "prelude"])
@pytest.mark.parametrize("which", [0, 1, 3])
def test_a_corrupt_crc_is_a_frame_error(part: str, which: int) -> None:
    frames = [START, delta("a"), delta("b"), STOP]
    frames[min(which, 3)] = corrupt(frames[min(which, 3)], part)  # type: ignore[arg-type]
    decoder = EventStreamDecoder()
    with pytest.raises(FrameError, match=f"{part} checksum mismatch"):
        for byte in range(len(data := b"".join(frames))):
            decoder.feed(data[byte : byte + 1])


@pytest.mark.parametrize("cut", [1, 11, 12, 13, len(START) - 1])
def test_a_stream_ending_inside_a_frame_is_a_frame_error(cut: int) -> None:
    decoder = EventStreamDecoder()
    decoder.feed(START + delta("x")[:cut])
    with pytest.raises(FrameError, match="ended inside a frame"):
        decoder.close()


def with_lengths(total: int, headers: int) -> bytes:
    import struct
    import zlib

    prelude = struct.pack(">II", total, headers)
    return prelude + struct.pack(">I", zlib.crc32(prelude))


@pytest.mark.parametrize(
    ("total", "headers"), [(15, 0), (2**31, 0), (100, 85), (16 + 200_000, 140_000), (0xFFFFFFFF, 0xFFFFFFFF)]
)
def test_lengths_out_of_bounds_are_refused_before_buffering(total: int, headers: int) -> None:
    with pytest.raises(FrameError, match="out of bounds"):
        EventStreamDecoder().feed(with_lengths(total, headers))


@pytest.mark.parametrize(
    "headers",
    [
        b"\x05:abc",  # the name runs past the end
        b"\x01a",  # no value type
        b"\x01a\x0a",  # unknown value type 10
        b"\x01a\x07\x00\x09abc",  # the string runs past the end
        b"\x01a\x04\x00\x00",  # an i32 cut short
        b"\x01a\x06\x00",  # a length cut short
        b"\x01\xff\x07\x00\x00",  # the name is not UTF-8
        b"\x01a\x07\x00\x02\xc3\x28",  # the value is not UTF-8
    ],
)
def test_malformed_headers_are_frame_errors(headers: bytes) -> None:
    with pytest.raises(FrameError):
        parse_headers(headers)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=300))
def test_garbage_never_raises_anything_but_frame_error(data: bytes, at: int) -> None:
    decoder = EventStreamDecoder()
    try:
        decoder.feed(data[:at])
        decoder.feed(data[at:])
        decoder.close()
    except FrameError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.integers(min_value=0))
def test_a_valid_frame_with_headers_garbled_is_a_frame_error_or_a_message(garbage: bytes, seed: int) -> None:
    """Headers of any bytes behind valid CRCs: parsed or refused, never a crash."""
    import struct
    import zlib

    prelude = struct.pack(">II", len(garbage) + 16, len(garbage))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    data = prelude + garbage
    data += struct.pack(">I", zlib.crc32(data))
    try:
        messages = EventStreamDecoder().feed(data)
    except FrameError:
        return
    assert len(messages) == 1 and isinstance(messages[0], Message)


# --------------------------------------------------------------------------- ConverseStream through the adapter


async def test_stream_yields_text_usage_and_finish(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([STREAMED]), headers=EVENT_STREAM)
    result = await run(adapter)
    assert result[:2] == [TextDelta("Hel"), TextDelta("lo")]
    end = result[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "stop" and end.model == MODEL
    assert (end.usage.input_tokens, end.usage.output_tokens) == (10, 5)


async def test_stream_split_at_every_offset_gives_the_same_events(
    adapter: BedrockAdapter, httpx_mock: HTTPXMock
) -> None:
    reasoning = event_frame(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm."}}}
    )
    signature = event_frame(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "c2ln"}}}
    )
    tool = event_frame(
        "contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}}
    )
    unknown = event_frame("somethingNew", {"x": 1})
    data = events(START, reasoning, signature, tool, unknown, delta("Hel", 2), delta("lo", 2), STOP, METADATA)
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([data]), headers=EVENT_STREAM)
    expected = await run(adapter)
    assert expected[:3] == [ReasoningDelta("Hmm."), TextDelta("Hel"), TextDelta("lo")]
    for at in range(1, len(data)):  # the reader itself, on responses cut in two at each offset
        response = httpx.Response(200, headers=EVENT_STREAM, stream=IteratorStream([data[:at], data[at:]]))
        got = [event async for event in adapter.read_stream(response, CANDIDATE, ())]
        assert text_of(got) == "Hello" and got[0] == ReasoningDelta("Hmm.") and got[-1] == expected[-1], at


async def test_a_surrogate_pair_split_across_frames_is_joined(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    raw = b'{"contentBlockIndex":0,"delta":{"text":"%s"}}'
    first = frame(((":event-type", "contentBlockDelta"), (":message-type", "event")), raw % b"smile \\ud83d")
    second = frame(((":event-type", "contentBlockDelta"), (":message-type", "event")), raw % b"\\ude00")
    httpx_mock.add_response(
        url=STREAM_URL, stream=IteratorStream([events(START, first, second, STOP)]), headers=EVENT_STREAM
    )
    assert text_of(await run(adapter)) == "smile \U0001f600"


async def test_the_first_token_arrives_before_the_stream_ends(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    """Incremental decoding: nothing waits for the end of the body."""
    release = asyncio.Event()

    class Gated(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield START + delta("first")
            await release.wait()
            yield STOP + METADATA

    httpx_mock.add_response(url=STREAM_URL, stream=Gated(), headers=EVENT_STREAM)
    stream = adapter.chat(CANDIDATE, STREAM, timeout=5)
    assert await asyncio.wait_for(stream.__anext__(), 2) == TextDelta("first")
    release.set()
    rest = [event async for event in stream]
    assert isinstance(rest[-1], StreamEnd)


@pytest.mark.parametrize("part", ["message", "prelude"])
async def test_a_corrupt_frame_is_a_bad_response(adapter: BedrockAdapter, httpx_mock: HTTPXMock, part: str) -> None:
    data = events(START, delta("a"), corrupt(delta("b"), part), STOP)  # type: ignore[arg-type]
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([data]), headers=EVENT_STREAM)
    error = await failure(adapter)
    assert error.kind is ErrorKind.BAD_RESPONSE and "checksum" in error.message


@pytest.mark.parametrize(
    "data",
    [
        events(START, delta("a"), delta("b")[:20]),  # cut inside a frame
        events(START, delta("a")),  # whole frames, but no messageStop
        b"",
    ],
)
async def test_a_truncated_stream_is_a_bad_response(
    adapter: BedrockAdapter, httpx_mock: HTTPXMock, data: bytes
) -> None:
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([data]), headers=EVENT_STREAM)
    assert (await failure(adapter)).kind is ErrorKind.BAD_RESPONSE


async def test_an_event_with_a_malformed_payload_is_a_bad_response(
    adapter: BedrockAdapter, httpx_mock: HTTPXMock
) -> None:
    bad = frame(((":event-type", "contentBlockDelta"), (":message-type", "event")), b"{not json")
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([events(START, bad, STOP)]), headers=EVENT_STREAM)
    assert (await failure(adapter)).kind is ErrorKind.BAD_RESPONSE


@pytest.mark.parametrize(
    ("exception", "message", "kind"),
    [
        ("throttlingException", "Too many tokens, please wait before trying again.", ErrorKind.RATE_LIMITED),
        ("throttlingException", "Too many tokens per day, please wait before trying again.", ErrorKind.QUOTA),
        ("serviceUnavailableException", "Bedrock is unable to process your request.", ErrorKind.OVERLOADED),
        ("modelStreamErrorException", "The model stream failed.", ErrorKind.SERVER),
        ("internalServerException", "An internal server error occurred.", ErrorKind.SERVER),
        ("validationException", "Input is too long for requested model.", ErrorKind.BAD_REQUEST),
    ],
)
@pytest.mark.parametrize("before_first_token", [True, False])
async def test_exceptions_inside_the_stream_are_classified(
    adapter: BedrockAdapter,
    httpx_mock: HTTPXMock,
    exception: str,
    message: str,
    kind: ErrorKind,
    before_first_token: bool,
) -> None:
    head = events(START) if before_first_token else events(START, delta("partial"))
    data = head + exception_frame(exception, message) + STOP
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([data]), headers=EVENT_STREAM)
    seen: list[Any] = []
    with pytest.raises(ProviderError) as caught:
        async for event in adapter.chat(CANDIDATE, STREAM, timeout=5):
            seen.append(event)
    assert caught.value.kind is kind and caught.value.status == 200
    assert caught.value.message.startswith(exception[0].upper() + exception[1:]) and message in caught.value.message
    assert (seen == []) is before_first_token


async def test_an_unmodelled_error_frame_is_classified_by_its_code(
    adapter: BedrockAdapter, httpx_mock: HTTPXMock
) -> None:
    data = events(START, error_frame("InternalFailure", "We encountered an internal error."))
    httpx_mock.add_response(url=STREAM_URL, stream=IteratorStream([data]), headers=EVENT_STREAM)
    error = await failure(adapter)
    assert error.kind is ErrorKind.SERVER and "InternalFailure" in error.message


async def test_a_json_answer_to_a_stream_request_is_read_as_a_body(
    adapter: BedrockAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=STREAM_URL, json=BODY)
    assert text_of(await run(adapter)) == "Hello! How can I help?"


async def test_a_connection_cut_mid_frame_is_a_connection_error(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    class Cut(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield START + delta("a")[:10]
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    httpx_mock.add_response(url=STREAM_URL, stream=Cut(), headers=EVENT_STREAM)
    assert (await failure(adapter)).kind is ErrorKind.CONNECTION


# --------------------------------------------------------------------------- HTTP errors

CORAL = "http://internal.amazon.com/coral/com.amazon.coral.service/"
BEDROCK = "http://internal.amazon.com/coral/com.amazon.bedrock/"
INVALID_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key "
    "and signing method. Consult the service documentation for details."
)
IAM_DENIED = (
    "User: arn:aws:iam::123456789012:user/x is not authorized to perform: bedrock:InvokeModel on resource: "
    f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL} because no identity-based policy allows the "
    "bedrock:InvokeModel action"
)
ON_DEMAND = (
    "Invocation of model ID anthropic.claude-sonnet-4-20250514-v1:0 with on-demand throughput isn\u2019t supported. "
    "Retry your request with the ID or ARN of an inference profile that contains this model."
)
LEGACY = (
    "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the "
    "last 15 days. Please upgrade to an active model on Amazon Bedrock"
)
EOL = "This model version has reached the end of its life. Please refer to the AWS documentation for more details."
PATTERN = (
    "1 validation error detected: Value 'anthropic.claude-v2:0:100k' at 'modelId' failed to satisfy constraint: "
    "Member must satisfy regular expression pattern: ..."
)

#: (status, x-amzn-ErrorType or None, body, kind, cause): the classification table, row by row.
ROWS: list[tuple[int, str | None, dict[str, Any] | bytes, ErrorKind, Cause | None]] = [
    (
        429,
        "ThrottlingException",
        {"message": "Too many requests, please wait before trying again."},
        ErrorKind.RATE_LIMITED,
        None,
    ),
    (
        429,
        "ThrottlingException",
        {"message": "Your request was denied due to exceeding the account quotas for Amazon Bedrock."},
        ErrorKind.RATE_LIMITED,
        None,
    ),
    (
        429,
        "ThrottlingException",
        {"message": "Too many tokens per day, please wait before trying again."},
        ErrorKind.QUOTA,
        None,
    ),
    (
        400,
        "ServiceQuotaExceededException",
        {"message": "Your request exceeds the service quota for your account."},
        ErrorKind.QUOTA,
        None,
    ),
    (
        503,
        "ServiceUnavailableException",
        {"message": "Bedrock is unable to process your request."},
        ErrorKind.OVERLOADED,
        None,
    ),
    (
        429,
        "ModelNotReadyException",
        {"message": "The model specified in the request is not ready to serve inference requests."},
        ErrorKind.OVERLOADED,
        None,
    ),
    (408, "ModelTimeoutException", {"message": "The request took too long to process."}, ErrorKind.TIMEOUT, None),
    (
        424,
        "ModelErrorException",
        {"message": "The request failed due to an error while processing the model."},
        ErrorKind.SERVER,
        None,
    ),
    (
        500,
        "InternalServerException",
        {"message": "An internal server error occurred. Retry your request."},
        ErrorKind.SERVER,
        None,
    ),
    (
        403,
        "AccessDeniedException",
        {"message": "You don't have access to the model with the specified model ID."},
        ErrorKind.AUTH,
        Cause.MODEL_ACCESS,
    ),
    (403, "AccessDeniedException", {"Message": IAM_DENIED}, ErrorKind.AUTH, Cause.MODEL_ACCESS),
    (
        403,
        "AccessDeniedException",
        {"message": "Your account is not authorized to invoke this API operation."},
        ErrorKind.AUTH,
        Cause.MODEL_ACCESS,
    ),
    (
        403,
        "UnrecognizedClientException",
        {"message": "The security token included in the request is invalid."},
        ErrorKind.AUTH,
        None,
    ),
    (403, None, {"message": "The security token included in the request is invalid."}, ErrorKind.AUTH, None),
    (403, "InvalidSignatureException", {"message": INVALID_SIGNATURE}, ErrorKind.AUTH, None),
    (
        403,
        "ExpiredTokenException",
        {"message": "The security token included in the request is expired"},
        ErrorKind.AUTH,
        None,
    ),
    (403, None, {"Message": "Authentication failed: Please make sure your API Key is valid."}, ErrorKind.AUTH, None),
    (403, None, {"Message": "Invalid API Key format: Must start with pre-defined prefix"}, ErrorKind.AUTH, None),
    (
        403,
        "AccessDeniedException",
        {"Message": "Authentication failed: Please make sure your API Key is valid."},
        ErrorKind.AUTH,
        None,
    ),
    (
        404,
        "ResourceNotFoundException",
        {"message": EOL},
        ErrorKind.MODEL_NOT_FOUND,
        None,
    ),
    (404, "ResourceNotFoundException", {"message": LEGACY}, ErrorKind.AUTH, Cause.MODEL_ACCESS),
    (
        400,
        "ValidationException",
        {"message": "The provided model identifier is invalid."},
        ErrorKind.MODEL_NOT_FOUND,
        None,
    ),
    (400, "ValidationException", {"message": ON_DEMAND}, ErrorKind.MODEL_NOT_FOUND, None),
    (400, "ValidationException", {"message": PATTERN}, ErrorKind.MODEL_NOT_FOUND, None),
    (
        400,
        "ValidationException",
        {"message": "A conversation must alternate between user and assistant roles."},
        ErrorKind.BAD_REQUEST,
        None,
    ),
    (
        400,
        "ValidationException",
        {"message": "Input is too long for requested model."},
        ErrorKind.BAD_REQUEST,
        Cause.CONTEXT_LENGTH,
    ),
    (400, "SerializationException", {"message": "Unexpected character"}, ErrorKind.BAD_REQUEST, None),
    # The type only in the body, in coral's spelling; then neither (the status decides).
    (
        400,
        None,
        {"__type": "com.amazon.coral.service#UnrecognizedClientException", "message": "x"},
        ErrorKind.AUTH,
        None,
    ),
    (
        400,
        None,
        {"__type": "com.amazon.coral.validate#ValidationException", "message": "bad"},
        ErrorKind.BAD_REQUEST,
        None,
    ),
    (502, None, b"<html><title>502 Bad Gateway</title></html>", ErrorKind.SERVER, None),
    (429, None, b"", ErrorKind.RATE_LIMITED, None),
]


@pytest.mark.parametrize(("status", "type_name", "body", "kind", "cause"), ROWS)
async def test_http_error_classification(
    adapter: BedrockAdapter,
    httpx_mock: HTTPXMock,
    status: int,
    type_name: str | None,
    body: dict[str, Any] | bytes,
    kind: ErrorKind,
    cause: Cause | None,
) -> None:
    namespace = CORAL if type_name in ("UnrecognizedClientException", "InvalidSignatureException") else BEDROCK
    headers = {"x-amzn-RequestId": "c9507833-2d9a-4f0f-b4c0-08ac3dd223f8"}
    if type_name:
        headers["x-amzn-ErrorType"] = f"{type_name}:{namespace}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    httpx_mock.add_response(url=URL, status_code=status, content=content, headers=headers)
    error = await failure(adapter, NON_STREAM)
    assert (error.kind, error.cause, error.status) == (kind, cause, status)
    assert error.retry_at is None  # Bedrock never says when: the table's default cooldown applies
    if type_name:
        assert error.message.startswith(type_name + ": ")


def test_what_the_failure_table_does_with_each_bedrock_kind() -> None:
    """A model the account may not use never disables the credential; a dead credential does."""
    access = action_for(ErrorKind.AUTH, Cause.MODEL_ACCESS)
    assert (access.key, access.scope) == (KeyEffect.UNAVAILABLE, StateScope.POOL_MODEL)
    assert action_for(ErrorKind.AUTH).key is KeyEffect.DISABLE
    assert action_for(ErrorKind.RATE_LIMITED).base_cooldown > 0
    assert action_for(ErrorKind.TIMEOUT).retry_same


async def test_secrets_and_the_access_key_id_never_reach_a_message(pool: ClientPool, httpx_mock: HTTPXMock) -> None:
    """AWS quotes the canonical request back on a signature mismatch: with a session token in it."""
    adapter = BedrockAdapter("bedrock", BASE, pool, region=REGION, clock=NOW.timestamp)
    echoed = (
        f"Signature mismatch.\n\nThe Canonical String for this request should have been\n'POST\n/model/x\n\n"
        f"x-amz-security-token:{SESSION}\n'\nCredential={AKID}/20261103 with {SECRET}"
    )
    httpx_mock.add_response(
        url=URL,
        status_code=403,
        json={"message": echoed},
        headers={"x-amzn-ErrorType": f"InvalidSignatureException:{CORAL}"},
    )
    error = await failure(adapter, NON_STREAM, Candidate(Target("bedrock", MODEL), SESSION_SLOT))
    assert error.kind is ErrorKind.AUTH
    assert f"x-amz-security-token:…{SESSION[-4:]}" in error.message and f"Credential=…{AKID[-4:]}/" in error.message


def test_classify_error_prefers_a_dead_credential_over_the_type() -> None:
    error = classify_error(403, "AccessDeniedException", "The security token included in the request is expired", ())
    assert (error.kind, error.cause) == (ErrorKind.AUTH, None)


# --------------------------------------------------------------------------- the catalogue and the key check

MODELS_URL = f"{CONTROL}/foundation-models?byOutputModality=TEXT"
PROFILES_URL = f"{CONTROL}/inference-profiles?type=SYSTEM_DEFINED&maxResults=1000"
SUMMARIES = {
    "modelSummaries": [
        {
            "modelId": MODEL,
            "modelName": "Claude 3.5 Haiku",
            "providerName": "Anthropic",
            "outputModalities": ["TEXT"],
            "inferenceTypesSupported": ["ON_DEMAND"],
            "modelLifecycle": {"status": "ACTIVE"},
        },
        {
            "modelId": "anthropic.claude-sonnet-4-20250514-v1:0",
            "modelName": "Claude Sonnet 4",
            "outputModalities": ["TEXT"],
            "inferenceTypesSupported": ["INFERENCE_PROFILE"],
        },
        {"modelId": "", "modelName": "broken"},
        "garbage",
    ]
}


def profile(profile_id: str, model: str, status: str = "ACTIVE") -> dict[str, Any]:
    return {
        "inferenceProfileId": profile_id,
        "inferenceProfileName": f"US {model}",
        "status": status,
        "type": "SYSTEM_DEFINED",
        "models": [{"modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{model}"}],
    }


async def test_list_models_reads_foundation_models_and_profiles(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=SUMMARIES)
    httpx_mock.add_response(
        url=PROFILES_URL,
        json={
            "inferenceProfileSummaries": [
                profile("us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0"),
                profile("us.stability.sd3-v1:0", "stability.sd3-large-v1:0"),  # an image model: not listed
                profile("us.old.model-v1:0", MODEL, status="LEGACY"),
            ],
            "nextToken": "page2",
        },
    )
    httpx_mock.add_response(
        url=f"{PROFILES_URL}&nextToken=page2",
        json={"inferenceProfileSummaries": [profile("eu.anthropic.claude-3-5-haiku-20241022-v1:0", MODEL)]},
    )
    models = await adapter.list_models(SIGV4, timeout=5)
    assert [m.model for m in models] == [
        MODEL,
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
        "eu.anthropic.claude-3-5-haiku-20241022-v1:0",
    ]
    assert models[0].name == "Claude 3.5 Haiku"
    for sent in httpx_mock.get_requests():
        assert sent.url.host == "bedrock.us-east-1.amazonaws.com" and botocore_verifies(sent)


async def test_list_models_without_the_profiles_permission(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=SUMMARIES)
    httpx_mock.add_response(
        url=PROFILES_URL,
        status_code=403,
        json={"Message": "User: arn:aws:iam::1:user/x is not authorized to perform: bedrock:ListInferenceProfiles"},
        headers={"x-amzn-ErrorType": f"AccessDeniedException:{BEDROCK}"},
    )
    assert [m.model for m in await adapter.list_models(SIGV4, timeout=5)] == [MODEL]


async def test_list_models_needs_model_summaries(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json={"models": []})
    with pytest.raises(ProviderError) as caught:
        await adapter.list_models(SIGV4, timeout=5)
    assert caught.value.kind is ErrorKind.BAD_RESPONSE


async def test_probe_key_lists_foundation_models(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=SUMMARIES)
    info = await adapter.probe_key(BEARER, timeout=5)
    assert info.detail == "credentials valid in us-east-1; 4 text models listed"
    sent = httpx_mock.get_request()
    assert sent is not None and sent.headers["authorization"] == f"Bearer {API_KEY}"


async def test_probe_key_access_denied_still_proves_the_credential(
    adapter: BedrockAdapter, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=MODELS_URL,
        status_code=403,
        json={"message": "User is not authorized to perform: bedrock:ListFoundationModels"},
        headers={"x-amzn-ErrorType": f"AccessDeniedException:{BEDROCK}"},
    )
    info = await adapter.probe_key(SIGV4, timeout=5)
    assert info.detail is not None and "not allowed to list models" in info.detail


@pytest.mark.parametrize(
    ("type_name", "message"),
    [
        ("UnrecognizedClientException", "The security token included in the request is invalid."),
        ("InvalidSignatureException", INVALID_SIGNATURE),
        (None, "Authentication failed: Please make sure your API Key is valid."),
    ],
)
async def test_probe_key_raises_for_a_dead_credential(
    adapter: BedrockAdapter, httpx_mock: HTTPXMock, type_name: str | None, message: str
) -> None:
    headers = {"x-amzn-ErrorType": f"{type_name}:{CORAL}"} if type_name else {}
    httpx_mock.add_response(url=MODELS_URL, status_code=403, json={"message": message}, headers=headers)
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(SIGV4, timeout=5)
    assert (caught.value.kind, caught.value.cause) == (ErrorKind.AUTH, None)


async def test_probe_key_transport_failure(adapter: BedrockAdapter, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"), url=MODELS_URL)
    with pytest.raises(ProviderError) as caught:
        await adapter.probe_key(SIGV4, timeout=5)
    assert caught.value.kind is ErrorKind.CONNECTION


# --------------------------------------------------------------------------- start-up cost


def test_importing_the_adapter_loads_neither_httpx_nor_a_signer_library() -> None:
    code = (
        "import sys, llmroute.providers.bedrock; "
        "print(sorted(m for m in ('httpx', 'botocore', 'llmroute.providers.eventstream') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
