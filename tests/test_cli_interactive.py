"""``llmroute chat`` with no prompt on a terminal: an interactive session, driven here through a real pseudo-terminal
(stdin and stderr on it, stdout a pipe) running the real CLI against the fake provider."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from llmroute.store import Store
from tests.conftest import OR_KEYS, Cli, keys_env
from tests.fakes import FakeProvider, hang

MODEL = "openrouter:openai/gpt-4o-mini"
ANSWER = "Hello from the fake provider."


@dataclass
class Terminal:
    """The controlling side of the pseudo-terminal the session's stdin and stderr are on."""

    proc: subprocess.Popen[bytes]
    controller: int
    seen: bytes = b""

    def type(self, text: str) -> None:
        os.write(self.controller, text.encode())

    def wait_for(self, marker: str, count: int = 1, timeout: float = 20) -> None:
        """Until ``marker`` has been shown ``count`` times in all (typed echo included)."""
        deadline = time.monotonic() + timeout
        while self.seen.decode(errors="replace").count(marker) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} x{count} in {self.seen!r}"
            ready, _, _ = select.select([self.controller], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.controller, 4096)
                except OSError:  # the session ended and closed its side
                    break

    def finish(self) -> tuple[int, str]:
        """The exit status and stdout; the terminal (stderr) showed no traceback."""
        out, _ = self.proc.communicate(timeout=20)
        assert b"Traceback" not in self.seen and b"error:" not in self.seen, self.seen
        return self.proc.returncode, out.decode()


@pytest.fixture
def session(cli: Cli) -> Iterator[Terminal]:
    controller, terminal = pty.openpty()
    env = {**cli.env, **keys_env(openrouter=1), "LLMROUTE_MODEL": MODEL}
    proc = subprocess.Popen(
        [*_command(), "chat"], env=env, cwd=cli.cwd, stdin=terminal, stdout=subprocess.PIPE, stderr=terminal
    )
    os.close(terminal)
    try:
        yield Terminal(proc, controller)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)


def _command() -> list[str]:
    from tests.conftest import _cli_command

    return _cli_command()


def logged(cli: Cli) -> list[tuple[str, str]]:
    store = Store.open(cli.home / "state.db")
    try:
        return [(e.conversation_id, e.prompt) for e in store.logged(limit=None)]
    finally:
        store.close()


def sent(request: object) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in request.body["messages"]]  # type: ignore[attr-defined]


def test_a_session_keeps_one_conversation_until_ctrl_d(session: Terminal, cli: Cli, cloud: FakeProvider) -> None:
    session.wait_for("> ")
    assert "Chatting with openrouter:openai/gpt-4o-mini" in session.seen.decode()
    session.type("What is DNS?\n")
    session.wait_for("> ", 2)
    session.type("!multi\nline one\n\nline three\n!end\n")
    session.wait_for("> ", 3)
    session.type("\x04")
    code, out = session.finish()
    assert code == 0 and out == f"{ANSWER}\n{ANSWER}\n"
    assert sent(cloud.chat_requests[1]) == [
        ("user", "What is DNS?"),
        ("assistant", ANSWER),
        ("user", "line one\n\nline three"),
    ]
    turns = logged(cli)
    assert [p for _, p in turns] == ["What is DNS?", "line one\n\nline three"] and len({c for c, _ in turns}) == 1


def test_exit_ends_the_session_and_a_blank_line_sends_nothing(session: Terminal, cloud: FakeProvider) -> None:
    session.wait_for("> ")
    session.type("\n")
    session.wait_for("> ", 2)
    session.type("exit\n")
    assert session.finish() == (0, "")
    assert cloud.requests == []


def test_ctrl_c_stops_an_answer_but_not_the_session(session: Terminal, cli: Cli, cloud: FakeProvider) -> None:
    cloud.script(OR_KEYS[0], hang(30))
    session.wait_for("> ")
    session.type("never answered\n")
    deadline = time.monotonic() + 10
    while not cloud.chat_requests and time.monotonic() < deadline:
        time.sleep(0.05)
    session.proc.send_signal(signal.SIGINT)
    session.wait_for("(answer interrupted: not kept)")
    session.wait_for("> ", 2)
    session.type("answered\n")
    session.wait_for("> ", 3)
    session.type("quit\n")
    code, out = session.finish()
    assert code == 0 and out.endswith(f"{ANSWER}\n")
    assert sent(cloud.chat_requests[-1]) == [("user", "answered")]
    assert [p for _, p in logged(cli)] == ["answered"]
