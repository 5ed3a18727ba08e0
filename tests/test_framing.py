from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest

from llmroute.errors import ErrorKind, ProviderError
from llmroute.providers.framing import json_object, ndjson_objects, sse_events


async def lines_of(items: Iterable[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


async def collect(iterator: AsyncIterator[object]) -> list[object]:
    return [item async for item in iterator]


async def test_sse_yields_each_data_payload() -> None:
    events = sse_events(lines_of(['data: {"a":1}', "", 'data: {"b":2}', "", "data: [DONE]", ""]))
    assert await collect(events) == ['{"a":1}', '{"b":2}']
    assert events.done


async def test_sse_skips_openrouter_processing_comments() -> None:
    events = sse_events(
        lines_of([": OPENROUTER PROCESSING", "", ": OPENROUTER PROCESSING", "", "data: x", "", "data: [DONE]", ""])
    )
    assert await collect(events) == ["x"]


async def test_sse_joins_multi_line_data_with_newlines() -> None:
    events = sse_events(lines_of(["data: first", "data: second", "", "data: [DONE]", ""]))
    assert await collect(events) == ["first\nsecond"]


async def test_sse_handles_crlf_line_endings() -> None:
    events = sse_events(lines_of(["data: x\r\n", "\r\n", "data: [DONE]\r\n", "\r\n"]))
    assert await collect(events) == ["x"]
    assert events.done


async def test_sse_data_without_a_space_after_the_colon() -> None:
    events = sse_events(lines_of(["data:x", "", "data:[DONE]", ""]))
    assert await collect(events) == ["x"]
    assert events.done


async def test_sse_ignores_other_fields() -> None:
    events = sse_events(lines_of(["event: message", "id: 7", "retry: 100", "data: x", "", "data: [DONE]", ""]))
    assert await collect(events) == ["x"]


async def test_sse_stops_reading_at_done() -> None:
    events = sse_events(lines_of(["data: [DONE]", "", "data: after", ""]))
    assert await collect(events) == []
    assert events.done


async def test_sse_without_done_reports_it_was_not_seen() -> None:
    events = sse_events(lines_of(["data: x", ""]))
    assert await collect(events) == ["x"]
    assert not events.done


async def test_sse_counts_a_last_event_missing_its_blank_line() -> None:
    events = sse_events(lines_of(["data: x", "", "data: [DONE]"]))
    assert await collect(events) == ["x"]
    assert events.done


async def test_ndjson_yields_parsed_objects_and_skips_blank_lines() -> None:
    objects = ndjson_objects(lines_of(['{"a":1}', "", "   ", '{"b":2}']))
    assert await collect(objects) == [{"a": 1}, {"b": 2}]


async def test_ndjson_malformed_line_is_a_bad_response() -> None:
    with pytest.raises(ProviderError) as caught:
        await collect(ndjson_objects(lines_of(['{"a":1}', '{"a":']), "ollama"))
    assert caught.value.kind is ErrorKind.BAD_RESPONSE
    assert caught.value.provider == "ollama"


def test_json_object_rejects_a_non_object() -> None:
    with pytest.raises(ProviderError) as caught:
        json_object("[1, 2]")
    assert caught.value.kind is ErrorKind.BAD_RESPONSE


def test_json_object_error_message_does_not_quote_the_payload() -> None:
    with pytest.raises(ProviderError) as caught:
        json_object('{"key": "sk-or-v1-secret-secret-secret"')
    assert "secret" not in caught.value.message
