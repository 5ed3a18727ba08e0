"""``llmroute serve``'s OpenAI front, read by the official ``openai`` client and by raw HTTP.

One real ``llmroute serve --port 0`` process per module, against the fake providers; tests that leave keys
cooling down clear them with ``llmroute reset-limits`` (another process on the same state file, as in real use).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import (
    OLLAMA_KEYS,
    OR_KEYS,
    Cli,
    assert_no_secret,
    base_env,
    keys_env,
)
from tests.fakes import DEFAULT_TEXT, FakeProvider, error, or_429, or_status, reply, stream_reply

MODEL = "openai/gpt-4o-mini"
MESSAGES: list[Any] = [{"role": "user", "content": "say hello please"}]


# ------------------------------------------------------------------------------------------------ helpers
# (imported by test_server_security.py and test_server_lifecycle.py)


@dataclass
class Served:
    """A running ``llmroute serve`` process; its stderr is drained in a thread so it never blocks."""

    proc: subprocess.Popen[bytes]
    url: str
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def client(self, token: str = "unused", **options: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=token, max_retries=0, **options)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` and wait for the exit status."""
        self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 30) -> int:
        """Wait for the exit status (after a signal the test sent itself)."""
        code = self.proc.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return code

    def check_output(self) -> None:
        """What every server run must hold to: no key and no traceback on stderr."""
        assert_no_secret(self.stderr, "the server's stderr")
        assert "Traceback" not in self.stderr, self.stderr


def serve(cli: Cli, *args: str, **env: str) -> Served:
    """Start ``llmroute serve --port 0 ARGS`` and wait for its ``listening on`` line."""
    proc = cli.popen("serve", "--port", "0", *args, **env)
    assert proc.stderr is not None
    lines: list[str] = []
    first = proc.stderr.readline().decode("utf-8", "replace")
    lines.append(first)
    if not first.startswith("listening on http://"):
        rest = proc.communicate(timeout=30)[1].decode("utf-8", "replace")
        raise AssertionError(f"the server did not start: {first}{rest}")

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.decode("utf-8", "replace"))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    return Served(proc, first.split()[-1], lines, reader)


def fake_cloud() -> FakeProvider:
    keys = {k: f"or{i + 1}" for i, k in enumerate(OR_KEYS)} | {k: f"oll{i + 1}" for i, k in enumerate(OLLAMA_KEYS)}
    models = {MODEL, "moonshotai/kimi-k2.5", "moonshotai/kimi-k2.6", "gpt-oss:120b", "kimi-k2.6"}
    return FakeProvider(keys=keys, models=models)


def cli_for(home: Path, fake: FakeProvider, **extra: str) -> Cli:
    env = base_env(home) | {"OPENROUTER_BASE_URL": fake.openrouter_url, "OLLAMA_BASE_URL": fake.ollama_url}
    return Cli(home=home, env=env | dict(extra))


def ledger(home: Path) -> list[tuple[str, str, str]]:
    """``(request id, key label, outcome)`` of every attempt, in order, once none is pending: a whole answer is
    settled right after it is sent, so the last one may still be settling as its client reads it."""
    deadline = time.monotonic() + 5
    while True:
        conn = sqlite3.connect(home / "state.db")
        try:
            rows = list(conn.execute("SELECT request_id, key_label, outcome FROM attempts ORDER BY id"))
        finally:
            conn.close()
        if all(outcome != "pending" for _, _, outcome in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.01)


def chat_body(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": MESSAGES, **fields}


def sse_events(text: str) -> list[str]:
    """The ``data:`` payloads of a server-sent event stream, in order."""
    return [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with fake_cloud() as provider:
        yield provider


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir()
    yield home
    for file in home.rglob("*"):
        if file.is_file():
            assert_no_secret(file.read_bytes(), f"state file {file.name}")


@pytest.fixture(scope="module")
def module_cli(module_home: Path, fake: FakeProvider) -> Cli:
    # Ollama Cloud has a daily budget of 0: what it would answer is refused by the budget (a 402).
    return cli_for(module_home, fake, **keys_env(openrouter=2, ollama=1), OLLAMA_DAILY_BUDGET="0")


@pytest.fixture(scope="module")
def server(module_cli: Cli) -> Iterator[Served]:
    served = serve(module_cli, "-v")
    yield served
    assert served.stop() == 0
    served.check_output()


@pytest.fixture
def client(server: Served) -> openai.OpenAI:
    return server.client()


@pytest.fixture
def reset(module_cli: Cli) -> Iterator[None]:
    """Clear the cooldowns and breakers a test's faults left (the server reads them from the state file)."""
    yield
    assert module_cli("reset-limits").code == 0


def post(server: Served, body: Any, headers: Mapping[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{server.url}/v1/chat/completions", content=content, headers=headers, timeout=30)


# ------------------------------------------------------------------------------------------------ answers


def test_chat_answers_through_the_official_client(client: openai.OpenAI, fake: FakeProvider) -> None:
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content == DEFAULT_TEXT
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == MODEL
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert raw.headers["x-llmroute-provider"] == "openrouter"
    assert raw.headers["x-llmroute-key"] == "OPENROUTER_API_KEY_1"
    assert raw.headers["x-llmroute-attempts"] == "1"
    assert completion.id == f"chatcmpl-{raw.headers['x-llmroute-request-id']}"
    assert fake.chat_requests[-1].bearer == OR_KEYS[0]


def test_stream_joins_to_the_answer_with_a_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_TEXT
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens > 0
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")


def test_raw_stream_is_sse_ending_with_done(server: Served) -> None:
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=chat_body(stream=True)) as response:
        body = response.read().decode()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-llmroute-key"] == "OPENROUTER_API_KEY_1"
    events = sse_events(body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)
    assert chunks[0]["id"] == f"chatcmpl-{response.headers['x-llmroute-request-id']}"


def test_reasoning_is_sent_apart_from_the_answer(server: Served, fake: FakeProvider, client: openai.OpenAI) -> None:
    fake.script(OR_KEYS[0], reply("The answer.", reasoning="Let me think."))
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert completion.choices[0].message.content == "The answer."
    assert completion.choices[0].message.model_extra["reasoning_content"] == "Let me think."

    fake.script(OR_KEYS[0], stream_reply("The answer.", reasoning="Let me think."))
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=chat_body(stream=True)) as response:
        chunks = [json.loads(e) for e in sse_events(response.read().decode())[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    answer = "".join(d.get("content") or "" for d in deltas)
    assert (reasoning, answer) == ("Let me think.", "The answer.")
    first_text = next(i for i, d in enumerate(deltas) if d.get("content"))
    assert all("reasoning_content" not in d for d in deltas[first_text:])


def test_sampling_options_are_passed_on(client: openai.OpenAI, fake: FakeProvider) -> None:
    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "developer", "content": "be brief"}, *MESSAGES],
        temperature=0.3,
        top_p=0.9,
        stop=["END", "STOP"],
        seed=7,
        max_completion_tokens=50,
    )
    body = fake.chat_requests[-1].body
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9 and body["seed"] == 7
    assert body["stop"] == ["END", "STOP"] and body["max_tokens"] == 50
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=20, stop="END")
    body = fake.chat_requests[-1].body
    assert body["max_tokens"] == 20 and body["stop"] == ["END"]


def test_text_parts_are_joined(client: openai.OpenAI, fake: FakeProvider) -> None:
    parts = [{"type": "text", "text": "say "}, {"type": "text", "text": "hello"}]
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": parts}])
    assert fake.chat_requests[-1].body["messages"] == [{"role": "user", "content": "say hello"}]


def test_an_alias_is_resolved_as_chat_does(client: openai.OpenAI, fake: FakeProvider) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.headers["x-llmroute-provider"] == "openrouter"
    assert fake.chat_requests[-1].body["model"] == MODEL


def test_x_provider_header_must_name_a_provider(server: Served, fake: FakeProvider) -> None:
    before = len(fake.chat_requests)
    response = post(server, chat_body(), {"X-Provider": "nosuch"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_provider"
    response = post(server, chat_body(model="gpt-4o-mini"), {"X-Provider": "openrouter"})
    assert response.status_code == 200 and response.headers["x-llmroute-provider"] == "openrouter"
    assert len(fake.chat_requests) == before + 1


def test_privacy_critical_never_leaves_the_machine(server: Served, fake: FakeProvider) -> None:
    before = len(fake.requests)
    response = post(server, chat_body(), {"X-Llmroute-Privacy": "critical"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "privacy_refused"
    assert len(fake.requests) == before
    assert post(server, chat_body(), {"X-Llmroute-Privacy": "secret"}).status_code == 400


def test_a_model_no_configured_key_can_reach_is_a_404_naming_the_variable_to_set(server: Served) -> None:
    response = post(server, chat_body(model="anthropic:claude-sonnet-4-5"))
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found" and "ANTHROPIC_API_KEY" in error["message"]


def test_a_header_never_lowers_a_configured_critical_privacy(tmp_path: Path, fake: FakeProvider) -> None:
    home = tmp_path / "home"
    home.mkdir()
    critical = serve(cli_for(home, fake, LLMROUTE_PRIVACY="critical", **keys_env(openrouter=1)))
    try:
        before = len(fake.requests)
        response = post(critical, chat_body(), {"X-Llmroute-Privacy": "normal"})
        assert response.status_code == 503 and response.json()["error"]["code"] == "privacy_refused"
        assert len(fake.requests) == before, "nothing left the machine"
    finally:
        critical.proc.terminate()
        critical.proc.wait(timeout=10)


def test_models_lists_aliases_and_the_cached_catalogue(server: Served, module_cli: Cli) -> None:
    client = server.client()
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o-mini" in ids and "kimi-k2.6" in ids
    assert "claude-opus" not in ids  # its only target is Anthropic, which has no key here
    assert module_cli("models").code == 0  # caches the catalogues
    ids = [m.id for m in client.models.list()]
    assert f"openrouter:{MODEL}" in ids and "ollama:gpt-oss:120b" in ids
    assert "openrouter:moonshotai/kimi-k2.5" not in ids  # retired
    model = client.models.retrieve(f"openrouter:{MODEL}")
    assert model.owned_by == "openrouter"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("openrouter:no/such-model")


# ------------------------------------------------------------------------------------------------ errors


BAD_BODIES: list[tuple[str, Any]] = [
    ("malformed JSON", b'{"model": "x", "messages": ['),
    ("empty body", b""),
    ("not UTF-8", b'{"model": "\xff"}'),
    ("NaN", b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}'),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
    ("an array", []),
    ("missing messages", {"model": MODEL}),
    ("messages not an array", {"model": MODEL, "messages": "hi"}),
    ("empty messages", {"model": MODEL, "messages": []}),
    ("message not an object", {"messages": ["hi"]}),
    ("unknown role", {"messages": [{"role": "robot", "content": "hi"}]}),
    ("content a number", {"messages": [{"role": "user", "content": 42}]}),
    ("image content", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}),
    ("tool message", {"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]}),
    ("model a number", chat_body(model=4)),
    ("model empty", chat_body(model=" ")),
    ("model without a name", chat_body(model="openrouter:")),
    ("temperature a string", chat_body(temperature="hot")),
    ("temperature out of range", chat_body(temperature=3)),
    ("top_p out of range", chat_body(top_p=1.5)),
    ("max_tokens zero", chat_body(max_tokens=0)),
    ("max_tokens a boolean", chat_body(max_tokens=True)),
    ("max_tokens a float", chat_body(max_tokens=10.5)),
    ("max_tokens and max_completion_tokens differ", chat_body(max_tokens=10, max_completion_tokens=20)),
    ("stream a string", chat_body(stream="yes")),
    ("stream_options without stream", chat_body(stream_options={"include_usage": True})),
    ("stop not strings", chat_body(stop=[1])),
    ("too many stops", chat_body(stop=["a", "b", "c", "d", "e"])),
    ("seed a string", chat_body(seed="7")),
    ("n = 2", chat_body(n=2)),
    ("tools", chat_body(tools=[{"type": "function", "function": {"name": "f"}}])),
    ("json mode", chat_body(response_format={"type": "json_object"})),
    ("logprobs", chat_body(logprobs=True)),
]


@pytest.mark.parametrize(("case", "body"), BAD_BODIES, ids=[case for case, _ in BAD_BODIES])
def test_bad_requests_are_400_in_openai_shape(server: Served, fake: FakeProvider, case: str, body: Any) -> None:
    before = len(fake.chat_requests)
    response = post(server, body)
    assert response.status_code == 400, response.text
    error_body = response.json()["error"]
    assert set(error_body) >= {"message", "type", "code"} and error_body["type"] == "invalid_request_error"
    assert len(fake.chat_requests) == before


def test_the_official_client_raises_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=5)


def test_unknown_route_and_method_are_json(server: Served) -> None:
    response = httpx.get(f"{server.url}/v1/nothing")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = httpx.get(f"{server.url}/v1/chat/completions")
    assert response.status_code == 405 and response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_404(client: openai.OpenAI, reset: None) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="openrouter:nosuch/model", messages=MESSAGES)
    assert caught.value.code == "model_not_found"


def test_every_key_limited_is_429_with_retry_after(client: openai.OpenAI, fake: FakeProvider, reset: None) -> None:
    fake.script(OR_KEYS[0], or_429(retry_after=120))
    fake.script(OR_KEYS[1], or_429(retry_after=60))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    headers = caught.value.response.headers
    assert 50 <= int(headers["retry-after"]) <= 61
    assert headers["x-llmroute-attempts"] == "2"
    # Now both keys are known to be cooling down: refused at once, without a request upstream.
    before = len(fake.chat_requests)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert caught.value.response.headers["x-llmroute-attempts"] == "0"
    assert len(fake.chat_requests) == before


def test_a_budget_refusal_is_402(client: openai.OpenAI, fake: FakeProvider) -> None:
    before = len(fake.chat_requests)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="ollama:gpt-oss:120b", messages=MESSAGES)
    assert caught.value.status_code == 402
    assert caught.value.code == "budget_exceeded"
    assert len(fake.chat_requests) == before


def test_every_candidate_failing_is_502(client: openai.OpenAI, fake: FakeProvider, reset: None) -> None:
    for key in OR_KEYS[:2]:
        fake.script(key, or_status(500))
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert caught.value.status_code == 502 and caught.value.code == "all_failed"


# ------------------------------------------------------------------------------------------------ failover


def test_a_failure_before_the_first_token_fails_over(server: Served, fake: FakeProvider, reset: None) -> None:
    fake.script(OR_KEYS[0], or_429())
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=chat_body(stream=True)) as response:
        events = sse_events(response.read().decode())
    assert response.status_code == 200
    assert response.headers["x-llmroute-key"] == "OPENROUTER_API_KEY_2"
    assert response.headers["x-llmroute-attempts"] == "2"
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == DEFAULT_TEXT


def test_a_stream_cut_after_the_first_token_ends_with_an_error_event(
    server: Served, fake: FakeProvider, reset: None
) -> None:
    fake.script(OR_KEYS[0], stream_reply(error_after_tokens=2))
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=chat_body(stream=True)) as response:
        events = sse_events(response.read().decode())
    assert response.status_code == 200
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert last["error"]["code"] == "stream_broken" and last["error"]["message"]
    assert "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])


def test_the_official_client_raises_on_a_cut_stream(client: openai.OpenAI, fake: FakeProvider, reset: None) -> None:
    fake.script(OR_KEYS[0], stream_reply(drop_after_tokens=2))
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk)
    assert received  # the answer had begun


def test_a_non_streamed_answer_fails_over_even_midway(client: openai.OpenAI, fake: FakeProvider, reset: None) -> None:
    fake.script(OR_KEYS[0], stream_reply(error_after_tokens=2))
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.parse().choices[0].message.content == DEFAULT_TEXT
    assert raw.headers["x-llmroute-key"] == "OPENROUTER_API_KEY_2"
    assert raw.headers["x-llmroute-attempts"] == "2"


# ------------------------------------------------------------------------------------------------ the ledger


def test_concurrent_requests_are_each_recorded_once(server: Served, module_home: Path) -> None:
    before = len(ledger(module_home))

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as http:
            return await asyncio.gather(
                *(http.post(f"{server.url}/v1/chat/completions", json=chat_body(stream=bool(i % 2))) for i in range(24))
            )

    responses = asyncio.run(run())
    assert all(r.status_code == 200 for r in responses)
    ids = {r.headers["x-llmroute-request-id"] for r in responses}
    rows = ledger(module_home)[before:]
    assert len(ids) == 24 and len(rows) == 24
    assert {row[0] for row in rows} == ids and all(row[2] == "ok" for row in rows)


def test_nothing_leaks_into_responses(server: Served, fake: FakeProvider, reset: None) -> None:
    # A provider that quotes the key back: the message shown is redacted.
    fake.script(OR_KEYS[0], error(401, {"error": {"message": f"bad key {OR_KEYS[0]}", "code": 401}}))
    fake.script(OR_KEYS[1], error(401, {"error": {"message": f"bad key {OR_KEYS[1]}", "code": 401}}))
    response = post(server, chat_body())
    assert response.status_code == 502
    assert_no_secret(response.content, "an error body")
    assert_no_secret(json.dumps(dict(response.headers)), "response headers")
    time.sleep(0.1)
    server.check_output()


def test_reasoning_of_a_failed_attempt_is_not_sent(server: Served, fake: FakeProvider, reset: None) -> None:
    fake.script(OR_KEYS[0], stream_reply("lost answer", reasoning="thoughts of the first key", error_after_tokens=0))
    fake.script(OR_KEYS[1], stream_reply("The answer.", reasoning="thoughts of the second key"))
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=chat_body(stream=True)) as response:
        chunks = [json.loads(e) for e in sse_events(response.read().decode())[:-1]]
    assert response.headers["x-llmroute-key"] == "OPENROUTER_API_KEY_2"
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "thoughts of the second key"
    assert "".join(d.get("content") or "" for d in deltas) == "The answer."


def test_requests_are_counted_in_the_metrics(server: Served, client: openai.OpenAI) -> None:
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    post(server, b"{")
    text = httpx.get(f"{server.url}/metrics").text
    assert 'llmroute_gateway_requests_total{api="openai",code="200",stream="false"}' in text
    assert 'llmroute_gateway_requests_total{api="openai",code="200",stream="true"}' in text
    assert 'llmroute_gateway_requests_total{api="openai",code="400",stream="false"}' in text
    assert 'llmroute_gateway_ttft_seconds_count{api="openai"}' in text


def test_an_answer_of_reasoning_only_keeps_its_reasoning(server: Served, fake: FakeProvider) -> None:
    fake.script(OR_KEYS[0], stream_reply("", reasoning="only thoughts", finish_reason="length"))
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=chat_body(stream=True)) as response:
        chunks = [json.loads(e) for e in sse_events(response.read().decode())[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "only thoughts"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert response.headers["x-llmroute-attempts"] == "1"
