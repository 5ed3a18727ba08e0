"""One exit-code contract (README "Exit codes"), row by row, through the real CLI.

Each README row is reached once with its one-line ``error:`` on stderr and, where the command takes ``--json``,
once more with ``--json``: one document on stdout, ``{"error": {"code", "message", "exit_code"}}``. Then: a
closed pipe is 141 and quiet from every command (``--help`` included), an unknown key or provider is the same
usage error in every command that takes one, and contradicting flags are refused.
"""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llmroute.cli.failures import ExitStatus
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, Result, assert_no_secret, keys_env
from tests.fakes import FakeProvider, error, hang, or_401, or_daily_cap, stream_reply

MODEL = "openrouter:openai/gpt-4o-mini"
FREE_MODEL = "openrouter:meta-llama/llama-3.3-70b-instruct:free"
KEY_PATH = "/api/v1/key"
LONG = " ".join(f"word{i}" for i in range(20000))
BUG_HOOK = """
import llmroute.cli.status as status

def run(options, settings, environment):
    raise RuntimeError("injected bug holding " + repr([k.secrets for k in settings.keys]))

status.run = run
"""


@dataclass
class Row:
    """One README row: the command line that reaches it, what stderr says, and the ``--json`` error code."""

    status: int
    args: tuple[str, ...]
    says: str
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Cli, FakeProvider, FakeProvider, Path], dict[str, str]] | None = None
    code: str | None = None
    """``error.code`` with ``--json``; None: this row cannot be reached with ``--json``."""


def _limited(cli: Cli, cloud: FakeProvider, local: FakeProvider, tmp: Path) -> dict[str, str]:
    cloud.script(OR_KEYS[0], or_daily_cap(int((time.time() + 3600) * 1000)))
    return {}


def _rejected(cli: Cli, cloud: FakeProvider, local: FakeProvider, tmp: Path) -> dict[str, str]:
    cloud.script(OR_KEYS[0], error(400, {"error": {"code": 400, "message": "Reasoning is mandatory here."}}))
    return {}


def _all_failed(cli: Cli, cloud: FakeProvider, local: FakeProvider, tmp: Path) -> dict[str, str]:
    cloud.script(OR_KEYS[0], error(500, {"error": {"code": 500, "message": "Internal Server Error"}}))
    return {}


def _broken(cli: Cli, cloud: FakeProvider, local: FakeProvider, tmp: Path) -> dict[str, str]:
    cloud.script(OR_KEYS[0], stream_reply(error_after_tokens=2))
    return {}


def _privacy(cli: Cli, cloud: FakeProvider, local: FakeProvider, tmp: Path) -> dict[str, str]:
    local.script(None, error(503, {"error": "server busy"}))
    return {"OLLAMA_HOST": local.ollama_url}


def _revoked(cli: Cli, cloud: FakeProvider, local: FakeProvider, tmp: Path) -> dict[str, str]:
    cloud.script(OR_KEYS[0], or_401(), path=KEY_PATH)
    return {}


def _bug(cli: Cli, cloud: FakeProvider, local: FakeProvider, tmp: Path) -> dict[str, str]:
    hook = tmp / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(textwrap.dedent(BUG_HOOK))
    return {"PYTHONPATH": str(hook)}


def _broken_config(cli: Cli, cloud: FakeProvider, local: FakeProvider, tmp: Path) -> dict[str, str]:
    (cli.home / "config.toml").write_text("[routing\n")
    return {}


ROWS = {
    "0 ok": Row(0, ("chat", "-m", MODEL, "hi"), ""),
    "1 internal error": Row(1, ("status",), "error: internal error: RuntimeError: ", setup=_bug, code="internal"),
    "2 usage (Click)": Row(2, ("chat", "--temperature", "5", "hi"), "Invalid value for '--temperature'", code="usage"),
    "2 usage (bad --privacy)": Row(
        2, ("chat", "--privacy", "secret", "hi"), "error: --privacy must be 'normal' or 'critical'", code="usage"
    ),
    "3 config (broken file)": Row(3, ("chat", "hi"), "error: config.toml line 1:", setup=_broken_config, code="config"),
    "3 config (bad variable)": Row(
        3, ("chat", "hi"), "error: PREFER_OLLAMA must be true or false", {"PREFER_OLLAMA": "maybe"}, code="config"
    ),
    "3 config (no keys)": Row(3, ("chat", "hi"), "error: ", {"OPENROUTER_API_KEY_1": ""}, code="no_keys"),
    "4 all failed": Row(4, ("chat", "-m", MODEL, "hi"), "error: all ", setup=_all_failed, code="all_failed"),
    "5 limited": Row(5, ("chat", "-m", FREE_MODEL, "hi"), "error: ", setup=_limited, code="limited"),
    "6 rejected": Row(6, ("chat", "-m", MODEL, "hi"), "Reasoning is mandatory", setup=_rejected, code="rejected"),
    # With --json the answer is buffered, so a stream that breaks midway fails over instead: 7 has no --json form.
    "7 stream broken": Row(7, ("chat", "-m", MODEL, "hi"), "after the answer began", setup=_broken),
    "8 privacy": Row(
        8,
        ("chat", "--privacy", "critical", "-m", "kimi-k2.5", "hi"),
        "cloud providers were not contacted",
        setup=_privacy,
        code="privacy_refused",
    ),
    "9 checks failed": Row(9, ("test-keys",), "", setup=_revoked),
}


def _run(cli: Cli, tmp_path: Path, row: Row, cloud: FakeProvider, local: FakeProvider, *, as_json: bool) -> Result:
    env = keys_env(openrouter=1) | row.env
    if row.setup:
        env |= row.setup(cli, cloud, local, tmp_path)
    args = (row.args[0], "--json", *row.args[1:]) if as_json else row.args
    return cli(*args, **env)


@pytest.mark.parametrize("name", list(ROWS))
def test_each_exit_code_row(name: str, cli: Cli, cloud: FakeProvider, local: FakeProvider, tmp_path: Path) -> None:
    row = ROWS[name]
    result = _run(cli, tmp_path, row, cloud, local, as_json=False)
    assert result.code == row.status, result.stderr
    if row.status in (0, 9):
        assert "error:" not in result.stderr
        return
    assert row.says in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 or row.status == 2, result.stderr  # Click's usage block: Usage, hint, Error
    if row.status == 7:
        assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("name", [n for n, r in ROWS.items() if r.code or r.status == 9])
def test_json_answers_every_outcome(
    name: str, cli: Cli, cloud: FakeProvider, local: FakeProvider, tmp_path: Path
) -> None:
    row = ROWS[name]
    result = _run(cli, tmp_path, row, cloud, local, as_json=True)
    assert result.code == row.status, result.stderr
    assert result.stdout.count("\n") == 1, result.stdout
    document = json.loads(result.stdout)
    if row.status == 9:
        assert document["summary"]["exit_code"] == 9
        return
    assert document["error"]["code"] == row.code
    assert document["error"]["exit_code"] == row.status
    assert "\n" not in document["error"]["message"] and document["error"]["message"]
    assert row.says.removeprefix("error: ") in result.stderr  # the human line is still there
    if row.status != 2 or row.code != "usage" or "Click" not in name:
        assert f"error: {document['error']['message']}" in result.stderr


def test_json_internal_error_keeps_secrets_out(
    cli: Cli, cloud: FakeProvider, local: FakeProvider, tmp_path: Path
) -> None:
    result = _run(cli, tmp_path, ROWS["1 internal error"], cloud, local, as_json=True)
    assert result.code == 1 and "injected bug" in json.loads(result.stdout)["error"]["message"]
    assert_no_secret(result.stdout, "stdout")  # Cli.result checks it too; say it here


@pytest.mark.parametrize(
    "args",
    [
        ("status", "--json", "--bogus"),
        ("costs", "--json", "--since", "x"),
        ("costs", "--json", "--by", "nothing"),
        ("models", "--json", "--sort", "nothing"),
        ("prune", "--json", "--keep-days", "0"),
        ("config", "show", "--json", "--bogus"),
        ("test-keys", "--json", "--probes", "99"),
        ("chat", "--json", "--max-tokens", "0", "hi"),
    ],
)
def test_json_usage_errors_from_every_command(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli(*args, **keys_env(openrouter=1))
    assert result.code == 2
    document = json.loads(result.stdout)
    assert document == {"error": {"code": "usage", "message": document["error"]["message"], "exit_code": 2}}


@pytest.mark.parametrize("command", ["status", "costs", "models", "test-keys", "prune", ("config", "show")])
def test_json_config_errors_from_every_command(cli: Cli, command: str | tuple[str, ...]) -> None:
    args = (command,) if isinstance(command, str) else command
    result = cli(*args, "--json", **keys_env(openrouter=1), PREFER_OLLAMA="maybe")
    assert result.code == 3 and result.stderr.startswith("error: PREFER_OLLAMA must be true or false")
    assert json.loads(result.stdout)["error"]["code"] == "config"


def test_ctrl_c_exits_130_with_and_without_json(cli: Cli, cloud: FakeProvider) -> None:
    for as_json in (False, True):
        cloud.script(OR_KEYS[0], hang(30))
        before = len(cloud.chat_requests)
        args = ("chat", *(("--json",) if as_json else ()), "-m", MODEL, "hi")
        proc = cli.popen(*args, **keys_env(openrouter=1))
        deadline = time.monotonic() + 10
        while len(cloud.chat_requests) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        result = Cli.result(proc.returncode, out, err)
        assert result.code == ExitStatus.INTERRUPTED
        if as_json:
            assert json.loads(result.stdout)["error"] == {
                "code": "interrupted",
                "message": "interrupted",
                "exit_code": 130,
            }


# --- a closed pipe --------------------------------------------------------------------------------------------

PIPED = [
    ("--help",),
    ("--version",),
    ("chat", "--help"),
    ("status", "--help"),
    ("config", "--help"),
    ("serve", "--help"),
    ("chat", "-m", MODEL, "hi"),
    ("chat", "--json", "-m", MODEL, "hi"),
    ("models",),
    ("models", "--json"),
    ("test-keys",),
    ("test-keys", "--json"),
    ("status",),
    ("status", "--json"),
    ("costs",),
    ("costs", "--json"),
    ("costs", "--csv"),
    ("metrics",),
    ("reset-limits",),
    ("prune", "--dry-run"),
    ("prune", "--json"),
    ("config", "path"),
    ("config", "show"),
    ("config", "show", "--json"),
    ("config", "init"),
    ("completion", "bash"),
]


@pytest.mark.parametrize("args", PIPED, ids=" ".join)
def test_a_closed_pipe_exits_141_quietly(cli: Cli, cloud: FakeProvider, args: tuple[str, ...]) -> None:
    cloud.script(OR_KEYS[0], stream_reply(text=LONG))
    proc = cli.popen(*args, **keys_env(openrouter=1, ollama=1))
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read()
    proc.wait(timeout=30)
    assert proc.returncode == ExitStatus.BROKEN_PIPE, err
    lines = [line for line in err.decode().splitlines() if not line.startswith(("checked ", "warning: "))]
    assert lines == [], err  # test-keys reports each key on stderr in CI; nothing else is said


def test_a_pipe_closed_midway_exits_141(cli: Cli) -> None:
    """The shell form: ``llmroute --help | head -c1``."""
    script = f"{' '.join(cli_command())} --help | head -c1 >/dev/null; echo ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", script], env=cli.env, cwd=cli.cwd, capture_output=True, timeout=60)
    assert done.stdout.decode().strip() in ("141", "0")  # 0 only if all the help fit the pipe before head exited
    assert b"Traceback" not in done.stderr and b"error" not in done.stderr


def cli_command() -> list[str]:
    from tests.conftest import _cli_command

    return _cli_command()


# --- unknown keys and providers -------------------------------------------------------------------------------


def test_an_unknown_provider_is_the_same_usage_error_everywhere(cli: Cli) -> None:
    env = keys_env(openrouter=1, ollama=1)
    results = [
        cli("chat", "--provider", "nope", "hi", **env),
        cli("models", "--provider", "nope", **env),
        cli("test-keys", "--provider", "nope", **env),
        cli("reset-limits", "--provider", "nope", **env),
    ]
    assert {r.code for r in results} == {2}
    assert len({r.stderr for r in results}) == 1
    assert results[0].stderr.startswith("error: unknown provider 'nope' (known: ollama, openrouter")


def test_an_unknown_key_is_the_same_usage_error_everywhere(cli: Cli) -> None:
    env = keys_env(openrouter=1, ollama=1)
    results = [cli("test-keys", "--key", "NOPE", **env), cli("reset-limits", "--key", "NOPE", **env)]
    assert {r.code for r in results} == {2}
    assert results[0].stderr == results[1].stderr
    assert results[0].stderr.startswith("error: unknown key 'NOPE' (known: OLLAMA_API_KEY, OPENROUTER_API_KEY_1")


def test_a_key_of_another_provider_is_named_as_such(cli: Cli) -> None:
    env = keys_env(openrouter=1, ollama=1)
    args = ("--provider", "openrouter", "--key", "OLLAMA_API_KEY")
    results = [cli("test-keys", *args, **env), cli("reset-limits", *args, **env)]
    assert {r.code for r in results} == {2}
    assert {r.stderr for r in results} == {
        "error: --key OLLAMA_API_KEY belongs to ollama, not to --provider openrouter\n"
    }
    document = json.loads(cli("test-keys", "--json", *args, **env).stdout)
    assert document["error"]["code"] == "usage" and "belongs to ollama" in document["error"]["message"]


# --- contradictions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typer", [False, True], ids=["fast path", "typer"])
def test_contradicting_flags_are_refused(cli: Cli, cloud: FakeProvider, typer: bool) -> None:
    env = keys_env(openrouter=1, ollama=1)
    extra = ("--no-stdin", "--no-stdin") if typer else ("--no-stdin",)  # a repeated flag: Typer reads the line
    pinned = cli("chat", *extra, "--provider", "ollama", "-m", MODEL, "hi", **env)
    assert pinned.code == 2
    assert (
        pinned.stderr == f"error: --provider ollama contradicts -m {MODEL} (pinned to openrouter): drop one of them\n"
    )
    private = cli("chat", *extra, "--privacy", "critical", "--provider", "openrouter", "hi", **env)
    assert private.code == 2
    assert private.stderr == (
        "error: --provider openrouter is not a local provider, which --privacy critical excludes: drop one of them\n"
    )
    bad = cli("chat", *extra, "--privacy", "secret", "hi", **env)
    assert bad.code == 2 and bad.stderr == "error: --privacy must be 'normal' or 'critical', not 'secret'\n"
    assert cloud.requests == []


def test_a_setting_that_contradicts_a_flag_is_refused_too(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=1) | {"LLMROUTE_PRIVACY": "critical"}
    result = cli("chat", "--provider", "openrouter", "hi", **env)
    assert result.code == 2 and "is not a local provider" in result.stderr and "LLMROUTE_PRIVACY" in result.stderr
    assert cloud.requests == []


def test_a_bad_boolean_variable_is_a_config_error(cli: Cli) -> None:
    """Values from the environment or config.toml are exit 3; only the command line is exit 2."""
    result = cli("status", **keys_env(openrouter=1), PREFER_OLLAMA="maybe")
    assert result.code == 3
    assert result.stderr == "error: PREFER_OLLAMA must be true or false (1/0, yes/no, on/off), not 'maybe'\n"
    assert cli("status", **keys_env(openrouter=1), PREFER_OLLAMA="off").code == 0


def test_an_empty_provider_order_is_a_config_error(cli: Cli) -> None:
    (cli.home / "config.toml").write_text("[routing]\nprovider_order = []\n")
    (cli.home / "config.toml").chmod(0o600)
    result = cli("status", **keys_env(openrouter=1))
    assert result.code == 3 and result.stderr.startswith("error: config.toml: routing.provider_order is empty")
    assert result.stderr.count("\n") == 1


def test_ollama_keys_are_canaries_too(cli: Cli) -> None:
    """The fixtures' keys are canaries: no usage error above may print one (``Cli.result`` scans both streams)."""
    result = cli("test-keys", "--key", OLLAMA_KEYS[0], **keys_env(ollama=1))
    assert result.code == 2 and "unknown key" in result.stderr


# --- a prompt longer than every candidate model's context ------------------------------------------------------

BIG_PROMPT = "x" * (3 * 2**20)
"""3 MiB: about 629,000 tokens, over the fake catalogue's 131,072-token context."""


def _list_context(cli: Cli, env: dict[str, str], provider: str, model: str, context: int) -> None:
    """The cached catalogue of ``provider`` in the CLI's state file: ``model`` with ``context`` tokens."""
    from llmroute import Store, load_settings
    from llmroute.types import ModelInfo

    store = Store.open(load_settings(cli.env | env).state_path)
    try:
        store.replace_catalog(provider, [ModelInfo(provider, model, context_length=context)], time.time())
    finally:
        store.close()


def test_a_prompt_too_large_is_the_rejected_status_with_its_own_code() -> None:
    from llmroute import errors
    from llmroute.cli.failures import classify

    failure = errors.PromptTooLarge("the prompt is about 4,190,000 tokens", tokens=4_194_304, context=131_072)
    assert classify(failure) == (ExitStatus.REJECTED, "context_length_exceeded")


def test_a_piped_prompt_too_large_for_the_model_is_never_sent(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=1)
    assert cli("models", "--refresh", **env).code == 0
    result = cli("chat", "-m", MODEL, input=BIG_PROMPT, **env)
    assert result.code != 0
    assert not cloud.chat_requests
    assert "the prompt is about 629,000 tokens" in result.stderr
    assert "takes 131,072" in result.stderr


def test_a_piped_prompt_too_large_for_every_candidate_exits_6_with_one_line(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=1)
    assert cli("models", "--refresh", **env).code == 0
    result = cli("chat", "--json", "-m", MODEL, input=BIG_PROMPT, **env)
    assert result.code == ExitStatus.REJECTED
    assert json.loads(result.stdout)["error"]["code"] == "context_length_exceeded"
    assert "the prompt is about 629,000 tokens, more than any candidate model takes" in result.stderr


def test_a_piped_prompt_too_large_for_one_target_is_answered_by_one_with_a_larger_context(
    cli: Cli, cloud: FakeProvider
) -> None:
    env = keys_env(openrouter=1, ollama=1)
    assert cli("models", "--refresh", **env).code == 0
    _list_context(cli, env, "ollama", "kimi-k2.6", 8_192)
    result = cli("chat", "-m", "kimi-k2.6", input="x" * 200_000, **env)
    assert result.code == 0, result.stderr
    assert [r.wire for r in cloud.chat_requests] == ["openrouter"]
