"""``llmroute chat``: one prompt in, the answer streamed out; continued conversations; logging each exchange."""

from __future__ import annotations

import asyncio
import codecs
import json
import math
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import asdict, dataclass, replace
from typing import IO

from llmroute import aliases
from llmroute.cli import logs as chat_log
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus, UsageProblem, require_keys, require_provider
from llmroute.config import Settings
from llmroute.errors import ConfigError
from llmroute.router import Router
from llmroute.store import Store
from llmroute.types import ChatRequest, ChatResult, Privacy, ReasoningDelta, TextDelta

#: Bytes of stdin read and decoded at a time (see :func:`read_piped`).
STDIN_CHUNK = 1 << 20


@dataclass(frozen=True)
class ChatOptions:
    prompt: tuple[str, ...]
    model: str | None = None
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    stream: bool = True
    provider: str | None = None
    privacy: str | None = None
    timeout: float | None = None
    read_stdin: bool = True
    json: bool = False
    show_reasoning: bool = False
    options: tuple[tuple[str, str], ...] = ()
    """``-o NAME VALUE`` pairs, as given."""
    key: str | None = None
    """``--key LABEL``: only this key."""
    continue_latest: bool = False
    """``-c``: continue the latest logged conversation."""
    conversation: str | None = None
    """``--cid ID``: continue this logged conversation."""
    no_log: bool = False
    log: bool = False
    """``--log``: log this exchange even when logging is off."""


@dataclass(frozen=True)
class Generation:
    """The generation options of a request, from the flags and ``-o`` together."""

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


def _number(value: str, least: float, most: float) -> float:
    number = float(value)
    if not (math.isfinite(number) and least <= number <= most):
        raise ValueError(value)
    return number


def _count(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _text(value: str) -> str:
    if not value:
        raise ValueError(value)
    return value


#: ``-o NAME VALUE``: each name, how its value is read, and what a bad value is told.
PROVIDER_OPTIONS = {
    "temperature": (lambda v: _number(v, 0.0, 2.0), "a number from 0 to 2"),
    "max_tokens": (_count, "a whole number of at least 1"),
    "top_p": (lambda v: _number(v, 0.0, 1.0), "a number from 0 to 1"),
    "stop": (_text, "a non-empty text (repeat -o stop for several)"),
    "seed": (int, "a whole number"),
}


def generation(options: ChatOptions) -> Generation:
    """The flags' and ``-o``'s generation options: each value checked, a name given twice or by both refused."""
    values: dict[str, object] = {}
    stops: list[str] = []
    for given, value in options.options:
        name = given.strip().replace("-", "_")
        if name not in PROVIDER_OPTIONS:
            raise UsageProblem(f"unknown option -o {given!r} (known: {', '.join(PROVIDER_OPTIONS)})")
        convert, wanted = PROVIDER_OPTIONS[name]
        try:
            converted = convert(value.strip() if name != "stop" else value)
        except ValueError:
            raise UsageProblem(f"-o {name} must be {wanted}, not {value!r}") from None
        if name == "stop":
            stops.append(converted)  # type: ignore[arg-type]
        elif name in values:
            raise UsageProblem(f"-o {name} is given twice: give it once")
        else:
            values[name] = converted
    for name in ("temperature", "max_tokens"):
        flag = getattr(options, name)
        if flag is not None and name in values:
            raise UsageProblem(f"--{name.replace('_', '-')} and -o {name} both set it: give one of them")
        if flag is not None:
            values[name] = flag
    return Generation(stop=tuple(stops), **values)  # type: ignore[arg-type]


def build_prompt(arguments: Sequence[str], piped: str | None) -> str:
    """Piped stdin first, then the arguments, separated by a blank line."""
    parts = [p for p in (piped, " ".join(arguments)) if p and p.strip()]
    return "\n\n".join(part.rstrip("\n") if i == 0 and len(parts) > 1 else part for i, part in enumerate(parts))


def read_piped(stream: IO[bytes], arguments: Sequence[str], environment: Environment) -> str:
    """:func:`build_prompt` of the piped ``stream`` and the arguments, never holding a huge stdin twice over.

    Read whole and then decoded, a 20 MB stdin lived as bytes, as text and as the prompt built from it
    (60-80 MB at the peak). Here each megabyte is decoded as it is read and the prompt is joined once from
    the pieces: the peak is the text in pieces plus the prompt (about 40 MB), and no whole bytes copy.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    pieces: list[str] = []
    warned = False
    while True:
        data = stream.read(STDIN_CHUNK)
        final = not data
        state = decoder.getstate()
        try:
            pieces.append(decoder.decode(data, final))
        except UnicodeDecodeError:
            decoder.setstate(state)
            decoder.errors = "replace"
            pieces.append(decoder.decode(data, final))
            if not warned:
                environment.warn("stdin is not valid UTF-8; undecodable bytes were replaced")
                warned = True
        if final:
            break
    del data
    words = " ".join(arguments)
    if not any(p and not p.isspace() for p in pieces):
        return words if words.strip() else ""
    if not words.strip():
        return "".join(pieces)
    while pieces and not pieces[-1].rstrip("\n"):
        pieces.pop()
    pieces[-1] = pieces[-1].rstrip("\n")
    pieces.extend(("\n\n", words))
    prompt = "".join(pieces)
    pieces.clear()
    return prompt


def wants_session(options: ChatOptions, environment: Environment) -> bool:
    """No prompt, stdin and stderr (where the session prompts) both a terminal: an interactive session.

    ``--no-stdin`` says not to read stdin, so it never opens one; neither does ``--json`` (one document).
    """
    return (
        not options.prompt
        and options.read_stdin
        and not options.json
        and environment.stdin_is_tty
        and is_terminal(environment.stderr)
    )


def is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def read_prompt(options: ChatOptions, environment: Environment) -> str:
    if options.read_stdin and not environment.stdin_is_tty:
        prompt = read_piped(environment.stdin, options.prompt, environment)
    elif not options.prompt:
        how = "give it as arguments" if not options.read_stdin else "give it as arguments or pipe it on stdin"
        raise UsageProblem(f"no prompt: {how}")
    else:
        prompt = build_prompt(options.prompt, None)
    if not prompt.strip():
        raise UsageProblem("the prompt is empty")
    return prompt


def check_model(model: str | None) -> None:
    """``-m ""`` or ``-m openrouter:`` names no model: a usage error, not a search for one."""
    if model is None:
        return
    if not model.strip():
        raise UsageProblem("the model name is empty")
    if model.strip().endswith(":"):
        raise UsageProblem(f"no model after {model.strip()!r}: use provider:model, an alias or a model name")


def make_request(
    options: ChatOptions,
    prompt: str,
    settings: Settings,
    history: chat_log.History | None = None,
    generation_options: Generation | None = None,
) -> ChatRequest:
    """The request: the earlier turns of a continued conversation, then the prompt.

    A continued conversation keeps its system prompt and the model it asked for unless ``-s`` or ``-m``
    says otherwise; the model is asked by the same spec, so it may be answered by another provider.
    """
    check_model(options.model)
    privacy_level = _privacy(options, settings)
    require_provider(settings, options.provider)
    if options.key is not None:
        require_keys(settings, (options.key,), options.provider)
    check_contradictions(options, privacy_level, settings)
    extra = generation_options or generation(options)
    turns = history.turns if history is not None else ()
    system = options.system if options.system is not None else (turns[-1].system if turns else None)
    model = options.model if options.model is not None else (turns[-1].model_asked if turns else None)
    return ChatRequest(
        messages=chat_log.messages(turns, system, prompt),
        model=model,
        temperature=extra.temperature,
        max_tokens=extra.max_tokens,
        top_p=extra.top_p,
        stop=extra.stop,
        seed=extra.seed,
        stream=options.stream,
        provider=options.provider,
        privacy=privacy_level,
        timeout=options.timeout,
        key=options.key,
    )


def _privacy(options: ChatOptions, settings: Settings) -> Privacy:
    """``--privacy`` is a flag (a bad value: usage error, 2); ``LLMROUTE_PRIVACY`` / the file are settings (3)."""
    if options.privacy is None:
        try:
            return Privacy(settings.privacy)
        except ValueError:
            raise ConfigError(f"privacy must be 'normal' or 'critical', not {settings.privacy!r}") from None
    try:
        return Privacy(options.privacy)
    except ValueError:
        raise UsageProblem(f"--privacy must be 'normal' or 'critical', not {options.privacy!r}") from None


def check_contradictions(options: ChatOptions, privacy: Privacy, settings: Settings) -> None:
    """Flags that cannot all hold are refused (usage error) rather than one silently winning."""
    names = [p.name for p in settings.providers]
    pinned, _ = aliases.split_spec((options.model or "").strip(), names)
    if options.key is not None and pinned:
        owner = next((s.provider for s in settings.all_slots() if s.label == options.key), None)
        if owner is not None and owner != pinned:
            raise UsageProblem(
                f"--key {options.key} belongs to {owner}, not to -m {options.model.strip()}"  # type: ignore[union-attr]
                f" (pinned to {pinned}): drop one of them"
            )
    if not options.provider:
        return
    if pinned and pinned != options.provider:
        raise UsageProblem(
            f"--provider {options.provider} contradicts -m {options.model.strip()}"  # type: ignore[union-attr]
            f" (pinned to {pinned}): drop one of them"
        )
    provider = settings.provider(options.provider)
    if privacy is Privacy.CRITICAL and provider is not None and not provider.local:
        where = "--privacy critical" if options.privacy else "privacy critical (LLMROUTE_PRIVACY or the config file)"
        raise UsageProblem(
            f"--provider {options.provider} is not a local provider, which {where} excludes: drop one of them"
        )


async def run_chat(
    request: ChatRequest,
    settings: Settings,
    environment: Environment,
    store: Store,
    *,
    as_json: bool,
    show_reasoning: bool = False,
    keep_text: bool = False,
    conversation_id: str | None = None,
) -> ChatResult:
    """Stream the answer to stdout (or print one JSON document); reasoning goes to stderr only, when asked.

    ``--json`` shows nothing before the result, so it asks the router for a buffered answer: a stream
    that breaks midway then fails over to the next key instead of ending the run. With ``keep_text``
    the result holds the answer (to log it) even when it was streamed, up to :data:`LOGGED_ANSWER_LIMIT`.
    """
    out = _TextOut(environment, echo=not as_json)
    kept = _Kept(LOGGED_ANSWER_LIMIT) if keep_text and not as_json else None
    thoughts = _ReasoningOut(environment, show=show_reasoning)
    result: ChatResult | None = None
    try:
        async with (
            Router(settings, store) as router,
            aclosing(router.stream(request, keep_text=as_json, buffered=as_json)) as items,
        ):
            async for item in items:
                if isinstance(item, TextDelta):
                    thoughts.finish()
                    out.write(item.text)
                    if kept is not None:
                        kept.add(item.text)
                elif isinstance(item, ReasoningDelta):
                    thoughts.write(item.text)
                elif isinstance(item, ChatResult):
                    result = item if kept is None else replace(item, text=kept.text())
                    if as_json:  # buffered: the reasoning arrives with the result
                        thoughts.write(item.reasoning)
                    thoughts.finish()
                    out.finish()
                    if as_json:
                        _print_json(environment, {**result_document(item), "conversation_id": conversation_id})
                    if item.finish_reason == "length":
                        environment.warn(cut_off_warning(request, answered=out.wrote or bool(item.text)))
    except BaseException:  # a RouteError is reported by the runner (with ``--json``, with the attempts)
        thoughts.finish()
        out.finish()
        raise
    assert result is not None, "the router ends every stream with a result or an error"
    return result


LOGGED_ANSWER_LIMIT = 1 << 20
"""Characters of a streamed answer kept to log it: more than any model's context holds (so a logged conversation
can always be continued). A longer answer still streams through whole, without being held in memory; its log
entry ends with a note of how much was left out."""


class _Kept:
    """The first ``limit`` characters of a streamed answer, and a count of the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.left_out = 0

    def add(self, text: str) -> None:
        piece = text[: max(0, self.limit - self.size)]
        if piece:
            self.parts.append(piece)
            self.size += len(piece)
        self.left_out += len(text) - len(piece)

    def text(self) -> str:
        note = f"\n[{self.left_out:,} more characters of the answer were not logged]" if self.left_out else ""
        return "".join(self.parts) + note


def cut_off_warning(request: ChatRequest, *, answered: bool) -> str:
    """What to say when the answer ended at the max-tokens limit (finish reason ``length``).

    Reasoning models spend that limit on their reasoning first: an empty answer means the whole
    budget went there. The run still succeeds (exit 0); the finish reason is in ``--json``.
    """
    limit = f"max-tokens limit ({request.max_tokens})" if request.max_tokens is not None else "max-tokens limit"
    if answered:
        return f"the answer was cut off by the {limit}; raise --max-tokens for the rest"
    still = "while the model was still reasoning, before any answer"
    return f"the answer was cut off by the {limit} {still}; raise --max-tokens"


class _TextOut:
    """Writes and flushes each piece as it arrives; ends the output with a newline."""

    def __init__(self, environment: Environment, *, echo: bool) -> None:
        self.stream = environment.stdout
        self.echo = echo
        self.last = "\n"
        self._wrote = False

    @property
    def wrote(self) -> bool:
        """Whether any answer text was written."""
        return self._wrote

    def write(self, text: str) -> None:
        if self.echo and text:
            self.stream.write(text)
            self.stream.flush()
            self.last = text[-1]
            self._wrote = True

    def finish(self) -> None:
        if self.echo and self.last != "\n":
            self.stream.write("\n")
            self.stream.flush()
            self.last = "\n"


class _ReasoningOut:
    """Shows the model's reasoning on stderr as it arrives, when asked: dim on a terminal, plain otherwise.

    It is the model's text, not ours, so control and invisible characters are shown escaped
    (line breaks kept), as in every other note on stderr; it ends with a newline before the answer.
    """

    def __init__(self, environment: Environment, *, show: bool) -> None:
        self.environment = environment
        self.show = show
        self.last = "\n"

    def write(self, text: str) -> None:
        if not (self.show and text):
            return
        stream = self.environment.stderr
        shown = self.environment.printable(text)
        stream.write(f"\x1b[2m{shown}\x1b[0m" if self.environment.color(stream) else shown)
        stream.flush()
        self.last = text[-1]

    def finish(self) -> None:
        if self.show and self.last != "\n":
            self.environment.stderr.write("\n")
            self.environment.stderr.flush()
            self.last = "\n"


def result_document(result: ChatResult) -> dict[str, object]:
    """The ``--json`` document: ``text`` is the answer alone; ``reasoning`` ("" when none), ``notices`` and
    ``finish_reason`` (``length`` = cut off by the max-tokens limit) beside it."""
    document = asdict(result)
    document["reasoning"] = result.reasoning
    document["notices"] = list(result.notices)
    document["usage"] = _usage(document["usage"])
    document["attempts"] = [_attempt(a) for a in document["attempts"]]
    return document


def attempts_list(error: BaseException) -> list[dict[str, object]]:
    """The attempts a failed request made, as ``--json`` shows them beside the error."""
    return [_attempt(asdict(a)) for a in getattr(error, "attempts", ())]


def _usage(usage: dict[str, object]) -> dict[str, object]:
    cost = usage["cost_micros"]
    return {**usage, "cost_usd": cost / 1_000_000 if isinstance(cost, int) else None}


def _attempt(attempt: dict[str, object]) -> dict[str, object]:
    usage = attempt.pop("usage")
    assert isinstance(usage, dict)
    attempt["usage"] = _usage(usage)
    return attempt


def _print_json(environment: Environment, document: dict[str, object]) -> None:
    environment.stdout.write(environment.redact(json.dumps(document, ensure_ascii=False)) + "\n")
    environment.stdout.flush()


def chat(options: ChatOptions, settings: Settings, environment: Environment) -> ExitStatus:
    """One exchange (or, with no prompt on a terminal, an interactive session), logged unless logging is off."""
    extra = generation(options)  # a bad -o is refused before a huge stdin is read
    if options.continue_latest and options.conversation is not None:
        raise UsageProblem("-c continues the latest conversation and --cid a given one: give one of them")
    if options.log and options.no_log:
        raise UsageProblem("--log and --no-log contradict each other: give one of them")
    store = Store.open(settings.state_path)
    try:
        logging = chat_log.logging_on(store, environment, log=options.log, no_log=options.no_log)
        history = chat_log.load_history(store, latest=options.continue_latest, conversation_id=options.conversation)
        if wants_session(options, environment):
            from llmroute.cli import interactive

            session = interactive.Session(options, settings, environment, store, history, logging, extra)
            return session.run()
        prompt = read_prompt(options, environment)
        request = make_request(options, prompt, settings, history, extra)
        del prompt
        result = asyncio.run(
            run_chat(
                request,
                settings,
                environment,
                store,
                as_json=options.json,
                show_reasoning=options.show_reasoning,
                keep_text=logging,
                conversation_id=history.conversation_id if logging else None,
            )
        )
        if logging:
            chat_log.record(store, environment, request, result, history, settings)
        return ExitStatus.OK
    finally:
        store.close()
