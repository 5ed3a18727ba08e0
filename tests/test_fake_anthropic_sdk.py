"""The fake Anthropic API, read by the official ``anthropic`` client.

The client is the oracle: if it parses the fake's messages, streams and errors the way it parses the real
service's (a message into typed blocks and usage, a stream into text and a final message, a 429 into
``RateLimitError`` with the response headers, a 529 into ``OverloadedError``, an ``error`` event into an
``APIStatusError``, ...), adapter tests that trust the fake are not testing a private dialect.

The 2.x client sends the key as ``Authorization: Bearer`` with ``anthropic-version: 2026-10-21``; the
raw-HTTP tests below check the ``x-api-key`` / ``2023-06-01`` form the reference documents and the adapter sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import pytest

from tests.fakes import (
    AN_CREDIT_TEXT,
    AN_RATE_LIMIT_TEXT,
    DEFAULT_ANTHROPIC_MODELS,
    DEFAULT_TEXT,
    FakeProvider,
    an_400_credit,
    an_400_usage_limits,
    an_402_billing,
    an_404,
    an_429,
    an_500,
    an_529,
    an_spend_limit,
    an_stream_error,
    drop_connection,
    reply,
    stream_reply,
)

KEY = "sk-ant-api03-" + "Fk3" * 30
OTHER = "sk-ant-api03-" + "0th" * 30
MODEL = "claude-haiku-4-5"  # not deprecated in the 2.x client's list (claude-sonnet-4-5 warns)
MESSAGES: list[Any] = [{"role": "user", "content": "say hello please"}]
VERSION = {"anthropic-version": "2023-06-01"}


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(keys={KEY: "one"}) as provider:
        yield provider
    assert provider.errors == []


def client(fake: FakeProvider, key: str = KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.anthropic_url, api_key=key, max_retries=0)


def post(fake: FakeProvider, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    """A raw ``POST /v1/messages`` with ``x-api-key`` and the reference's version unless ``headers`` say otherwise."""
    sent = {"x-api-key": KEY, **VERSION, **(headers or {})}
    sent = {k: v for k, v in sent.items() if v}
    return httpx.post(f"{fake.anthropic_url}/v1/messages", json=body, headers=sent, timeout=5)


def events_of(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each SSE event, checking that the name and the data's ``type`` agree."""
    found = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        data = json.loads(lines["data"])
        assert lines["event"] == data["type"]
        found.append((lines["event"], data))
    return found


# --- answers -----------------------------------------------------------------------------------------


def test_a_message_parses_with_text_usage_and_stop_reason(fake: FakeProvider) -> None:
    message = client(fake).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, system="be brief")
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert message.id.startswith("msg_01") and len(message.id) == len("msg_01") + 22
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == DEFAULT_TEXT
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (3 + 2, 5)
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
    sent = fake.requests_to("/anthropic/v1/messages")[0]
    assert sent.bearer == KEY and sent.body["max_tokens"] == 64 and sent.body["system"] == "be brief"


def test_a_stream_gives_the_text_and_a_final_message_with_usage(fake: FakeProvider) -> None:
    with client(fake).messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == DEFAULT_TEXT == final.content[0].text
    assert final.stop_reason == "end_turn" and (final.usage.input_tokens, final.usage.output_tokens) == (3, 5)


def test_max_tokens_cuts_the_answer_with_stop_reason_max_tokens(fake: FakeProvider) -> None:
    message = client(fake).messages.create(model=MODEL, max_tokens=2, messages=MESSAGES)
    assert message.content[0].text == "Hello from" and message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 2


def test_reasoning_comes_as_thinking_blocks_in_both_modes(fake: FakeProvider) -> None:
    fake.script(KEY, reply("4", reasoning="two plus two"), reply("4", reasoning="two plus two"))
    message = client(fake).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "two plus two" and message.content[0].signature
    with client(fake).messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert "thinking" in kinds and kinds[-1] == "message_stop"
    assert [b.type for b in final.content] == ["thinking", "text"] and final.content[0].thinking == "two plus two"
    assert final.usage.output_tokens == 3 + 1


def test_the_stream_is_the_captured_event_sequence(fake: FakeProvider) -> None:
    response = post(fake, {"model": MODEL, "max_tokens": 64, "messages": MESSAGES, "stream": True})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.content)
    names = [name for name, _ in events]
    assert names == ["message_start", "content_block_start", "ping"] + ["content_block_delta"] * 5 + [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["usage"] == {"input_tokens": 3, "output_tokens": 1} and start["content"] == []
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 5},
    }
    assert b'{"type": "ping"}' in response.content  # the capture's spacing


def test_answers_carry_request_id_and_rate_limit_headers(fake: FakeProvider) -> None:
    raw = client(fake).messages.with_raw_response.create(model=MODEL, max_tokens=8, messages=MESSAGES)
    assert raw.headers["request-id"].startswith("req_011C")
    assert raw.headers["anthropic-ratelimit-requests-limit"] == "1000"
    assert raw.headers["anthropic-ratelimit-input-tokens-remaining"] == "78000"
    assert raw.headers["anthropic-ratelimit-tokens-reset"].endswith("Z")
    fake.script(KEY, reply("scripted", headers={"anthropic-ratelimit-requests-remaining": "0"}))
    raw = client(fake).messages.with_raw_response.create(model=MODEL, max_tokens=8, messages=MESSAGES)
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "0" and raw.parse().content[0].text == "scripted"


def test_models_list_pages_newest_first_and_retrieve(fake: FakeProvider) -> None:
    models = client(fake).models
    assert [m.id for m in models.list()] == ["claude-opus-4-6", "claude-haiku-4-5", "claude-sonnet-4-5"]
    first = models.list(limit=1)
    assert [m.id for m in first.data] == ["claude-opus-4-6"] and first.has_more is True
    assert [m.id for m in first] == ["claude-opus-4-6", "claude-haiku-4-5", "claude-sonnet-4-5"]  # follows after_id
    sonnet = models.retrieve("claude-sonnet-4-5")
    assert sonnet.display_name == "Claude Sonnet 4.5" and sonnet.lifecycle == "deprecated"
    assert sonnet.retires_at is not None and sonnet.retires_at.isoformat().startswith("2026-11-30")
    with pytest.raises(anthropic.NotFoundError):
        models.retrieve("claude-opus-9")
    assert set(DEFAULT_ANTHROPIC_MODELS) == {m.id for m in models.list()}


# --- errors ------------------------------------------------------------------------------------------


def test_a_429_is_a_rate_limit_error_with_its_headers(fake: FakeProvider) -> None:
    fake.script(KEY, an_429(retry_after=7))
    with pytest.raises(anthropic.RateLimitError) as caught:
        client(fake).messages.create(model=MODEL, max_tokens=8, messages=MESSAGES)
    err = caught.value
    assert err.status_code == 429 and err.type == "rate_limit_error" and err.api_message == AN_RATE_LIMIT_TEXT
    assert err.request_id is not None and err.request_id == err.body["request_id"]
    headers = err.response.headers
    assert headers["retry-after"] == "7" and headers["anthropic-ratelimit-input-tokens-remaining"] == "0"
    assert headers["anthropic-ratelimit-requests-remaining"] == "999"


def test_the_spend_limit_429_is_the_clients_enforced_spend_limit_error(fake: FakeProvider) -> None:
    fake.script(KEY, an_spend_limit())
    with pytest.raises(anthropic.EnforcedSpendLimitReachedError) as caught:
        client(fake).messages.create(model=MODEL, max_tokens=8, messages=MESSAGES)
    assert isinstance(caught.value, anthropic.RateLimitError)
    assert (
        caught.value.error_code == "enforced_spend_limit_reached" and "retry-after" not in caught.value.response.headers
    )


@pytest.mark.parametrize(
    ("scripted", "error_class", "status", "error_type"),
    [
        (an_529(), anthropic.OverloadedError, 529, "overloaded_error"),
        (an_500(), anthropic.InternalServerError, 500, "api_error"),
        (an_402_billing(), anthropic.PaymentRequiredError, 402, "billing_error"),
        (an_400_credit(), anthropic.BadRequestError, 400, "invalid_request_error"),
        (an_400_usage_limits(), anthropic.BadRequestError, 400, "invalid_request_error"),
        (an_404(MODEL), anthropic.NotFoundError, 404, "not_found_error"),
    ],
)
def test_scripted_errors_parse_as_the_clients_classes(
    fake: FakeProvider, scripted: Any, error_class: type[anthropic.APIStatusError], status: int, error_type: str
) -> None:
    fake.script(KEY, scripted)
    with pytest.raises(error_class) as caught:
        client(fake).messages.create(model=MODEL, max_tokens=8, messages=MESSAGES)
    assert caught.value.status_code == status and caught.value.type == error_type
    assert caught.value.request_id == caught.value.response.headers["request-id"]


def test_a_529_is_the_quoted_body_with_its_headers(fake: FakeProvider) -> None:
    fake.script(KEY, an_529(retry_after=3))
    with pytest.raises(anthropic.InternalServerError) as caught:
        client(fake).messages.create(model=MODEL, max_tokens=8, messages=MESSAGES)
    assert isinstance(caught.value, anthropic.OverloadedError)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": caught.value.request_id,
    }
    headers = caught.value.response.headers
    assert headers["x-should-retry"] == "true" and headers["retry-after"] == "3"
    assert caught.value.api_message == "Overloaded" and an_400_credit().json["error"]["message"] == AN_CREDIT_TEXT


def test_an_unknown_or_missing_key_is_an_authentication_error(fake: FakeProvider) -> None:
    fake.script(OTHER, reply("never sent"))
    with pytest.raises(anthropic.AuthenticationError) as unknown:
        client(fake, OTHER).messages.create(model=MODEL, max_tokens=8, messages=MESSAGES)
    assert unknown.value.api_message == "invalid x-api-key" and OTHER not in str(unknown.value.body)
    response = post(fake, {"model": MODEL, "max_tokens": 8, "messages": MESSAGES}, {"x-api-key": ""})
    assert response.status_code == 401 and response.json()["error"]["message"] == "x-api-key header is required"
    assert fake.remaining(OTHER) == 1  # a request refused by auth uses up nothing scripted
    assert [r.bearer for r in fake.requests_to("/anthropic/v1/messages")] == [OTHER, None]


def test_an_error_event_in_a_200_stream_is_a_status_error_after_the_text(fake: FakeProvider) -> None:
    fake.script(KEY, an_stream_error(after_tokens=2), an_stream_error())
    received: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client(fake).messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
    ):
        received.extend(stream.text_stream)
    assert "".join(received) == "Hello from"
    assert caught.value.status_code == 200 and caught.value.type == "overloaded_error"
    assert caught.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(anthropic.APIStatusError) as first:
        list(client(fake).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True))
    assert first.value.type == "overloaded_error"
    fake.script(KEY, an_stream_error())
    with pytest.raises(anthropic.OverloadedError):  # asked without streaming: the HTTP form of the same error
        client(fake).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)


def test_the_error_event_closes_the_stream_without_message_stop(fake: FakeProvider) -> None:
    fake.script(KEY, an_stream_error(after_tokens=1, type="api_error", message="Internal server error"))
    response = post(fake, {"model": MODEL, "max_tokens": 64, "messages": MESSAGES, "stream": True})
    events = events_of(response.content)
    assert response.status_code == 200 and [n for n, _ in events][-1] == "error"
    assert "message_stop" not in [n for n, _ in events]
    assert events[-1][1] == {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}


def test_a_stream_cut_mid_answer_is_a_connection_error_for_the_client(fake: FakeProvider) -> None:
    fake.script(KEY, stream_reply(drop_after_tokens=2), drop_connection(after_bytes=0))
    received: list[str] = []
    with (
        pytest.raises(httpx2.RemoteProtocolError),  # the 2.x client's transport (httpx2), unwrapped mid-stream
        client(fake).messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
    ):
        received.extend(stream.text_stream)
    assert "".join(received) == "Hello from"
    with pytest.raises(anthropic.APIConnectionError):
        client(fake).messages.create(model=MODEL, max_tokens=8, messages=MESSAGES)


# --- strictness (raw HTTP: the reference's header form) ----------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (
            {"model": MODEL, "max_tokens": 8, "messages": MESSAGES},
            {"anthropic-version": ""},
            400,
            "anthropic-version: header is required",
        ),
        (
            {"model": MODEL, "max_tokens": 8, "messages": MESSAGES},
            {"anthropic-version": "2024-01-01"},
            400,
            'anthropic-version: "2024-01-01" is not a valid version',
        ),
        ({"model": MODEL, "messages": MESSAGES}, {}, 400, "max_tokens: Field required"),
        ({"model": MODEL, "max_tokens": 8}, {}, 400, "messages: Field required"),
        ({"max_tokens": 8, "messages": MESSAGES}, {}, 400, "model: Field required"),
        ({"model": MODEL, "max_tokens": 8, "messages": []}, {}, 400, "messages: at least one message is required"),
        (
            {"model": MODEL, "max_tokens": 8, "messages": [{"role": "system", "content": "be brief"}, *MESSAGES]},
            {},
            400,
            'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.',
        ),
        (
            {"model": MODEL, "max_tokens": 8, "messages": MESSAGES, "temperature": 1.5},
            {},
            400,
            "temperature: range: 0..1",
        ),
        ({"model": "claude-opus-9", "max_tokens": 8, "messages": MESSAGES}, {}, 404, "model: claude-opus-9"),
    ],
)
def test_the_fake_refuses_what_the_real_service_refuses(
    fake: FakeProvider, body: dict[str, Any], headers: dict[str, str], status: int, message: str
) -> None:
    response = post(fake, body, headers)
    assert response.status_code == status
    document = response.json()
    assert document["type"] == "error" and document["error"]["message"] == message
    assert document["request_id"] == response.headers["request-id"]


def test_the_reference_form_answers_and_is_recorded_under_its_key(fake: FakeProvider) -> None:
    response = post(fake, {"model": MODEL, "max_tokens": 0, "messages": MESSAGES})
    assert response.status_code == 200 and response.json()["stop_reason"] == "max_tokens"
    assert response.json()["content"] == [{"type": "text", "text": ""}]
    recorded = fake.requests_for(KEY)
    assert len(recorded) == 1 and recorded[0].headers["x-api-key"] == KEY and "authorization" not in recorded[0].headers


def test_scripting_a_model_refuses_only_that_model(fake: FakeProvider) -> None:
    fake.script(KEY, an_404("claude-opus-4-6"), model="claude-opus-4-6")
    with pytest.raises(anthropic.NotFoundError):
        client(fake).messages.create(model="claude-opus-4-6", max_tokens=8, messages=MESSAGES)
    assert client(fake).messages.create(model=MODEL, max_tokens=8, messages=MESSAGES).content[0].text == DEFAULT_TEXT
    custom = FakeProvider(keys=[KEY], anthropic_models={"claude-opus-4-6"})
    with custom:
        with pytest.raises(anthropic.NotFoundError):
            client(custom).messages.create(model=MODEL, max_tokens=8, messages=MESSAGES)
        assert [m.id for m in client(custom).models.list()] == ["claude-opus-4-6"]
