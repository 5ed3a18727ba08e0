"""Hostile input end to end: broken config files, unsafe base URLs, and prompts that are empty, huge or binary.

Every run goes through the real CLI (the ``cli`` fixture), whose scanner already fails a test when a
test key reaches stdout, stderr or any file under the home, and when a traceback is printed.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import sqlite3
import time
from pathlib import Path

import pytest

from llmroute.cli import chat as chat_command
from llmroute.cli.app import run
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus
from llmroute.config import Settings, load_settings
from llmroute.errors import ConfigError
from llmroute.keys import mask
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, Result, find_leaks, keys_env
from tests.fakes import ErrorResponse, FakeProvider, error

MODEL = "openrouter:openai/gpt-4o-mini"
ANSWER = "Hello from the fake provider.\n"
#: A key that sits in the config file itself: not one of the scanner's canaries (the file would trip it),
#: so each test checks this one by hand.
FILE_KEY = f"sk-or-v1-{secrets.token_hex(32)}"
RANDOM_BYTES = b"\xff" + os.urandom(4096)


def write_config(cli: Cli, text: str | bytes, mode: int = 0o600) -> Path:
    path = cli.home / "config.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)
    return path


def one_error_line(result: Result, code: ExitStatus) -> str:
    """The run failed with ``code`` and said so in exactly one ``error:`` line and nothing else."""
    assert result.code == code, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def warnings_of(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning: ")]


def settings_for(tmp_path: Path, toml: str = "", **env: str) -> Settings:
    if toml:
        path = tmp_path / "config.toml"
        path.write_text(toml)
        path.chmod(0o600)
    return load_settings({"LLMROUTE_HOME": str(tmp_path), **env})


# --- config: invalid TOML and wrong types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('default_model = "x"\n[routing\n', "error: config.toml line 2: "),
        ('default_model = "unterminated\n', "error: config.toml line 1: "),
        (b'default_model = "caf\xe9"\n', "error: cannot read "),
        ("a = " + "[" * 5000 + "]" * 5000 + "\n", "error: config.toml: arrays or tables nested too deeply"),
        ("default_model = \x00\n", "error: config.toml line 1: "),
    ],
    ids=["unclosed-table", "unterminated-string", "not-utf8", "nested-too-deep", "nul-byte"],
)
def test_a_config_file_that_is_not_toml_is_one_line_and_exit_3(cli: Cli, text: str | bytes, expected: str) -> None:
    write_config(cli, text)
    result = cli("chat", "-m", MODEL, "hi", **keys_env(openrouter=1))
    assert one_error_line(result, ExitStatus.CONFIG).startswith(expected)


def test_a_directory_where_the_config_file_should_be_is_exit_3(cli: Cli) -> None:
    (cli.home / "config.toml").mkdir()
    result = cli("status")
    assert "cannot read" in one_error_line(result, ExitStatus.CONFIG)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[routing]\nmax_attempts = "many"\n', "config.toml: routing.max_attempts must be a positive integer"),
        ('[routing]\nprovider_order = "openrouter"\n', "config.toml: routing.provider_order must be a list of strings"),
        ("default_model = 5\n", "config.toml: default_model must be a non-empty string"),
        ("default_model = 1979-05-27\n", "config.toml: default_model must be a non-empty string"),
        ("providers = 5\n", "config.toml: providers must be a table"),
        ('[[providers]]\nname = "x"\n', "config.toml: providers must be a table"),
        ('[providers]\nopenrouter = "https://x"\n', "config.toml: providers.openrouter must be a table"),
        ("aliases = [1, 2]\n", "config.toml: aliases must be a table"),
        ("[aliases]\nfast = 5\n", "config.toml: aliases.fast must be a string or a list of strings"),
        ("[providers.ollama]\nenabled = 1\n", "config.toml: providers.ollama.enabled must be true or false"),
        ("[routing]\ntimeout = inf\n", "config.toml: routing.timeout must be a positive number"),
    ],
)
def test_a_wrong_type_names_the_key_in_one_line(cli: Cli, cloud: FakeProvider, toml: str, message: str) -> None:
    write_config(cli, toml)
    result = cli("chat", "-m", MODEL, "hi", **keys_env(openrouter=1))
    assert one_error_line(result, ExitStatus.CONFIG) == f"error: {message}\n"
    assert cloud.requests == []


def test_unknown_keys_are_warned_about_and_the_run_goes_on(cli: Cli) -> None:
    write_config(cli, '[routing]\nprovder_order = ["openrouter"]\n[providers.openrouter]\nretries = 3\n')
    result = cli("chat", "-m", MODEL, "hi", **keys_env(openrouter=1))
    assert (result.code, result.stdout) == (0, ANSWER)
    assert warnings_of(result) == [
        "warning: config.toml: unknown key routing.provder_order (ignored)",
        "warning: config.toml: unknown key providers.openrouter.retries (ignored)",
    ]


def test_a_config_file_others_can_read_is_warned_about_and_still_used(cli: Cli) -> None:
    path = write_config(cli, "[routing]\nmax_attempts = 2\n", mode=0o644)
    result = cli("config", "show", "--json")
    assert result.code == 0
    assert warnings_of(result) == [
        f"warning: config.toml is readable or writable by other users (mode 0644); run: chmod 600 {path}"
    ]
    assert json.loads(result.stdout)["settings"]["routing.max_attempts"] == {"value": 2, "source": "file"}


# --- config: a key in the file itself ----------------------------------------------------------------------------


def assert_file_key_hidden(*texts: str) -> None:
    for text in texts:
        assert find_leaks(text, [FILE_KEY]) == [], text


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        (f'default_model = "{FILE_KEY}"\n', "default_model"),
        (f'[providers.openrouter]\nkey_variable = "{FILE_KEY}"\n', "providers.openrouter.key_variable"),
        (f"[keys.{FILE_KEY}.limits]\nper_minute = 5\n", f"keys.{mask(FILE_KEY)}"),
    ],
    ids=["as-a-value", "as-the-variable-name", "as-a-table-name"],
)
def test_a_key_in_the_config_file_is_warned_about_and_masked_everywhere(cli: Cli, toml: str, where: str) -> None:
    write_config(cli, toml)
    shown = cli("config", "show", **keys_env(openrouter=1))
    as_json = cli("config", "show", "--json", **keys_env(openrouter=1))
    assert shown.code == as_json.code == 0
    warning = f"warning: config.toml holds what looks like an API key at {where}; keep keys in the environment"
    assert warning in shown.stderr.splitlines()
    assert mask(FILE_KEY) in shown.stdout and mask(FILE_KEY) in as_json.stdout
    assert_file_key_hidden(shown.stdout, shown.stderr, as_json.stdout, as_json.stderr)


def test_a_key_under_an_unknown_name_is_named_by_place_only(cli: Cli) -> None:
    write_config(cli, f'[providers.openrouter]\napi_key = "{FILE_KEY}"\n')
    result = cli("chat", "-m", MODEL, "hi", **keys_env(openrouter=1))
    assert (result.code, result.stdout) == (0, ANSWER)
    assert warnings_of(result) == [
        "warning: config.toml: unknown key providers.openrouter.api_key (ignored)",
        "warning: config.toml holds what looks like an API key at providers.openrouter.api_key; "
        "keep keys in the environment",
    ]
    assert_file_key_hidden(result.stdout, result.stderr)


def test_a_key_given_as_the_key_variable_is_masked_in_the_no_keys_error(cli: Cli) -> None:
    write_config(cli, f'[providers.openrouter]\nkey_variable = "{FILE_KEY}"\n')
    result = cli("chat", "-m", MODEL, "hi")
    assert result.code == ExitStatus.CONFIG and mask(FILE_KEY) in result.stderr
    assert_file_key_hidden(result.stdout, result.stderr)


def test_a_key_pasted_into_a_url_variable_is_not_echoed(cli: Cli) -> None:
    result = cli("chat", "-m", MODEL, "hi", OPENROUTER_BASE_URL=OR_KEYS[0], **keys_env(openrouter=1))
    message = one_error_line(result, ExitStatus.CONFIG)
    assert message == "error: OPENROUTER_BASE_URL must be an http(s) URL, not a value that looks like an API key\n"


# --- config: base URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OPENROUTER_BASE_URL", "ftp://openrouter.ai/api/v1"),
        ("OPENROUTER_BASE_URL", "file:///etc/passwd"),
        ("OPENROUTER_BASE_URL", "https://"),
        ("OPENROUTER_BASE_URL", "https://openrouter.ai:port/api/v1"),
        ("OPENROUTER_BASE_URL", "https://openrouter.ai:99999"),
        ("OLLAMA_BASE_URL", "https://ollama .com"),
        ("OLLAMA_BASE_URL", "javascript:alert(1)"),
    ],
)
def test_a_base_url_httpx_cannot_use_is_a_config_error(
    cli: Cli, cloud: FakeProvider, variable: str, value: str
) -> None:
    result = cli("chat", "-m", MODEL, "hi", **{variable: value}, **keys_env(openrouter=1, ollama=1))
    assert one_error_line(result, ExitStatus.CONFIG) == f"error: {variable} must be an http(s) URL, not {value!r}\n"
    assert cloud.requests == []


def test_a_non_http_base_url_in_the_file_is_a_config_error(cli: Cli) -> None:
    write_config(cli, '[providers.openrouter]\nbase_url = "gopher://openrouter.ai"\n')
    result = cli("chat", "-m", MODEL, "hi", OPENROUTER_BASE_URL="", **keys_env(openrouter=1))
    message = one_error_line(result, ExitStatus.CONFIG)
    assert message == "error: config.toml: providers.openrouter.base_url must be an http(s) URL\n"


def test_plain_http_to_a_cloud_provider_is_refused_before_any_request(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "-m", MODEL, "hi", OPENROUTER_BASE_URL="http://openrouter.ai/api/v1", **keys_env(openrouter=1))
    assert one_error_line(result, ExitStatus.CONFIG) == (
        "error: OPENROUTER_BASE_URL is plain http (http://openrouter.ai): openrouter would get your API key and "
        "prompts unencrypted; use https://, or allow it with allow_insecure_http = true in [providers.openrouter] "
        "or LLMROUTE_ALLOW_INSECURE_HTTP=1\n"
    )
    assert cloud.requests == []


def test_plain_http_from_the_file_names_the_file_and_never_shows_url_credentials(cli: Cli) -> None:
    write_config(cli, '[providers.ollama]\nbase_url = "http://user:hunter2@10.0.0.5:8080/"\n')
    result = cli("status", OLLAMA_BASE_URL="")
    message = one_error_line(result, ExitStatus.CONFIG)
    assert message.startswith("error: config.toml: providers.ollama.base_url is plain http (http://10.0.0.5:8080): ")
    assert "hunter2" not in message and "allow_insecure_http = true in [providers.ollama]" in message


@pytest.mark.parametrize(
    ("toml", "env"),
    [
        ("[providers.openrouter]\nallow_insecure_http = true\n", {}),
        ("", {"LLMROUTE_ALLOW_INSECURE_HTTP": "1"}),
        ("", {"LLMROUTE_ALLOW_INSECURE_HTTP": "yes"}),
        ("[providers.openrouter]\nenabled = false\n", {}),
    ],
    ids=["file", "variable-1", "variable-yes", "provider-disabled"],
)
def test_plain_http_is_allowed_when_asked_for_or_unused(cli: Cli, toml: str, env: dict[str, str]) -> None:
    if toml:
        write_config(cli, toml)
    result = cli("config", "show", "--json", OPENROUTER_BASE_URL="http://gateway.internal:8080/v1", **env)
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)["settings"]
    assert document["providers.openrouter.base_url"]["value"] == "http://gateway.internal:8080/v1"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/api/v1", "http://127.8.9.10", "http://[::1]:8080", "http://localhost:3000/v1"]
)
def test_plain_http_to_loopback_is_fine(tmp_path: Path, url: str) -> None:
    assert settings_for(tmp_path, OPENROUTER_BASE_URL=url).provider("openrouter").base_url == url.rstrip("/")


def test_the_local_provider_may_use_plain_http_anywhere(tmp_path: Path) -> None:
    local = settings_for(tmp_path, OLLAMA_HOST="192.168.1.20:11434").provider("local")
    assert local.enabled and local.base_url == "http://192.168.1.20:11434"


def test_allow_insecure_http_must_be_a_switch(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^LLMROUTE_ALLOW_INSECURE_HTTP must be true or false, not 'maybe'$"):
        settings_for(tmp_path, LLMROUTE_ALLOW_INSECURE_HTTP="maybe")
    with pytest.raises(ConfigError, match=r"^config.toml: providers.ollama.allow_insecure_http must be true or false"):
        settings_for(tmp_path, '[providers.ollama]\nallow_insecure_http = "yes"\n')


def test_allow_insecure_http_means_nothing_for_the_local_provider(cli: Cli) -> None:
    write_config(cli, "[providers.local]\nallow_insecure_http = true\n")
    result = cli("status", **keys_env(openrouter=1))
    assert warnings_of(result) == ["warning: config.toml: unknown key providers.local.allow_insecure_http (ignored)"]


@pytest.mark.parametrize(
    "value",
    ["sk-or-v1-abc\u200bdef0123456789", f"{OR_KEYS[2]}\u201d", "sk-or-v1 with spaces"],
    ids=["zero-width-space", "smart-quote", "spaces"],
)
def test_a_key_with_characters_no_header_can_carry_is_skipped_with_a_warning(
    cli: Cli, cloud: FakeProvider, value: str
) -> None:
    result = cli("chat", "-m", MODEL, "hi", OPENROUTER_API_KEY=value, **keys_env(openrouter=1))
    assert (result.code, result.stdout) == (0, ANSWER)
    assert warnings_of(result) == [
        "warning: OPENROUTER_API_KEY is ignored: its value holds a space, a control or a non-ASCII character "
        "(often a copy-paste accident); set it again"
    ]
    assert [r.bearer for r in cloud.chat_requests] == [OR_KEYS[0]]
    assert find_leaks(result.stderr, [value]) == []


# --- prompts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin"),
    [(("",), None), (("   ", "\t"), None), ((), b""), ((), b" \n\t\r\n "), (("  ",), b"\n\n")],
    ids=["empty-argument", "blank-arguments", "empty-stdin", "blank-stdin", "blank-both"],
)
def test_an_empty_or_blank_prompt_is_a_usage_error(
    cli: Cli, cloud: FakeProvider, args: tuple[str, ...], stdin: bytes | None
) -> None:
    result = cli("chat", "-m", MODEL, *args, input=stdin, **keys_env(openrouter=1))
    assert one_error_line(result, ExitStatus.USAGE) == "error: the prompt is empty\n"
    assert cloud.requests == []


@pytest.mark.parametrize("model", ["", "  ", "openrouter:", ":"])
def test_an_empty_model_name_is_a_usage_error(cli: Cli, cloud: FakeProvider, model: str) -> None:
    result = cli("chat", "-m", model, "hi", **keys_env(openrouter=1))
    assert one_error_line(result, ExitStatus.USAGE)
    assert cloud.requests == []


@pytest.mark.parametrize(
    "args",
    [
        ("chat", "--timeout", "nan", "hi"),
        ("chat", "--temperature", "nan", "hi"),
        ("test-keys", "--timeout", "nan"),
        ("models", "--max-price", "inf"),
        ("costs", "--days", "999999999999"),
    ],
)
def test_numbers_that_are_not_finite_or_sane_are_usage_errors(
    cli: Cli, cloud: FakeProvider, args: tuple[str, ...]
) -> None:
    result = cli(*args, **keys_env(openrouter=1))
    assert result.code == ExitStatus.USAGE, result.stderr
    assert cloud.requests == []


def test_ten_megabytes_of_stdin_are_sent_intact(cli: Cli, cloud: FakeProvider) -> None:
    line = b"the quick brown fox jumps over the lazy dog 0123456789\n"
    data = (line * (10 * 2**20 // len(line) + 1))[: 10 * 2**20]
    started = time.monotonic()
    result = cli("chat", "--no-stream", "-m", MODEL, input=data, timeout=120, **keys_env(openrouter=1))
    elapsed = time.monotonic() - started
    assert (result.code, result.stdout, result.stderr) == (0, ANSWER, "")
    (request,) = cloud.chat_requests
    content = request.body["messages"][-1]["content"]
    assert len(content) == 10 * 2**20 and content.encode() == data
    assert len(request.raw_body) > 10 * 2**20
    assert elapsed < 30, f"10 MB took {elapsed:.1f} s"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"caf\xe9 au lait", "caf\ufffd au lait"),
        (bytes(range(256)), bytes(range(256)).decode("utf-8", "replace")),
        (b"\xff\xfeh\x00i\x00", "\ufffd\ufffdh\x00i\x00"),
        (RANDOM_BYTES, RANDOM_BYTES.decode("utf-8", "replace")),
    ],
    ids=["latin-1", "every-byte", "utf-16", "random"],
)
def test_binary_or_invalid_utf8_stdin_warns_and_is_sent_with_replacement_characters(
    cli: Cli, cloud: FakeProvider, data: bytes, expected: str
) -> None:
    result = cli("chat", "-m", MODEL, input=data, **keys_env(openrouter=1))
    assert (result.code, result.stdout) == (0, ANSWER)
    assert result.stderr == "warning: stdin is not valid UTF-8; undecodable bytes were replaced\n"
    assert cloud.chat_requests[0].body["messages"][-1]["content"] == expected


def test_valid_utf8_that_holds_a_replacement_character_gets_no_warning(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "-m", MODEL, input="already \ufffd here", **keys_env(openrouter=1))
    assert (result.code, result.stderr) == (0, "")
    assert cloud.chat_requests[0].body["messages"][-1]["content"] == "already \ufffd here"


def test_arguments_that_are_not_utf8_warn_and_are_replaced(cli: Cli, cloud: FakeProvider) -> None:
    # Python hands undecodable argv bytes over as lone surrogates; subprocess turns them back into bytes.
    result = cli("chat", "-m", MODEL, "-s", "sys\udcff", "caf\udce9", **keys_env(openrouter=1))
    assert (result.code, result.stdout) == (0, ANSWER)
    assert result.stderr == "warning: the command line is not valid UTF-8; undecodable bytes were replaced\n"
    messages = cloud.chat_requests[0].body["messages"]
    assert [m["content"] for m in messages] == ["sys\ufffd", "caf\ufffd"]


def test_control_characters_in_an_error_are_shown_escaped_not_sent_to_the_terminal(cli: Cli) -> None:
    result = cli("chat", "--provider", "\x1b]0;pwned\x07\x1b[2J", "hi", **keys_env(openrouter=1))
    message = one_error_line(result, ExitStatus.USAGE)
    assert "\x1b" not in message and "\x07" not in message and "\\x1b]0;pwned\\x07\\x1b[2J" in message


def test_a_debug_traceback_is_masked_and_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> ExitStatus:
        raise RuntimeError(f"\x1b[2J\x1b]0;pwned\x07 boom {OR_KEYS[0]} and {OLLAMA_KEYS[0][:30]}")

    monkeypatch.setattr(chat_command, "chat", broken)
    stderr = io.StringIO()
    env = {"LLMROUTE_HOME": str(tmp_path), "OPENROUTER_API_KEY": OR_KEYS[0], "OLLAMA_API_KEY": OLLAMA_KEYS[0]}
    environment = Environment(stdin=io.BytesIO(), stdout=io.StringIO(), stderr=stderr, env=env)
    assert run(["--debug", "chat", "hi"], environment) == ExitStatus.ERROR
    text = stderr.getvalue()
    assert text.startswith("Traceback (most recent call last):") and text.endswith("\n")
    assert f"RuntimeError: \\x1b[2J\\x1b]0;pwned\\x07 boom {mask(OR_KEYS[0])} and {mask(OLLAMA_KEYS[0])}\n" in text
    assert find_leaks(text) == [] and "\x1b" not in text


def test_a_catalogue_cannot_send_escape_sequences_to_the_terminal(cli: Cli) -> None:
    hostile = "llama\x1b]0;pwned\x07\x1b[2J\u202eevil"
    with FakeProvider(keys={}, models={hostile}, require_auth=False) as daemon:
        result = cli("models", "--provider", "local", OLLAMA_HOST=daemon.ollama_url)
    assert result.code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "llama\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil" in result.stdout


def test_a_huge_model_name_gives_a_bounded_error_line(cli: Cli) -> None:
    result = cli("chat", "-m", "x" * 100_000, "hi", **keys_env(ollama=1))
    assert len(one_error_line(result, ExitStatus.REJECTED)) <= len("error: ") + 1000 + 1


# --- a key's value inside the prompt ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [OR_KEYS[0], f"please remember {OLLAMA_KEYS[0]} and {OR_KEYS[1]} for later"],
    ids=["the-key-itself", "keys-inside"],
)
@pytest.mark.parametrize("flags", [(), ("-v",), ("--json",), ("-v", "--no-stream")])
def test_a_prompt_holding_a_key_is_sent_but_never_shown_or_stored(
    cli: Cli, cloud: FakeProvider, prompt: str, flags: tuple[str, ...]
) -> None:
    result = cli("chat", *flags, "-m", MODEL, prompt, **keys_env(openrouter=2, ollama=1))
    assert result.code == 0  # stdout, stderr and every file under the home are scanned by the fixtures
    assert cloud.chat_requests[0].body["messages"][-1]["content"] == prompt


def test_a_prompt_holding_a_key_via_stdin_is_never_shown_or_stored(cli: Cli, cloud: FakeProvider) -> None:
    """An unlogged exchange keeps nothing of the prompt (a key llmroute does not hold cannot be recognised in it)."""
    result = cli("chat", "-v", "--no-log", "-m", MODEL, input=f"{OR_KEYS[2]}\n", **keys_env(openrouter=1))
    assert result.code == 0 and cloud.chat_requests[0].body["messages"][-1]["content"] == f"{OR_KEYS[2]}\n"


def test_a_logged_prompt_holding_a_configured_key_keeps_only_its_mask(cli: Cli, cloud: FakeProvider) -> None:
    result = cli("chat", "-m", MODEL, input=f"{OR_KEYS[2]}\n", **keys_env(openrouter=3))
    assert result.code == 0 and cloud.chat_requests[0].body["messages"][-1]["content"] == f"{OR_KEYS[2]}\n"
    logged = cli("logs", "--json", **keys_env(openrouter=3))
    prompt = json.loads(logged.stdout)[0]["prompt"]
    assert OR_KEYS[2] not in prompt and prompt.startswith(OR_KEYS[2][:8]) and "…" in prompt


def leaks_in_state(cli: Cli) -> list[str]:
    found: list[str] = []
    for path in sorted(cli.home.rglob("*")):
        if path.is_file():
            found += [f"{path.name}: {leak}" for leak in find_leaks(path.read_bytes())]
    return found


def stored_messages(cli: Cli) -> list[str]:
    with sqlite3.connect(cli.home / "state.db") as conn:
        return [row[0] for row in conn.execute("SELECT message FROM attempts WHERE message IS NOT NULL")]


#: Another key whole, then one that the provider's 240-character message limit cuts in the middle.
CUT_PROMPT = f"the ollama key is {OLLAMA_KEYS[0]}; then " + "x" * 100 + f" {OR_KEYS[1]}"


def echo_400(prompt: str) -> ErrorResponse:
    return error(400, {"error": {"code": 400, "message": f"Invalid input: could not parse {prompt!r}"}})


def test_a_rejection_that_quotes_the_prompt_shows_the_callers_own_key_masked(cli: Cli, cloud: FakeProvider) -> None:
    """The adapter redacts the key the request was sent with, before the message is shown or stored."""
    prompt = f"my key is {OR_KEYS[0]}"
    cloud.script(OR_KEYS[0], echo_400(prompt))
    for flags in ((), ("-v",), ("--json",)):
        result = cli("chat", *flags, "-m", MODEL, prompt, **keys_env(openrouter=1))
        assert result.code == ExitStatus.REJECTED and mask(OR_KEYS[0]) in result.stdout + result.stderr
        cloud.script(OR_KEYS[0], echo_400(prompt))
    assert all(mask(OR_KEYS[0]) in m for m in stored_messages(cli))


@pytest.mark.parametrize("flags", [(), ("-v",), ("--json",)])
def test_a_rejection_that_quotes_another_key_from_the_prompt_is_masked_on_screen(
    cli: Cli, cloud: FakeProvider, flags: tuple[str, ...]
) -> None:
    """On stdout and stderr, the CLI masks every configured key, whoever's message holds it."""
    cloud.script(OR_KEYS[0], echo_400(CUT_PROMPT))
    try:
        result = cli("chat", *flags, "-m", MODEL, CUT_PROMPT, **keys_env(openrouter=2, ollama=1))
        assert result.code == ExitStatus.REJECTED and mask(OLLAMA_KEYS[0]) in result.stdout + result.stderr
        assert mask(OR_KEYS[1]) in result.stdout + result.stderr  # the head of a key cut short at 240 characters
    finally:
        empty_home(cli)  # what the state file keeps is the next test's business; this one is about the screen


def test_a_rejection_that_quotes_another_key_from_the_prompt_is_not_stored(cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], echo_400(CUT_PROMPT))
    try:
        result = cli("chat", "-m", MODEL, CUT_PROMPT, **keys_env(openrouter=2, ollama=1))
        assert result.code == ExitStatus.REJECTED
        assert leaks_in_state(cli) == []
    finally:
        empty_home(cli)  # the known leak must not also fail the fixture's own scan at teardown


def empty_home(cli: Cli) -> None:
    for path in cli.home.rglob("*"):
        if path.is_file():
            path.unlink()
