"""The fake's reasoning on the wire, read back by the providers' official Python clients as oracles.

If ``openai`` or ``ollama`` parse what the fake sends the way we expect, the fake speaks the wire
as the real services do (within what those clients check), and the adapter tests that trust the
fake are not testing a private dialect. Both clients come with the test extras.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import OLLAMA_KEYS, OR_KEYS
from tests.fakes import DEFAULT_TEXT, FakeProvider, reply, stream_reply

REASONING = "The user wants a greeting. I will say hello."
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def openai_client(fake: FakeProvider) -> Any:
    import openai

    return openai.OpenAI(base_url=fake.openrouter_url, api_key=OR_KEYS[0], max_retries=0)


def ollama_client(fake: FakeProvider) -> Any:
    import ollama

    return ollama.Client(host=fake.ollama_url, headers={"Authorization": f"Bearer {OLLAMA_KEYS[0]}"})


def test_openai_client_reads_openrouter_reasoning_deltas_apart_from_the_content(cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], stream_reply(reasoning=REASONING))
    stream = openai_client(cloud).chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES, stream=True)
    reasoning, details, content, finish = "", "", "", None
    for chunk in stream:
        if not chunk.choices:
            continue
        extra = chunk.choices[0].delta.model_extra or {}
        reasoning += extra.get("reasoning") or ""
        details += "".join(d["text"] for d in extra.get("reasoning_details") or [])
        content += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
    assert (reasoning, details, content, finish) == (REASONING, REASONING, DEFAULT_TEXT, "stop")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_openai_client_reads_an_openrouter_answer_spent_on_reasoning_as_empty_and_length(
    cloud: FakeProvider, stream: bool
) -> None:
    cloud.script(OR_KEYS[0], reply(reasoning=REASONING))
    client = openai_client(cloud)
    if stream:
        chunks = list(
            client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, max_tokens=3)
        )
        choices = [c.choices[0] for c in chunks if c.choices]
        content = "".join(c.delta.content or "" for c in choices)
        reasoning = "".join((c.delta.model_extra or {}).get("reasoning") or "" for c in choices)
        finish, usage = choices[-1].finish_reason, chunks[-1].usage
    else:
        completion = client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES, max_tokens=3)
        message = completion.choices[0].message
        content, reasoning = message.content, (message.model_extra or {}).get("reasoning")
        finish, usage = completion.choices[0].finish_reason, completion.usage
    assert (content, reasoning, finish) == ("", "The user wants", "length")
    assert usage.completion_tokens == usage.completion_tokens_details.reasoning_tokens == 3


def test_ollama_client_reads_thinking_chunks_before_the_content(cloud: FakeProvider) -> None:
    cloud.script(OLLAMA_KEYS[0], stream_reply(reasoning=REASONING))
    parts = list(ollama_client(cloud).chat(model="gpt-oss:120b", messages=MESSAGES, stream=True))
    thinking = "".join(p.message.thinking or "" for p in parts)
    content = "".join(p.message.content or "" for p in parts)
    first_content = next(i for i, p in enumerate(parts) if p.message.content)
    assert (thinking, content, parts[-1].done, parts[-1].done_reason) == (REASONING, DEFAULT_TEXT, True, "stop")
    assert all(not p.message.thinking for p in parts[first_content:])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "ndjson"])
def test_ollama_client_reads_an_answer_spent_on_thinking_as_empty_and_length(cloud: FakeProvider, stream: bool) -> None:
    cloud.script(OLLAMA_KEYS[0], reply(reasoning=REASONING))
    answer = ollama_client(cloud).chat(
        model="gpt-oss:120b", messages=MESSAGES, stream=stream, options={"num_predict": 3}
    )
    parts = list(answer) if stream else [answer]
    thinking = "".join(p.message.thinking or "" for p in parts)
    content = "".join(p.message.content or "" for p in parts)
    assert (thinking, content, parts[-1].done_reason, parts[-1].eval_count) == ("The user wants", "", "length", 3)
