"""Ollama native wire format (ref §2.3 JSON, §2.4 NDJSON), rendered as a :class:`Plan`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .behaviours import Reply, compact_json
from .errors import OLLAMA_JSON
from .plan import (
    content_headers,
    first_interruption,
    delay_steps,
    Answer,
    ChatContext,
    Emit,
    Pause,
    Plan,
    Repeat,
    Step,
    cut_in_half,
    interruption_steps,
    reasoning_pieces,
    repeated_json,
    resolve_answer,
    stream_events,
)

NDJSON = "application/x-ndjson"
RUNNER_ERROR = "an error was encountered while running the model"

# Fake but plausible nanosecond durations.
LOAD_NS = 1_250_000
PROMPT_NS_PER_TOKEN = 1_000_000
EVAL_NS_PER_TOKEN = 12_000_000


def created_at() -> str:
    """RFC 3339 UTC with sub-second digits, like Go's ``time.Time`` JSON (``...414671Z``)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _message(content: str, thinking: str = "") -> dict[str, Any]:
    """``api.Message``: ``content`` is always there (Go: no ``omitempty``), ``thinking`` only when not empty."""
    message = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    return message


def done_object(answer: Answer, content: str, reply: Reply, thinking: str = "") -> dict[str, Any]:
    """The terminating ``done:true`` object carrying the metrics (ref §2.3/§2.4); ``eval_count`` counts
    the thinking tokens too."""
    prompt_ns = answer.prompt_tokens * PROMPT_NS_PER_TOKEN
    eval_ns = answer.completion_tokens * EVAL_NS_PER_TOKEN
    obj: dict[str, Any] = {
        "model": answer.model,
        "created_at": created_at(),
        "message": _message(content, thinking),
        "done": True,
        "done_reason": answer.finish_reason,
        "total_duration": LOAD_NS + prompt_ns + eval_ns + 345_000,
        "load_duration": LOAD_NS,
        "prompt_eval_count": answer.prompt_tokens,
        "prompt_eval_duration": prompt_ns,
        "eval_count": answer.completion_tokens,
        "eval_duration": eval_ns,
    }
    if reply.omit_prompt_eval_count:
        del obj["prompt_eval_count"]
    return obj


def load_object(model: str) -> dict[str, Any]:
    """Answer to a chat request with empty ``messages``: Ollama just loads the model."""
    return {
        "model": model,
        "created_at": created_at(),
        "message": _message(""),
        "done_reason": "load",
        "done": True,
    }


def render_json(reply: Reply, ctx: ChatContext) -> Plan:
    """``"stream": false`` answer; a runner failure becomes a 500 ``{"error":...}`` as in the server."""
    answer = resolve_answer(reply, ctx)
    preamble = delay_steps(reply)
    interrupt = first_interruption(reply, answer)
    if interrupt is not None and interrupt.kind in ("drop", "stall"):
        return Plan(status=None, preamble=preamble + tuple(interruption_steps(reply, interrupt.kind)))
    if reply.error_only or (interrupt is not None and interrupt.kind == "error"):
        body = compact_json({"error": reply.error_message or RUNNER_ERROR})
        return Plan(
            status=500, headers=content_headers(ctx, OLLAMA_JSON), body=(body,), preamble=preamble, gzip=reply.gzip
        )
    document = done_object(answer, answer.text, reply, answer.reasoning_text)
    steps: tuple[Step, ...]
    if reply.repeat > 1:
        steps = repeated_json(document, ("message", "content"), answer.text, reply.repeat)
    elif interrupt is not None:  # "end": the document stops half-way
        steps = (cut_in_half(compact_json(document)),)
    else:
        steps = (compact_json(document),)
    return Plan(status=200, headers=content_headers(ctx, OLLAMA_JSON), body=steps, preamble=preamble, gzip=reply.gzip)


def render_ndjson(reply: Reply, ctx: ChatContext) -> Plan:
    """NDJSON stream: ``done:false`` chunks, then the ``done:true`` metrics object (ref §2.4)."""
    answer = resolve_answer(reply, ctx)
    gap: list[Step] = [Pause(reply.chunk_delay)] if reply.chunk_delay > 0 else []
    steps: list[Step] = []

    def line(obj: dict[str, Any]) -> bytes:
        return compact_json(obj) + b"\n"

    def finish() -> Plan:
        return Plan(
            status=200,
            headers=content_headers(ctx, NDJSON),
            body=tuple(steps),
            chunked=True,
            preamble=delay_steps(reply),
            gzip=reply.gzip,
        )

    if reply.error_only:
        steps.append(line({"error": reply.error_message or RUNNER_ERROR}))
        return finish()
    for piece in reasoning_pieces(answer, ctx.tokens_per_chunk):  # thinking streams before the answer
        if steps:
            steps += gap
        steps.append(
            line({"model": answer.model, "created_at": created_at(), "message": _message("", piece), "done": False})
        )
    thinking_steps = len(steps)
    for event in stream_events(reply, answer.tokens, ctx.tokens_per_chunk):
        if steps:
            steps += gap
        if isinstance(event, Emit):
            steps.append(
                line(
                    {
                        "model": answer.model,
                        "created_at": created_at(),
                        "message": _message(event.content),
                        "done": False,
                    }
                )
            )
        elif event.kind == "error":
            steps.append(line({"error": reply.error_message or RUNNER_ERROR}))
            return finish()
        else:
            steps += interruption_steps(reply, event.kind)
            return finish()
    if reply.repeat > 1:  # one copy of the content lines, sent ``repeat`` times
        copy = tuple(s for s in steps[thinking_steps:] if isinstance(s, bytes | Pause))
        steps[thinking_steps:] = [Repeat(copy, reply.repeat)]
    if not reply.no_terminator:
        steps += gap
        steps.append(line(done_object(answer, "", reply)))
    return finish()


def render(reply: Reply, ctx: ChatContext) -> Plan:
    return render_ndjson(reply, ctx) if ctx.stream else render_json(reply, ctx)
