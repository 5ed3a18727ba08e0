"""The fake provider double itself speaks the OpenRouter / Ollama wire formats (ref providers.md §1-3)."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from tests.fakes import (
    AZURE_CHAT_PATH,
    DEFAULT_TEXT,
    MIB,
    OPENAI_CHAT_PATH,
    FakeProvider,
    az_401,
    az_429,
    cf_3036,
    cf_3040,
    cf_4006,
    cf_5007,
    cf_10000,
    cloudflare_524,
    drop_connection,
    error,
    hang,
    html_error,
    http_date,
    huge_error,
    mask_key,
    oa_401,
    oa_429_insufficient_quota,
    oa_429_rate_limit,
    oa_503,
    oa_responses_only,
    oll_402_usage_limit,
    oll_403_cloud_disabled,
    oll_status,
    oll_usage_limit,
    or_200_error_only,
    or_400_invalid_model,
    or_401,
    or_402_credits,
    or_402_insufficient,
    or_403_forbidden,
    or_403_moderation,
    or_403_region,
    or_429,
    or_blank_lines_json,
    or_daily_cap,
    or_per_minute,
    or_status,
    reply,
    stream_reply,
    tokenize,
)

ALICE = "sk-or-v1-alice0000000000000000000000000000000000000000000000000000"
BOB = "sk-or-v1-bob00000000000000000000000000000000000000000000000000000"
CAROL = "sk-or-v1-carol000000000000000000000000000000000000000000000000000"
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
    # Plain HTTP to 127.0.0.1 only: verify=False skips loading the CA bundle (~50 ms a client).
    with httpx.Client(trust_env=False, timeout=5, verify=False) as c:
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
        with httpx.Client(trust_env=False, timeout=0.3, verify=False) as short:
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


# --------------------------------------------------------------------------- any endpoint: scripting, records

KEY_PATH = "/api/v1/key"
PROBE = "/v1/chat/completions"


def get_key(client: httpx.Client, fake: FakeProvider, secret: str | None = ALICE) -> httpx.Response:
    return client.get(f"{fake.openrouter_url}/key", headers=auth(secret) if secret else {})


def test_scripted_key_endpoint_answers_ready_made_errors_then_a_delayed_reply(
    fake: FakeProvider, client: httpx.Client
) -> None:
    fake.script(
        ALICE,
        or_401(),
        or_daily_cap(1788220800000),
        or_per_minute(1788220860000),
        or_402_credits(),
        error(500, {"error": {"code": 500, "message": "Internal Server Error"}}),
        reply(delay=0.2),
        path=KEY_PATH,
    )
    assert fake.remaining(ALICE, path=KEY_PATH) == 6 and fake.remaining(ALICE) == 0
    assert or_chat(client, fake).status_code == 200  # the chat queue is separate
    r = get_key(client, fake)
    assert (r.status_code, r.content) == (401, b'{"error":{"message":"User not found.","code":401}}')
    r = get_key(client, fake)
    assert r.status_code == 429 and r.headers["x-ratelimit-reset"] == "1788220800000"
    assert "free-models-per-day" in r.json()["error"]["message"]
    r = get_key(client, fake)
    assert r.status_code == 429 and r.headers["x-ratelimit-reset"] == "1788220860000"
    assert get_key(client, fake).status_code == 402
    assert get_key(client, fake).status_code == 500
    start = time.monotonic()
    r = get_key(client, fake)
    assert time.monotonic() - start >= 0.2
    assert r.status_code == 200 and r.json()["data"]["label"] == "sk-or-v1-al...000"
    assert get_key(client, fake).status_code == 200 and fake.remaining(ALICE, path=KEY_PATH) == 0
    assert [r.bearer for r in fake.requests_to(KEY_PATH)] == [ALICE] * 7
    assert len(fake.chat_requests) == 1


def test_scripted_paths_match_the_bearer_and_none_matches_no_bearer(fake: FakeProvider, client: httpx.Client) -> None:
    fake.script(BOB, error(503, {"error": {"code": 503, "message": "busy"}}), path=KEY_PATH)
    fake.script(None, error(500, "boom"), path=KEY_PATH + "?ignored=1")
    assert get_key(client, fake, ALICE).status_code == 200  # not Bob's
    assert get_key(client, fake, "sk-or-v1-nobody").status_code == 401  # an unknown bearer is not None
    assert (get_key(client, fake, None).status_code, get_key(client, fake, None).status_code) == (500, 401)
    assert get_key(client, fake, BOB).status_code == 503
    r = client.get(f"{fake.openrouter_url}/auth/key", headers=auth(BOB))  # the legacy alias, unscripted
    assert r.status_code == 200 and fake.requests_to("/api/v1/auth/key")[0].bearer == BOB
    with pytest.raises(ValueError):
        fake.script(ALICE, reply(), path="api/v1/key")


def test_public_endpoints_take_none_behaviours_from_any_request(fake: FakeProvider, client: httpx.Client) -> None:
    fake.script(None, error(503, {"error": {"code": 503, "message": "catalogue down"}}), path="/api/v1/models")
    fake.script(ALICE, error(502, "bad gateway"), path="/api/tags")
    fake.script(None, reply(delay=0.2), path="/api/tags")
    assert client.get(f"{fake.openrouter_url}/models", headers=auth("sk-or-v1-bogus")).status_code == 503
    assert client.get(f"{fake.openrouter_url}/models").status_code == 200
    assert client.get(f"{fake.ollama_url}/api/tags", headers=auth(ALICE)).status_code == 502  # own queue first
    start = time.monotonic()
    assert client.get(f"{fake.ollama_url}/api/tags", headers=auth(BOB)).status_code == 200
    assert time.monotonic() - start >= 0.2
    assert fake.remaining(None, path="/api/tags") == 0


def test_hang_and_drop_connection_on_any_path(fake: FakeProvider) -> None:
    fake.script(ALICE, hang(30), drop_connection(after_bytes=20), path=KEY_PATH)
    fake.script(None, drop_connection(), path="/api/v1/models")
    with httpx.Client(trust_env=False, timeout=0.2, verify=False) as short:
        with pytest.raises(httpx.ReadTimeout):
            get_key(short, fake)
        with pytest.raises(httpx.RemoteProtocolError):
            get_key(short, fake)
        with pytest.raises(httpx.RemoteProtocolError):
            short.get(f"{fake.openrouter_url}/models")
        assert get_key(short, fake).status_code == 200


def test_requests_to_lists_one_path_without_its_query(fake: FakeProvider, client: httpx.Client) -> None:
    client.get(f"{fake.openrouter_url}/models?output_modalities=all")
    client.get(f"{fake.openrouter_url}/models", headers=auth(ALICE))
    client.head(f"{fake.openrouter_url}/models")
    get_key(client, fake)
    models = fake.requests_to("/api/v1/models")
    assert [(r.method, r.query, r.bearer) for r in models] == [
        ("GET", "output_modalities=all", None),
        ("GET", "", ALICE),
        ("HEAD", "", None),
    ]
    assert fake.requests_to("/api/v1/models?x=1") == models and fake.requests_to("/api/tags") == []


# --------------------------------------------------------------------------- OpenRouter /key document


def test_key_endpoint_401_bodies_and_key_info_overrides(client: httpx.Client) -> None:
    info = {
        ALICE: {"limit": 10, "limit_reset": "monthly", "free_model_daily_requests": {"used": 12, "limit": 50}},
        BOB: {"is_free_tier": True, "free_model_daily_requests": {"used": 50, "limit": 50, "remaining": 3}},
    }
    with FakeProvider(keys=[ALICE, BOB, CAROL], models={PAID}, key_info=info) as fake:
        r = get_key(client, fake, None)
        assert (r.status_code, r.content) == (
            401,
            b'{"error":{"message":"No cookie auth credentials found","code":401}}',
        )
        r = get_key(client, fake, "sk-or-v1-revoked")
        assert (r.status_code, r.content) == (401, b'{"error":{"message":"User not found.","code":401}}')
        fake.script(ALICE, reply(cost=1.5))
        or_chat(client, fake)
        alice = get_key(client, fake, ALICE).json()["data"]
        assert (alice["limit"], alice["limit_remaining"], alice["limit_reset"]) == (10, 8.5, "monthly")
        assert alice["usage"] == alice["usage_daily"] == 1.5
        assert alice["free_model_daily_requests"] == {"used": 12, "limit": 50, "remaining": 38}
        bob = get_key(client, fake, BOB).json()["data"]
        assert bob["is_free_tier"] is True and bob["limit"] is None and bob["limit_remaining"] is None
        assert bob["free_model_daily_requests"] == {"used": 50, "limit": 50, "remaining": 3}
        carol = get_key(client, fake, CAROL).json()["data"]
        assert "free_model_daily_requests" not in carol and carol["limit"] is None
        assert bob["rate_limit"]["requests"] == -1 and set(bob) >= {"usage_monthly", "byok_usage", "expires_at"}
    assert fake.errors == []


# --------------------------------------------------------------------------- Ollama /v1/chat/completions


def probe(client: httpx.Client, fake: FakeProvider, secret: str | None, **kwargs: Any) -> httpx.Response:
    return client.post(f"{fake.ollama_url}{PROBE}", headers=auth(secret) if secret else {}, **kwargs)


def test_ollama_v1_key_probe_401_bad_key_400_good_key(fake: FakeProvider, client: httpx.Client) -> None:
    for secret in (None, "bad-key"):
        r = probe(client, fake, secret, content=b"")
        assert (r.status_code, r.json()) == (401, {"error": "unauthorized"})
    r = probe(client, fake, ALICE, content=b"")
    assert r.status_code == 400 and r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.content == b'{"error":{"message":"EOF","type":"invalid_request_error","param":null,"code":null}}'
    r = probe(client, fake, ALICE, json={})
    assert r.status_code == 400 and r.json()["error"]["message"] == "[] is too short - 'messages'"
    r = probe(client, fake, ALICE, content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = probe(client, fake, ALICE, json={"model": "llama9", "messages": MESSAGES})
    assert r.status_code == 404 and r.json() == {
        "error": {"message": "model 'llama9' not found", "type": "not_found_error", "param": None, "code": None}
    }

    fake.script(ALICE, oll_usage_limit("weekly"), reply(delay=0.2), path=PROBE)
    r = probe(client, fake, ALICE, json={})
    assert r.status_code == 429 and "weekly usage limit" in r.json()["error"]
    start = time.monotonic()
    assert probe(client, fake, ALICE, json={}).status_code == 400  # a reply's delay holds the 400 too
    assert time.monotonic() - start >= 0.2
    assert [r.bearer for r in fake.requests_to(PROBE)] == [None, "bad-key", ALICE, ALICE, ALICE, ALICE, ALICE, ALICE]
    assert fake.chat_requests == [] and fake.requests_to(PROBE)[-1].wire == "ollama"


def test_ollama_v1_chat_json_and_sse(fake: FakeProvider, client: httpx.Client) -> None:
    r = probe(client, fake, ALICE, json={"model": OLLAMA, "messages": MESSAGES, "max_tokens": 2})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["id"].startswith("chatcmpl-") and int(body["id"][9:]) < 999
    assert (body["object"], body["model"], body["system_fingerprint"]) == ("chat.completion", OLLAMA, "fp_ollama")
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "Hello from"}, "finish_reason": "length"}
    ]
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}

    fake.script(ALICE, reply("a b c"), path=PROBE)
    r = probe(client, fake, ALICE, json={"model": OLLAMA, "messages": MESSAGES, "stream": True})
    assert r.headers["content-type"] == "text/event-stream"
    events = sse_events(r.text)
    assert events[-1] == "data: [DONE]" and fake.requests_to(PROBE)[-1].stream is True
    chunks = data_chunks(events)
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": "a"},
        {"role": "assistant", "content": " b"},
        {"role": "assistant", "content": " c"},
        {"role": "assistant", "content": ""},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]

    payload = {"model": OLLAMA, "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    chunks = data_chunks(sse_events(probe(client, fake, ALICE, json=payload).text))
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 5,
        "total_tokens": 10,
    }
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"

    fake.script(ALICE, stream_reply("x y z", error_after_tokens=1), stream_reply(error_only=True), path=PROBE)
    events = sse_events(probe(client, fake, ALICE, json=payload).text)
    assert "data: [DONE]" not in events
    assert [(c["model"], c["choices"][0]["delta"]["content"]) for c in data_chunks(events)] == [(OLLAMA, "x"), ("", "")]
    r = probe(client, fake, ALICE, json={"model": OLLAMA, "messages": MESSAGES})
    assert r.status_code == 500 and r.json()["error"]["type"] == "api_error"


def test_ollama_v1_local_ignores_keys_and_lists_models(client: httpx.Client) -> None:
    with FakeProvider(models={"llama3.2:latest", PAID}, require_auth=False) as local:
        local.script(None, reply("local v1"), path=PROBE)
        r = probe(client, local, "any-key", json={"model": "llama3.2:latest", "messages": MESSAGES})
        assert r.json()["choices"][0]["message"]["content"] == "local v1"
        models = client.get(f"{local.ollama_url}/v1/models").json()
        assert models["object"] == "list"
        assert [(m["id"], m["object"], m["owned_by"]) for m in models["data"]] == [
            ("llama3.2:latest", "model", "library")
        ]
    assert local.errors == []


# --------------------------------------------------------------------------- catalogues


def test_openrouter_catalogue_rows(client: httpx.Client) -> None:
    served = {PAID, FREE, "moonshotai/kimi-k2.5", "acme/new-model", OLLAMA, "llama3.2:latest"}
    prices: dict[str, tuple[str | float, str | float]] = {
        PAID: ("0.000001", "0.000002"),
        "acme/new-model": (1.5e-07, 6e-07),
    }
    with FakeProvider(keys=[ALICE], models=served, prices=prices, expiring={FREE: "2026-12-01"}) as fake:
        document = client.get(f"{fake.openrouter_url}/models").json()
    rows = {row["id"]: row for row in document["data"]}
    assert list(rows) == ["acme/new-model", FREE, "moonshotai/kimi-k2.5", PAID, "openrouter/auto"]
    assert document["total_count"] == 5 and document["links"] == {"next": None}
    assert rows[PAID]["pricing"] == {"prompt": "0.000001", "completion": "0.000002", "request": "0", "image": "0"}
    assert rows["acme/new-model"]["pricing"]["prompt"] == "0.00000015"
    assert rows["acme/new-model"]["pricing"]["completion"] == "0.0000006"
    assert rows[FREE]["pricing"]["prompt"] == rows[FREE]["pricing"]["completion"] == "0"
    assert rows["openrouter/auto"]["pricing"] == {"prompt": "-1", "completion": "-1"}
    assert 0 < float(rows["moonshotai/kimi-k2.5"]["pricing"]["prompt"]) < 0.0001
    assert rows[FREE]["expiration_date"] == "2026-12-01" and rows[PAID]["expiration_date"] is None
    assert rows[FREE]["canonical_slug"] == FREE.removesuffix(":free") and rows[FREE]["name"].endswith("(free)")
    for row in rows.values():
        assert isinstance(row["context_length"], int) and row["context_length"] > 0
        assert row["top_provider"]["context_length"] == row["context_length"]
        assert row["architecture"]["input_modalities"] == ["text"] and row["architecture"]["tokenizer"]
        assert all(isinstance(v, str) for v in row["pricing"].values())
    assert rows[PAID]["architecture"]["tokenizer"] == "GPT"
    with pytest.raises(ValueError):
        FakeProvider(models={PAID}, prices={"openai/gpt-9": ("1", "1")})
    with pytest.raises(ValueError):
        FakeProvider(models={PAID, OLLAMA}, expiring={OLLAMA: "2026-12-01"})


def test_ollama_tags_list_names_without_a_slash(client: httpx.Client) -> None:
    served = {PAID, "gpt-oss:120b", "kimi-k2.5"}
    with FakeProvider(keys=[ALICE], models=served) as cloud:
        tags = client.get(f"{cloud.ollama_url}/api/tags").json()["models"]
    assert [t["name"] for t in tags] == ["gpt-oss:120b", "kimi-k2.5"]
    assert all(t["details"]["parameter_size"] == "" and t["details"]["families"] is None for t in tags)
    with FakeProvider(models={"llama3.2", "gpt-oss:20b", "qwen3-coder:480b-cloud", PAID}, require_auth=False) as local:
        tags = client.get(f"{local.ollama_url}/api/tags").json()["models"]
    details = {t["name"]: t["details"] for t in tags}
    assert list(details) == ["gpt-oss:20b", "llama3.2", "qwen3-coder:480b-cloud"]
    assert (details["gpt-oss:20b"]["family"], details["gpt-oss:20b"]["parameter_size"]) == ("gptoss", "20B")
    assert (details["llama3.2"]["family"], details["llama3.2"]["parameter_size"]) == ("llama", "3.2B")
    assert details["llama3.2"]["format"] == "gguf" and details["llama3.2"]["quantization_level"]
    stub = next(t for t in tags if t["name"] == "qwen3-coder:480b-cloud")
    assert stub["remote_model"] == "qwen3-coder:480b" and stub["size"] < 1000


def test_local_ollama_liveness_and_version(client: httpx.Client) -> None:
    with FakeProvider(models={"llama3.2"}, require_auth=False) as local:
        r = client.get(local.ollama_url)
        assert (r.status_code, r.text) == (200, "Ollama is running")
        assert client.head(local.ollama_url).status_code == 200
        r = client.get(f"{local.ollama_url}/api/version")
        assert (r.status_code, r.json()) == (200, {"version": "0.12.0"})
        local.script(None, error(500, {"error": "starting"}), reply(delay=0.2), path="/api/version")
        local.script(None, drop_connection(), path="/")
        assert client.get(f"{local.ollama_url}/api/version", headers=auth("whatever")).status_code == 500
        start = time.monotonic()
        assert client.get(f"{local.ollama_url}/api/version").json() == {"version": "0.12.0"}
        assert time.monotonic() - start >= 0.2
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(local.ollama_url)
        assert [r.method for r in local.requests_to("/")] == ["GET", "HEAD", "GET"]
    assert local.errors == []


# --------------------------------------------------------------------------- fault-matrix additions


def raw_body(client: httpx.Client, url: str, payload: dict[str, Any]) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as sent (no gzip decoding)."""
    with client.stream("POST", url, json=payload, headers=auth(ALICE)) as r:
        return r, b"".join(r.iter_raw())


def test_gzip_bodies_streams_and_errors(fake: FakeProvider, client: httpx.Client) -> None:
    fake.script(ALICE, reply("packed answer", gzip=True), stream_reply("a b c", gzip=True))
    fake.script(ALICE, error(503, {"error": "busy"}, gzip=True), reply("packed", gzip=True))
    r, raw = raw_body(client, f"{fake.openrouter_url}/chat/completions", {"model": PAID, "messages": MESSAGES})
    assert r.headers["content-encoding"] == "gzip" and int(r.headers["content-length"]) == len(raw)
    assert json.loads(gzip.decompress(raw))["choices"][0]["message"]["content"] == "packed answer"
    r = or_chat(client, fake, stream=True)  # httpx undoes the gzip; each event was flushed on its own
    assert r.headers["content-encoding"] == "gzip" and r.headers["transfer-encoding"] == "chunked"
    assert "".join(c["choices"][0]["delta"]["content"] for c in data_chunks(sse_events(r.text)) if c["choices"]) == (
        "a b c"
    )
    r = oll_chat(client, fake)
    assert (r.status_code, r.json(), r.headers["content-encoding"]) == (503, {"error": "busy"}, "gzip")
    assert oll_chat(client, fake, stream=False).json()["message"]["content"] == "packed"


def test_gzip_stream_is_decodable_chunk_by_chunk(fake: FakeProvider, client: httpx.Client) -> None:
    fake.script(ALICE, stream_reply("one two three", gzip=True, chunk_delay=0.05))
    payload = {"model": PAID, "messages": MESSAGES, "stream": True}
    with client.stream("POST", f"{fake.openrouter_url}/chat/completions", json=payload, headers=auth(ALICE)) as r:
        inflate = zlib.decompressobj(wbits=31)
        first = inflate.decompress(next(r.iter_raw()))
    assert first.startswith(b"data: {") and first.endswith(b"\n\n")  # whole events, before the gzip ends


def test_huge_bodies_are_sent_without_being_built(fake: FakeProvider, client: httpx.Client) -> None:
    big = huge_error(502, 5 * MIB)
    assert len(big.body) == 64 * 1024 and big.size == 5 * MIB
    fake.script(ALICE, big, huge_error(502, 5 * MIB, gzip=True))
    r = or_chat(client, fake)
    assert (r.status_code, r.headers["content-type"], len(r.content)) == (502, "text/html", 5 * MIB)
    assert int(r.headers["content-length"]) == 5 * MIB and r.content.startswith(b"<p>upstream said no.")
    r, raw = raw_body(client, f"{fake.openrouter_url}/chat/completions", {"model": PAID, "messages": MESSAGES})
    assert len(raw) < 64 * 1024 and len(gzip.decompress(raw)) == 5 * MIB  # a gzip bomb, in miniature

    fake.script(ALICE, stream_reply(" word", repeat=2000), reply(" word", repeat=3000))
    events = sse_events(or_chat(client, fake, stream=True).text)
    chunks = data_chunks(events)
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks if c["choices"]) == " word" * 2000
    assert chunks[-1]["usage"]["completion_tokens"] == 2000 and events[-1] == "data: [DONE]"
    body = or_chat(client, fake).json()
    assert body["choices"][0]["message"]["content"] == " word" * 3000 and body["usage"]["completion_tokens"] == 3000

    fake.script(ALICE, stream_reply("a b", repeat=1000), reply("c d", repeat=500))
    lines = [json.loads(line) for line in oll_chat(client, fake).text.splitlines()]
    assert "".join(line["message"]["content"] for line in lines) == "a b" * 1000
    assert lines[-1]["done"] is True and lines[-1]["eval_count"] == 2000
    assert oll_chat(client, fake, stream=False).json()["message"]["content"] == "c d" * 500
    with pytest.raises(ValueError):
        stream_reply(repeat=2, error_after_tokens=1)


def test_invalid_utf8_and_lone_surrogates_reach_the_wire(fake: FakeProvider, client: httpx.Client) -> None:
    fake.script(ALICE, reply("caf\udce9 ok"), stream_reply("smile \ud83d"), error(502, {"error": "bad \udcff"}))
    _, raw = raw_body(client, f"{fake.openrouter_url}/chat/completions", {"model": PAID, "messages": MESSAGES})
    assert b'"content":"caf\xe9 ok"' in raw  # a Latin-1 byte: invalid UTF-8
    r = or_chat(client, fake, stream=True)
    assert b'"content":" \\ud83d"' in r.content  # the JSON escape of half a surrogate pair
    assert data_chunks(sse_events(r.text))[2]["choices"][0]["delta"]["content"] == " \ud83d"
    r = or_chat(client, fake)
    assert r.status_code == 502 and r.content == b'{"error":"bad \xff"}'
    fake.script(ALICE, stream_reply(chunks=("smile ", "\ud83d", "\ude00")))
    lines = oll_chat(client, fake).content.splitlines()
    assert [json.loads(line)["message"]["content"] for line in lines[:3]] == ["smile ", "\ud83d", "\ude00"]
    assert b'"content":"\\ud83d"' in lines[1] and b'"content":"\\ude00"' in lines[2]


def test_end_after_tokens_ends_cleanly_without_a_terminator(fake: FakeProvider, client: httpx.Client) -> None:
    fake.script(ALICE, *[stream_reply("a b c d", end_after_tokens=2)] * 3)
    events = sse_events(or_chat(client, fake, stream=True).text)  # a complete HTTP response
    chunks = data_chunks(events)
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "a b"
    assert "data: [DONE]" not in events and all(c["choices"][0]["finish_reason"] is None for c in chunks)
    lines = [json.loads(line) for line in oll_chat(client, fake).text.splitlines()]
    assert [line["message"]["content"] for line in lines] == ["a", " b"] and not any(x["done"] for x in lines)
    r = or_chat(client, fake)  # non-stream: the document stops half-way
    assert r.status_code == 200 and r.content.startswith(b'{"id":"gen-')
    with pytest.raises(ValueError):
        r.json()


def test_proxy_pages_are_html(fake: FakeProvider, client: httpx.Client) -> None:
    fake.script(ALICE, html_error(502), cloudflare_524(), html_error(413))
    r = or_chat(client, fake)
    assert (r.status_code, r.headers["content-type"]) == (502, "text/html")
    assert "<title>502 Bad Gateway</title>" in r.text and "<center>nginx</center>" in r.text
    r = or_chat(client, fake)
    assert (r.status_code, r.headers["content-type"]) == (524, "text/html; charset=UTF-8")
    assert "openrouter.ai | 524: A timeout occurred" in r.text
    assert or_chat(client, fake).text.count("413 Request Entity Too Large") == 2


def test_429_hints_are_exactly_the_ones_asked_for(fake: FakeProvider, client: httpx.Client) -> None:
    when = 1_788_220_800
    fake.script(
        ALICE,
        or_429(retry_after=120),
        or_429(retry_after=http_date(when)),
        or_429(reset_ms=when * 1000),
        or_429(retry_after_seconds=45),
        or_429(),
    )
    hint_headers = {"retry-after", "x-ratelimit-reset"}
    r = or_chat(client, fake)
    assert r.headers["retry-after"] == "120" and "x-ratelimit-reset" not in r.headers
    r = or_chat(client, fake)
    assert parsedate_to_datetime(r.headers["retry-after"]).timestamp() == when
    assert r.headers["retry-after"].endswith(" GMT")
    r = or_chat(client, fake)
    assert r.headers["x-ratelimit-reset"] == str(when * 1000) and "retry-after" not in r.headers
    r = or_chat(client, fake)
    assert r.json()["error"]["metadata"]["retry_after_seconds"] == 45 and not hint_headers & set(r.headers)
    r = or_chat(client, fake)
    assert r.status_code == 429 and not hint_headers & set(r.headers)
    assert set(r.json()["error"]["metadata"]) == {"error_type"}


def test_ready_made_bodies_for_every_status(fake: FakeProvider, client: httpx.Client) -> None:
    statuses = (400, 408, 413, 422, 500, 503, 504, 524, 529)
    fake.script(ALICE, *(or_status(s) for s in statuses))
    for status in statuses:
        r = or_chat(client, fake)
        assert r.status_code == status and r.json()["error"]["code"] == status
    assert r.json() == {"error": {"code": 529, "message": "Provider returned error"}}  # the spec's example
    ollama_statuses = (400, 408, 413, 422, 500, 502, 503, 504, 524, 529)
    fake.script(ALICE, *(oll_status(s) for s in ollama_statuses))
    for status in ollama_statuses:
        r = oll_chat(client, fake)
        assert r.status_code == status and isinstance(r.json()["error"], str)
    with pytest.raises(ValueError):
        or_status(418)
    fake.script(ALICE, or_status(503, headers={"Retry-After": "90"}))
    assert or_chat(client, fake).headers["retry-after"] == "90"


def test_402_and_403_variants(fake: FakeProvider, client: httpx.Client) -> None:
    fake.script(ALICE, or_402_insufficient(), or_403_moderation(), or_403_region(), or_403_forbidden())
    assert or_chat(client, fake).json()["error"]["message"].startswith("Insufficient credits")
    body = or_chat(client, fake).json()["error"]
    assert body["code"] == 403 and body["message"].startswith("Request blocked") and body["metadata"]["patterns"]
    body = or_chat(client, fake).json()["error"]
    assert "code" not in body and body["availability"]["code"] == "region_restricted" and body["http_status"] == 403
    assert or_chat(client, fake).json()["error"]["metadata"]["error_type"] == "permission_denied"
    fake.script(ALICE, oll_402_usage_limit(), oll_403_cloud_disabled())
    r = oll_chat(client, fake)
    assert r.status_code == 402 and "usage limit" in r.json()["error"]
    assert oll_chat(client, fake).json() == {"error": "ollama cloud is disabled: remote model is unavailable"}


# --------------------------------------------------------------------------- OpenAI, Azure OpenAI, Cloudflare

OA_KEY = "sk-proj-" + "k" * 48
AZ_KEY = "a1b2c3d4" * 4
CF_TOKEN = "cfut_" + "t" * 40
CF_ACCOUNT_TOKEN = "cfat_" + "u" * 40
ACCOUNT = "0123456789abcdef0123456789abcdef"
OTHER_ACCOUNT = "fedcba9876543210fedcba9876543210"
CF_MODEL = "@cf/meta/llama-3.1-8b-instruct"
CF_CHAT = f"/cloudflare/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"
AZ_DATED = "/azure/openai/deployments/my-gpt4o-mini/chat/completions"
AZ_401_BODY = (
    b'{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. '
    b"Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for "
    b'your resource."}}'
)
CF_10000_BODY = (
    b'{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}'
)


@pytest.fixture
def apis() -> Iterator[FakeProvider]:
    accounts = {CF_TOKEN: ACCOUNT, CF_ACCOUNT_TOKEN: OTHER_ACCOUNT}
    with FakeProvider(keys=[OA_KEY, AZ_KEY], cloudflare_accounts=accounts) as provider:
        yield provider
    assert provider.errors == []


def post(client: httpx.Client, fake: FakeProvider, path: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
    return client.post(fake.base_url + path, headers=headers, **kwargs)


def oa_chat(client: httpx.Client, fake: FakeProvider, secret: str | None = OA_KEY, **body: Any) -> httpx.Response:
    payload = {"model": "gpt-4o-mini", "messages": MESSAGES, **body}
    return post(client, fake, OPENAI_CHAT_PATH, auth(secret) if secret else {}, json=payload)


def az_chat(
    client: httpx.Client, fake: FakeProvider, headers: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    payload = {"model": "my-gpt4o-mini", "messages": MESSAGES, **body}
    return post(client, fake, AZURE_CHAT_PATH, {"api-key": AZ_KEY} if headers is None else headers, json=payload)


def cf_chat(
    client: httpx.Client, fake: FakeProvider, secret: str = CF_TOKEN, path: str = CF_CHAT, **body: Any
) -> httpx.Response:
    payload = {"model": CF_MODEL, "messages": MESSAGES, **body}
    return post(client, fake, path, auth(secret), json=payload)


def test_openai_refuses_requests_without_a_valid_bearer(apis: FakeProvider, client: httpx.Client) -> None:
    apis.script(OA_KEY, reply("kept for the good key"))
    r = oa_chat(client, apis, secret=None)
    assert r.status_code == 401 and r.json()["error"]["message"].startswith("You didn't provide an API key.")
    wrong = "sk-proj-" + "x" * 40 + "9z9z"
    r = oa_chat(client, apis, secret=wrong)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert r.json()["error"]["message"] == (
        f"Incorrect API key provided: sk-proj-{'*' * 40}9z9z. "
        "You can find your API key at https://platform.openai.com/account/api-keys."
    )
    assert wrong not in r.text and "x" * 12 not in r.text
    r = oa_chat(client, apis, secret="sk-short")
    assert "provided: ********." in r.json()["error"]["message"]  # a short key is not echoed at all
    r = post(client, apis, OPENAI_CHAT_PATH, {"api-key": OA_KEY}, json={"model": "gpt-4o-mini", "messages": MESSAGES})
    assert r.status_code == 401  # OpenAI reads only the bearer
    assert apis.remaining(OA_KEY) == 1 and oa_chat(client, apis).json()["choices"][0]["message"]["content"] == (
        "kept for the good key"
    )
    assert client.get(f"{apis.openai_url}/models").status_code == 401


def test_azure_takes_the_key_from_api_key_only(apis: FakeProvider, client: httpx.Client) -> None:
    for headers in ({"Authorization": f"Bearer {AZ_KEY}"}, {}, {"api-key": "0" * 32}):
        r = az_chat(client, apis, headers)
        assert (r.status_code, r.content) == (401, AZ_401_BODY)
    r = az_chat(client, apis, {"api-key": AZ_KEY, "Authorization": "Bearer not-the-key"})
    assert r.status_code == 200 and r.json()["model"] == "gpt-4o-mini"  # the deployment's model, not its name
    assert [q.bearer for q in apis.requests_to(AZURE_CHAT_PATH)] == [None, None, "0" * 32, AZ_KEY]
    assert r.headers["x-ms-region"] and r.headers["apim-request-id"] == r.headers["x-request-id"]
    assert "x-ratelimit-reset-requests" not in r.headers and r.headers["x-ratelimit-remaining-requests"] == "7"
    assert client.get(f"{apis.azure_endpoint}/openai/v1/models", headers=auth(AZ_KEY)).status_code == 401


def test_wrong_paths_get_each_services_404(apis: FakeProvider, client: httpx.Client) -> None:
    payload = {"model": "gpt-4o-mini", "messages": MESSAGES}
    r = post(client, apis, "/openai/v1/chat/completion", auth(OA_KEY), json=payload)
    assert (r.status_code, r.json()) == (
        404,
        {
            "error": {
                "message": "Invalid URL (POST /v1/chat/completion)",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
    )
    r = client.get(apis.openai_url + "/chat/completions", headers=auth(OA_KEY))
    assert r.status_code == 404 and r.json()["error"]["message"] == "Invalid URL (GET /v1/chat/completions)"

    not_found = {"error": {"code": "404", "message": "Resource not found"}}
    for path in ("/azure/openai/v1/chat/completion", AZ_DATED, AZ_DATED + "?api-version=someday"):
        r = post(client, apis, path, {"api-key": AZ_KEY}, json=payload)
        assert (r.status_code, r.json()) == (404, not_found), path
    r = post(client, apis, AZ_DATED + "?api-version=2024-10-21", {"api-key": AZ_KEY}, json={"messages": MESSAGES})
    assert r.status_code == 200 and r.json()["model"] == "gpt-4o-mini"

    r = cf_chat(client, apis, path=CF_CHAT.removesuffix("s"))
    assert r.status_code == 404 and r.json()["errors"] == [{"code": 7000, "message": "No route for that URI"}]
    r = cf_chat(client, apis, path=CF_CHAT.replace(ACCOUNT, "my-account"))
    assert r.status_code == 404 and r.json() == {
        "result": None,
        "success": False,
        "errors": [
            {
                "code": 7003,
                "message": "Could not route to /client/v4/accounts/my-account/ai/v1/chat/completions, "
                "perhaps your object identifier is invalid?",
            }
        ],
        "messages": [],
    }
    r = cf_chat(client, apis, path=f"/cloudflare/client/v4/accounts/{ACCOUNT}/ai/run/{CF_MODEL}")
    assert r.status_code == 404  # the native /ai/run route is not modelled


def test_chat_bodies_are_checked_like_the_real_services(apis: FakeProvider, client: httpx.Client) -> None:
    def oa_error(r: httpx.Response) -> tuple[int, str, str | None, str | None]:
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error"
        return r.status_code, err["message"], err["param"], err["code"]

    r = post(client, apis, OPENAI_CHAT_PATH, auth(OA_KEY), json={"messages": MESSAGES})
    assert oa_error(r) == (400, "you must provide a model parameter", None, None)
    r = post(client, apis, OPENAI_CHAT_PATH, auth(OA_KEY), json={"model": "gpt-4o-mini"})
    assert oa_error(r) == (400, "Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    assert oa_error(oa_chat(client, apis, messages=[]))[2:] == ("messages", "empty_array")
    assert oa_error(oa_chat(client, apis, messages="hi"))[2:] == ("messages", "invalid_type")
    r = post(client, apis, OPENAI_CHAT_PATH, auth(OA_KEY), content=b"{not json")
    assert oa_error(r)[1].startswith("We could not parse the JSON body of your request.")
    r = oa_chat(client, apis, stream_options={"include_usage": True})
    assert oa_error(r) == (
        400,
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        "stream_options",
        None,
    )
    assert oa_error(oa_chat(client, apis, model="gpt-9"))[0::3] == (404, "model_not_found")

    r = post(client, apis, AZURE_CHAT_PATH, {"api-key": AZ_KEY}, json={"messages": MESSAGES})
    assert oa_error(r)[:2] == (400, "you must provide a model parameter")
    r = az_chat(client, apis, model="gpt-4o-mini")  # a model name is not a deployment name
    assert r.status_code == 404 and r.json()["error"]["code"] == "DeploymentNotFound"

    def cf_error_of(r: httpx.Response) -> tuple[int, int, str]:
        body = r.json()
        assert body["success"] is False and body["result"] is None
        return r.status_code, body["errors"][0]["code"], body["errors"][0]["message"]

    assert cf_error_of(cf_chat(client, apis, model=None)) == (400, 5007, "No such model undefined or task")
    assert cf_error_of(cf_chat(client, apis, model="@cf/x/y")) == (400, 5007, "No such model @cf/x/y or task")
    assert cf_error_of(cf_chat(client, apis, messages=[]))[:2] == (400, 5006)
    r = post(client, apis, CF_CHAT, auth(CF_TOKEN), content=b"")
    assert cf_error_of(r) == (400, 3003, "Request is missing headers or body")
    assert cf_chat(client, apis, max_tokens=2).json()["choices"][0]["message"]["content"] == "Hello from"


def test_cloudflare_tokens_are_bound_to_their_account(apis: FakeProvider, client: httpx.Client) -> None:
    other = CF_CHAT.replace(ACCOUNT, OTHER_ACCOUNT)
    for secret, path in ((CF_TOKEN, other), (CF_ACCOUNT_TOKEN, CF_CHAT), ("cfut_unknown", CF_CHAT)):
        r = cf_chat(client, apis, secret=secret, path=path)
        assert (r.status_code, r.content) == (403, CF_10000_BODY)
    assert post(client, apis, CF_CHAT, {}, json={"model": CF_MODEL, "messages": MESSAGES}).status_code == 403
    assert cf_chat(client, apis, secret=CF_ACCOUNT_TOKEN, path=other).status_code == 200

    search = f"{apis.cloudflare_url}/accounts/{ACCOUNT}/ai/models/search"
    body = client.get(search, headers=auth(CF_TOKEN)).json()
    assert body["success"] is True and [(m["name"], m["task"]["name"]) for m in body["result"]] == [
        (CF_MODEL, "Text Generation")
    ]
    assert client.get(search, params={"task": "Translation"}, headers=auth(CF_TOKEN)).json()["result"] == []
    info = client.get(search, params={"search": "LLAMA", "per_page": 1, "page": 2}, headers=auth(CF_TOKEN)).json()
    assert info["result"] == [] and info["result_info"] == {
        "count": 0,
        "page": 2,
        "per_page": 1,
        "total_count": 1,
        "total_pages": 1,
    }
    assert client.get(search, headers=auth(CF_ACCOUNT_TOKEN)).content == CF_10000_BODY

    def verify(path: str, token: str) -> tuple[int, Any]:
        r = client.get(apis.cloudflare_url + path, headers=auth(token))
        return r.status_code, r.json()

    status, doc = verify("/user/tokens/verify", CF_TOKEN)
    assert status == 200 and doc["result"]["status"] == "active"
    assert doc["messages"][0]["message"] == "This API Token is valid and active"
    invalid = (
        401,
        {"success": False, "errors": [{"code": 1000, "message": "Invalid API Token"}], "messages": [], "result": None},
    )
    assert (
        verify("/user/tokens/verify", CF_ACCOUNT_TOKEN) == invalid
    )  # account-owned tokens: only their account's route
    assert verify(f"/accounts/{OTHER_ACCOUNT}/tokens/verify", CF_ACCOUNT_TOKEN)[0] == 200
    assert verify(f"/accounts/{ACCOUNT}/tokens/verify", CF_ACCOUNT_TOKEN) == invalid
    assert verify("/user/tokens/verify", "cfut_unknown") == invalid


def test_openai_raw_stream_has_usage_null_exactly_with_include_usage(apis: FakeProvider, client: httpx.Client) -> None:
    r = oa_chat(client, apis)
    assert r.text.startswith('{\n  "id": "chatcmpl-') and r.text.endswith("}\n")  # indented, as the live API
    assert "cost" not in r.text
    r = oa_chat(client, apis, stream=True, stream_options={"include_usage": True})
    assert r.headers["content-type"] == "text/event-stream"
    events = sse_events(r.text)
    assert events[-1] == "data: [DONE]"
    chunks = data_chunks(events)
    assert all("usage" in c for c in chunks) and [c["usage"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 10
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert all(c["obfuscation"] for c in chunks)

    chunks = data_chunks(sse_events(oa_chat(client, apis, stream=True).text))
    assert not any("usage" in c for c in chunks) and all(c["choices"] for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == DEFAULT_TEXT


def test_azure_raw_stream_starts_with_prompt_filters_and_sorts_keys(apis: FakeProvider, client: httpx.Client) -> None:
    r = az_chat(client, apis, stream=True, stream_options={"include_usage": True})
    events = sse_events(r.text)
    safe = '{"filtered":false,"severity":"safe"}'
    assert events[0] == (
        'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"content_filter_results":'
        f'{{"hate":{safe},"self_harm":{safe},"sexual":{safe},"violence":{safe}}},"prompt_index":0}}],"usage":null}}'
    )
    for event in events[:-1]:
        pairs = json.loads(event[len("data: ") :], object_pairs_hook=lambda kv: [k for k, _ in kv])
        assert pairs == sorted(pairs)
    chunks = data_chunks(events)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 5
    assert all(c["choices"][0]["content_filter_results"] for c in chunks[2:-2])
    body = az_chat(client, apis).json()
    assert body["prompt_filter_results"][0]["content_filter_results"]["hate"]["severity"] == "safe"
    apis.script(AZ_KEY, reply(finish_reason="content_filter"))
    choice = az_chat(client, apis).json()["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["content_filter_results"]["violence"]["filtered"]


def test_new_chat_paths_take_scripts_by_path_secret_and_model(apis: FakeProvider, client: httpx.Client) -> None:
    apis.script(OA_KEY, oa_503(), path=OPENAI_CHAT_PATH)
    apis.script(OA_KEY, reply("shared queue"))  # no path: the shared chat queue, after the path's own
    apis.script(AZ_KEY, az_429(retry_after=3), model="my-gpt4o-mini")
    apis.script(CF_TOKEN, cf_3036(), path=CF_CHAT)
    assert oa_chat(client, apis).status_code == 503
    assert oa_chat(client, apis).json()["choices"][0]["message"]["content"] == "shared queue"
    r = az_chat(client, apis)
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert r.json()["error"]["message"] == "Rate limit is exceeded. Try again in 3 seconds."
    assert cf_chat(client, apis).json()["errors"][0]["code"] == 3036
    assert cf_chat(client, apis).status_code == 200
    assert [q.wire for q in apis.chat_requests] == ["openai", "openai", "azure", "cloudflare", "cloudflare"]

    apis.script(OA_KEY, oa_503(), path="/openai/v1/models")  # any other path: before auth, as elsewhere
    assert client.get(apis.openai_url + "/models", headers=auth(OA_KEY)).status_code == 503
    assert client.get(apis.openai_url + "/models", headers=auth(OA_KEY)).json()["data"][0]["id"] == "gpt-4o-mini"
    assert apis.usage_of(OA_KEY) == apis.usage_of(AZ_KEY) == 0.0


def test_new_error_helpers_keep_the_reference_bodies() -> None:
    assert oa_401().body == (
        b'{"error":{"message":"Incorrect API key provided: sk-...","type":"invalid_request_error","param":null,'
        b'"code":"invalid_api_key"}}'
    )
    assert (az_401().status, az_401().body) == (401, AZ_401_BODY)
    assert (cf_10000().status, cf_10000().body) == (403, CF_10000_BODY)
    assert oa_429_insufficient_quota().json == {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    limited = oa_429_rate_limit()
    assert limited.json["error"]["message"] == (
        "Rate limit reached for gpt-4o in organization org-... on tokens per min (TPM): Limit 30000, Used 29937, "
        "Requested 385. Please try again in 644ms."
    )
    assert dict(limited.headers)["x-ratelimit-reset-requests"] == "6m0s" and "retry-after" not in dict(limited.headers)
    assert oa_responses_only().body == (
        b'{"error":{"message":"This model is only supported in v1/responses and not in v1/chat/completions.",'
        b'"type":"invalid_request_error","param":"model","code":null}}'
    )
    assert az_429(text="peak").json["error"]["message"].endswith("Please retry after 20 seconds.")
    assert dict(az_429(5, retry_after_ms=True).headers) == {"retry-after": "5", "retry-after-ms": "5000"}
    with pytest.raises(ValueError):
        az_429(text="bogus")  # type: ignore[arg-type]
    assert (cf_3036().status, cf_3040().json["errors"][0]["code"], cf_5007("m").status) == (429, 3040, 400)
    assert cf_4006().json["error"]["message"].startswith("4006: you have used up your daily free allocation")
    assert mask_key("sk-PMafP" + "q" * 39 + "E873") == "sk-PMafP" + "*" * 39 + "E873"


def test_new_constructor_options_are_checked_and_defaulted() -> None:
    with pytest.raises(ValueError, match="32 lower-case hex"):
        FakeProvider(cloudflare_accounts={CF_TOKEN: "ACCOUNT"})
    with pytest.raises(ValueError, match="@cf/"):
        FakeProvider(cloudflare_models={"llama-3"})
    fake = FakeProvider(models={"openai/gpt-4o-mini", "openai/o4-mini", "kimi-k2.6"})
    assert fake.openai_models == {"gpt-4o-mini", "o4-mini"} and fake.deployments == {"my-gpt4o-mini": "gpt-4o-mini"}
    assert fake.cloudflare_models == {CF_MODEL} and fake.cloudflare_accounts == {}
