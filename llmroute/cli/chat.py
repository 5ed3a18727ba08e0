"""``llmroute chat``: one prompt in, the answer streamed out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import asdict, dataclass

from llmroute import aliases
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus, UsageProblem, require_provider
from llmroute.config import Settings
from llmroute.errors import ConfigError, RouteError
from llmroute.router import Router
from llmroute.store import Store
from llmroute.types import ChatRequest, ChatResult, Privacy, ReasoningDelta, TextDelta


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


def build_prompt(arguments: Sequence[str], piped: str | None) -> str:
    """Piped stdin first, then the arguments, separated by a blank line."""
    parts = [p for p in (piped, " ".join(arguments)) if p and p.strip()]
    return "\n\n".join(part.rstrip("\n") if i == 0 and len(parts) > 1 else part for i, part in enumerate(parts))


def read_prompt(options: ChatOptions, environment: Environment) -> str:
    piped = None
    if options.read_stdin and not environment.stdin_is_tty:
        data = environment.stdin.read()
        try:
            piped = data.decode("utf-8")
        except UnicodeDecodeError:
            piped = data.decode("utf-8", errors="replace")
            environment.warn("stdin is not valid UTF-8; undecodable bytes were replaced")
    elif not options.prompt and environment.stdin_is_tty:
        raise UsageProblem("no prompt: give it as arguments or pipe it on stdin")
    prompt = build_prompt(options.prompt, piped)
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


def make_request(options: ChatOptions, prompt: str, settings: Settings) -> ChatRequest:
    check_model(options.model)
    privacy_level = _privacy(options, settings)
    require_provider(settings, options.provider)
    check_contradictions(options, privacy_level, settings)
    return ChatRequest.from_prompt(
        prompt,
        system=options.system,
        model=options.model,
        temperature=options.temperature,
        max_tokens=options.max_tokens,
        stream=options.stream,
        provider=options.provider,
        privacy=privacy_level,
        timeout=options.timeout,
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
    if not options.provider:
        return
    names = [p.name for p in settings.providers]
    pinned, _ = aliases.split_spec((options.model or "").strip(), names)
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
    *,
    as_json: bool,
    show_reasoning: bool = False,
) -> ExitStatus:
    """Stream the answer to stdout (or print one JSON document); reasoning goes to stderr only, when asked.

    ``--json`` shows nothing before the result, so it asks the router for a buffered answer: a stream
    that breaks midway then fails over to the next key instead of ending the run.
    """
    store = Store.open(settings.state_path)
    out = _TextOut(environment, echo=not as_json)
    thoughts = _ReasoningOut(environment, show=show_reasoning)
    try:
        async with (
            Router(settings, store) as router,
            aclosing(router.stream(request, keep_text=as_json, buffered=as_json)) as items,
        ):
            async for item in items:
                if isinstance(item, TextDelta):
                    thoughts.finish()
                    out.write(item.text)
                elif isinstance(item, ReasoningDelta):
                    thoughts.write(item.text)
                elif isinstance(item, ChatResult):
                    if as_json:  # buffered: the reasoning arrives with the result
                        thoughts.write(item.reasoning)
                    thoughts.finish()
                    out.finish()
                    if as_json:
                        _print_json(environment, result_document(item))
                    if item.finish_reason == "length":
                        environment.warn(cut_off_warning(request, answered=out.wrote or bool(item.text)))
    except RouteError:  # reported by the runner (with ``--json``, as one document with the attempts)
        thoughts.finish()
        out.finish()
        raise
    finally:
        store.close()
    return ExitStatus.OK


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
    prompt = read_prompt(options, environment)
    request = make_request(options, prompt, settings)
    return asyncio.run(
        run_chat(request, settings, environment, as_json=options.json, show_reasoning=options.show_reasoning)
    )
