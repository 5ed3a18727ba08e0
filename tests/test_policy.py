"""The failure table: for each kind and cause, what it affects (its scope), what happens there, what the request does."""

from __future__ import annotations

import pytest

from llmroute.errors import Cause, ErrorKind
from llmroute.policy import (
    ACTIONS,
    BREAKER_KINDS,
    KeyEffect,
    RequestEffect,
    StateScope,
    action_for,
    cooldown_until,
    is_free_model,
    model_class,
)


def test_every_error_kind_has_an_action_without_a_cause() -> None:
    assert {kind for kind, cause in ACTIONS if cause is None} == set(ErrorKind)


@pytest.mark.parametrize(
    ("kind", "cause", "key", "scope", "request_effect"),
    [
        (ErrorKind.RATE_LIMITED, None, KeyEffect.COOL, StateScope.KEY, RequestEffect.NEXT_CANDIDATE),
        (
            ErrorKind.RATE_LIMITED,
            Cause.FREE_MODELS,
            KeyEffect.COOL,
            StateScope.POOL_CLASS,
            RequestEffect.NEXT_CANDIDATE,
        ),
        (ErrorKind.QUOTA, None, KeyEffect.COOL, StateScope.POOL, RequestEffect.NEXT_CANDIDATE),
        (ErrorKind.QUOTA, Cause.FREE_MODELS, KeyEffect.COOL, StateScope.POOL_CLASS, RequestEffect.NEXT_CANDIDATE),
        (ErrorKind.RATE_LIMITED, Cause.REQUEST_SIZE, KeyEffect.NONE, StateScope.KEY, RequestEffect.NEXT_CANDIDATE),
        (ErrorKind.BAD_REQUEST, Cause.CONTENT_FILTER, KeyEffect.NONE, StateScope.KEY, RequestEffect.NEXT_PROVIDER),
        (
            ErrorKind.RATE_LIMITED,
            Cause.MODEL_QUOTA,
            KeyEffect.COOL,
            StateScope.POOL_MODEL,
            RequestEffect.NEXT_CANDIDATE,
        ),
        (ErrorKind.QUOTA, Cause.MODEL_QUOTA, KeyEffect.COOL, StateScope.POOL_MODEL, RequestEffect.NEXT_CANDIDATE),
        (
            ErrorKind.QUOTA,
            Cause.MODEL_ACCESS,
            KeyEffect.UNAVAILABLE,
            StateScope.POOL_MODEL,
            RequestEffect.NEXT_CANDIDATE,
        ),
        (ErrorKind.AUTH, None, KeyEffect.DISABLE, StateScope.KEY, RequestEffect.NEXT_CANDIDATE),
        (
            ErrorKind.AUTH,
            Cause.MODEL_ACCESS,
            KeyEffect.UNAVAILABLE,
            StateScope.POOL_MODEL,
            RequestEffect.NEXT_CANDIDATE,
        ),
        (ErrorKind.AUTH, Cause.CLOUD_MODEL, KeyEffect.UNAVAILABLE, StateScope.KEY_MODEL, RequestEffect.NEXT_CANDIDATE),
        (ErrorKind.MODEL_NOT_FOUND, None, KeyEffect.UNAVAILABLE, StateScope.MODEL, RequestEffect.NEXT_PROVIDER),
        (ErrorKind.BAD_REQUEST, None, KeyEffect.NONE, StateScope.KEY, RequestEffect.STOP),
        (ErrorKind.CONNECTION, None, KeyEffect.COOL, StateScope.KEY, RequestEffect.NEXT_CANDIDATE),
        (ErrorKind.CONNECTION, Cause.UNREACHABLE, KeyEffect.COOL, StateScope.ENDPOINT, RequestEffect.NEXT_PROVIDER),
        (ErrorKind.SERVER, None, KeyEffect.COOL, StateScope.KEY, RequestEffect.NEXT_CANDIDATE),
        (ErrorKind.OVERLOADED, None, KeyEffect.COOL, StateScope.KEY, RequestEffect.NEXT_CANDIDATE),
        (ErrorKind.BAD_RESPONSE, None, KeyEffect.NONE, StateScope.KEY, RequestEffect.NEXT_CANDIDATE),
    ],
)
def test_failure_table(
    kind: ErrorKind, cause: Cause | None, key: KeyEffect, scope: StateScope, request_effect: RequestEffect
) -> None:
    action = action_for(kind, cause)
    assert (action.key, action.scope, action.request) == (key, scope, request_effect)


def test_a_cause_the_table_does_not_single_out_acts_as_its_kind() -> None:
    assert action_for(ErrorKind.SERVER, Cause.FREE_MODELS) == action_for(ErrorKind.SERVER)


def test_a_refused_connection_cools_briefly() -> None:
    action = action_for(ErrorKind.CONNECTION, Cause.UNREACHABLE)
    assert cooldown_until(action, now=0.0, retry_at=None, consecutive_failures=1) == 5.0
    assert cooldown_until(action, now=0.0, retry_at=None, consecutive_failures=9) == 60.0


def test_a_local_daemon_lacking_a_model_is_asked_again_after_a_minute_not_after_a_catalogue_refresh() -> None:
    action = action_for(ErrorKind.MODEL_NOT_FOUND, local=True)
    assert (action.key, action.scope) == (KeyEffect.COOL, StateScope.MODEL)
    assert cooldown_until(action, now=0.0, retry_at=None, consecutive_failures=3) == 60.0
    assert action_for(ErrorKind.AUTH, Cause.CLOUD_MODEL, local=True).key is KeyEffect.COOL


def test_only_provider_side_failures_count_towards_the_breaker() -> None:
    assert set(BREAKER_KINDS) == {"server", "overloaded", "timeout", "connection", "bad_response"}


def test_only_transport_failures_retry_the_same_target() -> None:
    assert {k for (k, _), a in ACTIONS.items() if a.retry_same} == {ErrorKind.TIMEOUT, ErrorKind.CONNECTION}


def test_free_variants_and_the_free_router_are_free_models() -> None:
    assert is_free_model("meta-llama/llama-3.3-70b-instruct:free") and is_free_model("openrouter/free")
    assert not is_free_model("openai/gpt-4o-mini") and model_class("openai/gpt-4o-mini") is None
    assert model_class("qwen/qwen3-coder:free") == "free"


def test_provider_hint_in_the_future_wins() -> None:
    action = action_for(ErrorKind.RATE_LIMITED)
    assert cooldown_until(action, now=1000.0, retry_at=1500.0, consecutive_failures=1) == 1500.0


def test_hint_in_the_past_falls_back_to_the_default() -> None:
    action = action_for(ErrorKind.RATE_LIMITED)
    assert cooldown_until(action, now=1000.0, retry_at=900.0, consecutive_failures=1) == 1060.0


def test_default_cooldown_doubles_on_repeats_and_is_capped() -> None:
    action = action_for(ErrorKind.RATE_LIMITED)
    waits = [cooldown_until(action, now=0.0, retry_at=None, consecutive_failures=n) for n in (1, 2, 3, 50)]
    assert waits == [60.0, 120.0, 240.0, 3600.0]


def test_a_prompt_longer_than_the_context_moves_on_to_another_provider_and_touches_no_key() -> None:
    action = action_for(ErrorKind.BAD_REQUEST, Cause.CONTEXT_LENGTH)
    assert (action.key, action.request, action.retry_same, action.breaker) == (
        KeyEffect.NONE,
        RequestEffect.NEXT_PROVIDER,
        False,
        False,
    )
