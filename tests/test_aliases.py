"""The built-in alias table against the retirement table: every current alias names models that exist."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmroute.config_providers import BUILTIN_PROVIDERS
from llmroute.aliases import BUILTIN_ALIASES, CURRENT_ALIASES, FORMER_ALIASES, resolve, split_spec
from llmroute.catalog import RETIRED, current_target, current_targets
from llmroute.types import Target

PROVIDERS = tuple(p.name for p in BUILTIN_PROVIDERS)
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp()
TODAY = "2026-11-30"
#: Every name the table had before the June-September 2026 retirements: none may stop resolving.
OLD_NAMES = {
    "kimi-k2.5", "kimi-k2.6", "kimi-k2-thinking", "deepseek-v3.1", "deepseek-v3.1:671b", "qwen3-coder",
    "qwen3-coder:free", "qwen3-next", "glm-4.6", "glm-4.7", "gemma3", "gemma3:27b", "gpt-oss", "gpt-oss:120b",
    "gpt-oss:20b", "mistral-large-3", "ministral-3", "devstral", "cogito-2.1", "cogito-2.1:671b", "nemotron-3-nano",
    "llama-3.3-70b", "llama-3.3-70b:free",
}  # fmt: skip


def targets(name: str) -> tuple[Target, ...]:
    return resolve(name, {}, PROVIDERS)


def test_the_table_is_the_current_names_plus_the_former_ones() -> None:
    assert set(BUILTIN_ALIASES) == set(CURRENT_ALIASES) | set(FORMER_ALIASES)
    assert not set(CURRENT_ALIASES) & set(FORMER_ALIASES)
    assert set(BUILTIN_ALIASES) >= OLD_NAMES, "an old alias name was removed"


@pytest.mark.parametrize("name", sorted(BUILTIN_ALIASES))
def test_every_alias_resolves_to_well_formed_targets(name: str) -> None:
    resolved = targets(name)
    assert resolved and len(set(resolved)) == len(resolved)
    for target in resolved:
        assert target.provider in PROVIDERS and target.model
        # OpenRouter ids are author/model and Cloudflare's @cf/author/model; no other provider's has a slash.
        assert ("/" in target.model) == (target.provider in ("openrouter", "cloudflare")), target
        assert target.model.startswith("@cf/") == (target.provider == "cloudflare"), target


@pytest.mark.parametrize("name", sorted(CURRENT_ALIASES))
def test_no_current_alias_names_a_retired_model(name: str) -> None:
    for target in targets(name):
        assert (target.provider, target.model) not in RETIRED, target
        assert current_target(target, RETIRED, TODAY) == (target, None), target


@pytest.mark.parametrize("name", sorted(FORMER_ALIASES))
def test_every_former_alias_names_a_retired_model_and_leads_only_to_current_ones(name: str) -> None:
    resolved = targets(name)
    assert any(current_target(t, RETIRED, TODAY)[0] != t for t in resolved), "not retired: it is a current alias"
    kept, notices = current_targets(resolved, None, NOW)
    assert all(current_target(t, RETIRED, TODAY) == (t, None) for t in kept)
    assert len(notices) == sum(current_target(t, RETIRED, TODAY)[0] != t for t in resolved)


def test_old_kimi_leads_to_its_successor_on_both_wires_with_notices() -> None:
    kept, notices = current_targets(targets("kimi-k2.5"), None, NOW)
    assert kept == targets("kimi-k2.6") == (Target("ollama", "kimi-k2.6"), Target("openrouter", "moonshotai/kimi-k2.6"))
    assert notices == (
        "ollama:kimi-k2.5 was retired on 2026-07-31; using ollama:kimi-k2.6",
        "openrouter:moonshotai/kimi-k2.5 was retired on 2026-09-07; using openrouter:moonshotai/kimi-k2.6",
    )


@pytest.mark.parametrize(
    ("name", "left"),
    [
        ("glm-4.7", ("openrouter:z-ai/glm-4.7",)),
        ("gemma3", ("openrouter:google/gemma-3-27b-it", "local:gemma3:27b")),
        ("deepseek-v3.1", ("openrouter:deepseek/deepseek-chat-v3.1",)),
        ("qwen3-coder", ("openrouter:qwen/qwen3-coder",)),
        ("kimi-k2-thinking", ()),
        ("devstral", ()),
    ],
)
def test_a_family_retired_on_ollama_lives_on_where_it_is_still_served(name: str, left: tuple[str, ...]) -> None:
    kept, notices = current_targets(targets(name), None, NOW)
    assert tuple(str(t) for t in kept) == left
    assert notices and all("has no successor; skipping it" in n for n in notices)


def test_every_successor_in_the_table_is_a_current_alias_or_an_alias_target() -> None:
    current = {t for name in CURRENT_ALIASES for t in targets(name)}
    named = {Target(p, s) for (p, _), (s, _) in RETIRED.items() if s}
    assert named - current == {Target("ollama", "minimax-m2.7")}, "minimax-m2.7: no alias (never had one)"


def test_resolution_rules_are_unchanged() -> None:
    assert split_spec("openrouter:x/y", PROVIDERS) == ("openrouter", "x/y")
    assert split_spec("gpt-oss:120b", PROVIDERS) == (None, "gpt-oss:120b")
    assert resolve("ollama:kimi-k2.5", {}, PROVIDERS) == (Target("ollama", "kimi-k2.5"),), "a pin is taken as written"
    assert resolve("acme/model", {}, PROVIDERS) == (Target("openrouter", "acme/model"),)
    assert resolve("@cf/meta/llama-3.1-8b-instruct", {}, PROVIDERS) == (
        Target("cloudflare", "@cf/meta/llama-3.1-8b-instruct"),
    ), "a Cloudflare model id names Cloudflare"
    assert resolve("qwen3.5:397b", {}, PROVIDERS) == (Target("ollama", "qwen3.5:397b"), Target("local", "qwen3.5:397b"))
    assert resolve("kimi-k2.5", {"kimi-k2.5": ("openrouter:acme/k",)}, PROVIDERS) == (Target("openrouter", "acme/k"),)
    assert resolve("glm-5.3", {}, PROVIDERS) == (Target("ollama", "glm-5.3"),)
