"""``llmroute chat`` with no prompt on a terminal: an interactive session, one conversation, every turn logged.

The session prompts on stderr and streams each answer to stdout. A line is one prompt; ``!multi`` starts
a prompt of several lines, ended by a line ``!end``. ``exit``, ``quit`` or Ctrl-D (at an empty prompt)
ends the session (exit 0). Ctrl-C during an answer stops that answer, which is then neither kept nor
logged, and the session goes on; Ctrl-C while typing drops what was typed. A turn that fails is reported
in one line and is no turn of the conversation; the session goes on.
"""

from __future__ import annotations

import asyncio

from llmroute.cli import logs as chat_log
from llmroute.cli.chat import ChatOptions, Generation, make_request, run_chat
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus, message
from llmroute.config import Settings
from llmroute.errors import RouteError
from llmroute.store import Store

PROMPT = "> "
MORE = "... "
MULTI, END = "!multi", "!end"
QUIT = ("exit", "quit")


class Session:
    def __init__(
        self,
        options: ChatOptions,
        settings: Settings,
        environment: Environment,
        store: Store,
        history: chat_log.History,
        logging: bool,
        generation: Generation,
    ) -> None:
        self.options = options
        self.settings = settings
        self.environment = environment
        self.store = store
        self.history = history
        self.logging = logging
        self.generation = generation

    def run(self) -> ExitStatus:
        """Read and answer prompts until ``exit``, ``quit`` or end of input."""
        first = make_request(self.options, "", self.settings, self.history, self.generation)  # flags checked first
        self._say(self._banner(first.model or self.settings.default_model))
        while True:
            try:
                prompt = self._read()
            except KeyboardInterrupt:
                self._say("\n(input dropped; 'exit' or Ctrl-D ends the session)")
                continue
            if prompt is None:
                self._say("")
                return ExitStatus.OK
            if prompt.strip():
                self._turn(prompt)

    def _banner(self, model: str) -> str:
        earlier = f", {len(self.history.turns)} earlier turns" if self.history.turns else ""
        logged = "" if self.logging else "; not logged"
        return (
            f"Chatting with {model} (conversation {self.history.conversation_id}{earlier}{logged})\n"
            f"Type 'exit' or 'quit' or press Ctrl-D to end; '{MULTI}' starts a prompt of several lines,"
            f" '{END}' ends it."
        )

    def _read(self) -> str | None:
        """One prompt; None at the end of the session."""
        line = self._line(PROMPT)
        if line is None or line.strip().lower() in QUIT:
            return None
        if line.strip() != MULTI:
            return line
        lines: list[str] = []
        while (more := self._line(MORE)) is not None and more.strip() != END:
            lines.append(more)
        return "\n".join(lines)

    def _line(self, marker: str) -> str | None:
        """A line typed at the terminal, without its line break; None at end of input (Ctrl-D)."""
        self.environment.stderr.write(marker)
        self.environment.stderr.flush()
        data = self.environment.stdin.readline()
        if not data:
            return None
        return data.decode("utf-8", errors="replace").rstrip("\r\n")

    def _turn(self, prompt: str) -> None:
        request = make_request(self.options, prompt, self.settings, self.history, self.generation)
        try:
            result = asyncio.run(
                run_chat(
                    request,
                    self.settings,
                    self.environment,
                    self.store,
                    as_json=False,
                    show_reasoning=self.options.show_reasoning,
                    keep_text=True,
                )
            )
        except KeyboardInterrupt:
            self._say("(answer interrupted: not kept)")
            return
        except RouteError as exc:
            self.environment.error(message(exc))
            return
        item = chat_log.entry(request, result, self.history.conversation_id, self.settings)
        if self.logging:
            self.store.log_exchange(chat_log.masked(item, self.environment))
        self.history = self.history.then(item)

    def _say(self, text: str) -> None:
        self.environment.stderr.write(text + "\n")
        self.environment.stderr.flush()
