from __future__ import annotations

from itertools import count
from pathlib import Path

import pytest

from llmroute.aliases import resolve, split_spec
from llmroute.config import load_settings
from llmroute.errors import KeyServesNoTarget, NoKeysError, PrivacyRefused
from llmroute.planner import plan
from llmroute.types import ChatRequest, Privacy, Target

PROVIDERS = ("ollama", "openrouter", "local")
KEYS = {
    "OLLAMA_API_KEY": "ollama-key-one-0000000000001",
    "OLLAMA_API_KEY_2": "ollama-key-two-0000000000002",
    "OPENROUTER_API_KEY_1": "sk-or-v1-1111111111111111111111",
    "OPENROUTER_API_KEY_2": "sk-or-v1-2222222222222222222222",
    "OPENROUTER_API_KEY_3": "sk-or-v1-3333333333333333333333",
}


def settings(tmp_path: Path, toml: str = "", **env: str):
    if toml:
        (tmp_path / "config.toml").write_text(toml)
    return load_settings({"LLMROUTE_HOME": str(tmp_path), **KEYS, **env})


def labels(candidates) -> list[str]:
    return [f"{c.provider}:{c.model}@{c.key_label}" for c in candidates]


def request(model: str, **options: object) -> ChatRequest:
    return ChatRequest.from_prompt("hi", model=model, **options)


def no_cursor(_: str) -> int:
    raise AssertionError("ordered selection must not touch the cursor")


def test_provider_prefix_pins_the_provider() -> None:
    assert split_spec("ollama:gpt-oss:120b", PROVIDERS) == ("ollama", "gpt-oss:120b")
    assert resolve("openrouter:meta-llama/llama-3.3-70b-instruct:free", {}, PROVIDERS) == (
        Target("openrouter", "meta-llama/llama-3.3-70b-instruct:free"),
    )


def test_a_colon_in_a_model_name_is_not_a_provider() -> None:
    assert split_spec("gpt-oss:120b", PROVIDERS) == (None, "gpt-oss:120b")


def test_author_slash_model_belongs_to_openrouter() -> None:
    assert resolve("acme/model-x", {}, PROVIDERS) == (Target("openrouter", "acme/model-x"),)


def test_builtin_alias_spans_providers_in_provider_order(tmp_path: Path) -> None:
    candidates = plan(request("kimi-k2.6"), settings(tmp_path), no_cursor).candidates
    assert labels(candidates) == [
        "ollama:kimi-k2.6@OLLAMA_API_KEY",
        "ollama:kimi-k2.6@OLLAMA_API_KEY_2",
        "openrouter:moonshotai/kimi-k2.6@OPENROUTER_API_KEY_1",
        "openrouter:moonshotai/kimi-k2.6@OPENROUTER_API_KEY_2",
        "openrouter:moonshotai/kimi-k2.6@OPENROUTER_API_KEY_3",
    ]


def test_prefer_ollama_false_flips_the_cascade(tmp_path: Path) -> None:
    candidates = plan(request("kimi-k2.6"), settings(tmp_path, PREFER_OLLAMA="false"), no_cursor).candidates
    assert candidates[0].provider == "openrouter" and candidates[-1].provider == "ollama"


def test_preferred_provider_goes_first(tmp_path: Path) -> None:
    candidates = plan(request("kimi-k2.6", provider="openrouter"), settings(tmp_path), no_cursor).candidates
    assert candidates[0].provider == "openrouter"


def test_config_alias_overrides_a_builtin(tmp_path: Path) -> None:
    s = settings(tmp_path, '[aliases]\n"kimi-k2.5" = "openrouter:moonshotai/kimi-k2.6"\n')
    assert {c.model for c in plan(request("kimi-k2.5"), s, no_cursor).candidates} == {"moonshotai/kimi-k2.6"}


def test_round_robin_rotates_the_keys_by_the_cursor(tmp_path: Path) -> None:
    s = settings(tmp_path, '[routing]\nkey_selection = "round-robin"\n')
    cursor = count()
    firsts = [plan(request("openrouter:a/b"), s, lambda _: next(cursor)).candidates[0].key_label for _ in range(4)]
    assert firsts == ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2", "OPENROUTER_API_KEY_3", "OPENROUTER_API_KEY_1"]


def test_privacy_critical_keeps_only_local_targets(tmp_path: Path) -> None:
    candidates = plan(request("gpt-oss:20b", privacy=Privacy.CRITICAL), settings(tmp_path), no_cursor).candidates
    assert labels(candidates) == ["local:gpt-oss:20b@local"]


def test_privacy_critical_sends_an_unaliased_name_to_local(tmp_path: Path) -> None:
    candidates = plan(request("kimi-k2.5", privacy=Privacy.CRITICAL), settings(tmp_path), no_cursor).candidates
    assert labels(candidates) == ["local:kimi-k2.5@local"]


def test_privacy_critical_refuses_a_pinned_cloud_provider(tmp_path: Path) -> None:
    with pytest.raises(PrivacyRefused, match="not a local provider"):
        plan(request("openrouter:a/b", privacy=Privacy.CRITICAL), settings(tmp_path), no_cursor)


def test_no_keys_names_the_variables_to_set(tmp_path: Path) -> None:
    s = load_settings({"LLMROUTE_HOME": str(tmp_path)})
    with pytest.raises(NoKeysError, match="set OLLAMA_API_KEY or OPENROUTER_API_KEY"):
        plan(request("kimi-k2.6"), s, no_cursor)


def test_a_forced_key_is_the_only_key_tried(tmp_path: Path) -> None:
    candidates = plan(request("kimi-k2.6", key="OPENROUTER_API_KEY_2"), settings(tmp_path), no_cursor).candidates
    assert {c.key_label for c in candidates} == {"OPENROUTER_API_KEY_2"}
    assert {c.provider for c in candidates} == {"openrouter"}


def test_a_forced_key_that_serves_no_target_of_the_model_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(KeyServesNoTarget, match="key OLLAMA_API_KEY does not serve 'openrouter:acme/x'"):
        plan(request("openrouter:acme/x", key="OLLAMA_API_KEY"), settings(tmp_path), no_cursor)
