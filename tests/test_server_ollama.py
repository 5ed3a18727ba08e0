"""The Ollama front of ``llmroute serve`` (``llmroute/server/ollama_api.py``), end to end.

The front is served by aiohttp on 127.0.0.1 from a background thread, over a real ``Router`` and state file whose
providers are the fake server (tests/fakes); clients are the official ``ollama`` package and raw httpx, which checks
the wire itself: NDJSON framing, the final object's fields, error statuses and bodies (reference/providers.md
§2.3-2.5, §3.1-3.2). Every test that routes checks that each attempt the fake saw is in the ledger exactly once.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest
from llmroute.config import Settings, load_settings
from llmroute.server import run
from llmroute.server.app import Front
from llmroute.server.gateway import Gateway
from llmroute.server.ollama_api import OLLAMA_VERSION, add_routes
from llmroute.store import AttemptRow, Store
from llmroute.types import Attempt, ModelInfo
from tests.conftest import OLLAMA_KEYS, OR_KEYS, assert_no_secret, keys_env
from tests.fakes import (
    FakeProvider,
    oll_503_busy,
    oll_usage_limit,
    or_429,
    reply,
    stream_reply,
)

ALIAS = "kimi-k2.6"
"""Served by Ollama Cloud first (two keys), then OpenRouter (one key)."""
PINNED = "ollama:kimi-k2.6"
TEXT = "The quick brown fox jumps over the lazy dog"
FINAL_FIELDS = (
    "model",
    "created_at",
    "done",
    "done_reason",
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


@dataclass
class Observation:
    api: str
    status: int
    seconds: float
    ttft_seconds: float | None
    attempts: Sequence[Attempt]
    stream: bool


@dataclass
class RecordingMetrics:
    seen: list[Observation] = field(default_factory=list)

    def observe(self, **kwargs: Any) -> None:
        self.seen.append(Observation(**kwargs))


@dataclass
class Served:
    url: str
    cloud: FakeProvider
    settings: Settings
    metrics: RecordingMetrics

    def client(self, **kwargs: Any) -> ollama.Client:
        return ollama.Client(host=self.url, **kwargs)

    def post(self, path: str, body: Any = None, *, content: bytes | None = None, **kwargs: Any) -> httpx.Response:
        if content is None:
            content = json.dumps(body).encode()
        return httpx.post(f"{self.url}{path}", content=content, timeout=30, **kwargs)

    def ledger(self) -> list[AttemptRow]:
        store = Store.open(self.settings.state_path)
        try:
            return store.attempts()
        finally:
            store.close()

    def catalogue(self, provider: str, *models: ModelInfo) -> None:
        store = Store.open(self.settings.state_path)
        try:
            store.replace_catalog(provider, models, time.time())
        finally:
            store.close()

    def assert_ledgered(self, outcomes: Sequence[str]) -> list[AttemptRow]:
        """Every chat request the fake saw is one ledger row, in order, with these outcomes."""
        rows = sorted(self.ledger(), key=lambda r: r.ts)
        assert [r.outcome for r in rows] == list(outcomes)
        assert len(rows) == len(self.cloud.chat_requests)
        return rows


def environment(home: Path, cloud: FakeProvider, **extra: str) -> dict[str, str]:
    return {
        "LLMROUTE_HOME": str(home),
        "OPENROUTER_BASE_URL": cloud.openrouter_url,
        "OLLAMA_BASE_URL": cloud.ollama_url,
        **keys_env(openrouter=1, ollama=2),
        **extra,
    }


@contextmanager
def serving(
    settings: Settings,
    metrics: RecordingMetrics | None,
    token: str | None = None,
    fronts: Sequence[Front] | None = (add_routes,),
) -> Iterator[str]:
    """The gateway as ``serve`` runs it (its app, guard and tracing router) with the Ollama front alone (or
    ``fronts``, ``None`` = every front), on 127.0.0.1 (a free port) from its own thread's event loop."""
    loop = asyncio.new_event_loop()
    ready: dict[str, Any] = {}

    async def start() -> None:
        store = Store.open(settings.state_path)
        gateway = Gateway(settings, store, run.build_router(settings, store), token=token, metrics=metrics)
        server = await run.start(gateway, host="127.0.0.1", port=0, fronts=fronts)
        ready.update(server=server, gateway=gateway, store=store)

    async def stop() -> None:
        await ready["server"].stop(grace=1.0)
        await ready["gateway"].aclose()
        ready["store"].close()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        yield ready["server"].url
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


@pytest.fixture
def served(home: Path, cloud: FakeProvider) -> Iterator[Served]:
    settings = load_settings(environment(home, cloud))
    metrics = RecordingMetrics()
    with serving(settings, metrics) as url:
        yield Served(url, cloud, settings, metrics)


@pytest.fixture
def served_all(home: Path, cloud: FakeProvider) -> Iterator[Served]:
    """Every front of ``serve`` (OpenAI, Ollama, health and metrics) on one application."""
    settings = load_settings(environment(home, cloud))
    metrics = RecordingMetrics()
    with serving(settings, metrics, fronts=None) as url:
        yield Served(url, cloud, settings, metrics)


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    """The body as NDJSON: every line one JSON object, every line ended by a newline."""
    body = response.content
    assert body.endswith(b"\n"), body[-80:]
    return [json.loads(line) for line in body.decode().split("\n")[:-1]]


def chat_body(model: str = ALIAS, prompt: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], **extra}


# --- liveness, version, listing ---------------------------------------------------------------------------------


def test_root_answers_like_a_running_ollama_for_get_and_head(served: Served) -> None:
    response = httpx.get(served.url + "/")
    assert response.status_code == 200
    assert response.text == "Ollama is running"
    assert response.headers["content-type"].startswith("text/plain")
    assert httpx.head(served.url + "/").status_code == 200


def test_version_is_a_real_ollama_version(served: Served) -> None:
    response = httpx.get(served.url + "/api/version")
    assert response.status_code == 200
    assert response.json() == {"version": OLLAMA_VERSION}
    assert tuple(int(part) for part in OLLAMA_VERSION.split(".")) >= (0, 12, 0)


def test_list_shows_aliases_and_cached_catalogue_models_in_ollamas_shape(served: Served) -> None:
    served.catalogue(
        "openrouter",
        ModelInfo("openrouter", "moonshotai/kimi-k2.6", context_length=262144),
        ModelInfo("openrouter", "old/retired-model", expires="2020-01-01"),
    )
    listed = served.client().list()
    names = [m.model for m in listed.models]
    assert ALIAS in names and "gpt-oss" in names  # current aliases with a configured provider
    assert "kimi-k2.5" not in names, "retired aliases still route, but are not offered"
    assert "claude-opus" not in names, "no key reaches any of its providers"
    assert "openrouter:moonshotai/kimi-k2.6" in names
    assert "openrouter:old/retired-model" not in names

    raw = httpx.get(served.url + "/api/tags").json()["models"]
    entry = next(m for m in raw if m["name"] == "openrouter:moonshotai/kimi-k2.6")
    assert entry["model"] == entry["name"]
    assert entry["size"] == 0 and entry["digest"] == ""  # no file behind the name: nothing invented
    assert entry["details"] == {
        "parent_model": "",
        "format": "",
        "family": "",
        "families": None,
        "parameter_size": "",
        "quantization_level": "",
    }
    assert entry["modified_at"].endswith("Z")
    alias = next(m for m in raw if m["name"] == ALIAS)
    assert alias["modified_at"] == "0001-01-01T00:00:00Z"
    assert httpx.get(served.url + "/api/ps").json() == {"models": []}


def test_show_describes_an_alias_with_its_routes_and_known_context_length(served: Served) -> None:
    served.catalogue("openrouter", ModelInfo("openrouter", "moonshotai/kimi-k2.6", context_length=262144))
    shown = served.client().show(ALIAS)
    assert "ollama:kimi-k2.6" in (shown.modelfile or "")
    assert "openrouter:moonshotai/kimi-k2.6" in (shown.modelfile or "")
    assert shown.capabilities == ["completion"]
    assert shown.modelinfo == {"general.architecture": "llmroute", "llmroute.context_length": 262144}
    raw = served.post("/api/show", {"model": ALIAS}).json()
    assert set(raw) >= {"modelfile", "parameters", "template", "details", "model_info", "capabilities"}

    pinned = served.client().show("openrouter:moonshotai/kimi-k2.6")
    assert pinned.modelinfo == {"general.architecture": "llmroute", "llmroute.context_length": 262144}
    assert served.client().show("kimi-k2.6:latest").capabilities == ["completion"]


def test_show_of_an_unknown_model_is_ollamas_404(served: Served) -> None:
    served.catalogue("openrouter", ModelInfo("openrouter", "moonshotai/kimi-k2.6"))
    with pytest.raises(ollama.ResponseError) as caught:
        served.client().show("no-such-model")
    assert caught.value.status_code == 404
    assert caught.value.error == "model 'no-such-model' not found"
    response = served.post("/api/show", {"model": "openrouter:vendor/absent"})
    assert response.status_code == 404
    assert response.json() == {"error": "model 'openrouter:vendor/absent' not found"}


# --- answers through the official client ------------------------------------------------------------------------


def test_chat_whole_answer(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], reply(TEXT))
    answer = served.client().chat(model=ALIAS, messages=[{"role": "user", "content": "Hi"}])
    assert answer.message.role == "assistant"
    assert answer.message.content == TEXT
    assert answer.message.thinking is None
    assert answer.done is True and answer.done_reason == "stop"
    assert answer.model == ALIAS
    assert answer.eval_count and answer.prompt_eval_count
    assert answer.total_duration and answer.total_duration >= (answer.eval_duration or 0)
    served.assert_ledgered(["ok"])


def test_chat_streamed_answer(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], stream_reply(TEXT))
    parts = list(served.client().chat(model=ALIAS, messages=[{"role": "user", "content": "Hi"}], stream=True))
    assert "".join(p.message.content or "" for p in parts) == TEXT
    assert len(parts) > 2, "one object per piece, not one for the whole answer"
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].done_reason == "stop" and parts[-1].eval_count
    served.assert_ledgered(["ok"])


def test_generate_whole_and_streamed(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], reply(TEXT), stream_reply(TEXT))
    client = served.client()
    whole = client.generate(model=ALIAS, prompt="Hi", system="Be brief.")
    assert whole.response == TEXT and whole.done and whole.done_reason == "stop"
    assert whole.context is None, "no deprecated context array"
    parts = list(client.generate(model=ALIAS, prompt="Hi", stream=True))
    assert "".join(p.response or "" for p in parts) == TEXT
    assert parts[-1].done and not any(p.done for p in parts[:-1])
    first, second = served.cloud.chat_requests
    assert first.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert second.body["messages"] == [{"role": "user", "content": "Hi"}]
    served.assert_ledgered(["ok", "ok"])


def test_options_reach_the_provider(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], reply(TEXT))
    options = {"temperature": 0.2, "top_p": 0.9, "seed": 7, "num_predict": 64, "stop": ["\n\n"], "num_ctx": 8192}
    served.client().chat(model=PINNED, messages=[{"role": "user", "content": "Hi"}], options=options, keep_alive="5m")
    sent = served.cloud.chat_requests[0].body["options"]
    assert sent == {"temperature": 0.2, "top_p": 0.9, "num_predict": 64, "stop": ["\n\n"], "seed": 7}
    served.assert_ledgered(["ok"])


def test_reasoning_is_shown_only_when_the_client_asks_to_think(served: Served) -> None:
    served.cloud.script(
        OLLAMA_KEYS[0],
        stream_reply(TEXT, reasoning="Let me think about it"),
        stream_reply(TEXT, reasoning="Let me think about it"),
        reply(TEXT, reasoning="Let me think about it"),
        reply(TEXT, reasoning="Let me think about it"),
    )
    client = served.client()
    messages = [{"role": "user", "content": "Hi"}]
    thought = list(client.chat(model=ALIAS, messages=messages, stream=True, think=True))
    assert "".join(p.message.thinking or "" for p in thought) == "Let me think about it"
    assert "".join(p.message.content or "" for p in thought) == TEXT
    silent = list(client.chat(model=ALIAS, messages=messages, stream=True))
    assert not any(p.message.thinking for p in silent)
    assert "".join(p.message.content or "" for p in silent) == TEXT
    whole = client.generate(model=ALIAS, prompt="Hi", think="high")
    assert whole.thinking == "Let me think about it" and whole.response == TEXT
    assert client.generate(model=ALIAS, prompt="Hi").thinking is None
    served.assert_ledgered(["ok"] * 4)


def test_only_the_answering_attempts_reasoning_is_shown(served: Served) -> None:
    # The first key reasons, then its stream breaks before any answer (twice: the cut is retried once).
    served.cloud.script(OLLAMA_KEYS[0], *[stream_reply(TEXT, reasoning="doomed thoughts", drop_after_tokens=0)] * 2)
    served.cloud.script(OLLAMA_KEYS[1], stream_reply(TEXT, reasoning="useful thoughts"))
    response = served.post("/api/chat", chat_body(think=True))
    objects = ndjson(response)
    assert "".join(o["message"].get("thinking", "") for o in objects) == "useful thoughts"
    assert "".join(o["message"]["content"] for o in objects) == TEXT
    assert response.headers["X-Llmroute-Key"] == "OLLAMA_API_KEY_2"
    served.assert_ledgered(["failed", "failed", "ok"])


# --- the wire itself --------------------------------------------------------------------------------------------


def test_stream_is_ndjson_flushed_piece_by_piece_with_a_complete_final_object(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], stream_reply("one two three four five", chunk_delay=0.25))
    started = time.monotonic()
    with httpx.stream("POST", served.url + "/api/chat", json=chat_body(), timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        # The head went out with the first token, and already names who answers (the gateway's route trace).
        assert response.headers["X-Llmroute-Provider"] == "ollama"
        assert response.headers["X-Llmroute-Key"] == "OLLAMA_API_KEY"
        assert response.headers["X-Llmroute-Attempts"] == "1"
        lines = []
        for line in response.iter_lines():
            lines.append((time.monotonic() - started, json.loads(line)))
    first_at, last_at = lines[0][0], lines[-1][0]
    assert last_at - first_at > 0.75, "pieces are written as they arrive, not gathered"
    objects = [obj for _, obj in lines]
    assert all(o["model"] == ALIAS and o["created_at"].endswith("Z") for o in objects)
    assert all(o["done"] is False and set(o["message"]) == {"role", "content"} for o in objects[:-1])
    final = objects[-1]
    assert set(FINAL_FIELDS) <= set(final)
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["message"] == {"role": "assistant", "content": ""}
    assert "context" not in final
    durations = [final[k] for k in ("load_duration", "prompt_eval_duration", "eval_duration")]
    assert all(isinstance(d, int) and d >= 0 for d in durations)
    assert sum(durations) <= final["total_duration"]
    assert final["eval_duration"] > 0.75e9, "nanoseconds"
    assert "".join(o["message"]["content"] for o in objects) == "one two three four five"
    served.assert_ledgered(["ok"])


def test_generate_stream_framing_has_no_context(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], stream_reply(TEXT))
    response = served.post("/api/generate", {"model": ALIAS, "prompt": "Hi"})
    objects = ndjson(response)
    assert all(set(o) == {"model", "created_at", "response", "done"} for o in objects[:-1])
    assert set(FINAL_FIELDS) <= set(objects[-1]) and "context" not in objects[-1]
    assert objects[-1]["response"] == ""


def test_whole_answer_is_one_json_object_with_routing_headers(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], reply(TEXT, finish_reason="length"))
    response = served.post("/api/chat", chat_body(stream=False))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(FINAL_FIELDS) <= set(body)
    assert body["message"] == {"role": "assistant", "content": TEXT}
    assert body["done_reason"] == "length"
    assert response.headers["X-Llmroute-Provider"] == "ollama"
    assert response.headers["X-Llmroute-Key"] == "OLLAMA_API_KEY"
    assert response.headers["X-Llmroute-Attempts"] == "1"
    served.assert_ledgered(["ok"])


def test_a_chat_without_messages_is_a_load_call_and_routes_nothing(served: Served) -> None:
    response = served.post("/api/chat", {"model": ALIAS})
    assert response.status_code == 200
    assert response.json()["done_reason"] == "load"
    unload = served.post("/api/generate", {"model": ALIAS, "keep_alive": 0})
    assert unload.json()["done_reason"] == "unload"
    served.assert_ledgered([])


# --- failures ---------------------------------------------------------------------------------------------------


def test_unknown_model_is_404_in_ollamas_shape(served: Served) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        served.client().chat(model="no-such-model", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 404
    response = served.post("/api/chat", chat_body("ollama:no-such-model"))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"error"} and "no-such-model" in response.json()["error"]
    # The first 404 holds the model at Ollama: the second request is answered without asking again.
    served.assert_ledgered(["failed"])


def test_every_key_limited_is_429_with_retry_after(served: Served) -> None:
    served.cloud.script(OR_KEYS[0], or_429(retry_after=120))
    model = "openrouter:openai/gpt-4o-mini"
    response = served.post("/api/chat", chat_body(model))
    assert response.status_code == 429
    assert 100 <= int(response.headers["Retry-After"]) <= 120
    assert set(response.json()) == {"error"}
    assert response.headers["X-Llmroute-Attempts"] == "1"
    # The key now cools down: the next request is refused without contacting anyone.
    with pytest.raises(ollama.ResponseError) as caught:
        list(served.client().chat(model=model, messages=[{"role": "user", "content": "Hi"}], stream=True))
    assert caught.value.status_code == 429
    served.assert_ledgered(["failed"])


def test_both_ollama_keys_out_of_usage_then_the_alias_fails_over_to_openrouter(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], oll_usage_limit("weekly"))
    served.cloud.script(OLLAMA_KEYS[1], oll_usage_limit("session"))
    served.cloud.script(OR_KEYS[0], stream_reply(TEXT))
    response = served.post("/api/chat", chat_body())
    assert "".join(o["message"]["content"] for o in ndjson(response)) == TEXT
    served.assert_ledgered(["failed", "failed", "ok"])


def test_a_failure_before_the_first_token_fails_over_before_any_byte_is_sent(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], oll_503_busy())
    # A connection cut is retried once on the same key (the failure table), then the next key is tried.
    served.cloud.script(OLLAMA_KEYS[1], *[stream_reply(TEXT, drop_after_tokens=0)] * 2)
    served.cloud.script(OR_KEYS[0], stream_reply(TEXT))
    response = served.post("/api/chat", chat_body())
    assert response.status_code == 200
    assert response.headers["X-Llmroute-Key"] == "OPENROUTER_API_KEY_1"
    assert response.headers["X-Llmroute-Attempts"] == "4"
    objects = ndjson(response)
    assert "".join(o["message"]["content"] for o in objects) == TEXT
    assert objects[-1]["done"] is True
    rows = served.assert_ledgered(["failed", "failed", "failed", "ok"])
    assert response.headers["X-Llmroute-Request-Id"] == rows[0].request_id
    labels = ["OLLAMA_API_KEY", "OLLAMA_API_KEY_2", "OLLAMA_API_KEY_2", "OPENROUTER_API_KEY_1"]
    assert [r.key_label for r in rows] == labels
    assert len({r.request_id for r in rows}) == 1


def test_every_candidate_failing_before_a_token_is_a_real_502_not_a_stream(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], oll_503_busy())
    served.cloud.script(OLLAMA_KEYS[1], oll_503_busy())
    with httpx.stream("POST", served.url + "/api/chat", json=chat_body(PINNED), timeout=30) as response:
        body = json.loads(response.read())
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/json")
    assert set(body) == {"error"} and "server busy" in body["error"]
    assert response.headers["X-Llmroute-Attempts"] == "2"
    assert_no_secret(response.content, "the error body")
    # Both keys now cool down: the next request is a 429 (no key may be tried), seen by the official client.
    with pytest.raises(ollama.ResponseError) as caught:
        list(served.client().generate(model=PINNED, prompt="Hi", stream=True))
    assert caught.value.status_code == 429
    assert "cooling down" in caught.value.error
    served.assert_ledgered(["failed", "failed"])


def test_a_stream_cut_after_the_first_token_ends_with_an_error_line_and_no_done(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], stream_reply(TEXT, drop_after_tokens=3))
    response = served.post("/api/chat", chat_body())
    assert response.status_code == 200, "the head went out with the first token"
    objects = ndjson(response)
    assert set(objects[-1]) == {"error"} and objects[-1]["error"]
    assert not any(o.get("done") for o in objects), "never a clean done: true"
    assert "".join(o["message"]["content"] for o in objects[:-1]).startswith("The quick")
    assert_no_secret(response.content, "the error line")
    served.assert_ledgered(["failed"])


def test_the_official_client_raises_on_a_mid_stream_error_line(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], stream_reply(TEXT, drop_after_tokens=2))
    seen: list[str] = []
    with pytest.raises(ollama.ResponseError):
        for part in served.client().chat(model=ALIAS, messages=[{"role": "user", "content": "Hi"}], stream=True):
            seen.append(part.message.content or "")
            assert not part.done
    assert seen
    served.assert_ledgered(["failed"])


def test_a_whole_answer_cut_midway_fails_over(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], *[stream_reply(TEXT, drop_after_tokens=3)] * 2)
    served.cloud.script(OLLAMA_KEYS[1], stream_reply(TEXT))
    answer = served.client().chat(model=ALIAS, messages=[{"role": "user", "content": "Hi"}])
    assert answer.message.content == TEXT, "nothing was shown before the result, so the cut fails over"
    served.assert_ledgered(["failed", "failed", "ok"])


def test_a_client_that_leaves_midway_is_recorded_as_cancelled(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], stream_reply(TEXT, chunk_delay=0.3))
    with httpx.stream("POST", served.url + "/api/chat", json=chat_body(), timeout=30) as response:
        next(response.iter_lines())
    deadline = time.monotonic() + 10
    while [r.outcome for r in served.ledger()] != ["cancelled"] and time.monotonic() < deadline:
        time.sleep(0.05)  # the router settles the attempt when the server notices the client left
    served.assert_ledgered(["cancelled"])
    assert served.metrics.seen[-1].status == 499


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"messages": [{"role": "user", "content": "Hi"}]}, "model is required"),
        ({"model": 5}, "model must be a string"),
        (chat_body(messages="Hi"), "messages must be an array"),
        (chat_body(messages=[{"role": "robot", "content": "Hi"}]), "role"),
        (chat_body(messages=[{"role": "user", "content": 1}]), "content must be a string"),
        (chat_body(stream="yes"), "stream must be true or false"),
        (chat_body(think="deeply"), "think must be"),
        (chat_body(options=[1]), "options must be an object"),
        (chat_body(options={"temperature": "hot"}), "options.temperature must be a number"),
        (chat_body(options={"num_predict": 1.5}), "options.num_predict must be an integer"),
        (chat_body(options={"stop": [1]}), "options.stop"),
        (chat_body(options={"top_k": 40}), "options.top_k is not supported"),
        (chat_body(tools=[{"type": "function", "function": {"name": "f"}}]), "tools are not supported"),
        (chat_body(format="json"), "format"),
        (chat_body(messages=[{"role": "user", "content": "Hi", "images": ["aGk="]}]), "images"),
        (chat_body(messages=[{"role": "tool", "content": "42"}]), "tool"),
        (chat_body("openrouter:"), "no model after"),
    ],
)
def test_bad_chat_requests_are_400_and_reach_no_provider(served: Served, body: dict[str, Any], words: str) -> None:
    response = served.post("/api/chat", body)
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert set(response.json()) == {"error"}
    served.assert_ledgered([])


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": ALIAS, "prompt": "Hi", "raw": True}, "raw"),
        ({"model": ALIAS, "prompt": "Hi", "images": ["aGk="]}, "images"),
        ({"model": ALIAS, "prompt": "Hi", "suffix": "end"}, "suffix"),
        ({"model": ALIAS, "prompt": "Hi", "context": [1, 2, 3]}, "context"),
        ({"model": ALIAS, "prompt": 3}, "prompt must be a string"),
    ],
)
def test_bad_generate_requests_are_400(served: Served, body: dict[str, Any], words: str) -> None:
    response = served.post("/api/generate", body)
    assert response.status_code == 400
    assert words in response.json()["error"]
    served.assert_ledgered([])


@pytest.mark.parametrize("content", [b"{", b"", b"[1, 2]", b"\xff\xfe", b'"text"'])
def test_malformed_bodies_are_400(served: Served, content: bytes) -> None:
    for path in ("/api/chat", "/api/generate", "/api/show"):
        response = served.post(path, content=content)
        assert response.status_code == 400, path
        assert set(response.json()) == {"error"}


def test_the_client_gets_response_error_400_for_unsupported_features(served: Served) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        served.client().chat(model=ALIAS, messages=[{"role": "user", "content": "Hi"}], format="json")
    assert caught.value.status_code == 400


# --- routing headers, names, metrics, auth ----------------------------------------------------------------------


def test_x_provider_prefers_a_provider(served: Served) -> None:
    served.cloud.script(OR_KEYS[0], reply(TEXT))
    response = served.post("/api/chat", chat_body(stream=False), headers={"X-Provider": "openrouter"})
    assert response.status_code == 200
    assert response.headers["X-Llmroute-Provider"] == "openrouter"
    assert response.headers["X-Llmroute-Key"] == "OPENROUTER_API_KEY_1"
    assert served.post("/api/chat", chat_body(), headers={"X-Provider": "nowhere"}).status_code == 400
    served.assert_ledgered(["ok"])


def test_privacy_critical_header_keeps_the_request_on_the_local_daemon(
    home: Path, cloud: FakeProvider, local: FakeProvider
) -> None:
    settings = load_settings(environment(home, cloud, OLLAMA_HOST=local.ollama_url))
    with serving(settings, None) as url:
        critical = {"X-Llmroute-Privacy": "critical"}
        body = chat_body("gpt-oss:20b", stream=False)
        local.script(None, reply("from the local daemon"))
        response = httpx.post(url + "/api/chat", json=body, headers=critical, timeout=30)
        assert response.status_code == 200
        assert response.json()["message"]["content"] == "from the local daemon"
        assert response.headers["X-Llmroute-Provider"] == "local"
        assert cloud.chat_requests == []
        refused = httpx.post(url + "/api/chat", json=chat_body(PINNED), headers=critical, timeout=30)
        assert refused.status_code == 503 and "not a local provider" in refused.json()["error"]
        bad = httpx.post(url + "/api/chat", json=body, headers={"X-Llmroute-Privacy": "secret"}, timeout=30)
        assert bad.status_code == 400
        assert cloud.chat_requests == []
        assert len(local.chat_requests) == 1


def test_latest_is_stripped_only_when_that_names_a_known_model(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], reply(TEXT))
    answer = served.client().chat(model=f"{ALIAS}:latest", messages=[{"role": "user", "content": "Hi"}])
    assert answer.message.content == TEXT
    assert answer.model == f"{ALIAS}:latest", "the name is echoed as the client sent it"
    assert served.cloud.chat_requests[0].body["model"] == "kimi-k2.6"
    response = served.post("/api/chat", chat_body("mystery:latest"))
    assert response.status_code == 404
    assert served.cloud.chat_requests[1].body["model"] == "mystery:latest", "an unknown name passes untouched"


def test_metrics_are_reported_per_request(served: Served) -> None:
    served.cloud.script(OLLAMA_KEYS[0], stream_reply(TEXT))
    served.post("/api/chat", chat_body())
    served.post("/api/chat", chat_body(format="json"))
    ok, bad = served.metrics.seen
    assert (ok.api, ok.status, ok.stream, len(ok.attempts)) == ("ollama", 200, True, 1)
    assert ok.ttft_seconds is not None and 0 < ok.ttft_seconds <= ok.seconds
    assert (bad.api, bad.status, bad.attempts) == ("ollama", 400, ())


def test_a_gateway_token_is_required_when_set_and_refusals_are_in_ollamas_shape(
    home: Path, cloud: FakeProvider
) -> None:
    settings = load_settings(environment(home, cloud))
    with serving(settings, None, token="gateway-token") as url:
        denied = httpx.get(url + "/api/tags")
        assert denied.status_code == 401 and set(denied.json()) == {"error"}
        with pytest.raises(ollama.ResponseError) as caught:
            ollama.Client(host=url, headers={"Authorization": "Bearer wrong"}).chat(
                model=ALIAS, messages=[{"role": "user", "content": "Hi"}]
            )
        assert caught.value.status_code == 401
        assert cloud.chat_requests == []
        cloud.script(OLLAMA_KEYS[0], reply(TEXT))
        client = ollama.Client(host=url, headers={"Authorization": "Bearer gateway-token"})
        assert client.list().models
        version = httpx.get(url + "/api/version", headers={"Authorization": "Bearer gateway-token"})
        assert version.json() == {"version": OLLAMA_VERSION}
        assert client.chat(model=ALIAS, messages=[{"role": "user", "content": "Hi"}]).message.content == TEXT


def test_beside_the_openai_front_each_api_keeps_its_own_error_shape(served_all: Served) -> None:
    served_all.cloud.script(OLLAMA_KEYS[0], stream_reply(TEXT))
    assert httpx.get(served_all.url + "/v1/models").status_code == 200
    assert ALIAS in [m.model for m in served_all.client().list().models]
    unknown = served_all.post("/api/pull", {"model": ALIAS})
    assert unknown.status_code == 404 and set(unknown.json()) == {"error"}
    wrong_method = httpx.get(served_all.url + "/api/chat")
    assert wrong_method.status_code == 405 and set(wrong_method.json()) == {"error"}
    assert isinstance(httpx.get(served_all.url + "/v1/nothing").json()["error"], dict)  # OpenAI's, untouched
    response = served_all.post("/api/chat", chat_body())
    assert "".join(o["message"]["content"] for o in ndjson(response)) == TEXT
    served_all.assert_ledgered(["ok"])
