"""``llmroute serve`` under load: 200 concurrent mixed requests with faults, then SIGTERM.

One real ``llmroute serve --port 0`` process over three OpenRouter keys and an Ollama Cloud key, all answered by
the fake providers with faults scripted into every key's queue: 429s and 500s with a one-second ``Retry-After``,
Ollama's 503 "server busy", and answers that break after their second token (an SSE error chunk on OpenRouter, an
NDJSON error line on Ollama). 200 requests go at once, mixing the OpenAI API (whole and streamed, a model only
OpenRouter serves and an alias both serve) and the Ollama API (``/api/chat`` whole and streamed). Once every
answer is in, the server is stopped with SIGTERM (exit 0) and the test checks, against the fake's own records:

- every chat request the fake received is exactly one ledger row, of the client request that caused it (matched
  by prompt and ``X-Llmroute-Request-Id``) and of the key that sent it; no row is left ``pending``;
- each answer's ``X-Llmroute-Attempts`` is the number of rows of its request id, and request ids are unique;
- the running totals (``usage_days``) equal a recount of the ledger (``tests/test_totals.py``), ``llmroute costs
  --json`` equals the ledger's sum, and the reported part equals what the fake billed;
- each client got either a success whose text is exactly the answering key's answer, or a proper error: a
  status with the API's error body before any byte of an answer, or, once an answer had begun, an explicit error
  event (OpenAI) / error line (Ollama) at its end and no ``[DONE]`` / ``done: true``. Never a clean-looking
  truncated answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, keys_env
from tests.fakes import (
    Behaviour,
    FakeProvider,
    error,
    ollama_error,
    or_429,
    or_status,
    reply,
    stream_reply,
)
from tests.test_server_openai import serve, sse_events
from tests.test_totals import kept, recount

REQUESTS = 200
OPENROUTER_MODEL = "openai/gpt-4o-mini"
"""Served by OpenRouter only."""
ALIAS = "kimi-k2.6"
"""Ollama Cloud's ``kimi-k2.6`` first, then OpenRouter's ``moonshotai/kimi-k2.6``."""
PRICE = 10.0
"""USD per million tokens for Ollama (it reports no cost: llmroute estimates it from the tokens)."""

CONFIG = f"""
[routing]
provider_order = ["ollama", "openrouter"]
key_selection = "round-robin"

[breaker]
cool_off = 1

[providers.ollama.prices]
"*" = [{PRICE}, {PRICE}]
"""

LABELS = {
    OR_KEYS[0]: "OPENROUTER_API_KEY_1",
    OR_KEYS[1]: "OPENROUTER_API_KEY_2",
    OR_KEYS[2]: "OPENROUTER_API_KEY_3",
    OLLAMA_KEYS[0]: "OLLAMA_API_KEY",
}
ANSWERS = {label: f"answer from {label.lower()} one two three four five six" for label in LABELS.values()}
"""Each key answers its own text, so a client's text can be checked against the key its headers name."""

OPENAI_CODES = {
    429: {"rate_limited"},
    402: {"budget_exceeded"},
    502: {"all_failed", "stream_broken"},
    503: {"no_keys", "unavailable"},
    504: {"timeout"},
}
"""The statuses (and OpenAI error codes) a routing failure may end in here; anything else is a bug."""


def faults(pattern: list[Behaviour], count: int = 2 * REQUESTS) -> list[Behaviour]:
    return [pattern[i % len(pattern)] for i in range(count)]


def script(fake: FakeProvider) -> None:
    hint = {"Retry-After": "1"}
    for secret, label in LABELS.items():
        text = ANSWERS[label]
        ok = reply(text)
        cut = stream_reply(text, error_after_tokens=2)
        limited = or_429(retry_after=1)
        broken = or_status(500, hint)
        if label == "OPENROUTER_API_KEY_1":
            pattern = [*[ok] * 6, limited, *[ok] * 5, cut]
        elif label == "OPENROUTER_API_KEY_2":
            pattern = [*[ok] * 4, broken, *[ok] * 7, limited]
        elif label == "OPENROUTER_API_KEY_3":
            pattern = [*[ok] * 8, cut, *[ok] * 3, broken]
        else:
            busy = ollama_error(503, "server busy, please try again.", hint)
            pattern = [*[ok] * 7, busy, *[ok] * 6, cut, error(500, {"error": "internal error"}, hint)]
        fake.script(secret, *faults(pattern))


@dataclass(frozen=True)
class Call:
    index: int
    api: str  # "openai" or "ollama"
    stream: bool
    model: str

    @property
    def prompt(self) -> str:
        return f"load request {self.index}"

    @property
    def path(self) -> str:
        return "/v1/chat/completions" if self.api == "openai" else "/api/chat"

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.prompt}],
            "stream": self.stream,
        }
        if self.api == "openai" and self.stream and self.index % 4 == 1:
            body["stream_options"] = {"include_usage": True}
        return body


def calls() -> list[Call]:
    kinds = [
        ("openai", False, OPENROUTER_MODEL),
        ("openai", True, OPENROUTER_MODEL),
        ("openai", False, ALIAS),
        ("openai", True, ALIAS),
        ("ollama", True, ALIAS),
        ("ollama", False, ALIAS),
    ]
    return [Call(i, *kinds[i % len(kinds)]) for i in range(REQUESTS)]


@dataclass(frozen=True)
class Answer:
    call: Call
    status: int
    headers: httpx.Headers
    body: bytes
    seconds: float

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-llmroute-request-id")


async def fire(url: str, batch: list[Call]) -> list[Answer]:
    limits = httpx.Limits(max_connections=len(batch), max_keepalive_connections=len(batch))
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        gate = asyncio.Event()

        async def one(call: Call) -> Answer:
            await gate.wait()
            started = time.perf_counter()
            async with client.stream("POST", call.path, json=call.body()) as response:
                body = await response.aread()
            return Answer(call, response.status_code, response.headers, body, time.perf_counter() - started)

        tasks = [asyncio.create_task(one(call)) for call in batch]
        await asyncio.sleep(0)
        gate.set()
        return await asyncio.gather(*tasks)


# ------------------------------------------------------------------------------------------------ what a client saw


def check_answer(answer: Answer) -> str:
    """The answer is a success with the whole text, or a proper error; returns what it was, for the summary."""
    call, status = answer.call, answer.status
    label = answer.headers.get("x-llmroute-key")
    where = f"request {call.index} ({call.api}, stream={call.stream}, {call.model}): {status} {answer.body[:300]!r}"
    if status != 200:
        return check_refusal(answer, where)
    assert label in ANSWERS, where
    expected = ANSWERS[label]
    assert answer.request_id, where
    if not call.stream:
        document = json.loads(answer.body)
        if call.api == "openai":
            assert document["object"] == "chat.completion", where
            assert document["id"] == f"chatcmpl-{answer.request_id}", where
            assert document["choices"][0]["message"]["content"] == expected, where
            assert document["choices"][0]["finish_reason"] == "stop", where
            assert document["usage"]["completion_tokens"] > 0, where
        else:
            assert document["done"] is True and document["done_reason"] == "stop", where
            assert document["message"]["content"] == expected, where
        return "ok"
    if call.api == "openai":
        assert answer.headers["content-type"].startswith("text/event-stream"), where
        events = sse_events(answer.body.decode())
        assert events, where
        if events[-1] == "[DONE]":
            chunks = [json.loads(e) for e in events[:-1]]
            assert all("error" not in c for c in chunks), where
            text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
            assert text == expected, where
            assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop", where
            if call.body().get("stream_options"):
                assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0, where
            return "ok (streamed)"
        # An answer that had begun and broke: an explicit error event ends it, never a [DONE].
        assert "[DONE]" not in events, where
        last = json.loads(events[-1])
        assert set(last) == {"error"}, where
        assert last["error"]["code"] == "stream_broken" and last["error"]["message"], where
        assert last["error"]["type"] == "server_error", where
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text and expected.startswith(text) and text != expected, where
        assert all(c["choices"][0]["finish_reason"] is None for c in chunks if c["choices"]), where
        return "broken mid-stream"
    assert answer.headers["content-type"].startswith("application/x-ndjson"), where
    lines = [json.loads(line) for line in answer.body.decode().splitlines() if line.strip()]
    assert lines, where
    last = lines[-1]
    pieces = lines[:-1]
    assert all("error" not in piece and piece["done"] is False for piece in pieces), where
    text = "".join(piece["message"]["content"] for piece in pieces)
    if "error" not in last:
        assert last["done"] is True and last["done_reason"] == "stop", where
        assert text == expected, where
        return "ok (streamed)"
    assert set(last) == {"error"} and isinstance(last["error"], str) and last["error"], where
    assert text and expected.startswith(text) and text != expected, where
    return "broken mid-stream"


def check_refusal(answer: Answer, where: str) -> str:
    """A failure before any answer: a real status, the API's error body, and a Retry-After on a 429."""
    call, status = answer.call, answer.status
    assert status in OPENAI_CODES, where
    assert answer.headers["content-type"].startswith("application/json"), where
    document = json.loads(answer.body)
    if call.api == "openai":
        body = document["error"]
        assert set(body) >= {"message", "type", "code"} and body["message"], where
        assert body["code"] in OPENAI_CODES[status], where
    else:
        assert set(document) == {"error"} and isinstance(document["error"], str) and document["error"], where
    if status == 429:
        assert int(answer.headers["retry-after"]) >= 1, where
    assert "x-llmroute-attempts" in answer.headers, where
    return f"refused {status}"


# ------------------------------------------------------------------------------------------------ the ledger


def attempt_rows(home: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(home / "state.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute("SELECT * FROM attempts ORDER BY id")]
    finally:
        conn.close()


def prompt_of(body: Any) -> str:
    assert isinstance(body, dict)
    return str(body["messages"][-1]["content"])


def test_two_hundred_concurrent_mixed_requests_with_faults_each_ledgered_once(cli: Cli, cloud: FakeProvider) -> None:
    (cli.home / "config.toml").write_text(CONFIG)
    (cli.home / "config.toml").chmod(0o600)
    env = keys_env(openrouter=3, ollama=1)
    script(cloud)
    served = serve(cli, "-v", **env)
    try:
        started = time.perf_counter()
        answers = asyncio.run(fire(served.url, calls()))
        seconds = time.perf_counter() - started
    finally:
        code = served.stop()
    assert code == 0, served.stderr
    served.check_output()

    verdicts = [check_answer(a) for a in answers]
    kinds = Counter(verdicts)
    requests = cloud.chat_requests
    durations = sorted(a.seconds for a in answers)
    print(
        f"\nserve load: {len(answers)} concurrent requests in {seconds:.2f}s, {len(requests)} upstream attempts; "
        f"median {durations[len(durations) // 2] * 1000:.0f} ms, slowest {durations[-1] * 1000:.0f} ms; "
        f"{dict(kinds)}; attempts per key {dict(Counter(LABELS[r.bearer or ''] for r in requests))}"
    )
    assert len(answers) == REQUESTS
    assert kinds["ok"] + kinds["ok (streamed)"] >= REQUESTS // 2, kinds
    assert kinds["broken mid-stream"] >= 1, "a stream broke after its first token"
    assert sum(a.call.stream is False and a.status == 200 for a in answers) > 0
    assert cloud.errors == [], cloud.errors

    # Every chat request the fake saw is one ledger row, of the client request that caused it and of its key.
    rows = attempt_rows(cli.home)
    assert {row["outcome"] for row in rows} <= {"ok", "failed"}, Counter(row["outcome"] for row in rows)
    assert len(rows) == len(requests)
    by_prompt = {a.call.prompt: a for a in answers}
    request_ids = [a.request_id for a in answers if a.request_id]
    assert len(request_ids) == len(set(request_ids)), "request ids are unique"
    prompt_by_id = {a.request_id: a.call.prompt for a in answers if a.request_id}
    sent = Counter((prompt_of(r.body), LABELS[r.bearer or ""]) for r in requests)
    ledgered = Counter(
        (prompt_by_id.get(row["request_id"], f"unknown {row['request_id']}"), row["key_label"]) for row in rows
    )
    assert sent == ledgered
    rows_per_id = Counter(row["request_id"] for row in rows)
    for answer in answers:
        expected = rows_per_id.get(answer.request_id, 0) if answer.request_id else 0
        assert int(answer.headers["x-llmroute-attempts"]) == expected, (answer.call, answer.headers)
        if answer.request_id is None:
            assert not any(prompt == answer.call.prompt for prompt, _ in sent), answer.call
    assert set(by_prompt) >= {prompt for prompt, _ in sent}

    # With -v the server said one line per attempt tried and one per request answered.
    lines = served.stderr.splitlines()
    assert sum(line.startswith("llmroute: try ") for line in lines) == len(rows)
    logged = [line for line in lines if re.match(r"llmroute: POST (/v1/chat/completions|/api/chat) \d{3} ", line)]
    assert len(logged) == REQUESTS
    assert Counter(int(line.split()[3]) for line in logged) == Counter(a.status for a in answers)

    # The answering row is the key the headers named, and the only ok row of its request.
    for answer, verdict in zip(answers, verdicts, strict=True):
        own = [row for row in rows if row["request_id"] == answer.request_id]
        if verdict.startswith("ok"):
            assert [(r["key_label"], r["outcome"]) for r in own][-1] == (answer.headers["x-llmroute-key"], "ok")
            assert [r["outcome"] for r in own].count("ok") == 1, own
        elif verdict == "broken mid-stream":
            assert [(r["key_label"], r["outcome"]) for r in own][-1] == (answer.headers["x-llmroute-key"], "failed")
        else:
            assert all(r["outcome"] == "failed" for r in own), own

    # Totals: the running totals equal a recount, the report equals the ledger, the fake's bill the reported part.
    path = cli.home / "state.db"
    assert kept(path) == recount(path)
    spent = sum(row["cost_micros"] or 0 for row in rows)
    reported = sum(row["cost_micros"] or 0 for row in rows if not row["cost_estimated"])
    assert reported == sum(round(cloud.usage_of(secret) * 1_000_000) for secret in OR_KEYS)
    assert spent > reported > 0
    costs = cli("costs", "--json", **env)
    assert costs.code == 0, costs.stderr
    assert json.loads(costs.stdout)["total"]["cost_micros"] == spent
    assert seconds < 20
