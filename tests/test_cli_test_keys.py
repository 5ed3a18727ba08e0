"""``llmroute test-keys`` end to end: the real CLI against fake providers on 127.0.0.1."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from llmroute.cli.failures import ExitStatus
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, keys_env
from tests.fakes import FakeProvider, error, oll_usage_limit, or_401, or_402_credits, or_daily_cap, reply

KEY_PATH = "/api/v1/key"
OLLAMA_PROBE = "/v1/chat/completions"

#: The shape of ``test-keys --json`` (a hand-written schema: type per field, None allowed where marked).
KEY_SCHEMA: dict[str, Any] = {
    "provider": str,
    "label": str,
    "mask": str,
    "verdict": str,
    "ok": bool,
    "latency_ms": (float, int, type(None)),
    "retry_at": (str, type(None)),
    "message": (str, type(None)),
    "info": (dict, type(None)),
    "models": (int, type(None)),
    "inference": (dict, type(None)),
}
SUMMARY_SCHEMA: dict[str, Any] = {
    "checked": int,
    "ok": int,
    "failed": int,
    "min_ok": (int, type(None)),
    "passed": bool,
    "exit_code": int,
    "elapsed_ms": (float, int),
}
VERDICTS = {"ok", "invalid key", "rate limited", "out of credit", "unreachable", "timed out", "error"}


def conforms(item: dict[str, Any], schema: dict[str, Any]) -> None:
    assert set(item) == set(schema), set(item) ^ set(schema)
    for name, kind in schema.items():
        assert isinstance(item[name], kind), f"{name}={item[name]!r}"


def check_document(text: str) -> dict[str, Any]:
    document = json.loads(text)
    assert set(document) == {"keys", "required_models", "catalog_errors", "summary"}
    for key in document["keys"]:
        conforms(key, KEY_SCHEMA)
        assert key["verdict"] in VERDICTS
    conforms(document["summary"], SUMMARY_SCHEMA)
    for model in document["required_models"]:
        assert {"spec", "targets", "via", "reachable", "retired", "successor", "unverified"} <= set(model)
    return document


def verdicts(document: dict[str, Any]) -> dict[str, str]:
    return {k["label"]: k["verdict"] for k in document["keys"]}


def in_an_hour_ms() -> int:
    return int((time.time() + 3600) * 1000)


def test_every_good_key_passes_with_exit_0(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("test-keys", **keys_env(openrouter=2, ollama=1))
    assert result.code == ExitStatus.OK
    for label in ("OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2", "OLLAMA_API_KEY"):
        assert label in result.stdout
    assert f"sk-or-v1…{OR_KEYS[0][-4:]}" in result.stdout
    assert "passed: 3 of 3 keys work" in result.stderr


def test_a_check_proves_the_key_not_just_the_network(cli: Cli, cloud: FakeProvider) -> None:
    cli("test-keys", **keys_env(openrouter=1, ollama=1))
    assert [r.bearer for r in cloud.requests_to(KEY_PATH)] == [OR_KEYS[0]]
    assert [r.bearer for r in cloud.requests_to(OLLAMA_PROBE)] == [OLLAMA_KEYS[0]]
    assert cloud.chat_requests == []


def test_mixed_keys_get_one_verdict_each_and_exit_9(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], or_401(), path=KEY_PATH)
    cloud.script(OR_KEYS[1], or_daily_cap(in_an_hour_ms()), path=KEY_PATH)
    cloud.script(OR_KEYS[2], or_402_credits(), path=KEY_PATH)
    cloud.script(OLLAMA_KEYS[1], oll_usage_limit("weekly"), path=OLLAMA_PROBE)
    result = cli("test-keys", "--json", **keys_env(openrouter=3, ollama=2))
    document = check_document(result.stdout)
    assert result.code == ExitStatus.CHECKS_FAILED
    assert verdicts(document) == {
        "OPENROUTER_API_KEY_1": "invalid key",
        "OPENROUTER_API_KEY_2": "rate limited",
        "OPENROUTER_API_KEY_3": "out of credit",
        "OLLAMA_API_KEY": "ok",
        "OLLAMA_API_KEY_2": "rate limited",
    }
    limited = next(k for k in document["keys"] if k["label"] == "OPENROUTER_API_KEY_2")
    assert limited["retry_at"] is not None
    assert document["summary"] | {"elapsed_ms": 0} == {
        "checked": 5,
        "ok": 1,
        "failed": 4,
        "min_ok": None,
        "passed": False,
        "exit_code": 9,
        "elapsed_ms": 0,
    }


def test_keys_are_checked_concurrently(cli: Cli, cloud: FakeProvider) -> None:
    for key in OR_KEYS:
        cloud.script(key, reply(delay=0.3), path=KEY_PATH)
    for key in OLLAMA_KEYS:
        cloud.script(key, reply(delay=0.3), path=OLLAMA_PROBE)
    result = cli("test-keys", "--json", **keys_env(openrouter=3, ollama=2))
    document = check_document(result.stdout)
    assert result.code == ExitStatus.OK
    assert all(k["latency_ms"] >= 300 for k in document["keys"])
    arrivals = [r.time for r in cloud.requests_to(KEY_PATH) + cloud.requests_to(OLLAMA_PROBE)]
    assert len(arrivals) == 5
    assert max(arrivals) - min(arrivals) < 0.3, "every probe was sent before the first 300 ms answer came back"
    assert document["summary"]["elapsed_ms"] < 1500, "five 300 ms checks overlap instead of adding up"


def test_min_ok_relaxes_the_exit_code_for_ci(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], or_401(), path=KEY_PATH)
    env = keys_env(openrouter=2)
    assert cli("test-keys", **env).code == ExitStatus.CHECKS_FAILED
    assert cli("test-keys", "--min-ok", "1", **env).code == ExitStatus.OK


def test_no_keys_exits_3_naming_the_variables_to_set(cli: Cli) -> None:
    result = cli("test-keys")
    assert result.code == ExitStatus.CONFIG
    assert "OLLAMA_API_KEY" in result.stderr and "OPENROUTER_API_KEY" in result.stderr
    assert "OLLAMA_HOST" in result.stderr


def test_openrouter_key_reports_its_credit_and_free_requests(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("test-keys", "--json", **keys_env(openrouter=1))
    (key,) = check_document(result.stdout)["keys"]
    assert {"credit_limit", "credit_remaining", "usage_today", "usage_month", "free_tier"} <= set(key["info"])
    assert "credit left" in cli("test-keys", **keys_env(openrouter=1)).stdout


def test_a_key_found_revoked_is_not_tried_by_the_next_chat(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], or_401(), path=KEY_PATH)
    env = keys_env(openrouter=2)
    assert cli("test-keys", **env).code == ExitStatus.CHECKS_FAILED
    assert cli("chat", "-m", "openrouter:openai/gpt-4o-mini", "hi", **env).code == ExitStatus.OK
    assert [r.bearer for r in cloud.chat_requests] == [OR_KEYS[1]]


def test_each_finished_key_is_one_line_on_stderr_when_not_a_terminal(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("test-keys", **keys_env(openrouter=2))
    lines = sorted(line for line in result.stderr.splitlines() if line.startswith("checked "))
    assert [line.split(":")[0] for line in lines] == [
        f"checked openrouter OPENROUTER_API_KEY_1 (sk-or-v1…{OR_KEYS[0][-4:]})",
        f"checked openrouter OPENROUTER_API_KEY_2 (sk-or-v1…{OR_KEYS[1][-4:]})",
    ]
    assert all(line.endswith(" ms") and ": ok, " in line for line in lines)
    assert "\x1b[" not in result.stdout + result.stderr


def test_provider_and_key_narrow_the_check(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=3, ollama=2)
    only = check_document(cli("test-keys", "--json", "--provider", "ollama", **env).stdout)
    assert set(verdicts(only)) == {"OLLAMA_API_KEY", "OLLAMA_API_KEY_2"}
    one = check_document(cli("test-keys", "--json", "--key", "OPENROUTER_API_KEY_2", **env).stdout)
    assert set(verdicts(one)) == {"OPENROUTER_API_KEY_2"}


def test_required_models_grid_across_providers(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[1], or_401(), path=KEY_PATH)
    result = cli(
        "test-keys",
        "--json",
        "--require-model",
        "openai/gpt-4o-mini",
        "--require-model",
        "gpt-oss:120b",
        **keys_env(openrouter=2, ollama=1),
    )
    document = check_document(result.stdout)
    reach = {m["spec"]: m for m in document["required_models"]}
    assert reach["openai/gpt-4o-mini"]["via"] == ["OPENROUTER_API_KEY_1"]
    assert reach["gpt-oss:120b"]["via"] == ["OLLAMA_API_KEY"]
    assert all(m["reachable"] for m in reach.values())


def test_an_unreachable_required_model_fails_the_check(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("test-keys", "--require-model", "acme/not-served", **keys_env(openrouter=1))
    assert result.code == ExitStatus.CHECKS_FAILED
    assert "acme/not-served" in result.stdout and "unreachable" in result.stdout


def test_required_models_also_come_from_the_environment(cli: Cli, cloud: FakeProvider) -> None:
    result = cli(
        "test-keys", "--json", LLMROUTE_REQUIRED_MODELS="openai/gpt-4o-mini, acme/not-served", **keys_env(openrouter=1)
    )
    specs = [m["spec"] for m in check_document(result.stdout)["required_models"]]
    assert specs == ["openai/gpt-4o-mini", "acme/not-served"] and result.code == ExitStatus.CHECKS_FAILED


def test_a_retired_model_is_reported_with_its_successor(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("test-keys", "--json", "--require-model", "ollama:kimi-k2.5", **keys_env(ollama=1))
    (reach,) = check_document(result.stdout)["required_models"]
    assert reach["retired"] is True and reach["successor"] == "kimi-k2.6"
    assert result.code == ExitStatus.CHECKS_FAILED


def test_the_grid_agrees_with_models_about_every_retired_model(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=1, ollama=1)
    listed = json.loads(cli("models", "--json", **env).stdout)["models"]
    retired = {f"{m['provider']}:{m['model']}": m["successor"] for m in listed if m["retired"]}
    assert retired == {"ollama:kimi-k2.5": "kimi-k2.6", "openrouter:moonshotai/kimi-k2.5": "moonshotai/kimi-k2.6"}
    required = [arg for m in listed for arg in ("--require-model", f"{m['provider']}:{m['model']}")]
    grid = check_document(cli("test-keys", "--json", *required, **env).stdout)["required_models"]
    assert {m["spec"]: m["successor"] for m in grid if m["retired"]} == retired
    assert all(m["reachable"] for m in grid if m["spec"] not in retired)


@pytest.mark.parametrize("how", ["--require-model", "LLMROUTE_MODEL"])
def test_inference_goes_to_the_successor_never_to_a_retired_model(cli: Cli, cloud: FakeProvider, how: str) -> None:
    env = keys_env(openrouter=1, ollama=1)
    if how == "LLMROUTE_MODEL":
        result = cli("test-keys", "--json", "--inference", LLMROUTE_MODEL="kimi-k2.5", **env)
    else:
        result = cli("test-keys", "--json", "--inference", "--require-model", "kimi-k2.5", **env)
    document = check_document(result.stdout)
    assert sorted(chat.body["model"] for chat in cloud.chat_requests) == ["kimi-k2.6", "moonshotai/kimi-k2.6"]
    assert sorted(k["inference"]["model"] for k in document["keys"]) == ["kimi-k2.6", "moonshotai/kimi-k2.6"]
    assert all(k["inference"]["ok"] for k in document["keys"])
    for reach in document["required_models"]:
        assert (reach["retired"], reach["successor"], reach["reachable"]) == (True, "kimi-k2.6", False)


def test_inference_sends_a_tiny_prompt_and_reports_time_to_first_token(cli: Cli, cloud: FakeProvider) -> None:
    result = cli(
        "test-keys", "--json", "--inference", "--require-model", "openai/gpt-4o-mini", **keys_env(openrouter=1)
    )
    (key,) = check_document(result.stdout)["keys"]
    assert key["inference"]["ok"] is True and key["inference"]["ttft_ms"] is not None
    (chat,) = cloud.chat_requests
    assert chat.body["max_tokens"] <= 16 and chat.body["model"] == "openai/gpt-4o-mini"


def test_a_failed_inference_fails_the_key(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], error(500, {"error": {"code": 500, "message": "Internal Server Error"}}))
    result = cli(
        "test-keys", "--json", "--inference", "--require-model", "openai/gpt-4o-mini", **keys_env(openrouter=1)
    )
    (key,) = check_document(result.stdout)["keys"]
    assert key["verdict"] == "ok" and key["ok"] is False and key["inference"]["ok"] is False
    assert result.code == ExitStatus.CHECKS_FAILED


def test_a_local_ollama_is_checked_without_a_key(cli: Cli, local: FakeProvider) -> None:
    result = cli("test-keys", "--json", OLLAMA_HOST=local.ollama_url)
    (key,) = check_document(result.stdout)["keys"]
    assert (key["provider"], key["verdict"], key["mask"]) == ("local", "ok", "(no key)")
    assert local.requests_to("/api/version")


def test_an_unreachable_local_ollama_is_reported_not_a_traceback(cli: Cli) -> None:
    result = cli("test-keys", "--json", OLLAMA_HOST="127.0.0.1:9")
    (key,) = check_document(result.stdout)["keys"]
    assert key["verdict"] == "unreachable" and result.code == ExitStatus.CHECKS_FAILED


# --- -v: each probe on stderr -----------------------------------------------------------------------------


def probe_lines(stderr: str) -> list[str]:
    return sorted(line for line in stderr.splitlines() if line.startswith(("llmroute: probe", "llmroute: inference")))


def test_verbose_shows_what_each_probe_asked_and_got(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("test-keys", "-v", **keys_env(openrouter=1, ollama=1))
    ollama, openrouter = probe_lines(result.stderr)
    assert re.fullmatch(
        rf"llmroute: probe openrouter OPENROUTER_API_KEY_1 sk-or-v1…{OR_KEYS[0][-4:]}: GET {KEY_PATH} 200 in \d+ ms: ok",
        openrouter,
    )
    assert re.fullmatch(
        rf"llmroute: probe ollama OLLAMA_API_KEY …{OLLAMA_KEYS[0][-4:]}: POST {OLLAMA_PROBE} 400 in \d+ ms: ok", ollama
    )


def test_verbose_shows_a_refused_probe_with_its_status_and_reason(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], or_401(), path=KEY_PATH)
    result = cli("test-keys", "-v", **keys_env(openrouter=1))
    (line,) = probe_lines(result.stderr)
    assert f"GET {KEY_PATH} 401 in " in line and line.split(" ms: ")[1].startswith("auth")


def test_verbose_shows_every_one_of_several_probes(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("test-keys", "-v", "--probes", "3", **keys_env(openrouter=1))
    assert [line.split(" openrouter ")[0] for line in probe_lines(result.stderr)] == [
        "llmroute: probe 1/3",
        "llmroute: probe 2/3",
        "llmroute: probe 3/3",
    ]


def test_verbose_inference_names_the_model_it_tried(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("test-keys", "-v", "--inference", "--require-model", "openai/gpt-4o-mini", **keys_env(openrouter=1))
    (inference,) = [line for line in probe_lines(result.stderr) if line.startswith("llmroute: inference")]
    assert inference.startswith(
        f"llmroute: inference openrouter OPENROUTER_API_KEY_1 sk-or-v1…{OR_KEYS[0][-4:]}: model openai/gpt-4o-mini,"
        " POST /api/v1/chat/completions 200 in "
    )
    assert inference.endswith(": ok")


def test_without_verbose_no_probe_is_shown(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("test-keys", **keys_env(openrouter=1))
    assert probe_lines(result.stderr) == []
