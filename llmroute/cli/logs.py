"""The conversation log from the command line: whether ``chat`` logs, what it logs, and ``llmroute logs``.

Logging is on unless turned off. What decides, first to last: ``--no-log`` / ``--log`` on the chat, the
``LLMROUTE_LOGS`` variable (``0``/``off`` or ``1``/``on``), then ``llmroute logs off|on`` (kept in the state
file), else on. Only an answered exchange is logged; a failed one is no turn of its conversation (its
attempts are in the ledger). Text is logged with every key the run knows masked, as everything else in
the state file, and only the key's label is kept: a prompt that held a key is re-sent masked when its
conversation is continued.

Imported by every chat (the fast path): it imports nothing heavy.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus, UsageProblem
from llmroute.config import Settings
from llmroute.errors import ConfigError
from llmroute.money import dollars
from llmroute.store import LogEntry, Store
from llmroute.types import ChatRequest, ChatResult, Message
from llmroute.windows import utc_clock

ENV_SWITCH = "LLMROUTE_LOGS"
_ON = ("1", "on", "true", "yes")
_OFF = ("0", "off", "false", "no")
ACTIONS = ("on", "off", "status")


@dataclass(frozen=True)
class History:
    """The conversation an exchange belongs to, and its earlier turns (none for a new one)."""

    conversation_id: str
    turns: tuple[LogEntry, ...] = ()

    def then(self, entry: LogEntry) -> History:
        return History(self.conversation_id, (*self.turns, entry))


@dataclass(frozen=True)
class Switch:
    """Whether exchanges are logged, and what said so."""

    on: bool
    source: str
    """``flag``, ``env LLMROUTE_LOGS``, ``llmroute logs on|off`` or ``default``."""


def new_conversation_id() -> str:
    return uuid.uuid4().hex[:16]


def env_switch(environment: Environment) -> bool | None:
    """``LLMROUTE_LOGS`` as a yes or no; None when unset; a bad value is a configuration error (3)."""
    value = environment.env.get(ENV_SWITCH, "").strip().lower()
    if not value:
        return None
    if value in _ON or value in _OFF:
        return value in _ON
    raise ConfigError(f"{ENV_SWITCH} must be 1/on or 0/off, not {value!r}")


def switch(store: Store, environment: Environment, *, log: bool = False, no_log: bool = False) -> Switch:
    if no_log or log:
        return Switch(log, "flag")
    from_env = env_switch(environment)
    if from_env is not None:
        return Switch(from_env, f"env {ENV_SWITCH}")
    stored = store.log_switch()
    return Switch(True, "default") if stored is None else Switch(stored, f"llmroute logs {'on' if stored else 'off'}")


def logging_on(store: Store, environment: Environment, *, log: bool, no_log: bool) -> bool:
    return switch(store, environment, log=log, no_log=no_log).on


def load_history(store: Store, *, latest: bool, conversation_id: str | None) -> History:
    """``--cid ID``'s conversation (unknown: a usage error), ``-c``'s latest one (none yet: a new one), or a new one."""
    if conversation_id is not None:
        turns = store.conversation(conversation_id)
        if turns is None:
            raise UsageProblem(f"no conversation {conversation_id!r} in the log: `llmroute logs` shows their ids")
        return History(conversation_id, tuple(turns))
    if latest:
        found = store.latest_conversation()
        if found is not None:
            return History(found, tuple(store.conversation(found) or ()))
    return History(new_conversation_id())


def messages(turns: Sequence[LogEntry], system: str | None, prompt: str) -> tuple[Message, ...]:
    """The system prompt, every earlier turn (prompt, then answer), then the new prompt."""
    sent = [Message("system", system)] if system else []
    for turn in turns:
        sent.extend((Message("user", turn.prompt), Message("assistant", turn.answer)))
    sent.append(Message("user", prompt))
    return tuple(sent)


def entry(request: ChatRequest, result: ChatResult, conversation_id: str, settings: Settings) -> LogEntry:
    """The log entry of an answered exchange, as it was sent and answered (nothing masked yet)."""
    first = request.messages[0]
    usage = result.usage
    return LogEntry(
        request_id=result.request_id,
        conversation_id=conversation_id,
        ts=time.time(),
        model_asked=request.model or settings.default_model,
        model=result.model,
        provider=result.provider,
        key_label=result.key_label,
        system=first.content if first.role == "system" else None,
        prompt=request.messages[-1].content,
        answer=result.text,
        tokens_in=usage.input_tokens,
        tokens_out=usage.output_tokens,
        cost_micros=usage.cost_micros,
        cost_estimated=usage.cost_estimated,
        finish_reason=result.finish_reason,
        latency_ms=result.latency_ms,
    )


def masked(item: LogEntry, environment: Environment) -> LogEntry:
    """The entry with every key the run knows masked in its text, as all else in the state file."""
    redact = environment.redact
    system = redact(item.system) if item.system is not None else None
    return replace(item, system=system, prompt=redact(item.prompt), answer=redact(item.answer))


def record(
    store: Store,
    environment: Environment,
    request: ChatRequest,
    result: ChatResult,
    history: History,
    settings: Settings,
) -> LogEntry:
    """Log the exchange (masked); returns it as sent and answered, for a session's next turn."""
    item = entry(request, result, history.conversation_id, settings)
    store.log_exchange(masked(item, environment))
    return item


# --- llmroute logs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogsOptions:
    action: str | None = None
    count: int = 3
    """The newest N exchanges; 0 for all."""
    search: str | None = None
    conversation: str | None = None
    json: bool = False


def run(options: LogsOptions, settings: Settings, environment: Environment) -> ExitStatus:
    if options.action is not None and options.action not in ACTIONS:
        raise UsageProblem(f"unknown action {options.action!r}: use on, off or status, or none to list the log")
    store = Store.open(settings.state_path)
    try:
        if options.action in ("on", "off"):
            store.set_log_switch(options.action == "on", time.time())
        if options.action is not None:
            _status(store, environment, as_json=options.json)
            return ExitStatus.OK
        if options.conversation is not None and not store.logged(limit=1, conversation_id=options.conversation):
            raise UsageProblem(f"no conversation {options.conversation!r} in the log")
        limit = None if options.count == 0 else options.count
        entries = store.logged(limit=limit, search=options.search, conversation_id=options.conversation)
    finally:
        store.close()
    if options.json:
        _write(environment, json.dumps([_document(e) for e in entries], ensure_ascii=False) + "\n")
    else:
        _write(environment, "\n".join(markdown(e, environment) for e in entries))
    return ExitStatus.OK


def _status(store: Store, environment: Environment, *, as_json: bool) -> None:
    state = switch(store, environment)
    counts = store.log_counts()
    if as_json:
        document = {
            "logging": state.on,
            "source": state.source,
            "state_file": str(store.path),
            "conversations": counts.conversations,
            "responses": counts.responses,
        }
        _write(environment, json.dumps(document) + "\n")
        return
    stored = store.log_switch()
    lines = [f"Logging is {'on' if state.on else 'off'} ({state.source})"]
    if state.source.startswith("env") and stored is not None and stored != state.on:
        lines.append(f"  ({ENV_SWITCH} overrides `llmroute logs {'on' if stored else 'off'}`)")
    lines += [
        f"State file: {store.path}",
        f"Conversations: {counts.conversations:,}",
        f"Responses: {counts.responses:,}",
    ]
    _write(environment, "\n".join(lines) + "\n")


def when(ts: float) -> str:
    """A logged exchange's time for ``--json`` (ISO 8601, ``Z``); people read :func:`llmroute.windows.utc_clock`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cost(item: LogEntry) -> str:
    return "unknown" if item.cost_micros is None else dollars(item.cost_micros, estimated=item.cost_estimated)


def markdown(item: LogEntry, environment: Environment) -> str:
    """One exchange as a Markdown block; the text with control characters shown escaped (``\\x1b``)."""
    shown = environment.printable
    asked = "" if item.model_asked in (item.model, f"{item.provider}:{item.model}") else f" (asked: {item.model_asked})"
    tokens = f"{_number(item.tokens_in)} in, {_number(item.tokens_out)} out"
    lines = [
        f"# {utc_clock(item.ts)}    conversation: {item.conversation_id}",
        "",
        f"Model: **{shown(item.model)}**{shown(asked)} via {item.provider}, key {item.key_label}",
        f"Cost: {cost(item)} · tokens: {tokens} · {item.latency_ms:,.0f} ms · request {item.request_id}",
        "",
        "## Prompt",
        "",
        shown(item.prompt),
        "",
    ]
    if item.system:
        lines += ["## System", "", shown(item.system), ""]
    lines += ["## Response", "", shown(item.answer), ""]
    return "\n".join(lines)


def _number(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _document(item: LogEntry) -> dict[str, object]:
    document: dict[str, object] = {"time": when(item.ts), **asdict(item)}
    document["cost_usd"] = None if item.cost_micros is None else item.cost_micros / 1_000_000
    return document


def _write(environment: Environment, text: str) -> None:
    environment.stdout.write(text)
    environment.stdout.flush()
