"""``llmroute chat`` end to end: the real CLI as a subprocess against fake providers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import pty
import signal
import time

from llmroute.cli.failures import ExitStatus
from llmroute.store import Store
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, keys_env
from tests.fakes import (
    FakeProvider,
    error,
    hang,
    oll_usage_limit,
    or_401,
    or_daily_cap,
    or_429,
    reply,
    stream_reply,
)

ANSWER = "Hello from the fake provider."
FREE_MODEL = "openrouter:meta-llama/llama-3.3-70b-instruct:free"


def ledger(cli: Cli):
    store = Store.open(cli.home / "state.db")
    try:
        return store.attempts()
    finally:
        store.close()


def in_an_hour_ms() -> int:
    return int((time.time() + 3600) * 1000)


def test_openrouter_answers_a_streamed_prompt(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "-m", "openrouter:openai/gpt-4o-mini", "Say hi", **keys_env(openrouter=1))
    assert (result.code, result.stdout) == (0, ANSWER + "\n")
    (request,) = cloud.chat_requests
    assert request.body["stream"] is True and request.body["messages"][-1]["content"] == "Say hi"
    assert request.headers["x-openrouter-title"] == "llmroute" and "http-referer" in request.headers


def test_openrouter_answers_without_streaming(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "--no-stream", "-m", "openrouter:openai/gpt-4o-mini", "Say hi", **keys_env(openrouter=1))
    assert (result.code, result.stdout) == (0, ANSWER + "\n")
    assert cloud.chat_requests[0].body["stream"] is False


def test_every_openrouter_usage_shape_is_read(cli: Cli, cloud: FakeProvider) -> None:
    for shape in ("A", "B", "C"):
        cloud.script(OR_KEYS[0], stream_reply(usage_shape=shape, processing_comments=2, cost=0.000123))
        result = cli("chat", "--json", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=1))
        document = json.loads(result.stdout)
        assert document["text"] == ANSWER and document["usage"]["cost_micros"] == 123, shape
        assert document["usage"]["output_tokens"] > 0


def test_ollama_cloud_answers_over_ndjson_with_options(cli: Cli, cloud: FakeProvider) -> None:
    result = cli(
        "chat", "-m", "ollama:gpt-oss:120b", "--max-tokens", "3", "--temperature", "0.5", "hi", **keys_env(ollama=1)
    )
    assert result.code == 0 and result.stdout == "Hello from the\n"
    body = cloud.chat_requests[0].body
    assert body["options"] == {"num_predict": 3, "temperature": 0.5} and body["stream"] is True
    assert cloud.chat_requests[0].bearer == OLLAMA_KEYS[0]


def test_alias_cascades_from_ollama_cloud_to_openrouter(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OLLAMA_KEYS[0], oll_usage_limit("weekly"))
    result = cli("chat", "-v", "-m", "kimi-k2.6", "hi", **keys_env(ollama=1, openrouter=1))
    assert result.code == 0 and result.stdout == ANSWER + "\n"
    assert [r.path for r in cloud.chat_requests] == ["/api/chat", "/api/v1/chat/completions"]
    assert "usage limit" in result.stderr and "answered by openrouter" in result.stderr


def test_429_on_key_1_is_answered_by_key_2(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], or_429(reset_ms=in_an_hour_ms()))
    result = cli("chat", "-v", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=2))
    assert result.code == 0 and result.stdout == ANSWER + "\n"
    assert [r.bearer for r in cloud.chat_requests] == OR_KEYS[:2]
    assert "OPENROUTER_API_KEY_1" in result.stderr and "rate_limited" in result.stderr


def test_a_second_process_honours_the_cooldown(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], or_429(reset_ms=in_an_hour_ms()))
    env = keys_env(openrouter=2)
    assert cli("chat", "-m", "openrouter:openai/gpt-4o-mini", "one", **env).code == 0
    assert cli("chat", "-m", "openrouter:openai/gpt-4o-mini", "two", **env).code == 0
    assert len(cloud.requests_for(OR_KEYS[0])) == 1
    assert len(cloud.requests_for(OR_KEYS[1])) == 2


def test_401_disables_the_key_for_later_runs(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], or_401())
    env = keys_env(openrouter=2)
    for _ in range(2):
        assert cli("chat", "-m", "openrouter:openai/gpt-4o-mini", "hi", **env).code == 0
    assert len(cloud.requests_for(OR_KEYS[0])) == 1
    (first, *_) = ledger(cli)
    assert (first.error_kind, first.http_status) == ("auth", 401)


def test_every_key_limited_exits_limited_with_the_reset_time(cli: Cli, cloud: FakeProvider) -> None:
    for key in OR_KEYS[:2]:
        cloud.script(key, or_daily_cap(in_an_hour_ms()))
    env = keys_env(openrouter=2)
    result = cli("chat", "-m", FREE_MODEL, "hi", **env)
    assert result.code == ExitStatus.LIMITED and result.stdout == ""
    assert result.stderr.startswith("error: ") and "frees at" in result.stderr
    again = cli("chat", "-m", FREE_MODEL, "hi", **env)
    assert again.code == ExitStatus.LIMITED and len(cloud.chat_requests) == 2


def test_a_400_is_not_failed_over(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(
        OR_KEYS[0],
        error(
            400, {"error": {"code": 400, "message": "Reasoning is mandatory for this endpoint and cannot be disabled."}}
        ),
    )
    result = cli("chat", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=3))
    assert result.code == ExitStatus.REJECTED and "Reasoning is mandatory" in result.stderr
    assert len(cloud.chat_requests) == 1


def test_an_unknown_model_is_rejected_after_asking_each_provider_once(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "-m", "nosuch-model", "hi", **keys_env(openrouter=2, ollama=2))
    assert result.code == ExitStatus.REJECTED and "nosuch-model" in result.stderr
    assert len(cloud.chat_requests) == 1


def test_an_unknown_openrouter_id_is_a_model_error_not_a_bad_key(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "-m", "acme/fake-1.0", "hi", **keys_env(openrouter=2))
    assert result.code == ExitStatus.REJECTED and len(cloud.chat_requests) == 1
    assert cli("chat", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=2)).code == 0
    assert cloud.chat_requests[-1].bearer == OR_KEYS[0]


def test_an_error_after_the_first_token_keeps_partial_output_and_exits_7(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], stream_reply(error_after_tokens=2))
    result = cli("chat", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=2))
    assert result.code == ExitStatus.STREAM_BROKEN
    assert result.stdout.startswith("Hello ") and result.stdout != ANSWER + "\n"
    assert result.stderr.startswith("error: ") and "after the answer began" in result.stderr
    assert len(cloud.chat_requests) == 1


def test_an_ollama_error_line_before_any_token_fails_over(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OLLAMA_KEYS[0], stream_reply(error_after_tokens=0))
    result = cli("chat", "-m", "ollama:gpt-oss:120b", "hi", **keys_env(ollama=2))
    assert result.code == 0 and result.stdout == ANSWER + "\n"
    assert [r.bearer for r in cloud.chat_requests] == OLLAMA_KEYS


def test_privacy_critical_never_contacts_the_cloud(cli: Cli, cloud: FakeProvider, local: FakeProvider) -> None:
    env = keys_env(openrouter=2, ollama=2) | {"OLLAMA_HOST": local.ollama_url}
    result = cli("chat", "--privacy", "critical", "-m", "kimi-k2.5", "secret plans", **env)
    assert result.code == 0 and result.stdout == ANSWER + "\n"
    assert cloud.requests == [] and len(local.chat_requests) == 1
    assert local.chat_requests[0].bearer is None


def test_privacy_critical_without_a_local_model_exits_8_and_stays_offline(
    cli: Cli, cloud: FakeProvider, local: FakeProvider
) -> None:
    local.script(None, error(503, {"error": "server busy, please try again.  maximum pending requests exceeded"}))
    env = keys_env(openrouter=2, ollama=2) | {"OLLAMA_HOST": local.ollama_url, "LLMROUTE_PRIVACY": "critical"}
    result = cli("chat", "-m", "kimi-k2.5", "secret plans", **env)
    assert result.code == ExitStatus.PRIVACY and "cloud providers were not contacted" in result.stderr
    assert cloud.requests == []


def test_json_reports_the_answer_and_every_attempt(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], or_429(reset_ms=in_an_hour_ms()))
    cloud.script(OR_KEYS[1], reply(cost=0.002))
    result = cli("chat", "--json", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=2))
    document = json.loads(result.stdout)
    assert document["text"] == ANSWER and document["provider"] == "openrouter"
    assert document["model"] == "openai/gpt-4o-mini" and document["key_label"] == "OPENROUTER_API_KEY_2"
    assert document["key_mask"] == f"sk-or-v1…{OR_KEYS[1][-4:]}"
    assert document["usage"]["cost_micros"] == 2000 and document["latency_ms"] > 0
    assert [(a["key_label"], a["outcome"], a["error_kind"]) for a in document["attempts"]] == [
        ("OPENROUTER_API_KEY_1", "failed", "rate_limited"),
        ("OPENROUTER_API_KEY_2", "ok", None),
    ]


def test_json_failure_is_one_document_too(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], or_daily_cap(in_an_hour_ms()))
    result = cli("chat", "--json", "-m", FREE_MODEL, "hi", **keys_env(openrouter=1))
    document = json.loads(result.stdout)
    assert result.code == ExitStatus.LIMITED and document["error"]["exit_code"] == ExitStatus.LIMITED
    assert document["attempts"][0]["error_kind"] == "quota"


def test_piped_stdin_comes_first_then_the_arguments(cli: Cli, cloud: FakeProvider) -> None:
    result = cli(
        "chat",
        "-m",
        "openrouter:openai/gpt-4o-mini",
        "-s",
        "be brief",
        "summarize this",
        input="line one\nline two\n",
        **keys_env(openrouter=1),
    )
    assert result.code == 0
    messages = cloud.chat_requests[0].body["messages"]
    assert messages == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "line one\nline two\n\nsummarize this"},
    ]


def test_no_stdin_ignores_piped_input(cli: Cli, cloud: FakeProvider) -> None:
    result = cli(
        "chat",
        "--no-stdin",
        "-m",
        "openrouter:openai/gpt-4o-mini",
        "only this",
        input="ignored",
        **keys_env(openrouter=1),
    )
    assert result.code == 0 and cloud.chat_requests[0].body["messages"][-1]["content"] == "only this"


def test_empty_stdin_is_a_usage_error(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", input="  \n", **keys_env(openrouter=1))
    assert result.code == ExitStatus.USAGE and result.stderr == "error: the prompt is empty\n"
    assert cloud.requests == []


def test_no_prompt_on_a_terminal_is_a_usage_error_not_a_hang(cli: Cli) -> None:
    controller, terminal = pty.openpty()
    try:
        proc = cli.popen("chat", stdin=terminal, **keys_env(openrouter=1))
        out, err = proc.communicate(timeout=20)
    finally:
        os.close(controller)
        os.close(terminal)
    result = Cli.result(proc.returncode, out, err)
    assert result.code == ExitStatus.USAGE and "no prompt" in result.stderr


def test_default_model_comes_from_llmroute_model(cli: Cli, cloud: FakeProvider) -> None:
    result = cli(
        "chat", "hi", LLMROUTE_MODEL="openrouter:meta-llama/llama-3.3-70b-instruct:free", **keys_env(openrouter=1)
    )
    assert result.code == 0 and cloud.chat_requests[0].body["model"] == "meta-llama/llama-3.3-70b-instruct:free"


def test_server_errors_on_every_key_exit_4(cli: Cli, cloud: FakeProvider) -> None:
    for key in OR_KEYS[:2]:
        cloud.script(key, error(500, {"error": {"code": 500, "message": "Internal Server Error"}}))
    result = cli("chat", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=2))
    assert result.code == ExitStatus.ALL_FAILED and "all 2 attempts failed" in result.stderr


def test_the_deadline_bounds_a_hanging_provider(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], hang(30))
    started = time.monotonic()
    result = cli("chat", "--timeout", "1.5", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=1))
    assert result.code == ExitStatus.ALL_FAILED and "deadline" in result.stderr
    assert time.monotonic() - started < 10


def test_broken_config_file_is_one_line_and_exit_3(cli: Cli) -> None:
    (cli.home / "config.toml").write_text("[routing\nprovider_order = 1\n")
    result = cli("chat", "hi", **keys_env(openrouter=1))
    assert result.code == ExitStatus.CONFIG and result.stderr.startswith("error: config.toml line 1:")
    assert result.stderr.count("\n") == 1


def test_no_keys_at_all_says_which_variables_to_set(cli: Cli) -> None:
    result = cli("chat", "-m", "kimi-k2.6", "hi")
    assert result.code == ExitStatus.CONFIG and "OLLAMA_API_KEY or OPENROUTER_API_KEY" in result.stderr


def test_a_closed_pipe_is_quiet(cli: Cli, cloud: FakeProvider) -> None:
    long_text = " ".join(f"word{i}" for i in range(20000))
    cloud.script(OR_KEYS[0], stream_reply(text=long_text))
    proc = cli.popen("chat", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=1))
    assert proc.stdout is not None
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read() if proc.stderr else b""
    proc.wait(timeout=20)
    assert proc.returncode == ExitStatus.BROKEN_PIPE
    assert err == b""


def test_ctrl_c_exits_130(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], hang(30))
    proc = cli.popen("chat", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=1))
    deadline = time.monotonic() + 10
    while not cloud.chat_requests and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    result = Cli.result(proc.returncode, out, err)
    assert result.code == ExitStatus.INTERRUPTED


def test_concurrent_processes_record_every_attempt_exactly_once(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], or_429(reset_ms=in_an_hour_ms()))
    procs = [
        cli.popen("chat", "-m", "openrouter:openai/gpt-4o-mini", f"prompt {i}", **keys_env(openrouter=3))
        for i in range(8)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    results = [Cli.result(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=False)]
    assert [p.returncode for p in procs] == [0] * 8, [r.stderr for r in results]
    rows = ledger(cli)
    assert len(rows) == len(cloud.chat_requests)
    assert sum(r.outcome == "ok" for r in rows) == 8 and len({r.request_id for r in rows}) == 8


def test_a_provider_error_that_echoes_the_key_is_masked(cli: Cli, cloud: FakeProvider) -> None:
    echo = {"error": {"code": 401, "message": f"Invalid API key {OR_KEYS[0]} provided"}}
    cloud.script(OR_KEYS[0], error(401, echo))
    result = cli("chat", "-v", "--json", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=2))
    assert result.code == 0
    assert f"Invalid API key sk-or-v1…{OR_KEYS[0][-4:]} provided" in result.stderr


def test_keys_from_a_dotenv_file_in_the_working_directory(cli: Cli, cloud: FakeProvider) -> None:
    (cli.cwd / ".env").write_text(f"OPENROUTER_API_KEY='{OR_KEYS[2]}'\n")
    result = cli("chat", "-m", "openrouter:openai/gpt-4o-mini", "hi")
    assert result.code == 0 and cloud.chat_requests[0].bearer == OR_KEYS[2]


def test_tokens_reach_stdout_as_they_arrive(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], stream_reply(text="one two three four five", chunk_delay=0.4))
    started = time.monotonic()
    proc = cli.popen("chat", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=1))
    assert proc.stdout is not None
    first = os.read(proc.stdout.fileno(), 100)
    first_at = time.monotonic() - started
    rest, _err = proc.communicate(timeout=30)
    done_at = time.monotonic() - started
    assert proc.returncode == 0 and (first + rest).decode() == "one two three four five\n"
    assert first.decode().startswith("one") and done_at - first_at > 1.0


def test_a_stream_that_stalls_after_the_first_token_ends_at_the_deadline(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], stream_reply(stall_after_tokens=1))
    started = time.monotonic()
    result = cli("chat", "--timeout", "1.5", "-m", "openrouter:openai/gpt-4o-mini", "hi", **keys_env(openrouter=2))
    assert result.code == ExitStatus.STREAM_BROKEN and result.stdout.startswith("Hello")
    assert time.monotonic() - started < 10 and len(cloud.chat_requests) == 1


def test_a_local_call_is_costed_from_the_catalogue_as_a_free_estimate(cli: Cli, local: FakeProvider) -> None:
    env = {"OLLAMA_HOST": local.ollama_url}
    assert cli("models", "--provider", "local", **env).code == 0
    result = cli("chat", "--json", "-m", "local:llama3.2", "hi", **env)
    usage = json.loads(result.stdout)["usage"]
    assert (usage["cost_micros"], usage["cost_estimated"]) == (0, True)
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
