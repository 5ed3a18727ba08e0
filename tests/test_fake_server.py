"""The fake provider double itself speaks the OpenRouter / Ollama wire formats (ref providers.md §1-3)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes import (
    FakeProvider,
    drop_connection,
    error,
    hang,
    oll_usage_limit,
    or_200_error_only,
    or_400_invalid_model,
    or_402_credits,
    or_blank_lines_json,
    or_daily_cap,
    reply,
    stream_reply,
    tokenize,
)

ALICE = "sk-or-v1-alice0000000000000000000000000000000000000000000000000000"
BOB = "sk-or-v1-bob00000000000000000000000000000000000000000000000000000"
PAID = "openai/gpt-4o-mini"
FREE = "meta-llama/llama-3.3-70b-instruct:free"
OLLAMA = "gpt-oss:120b"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "say hello please"}]


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(keys={ALICE: "alice", BOB: "bob"}, models={PAID, FREE, OLLAMA}) as provider:
        yield provider
    assert provider.errors == []


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=5) as c:
        yield c


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def or_chat(client: httpx.Client, fake: FakeProvider, secret: str | None = ALICE, **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"model": PAID, "messages": MESSAGES, **body}
    return client.post(f"{fake.openrouter_url}/chat/completions", json=payload, headers=auth(secret) if secret else {})


def oll_chat(client: httpx.Client, fake: FakeProvider, secret: str | None = ALICE, **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"model": OLLAMA, "messages": MESSAGES, **body}
    return client.post(f"{fake.ollama_url}/api/chat", json=payload, headers=auth(secret) if secret else {})


def sse_events(raw: str) -> list[str]:
    """Split an SSE body into events, asserting the framing (LF only, one line per event)."""
    assert "\r" not in raw
    assert raw.endswith("\n\n")
    events = raw[:-2].split("\n\n")
    for event in events:
        assert "\n" not in event, event
        assert event.startswith("data: ") or event == ": OPENROUTER PROCESSING", event
    return events


def data_chunks(events: list[str]) -> list[dict[str, Any]]:
    return [json.loads(e[len("data: ") :]) for e in events if e.startswith("data: {")]


# --------------------------------------------------------------------------- OpenRouter


def test_openrouter_non_stream_shape(fake: FakeProvider, client: httpx.Client) -> None:
    r = or_chat(client, fake)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert r.headers["x-generation-id"] == body["id"] and body["id"].startswith("gen-")
    assert body["object"] == "chat.completion" and body["model"] == PAID and body["provider"] == "Fake"
    choice = body["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Hello from the fake provider.",
        "refusal": None,
        "reasoning": None,
    }
    assert choice["finish_reason"] == choice["native_finish_reason"] == "stop"
    usage = body["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (5, 5, 10)
    assert usage["cost"] == pytest.approx(0.000042)
    assert set(usage) >= {"is_byok", "prompt_tokens_details", "cost_details", "completion_tokens_details"}
    assert "x-ratelimit-limit" not in r.headers


def test_openrouter_max_tokens_free_cost_and_overrides(fake: FakeProvider, client: httpx.Client) -> None:
    body = or_chat(client, fake, model=FREE, max_tokens=2).json()
    assert body["choices"][0]["message"]["content"] == "Hello from"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["cost"] == 0 and body["usage"]["completion_tokens"] == 2

    fake.script(ALICE, reply("routed answer", model="openai/gpt-4o", cost=0.5, prompt_tokens=99))
    body = or_chat(client, fake, model="openrouter/auto").json()
    assert body["model"] == "openai/gpt-4o"
    assert body["usage"]["cost"] == 0.5 and body["usage"]["prompt_tokens"] == 99
    key = client.get(f"{fake.openrouter_url}/key", headers=auth(ALICE)).json()["data"]
    assert key["usage"] == pytest.approx(0.5) and key["limit"] is None


@pytest.mark.parametrize("shape", ["A", "B", "C"])
def test_openrouter_sse_usage_shapes(fake: FakeProvider, client: httpx.Client, shape: str) -> None:
    text = "one two  three\nfour "
    fake.script(ALICE, stream_reply(text, usage_shape=shape, processing_comments=2))  # type: ignore[arg-type]
    r = or_chat(client, fake, stream=True)
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    events = sse_events(r.text)
    assert events[:2] == [": OPENROUTER PROCESSING"] * 2
    assert events[-1] == "data: [DONE]"
    chunks = data_chunks(events)
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == r.headers["x-generation-id"] for c in chunks)
    with_choices = [c for c in chunks if c["choices"]]
    assert all(c["choices"][0]["delta"]["role"] == "assistant" for c in with_choices)
    assert "".join(c["choices"][0]["delta"]["content"] for c in with_choices) == text
    usage_chunks = [c for c in chunks if "usage" in c]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
    assert usage_chunks[0]["usage"]["completion_tokens"] == len(tokenize(text)) == 4
    finishes = [c["choices"][0]["finish_reason"] for c in with_choices if c["choices"][0]["finish_reason"]]
    last = chunks[-1]
    if shape == "A":
        assert finishes == ["stop", "stop"] and last["choices"][0]["delta"]["content"] == ""
    elif shape == "B":
        assert finishes == ["stop"] and last["choices"][0]["delta"]["content"] == "\nfour "
    else:
        assert finishes == ["stop"] and last["choices"] == []


def test_openrouter_sse_errors(fake: FakeProvider, client: httpx.Client) -> None:
    fake.script(
        ALICE,
        stream_reply("a b c d", error_after_tokens=2, error_code=429),
        stream_reply(error_only=True),
        stream_reply("a b", no_terminator=True),
        or_200_error_only(),
    )
    chunks = data_chunks(sse_events(or_chat(client, fake, stream=True).text))
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks[:-1]) == "a b"
    assert chunks[-1]["error"]["code"] == 429 and chunks[-1]["choices"][0]["finish_reason"] == "error"

    r = or_chat(client, fake, stream=True)
    assert r.status_code == 200 and sse_events(r.text) == [
        'data: {"error":{"message":"Provider returned error","code":502,'
        '"metadata":{"raw":"upstream error (fake)","provider_name":"Fake"}}}'
    ]
    events = sse_events(or_chat(client, fake, stream=True).text)
    assert "data: [DONE]" not in events and "usage" in data_chunks(events)[-1]

    r = or_chat(client, fake)  # the same behaviour, non-stream: a 200 JSON body holding only "error"
    assert r.status_code == 200 and set(r.json()) == {"error", "user_id"}


def test_openrouter_errors_auth_and_validation(fake: FakeProvider, client: httpx.Client) -> None:
    r = or_chat(client, fake, secret=None)
    assert (r.status_code, r.json()) == (
        401,
        {"error": {"message": "No cookie auth credentials found", "code": 401}},
    )
    r = or_chat(client, fake, secret="sk-or-v1-nobody")
    assert (r.status_code, r.content) == (401, b'{"error":{"message":"User not found.","code":401}}')
    r = or_chat(client, fake, model="acme/fake-1.0")
    assert r.status_code == 400
    assert (
        r.content == b'{"error":{"message":"acme/fake-1.0 is not a valid model ID","code":400},"user_id":"user_fake"}'
    )
    r = or_chat(client, fake, messages=[])
    assert r.status_code == 400 and r.json()["error"]["message"] == 'Input required: specify "prompt" or "messages"'

    fake.script(ALICE, or_daily_cap(1788220800000), or_402_credits())
    r = or_chat(client, fake)
    assert r.status_code == 429 and "retry-after" not in r.headers
    assert r.headers["x-ratelimit-reset"] == "1788220800000"
    assert r.content == (
        b'{"error":{"message":"Rate limit exceeded: free-models-per-day. '
        b'Add 10 credits to unlock 1000 free model requests per day","code":429,'
        b'"metadata":{"headers":{"X-RateLimit-Limit":"50","X-RateLimit-Remaining":"0",'
        b'"X-RateLimit-Reset":"1788220800000"},"provider_name":null}},"user_id":"user_fake"}'
    )
    r = or_chat(client, fake)
    assert r.status_code == 402 and "fewer max_tokens" in r.json()["error"]["message"]


def test_openrouter_listing_key_and_blank_lines(fake: FakeProvider, client: httpx.Client) -> None:
    models = client.get(f"{fake.openrouter_url}/models", headers=auth("sk-or-v1-bogus"))
    assert models.status_code == 200
    rows = {row["id"]: row["pricing"] for row in models.json()["data"]}
    assert rows[FREE]["prompt"] == rows[FREE]["completion"] == "0"
    assert rows["openrouter/auto"]["prompt"] == "-1" and float(rows[PAID]["prompt"]) > 0
    assert client.get(f"{fake.openrouter_url}/key").status_code == 401

    fake.script(ALICE, or_blank_lines_json("kept alive", blank_lines=3))
    r = or_chat(client, fake)
    assert r.content.startswith(b"\n\n\n{")
    assert r.json()["choices"][0]["message"]["content"] == "kept alive"


# --------------------------------------------------------------------------- Ollama


def test_ollama_ndjson_default_stream(fake: FakeProvider, client: httpx.Client) -> None:
    fake.script(ALICE, reply("alpha beta gamma"))
    r = oll_chat(client, fake, max_tokens=1)  # top-level max_tokens is ignored by Ollama
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    assert r.text.endswith("\n")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [line["done"] for line in lines] == [False, False, False, True]
    assert "".join(line["message"]["content"] for line in lines) == "alpha beta gamma"
    final = lines[-1]
    assert final["done_reason"] == "stop" and final["message"] == {"role": "assistant", "content": ""}
    assert (final["prompt_eval_count"], final["eval_count"]) == (5, 3)
    assert all(isinstance(final[k], int) for k in ("total_duration", "load_duration", "eval_duration"))
    assert final["created_at"].endswith("Z")


def test_ollama_non_stream_num_predict_and_errors(fake: FakeProvider, client: httpx.Client) -> None:
    r = oll_chat(client, fake, stream=False, options={"num_predict": 2})
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    body = r.json()
    assert body["message"]["content"] == "Hello from" and body["done"] is True and body["done_reason"] == "length"
    assert body["eval_count"] == 2

    fake.script(ALICE, stream_reply("x y z", error_after_tokens=1), stream_reply("x y", no_terminator=True))
    lines = [json.loads(line) for line in oll_chat(client, fake).text.splitlines()]
    assert lines == [
        {
            "model": OLLAMA,
            "created_at": lines[0]["created_at"],
            "message": {"role": "assistant", "content": "x"},
            "done": False,
        },
        {"error": "an error was encountered while running the model"},
    ]
    lines = [json.loads(line) for line in oll_chat(client, fake).text.splitlines()]
    assert [line["done"] for line in lines] == [False, False]

    r = oll_chat(client, fake, secret="bad-key")
    assert (r.status_code, r.json()) == (401, {"error": "unauthorized"})
    assert oll_chat(client, fake, secret=None).status_code == 401
    r = oll_chat(client, fake, model="llama9")
    assert (r.status_code, r.json()) == (404, {"error": "model 'llama9' not found"})
    fake.script(ALICE, oll_usage_limit("weekly"))
    r = oll_chat(client, fake)
    assert r.status_code == 429 and "weekly usage limit" in r.json()["error"]


def test_ollama_public_endpoints_and_local_mode(client: httpx.Client) -> None:
    with FakeProvider(models={"llama3.2:latest", "gpt-oss:120b-cloud"}, require_auth=False) as local:
        assert client.get(local.ollama_url).text == "Ollama is running"
        tags = client.get(f"{local.ollama_url}/api/tags").json()["models"]
        assert {t["name"] for t in tags} == {"llama3.2:latest", "gpt-oss:120b-cloud"}
        show = client.post(f"{local.ollama_url}/api/show", json={"model": "llama3.2:latest"}).json()
        assert show["model_info"]["llama.context_length"] == 131_072
        local.script(None, reply("local answer"))
        r = client.post(
            f"{local.ollama_url}/api/chat",
            json={"model": "llama3.2:latest", "messages": MESSAGES, "stream": False},
        )
        assert r.json()["message"]["content"] == "local answer"
        assert local.requests_for(None)[-1].path == "/api/chat"
    with FakeProvider(keys=[ALICE], models={OLLAMA}) as cloud:
        tags = client.get(f"{cloud.ollama_url}/api/tags").json()["models"]  # public even in cloud mode
        assert tags[0]["name"] == OLLAMA and tags[0]["details"]["format"] == ""


# --------------------------------------------------------------------------- scripting, recording, faults


def test_script_queue_order_per_key_and_recording(fake: FakeProvider, client: httpx.Client) -> None:
    fake.script(ALICE, reply("a1"), error(503, {"error": "busy"}), reply("a3"))
    fake.script(BOB, reply("b1"))
    answers = []
    for secret in (ALICE, BOB, ALICE, BOB, ALICE):
        r = or_chat(client, fake, secret=secret)
        answers.append(r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else r.status_code)
    assert answers == ["a1", "b1", 503, "Hello from the fake provider.", "a3"]
    assert fake.remaining(ALICE) == fake.remaining(BOB) == 0

    or_chat(client, fake, secret="sk-or-v1-nobody")  # rejected by auth: recorded, consumes nothing
    client.get(f"{fake.openrouter_url}/models")
    alice = fake.requests_for(ALICE)
    assert len(alice) == 3 and all(r.bearer == ALICE and r.body["messages"] == MESSAGES for r in alice)
    assert (
        alice[0].headers["authorization"] == f"Bearer {ALICE}"
        and alice[0].headers["content-type"] == "application/json"
    )
    assert alice[0].time <= alice[1].time <= alice[2].time
    assert json.loads(alice[0].raw_body) == alice[0].body
    assert len(fake.chat_requests) == 6 and len(fake.requests) == 7
    assert fake.requests[-1].method == "GET" and fake.requests[-1].bearer is None


def test_scripted_behaviours_are_used_by_requests_the_fake_would_reject(
    fake: FakeProvider, client: httpx.Client
) -> None:
    fake.script(ALICE, or_400_invalid_model("acme/fake-1.0"), reply("kept?"), reply("after"))
    assert or_chat(client, fake, model="acme/fake-1.0").status_code == 400  # the scripted error
    assert or_chat(client, fake, model="acme/fake-1.0").status_code == 400  # real validation; reply used up
    assert or_chat(client, fake).json()["choices"][0]["message"]["content"] == "after"
    assert fake.remaining(ALICE) == 0


def test_drop_connection(fake: FakeProvider, client: httpx.Client) -> None:
    fake.script(
        ALICE,
        drop_connection(),
        drop_connection(after_bytes=400),
        stream_reply("a b c d", drop_after_tokens=2),
    )
    with pytest.raises(httpx.RemoteProtocolError):
        or_chat(client, fake)
    received: list[bytes] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream(
            "POST",
            f"{fake.openrouter_url}/chat/completions",
            headers=auth(ALICE),
            json={"model": PAID, "messages": MESSAGES, "stream": True},
        ) as r,
    ):
        assert r.status_code == 200
        received.extend(r.iter_raw())
    assert 0 < len(b"".join(received)) < 400
    with pytest.raises(httpx.RemoteProtocolError):
        or_chat(client, fake, stream=True)
    assert or_chat(client, fake).status_code == 200  # the next request (new connection) is fine


def test_hang_and_stall_end_on_timeout_and_shutdown(client: httpx.Client) -> None:
    provider = FakeProvider(keys=[ALICE], models={PAID}).start()
    try:
        provider.script(ALICE, hang(30), stream_reply("a b c", stall_after_tokens=1))
        contents: list[str] = []
        with httpx.Client(trust_env=False, timeout=0.3) as short:
            start = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                or_chat(short, provider)
            assert time.monotonic() - start < 2
            with (
                pytest.raises(httpx.ReadTimeout),
                short.stream(
                    "POST",
                    f"{provider.openrouter_url}/chat/completions",
                    headers=auth(ALICE),
                    json={"model": PAID, "messages": MESSAGES, "stream": True},
                ) as r,
            ):
                for line in r.iter_lines():
                    if line.startswith("data: {"):
                        contents.append(json.loads(line[6:])["choices"][0]["delta"]["content"])
        assert contents == ["", "a"]
    finally:
        start = time.monotonic()
        provider.close()
        assert time.monotonic() - start < 1.5
    assert provider.errors == []


def test_tokenize_round_trips() -> None:
    for text in ["", " ", "Hello", "Hello from  the\nfake ", "  lead and trail  "]:
        assert "".join(tokenize(text)) == text
    assert tokenize("a bb  c") == ["a", " bb", "  c"]
