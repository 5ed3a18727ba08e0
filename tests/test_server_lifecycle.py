"""``llmroute serve``'s life: it starts (or says why not), and SIGTERM or Ctrl-C stop it gracefully.

A graceful stop refuses new connections at once, lets requests in flight finish within ``--grace``, cancels what
is left (each cancelled attempt settled as ``cancelled`` in the ledger, never left pending or abandoned), and
exits 0.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import OR_KEYS, Cli, keys_env
from tests.fakes import FakeProvider, hang, stream_reply
from tests.test_server_openai import MESSAGES, MODEL, chat_body, cli_for, fake_cloud, ledger, serve

SLOW_TEXT = "one two three four five six"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with fake_cloud() as provider:
        yield provider


@pytest.fixture
def cli(tmp_path: Path, fake: FakeProvider) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    return cli_for(home, fake, **keys_env(openrouter=2))


class StreamInThread:
    """A streamed chat request read in a thread: ``started`` is set at its first event."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.started = threading.Event()
        self.events: list[str] = []
        self.status: int | None = None
        self.request_id: str | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with httpx.stream("POST", f"{self.url}/v1/chat/completions", json=chat_body(stream=True), timeout=60) as r:
                self.status = r.status_code
                self.request_id = r.headers.get("x-llmroute-request-id")
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(line[len("data: ") :])
                        self.started.set()
        except httpx.HTTPError as exc:
            self.error = exc
        finally:
            self.started.set()

    def join(self) -> None:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def outcomes(home: Path, request_id: str) -> list[str]:
    return [outcome for rid, _, outcome in ledger(home) if rid == request_id]


def test_sigterm_lets_a_stream_in_flight_finish(cli: Cli, fake: FakeProvider) -> None:
    served = serve(cli)
    fake.script(OR_KEYS[0], stream_reply(SLOW_TEXT, chunk_delay=0.25))
    stream = StreamInThread(served.url)
    assert stream.started.wait(10) and stream.error is None
    served.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 3
    while not refused(served.url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert refused(served.url)  # no new connections while the stream goes on
    assert stream.thread.is_alive()
    stream.join()
    assert served.wait() == 0
    served.check_output()
    assert stream.status == 200 and stream.error is None
    assert stream.events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in stream.events[:-1])
    assert text == SLOW_TEXT
    assert stream.request_id is not None and outcomes(cli.home, stream.request_id) == ["ok"]


def test_the_grace_period_ends_with_the_attempt_settled_as_cancelled(cli: Cli, fake: FakeProvider) -> None:
    served = serve(cli, "--grace", "0.5")
    fake.script(OR_KEYS[0], stream_reply(SLOW_TEXT * 10, chunk_delay=0.5))
    stream = StreamInThread(served.url)
    assert stream.started.wait(10) and stream.error is None
    began = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    assert served.wait(timeout=15) == 0
    assert time.monotonic() - began < 5
    stream.join()
    served.check_output()
    assert "[DONE]" not in stream.events  # never a clean end
    if stream.error is None:
        assert json.loads(stream.events[-1])["error"]["code"] == "shutting_down"
    assert stream.request_id is not None and outcomes(cli.home, stream.request_id) == ["cancelled"]


def test_a_second_signal_stops_waiting(cli: Cli, fake: FakeProvider) -> None:
    served = serve(cli, "--grace", "60")
    fake.script(OR_KEYS[0], stream_reply(SLOW_TEXT * 10, chunk_delay=0.5))
    stream = StreamInThread(served.url)
    assert stream.started.wait(10)
    began = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert served.stop(signal.SIGINT, timeout=15) == 0
    assert time.monotonic() - began < 5
    stream.join()
    served.check_output()
    assert stream.request_id is not None and outcomes(cli.home, stream.request_id) == ["cancelled"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_with_nothing_in_flight_exits_0_promptly(cli: Cli, sig: int) -> None:
    served = serve(cli)
    assert httpx.get(f"{served.url}/v1/models").status_code == 200  # leaves a kept-alive connection behind
    began = time.monotonic()
    assert served.stop(sig) == 0
    assert time.monotonic() - began < 3
    served.check_output()
    assert served.stderr.strip().splitlines() == [f"listening on {served.url}"]


def test_an_address_in_use_is_one_error_line(cli: Cli) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = cli("serve", "--port", str(port), timeout=20)
    assert result.code == 3
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert len(result.stderr.splitlines()) == 1


def test_no_provider_at_all_is_a_config_error(tmp_path: Path, fake: FakeProvider) -> None:
    result = cli_for(tmp_path, fake)("serve", "--port", "0", timeout=20)
    assert result.code == 3 and "OPENROUTER_API_KEY" in result.stderr


def test_the_serve_command_is_documented(cli: Cli) -> None:
    result = cli("serve", "--help")
    assert result.code == 0
    for option in ("--host", "--port", "--grace", "LLMROUTE_SERVER_TOKEN"):
        assert option in result.stdout


def test_serve_does_not_slow_other_commands() -> None:
    import subprocess
    import sys

    code = "import sys, llmroute.cli.app; print(sorted(m for m in sys.modules if m.startswith('aiohttp')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_client_that_leaves_cancels_its_request(cli: Cli, fake: FakeProvider) -> None:
    served = serve(cli)
    fake.script(OR_KEYS[0], stream_reply(SLOW_TEXT * 10, chunk_delay=0.3))
    with httpx.stream("POST", f"{served.url}/v1/chat/completions", json=chat_body(stream=True), timeout=30) as r:
        request_id = r.headers["x-llmroute-request-id"]
        next(r.iter_lines())
    # The connection is closed: the request stops at once (no more tokens paid for) and is settled as cancelled.
    deadline = time.monotonic() + 5
    while outcomes(cli.home, request_id) != ["cancelled"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outcomes(cli.home, request_id) == ["cancelled"]
    assert served.stop() == 0
    served.check_output()


def test_the_deadline_is_504(cli: Cli, fake: FakeProvider) -> None:
    served = serve(cli, LLMROUTE_TIMEOUT="1")
    fake.script(OR_KEYS[0], hang(10))
    try:
        with pytest.raises(openai.InternalServerError) as caught:
            served.client().chat.completions.create(model=MODEL, messages=MESSAGES)
        assert caught.value.status_code == 504 and caught.value.code == "timeout"
    finally:
        assert served.stop() == 0
    served.check_output()
