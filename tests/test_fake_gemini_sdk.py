"""The fake Gemini API, read by Google's official ``google-genai`` SDK.

The SDK is the oracle: if it parses the fake's answers, streams and errors the way it parses the real
service's (answers into ``GenerateContentResponse``, a 429 into ``errors.ClientError`` with the Google error
details, a blocked prompt into ``prompt_feedback``), adapter tests that trust the fake are not testing a
private dialect. The SDK is pointed at the fake with ``HttpOptions(base_url=..., api_version="v1beta")``:
it joins ``{base_url}/{api_version}/models/{model}:generateContent``, so its ``base_url`` is the fake's
``/gemini`` mount point (``fake.gemini_url`` without ``/v1beta``). Some wire facts the SDK hides (CRLF,
no terminator, the ``?key=`` form, strict field names) are checked with plain ``httpx``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes import (
    DEFAULT_GEMINI_MODELS,
    DEFAULT_TEXT,
    GEMINI_EMBEDDING_MODEL,
    GM_NO_KEY,
    FakeProvider,
    gm_400_key_invalid,
    gm_429_limit_zero,
    gm_429_per_day,
    gm_429_per_minute,
    gm_500,
    gm_503,
    gm_blocked,
    gm_wrapped,
    reply,
    stream_reply,
)

KEY = "AIzaSyF4k3-G3m1n1-k3y_" + "Q7x" * 6
OTHER_KEY = "AIzaSyN0t-Kn0wn-t0-th3-f4k3-" + "Z" * 11
MODEL = "gemini-2.5-flash"
PROMPT = "say hello please"
CHAT_PATH = f"/gemini/v1beta/models/{MODEL}:generateContent"
STREAM_PATH = f"/gemini/v1beta/models/{MODEL}:streamGenerateContent"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(keys={KEY: "gemini"}) as provider:
        yield provider
    assert provider.errors == []


_OPEN: list[genai.Client] = []
"""Clients made by :func:`client`, kept alive until the test ends (a collected ``genai.Client`` closes its
HTTP client, which would break ``client(fake).models.generate_content(...)``)."""


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def client(fake: FakeProvider, key: str = KEY) -> genai.Client:
    options = types.HttpOptions(base_url=fake.gemini_url.removesuffix("/v1beta"), api_version="v1beta")
    _OPEN.append(genai.Client(api_key=key, http_options=options))
    return _OPEN[-1]


def details(exc: errors.APIError, type_url: str) -> list[dict[str, Any]]:
    """The Google error details of one ``@type`` (the SDK keeps the whole body in ``details``)."""
    body = exc.details["error"]
    return [d for d in body.get("details", []) if d.get("@type") == type_url]


def no_retry() -> types.GenerateContentConfig:
    return types.GenerateContentConfig(http_options=types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1)))


# --- answers -------------------------------------------------------------------------------------------


def test_the_sdk_parses_a_single_answer(fake: FakeProvider) -> None:
    answer = client(fake).models.generate_content(model=MODEL, contents=PROMPT)
    assert answer.text == DEFAULT_TEXT and answer.model_version == MODEL and answer.response_id
    assert answer.candidates is not None and answer.candidates[0].finish_reason == types.FinishReason.STOP
    usage = answer.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (3, 5, 8)
    (sent,) = fake.requests_to(CHAT_PATH)
    assert sent.headers["x-goog-api-key"] == KEY and sent.bearer == KEY and sent.query == ""
    assert fake.keys_in_urls == []


def test_the_sdk_reads_the_stream_chunk_by_chunk_with_cumulative_usage(fake: FakeProvider) -> None:
    chunks = list(client(fake).models.generate_content_stream(model=MODEL, contents=PROMPT))
    assert "".join(c.text or "" for c in chunks) == DEFAULT_TEXT and len(chunks) == 5
    finishes = [c.candidates[0].finish_reason if c.candidates else None for c in chunks]
    assert finishes == [None, None, None, None, types.FinishReason.STOP]
    counts = [c.usage_metadata.candidates_token_count for c in chunks if c.usage_metadata]
    assert counts == [1, 2, 3, 4, 5]  # cumulative: the last is the whole answer's
    assert all(c.usage_metadata and c.usage_metadata.prompt_token_count == 3 for c in chunks)
    (sent,) = fake.requests_to(STREAM_PATH)
    assert sent.query == "alt=sse" and fake.keys_in_urls == []


def test_the_stream_is_sse_with_crlf_and_no_terminator(fake: FakeProvider) -> None:
    response = httpx.post(
        f"{fake.gemini_url}/models/{MODEL}:streamGenerateContent?alt=sse",
        headers={"x-goog-api-key": KEY},
        json={"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
    events = response.content.split(b"\r\n\r\n")
    assert events[-1] == b"" and all(e.startswith(b"data: {") for e in events[:-1])
    assert b"[DONE]" not in response.content and b"\n\n" not in response.content
    last = json.loads(events[-2].removeprefix(b"data: "))
    assert last["candidates"][0]["finishReason"] == "STOP" and last["usageMetadata"]["candidatesTokenCount"] == 5


def test_without_alt_sse_the_stream_is_one_json_array(fake: FakeProvider) -> None:
    response = httpx.post(
        f"{fake.gemini_url}/models/{MODEL}:streamGenerateContent",
        headers={"x-goog-api-key": KEY},
        json={"contents": [{"parts": [{"text": PROMPT}]}]},
    )
    chunks = response.json()
    assert isinstance(chunks, list) and len(chunks) == 5
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == DEFAULT_TEXT


def test_system_instruction_and_generation_config_pass_the_fakes_strict_field_check(fake: FakeProvider) -> None:
    config = types.GenerateContentConfig(
        system_instruction="You are terse.", temperature=0.2, max_output_tokens=2, stop_sequences=["\n\n"]
    )
    answer = client(fake).models.generate_content(model=MODEL, contents=PROMPT, config=config)
    assert answer.text == "Hello from" and answer.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    body = fake.requests_to(CHAT_PATH)[0].body
    assert body["systemInstruction"]["parts"] == [{"text": "You are terse."}]
    assert body["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 2, "stopSequences": ["\n\n"]}


@pytest.mark.parametrize("stream", [False, True], ids=["single", "stream"])
def test_thought_summaries_come_only_when_asked(fake: FakeProvider, stream: bool) -> None:
    fake.script(KEY, reply("Four.", reasoning="two plus two is four"), reply("Four.", reasoning="two plus two is four"))
    sdk = client(fake)
    asked = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
    for config, shown in ((None, ""), (asked, "two plus two is four")):
        if stream:
            chunks = list(sdk.models.generate_content_stream(model=MODEL, contents="2+2?", config=config))
        else:
            chunks = [sdk.models.generate_content(model=MODEL, contents="2+2?", config=config)]
        parts = [p for c in chunks if c.candidates for p in (c.candidates[0].content.parts or [])]
        assert "".join(p.text or "" for p in parts if p.thought) == shown
        assert "".join(c.text or "" for c in chunks) == "Four."  # the SDK's .text leaves thoughts out
        usage = chunks[-1].usage_metadata
        assert usage is not None and (usage.thoughts_token_count, usage.candidates_token_count) == (5, 1)
        assert usage.total_token_count == 1 + 1 + 5


def test_a_scripted_finish_reason_is_sent_as_given(fake: FakeProvider) -> None:
    fake.script(KEY, stream_reply("partial", finish_reason="SAFETY"))
    chunks = list(client(fake).models.generate_content_stream(model=MODEL, contents=PROMPT))
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.SAFETY


# --- a prompt blocked by the safety filters ------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["single", "stream"])
def test_a_blocked_prompt_has_feedback_and_no_candidates(fake: FakeProvider, stream: bool) -> None:
    fake.script(KEY, gm_blocked(stream=stream))
    sdk = client(fake)
    if stream:
        (answer,) = list(sdk.models.generate_content_stream(model=MODEL, contents=PROMPT))
    else:
        answer = sdk.models.generate_content(model=MODEL, contents=PROMPT)
    assert answer.candidates is None and answer.text is None
    assert answer.prompt_feedback is not None and answer.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    assert answer.prompt_feedback.safety_ratings


# --- errors --------------------------------------------------------------------------------------------


def test_a_per_minute_429_is_a_client_error_with_retry_info_and_the_quota(fake: FakeProvider) -> None:
    fake.script(KEY, gm_429_per_minute(delay="37s"))
    with pytest.raises(errors.ClientError) as caught:
        client(fake).models.generate_content(model=MODEL, contents=PROMPT, config=no_retry())
    exc = caught.value
    assert (exc.code, exc.status) == (429, "RESOURCE_EXHAUSTED") and exc.message.startswith("You exceeded your current")
    assert [d["retryDelay"] for d in details(exc, RETRY_INFO)] == ["37s"]
    (quota,) = details(exc, QUOTA_FAILURE)
    assert quota["violations"][0]["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    assert quota["violations"][0]["quotaDimensions"]["model"] == MODEL
    assert "retry-after" not in exc.response.headers  # the wait lives only in RetryInfo


@pytest.mark.parametrize(
    ("behaviour", "quota_id", "limit"),
    [
        (gm_429_per_day(), "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "20"),
        (gm_429_limit_zero(), "GenerateContentInputTokensPerModelPerMinute-FreeTier", "0"),
    ],
    ids=["per-day", "limit-zero"],
)
def test_other_quota_429s_carry_their_quota_id(fake: FakeProvider, behaviour: Any, quota_id: str, limit: str) -> None:
    fake.script(KEY, behaviour)
    with pytest.raises(errors.ClientError) as caught:
        list(client(fake).models.generate_content_stream(model=MODEL, contents=PROMPT, config=no_retry()))
    violation = details(caught.value, QUOTA_FAILURE)[0]["violations"][0]
    assert (violation["quotaId"], violation["quotaValue"]) == (quota_id, limit)
    assert f"limit: {limit}," in caught.value.message


def test_the_array_form_of_an_error_is_unwrapped_by_the_sdk(fake: FakeProvider) -> None:
    fake.script(KEY, gm_wrapped(gm_429_per_minute()))
    with pytest.raises(errors.ClientError) as caught:
        client(fake).models.generate_content(model=MODEL, contents=PROMPT, config=no_retry())
    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")


def test_an_unknown_key_is_a_400_api_key_invalid(fake: FakeProvider) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client(fake, OTHER_KEY).models.generate_content(model=MODEL, contents=PROMPT)
    exc = caught.value
    assert (exc.code, exc.status, exc.message) == (
        400,
        "INVALID_ARGUMENT",
        gm_400_key_invalid().json["error"]["message"],
    )
    reasons = [d.get("reason") for d in exc.details["error"]["details"]]
    assert "API_KEY_INVALID" in reasons
    assert fake.requests[0].bearer == OTHER_KEY


def test_an_unknown_model_is_a_404(fake: FakeProvider) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client(fake).models.generate_content(model="gemini-9-ultra", contents=PROMPT)
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    assert caught.value.message.startswith("models/gemini-9-ultra is not found for API version v1beta")


@pytest.mark.parametrize(("behaviour", "code", "status"), [(gm_500(), 500, "INTERNAL"), (gm_503(), 503, "UNAVAILABLE")])
def test_server_errors_are_server_errors(fake: FakeProvider, behaviour: Any, code: int, status: str) -> None:
    fake.script(KEY, behaviour)
    with pytest.raises(errors.ServerError) as caught:
        client(fake).models.generate_content(model=MODEL, contents=PROMPT, config=no_retry())
    assert (caught.value.code, caught.value.status) == (code, status)


def test_an_error_mid_stream_is_raised_by_the_sdk_after_the_text(fake: FakeProvider) -> None:
    fake.script(KEY, stream_reply("one two three four", error_after_tokens=2))
    seen: list[str] = []
    with pytest.raises(errors.ServerError) as caught:
        for chunk in client(fake).models.generate_content_stream(model=MODEL, contents=PROMPT):
            seen.append(chunk.text or "")
    assert "".join(seen) == "one two" and (caught.value.code, caught.value.status) == (500, "INTERNAL")


def test_a_request_without_a_key_is_refused_as_unregistered(fake: FakeProvider) -> None:
    response = httpx.post(f"{fake.gemini_url}/models/{MODEL}:generateContent", json={"contents": []})
    assert response.status_code == 403
    assert response.json()["error"] == {"code": 403, "message": GM_NO_KEY, "status": "PERMISSION_DENIED"}


def test_a_key_in_the_url_is_accepted_and_recorded(fake: FakeProvider) -> None:
    response = httpx.post(
        f"{fake.gemini_url}/models/{MODEL}:generateContent",
        params={"key": KEY},
        json={"contents": [{"parts": [{"text": PROMPT}]}]},
    )
    assert response.status_code == 200 and response.json()["candidates"][0]["content"]["parts"][0]["text"]
    (leaky,) = fake.keys_in_urls
    assert leaky.bearer == KEY and leaky.headers.get("x-goog-api-key") is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, 'Unknown name "messages": Cannot find field.'),
        (
            {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"max_tokens": 5}},
            "Unknown name \"max_tokens\" at 'generation_config': Cannot find field.",
        ),
        ({}, "* GenerateContentRequest.contents: contents is not specified\n"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]}, "Please use a valid role: user, model."),
        ({"contents": [{"role": "user", "parts": []}]}, "contents.parts must not be empty"),
    ],
    ids=["openai-body", "openai-config-field", "no-contents", "assistant-role", "no-parts"],
)
def test_the_fake_is_strict_about_the_request(fake: FakeProvider, body: dict[str, Any], message: str) -> None:
    response = httpx.post(
        f"{fake.gemini_url}/models/{MODEL}:generateContent", headers={"x-goog-api-key": KEY}, json=body
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and message in error["message"]


def test_an_unknown_route_is_googles_html_404(fake: FakeProvider) -> None:
    response = httpx.get(f"{fake.gemini_url}/nothing-here", headers={"x-goog-api-key": KEY})
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert b"<code>/v1beta/nothing-here</code> was not found on this server" in response.content


# --- the catalogue -------------------------------------------------------------------------------------


def test_the_sdk_pages_through_the_catalogue(fake: FakeProvider) -> None:
    models = list(client(fake).models.list(config={"page_size": 2}))
    assert [m.name for m in models] == [f"models/{m}" for m in [*sorted(DEFAULT_GEMINI_MODELS), GEMINI_EMBEDDING_MODEL]]
    flash = next(m for m in models if m.name == f"models/{MODEL}")
    assert flash.input_token_limit == 1_048_576 and "generateContent" in (flash.supported_actions or [])
    embedding = models[-1]
    assert "generateContent" not in (embedding.supported_actions or [])
    pages = fake.requests_to("/gemini/v1beta/models")
    assert [p.query.split("&")[0] for p in pages] == ["pageSize=2", "pageSize=2"]
    assert client(fake).models.get(model=MODEL).display_name == "Gemini 2.5 Flash"


def test_gemini_models_choose_what_the_fake_serves() -> None:
    with FakeProvider(keys={KEY: "g"}, gemini_models={"gemini-3-pro-preview"}) as other:
        assert client(other).models.generate_content(model="gemini-3-pro-preview", contents=PROMPT).text
        with pytest.raises(errors.ClientError):
            client(other).models.generate_content(model=MODEL, contents=PROMPT)
        assert other.errors == []


def test_a_model_queue_takes_the_model_from_the_path(fake: FakeProvider) -> None:
    fake.script(KEY, gm_429_limit_zero(model="gemini-2.5-pro"), model="gemini-2.5-pro")
    sdk = client(fake)
    assert sdk.models.generate_content(model=MODEL, contents=PROMPT).text == DEFAULT_TEXT
    with pytest.raises(errors.ClientError):
        sdk.models.generate_content(model="gemini-2.5-pro", contents=PROMPT, config=no_retry())
    assert fake.remaining(KEY, model="gemini-2.5-pro") == 0
