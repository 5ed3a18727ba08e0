"""Key state counts the way providers count, end to end: each failure is kept at its scope (a key, a key for one
model, a quota pool for a class of models, a model at a provider, an endpoint), and the real ``llmroute``
processes that follow skip exactly what it holds, with no round trip, and nothing else.

Every test runs the CLI as a subprocess against the fake providers on 127.0.0.1 and checks what a user would
notice: exit codes, stdout, stderr, which requests reached the fake, the ledger, and ``status --json``.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from llmroute.cli.failures import ExitStatus
from llmroute.keys import fingerprint
from llmroute.store import AttemptRow, Hold, Store, Ticket
from tests.conftest import OLLAMA_KEYS, OR_KEYS, Cli, base_env, keys_env
from tests.fakes import (
    DEFAULT_TEXT,
    ErrorResponse,
    FakeProvider,
    RecordedRequest,
    oll_401,
    oll_402_extra_usage,
    oll_403_cloud_disabled,
    oll_403_subscription,
    oll_404,
    oll_500_unserved,
    or_daily_cap,
    or_per_minute,
)

FREE_ID = "meta-llama/llama-3.3-70b-instruct:free"
FREE = f"openrouter:{FREE_ID}"
PAID_ID = "openai/gpt-4o-mini"
PAID = f"openrouter:{PAID_ID}"
ANSWER = DEFAULT_TEXT + "\n"
SIGNIN_URL = "https://ollama.com/connect?name=workstation&key=c3NoLWVkMjU1MTkgQUFBQQ"


# --- helpers ----------------------------------------------------------------------------------------------------


def configure(cli: Cli, toml: str) -> None:
    path = cli.home / "config.toml"
    path.write_text(toml)
    path.chmod(0o600)


def ledger(cli: Cli) -> list[AttemptRow]:
    store = Store.open(cli.home / "state.db")
    try:
        return store.attempts()
    finally:
        store.close()


def chats(fake: FakeProvider, secret: str | None = None, model: str | None = None) -> list[RecordedRequest]:
    """The chat requests that reached ``fake``, of one key and for one model when given."""
    return [
        r
        for r in fake.chat_requests
        if (secret is None or r.bearer == secret) and (model is None or r.body.get("model") == model)
    ]


def keys_in_status(cli: Cli, **env: str) -> dict[str, dict[str, Any]]:
    result = cli("status", "--json", **env)
    assert result.code == ExitStatus.OK, result.stderr
    return {k["label"]: k for k in json.loads(result.stdout)["keys"]}


def in_seconds_ms(seconds: int) -> int:
    """An ``X-RateLimit-Reset`` that many seconds ahead, on a whole second."""
    return (int(time.time()) + seconds) * 1000


def hh_mm(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%H:%M")


def free_calls_today(cli: Cli, label: str, secret: str, count: int) -> None:
    """``count`` answered free-model calls of one key, written through the same admission the router uses."""
    store = Store.open(cli.home / "state.db")
    try:
        for i in range(count):
            now = time.time()
            ticket = Ticket(f"earlier-{i}", "openrouter", FREE_ID, label, fingerprint(secret), free_model=True)
            attempt = store.admit(ticket, now)
            assert isinstance(attempt, int), attempt
            answered = AttemptRow(
                ts=now,
                request_id=ticket.request_id,
                provider="openrouter",
                key_label=label,
                key_fingerprint=fingerprint(secret),
                model=FREE_ID,
                outcome="ok",
                error_kind=None,
                http_status=None,
                message=None,
                latency_ms=50.0,
                ttft_ms=40.0,
                tokens_in=3,
                tokens_out=5,
                cost_micros=0,
            )
            store.settle(attempt, answered)
    finally:
        store.close()


def endpoint_hold(cli: Cli) -> Hold:
    """The hold the local daemon's unreachable endpoint left in the state file."""
    store = Store.open(cli.home / "state.db")
    try:
        (hold,) = [h for h in store.all_holds() if h.scope == "endpoint"]
        return hold
    finally:
        store.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- 1. a free-model cap holds free models only ------------------------------------------------------------------

FREE_CAPS: dict[str, Callable[[], tuple[ErrorResponse, str]]] = {
    "per minute": lambda: (or_per_minute(reset_ms=(reset := in_seconds_ms(300))), hh_mm(reset)),
    "per day": lambda: (or_daily_cap(), "00:00 UTC"),
}


@pytest.mark.parametrize("cap", FREE_CAPS)
def test_a_free_model_cap_on_a_key_leaves_its_paid_models_answering_and_skips_its_free_models_until_the_reset(
    cli: Cli, cloud: FakeProvider, cap: str
) -> None:
    refusal, reset = FREE_CAPS[cap]()
    env = keys_env(openrouter=1)
    cloud.script(OR_KEYS[0], refusal, model=FREE_ID)
    assert cli("chat", "-m", FREE, "hi", **env).code == ExitStatus.LIMITED
    assert len(chats(cloud, OR_KEYS[0], FREE_ID)) == 1

    paid = cli("chat", "-v", "-m", PAID, "hi", **keys_env(openrouter=2))
    assert (paid.code, paid.stdout) == (ExitStatus.OK, ANSWER)
    assert [r.bearer for r in chats(cloud, model=PAID_ID)] == [OR_KEYS[0]], "key 1, the first key, once"
    assert "skip" not in paid.stderr and "answered by openrouter OPENROUTER_API_KEY_1" in paid.stderr

    free = cli("chat", "-m", FREE, "hi", **env)
    assert free.code == ExitStatus.LIMITED
    assert len(chats(cloud, OR_KEYS[0], FREE_ID)) == 1, "no round trip while the free models cool"
    assert "free-model quota of key OPENROUTER_API_KEY_1" in free.stderr and reset in free.stderr
    assert "reset-limits --key OPENROUTER_API_KEY_1" in free.stderr


def test_status_says_a_key_whose_free_models_cool_is_ready_for_its_other_models(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(openrouter=1)
    cloud.script(OR_KEYS[0], or_daily_cap(), model=FREE_ID)
    assert cli("chat", "-m", FREE, "hi", **env).code == ExitStatus.LIMITED
    key = keys_in_status(cli, **env)["OPENROUTER_API_KEY_1"]
    assert (key["state"], key["until"]) == ("ready", None)
    assert key["reason"].startswith("free models cooling until ") and "00:00 UTC" in key["reason"]
    assert "free-models-per-day" in key["reason"] and key["reason"].endswith("; other models ready")


def test_reset_limits_of_a_key_clears_its_free_model_cooldown_and_the_free_model_is_asked_again(
    cli: Cli, cloud: FakeProvider
) -> None:
    env = keys_env(openrouter=1)
    cloud.script(OR_KEYS[0], or_daily_cap(), model=FREE_ID)
    assert cli("chat", "-m", FREE, "hi", **env).code == ExitStatus.LIMITED
    reset = cli("reset-limits", "--key", "OPENROUTER_API_KEY_1", **env)
    assert reset.code == ExitStatus.OK
    assert reset.stdout.startswith("cleared cooldown of free models of OPENROUTER_API_KEY_1 (quota until ")
    assert len(reset.stdout.splitlines()) == 1
    assert keys_in_status(cli, **env)["OPENROUTER_API_KEY_1"]["reason"] is None
    again = cli("chat", "-m", FREE, "hi", **env)
    assert (again.code, again.stdout) == (ExitStatus.OK, ANSWER)
    assert len(chats(cloud, OR_KEYS[0], FREE_ID)) == 2


# --- 2. a model a plan does not include is held for that model (and that pool) only ----------------------------

PLAN_REFUSALS: dict[str, tuple[Callable[[], ErrorResponse], str, ExitStatus]] = {
    "403 subscription": (oll_403_subscription, "this model requires a subscription", ExitStatus.ALL_FAILED),
    "402 extra usage only": (oll_402_extra_usage, "this model uses extra usage only", ExitStatus.ALL_FAILED),
}
"""The refusal, what it says, and the exit status of the run that met it: the candidate failed (nothing frees by
itself, so it is no limit to wait for); later runs skip the model there without a round trip (exit 5)."""


@pytest.mark.parametrize("refusal", PLAN_REFUSALS)
def test_a_model_refused_by_a_keys_plan_is_skipped_on_that_key_while_its_other_models_and_keys_answer(
    cli: Cli, cloud: FakeProvider, refusal: str
) -> None:
    build, words, code = PLAN_REFUSALS[refusal]
    one, two = keys_env(ollama=1), keys_env(ollama=2)
    cloud.script(OLLAMA_KEYS[0], build(), model="kimi-k2.6")
    first = cli("chat", "-m", "ollama:kimi-k2.6", "hi", **one)
    assert first.code == code and words in first.stderr

    other = cli("chat", "-m", "ollama:gpt-oss:120b", "hi", **one)
    assert (other.code, other.stdout) == (ExitStatus.OK, ANSWER)
    assert [r.bearer for r in chats(cloud, model="gpt-oss:120b")] == [OLLAMA_KEYS[0]]

    held = cli("chat", "-m", "ollama:kimi-k2.6", "hi", **one)
    assert held.code == ExitStatus.LIMITED and len(chats(cloud, model="kimi-k2.6")) == 1
    assert "ollama:kimi-k2.6 on key OLLAMA_API_KEY is not available" in held.stderr and words in held.stderr
    key = keys_in_status(cli, **one)["OLLAMA_API_KEY"]
    assert key["state"] == "ready" and key["reason"].startswith("kimi-k2.6 not available")

    moved = cli("chat", "-v", "-m", "ollama:kimi-k2.6", "hi", **two)
    assert (moved.code, moved.stdout) == (ExitStatus.OK, ANSWER)
    assert [r.bearer for r in chats(cloud, model="kimi-k2.6")] == [OLLAMA_KEYS[0], OLLAMA_KEYS[1]]
    assert "answered by ollama OLLAMA_API_KEY_2" in moved.stderr


@pytest.mark.parametrize("refusal", PLAN_REFUSALS)
def test_keys_declared_in_one_pool_share_a_plan_refusal_without_a_round_trip(
    cli: Cli, cloud: FakeProvider, refusal: str
) -> None:
    build, words, code = PLAN_REFUSALS[refusal]
    configure(cli, '[pools.team]\nkeys = ["OLLAMA_API_KEY", "OLLAMA_API_KEY_2"]\n')
    env = keys_env(ollama=2)
    cloud.script(OLLAMA_KEYS[0], build(), model="kimi-k2.6")
    first = cli("chat", "-v", "-m", "ollama:kimi-k2.6", "hi", **env)
    assert first.code == code and words in first.stderr
    assert "ollama:kimi-k2.6 on pool team is not available" in first.stderr
    assert [r.bearer for r in chats(cloud, model="kimi-k2.6")] == [OLLAMA_KEYS[0]], "key 2 is not asked"

    again = cli("chat", "-m", "ollama:kimi-k2.6", "hi", **env)
    assert again.code == ExitStatus.LIMITED and len(chats(cloud, model="kimi-k2.6")) == 1
    assert "ollama:kimi-k2.6 on pool team is not available" in again.stderr

    other = cli("chat", "-m", "ollama:gpt-oss:120b", "hi", **env)
    assert (other.code, other.stdout) == (ExitStatus.OK, ANSWER)
    assert [r.bearer for r in chats(cloud, model="gpt-oss:120b")] == [OLLAMA_KEYS[0]]


# --- 3. free-model caps count per quota pool -------------------------------------------------------------------

NO_PER_MINUTE_CAP = "[providers.openrouter.free_limits]\nper_minute = 1000\n"


def test_the_fifty_first_free_call_of_a_utc_day_is_refused_locally_until_the_key_reports_a_higher_cap(
    cli: Cli, cloud: FakeProvider
) -> None:
    configure(cli, NO_PER_MINUTE_CAP)
    env = keys_env(openrouter=1)
    free_calls_today(cli, "OPENROUTER_API_KEY_1", OR_KEYS[0], 50)
    refused = cli("chat", "-m", FREE, "hi", **env)
    assert refused.code == ExitStatus.LIMITED and cloud.chat_requests == []
    assert "at 50 free-model calls per UTC day" in refused.stderr and "00:00 UTC" in refused.stderr
    assert "a paid variant of the model is not capped" in refused.stderr

    cloud.key_info[OR_KEYS[0]] = {"free_model_daily_requests": {"used": 50, "limit": 1000}}
    checked = cli("test-keys", **env)
    assert checked.code == ExitStatus.OK and "50/1000" in checked.stdout
    sent = cli("chat", "-m", FREE, "hi", **env)
    assert (sent.code, sent.stdout) == (ExitStatus.OK, ANSWER)
    assert [r.bearer for r in chats(cloud, model=FREE_ID)] == [OR_KEYS[0]]


def test_two_keys_in_one_pool_share_its_free_model_cap(cli: Cli, cloud: FakeProvider) -> None:
    configure(cli, NO_PER_MINUTE_CAP + '[pools.acct]\nkeys = ["OPENROUTER_API_KEY_1", "OPENROUTER_API_KEY_2"]\n')
    env = keys_env(openrouter=2)
    free_calls_today(cli, "OPENROUTER_API_KEY_1", OR_KEYS[0], 50)
    refused = cli("chat", "-v", "-m", FREE, "hi", **env)
    assert refused.code == ExitStatus.LIMITED and cloud.chat_requests == []
    assert "free-model quota of pool acct at 50 free-model calls per UTC day" in refused.stderr
    assert "skip openrouter OPENROUTER_API_KEY_2" in refused.stderr
    paid = cli("chat", "-m", PAID, "hi", **env)
    assert (paid.code, paid.stdout) == (ExitStatus.OK, ANSWER)
    shown = cli("config", "show", **env)
    assert shown.code == ExitStatus.OK
    line = next(line for line in shown.stdout.splitlines() if line.startswith("pools.acct.keys "))
    assert line.split()[1:] == ["OPENROUTER_API_KEY_1,", "OPENROUTER_API_KEY_2", "file"]


def test_two_keys_in_their_own_pools_count_free_calls_apart(cli: Cli, cloud: FakeProvider) -> None:
    configure(cli, NO_PER_MINUTE_CAP)
    env = keys_env(openrouter=2)
    free_calls_today(cli, "OPENROUTER_API_KEY_1", OR_KEYS[0], 50)
    sent = cli("chat", "-v", "-m", FREE, "hi", **env)
    assert (sent.code, sent.stdout) == (ExitStatus.OK, ANSWER)
    assert [r.bearer for r in cloud.chat_requests] == [OR_KEYS[1]]
    skip = next(line for line in sent.stderr.splitlines() if line.startswith("llmroute: skip "))
    assert skip.startswith("llmroute: skip openrouter OPENROUTER_API_KEY_1 ")
    assert "OPENROUTER_API_KEY_1 at 50 free-model calls per UTC day" in skip


# --- 4. what a provider does not serve ---------------------------------------------------------------------------


def test_a_retired_alias_is_answered_by_its_successor_with_one_notice(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(ollama=1)
    result = cli("chat", "-m", "kimi-k2.5", "hi", **env)
    assert (result.code, result.stdout) == (ExitStatus.OK, ANSWER)
    notice = "ollama:kimi-k2.5 was retired on 2026-07-31; using ollama:kimi-k2.6"
    assert result.stderr == f"warning: {notice}\n", "no notice about OpenRouter, which has no key here"
    document = json.loads(cli("chat", "--json", "-m", "kimi-k2.5", "hi", **env).stdout)
    assert document["notices"] == [notice] and document["model"] == "kimi-k2.6"
    assert [r.body["model"] for r in cloud.chat_requests] == ["kimi-k2.6", "kimi-k2.6"]


def test_a_model_not_found_is_not_asked_for_again_until_the_catalogue_is_fetched_again(
    cli: Cli, cloud: FakeProvider
) -> None:
    env = keys_env(ollama=1)
    cloud.script(OLLAMA_KEYS[0], oll_404("gpt-oss:20b"), model="gpt-oss:20b")
    first = cli("chat", "-m", "ollama:gpt-oss:20b", "hi", **env)
    assert first.code == ExitStatus.REJECTED and "no provider serves the model 'ollama:gpt-oss:20b'" in first.stderr
    assert len(chats(cloud, model="gpt-oss:20b")) == 1

    again = cli("chat", "-m", "ollama:gpt-oss:20b", "hi", **env)
    assert again.code == ExitStatus.REJECTED and len(chats(cloud, model="gpt-oss:20b")) == 1
    assert "model 'gpt-oss:20b' not found" in again.stderr and "llmroute models --refresh" in again.stderr

    refreshed = cli("models", "--refresh", **env)
    assert refreshed.code == ExitStatus.OK and len(cloud.requests_to("/api/tags")) == 1
    asked = cli("chat", "-m", "ollama:gpt-oss:20b", "hi", **env)
    assert asked.code == ExitStatus.REJECTED and len(chats(cloud, model="gpt-oss:20b")) == 2


def test_ollama_clouds_500_for_a_model_its_catalogue_lacks_is_not_found_and_not_asked_again(
    cli: Cli, cloud: FakeProvider
) -> None:
    env = keys_env(ollama=1)
    assert cli("models", **env).code == ExitStatus.OK, "the catalogue is cached"
    cloud.script(OLLAMA_KEYS[0], oll_500_unserved(), model="glm-5.3")
    first = cli("chat", "-m", "ollama:glm-5.3", "hi", **env)
    assert first.code == ExitStatus.REJECTED and "no provider serves the model 'ollama:glm-5.3'" in first.stderr
    again = cli("chat", "-m", "ollama:glm-5.3", "hi", **env)
    assert again.code == ExitStatus.REJECTED and "does not list glm-5.3 in its catalogue" in again.stderr
    assert len(chats(cloud, model="glm-5.3")) == 1
    other = cli("chat", "-m", "ollama:gpt-oss:120b", "hi", **env)
    assert (other.code, other.stdout) == (ExitStatus.OK, ANSWER)


def test_ollama_clouds_500_for_a_model_its_catalogue_lists_is_a_server_failure(cli: Cli, cloud: FakeProvider) -> None:
    env = keys_env(ollama=1)
    assert cli("models", **env).code == ExitStatus.OK
    cloud.script(OLLAMA_KEYS[0], oll_500_unserved(), model="kimi-k2.6")
    result = cli("chat", "-m", "ollama:kimi-k2.6", "hi", **env)
    assert result.code == ExitStatus.ALL_FAILED and "Internal Server Error" in result.stderr
    assert "serves" not in result.stderr and [r.error_kind for r in ledger(cli)] == ["server"]


# --- 5. budgets hold for any price ---------------------------------------------------------------------------------

BILLED = 0.0014
"""What the fake bills a call; the worst case reserved for one (``--max-tokens 64`` at $1/M in and $25/M out, a
7-token prompt) is 64 x 25 + 7 = 1607 micro-dollars, so three calls fit in $0.005 and a fourth never does."""


@pytest.fixture
def billing(home: Path) -> Iterator[FakeProvider]:
    keys = {k: f"or{i + 1}" for i, k in enumerate(OR_KEYS)}
    prices = {PAID_ID: ("0.000001", "0.000025")}
    with FakeProvider(keys=keys, models={PAID_ID, FREE_ID}, prices=prices, default_cost=BILLED) as fake:
        yield fake


def billed_cli(home: Path, fake: FakeProvider) -> Cli:
    return Cli(home=home, env=base_env(home) | {"OPENROUTER_BASE_URL": fake.openrouter_url})


def test_concurrent_processes_on_a_fresh_state_file_never_spend_past_the_budget(
    home: Path, billing: FakeProvider
) -> None:
    cli = billed_cli(home, billing)
    env = keys_env(openrouter=1) | {"OPENROUTER_DAILY_BUDGET": "0.005"}
    procs = [cli.popen("chat", "-m", PAID, "--max-tokens", "64", f"prompt {i}", **env) for i in range(8)]
    outputs = [p.communicate(timeout=60) for p in procs]
    results = [Cli.result(p.returncode, *output) for p, output in zip(procs, outputs, strict=True)]
    codes = sorted(r.code for r in results)
    assert codes == [ExitStatus.OK] * 3 + [ExitStatus.LIMITED] * 5, [r.stderr for r in results]
    billed = round(sum(billing.usage_of(k) for k in OR_KEYS) * 1_000_000)
    assert billed == 3 * round(BILLED * 1_000_000) <= 5000
    costs = json.loads(cli("costs", "--json", **env).stdout)
    assert costs["total"]["cost_micros"] == billed == sum(r.cost_micros or 0 for r in ledger(cli))
    for refused in (r for r in results if r.code == ExitStatus.LIMITED):
        assert refused.stderr.startswith("error: the daily budget $0.005 of provider openrouter ")
        assert "less than the $0.001607 a call may cost; it resets " in refused.stderr
        assert "00:00 UTC; raise [providers.openrouter.budget] daily (or OPENROUTER_DAILY_BUDGET)" in refused.stderr


def test_a_model_with_no_known_price_is_refused_by_a_budget_before_any_request(
    home: Path, billing: FakeProvider
) -> None:
    cli = billed_cli(home, billing)
    env = keys_env(openrouter=1) | {"OPENROUTER_DAILY_BUDGET": "0.005"}
    # The auto router is listed with a price of "-1": what it costs is known only afterwards.
    refused = cli("chat", "-m", "openrouter:openrouter/auto", "hi", **env)
    assert refused.code == ExitStatus.LIMITED and billing.chat_requests == []
    assert "openrouter:openrouter/auto has no known price" in refused.stderr
    assert "or give its price in [providers.openrouter.prices]" in refused.stderr
    assert len(billing.requests_to("/api/v1/models")) == 1, "the catalogue was asked for a price"

    configure(cli, "[reservations]\nunpriced_price = [0.1, 0.1]\n")
    sent = cli("chat", "-m", "openrouter:openrouter/auto", "hi", **env)
    assert (sent.code, sent.stdout) == (ExitStatus.OK, ANSWER) and len(billing.chat_requests) == 1


# --- 6. a local daemon that cannot be reached --------------------------------------------------------------------


def test_a_refused_local_daemon_fails_privacy_critical_naming_its_url_without_contacting_the_cloud(
    cli: Cli, cloud: FakeProvider
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    env = keys_env(ollama=1, openrouter=1) | {"OLLAMA_HOST": url}
    result = cli("chat", "--privacy", "critical", "-m", "llama3.2", "hi", **env)
    assert result.code == ExitStatus.PRIVACY and result.stdout == ""
    assert f"{url} refused the connection" in result.stderr and "cloud providers were not contacted" in result.stderr
    assert cloud.requests == []
    hold = endpoint_hold(cli)
    assert hold.reason is not None and f"{url} refused the connection" in hold.reason
    local = keys_in_status(cli, **env)["local"]
    if time.time() < (hold.cooldown_until or 0.0):  # status ran within the short cooldown (it does unless stalled)
        assert local["state"] == "cooling" and f"{url} refused the connection" in local["reason"]


def test_a_new_ollama_host_answers_at_once_while_the_old_endpoint_still_cools(
    cli: Cli, cloud: FakeProvider, local: FakeProvider
) -> None:
    old = keys_env(ollama=1) | {"OLLAMA_HOST": f"http://127.0.0.1:{closed_port()}"}
    assert cli("chat", "--privacy", "critical", "-m", "llama3.2", "hi", **old).code == ExitStatus.PRIVACY
    new = keys_env(ollama=1) | {"OLLAMA_HOST": local.base_url}
    result = cli("chat", "--privacy", "critical", "-m", "llama3.2", "hi", **new)
    assert (result.code, result.stdout) == (ExitStatus.OK, ANSWER)
    assert [r.body["model"] for r in local.chat_requests] == ["llama3.2"] and cloud.requests == []
    assert local.chat_requests[0].time < (endpoint_hold(cli).cooldown_until or 0.0), "the old endpoint still cools"
    assert keys_in_status(cli, **new)["local"]["state"] == "ready"


# --- 7. a local daemon's cloud refusals concern its cloud models --------------------------------------------------

CLOUD_REFUSALS: dict[str, tuple[Callable[[], ErrorResponse], str]] = {
    "401 sign in": (lambda: oll_401(signin_url=SIGNIN_URL), "ollama signin"),
    "403 cloud disabled": (oll_403_cloud_disabled, "ollama cloud is disabled"),
}


@pytest.mark.parametrize("refusal", CLOUD_REFUSALS)
def test_a_local_daemons_cloud_refusal_does_not_stop_its_local_models(
    cli: Cli, cloud: FakeProvider, local: FakeProvider, refusal: str
) -> None:
    build, words = CLOUD_REFUSALS[refusal]
    env = {"OLLAMA_HOST": local.base_url}
    local.script(None, build(), model="gpt-oss:120b-cloud")
    refused = cli("chat", "-m", "local:gpt-oss:120b-cloud", "hi", **env)
    assert refused.code == ExitStatus.ALL_FAILED and words in refused.stderr
    answered = cli("chat", "-m", "local:llama3.2", "hi", **env)
    assert (answered.code, answered.stdout) == (ExitStatus.OK, ANSWER)
    assert [r.body["model"] for r in local.chat_requests] == ["gpt-oss:120b-cloud", "llama3.2"]
    status = keys_in_status(cli, **env)["local"]
    assert status["state"] == "ready" and status["reason"].startswith("gpt-oss:120b-cloud cooling until ")
    assert cloud.requests == []
