from __future__ import annotations

from llmroute.keys import ApiKey, discover_keys, fingerprint, mask, redact

SECRET = "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef0123456789a3f9"


def test_unsuffixed_variable_comes_first_then_by_number() -> None:
    env = {
        "OPENROUTER_API_KEY_10": "k" * 20 + "10",
        "OPENROUTER_API_KEY_2": "k" * 20 + "2",
        "OPENROUTER_API_KEY": "k" * 20,
    }
    labels = [k.label for k in discover_keys("openrouter", "OPENROUTER_API_KEY", env)]
    assert labels == ["OPENROUTER_API_KEY", "OPENROUTER_API_KEY_2", "OPENROUTER_API_KEY_10"]


def test_a_value_under_two_names_is_one_key() -> None:
    env = {"OLLAMA_API_KEY": "same-secret-value-1234", "OLLAMA_API_KEY_2": "same-secret-value-1234"}
    keys = discover_keys("ollama", "OLLAMA_API_KEY", env)
    assert [k.label for k in keys] == ["OLLAMA_API_KEY"]


def test_empty_values_and_lookalike_names_are_ignored() -> None:
    env = {"OLLAMA_API_KEY": "  ", "OLLAMA_API_KEY_X": "nope-nope-nope-nope", "MY_OLLAMA_API_KEY": "also-not-this-one"}
    assert discover_keys("ollama", "OLLAMA_API_KEY", env) == ()


def test_mask_keeps_vendor_prefix_and_last_four() -> None:
    assert mask(SECRET) == "sk-or-v1…a3f9"


def test_short_keys_are_fully_hidden() -> None:
    assert "abc" not in mask("abc123") and mask("abc123") == "………"


def test_unknown_shape_shows_only_last_four() -> None:
    assert mask("0f3c9a7e5b1d4c2a8e6f.Zq") == "…f.Zq"


def test_secret_is_not_in_repr_or_str() -> None:
    key = ApiKey("openrouter", "OPENROUTER_API_KEY", SECRET)
    assert SECRET not in repr(key) and SECRET not in str(key) and SECRET not in f"{key!r} {key}"


def test_fingerprint_is_short_stable_and_not_the_secret() -> None:
    assert fingerprint(SECRET) == fingerprint(SECRET)
    assert len(fingerprint(SECRET)) == 12 and fingerprint(SECRET) not in SECRET


def test_redact_replaces_every_occurrence_with_the_mask() -> None:
    text = f"bad key {SECRET} (was {SECRET})"
    assert redact(text, [SECRET]) == "bad key sk-or-v1…a3f9 (was sk-or-v1…a3f9)"
