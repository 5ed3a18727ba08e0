"""Provider parsers under hypothesis: random bytes, mutated captured bodies, and streams cut at every byte.

The contract, for every input: the framing readers, the adapters' body and stream readers and their
error classifiers either give well-formed events or raise a classified :class:`ProviderError` whose
message is one line of printable text that never holds the key. A valid stream gives the same text
and usage however the network cuts it into chunks. OpenRouter's SSE and Ollama's NDJSON first, then the
native wires: Anthropic's typed SSE, Gemini's SSE (CRLF, no terminator) and Bedrock's binary event stream,
whose decoder is also checked against botocore's parser (the AWS SDK's) on frames with every header type.

The defects this suite found in the providers (since fixed there) keep one pinned example each, at the end.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import math
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmroute.errors import ErrorKind, ProviderError
from llmroute.keys import ApiKey, KeySlot
from llmroute.providers import ClientPool, OllamaAdapter, OpenRouterAdapter
from llmroute.providers import anthropic as anthropic_module
from llmroute.providers import bedrock as bedrock_module
from llmroute.providers import gemini as gemini_module
from llmroute.providers import ollama as ollama_module
from llmroute.providers import openrouter as openrouter_module
from llmroute.providers.anthropic import AnthropicAdapter
from llmroute.providers.bedrock import BedrockAdapter
from llmroute.providers.eventstream import EventStreamDecoder, FrameError
from llmroute.providers.eventstream import Message as EventMessage
from llmroute.providers.gemini import GeminiAdapter
from llmroute.providers.classify import parse_reset_ms, parse_retry_after
from llmroute.providers.framing import json_object, ndjson_objects, sse_events
from llmroute.providers.openrouter_catalog import key_info, model_info
from llmroute.types import Candidate, KeyInfo, ModelInfo, ReasoningDelta, StreamEnd, StreamEvent, Target, TextDelta
from tests.conftest import find_leaks

OR_SECRET = "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"
OLLAMA_SECRET = "0f3c9a2b7e5d41c8a6b9e2f7d1c4a8b3.Zx9Qw7Er5Ty3Ui1OpLkMnBv"
OR_CANDIDATE = Candidate(
    Target("openrouter", "openai/gpt-4o-mini"),
    KeySlot("openrouter", ApiKey("openrouter", "OPENROUTER_API_KEY", OR_SECRET)),
)
OLLAMA_CANDIDATE = Candidate(
    Target("ollama", "gpt-oss:120b"), KeySlot("ollama", ApiKey("ollama", "OLLAMA_API_KEY", OLLAMA_SECRET))
)
POOL = ClientPool("llmroute-fuzz")  # never opens a connection: only the readers are called
OPENROUTER = OpenRouterAdapter("openrouter", "https://openrouter.ai/api/v1", POOL)
OLLAMA = OllamaAdapter("ollama", "https://ollama.com", POOL)
ADAPTERS: dict[str, tuple[Any, Candidate, tuple[str, ...]]] = {
    "openrouter": (OPENROUTER, OR_CANDIDATE, (OR_SECRET,)),
    "ollama": (OLLAMA, OLLAMA_CANDIDATE, (OLLAMA_SECRET,)),
}

#: C0/C1 controls, DEL, and invisible format characters (bidi overrides, zero-width): none may reach a message.
CONTROL = re.compile("[\\x00-\\x1f\\x7f-\\x9f\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff]")
INT64 = 2**63

#: Examples run, per test: the total is printed when the module finishes (``pytest -s``) and in the report.
EXAMPLES: Counter[str] = Counter()
#: Each test's examples, sized so that the whole module runs in well under 30 s.
FAST = settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
BROAD = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def report_examples() -> Iterator[None]:
    yield
    print(f"\nfuzz examples run: {sum(EXAMPLES.values())} ({dict(EXAMPLES)})")


def counted(name: str) -> None:
    EXAMPLES[name] += 1


# --- captured shapes (reference/providers.md §1.3-§1.8, §2.3-§2.5) ---------------------------------------------

OR_BODY = {
    "id": "gen-1756333451-cPp53ItAkOxplxIj0aHz",
    "provider": "OpenAI",
    "model": "openai/gpt-4o-mini",
    "object": "chat.completion",
    "created": 1756333451,
    "choices": [
        {
            "logprobs": None,
            "finish_reason": "stop",
            "native_finish_reason": "stop",
            "index": 0,
            "message": {"role": "assistant", "content": "The capital of France is Paris.", "refusal": None},
        }
    ],
    "usage": {"prompt_tokens": 14, "completion_tokens": 7, "total_tokens": 21, "cost": 0.0000063},
}
OR_ERROR = {
    "error": {
        "message": "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day",
        "code": 429,
        "metadata": {
            "headers": {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1788220800000"},
            "provider_name": None,
            "raw": "qwen/qwen3-coder:free is temporarily rate-limited upstream.",
            "retry_after_seconds": 29,
        },
    },
    "user_id": "user_2x",
}
OLLAMA_BODY = {
    "model": "gpt-oss:120b",
    "created_at": "2025-10-17T23:14:07.414671Z",
    "message": {"role": "assistant", "content": "Hello! How can I help you today?", "thinking": "…"},
    "done": True,
    "done_reason": "stop",
    "prompt_eval_count": 11,
    "eval_count": 18,
}
OLLAMA_ERROR = {"error": "you (ae2055838) have reached your session usage limit, upgrade for higher limits"}


def or_chunk(content: str | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": finish}
    return {
        "id": "gen-1",
        "model": "openai/gpt-4o-mini",
        "object": "chat.completion.chunk",
        "choices": [choice],
        **extra,
    }


OR_USAGE = {"prompt_tokens": 14, "completion_tokens": 7, "total_tokens": 21, "cost": 0.0000063}


def or_stream(
    pieces: list[str], shape: str = "A", comments: int = 0, crlf: bool = False, ascii_json: bool = False
) -> bytes:
    """An OpenRouter SSE answer, with the final usage in one of the three shapes seen (ref §1.4)."""
    chunks = [or_chunk(p) for p in pieces]
    if shape == "A":
        chunks += [or_chunk("", "stop"), or_chunk("", "stop", usage=OR_USAGE)]
    elif shape == "B":
        chunks += [or_chunk("", "stop", usage=OR_USAGE)]
    else:
        chunks += [or_chunk("", "stop"), {"id": "gen-1", "choices": [], "usage": OR_USAGE}]
    end = "\r\n" if crlf else "\n"
    events = [": OPENROUTER PROCESSING"] * comments
    events += ["data: " + json.dumps(c, ensure_ascii=ascii_json) for c in chunks]
    events.append("data: [DONE]")
    return "".join(e + end + end for e in events).encode()


def ollama_stream(pieces: list[str], ascii_json: bool = False) -> bytes:
    """An Ollama NDJSON answer ending with the ``done`` object that carries the counts (ref §2.4)."""
    lines = [{"model": "gpt-oss:120b", "message": {"role": "assistant", "content": p}, "done": False} for p in pieces]
    lines.append({**OLLAMA_BODY, "message": {"role": "assistant", "content": ""}})
    return b"".join(json.dumps(line, ensure_ascii=ascii_json).encode() + b"\n" for line in lines)


# --- running a reader on bytes -----------------------------------------------------------------------------------


class Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def response(
    status: int, chunks: list[bytes], content_type: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A response as httpx builds one from the wire: header values are bytes, whatever they hold."""
    raw = {name: value.encode("utf-8", "surrogatepass") for name, value in (headers or {}).items()}
    return httpx.Response(
        status,
        headers={"content-type": content_type, **raw},
        stream=Chunks(chunks),
        request=httpx.Request("POST", "https://example.invalid/chat"),
    )


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts}) if data else []
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


Outcome = tuple[Any, ...]


STREAM_TYPES = {"openrouter": "text/event-stream", "ollama": "application/x-ndjson"}


def stream_outcome(provider: str, chunks: list[bytes]) -> Outcome:
    adapter, candidate, secrets = ADAPTERS[provider]
    content_type = STREAM_TYPES[provider]

    async def read() -> list[StreamEvent]:
        return [e async for e in adapter.read_stream(response(200, chunks, content_type), candidate, secrets)]

    return outcome(lambda: asyncio.run(read()), secrets)


def body_outcome(provider: str, body: bytes) -> Outcome:
    adapter, candidate, secrets = ADAPTERS[provider]
    return outcome(
        lambda: list(adapter.read_body(response(200, [body], "application/json"), body, candidate, secrets)), secrets
    )


def outcome(read: Callable[[], list[StreamEvent]], secrets: tuple[str, ...]) -> Outcome:
    """``("ok", text, end)`` or ``("error", kind)``, every invariant checked; any other exception fails the test."""
    try:
        events = read()
    except ProviderError as exc:
        check_error(exc, secrets)
        return ("error", exc.kind)
    check_events(events)
    end = events[-1]
    assert isinstance(end, StreamEnd)
    return ("ok", "".join(e.text for e in events if isinstance(e, TextDelta)), end)


def check_error(exc: ProviderError, secrets: tuple[str, ...] = ()) -> None:
    """A classified failure: a kind, a one-line printable message without the key, a sane status and time.

    ``secrets``: the key the request went with, the only one an adapter knows to redact (any other
    key quoted back is the router's to mask: see tests/test_hostile_input.py).
    """
    assert isinstance(exc.kind, ErrorKind) and isinstance(exc.message, str)
    assert exc.message.strip() and not CONTROL.search(exc.message), repr(exc.message)  # one printable line
    exc.message.encode("utf-8")  # a lone surrogate would crash the write to stdout or the state file
    # Whole keys in any encoding; a fragment the input itself held is the input's, not a leak.
    assert [leak for leak in find_leaks(exc.message, list(secrets)) if "fragment" not in leak] == [], exc.message
    assert exc.status is None or 100 <= exc.status <= 599, exc.status
    assert exc.retry_at is None or math.isfinite(exc.retry_at), exc.retry_at


def check_events(events: list[StreamEvent]) -> None:
    """Text deltas, then exactly one end; counts and costs that fit the ledger's 64-bit integer columns."""
    assert events and isinstance(events[-1], StreamEnd), events
    for event in events[:-1]:
        assert isinstance(event, TextDelta | ReasoningDelta) and isinstance(event.text, str) and event.text, events
        event.text.encode("utf-8")  # printable to stdout: no lone surrogates
    usage = events[-1].usage
    for value in (usage.input_tokens, usage.output_tokens, usage.cost_micros):
        assert value is None or 0 <= value < INT64, usage


# --- strategies ------------------------------------------------------------------------------------------------

FIELDS = [
    "choices", "delta", "message", "content", "reasoning", "finish_reason", "usage", "prompt_tokens",
    "completion_tokens", "cost", "model", "error", "code", "http_status", "error_type", "type", "metadata",
    "headers", "raw", "Retry-After", "X-RateLimit-Reset", "retry_after_seconds", "availability", "reasons",
    "provider_name", "done", "done_reason", "eval_count", "prompt_eval_count", "signin_url", "data", "id",
    "context_length", "pricing", "prompt", "completion", "top_provider", "limit", "limit_remaining", "usage_daily",
    "free_model_daily_requests", "used", "remaining", "is_free_tier", "expiration_date", "name",
]  # fmt: skip
HOSTILE_TEXT = [
    "", " ", "\x00", "\x1b[2J\x1b]0;pwned\x07", "\u202eevil", "a\u2028b", "\ud800", "\ud83d\ude00", "\r\n\r\n",
    "data: [DONE]", "[DONE]", "9" * 5000, "-1", "1e400", "-1e400", "nan", "inf", "0x1F", "\u0661\u0662",
    "2026-13-45T99:99:99Z", "Mon, 01 Jan 99999 00:00:00 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", OR_SECRET,
    f"Bearer {OR_SECRET}", base64.b64encode(f"Bearer {OR_SECRET}".encode()).decode(), OLLAMA_SECRET,
    "free-models-per-day", "session usage limit", "weekly usage limit", "is not a valid model ID", "not found",
    "fewer max_tokens", "moderation", "x" * 10_000,
]  # fmt: skip
HOSTILE_NUMBERS = [0, -1, 1, 429, 402, 401, 403, 404, 400, 499, 500, 503, 529, 2**31, 2**63, 2**64, 10**400, -(10**30), 1e308, -1e308, 0.5, 1e-300]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(HOSTILE_NUMBERS),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=40),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=25,
)


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with a few of its values replaced, removed or retyped, anywhere in it."""
    for _ in range(draw(st.integers(1, 4))):
        document = _mutate_once(draw, document)
    return document


def _mutate_once(draw: st.DrawFn, node: Any) -> Any:
    if isinstance(node, dict) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node)))
        action = draw(st.sampled_from(["descend", "replace", "delete", "add"]))
        copy = dict(node)
        if action == "descend":
            copy[key] = _mutate_once(draw, node[key])
        elif action == "replace":
            copy[key] = draw(json_values)
        elif action == "delete":
            del copy[key]
        else:
            copy[draw(st.sampled_from(FIELDS))] = draw(json_values)
        return copy
    if isinstance(node, list) and node and draw(st.booleans()):
        index = draw(st.integers(0, len(node) - 1))
        copy = list(node)
        copy[index] = _mutate_once(draw, node[index]) if draw(st.booleans()) else draw(json_values)
        return copy
    return draw(json_values)


def encode(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def byte_mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """Bytes flipped, cut, inserted or duplicated at random places."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(out)))
        action = draw(st.sampled_from(["flip", "cut", "insert", "truncate", "duplicate"]))
        if action == "flip" and at < len(out):
            out[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del out[at : at + draw(st.integers(1, 16))]
        elif action == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"\n", b"\r", b"\n\n", b"data: "]))
        elif action == "truncate":
            del out[at:]
        else:
            out[at:at] = out[max(0, at - 32) : at]
    return bytes(out)


cuts = st.lists(st.integers(0, 2**16), max_size=12)
# Text a model may answer with: any Unicode, lone surrogates aside (JSON can carry them; the answer cannot),
# with the characters str.splitlines breaks at, which a JSON string may hold raw, drawn often.
LINE_BREAKING = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
answer_text = st.text(
    st.characters(exclude_categories=("Cs",)) | st.sampled_from(LINE_BREAKING), min_size=1, max_size=30
)
pieces = st.lists(answer_text, min_size=1, max_size=5)


# --- framing ---------------------------------------------------------------------------------------------------


async def _lines(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


@FAST
@given(st.lists(st.text(max_size=60) | st.sampled_from(["", "data: [DONE]", "data: {", ": c", "\r"]), max_size=30))
def test_sse_events_never_fail_on_any_lines(lines: list[str]) -> None:
    counted("sse_events")

    async def read() -> list[str]:
        events = sse_events(_lines(lines))
        return [e async for e in events]

    payloads = asyncio.run(read())
    assert all(isinstance(p, str) and p.strip() != "[DONE]" for p in payloads)


@FAST
@given(st.lists(st.text(max_size=60) | st.builds(lambda v: json.dumps(v), json_values), max_size=20))
def test_ndjson_objects_yield_objects_or_raise_a_classified_error(lines: list[str]) -> None:
    counted("ndjson_objects")

    async def read() -> list[dict[str, Any]]:
        return [o async for o in ndjson_objects(_lines(lines), "ollama")]

    try:
        objects = asyncio.run(read())
    except ProviderError as exc:
        assert exc.kind is ErrorKind.BAD_RESPONSE
        check_error(exc)
        return
    assert all(isinstance(o, dict) for o in objects)


@FAST
@given(st.text() | st.builds(lambda v: json.dumps(v), json_values))
def test_json_object_quotes_the_parser_never_the_payload(text: str) -> None:
    counted("json_object")
    try:
        assert isinstance(json_object(text, "openrouter"), dict)
    except ProviderError as exc:
        assert exc.kind is ErrorKind.BAD_RESPONSE
        check_error(exc)


# --- whole bodies: random, grammar-mutated, byte-mutated ----------------------------------------------------------

PROVIDERS = st.sampled_from(["openrouter", "ollama"])


@BROAD
@given(PROVIDERS, st.binary(max_size=3000))
def test_any_bytes_as_a_body_or_a_stream_give_events_or_a_classified_error(provider: str, data: bytes) -> None:
    counted("random bytes")
    body_outcome(provider, data)
    stream_outcome(provider, [data])


@BROAD
@given(st.data())
def test_mutated_captured_bodies_give_events_or_a_classified_error(data: st.DataObject) -> None:
    counted("mutated bodies")
    provider = data.draw(PROVIDERS)
    base = data.draw(st.sampled_from([OR_BODY, OR_ERROR] if provider == "openrouter" else [OLLAMA_BODY, OLLAMA_ERROR]))
    document = data.draw(mutated(base))
    body_outcome(provider, encode(document))
    body_outcome(provider, data.draw(byte_mutated(encode(base))))


@BROAD
@given(st.data())
def test_mutated_captured_streams_give_events_or_a_classified_error(data: st.DataObject) -> None:
    counted("mutated streams")
    provider = data.draw(PROVIDERS)
    if provider == "openrouter":
        documents = [or_chunk("Hello"), or_chunk(" world"), or_chunk("", "stop", usage=OR_USAGE)]
        at = data.draw(st.integers(0, 2))
        documents[at] = data.draw(mutated(documents[at]))
        wire = b"".join(b"data: " + encode(d) + b"\n\n" for d in documents) + b"data: [DONE]\n\n"
    else:
        documents = [{"message": {"content": "Hello"}, "done": False}, OLLAMA_BODY]
        at = data.draw(st.integers(0, 1))
        documents[at] = data.draw(mutated(documents[at]))
        wire = b"".join(encode(d) + b"\n" for d in documents)
    stream_outcome(provider, split(wire, data.draw(cuts)))
    stream_outcome(provider, split(data.draw(byte_mutated(wire)), data.draw(cuts)))


NUMERIC_FIELDS = {
    "openrouter": [("usage", "prompt_tokens"), ("usage", "completion_tokens"), ("usage", "cost"), ("error", "code")],
    "ollama": [("prompt_eval_count",), ("eval_count",)],
}
HOSTILE_VALUES = [*HOSTILE_NUMBERS, 10**4000, "9" * 4000, "9" * 5000, "-5", " 12 ", "1e400", "nan", "\u0661\u0662"]


@pytest.mark.parametrize("provider", sorted(NUMERIC_FIELDS))
def test_every_count_cost_and_code_field_takes_any_number(provider: str) -> None:
    """A sweep, not a sample: each numeric field of each captured body, each hostile number or numeric text."""
    base = OR_BODY if provider == "openrouter" else OLLAMA_BODY
    for path in NUMERIC_FIELDS[provider]:
        for value in HOSTILE_VALUES:
            counted("numeric sweep")
            document = json.loads(json.dumps(base))
            node = document
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
            assert body_outcome(provider, encode(document))[0] in ("ok", "error"), (path, value)


@BROAD
@given(st.data())
def test_error_statuses_with_any_body_and_headers_are_classified(data: st.DataObject) -> None:
    counted("http errors")
    provider = data.draw(PROVIDERS)
    adapter, _, secrets = ADAPTERS[provider]
    status = data.draw(st.integers(100, 599))
    base = OR_ERROR if provider == "openrouter" else OLLAMA_ERROR
    body = data.draw(
        st.one_of(st.binary(max_size=500), st.builds(encode, mutated(base)), st.builds(encode, json_values))
    )
    headers = data.draw(
        st.dictionaries(
            st.sampled_from(["Retry-After", "X-RateLimit-Reset", "X-RateLimit-Remaining"]),
            st.sampled_from(HOSTILE_TEXT[:22])
            | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
        )
    )
    exc = adapter.http_error(response(status, [body], "application/json", headers), body, secrets)
    assert isinstance(exc, ProviderError)
    check_error(exc, secrets)


@BROAD
@given(st.integers(100, 599), json_values, st.dictionaries(st.text(max_size=20), st.text(max_size=30), max_size=3))
def test_openrouter_classify_error_takes_any_error_object(status: int, error: Any, headers: dict[str, str]) -> None:
    counted("openrouter classify_error")
    error = error if isinstance(error, dict) else {"message": error}
    exc = openrouter_module.classify_error(status, error, headers, (OR_SECRET,), time.time(), "openrouter")
    check_error(exc, (OR_SECRET,))


@FAST
@given(st.integers(100, 599), st.text() | st.sampled_from(HOSTILE_TEXT))
def test_ollama_classify_error_takes_any_text(status: int, text: str) -> None:
    counted("ollama classify_error")
    exc = ollama_module.classify_error(status, text, {}, (OLLAMA_SECRET,), time.time(), "ollama")
    check_error(exc, (OLLAMA_SECRET,))


@FAST
@given(st.text(max_size=40) | st.sampled_from(HOSTILE_TEXT[:22]))
def test_reset_headers_never_fail(value: str) -> None:
    counted("reset headers")
    now = time.time()
    for parsed in (parse_retry_after(value, now), parse_reset_ms(value)):
        assert parsed is None or (isinstance(parsed, float) and math.isfinite(parsed)), parsed


@FAST
@given(json_values | mutated({"id": "openai/gpt-4o-mini", "pricing": {"prompt": "0.00000015"}, "context_length": 5}))
def test_catalogue_rows_and_key_documents_never_fail(row: Any) -> None:
    counted("catalogue rows")
    info = model_info("openrouter", row)
    assert info is None or isinstance(info, ModelInfo)
    assert isinstance(key_info(row if isinstance(row, dict) else {}), KeyInfo)


# --- valid streams: the same answer however they are cut ---------------------------------------------------------

CAPTURED_STREAMS = {
    "openrouter-A": (
        "openrouter",
        or_stream(["The", " capital", " is Paris", ". Caf\u00e9 \u2603 \U0001f600"], "A", 2),
    ),
    "openrouter-B-crlf": ("openrouter", or_stream(["Hello", " w\u00f6rld"], "B", 1, crlf=True)),
    "openrouter-C": ("openrouter", or_stream(["\u65e5\u672c", "\u8a9e"], "C")),
    "ollama": ("ollama", ollama_stream(["That", "'s", " \u00e9t\u00e9 \U0001f600"])),
}


@pytest.mark.parametrize("name", sorted(CAPTURED_STREAMS))
def test_a_captured_stream_cut_at_every_byte_gives_the_same_answer(name: str) -> None:
    provider, wire = CAPTURED_STREAMS[name]
    whole = stream_outcome(provider, [wire])
    assert whole[0] == "ok"
    for at in range(1, len(wire)):
        counted("every-byte cuts")
        assert stream_outcome(provider, [wire[:at], wire[at:]]) == whole, at
    counted("every-byte cuts")
    assert stream_outcome(provider, [bytes([b]) for b in wire]) == whole


@pytest.mark.parametrize("provider", ["openrouter", "ollama"])
def test_line_separators_inside_json_strings_are_text(provider: str) -> None:
    """``str.splitlines`` (and so httpx's ``aiter_lines``) also breaks at these; SSE and NDJSON do not."""
    texts = ["one\u2028two\u2029", " three\x85four\x0cfive\x0b\x1c\x1d\x1e six\r"]
    wire = or_stream(texts) if provider == "openrouter" else ollama_stream(texts)
    result = stream_outcome(provider, [wire])
    assert result[0] == "ok" and result[1] == "".join(texts), result


@pytest.mark.parametrize("provider", ["openrouter", "ollama"])
def test_escaped_lone_surrogates_become_replacement_characters(provider: str) -> None:
    error = b'{"error":"model \\ud800 not found"}'
    half = ["a\ud83d"]  # the high half of a surrogate pair, alone: JSON carries it as the escape \ud83d
    answer = or_stream(half, ascii_json=True) if provider == "openrouter" else ollama_stream(half, ascii_json=True)
    assert body_outcome(provider, error)[0] == "error"
    assert stream_outcome(provider, [answer])[1:2] == ("a\ufffd",)


@BROAD
@given(
    PROVIDERS,
    pieces,
    st.sampled_from("ABC"),
    st.integers(0, 3),
    st.booleans(),
    st.booleans(),
    cuts,
)
def test_a_valid_stream_gives_the_same_text_and_usage_however_it_is_cut(
    provider: str, texts: list[str], shape: str, comments: int, crlf: bool, ascii_json: bool, at: list[int]
) -> None:
    counted("random cuts")
    wire = (
        or_stream(texts, shape, comments, crlf, ascii_json)
        if provider == "openrouter"
        else ollama_stream(texts, ascii_json)
    )
    whole = stream_outcome(provider, [wire])
    assert whole[0] == "ok" and whole[1] == "".join(texts), whole
    assert stream_outcome(provider, split(wire, at)) == whole


# --- what this suite found (fixed in providers/ since): one pinned example each -----------------------------------


def body_error(provider: str, body: bytes) -> ProviderError:
    adapter, candidate, secrets = ADAPTERS[provider]
    with pytest.raises(ProviderError) as caught:
        adapter.read_body(response(200, [body], "application/json"), body, candidate, secrets)
    return caught.value


def test_a_cost_of_ten_to_the_400_is_classified() -> None:
    body = encode({**OR_BODY, "usage": {**OR_USAGE, "cost": 10**400}})  # float() of it raised OverflowError
    assert body_outcome("openrouter", body)[0] in ("ok", "error")


def test_a_5000_digit_token_count_is_classified() -> None:
    body = encode({**OR_BODY, "usage": {"prompt_tokens": "9" * 5000}})
    assert body_outcome("openrouter", body)[0] in ("ok", "error")


def test_token_counts_fit_the_ledger() -> None:
    body = encode({**OLLAMA_BODY, "prompt_eval_count": 10**30, "eval_count": -5})
    events = OLLAMA.read_body(response(200, [body], "application/json"), body, OLLAMA_CANDIDATE, (OLLAMA_SECRET,))
    usage = events[-1].usage  # type: ignore[union-attr]
    assert usage.input_tokens is None or 0 <= usage.input_tokens < INT64
    assert usage.output_tokens is None or 0 <= usage.output_tokens < INT64


def test_an_in_body_error_code_gives_an_http_status() -> None:
    status = body_error("openrouter", encode({"error": {"code": 10**30, "message": "x"}})).status
    assert status is None or 100 <= status <= 599


def test_retry_after_is_finite() -> None:
    for parsed in (parse_retry_after("1e400", time.time()), parse_reset_ms("inf")):
        assert parsed is None or math.isfinite(parsed)


def test_messages_hold_no_control_characters() -> None:
    message = body_error("ollama", encode({"error": "model \x1b[2J\x1b]0;pwned\x07 \u202eevil not found"})).message
    assert not CONTROL.search(message), repr(message)


def test_a_blank_error_message_still_says_something() -> None:
    assert body_error("openrouter", encode({"error": " "})).message.strip()


def test_an_anthropic_error_code_that_is_not_a_string_is_classified() -> None:
    """``details.error_code`` as a list was looked up in a set of codes: TypeError, a traceback in the CLI."""
    body = encode({**AN_ERROR, "error": {**AN_ERROR["error"], "details": {"error_code": []}}})
    assert body_outcome("anthropic", body) == ("error", ErrorKind.RATE_LIMITED)


def test_a_400_digit_gemini_retry_delay_is_no_hint() -> None:
    """``retryDelay`` (or "Please retry in N s") of 400 digits parsed as infinity: the model was held forever."""
    huge = "9" * 400
    error = {"code": 429, "message": f"Please retry in {huge}s.", "status": "RESOURCE_EXHAUSTED",
             "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{huge}s"}]}  # fmt: skip
    exc = gemini_module.classify_error(429, error, (GM_SECRET,), time.time(), "gemini")
    assert exc.kind is ErrorKind.RATE_LIMITED and exc.retry_at is None, exc.retry_at
    assert gemini_module.parse_duration({"seconds": 1.7976931330646228e308, "nanos": 1.7976929842280664e308}) is None


# --- the native wires: Anthropic's typed SSE, Gemini's SSE, Bedrock's binary event stream --------------------------
#
# The same contract through each native adapter: any bytes, any cut, any mutation of a captured answer or error
# gives well-formed events or a classified ProviderError (one printable line without the key), never another
# exception; a valid answer gives the same text and usage however the network cuts it.

AN_SECRET = "sk-ant-api03-" + "Rk9vQmFyQmF6UXV4" * 5 + "-AbCdEfGh"
GM_SECRET = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
AWS_AKID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_TOKEN = "FwoGZXIvYXdzEJr//////////wEaDNhSeSsiOnToKeNvAlUe+x5yQ=="
AN_CANDIDATE = Candidate(
    Target("anthropic", "claude-haiku-4-5"), KeySlot("anthropic", ApiKey("anthropic", "ANTHROPIC_API_KEY", AN_SECRET))
)
GM_CANDIDATE = Candidate(
    Target("gemini", "gemini-2.5-flash"), KeySlot("gemini", ApiKey("gemini", "GEMINI_API_KEY", GM_SECRET))
)
BR_CANDIDATE = Candidate(
    Target("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0"),
    KeySlot("bedrock", ApiKey("bedrock", "AWS_ACCESS_KEY_ID", AWS_SECRET, token=AWS_TOKEN), account=AWS_AKID),
)
ANTHROPIC = AnthropicAdapter("anthropic", "https://api.anthropic.com", POOL)
GEMINI = GeminiAdapter("gemini", gemini_module.DEFAULT_BASE_URL, POOL)
BEDROCK = BedrockAdapter("bedrock", "https://bedrock-runtime.us-east-1.amazonaws.com", POOL)
ADAPTERS |= {
    "anthropic": (ANTHROPIC, AN_CANDIDATE, (AN_SECRET,)),
    "gemini": (GEMINI, GM_CANDIDATE, (GM_SECRET,)),
    "bedrock": (BEDROCK, BR_CANDIDATE, BEDROCK.slot_secrets(BR_CANDIDATE.slot)),
}
STREAM_TYPES |= {
    "anthropic": "text/event-stream; charset=utf-8",
    "gemini": "text/event-stream",
    "bedrock": "application/vnd.amazon.eventstream",
}
NATIVE = st.sampled_from(["anthropic", "gemini", "bedrock"])
NATIVE_HOSTILE = [
    *HOSTILE_TEXT,
    AN_SECRET, GM_SECRET, AWS_SECRET, AWS_TOKEN, f"x-api-key: {AN_SECRET}", f"key={GM_SECRET}",
    base64.b64encode(AWS_SECRET.encode()).decode(), AWS_TOKEN.encode().hex(), "API_KEY_INVALID",
    "credit balance is too low", "You will regain access on 2026-02-30 at 25:61 UTC.", "PerDay", "PerMinute",
    "limit: 0", "Please retry in 1e400s.", "Please retry in 99999999999999999999s.", "regain access on 9999-12-31",
    "The security token included in the request is invalid", "marked by provider as Legacy", "per day",
]  # fmt: skip
NATIVE_FIELDS = [
    "type", "error", "message", "details", "error_code", "content", "text", "thinking", "delta", "index",
    "content_block", "usage", "input_tokens", "output_tokens", "cache_read_input_tokens", "stop_reason",
    "candidates", "parts", "thought", "finishReason", "usageMetadata", "promptTokenCount", "candidatesTokenCount",
    "thoughtsTokenCount", "totalTokenCount", "promptFeedback", "blockReason", "code", "status", "@type", "reason",
    "violations", "quotaId", "quotaValue", "retryDelay", "seconds", "nanos", "output", "stopReason", "inputTokens",
    "outputTokens", "reasoningContent", "reasoningText", "__type", "Message", "modelVersion", "model",
]  # fmt: skip
native_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(HOSTILE_NUMBERS),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(NATIVE_HOSTILE),
    st.text(max_size=40),
)
native_values = st.recursive(
    native_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(NATIVE_FIELDS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=25,
)


@st.composite
def native_mutated(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one to four values replaced, removed, retyped or added (native field names)."""
    for _ in range(draw(st.integers(1, 4))):
        document = _native_mutate(draw, document)
    return document


def _native_mutate(draw: st.DrawFn, node: Any) -> Any:
    if isinstance(node, dict) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node)))
        action = draw(st.sampled_from(["descend", "replace", "delete", "add"]))
        copy = dict(node)
        if action == "descend":
            copy[key] = _native_mutate(draw, node[key])
        elif action == "replace":
            copy[key] = draw(native_values)
        elif action == "delete":
            del copy[key]
        else:
            copy[draw(st.sampled_from(NATIVE_FIELDS))] = draw(native_values)
        return copy
    if isinstance(node, list) and node and draw(st.booleans()):
        index = draw(st.integers(0, len(node) - 1))
        copy = list(node)
        copy[index] = _native_mutate(draw, node[index]) if draw(st.booleans()) else draw(native_values)
        return copy
    return draw(native_values)


# Captured shapes (providers-next §4, §1, §6) as event lists: (name, payload) for Anthropic, payloads for Gemini,
# (event type, payload) for Bedrock; the wire functions below turn them into bytes.

AN_USAGE_START = {"input_tokens": 25, "output_tokens": 1}


def an_events(pieces: list[str], thinking: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The reference's captured event order: message_start, block start, ping, deltas, block stop, message_delta
    (cumulative usage), message_stop; ``thinking`` adds a thinking block first."""
    start = {
        "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-3-5-sonnet-20241022",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": AN_USAGE_START,
    }
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    index = 0
    if thinking is not None:
        block = {"type": "thinking", "thinking": ""}
        events += [
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "thinking_delta", "thinking": thinking}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ]  # fmt: skip
        index = 1
    block = {"type": "text", "text": ""}
    events += [
        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}),
        ("ping", {"type": "ping"}),
    ]
    events += [
        ("content_block_delta", {"type": "content_block_delta", "index": index,
                                 "delta": {"type": "text_delta", "text": piece}})
        for piece in pieces
    ]  # fmt: skip
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 15}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return events


def an_wire(events: list[tuple[str, dict[str, Any]]], crlf: bool = False, ascii_json: bool = False) -> bytes:
    end = "\r\n" if crlf else "\n"
    return "".join(
        f"event: {name}{end}data: {json.dumps(data, ensure_ascii=ascii_json)}{end}{end}" for name, data in events
    ).encode("utf-8", "surrogatepass")


def gm_events(pieces: list[str], thought: str | None = None, model: str = "gemini-2.5-pro") -> list[dict[str, Any]]:
    """The reference's captured chunks: a candidate per piece, cumulative ``usageMetadata``, ``finishReason`` on the
    last; ``thought`` adds a ``thought: true`` part first."""
    chunks: list[dict[str, Any]] = []
    if thought is not None:
        parts = [{"text": thought, "thought": True}]
        chunks.append({"candidates": [{"content": {"parts": parts, "role": "model"}}], "modelVersion": model})
    for i, piece in enumerate(pieces):
        candidate: dict[str, Any] = {"content": {"parts": [{"text": piece}], "role": "model"}}
        if i == len(pieces) - 1:
            candidate["finishReason"] = "STOP"
        usage = {"promptTokenCount": 7, "candidatesTokenCount": 2 * (i + 1), "totalTokenCount": 7 + 2 * (i + 1)}
        chunks.append({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": "t1"})
    return chunks


def gm_wire(
    chunks: list[dict[str, Any]], crlf: bool = True, last_blank: bool = True, ascii_json: bool = False
) -> bytes:
    """SSE ``data:`` events, CRLF as Gemini (Vertex) sends them or LF; ``last_blank=False`` ends the stream right
    after the last event's data line (no terminator of any kind on this wire)."""
    end = "\r\n" if crlf else "\n"
    events = [f"data: {json.dumps(c, separators=(',', ': '), ensure_ascii=ascii_json)}" for c in chunks]
    text = "".join(e + end + end for e in events)
    if not last_blank and text:
        text = text[: -len(end)]
    return text.encode("utf-8", "surrogatepass")


def br_events(pieces: list[str], reasoning: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """ConverseStream's event order (ref §6), with the random ``p`` padding some payloads carry."""
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"p": "abcdefgh", "role": "assistant"})]
    index = 0
    if reasoning is not None:
        events += [
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": reasoning}}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "c2ln"}}}),
            ("contentBlockStop", {"contentBlockIndex": 0}),
        ]
        index = 1
    events += [("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": p}, "p": "xy"}) for p in pieces]
    events += [
        ("contentBlockStop", {"contentBlockIndex": index}),
        ("messageStop", {"stopReason": "end_turn", "p": "q"}),
        ("metadata", {"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}, "metrics": {"latencyMs": 4}}),
    ]
    return events


def br_frame(headers: list[tuple[str, int, bytes]], payload: bytes) -> bytes:
    """One event-stream message, encoded here (not by the fake): ``(name, value type, value bytes)`` headers, real
    CRC32s (prelude, then everything before the message CRC)."""
    import struct
    import zlib

    head = b"".join(bytes([len(n.encode())]) + n.encode() + bytes([t]) + v for n, t, v in headers)
    prelude = struct.pack(">II", len(head) + len(payload) + 16, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def br_string(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogatepass")
    return len(raw).to_bytes(2, "big") + raw


def br_event(event: str, payload: bytes) -> bytes:
    headers = [(":event-type", 7, br_string(event)), (":content-type", 7, br_string("application/json")),
               (":message-type", 7, br_string("event"))]  # fmt: skip
    return br_frame(headers, payload)


def br_wire(events: list[tuple[str, Any]], ascii_json: bool = False) -> bytes:
    return b"".join(
        br_event(name, json.dumps(data, ensure_ascii=ascii_json).encode("utf-8", "surrogatepass"))
        for name, data in events
    )


def native_wire(provider: str, pieces: list[str], **kw: Any) -> bytes:
    if provider == "anthropic":
        return an_wire(an_events(pieces, kw.get("reasoning")), kw.get("crlf", False), kw.get("ascii_json", False))
    if provider == "gemini":
        return gm_wire(
            gm_events(pieces, kw.get("reasoning")),
            kw.get("crlf", True),
            kw.get("last_blank", True),
            kw.get("ascii_json", False),
        )
    return br_wire(br_events(pieces, kw.get("reasoning")), kw.get("ascii_json", False))


@BROAD
@given(NATIVE, st.binary(max_size=3000))
def test_native_any_bytes_as_a_body_or_a_stream_give_events_or_a_classified_error(provider: str, data: bytes) -> None:
    counted("native random bytes")
    body_outcome(provider, data)
    stream_outcome(provider, [data])


AN_MESSAGE = {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
    "content": [{"type": "thinking", "thinking": "Hmm.", "signature": "x"}, {"type": "text", "text": "Hello!"}],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 25, "output_tokens": 15, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 3},
}  # fmt: skip
AN_ERROR = {
    "type": "error",
    "error": {"type": "rate_limit_error", "message": "This request would exceed the rate limit for your organization",
              "details": {"error_code": "enforced_spend_limit_reached"}},
    "request_id": "req_011CZLrUfBVkVHn5T6EqQaf7",
}  # fmt: skip
GM_BODY = {
    "candidates": [{"content": {"parts": [{"text": "Hello World!"}], "role": "model"}, "finishReason": "STOP",
                    "index": 0}],
    "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5, "totalTokenCount": 8, "thoughtsTokenCount": 0},
    "modelVersion": "gemini-2.5-flash", "responseId": "LdGKaIu3NoKsmtkP0M27iQ8",
}  # fmt: skip
GM_ERROR = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota.\n* Quota exceeded for metric: x, limit: 20, model: gemini-2.5-flash"
        "\nPlease retry in 36.429760048s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                 "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                 "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"}, "quotaValue": "20"}]},
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "36s"},
        ],
    }
}  # fmt: skip
GM_BLOCKED = {"promptFeedback": {"blockReason": "SAFETY", "blockReasonMessage": "no"}, "usageMetadata": {}}
BR_BODY = {
    "output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "c2ln"}}}, {"text": "Hello! ..."}]}},
    "stopReason": "end_turn", "metrics": {"latencyMs": 302},
    "usage": {"inputTokens": 4, "outputTokens": 38, "totalTokens": 42, "cacheReadInputTokens": 2},
}  # fmt: skip
BR_ERROR = {"message": "Too many tokens per day, please wait before trying again.", "__type": "ThrottlingException"}
NATIVE_BODIES = {
    "anthropic": [AN_MESSAGE, AN_ERROR],
    "gemini": [GM_BODY, GM_ERROR, [GM_ERROR], GM_BLOCKED],
    "bedrock": [BR_BODY, BR_ERROR],
}


@BROAD
@given(st.data())
def test_native_mutated_captured_bodies_give_events_or_a_classified_error(data: st.DataObject) -> None:
    counted("native mutated bodies")
    provider = data.draw(NATIVE)
    base = data.draw(st.sampled_from(NATIVE_BODIES[provider]))
    body_outcome(provider, encode(data.draw(native_mutated(base))))
    body_outcome(provider, data.draw(byte_mutated(encode(base))))


@BROAD
@given(st.data())
def test_native_mutated_captured_streams_give_events_or_a_classified_error(data: st.DataObject) -> None:
    """One event's JSON mutated (Bedrock: behind valid CRCs, so the adapter sees it), then the whole wire's bytes
    mutated; each cut anywhere."""
    counted("native mutated streams")
    provider = data.draw(NATIVE)
    if provider == "anthropic":
        events = an_events(["Hello", " world"], data.draw(st.none() | st.just("Hmm.")))
        at = data.draw(st.integers(0, len(events) - 1))
        events[at] = (data.draw(st.sampled_from([events[at][0], "error", "message_stop", "x"])), events[at][1])
        events[at] = (events[at][0], data.draw(native_mutated(events[at][1])))
        wire = an_wire(events, data.draw(st.booleans()))
    elif provider == "gemini":
        chunks: list[Any] = gm_events(["Hello", " world"])
        at = data.draw(st.integers(0, len(chunks) - 1))
        chunks[at] = data.draw(native_mutated(chunks[at]))
        wire = gm_wire(chunks, data.draw(st.booleans()), data.draw(st.booleans()))
    else:
        events = br_events(["Hello", " world"], data.draw(st.none() | st.just("Hmm.")))
        at = data.draw(st.integers(0, len(events) - 1))
        events[at] = (data.draw(st.sampled_from([events[at][0], "contentBlockDelta", "metadata"])), events[at][1])
        events[at] = (events[at][0], data.draw(native_mutated(events[at][1])))
        wire = br_wire(events)
    stream_outcome(provider, split(wire, data.draw(cuts)))
    stream_outcome(provider, split(data.draw(byte_mutated(wire)), data.draw(cuts)))


# Bedrock's frames below the JSON: any headers of any type, exception and error frames, lengths and CRCs.

header_values = st.one_of(
    st.tuples(st.just(0), st.just(b"")),
    st.tuples(st.just(1), st.just(b"")),
    st.tuples(st.just(2), st.binary(min_size=1, max_size=1)),
    st.tuples(st.just(3), st.binary(min_size=2, max_size=2)),
    st.tuples(st.just(4), st.binary(min_size=4, max_size=4)),
    st.tuples(st.just(5), st.binary(min_size=8, max_size=8)),
    st.tuples(st.just(6), st.binary(max_size=40).map(lambda b: len(b).to_bytes(2, "big") + b)),
    st.tuples(st.just(7), (st.text(max_size=30) | st.sampled_from(NATIVE_HOSTILE[-20:])).map(br_string)),
    st.tuples(st.just(8), st.binary(min_size=8, max_size=8)),
    st.tuples(st.just(9), st.binary(min_size=16, max_size=16)),
)
HEADER_NAMES = [":message-type", ":event-type", ":exception-type", ":error-code", ":error-message", ":content-type"]
header_lists = st.lists(
    st.tuples(st.sampled_from(HEADER_NAMES) | st.text(min_size=1, max_size=10).filter(lambda n: len(n.encode()) < 256),
              header_values).map(lambda h: (h[0], *h[1])),
    max_size=6,
)  # fmt: skip
MESSAGE_TYPES = ["event", "exception", "error", "", "EVENT", "initial-response"]
EXCEPTION_TYPES = [
    "throttlingException", "validationException", "internalServerException", "serviceUnavailableException",
    "modelStreamErrorException", "accessDeniedException", "UnrecognizedClientException", "", "x" * 300,
]  # fmt: skip


@st.composite
def bedrock_frames(draw: st.DrawFn) -> bytes:
    """A frame the decoder accepts (valid lengths and CRCs) with any headers: random, or an event / exception /
    error frame with random values where the adapter reads them."""
    kind = draw(st.sampled_from(["random", "event", "exception", "error"]))
    payload = draw(
        st.binary(max_size=200) | st.builds(encode, native_values) | st.builds(encode, native_mutated(BR_ERROR))
    )
    if kind == "random":
        return br_frame(draw(header_lists), payload)
    headers = [(":message-type", 7, br_string(kind if draw(st.booleans()) else draw(st.sampled_from(MESSAGE_TYPES))))]
    if kind == "event":
        name = draw(st.sampled_from(["contentBlockDelta", "messageStop", "metadata", "messageStart", "other"]))
        headers.append((":event-type", 7, br_string(name)))
    elif kind == "exception":
        headers.append((":exception-type", 7, br_string(draw(st.sampled_from(EXCEPTION_TYPES)))))
    else:
        headers.append((":error-code", 7, br_string(draw(st.sampled_from(EXCEPTION_TYPES)))))
        headers.append((":error-message", 7, br_string(draw(st.sampled_from(NATIVE_HOSTILE)))))
    if draw(st.booleans()):
        headers += draw(header_lists)
    return br_frame(draw(st.permutations(headers)), payload)


@BROAD
@given(st.lists(bedrock_frames(), min_size=1, max_size=5), st.booleans(), cuts)
def test_bedrock_frames_with_any_headers_and_payloads_give_events_or_a_classified_error(
    frames: list[bytes], answer_first: bool, at: list[int]
) -> None:
    counted("bedrock frames")
    wire = b"".join(frames)
    if answer_first:
        wire = br_wire(br_events(["Hello"])[:2]) + wire
    stream_outcome("bedrock", split(wire, at))


@BROAD
@given(st.lists(bedrock_frames(), min_size=1, max_size=4), cuts, st.data())
def test_bedrock_frames_corrupted_anywhere_give_events_or_a_bad_response(
    frames: list[bytes], at: list[int], data: st.DataObject
) -> None:
    """A byte changed in a length or CRC, a frame cut short, bytes inserted: the decoder refuses it (a bad response)
    or, where the damage left whole frames, the adapter reads them; never another exception."""
    counted("bedrock corrupted frames")
    stream_outcome("bedrock", split(data.draw(byte_mutated(b"".join(frames))), at))


@st.composite
def valid_frames(draw: st.DrawFn) -> tuple[list[tuple[str, int, bytes]], bytes]:
    """Headers of every value type with distinct names, and any payload."""
    headers = draw(header_lists)
    unique = list({name: (name, kind, value) for name, kind, value in headers}.values())
    return unique, draw(st.binary(max_size=120))


@BROAD
@given(st.lists(valid_frames(), min_size=1, max_size=4), cuts)
def test_the_event_stream_decoder_agrees_with_botocore_however_the_bytes_are_cut(
    frames: list[tuple[list[tuple[str, int, bytes]], bytes]], at: list[int]
) -> None:
    """Differential: botocore's own parser (the SDK's) is the oracle for every header type and any payload."""
    from botocore.eventstream import EventStreamBuffer

    counted("decoder vs botocore")
    wire = b"".join(br_frame(headers, payload) for headers, payload in frames)
    buffer = EventStreamBuffer()
    buffer.add_data(wire)
    expected = [(dict(m.headers), m.payload) for m in buffer]
    decoder = EventStreamDecoder()
    got = [message for chunk in split(wire, at) for message in decoder.feed(chunk)]
    decoder.close()
    normalised = [({k: (bytes(v) if isinstance(v, bytearray) else v) for k, v in m.headers.items()}, m.payload)
                  for m in got]  # fmt: skip
    botocore_view = [({k: (bytes(v) if isinstance(v, bytearray) else v) for k, v in h.items()}, p) for h, p in expected]
    assert normalised == botocore_view


@FAST
@given(st.binary(max_size=400), cuts)
def test_the_event_stream_decoder_raises_only_frame_errors(data: bytes, at: list[int]) -> None:
    counted("decoder garbage")
    decoder = EventStreamDecoder()
    try:
        for chunk in split(data, at):
            assert all(isinstance(m, EventMessage) for m in decoder.feed(chunk))
        decoder.close()
    except FrameError as exc:
        assert str(exc) and not CONTROL.search(str(exc))


# Errors: each adapter's HTTP error reader and classifier, any status, body and hint header.

NATIVE_ERROR_HEADERS = {
    "anthropic": ["retry-after", "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset",
                  "anthropic-ratelimit-tokens-remaining-weekly", "anthropic-ratelimit-tokens-reset-weekly"],
    "gemini": ["retry-after", "content-type"],
    "bedrock": ["x-amzn-ErrorType", "Retry-After", "x-amzn-RequestId"],
}  # fmt: skip
HINT_VALUES = [
    "0", "-1", "20", "1e400", "nan", "2025-02-24T22:25:30Z", "2025-02-24T22:25:30", "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
    "AccessDeniedException", "com.amazon.coral.service#UnrecognizedClientException", "ValidationException:",
    "Mon, 01 Jan 99999 00:00:00 GMT", AWS_SECRET, "",
]  # fmt: skip


@BROAD
@given(st.data())
def test_native_error_statuses_with_any_body_and_headers_are_classified(data: st.DataObject) -> None:
    counted("native http errors")
    provider = data.draw(NATIVE)
    adapter, _, secrets = ADAPTERS[provider]
    status = data.draw(st.integers(100, 599))
    base = {"anthropic": AN_ERROR, "gemini": data.draw(st.sampled_from([GM_ERROR, [GM_ERROR]])), "bedrock": BR_ERROR}
    body = data.draw(
        st.one_of(
            st.binary(max_size=500),
            st.builds(encode, native_mutated(base[provider])),
            st.builds(encode, native_values),
        )
    )
    headers = data.draw(
        st.dictionaries(
            st.sampled_from(NATIVE_ERROR_HEADERS[provider]),
            st.sampled_from(HINT_VALUES) | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
        )
    )
    exc = adapter.http_error(response(status, [body], "application/json", headers), body, secrets)
    assert isinstance(exc, ProviderError)
    check_error(exc, secrets)


@BROAD
@given(
    st.integers(100, 599),
    native_values | native_mutated(AN_ERROR["error"]),
    st.dictionaries(
        st.sampled_from(NATIVE_ERROR_HEADERS["anthropic"]) | st.text(max_size=20), st.sampled_from(HINT_VALUES)
    ),
)
def test_anthropic_classify_error_takes_any_error_object(status: int, error: Any, headers: dict[str, str]) -> None:
    counted("anthropic classify_error")
    error = error if isinstance(error, dict) else {"message": error}
    exc = anthropic_module.classify_error(status, error, headers, (AN_SECRET,), time.time(), "anthropic")
    check_error(exc, (AN_SECRET,))


@BROAD
@given(st.integers(100, 599), native_values | native_mutated(GM_ERROR["error"]))
def test_gemini_classify_error_takes_any_error_object(status: int, error: Any) -> None:
    counted("gemini classify_error")
    error = error if isinstance(error, dict) else {"message": error}
    exc = gemini_module.classify_error(status, error, (GM_SECRET,), time.time(), "gemini")
    check_error(exc, (GM_SECRET,))


@FAST
@given(
    st.integers(100, 599),
    st.sampled_from(EXCEPTION_TYPES + HINT_VALUES) | st.text(max_size=40),
    st.sampled_from(NATIVE_HOSTILE) | st.text(max_size=80),
)
def test_bedrock_classify_error_takes_any_type_and_text(status: int, type_name: str, message: str) -> None:
    counted("bedrock classify_error")
    secrets = ADAPTERS["bedrock"][2]
    exc = bedrock_module.classify_error(status, type_name, message, secrets, headers={}, provider="bedrock")
    check_error(exc, secrets)


@FAST
@given(
    native_scalars
    | st.fixed_dictionaries({"seconds": native_scalars, "nanos": native_scalars})
    | st.sampled_from(["37s", "0.5s", "45.837906927s", "1e400s", "-1s", ".s", "9" * 400 + "s", " 3.s "])
)
def test_gemini_durations_and_anthropic_timestamps_never_fail(value: Any) -> None:
    counted("native hints")
    for parsed in (gemini_module.parse_duration(value), anthropic_module.parse_timestamp(value)):
        assert parsed is None or (isinstance(parsed, float) and math.isfinite(parsed)), parsed
    if isinstance(value, str):
        assert anthropic_module.regain_time(value) is None or math.isfinite(anthropic_module.regain_time(value) or 0)


# Valid native streams: the same answer however they are cut.

NATIVE_CAPTURED = {
    "anthropic": ("anthropic", native_wire("anthropic", ["Hello", " w\u00f6rld \U0001f600"], reasoning="Hmm.")),
    "anthropic-crlf": ("anthropic", native_wire("anthropic", ["\u65e5\u672c", "\u8a9e"], crlf=True)),
    "gemini-crlf": ("gemini", native_wire("gemini", ["C", "lementine, a ginger tabby", " cat \u00e9t\u00e9"])),
    "gemini-lf-no-blank-line-at-the-end": (
        "gemini",
        native_wire("gemini", ["Hello", " \U0001f600"], crlf=False, last_blank=False),
    ),
    "bedrock": ("bedrock", native_wire("bedrock", ["Hel", "lo \u00e9t\u00e9 \U0001f600"], reasoning="Hmm.")),
}


@pytest.mark.parametrize("name", sorted(NATIVE_CAPTURED))
def test_a_captured_native_stream_cut_at_every_byte_gives_the_same_answer(name: str) -> None:
    provider, wire = NATIVE_CAPTURED[name]
    whole = stream_outcome(provider, [wire])
    assert whole[0] == "ok" and whole[1], whole
    for at in range(1, len(wire)):
        counted("native every-byte cuts")
        assert stream_outcome(provider, [wire[:at], wire[at:]]) == whole, at
    counted("native every-byte cuts")
    assert stream_outcome(provider, [bytes([b]) for b in wire]) == whole


@BROAD
@given(NATIVE, pieces, st.none() | answer_text, st.booleans(), st.booleans(), st.booleans(), cuts)
def test_a_valid_native_stream_gives_the_same_text_and_usage_however_it_is_cut(
    provider: str,
    texts: list[str],
    reasoning: str | None,
    crlf: bool,
    last_blank: bool,
    ascii_json: bool,
    at: list[int],
) -> None:
    counted("native random cuts")
    wire = native_wire(provider, texts, reasoning=reasoning, crlf=crlf, last_blank=last_blank, ascii_json=ascii_json)
    whole = stream_outcome(provider, [wire])
    assert whole[0] == "ok" and whole[1] == "".join(texts), whole
    assert stream_outcome(provider, split(wire, at)) == whole


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "bedrock"])
def test_native_line_separators_and_lone_surrogates_are_text(provider: str) -> None:
    texts = ["one\u2028two\u2029", " three\x85four\x0cfive\x0b\x1c\x1d\x1e six\r", "a\ud83d"]
    result = stream_outcome(provider, [native_wire(provider, texts, ascii_json=True)])
    assert result[0] == "ok" and result[1] == "".join(texts[:2]) + "a\ufffd", result
