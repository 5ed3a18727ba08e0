"""An option a provider's wire cannot carry (a seed on Anthropic) is never dropped on the way: that provider is
skipped, and a request no candidate can carry is refused before anything is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from llmroute import ChatRequest, Router, Store, load_settings
from llmroute.errors import RequestRejected
from tests.conftest import keys_env
from tests.fakes import FakeProvider


@pytest.fixture
async def router(tmp_path: Path, cloud: FakeProvider) -> AsyncIterator[Router]:
    env = {
        "LLMROUTE_HOME": str(tmp_path),
        "OPENROUTER_BASE_URL": cloud.openrouter_url,
        "ANTHROPIC_BASE_URL": cloud.anthropic_url,
        **keys_env(openrouter=1, anthropic=1),
    }
    settings = load_settings(env)
    store = Store.open(settings.state_path)
    async with Router(settings, store) as router:
        yield router
    store.close()


async def test_a_seed_skips_the_provider_that_has_none_and_the_next_one_answers_with_it(
    router: Router, cloud: FakeProvider
) -> None:
    cloud.models = cloud.models | {"anthropic/claude-sonnet-4.5"}
    result = await router.complete(ChatRequest.from_prompt("hi", model="claude-sonnet", seed=7))
    assert result.provider == "openrouter"
    assert not cloud.requests_to("/anthropic/v1/messages")
    assert cloud.chat_requests[-1].body["seed"] == 7


async def test_a_request_no_candidate_can_carry_is_refused_before_any_request(
    router: Router, cloud: FakeProvider
) -> None:
    with pytest.raises(RequestRejected, match="seed"):
        await router.complete(ChatRequest.from_prompt("hi", model="anthropic:claude-sonnet-4-5", seed=7))
    assert not cloud.requests
    assert router.store.attempts() == []
