"""The native-wire providers end to end: the real CLI against the strict fakes of the Anthropic Messages API and
Google's Gemini API on 127.0.0.1: answers, typed stream errors, Gemini's per-model quotas across processes, and a
Gemini key that never travels in a URL."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from llmroute.cli.failures import ExitStatus
from llmroute.store import Store
from tests.conftest import ANTHROPIC_KEYS, AWS_ACCESS_KEY_IDS, GEMINI_KEYS, Cli, keys_env
from tests.fakes import (
    DEFAULT_TEXT,
    FakeProvider,
    an_stream_error,
    br_corrupt_crc,
    br_throttling,
    gm_429_per_day,
    gm_429_per_minute,
)

ANSWER = DEFAULT_TEXT + "\n"
CLAUDE = "anthropic:claude-haiku-4-5"
HAIKU_ON_BEDROCK = "bedrock:anthropic.claude-3-5-haiku-20241022-v1:0"
FLASH, PRO = "gemini-2.5-flash", "gemini-2.5-pro"


def holds(cli: Cli):
    store = Store.open(cli.home / "state.db")
    try:
        return store.all_holds()
    finally:
        store.close()


def chats(cloud: FakeProvider, wire: str) -> list[str | None]:
    return [r.bearer for r in cloud.chat_requests if r.wire == wire]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not streamed"])
@pytest.mark.parametrize(
    ("spec", "keys", "wire"),
    [(CLAUDE, {"anthropic": 1}, "anthropic"), (f"gemini:{FLASH}", {"gemini": 1}, "gemini")],
    ids=["anthropic", "gemini"],
)
def test_each_native_provider_answers(
    cli: Cli, cloud: FakeProvider, spec: str, keys: dict[str, int], wire: str, stream: bool
) -> None:
    args = ["chat", "--json", "-s", "Be brief.", "-m", spec, "hi"] + ([] if stream else ["--no-stream"])
    result = cli(*args, **keys_env(**keys))
    assert result.code == ExitStatus.OK, result.stderr
    document = json.loads(result.stdout)
    assert document["text"] == DEFAULT_TEXT and document["provider"] == wire
    assert document["usage"]["input_tokens"] and document["usage"]["output_tokens"]
    (request,) = cloud.chat_requests
    assert request.wire == wire
    if wire == "anthropic":
        assert request.body["system"] == "Be brief." and request.body["max_tokens"] > 0
        assert request.headers["x-api-key"] == ANTHROPIC_KEYS[0]
    else:
        assert request.body["systemInstruction"]["parts"][0]["text"] == "Be brief."
        assert request.headers["x-goog-api-key"] == GEMINI_KEYS[0]
    assert cloud.keys_in_urls == [], "no key travelled in a URL"


def test_an_anthropic_error_event_before_any_text_fails_over(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(ANTHROPIC_KEYS[0], an_stream_error())
    result = cli("chat", "-m", CLAUDE, "hi", **keys_env(anthropic=2))
    assert (result.code, result.stdout) == (ExitStatus.OK, ANSWER), result.stderr
    assert chats(cloud, "anthropic") == ANTHROPIC_KEYS[:2]


def test_an_anthropic_error_event_after_text_ends_with_the_stream_broken_code(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(ANTHROPIC_KEYS[0], an_stream_error(after_tokens=2))
    result = cli("chat", "-m", CLAUDE, "hi", **keys_env(anthropic=2))
    assert result.code == ExitStatus.STREAM_BROKEN and result.stdout and result.stdout.strip() != DEFAULT_TEXT
    assert "overloaded" in result.stderr.lower() and chats(cloud, "anthropic") == ANTHROPIC_KEYS[:1]


def test_a_gemini_per_minute_429_waits_exactly_its_retry_delay_for_that_model_only(
    cli: Cli, cloud: FakeProvider
) -> None:
    cloud.script(GEMINI_KEYS[0], gm_429_per_minute(delay="37s", model=FLASH), model=FLASH)
    env = keys_env(gemini=1)
    started = time.time()
    assert cli("chat", "-m", f"gemini:{FLASH}", "hi", **env).code == ExitStatus.LIMITED
    ended = time.time()
    (hold,) = holds(cli)
    assert (hold.scope, hold.model) == ("pool_model", FLASH), "the quota counts per project and model"
    assert started + 37 - 1 <= (hold.cooldown_until or 0) <= ended + 37 + 1, "exactly the stated delay"
    again = cli("chat", "-m", f"gemini:{FLASH}", "hi", **env)
    assert again.code == ExitStatus.LIMITED and len(chats(cloud, "gemini")) == 1, "the next process waits too"
    other = cli("chat", "-m", f"gemini:{PRO}", "hi", **env)
    assert (other.code, other.stdout) == (ExitStatus.OK, ANSWER), "another model of the project answers"


def test_a_gemini_per_day_429_cools_that_model_until_midnight_pacific(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(GEMINI_KEYS[0], gm_429_per_day(model=FLASH), model=FLASH)
    env = keys_env(gemini=1)
    assert cli("chat", "-m", f"gemini:{FLASH}", "hi", **env).code == ExitStatus.LIMITED
    pacific = datetime.now(ZoneInfo("America/Los_Angeles"))
    midnight = (pacific + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    (hold,) = holds(cli)
    assert (hold.scope, hold.model, hold.error_kind) == ("pool_model", FLASH, "quota")
    assert abs((hold.cooldown_until or 0) - midnight.timestamp()) < 2
    assert cli("chat", "-m", f"gemini:{FLASH}", "hi", **env).code == ExitStatus.LIMITED
    assert len(chats(cloud, "gemini")) == 1 and cloud.keys_in_urls == []


def test_test_keys_proves_anthropic_and_gemini_keys_without_inference(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("test-keys", "--json", **keys_env(anthropic=1, gemini=1))
    assert result.code == ExitStatus.OK, result.stdout + result.stderr
    verdicts = {k["label"]: k["verdict"] for k in json.loads(result.stdout)["keys"]}
    assert verdicts == {"ANTHROPIC_API_KEY": "ok", "GEMINI_API_KEY": "ok"}
    assert cloud.chat_requests == [] and cloud.keys_in_urls == []


def test_the_claude_sonnet_alias_reaches_anthropic_first(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "-m", "claude-sonnet", "hi", **keys_env(anthropic=1, openrouter=1))
    assert result.code == ExitStatus.OK, result.stderr
    (request,) = cloud.chat_requests
    assert request.wire == "anthropic" and request.body["model"] == "claude-sonnet-4-5"


def bedrock_chats(cloud: FakeProvider) -> list[str]:
    return [r.path for r in cloud.requests if r.path.startswith("/bedrock/model/")]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not streamed"])
def test_bedrock_answers_a_sigv4_signed_request(cli: Cli, cloud: FakeProvider, stream: bool) -> None:
    args = ["chat", "--json", "-m", HAIKU_ON_BEDROCK, "hi"] + ([] if stream else ["--no-stream"])
    result = cli(*args, **keys_env(bedrock=1))
    assert result.code == ExitStatus.OK, result.stderr
    document = json.loads(result.stdout)
    assert document["text"] == DEFAULT_TEXT and document["provider"] == "bedrock"
    (path,) = bedrock_chats(cloud)
    suffix = "converse-stream" if stream else "converse"
    assert path == f"/bedrock/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/{suffix}", "the colon signed encoded"
    assert document["usage"]["input_tokens"] and document["usage"]["output_tokens"]


def test_a_bedrock_stream_with_a_corrupted_crc_is_a_classified_bad_response(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(AWS_ACCESS_KEY_IDS[0], br_corrupt_crc(after_tokens=0))
    result = cli("chat", "-m", HAIKU_ON_BEDROCK, "hi", **keys_env(bedrock=1))
    assert result.code == ExitStatus.ALL_FAILED and result.stdout == ""
    assert "malformed event stream: message checksum mismatch" in result.stderr


def test_bedrock_throttling_fails_over_to_the_next_credential(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(AWS_ACCESS_KEY_IDS[0], br_throttling())
    result = cli("chat", "-v", "-m", HAIKU_ON_BEDROCK, "hi", **keys_env(bedrock=2))
    assert (result.code, result.stdout) == (ExitStatus.OK, ANSWER), result.stderr
    assert len(bedrock_chats(cloud)) == 2 and "ThrottlingException" in result.stderr


def test_test_keys_proves_a_bedrock_credential_without_inference(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("test-keys", "--json", "--provider", "bedrock", **keys_env(bedrock=1))
    assert result.code == ExitStatus.OK, result.stdout + result.stderr
    (key,) = json.loads(result.stdout)["keys"]
    assert key["verdict"] == "ok" and bedrock_chats(cloud) == []
