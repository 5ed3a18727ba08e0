"""Ollama's OpenAI-compatible ``POST /v1/chat/completions`` (ref §2.6/§3.3), rendered as a :class:`Plan`.

Follows Ollama's ``/v1`` shim (``middleware/openai.go``, ``openai/openai.go``): ids ``chatcmpl-<n>``
with ``n < 999``, ``system_fingerprint:"fp_ollama"``, no cost; every stream chunk repeats
``delta.role``; a finish chunk with empty content, then (only with
``stream_options.include_usage``) a ``choices: []`` + ``usage`` chunk, then ``data: [DONE]``.

What the :class:`~.behaviours.Reply` knobs mean here:

* ``error_after_tokens`` / ``error_only`` in a stream: the shim has no error event, so the native
  error line becomes one empty chunk (``model: ""``) and the stream ends **without** ``[DONE]``
  (ref §3.3, inferred from source).  Non-stream: 500 ``api_error`` with the runner message.
* ``omit_prompt_eval_count``: ``usage.prompt_tokens`` is 0 (the shim's cached-prompt behaviour).
* ``end_after_tokens``: as on the native wires (streams end cleanly; a non-stream body is cut in half).
* ``processing_comments``, ``usage_shape``, ``blank_lines``, ``cost``, ``done_after_error``, ``repeat``: ignored.
"""

from __future__ import annotations

from typing import Any

from .behaviours import Reply, compact_json
from .errors import ollama_openai_error
from .plan import (
    content_headers,
    first_interruption,
    delay_steps,
    Answer,
    ChatContext,
    Emit,
    Pause,
    Plan,
    Step,
    cut_in_half,
    interruption_steps,
    resolve_answer,
    stream_events,
)

SYSTEM_FINGERPRINT = "fp_ollama"
DONE = b"data: [DONE]\n\n"
RUNNER_ERROR = "an error was encountered while running the model"


def usage(answer: Answer, reply: Reply) -> dict[str, int]:
    prompt = 0 if reply.omit_prompt_eval_count else answer.prompt_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": prompt + answer.completion_tokens,
    }


def render_json(reply: Reply, ctx: ChatContext) -> Plan:
    """Non-stream ``chat.completion`` (Go's encoder adds a trailing newline)."""
    answer = resolve_answer(reply, ctx)
    preamble = delay_steps(reply)
    interrupt = first_interruption(reply, answer)
    if interrupt is not None and interrupt.kind in ("drop", "stall"):
        return Plan(status=None, preamble=preamble + tuple(interruption_steps(reply, interrupt.kind)))
    if reply.error_only or (interrupt is not None and interrupt.kind == "error"):
        err = ollama_openai_error(500, reply.error_message or RUNNER_ERROR, wrapped=True)
        return Plan(
            status=500,
            headers=content_headers(ctx, err.content_type),
            body=(err.body,),
            preamble=preamble,
            gzip=reply.gzip,
        )
    body = {
        "id": ctx.generation_id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": answer.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": usage(answer, reply),
    }
    document = compact_json(body) + b"\n"
    return Plan(
        status=200,
        headers=content_headers(ctx, "application/json"),
        body=(cut_in_half(document) if interrupt is not None else document,),
        preamble=preamble,
        gzip=reply.gzip,
    )


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + compact_json(obj) + b"\n\n"


def _chunk(ctx: ChatContext, model: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": ctx.generation_id,
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": choices,
    }


def _choice(content: str, finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": finish_reason}


def render_sse(reply: Reply, ctx: ChatContext) -> Plan:
    """``text/event-stream``: content chunks, finish chunk, optional usage chunk, ``[DONE]``."""
    answer = resolve_answer(reply, ctx)
    gap: list[Step] = [Pause(reply.chunk_delay)] if reply.chunk_delay > 0 else []
    steps: list[Step] = []
    # What the shim makes of a native {"error": ...} line: an empty chunk, and no [DONE].
    error_chunk = _sse(_chunk(ctx, "", [_choice("")]))

    def finish() -> Plan:
        return Plan(
            status=200,
            headers=content_headers(ctx, "text/event-stream"),
            body=tuple(steps),
            chunked=True,
            preamble=delay_steps(reply),
            gzip=reply.gzip,
        )

    if reply.error_only:
        steps.append(error_chunk)
        return finish()
    for event in stream_events(reply, answer.tokens, ctx.tokens_per_chunk):
        if steps:
            steps += gap
        if isinstance(event, Emit):
            steps.append(_sse(_chunk(ctx, answer.model, [_choice(event.content)])))
        elif event.kind == "error":
            steps.append(error_chunk)
            return finish()
        else:
            steps += interruption_steps(reply, event.kind)
            return finish()
    if steps:
        steps += gap
    steps.append(_sse(_chunk(ctx, answer.model, [_choice("", answer.finish_reason)])))
    if ctx.include_usage:
        steps.append(_sse({**_chunk(ctx, answer.model, []), "usage": usage(answer, reply)}))
    if not reply.no_terminator:
        steps.append(DONE)
    return finish()


def render(reply: Reply, ctx: ChatContext) -> Plan:
    return render_sse(reply, ctx) if ctx.stream else render_json(reply, ctx)


__all__ = ["DONE", "render", "render_json", "render_sse", "usage"]
