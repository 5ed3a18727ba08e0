"""The providers' settings: built-in ones beyond the first two clouds, custom OpenAI-compatible endpoints, and
what some providers need beside a key (Cloudflare's account id, Azure's endpoint and deployments)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from llmroute.errors import ConfigError
from tests.conftest import Warnings
from tests.test_config import settings_for

ACCOUNT_1, ACCOUNT_2 = secrets.token_hex(16), secrets.token_hex(16)
TOKEN_1, TOKEN_2 = secrets.token_urlsafe(30), secrets.token_urlsafe(30)


def test_openai_keys_and_base_url_come_from_the_conventional_variables(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, OPENAI_API_KEY="sk-" + "a" * 40, OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    openai = settings.provider("openai")
    assert openai is not None and openai.enabled and openai.base_url == "http://127.0.0.1:9/v1"
    assert [k.label for k in openai.keys] == ["OPENAI_API_KEY"]


def test_azure_is_off_until_its_endpoint_is_set(tmp_path: Path, warnings: Warnings) -> None:
    key = {"AZURE_OPENAI_API_KEY": "a" * 32}
    assert not settings_for(tmp_path, **key).provider("azure").enabled  # type: ignore[union-attr]
    assert "AZURE_OPENAI_ENDPOINT is not" in " ".join(warnings())
    azure = settings_for(tmp_path, **key, AZURE_OPENAI_ENDPOINT="https://res.openai.azure.com/").provider("azure")
    assert azure is not None and azure.enabled and azure.base_url == "https://res.openai.azure.com"


def test_azure_deployments_map_model_names_to_deployments(tmp_path: Path) -> None:
    toml = '[providers.azure.deployments]\n"gpt-4o-mini" = "prod-mini"\n'
    azure = settings_for(tmp_path, toml, AZURE_OPENAI_ENDPOINT="https://res.openai.azure.com").provider("azure")
    assert azure is not None and dict(azure.deployments) == {"gpt-4o-mini": "prod-mini"}


def test_a_cloudflare_token_pairs_with_the_account_id_of_its_suffix_else_the_unsuffixed_one(tmp_path: Path) -> None:
    env = {
        "CLOUDFLARE_API_TOKEN": TOKEN_1,
        "CLOUDFLARE_API_TOKEN_2": TOKEN_2,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT_1,
        "CLOUDFLARE_ACCOUNT_ID_2": ACCOUNT_2.upper(),
    }
    slots = settings_for(tmp_path, **env).slots("cloudflare")
    assert [(s.label, s.account) for s in slots] == [
        ("CLOUDFLARE_API_TOKEN", ACCOUNT_1),
        ("CLOUDFLARE_API_TOKEN_2", ACCOUNT_2),
    ]
    assert slots[0].pool_id != slots[1].pool_id, "two accounts, two daily allocations"
    one_account = settings_for(
        tmp_path, CLOUDFLARE_API_TOKEN=TOKEN_1, CLOUDFLARE_API_KEY_2=TOKEN_2, CLOUDFLARE_ACCOUNT_ID=ACCOUNT_1
    ).slots("cloudflare")
    assert [s.label for s in one_account] == ["CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY_2"]
    assert one_account[0].pool_id == one_account[1].pool_id, "keys of one account share its allocation"


def test_a_cloudflare_token_without_an_account_id_is_left_out_with_a_warning(
    tmp_path: Path, warnings: Warnings
) -> None:
    assert settings_for(tmp_path, CLOUDFLARE_API_TOKEN=TOKEN_1).slots("cloudflare") == ()
    assert any("CLOUDFLARE_API_TOKEN has no account id" in w for w in warnings())


def test_a_malformed_cloudflare_account_id_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="32 hex characters"):
        settings_for(tmp_path, CLOUDFLARE_API_TOKEN=TOKEN_1, CLOUDFLARE_ACCOUNT_ID="not-an-id")


def test_a_custom_openai_compatible_endpoint_comes_from_its_table(tmp_path: Path) -> None:
    toml = (
        '[providers.groq]\nprotocol = "openai"\nbase_url = "https://api.groq.com/openai/v1"\n'
        'key_variable = "GROQ_API_KEY"\n[providers.groq.headers]\nX-Team = "ml"\n'
    )
    settings = settings_for(tmp_path, toml, GROQ_API_KEY="gsk_" + "b" * 40, GROQ_API_KEY_2="gsk_" + "c" * 40)
    groq = settings.provider("groq")
    assert groq is not None and (groq.protocol, groq.base_url, groq.local) == (
        "openai",
        "https://api.groq.com/openai/v1",
        False,
    )
    assert [k.label for k in groq.keys] == ["GROQ_API_KEY", "GROQ_API_KEY_2"] and groq.headers == (("X-Team", "ml"),)
    assert "groq" in settings.provider_order, "a custom provider joins the order, after the built-in ones"


def test_a_keyless_local_endpoint_has_one_slot_and_counts_as_local(tmp_path: Path) -> None:
    toml = '[providers.lmstudio]\nprotocol = "openai"\nbase_url = "http://localhost:1234/v1"\nlocal = true\n'
    settings = settings_for(tmp_path, toml)
    assert settings.provider("lmstudio").local  # type: ignore[union-attr]
    assert [s.label for s in settings.slots("lmstudio")] == ["lmstudio"]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[providers.groq]\nbase_url = "https://x/v1"\n', "providers.groq.protocol must be set"),
        (
            '[providers.groq]\nprotocol = "grpc"\nbase_url = "https://x/v1"\n',
            "providers.groq.protocol must be one of openai",
        ),
        ('[providers.groq]\nprotocol = "openai"\n', "providers.groq.base_url must be set"),
        ('[providers.groq]\nprotocol = "openai"\nbase_url = "http://api.example.com/v1"\n', "plain http"),
        ('[providers."Bad Name"]\nprotocol = "openai"\nbase_url = "https://x/v1"\n', "no usable provider name"),
        ('[providers.groq]\nprotocol = "openai"\nbase_url = "https://x/v1"\nheaders = { "X Bad" = "1" }\n', "headers"),
    ],
)
def test_a_broken_custom_provider_is_a_config_error_naming_the_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_for(tmp_path, toml)
