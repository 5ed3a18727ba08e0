"""The providers on the OpenAI wire end to end: the real CLI against the strict fakes of OpenAI, Azure OpenAI and
Cloudflare Workers AI on 127.0.0.1, a custom OpenAI-compatible endpoint from the config file, failover across
them, and their limits kept across processes."""

from __future__ import annotations

import json
import time

import pytest

from llmroute.cli.failures import ExitStatus
from llmroute.store import Store
from tests.conftest import AZURE_KEYS, CLOUDFLARE_TOKENS, OPENAI_KEYS, Cli, azure_env, keys_env, with_env
from tests.fakes import (
    DEFAULT_TEXT,
    FakeProvider,
    az_429,
    oa_429_insufficient_quota,
    oa_429_rate_limit,
    oa_500,
    oa_stream_error,
)

ANSWER = DEFAULT_TEXT + "\n"
CF_MODEL = "@cf/meta/llama-3.1-8b-instruct"
DEPLOYMENTS = '[providers.azure.deployments]\n"gpt-4o-mini" = "my-gpt4o-mini"\n'


def configured(cli: Cli, toml: str) -> Cli:
    path = cli.home / "config.toml"
    path.write_text(toml)
    path.chmod(0o600)
    return cli


def holds(cli: Cli):
    store = Store.open(cli.home / "state.db")
    try:
        return store.all_holds()
    finally:
        store.close()


def wires(cloud: FakeProvider) -> list[str | None]:
    return [r.wire for r in cloud.chat_requests]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not streamed"])
@pytest.mark.parametrize(
    ("spec", "keys", "wire", "secret"),
    [
        ("openai:gpt-4o-mini", {"openai": 1}, "openai", OPENAI_KEYS[0]),
        ("azure:my-gpt4o-mini", {"azure": 1}, "azure", AZURE_KEYS[0]),
        (f"cloudflare:{CF_MODEL}", {"cloudflare": 1}, "cloudflare", CLOUDFLARE_TOKENS[0]),
    ],
    ids=["openai", "azure", "cloudflare"],
)
def test_each_provider_answers(
    cli: Cli, cloud: FakeProvider, spec: str, keys: dict[str, int], wire: str, secret: str, stream: bool
) -> None:
    args = ["chat", "--json", "-m", spec, "hi"] + ([] if stream else ["--no-stream"])
    result = cli(*args, **keys_env(**keys), **azure_env(cloud))
    assert result.code == ExitStatus.OK, result.stderr
    document = json.loads(result.stdout)
    assert document["text"] == DEFAULT_TEXT and document["provider"] == spec.split(":")[0]
    assert document["usage"]["input_tokens"] and document["usage"]["output_tokens"], "usage read from the wire"
    (request,) = cloud.chat_requests
    assert (request.wire, request.bearer, request.body["stream"]) == (wire, secret, stream)
    if stream:
        assert request.body["stream_options"] == {"include_usage": True}


def test_a_bare_cloudflare_model_id_goes_to_cloudflare_with_its_accounts_path(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "-m", CF_MODEL, "hi", **keys_env(cloudflare=2))
    assert (result.code, result.stdout) == (ExitStatus.OK, ANSWER)
    (request,) = cloud.chat_requests
    assert request.path.startswith("/cloudflare/client/v4/accounts/") and request.bearer == CLOUDFLARE_TOKENS[0]


def test_a_custom_openai_compatible_endpoint_from_the_config_answers(cli: Cli, cloud: FakeProvider) -> None:
    configured(
        cli,
        f'[providers.acme]\nprotocol = "openai"\nbase_url = "{cloud.openai_url}"\nkey_variable = "ACME_KEY"\n'
        '[providers.acme.headers]\nX-Team = "ml"\n',
    )
    result = cli("chat", "-m", "acme:gpt-4o-mini", "--max-tokens", "20", "hi", ACME_KEY=OPENAI_KEYS[1])
    assert (result.code, result.stdout) == (ExitStatus.OK, ANSWER), result.stderr
    (request,) = cloud.chat_requests
    assert request.bearer == OPENAI_KEYS[1] and request.headers["x-team"] == "ml"
    assert request.body["max_tokens"] == 20 and "max_completion_tokens" not in request.body


def test_the_real_openai_gets_max_completion_tokens(cli: Cli, cloud: FakeProvider) -> None:
    assert cli("chat", "-m", "openai:gpt-4o-mini", "--max-tokens", "20", "hi", **keys_env(openai=1)).code == 0
    body = cloud.chat_requests[0].body
    assert body["max_completion_tokens"] == 20 and "max_tokens" not in body


def test_an_alias_fails_over_from_openai_to_azure_to_openrouter(cli: Cli, cloud: FakeProvider) -> None:
    configured(cli, DEPLOYMENTS)
    cloud.script(OPENAI_KEYS[0], oa_500())
    cloud.script(AZURE_KEYS[0], az_429(retry_after=30))
    env = keys_env(openai=1, azure=1, openrouter=1) | azure_env(cloud)
    result = cli("chat", "-v", "-m", "gpt-4o-mini", "hi", **env)
    assert (result.code, result.stdout) == (ExitStatus.OK, ANSWER), result.stderr
    assert wires(cloud) == ["openai", "azure", "openrouter"]
    assert [r.body["model"] for r in cloud.chat_requests] == ["gpt-4o-mini", "my-gpt4o-mini", "openai/gpt-4o-mini"]
    assert "answered by openrouter" in result.stderr


def test_an_azure_target_without_a_deployment_is_left_out_of_an_alias(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "-m", "gpt-4o-mini", "hi", **keys_env(azure=1, openrouter=1), **azure_env(cloud))
    assert result.code == ExitStatus.OK and wires(cloud) == ["openrouter"], "no deployment is mapped for it"


def test_insufficient_quota_is_not_retried_by_the_next_process(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OPENAI_KEYS[0], oa_429_insufficient_quota())
    env = keys_env(openai=1, openrouter=1)
    first = cli("chat", "-v", "-m", "gpt-4o-mini", "hi", **env)
    assert first.code == ExitStatus.OK and wires(cloud) == ["openai", "openrouter"]
    assert "You exceeded your current quota" in first.stderr
    second = cli("chat", "-m", "gpt-4o-mini", "hi", **env)
    assert second.code == ExitStatus.OK and wires(cloud) == ["openai", "openrouter", "openrouter"]
    (hold,) = [h for h in holds(cli) if h.provider == "openai"]
    assert hold.scope == "pool" and hold.error_kind == "quota", "money gone is the account's, not a rate limit"


def test_a_six_minute_request_reset_is_honoured_across_processes(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OPENAI_KEYS[0], oa_429_rate_limit(reset_requests="6m0s", reset_tokens="1s", remaining_requests=0))
    env = keys_env(openai=1, openrouter=1)
    started = time.time()
    assert cli("chat", "-m", "gpt-4o-mini", "hi", **env).code == ExitStatus.OK
    ended = time.time()
    (hold,) = [h for h in holds(cli) if h.provider == "openai"]
    assert hold.scope == "key" and started + 358 <= (hold.cooldown_until or 0) <= ended + 362, "exactly 6m0s"
    assert cli("chat", "-m", "gpt-4o-mini", "hi", **env).code == ExitStatus.OK
    assert wires(cloud) == ["openai", "openrouter", "openrouter"], "the second process never asked OpenAI"


def test_an_error_inside_a_200_stream_fails_over_before_the_first_token(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OPENAI_KEYS[0], oa_stream_error())
    result = cli("chat", "-m", "openai:gpt-4o-mini", "hi", **keys_env(openai=2))
    assert (result.code, result.stdout) == (ExitStatus.OK, ANSWER), result.stderr
    assert [r.bearer for r in cloud.chat_requests] == OPENAI_KEYS[:2]


def test_privacy_critical_reaches_a_local_openai_compatible_server_and_never_a_cloud_one(
    cli: Cli, cloud: FakeProvider
) -> None:
    configured(
        cli,
        f'[providers.lmstudio]\nprotocol = "openai"\nbase_url = "{cloud.openai_url}"\nlocal = true\n'
        'key_variable = "LMSTUDIO_KEY"\n',
    )
    env = keys_env(openai=1, openrouter=1) | {"LMSTUDIO_KEY": OPENAI_KEYS[1]}
    result = cli("chat", "--privacy", "critical", "-m", "lmstudio:gpt-4o-mini", "hi", **env)
    assert (result.code, result.stdout) == (ExitStatus.OK, ANSWER), result.stderr
    refused = cli("chat", "--privacy", "critical", "-m", "openai:gpt-4o-mini", "hi", **env)
    assert refused.code == ExitStatus.PRIVACY
    assert [r.bearer for r in cloud.requests] == [OPENAI_KEYS[1]], "only the local server was contacted"


def test_test_keys_proves_each_new_key_without_inference(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openai=1, azure=1, cloudflare=1) | azure_env(cloud)
    result = cli("test-keys", "--json", **env)
    assert result.code == ExitStatus.OK, result.stdout + result.stderr
    verdicts = {k["label"]: k["verdict"] for k in json.loads(result.stdout)["keys"]}
    assert verdicts == {"OPENAI_API_KEY": "ok", "AZURE_OPENAI_API_KEY": "ok", "CLOUDFLARE_API_TOKEN": "ok"}
    assert cloud.chat_requests == [], "no inference was paid for"


def test_a_revoked_openai_key_is_found_by_test_keys_and_skipped_by_chat(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openai=1, openrouter=1) | {"OPENAI_API_KEY": "sk-proj-" + "x" * 40}
    result = cli("test-keys", "--json", "--provider", "openai", **env)
    assert result.code == ExitStatus.CHECKS_FAILED
    assert json.loads(result.stdout)["keys"][0]["verdict"] == "invalid key"
    assert cli("chat", "-m", "gpt-4o-mini", "hi", **env).code == ExitStatus.OK
    assert wires(cloud) == ["openrouter"], "the revoked key was not tried"


def test_models_lists_the_new_providers_catalogues(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("models", "--json", **keys_env(openai=1, cloudflare=1))
    assert result.code == ExitStatus.OK, result.stderr
    specs = {f"{m['provider']}:{m['model']}" for m in json.loads(result.stdout)["models"]}
    assert {"openai:gpt-4o-mini", f"cloudflare:{CF_MODEL}"} <= specs


def test_an_openai_call_is_costed_from_openrouters_public_prices(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openai=1) | {"OPENAI_DAILY_BUDGET": "1"}
    budgeted = with_env(cli, env)
    configured(budgeted, "[providers.openai.budget]\ndaily = 1.0\n")
    result = budgeted("chat", "--json", "-m", "openai:gpt-4o-mini", "hi")
    assert result.code == ExitStatus.OK, result.stderr
    usage = json.loads(result.stdout)["usage"]
    assert usage["cost_estimated"] is True and usage["cost_micros"] is not None
    assert cloud.requests_to("/api/v1/models"), "OpenRouter's public list was read to price it"
