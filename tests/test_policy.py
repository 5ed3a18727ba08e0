from __future__ import annotations

import pytest

from llmroute.errors import ErrorKind
from llmroute.policy import ACTIONS, KeyEffect, RequestEffect, action_for, cooldown_until


def test_every_error_kind_has_an_action() -> None:
    assert set(ACTIONS) == set(ErrorKind)


@pytest.mark.parametrize(
    ("kind", "key", "request_effect"),
    [
        (ErrorKind.RATE_LIMITED, KeyEffect.COOL, RequestEffect.NEXT_CANDIDATE),
        (ErrorKind.QUOTA, KeyEffect.COOL, RequestEffect.NEXT_CANDIDATE),
        (ErrorKind.AUTH, KeyEffect.DISABLE, RequestEffect.NEXT_CANDIDATE),
        (ErrorKind.MODEL_NOT_FOUND, KeyEffect.NONE, RequestEffect.NEXT_PROVIDER),
        (ErrorKind.BAD_REQUEST, KeyEffect.NONE, RequestEffect.STOP),
        (ErrorKind.SERVER, KeyEffect.COOL, RequestEffect.NEXT_CANDIDATE),
        (ErrorKind.OVERLOADED, KeyEffect.COOL, RequestEffect.NEXT_CANDIDATE),
        (ErrorKind.BAD_RESPONSE, KeyEffect.NONE, RequestEffect.NEXT_CANDIDATE),
    ],
)
def test_failure_table(kind: ErrorKind, key: KeyEffect, request_effect: RequestEffect) -> None:
    action = action_for(kind)
    assert (action.key, action.request) == (key, request_effect)


def test_only_transport_failures_retry_the_same_target() -> None:
    assert {k for k, a in ACTIONS.items() if a.retry_same} == {ErrorKind.TIMEOUT, ErrorKind.CONNECTION}


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
