"""A prompt longer than a model's context is never sent there: the gate skips that target from the cached
catalogue's context length (before any round trip), the router moves on to a model with a larger context, and a
request no candidate can take fails with one message naming the estimate and the largest context."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from llmroute import ChatRequest, Router, Store, load_settings
from llmroute.errors import Cause, ErrorKind, PromptTooLarge
from llmroute.gatekeeper import (
    CHARS_PER_TOKEN,
    Gatekeeper,
    Reach,
    Skip,
    SkipKind,
    about,
    prompt_too_large,
    prompt_tokens,
)
from llmroute.keys import KeySlot
from llmroute.types import Attempt, Candidate, Message, ModelInfo, Outcome, Target
from tests.conftest import OLLAMA_KEYS, keys_env
from tests.fakes import FakeProvider
from tests.fakes.behaviours import error

SMALL = 131_072
"""The context of the small model in these tests."""


def request_of(chars: int, **options: object) -> ChatRequest:
    return ChatRequest.from_prompt("x" * chars, **options)  # type: ignore[arg-type]


@pytest.fixture
async def router(tmp_path: Path, cloud: FakeProvider) -> AsyncIterator[Router]:
    env = {
        "LLMROUTE_HOME": str(tmp_path),
        "OPENROUTER_BASE_URL": cloud.openrouter_url,
        "OLLAMA_BASE_URL": cloud.ollama_url,
        "GEMINI_BASE_URL": cloud.gemini_url,
        **keys_env(openrouter=1, ollama=2, gemini=1),
    }
    settings = load_settings(env)
    store = Store.open(settings.state_path)
    async with Router(settings, store) as router:
        yield router
    store.close()


def list_contexts(router: Router, provider: str, contexts: dict[str, int | None]) -> None:
    """The cached catalogue of ``provider``: each model with its context length."""
    rows = [ModelInfo(provider, model, context_length=length) for model, length in contexts.items()]
    router.store.replace_catalog(provider, rows, time.time())


def gate_of(router: Router) -> Gatekeeper:
    return Gatekeeper(router.settings, router.store)


def candidate(router: Router, provider: str, model: str) -> Candidate:
    slot: KeySlot = next(s for s in router.settings.all_slots() if s.provider == provider)
    return Candidate(Target(provider, model), slot)


# --- the estimate ---------------------------------------------------------------------------------------------


def test_the_estimate_counts_every_message_the_system_prompt_included() -> None:
    request = ChatRequest(messages=(Message("system", "s" * 500), Message("user", "u" * 1_000)))
    assert prompt_tokens(request) == 1_500 // CHARS_PER_TOKEN


def test_the_estimate_rounds_up_so_a_few_characters_are_a_token() -> None:
    assert prompt_tokens(request_of(1)) == 1


def test_the_estimate_stays_under_what_tokenizers_count_for_english_prose() -> None:
    # cl100k counts this sentence as 10 tokens (45 characters: 4.5 a token).
    sentence = "The quick brown fox jumps over the lazy dog. "
    assert prompt_tokens(ChatRequest.from_prompt(sentence * 1_000)) < 10 * 1_000


def test_an_estimate_is_shown_to_three_significant_figures() -> None:
    assert about(4_194_304) == "4,190,000"
    assert about(987) == "987"


# --- the gate -------------------------------------------------------------------------------------------------


async def test_a_model_listed_with_a_smaller_context_is_skipped_for_every_key_of_its_target(router: Router) -> None:
    list_contexts(router, "openrouter", {"meta-llama/llama-3.3-70b-instruct": SMALL})
    target = candidate(router, "openrouter", "meta-llama/llama-3.3-70b-instruct")
    skip = gate_of(router).check(target, request_of(20 * 2**20), time.time())
    assert skip is not None
    assert (skip.kind, skip.reach) == (SkipKind.TOO_LARGE, Reach.TARGET)
    assert skip.words() == (
        "openrouter:meta-llama/llama-3.3-70b-instruct takes 131,072 tokens; the prompt is about 4,190,000 tokens"
    )


async def test_a_prompt_that_fits_the_listed_context_is_admitted(router: Router) -> None:
    list_contexts(router, "openrouter", {"meta-llama/llama-3.3-70b-instruct": SMALL})
    target = candidate(router, "openrouter", "meta-llama/llama-3.3-70b-instruct")
    assert gate_of(router).check(target, request_of(SMALL * CHARS_PER_TOKEN), time.time()) is None


async def test_a_model_with_no_known_context_is_never_skipped_for_size(router: Router) -> None:
    list_contexts(router, "openrouter", {"meta-llama/llama-3.3-70b-instruct": None})
    target = candidate(router, "openrouter", "meta-llama/llama-3.3-70b-instruct")
    assert gate_of(router).check(target, request_of(20 * 2**20), time.time()) is None


async def test_the_room_asked_for_the_answer_counts_against_a_whole_window(router: Router) -> None:
    list_contexts(router, "openrouter", {"meta-llama/llama-3.3-70b-instruct": SMALL})
    target = candidate(router, "openrouter", "meta-llama/llama-3.3-70b-instruct")
    fits_alone = request_of((SMALL - 1_000) * CHARS_PER_TOKEN, max_tokens=2_000)
    skip = gate_of(router).check(target, fits_alone, time.time())
    assert skip is not None and skip.kind is SkipKind.TOO_LARGE
    assert "and 2,000 are asked for the answer" in skip.reason


async def test_the_room_asked_for_the_answer_does_not_count_against_an_input_limit(router: Router) -> None:
    list_contexts(router, "gemini", {"gemini-2.5-flash": SMALL})
    target = candidate(router, "gemini", "gemini-2.5-flash")
    fits_alone = request_of((SMALL - 1_000) * CHARS_PER_TOKEN, max_tokens=2_000)
    assert gate_of(router).check(target, fits_alone, time.time()) is None


async def test_a_short_prompt_reads_no_catalogue(router: Router, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_read(*args: object) -> None:
        raise AssertionError("the catalogue was read for a short prompt")

    monkeypatch.setattr(router.store, "catalog_model", no_read)
    target = candidate(router, "openrouter", "meta-llama/llama-3.3-70b-instruct")
    assert gate_of(router).check(target, ChatRequest.from_prompt("hi"), time.time()) is None


# --- the failure ----------------------------------------------------------------------------------------------


def size_skip(router: Router, provider: str, model: str, context: int, chars: int = 20 * 2**20) -> Skip:
    list_contexts(router, provider, {model: context})
    skip = gate_of(router).check(candidate(router, provider, model), request_of(chars), time.time())
    assert skip is not None
    return skip


async def test_a_request_every_candidate_is_too_small_for_names_the_estimate_and_the_largest_context(
    router: Router,
) -> None:
    skips = [
        size_skip(router, "ollama", "kimi-k2.6", 65_536),
        size_skip(router, "openrouter", "moonshotai/kimi-k2.6", 262_144),
    ]
    failure = prompt_too_large(skips, [])
    assert isinstance(failure, PromptTooLarge)
    assert (failure.tokens, failure.context) == (4_194_304, 262_144)
    assert str(failure).startswith(
        "the prompt is about 4,190,000 tokens, more than any candidate model takes "
        "(the largest, openrouter:moonshotai/kimi-k2.6, takes 262,144)"
    )


async def test_a_candidate_held_for_another_reason_is_not_a_size_failure(router: Router) -> None:
    held = Skip(candidate(router, "openrouter", "x/y"), SkipKind.RATE_LIMIT, "key K", "is at 1 call a minute", 1.0)
    assert prompt_too_large([size_skip(router, "ollama", "kimi-k2.6", 65_536), held], []) is None


async def test_an_attempt_that_failed_for_another_reason_is_not_a_size_failure(router: Router) -> None:
    failed = Attempt("openrouter", "x/y", "K", "sk...", Outcome.FAILED, ErrorKind.SERVER, 500)
    assert prompt_too_large([size_skip(router, "ollama", "kimi-k2.6", 65_536)], [failed]) is None


async def test_an_attempt_refused_for_its_context_still_is_a_size_failure(router: Router) -> None:
    refused = Attempt(
        "openrouter", "x/y", "K", "sk...", Outcome.FAILED, ErrorKind.BAD_REQUEST, 400, Cause.CONTEXT_LENGTH
    )
    failure = prompt_too_large([size_skip(router, "ollama", "kimi-k2.6", 65_536)], [refused])
    assert isinstance(failure, PromptTooLarge)
    assert "1 tried said so too" in str(failure)


# --- the router -----------------------------------------------------------------------------------------------


async def test_the_router_fails_over_to_a_target_with_a_larger_context_without_contacting_the_small_one(
    router: Router, cloud: FakeProvider
) -> None:
    list_contexts(router, "ollama", {"kimi-k2.6": 8_192})
    list_contexts(router, "openrouter", {"moonshotai/kimi-k2.6": 262_144})
    result = await router.complete(request_of(200_000, model="kimi-k2.6"))
    assert result.provider == "openrouter"
    assert [r.wire for r in cloud.chat_requests] == ["openrouter"]


async def test_a_context_length_error_moves_on_to_another_provider_and_never_to_the_same_target(
    router: Router, cloud: FakeProvider
) -> None:
    too_long = {"error": "the input length exceeds the context length"}
    for key in OLLAMA_KEYS[:2]:
        cloud.script(key, error(400, too_long))
    result = await router.complete(request_of(100, model="kimi-k2.6"))
    assert result.provider == "openrouter"
    assert [r.wire for r in cloud.chat_requests] == ["ollama", "openrouter"]
    assert result.attempts[0].cause is Cause.CONTEXT_LENGTH


async def test_a_request_too_large_for_every_candidate_is_refused_before_any_request(
    router: Router, cloud: FakeProvider
) -> None:
    list_contexts(router, "ollama", {"kimi-k2.6": 8_192})
    list_contexts(router, "openrouter", {"moonshotai/kimi-k2.6": SMALL})
    with pytest.raises(PromptTooLarge, match=r"the largest, openrouter:moonshotai/kimi-k2\.6, takes 131,072"):
        await router.complete(request_of(20 * 2**20, model="kimi-k2.6"))
    assert not cloud.chat_requests
    assert router.store.attempts() == []
