"""OpenRouter wire format (ref §1.3 non-stream JSON, §1.4 SSE), rendered as a :class:`Plan`."""

from __future__ import annotations

from typing import Any

from .behaviours import Reply, compact_json
from .errors import FAKE_USER_ID
from .plan import (
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

SYSTEM_FINGERPRINT = "fp_fake"
PROCESSING_COMMENT = b": OPENROUTER PROCESSING\n\n"
DONE = b"data: [DONE]\n\n"

# error code -> (default message, metadata.error_type)
_ERROR_DEFAULTS: dict[int | str, tuple[str, str]] = {
    400: ("Bad request", "invalid_request"),
    408: ("Operation timed out. Please try again later.", "timeout"),
    429: ("Rate limit exceeded", "rate_limit_exceeded"),
    500: ("Internal Server Error", "server"),
    502: ("Provider returned error", "provider_unavailable"),
    503: ("Provider overloaded", "provider_overloaded"),
    "server_error": ("Internal server error", "server"),
}


def _error_fields(reply: Reply) -> tuple[str, str]:
    message, error_type = _ERROR_DEFAULTS.get(reply.error_code, ("Provider returned error", "server"))
    return (reply.error_message or message), error_type


def usage(prompt_tokens: int, completion_tokens: int, cost: float, reasoning_tokens: int = 0) -> dict[str, Any]:
    """A complete ``ChatUsage`` object (ref §1.3), cost split pro rata between prompt and completion.

    ``completion_tokens`` includes the ``reasoning_tokens`` (reasoning is billed as output).
    """
    total = prompt_tokens + completion_tokens
    prompt_cost = round(cost * prompt_tokens / total, 12) if total else 0.0
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": total,
        "cost": cost,
        "is_byok": False,
        "prompt_tokens_details": {
            "cached_tokens": 0,
            "cache_write_tokens": 0,
            "audio_tokens": 0,
            "video_tokens": 0,
        },
        "cost_details": {
            "upstream_inference_cost": None,
            "upstream_inference_prompt_cost": prompt_cost,
            "upstream_inference_completions_cost": round(cost - prompt_cost, 12),
        },
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens, "audio_tokens": 0},
    }


def _reasoning_details(text: str) -> list[dict[str, Any]]:
    """``reasoning_details`` for plain-text reasoning: the same text as ``reasoning``, as one block."""
    return [{"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}] if text else []


def _headers(ctx: ChatContext, content_type: str) -> tuple[tuple[str, str], ...]:
    base = [("Content-Type", content_type), ("X-Generation-Id", ctx.generation_id)]
    if content_type == "text/event-stream":
        base.append(("Cache-Control", "no-cache"))
    return tuple(base) + ctx.extra_headers


# --------------------------------------------------------------------------- non-stream


def render_json(reply: Reply, ctx: ChatContext) -> Plan:
    """Non-stream ``chat.completion`` (ref §1.3), including its 200-with-error variants."""
    answer = resolve_answer(reply, ctx)
    preamble = delay_steps(reply)
    events = list(stream_events(reply, answer.tokens, 1))
    interrupt = next((e for e in events if not isinstance(e, Emit)), None)
    if interrupt is not None and interrupt.kind in ("drop", "stall"):
        return Plan(status=None, preamble=preamble + tuple(interruption_steps(reply, interrupt.kind)))

    if reply.error_only:
        body: dict[str, Any] = {"error": _error_only_payload(reply, ctx), "user_id": FAKE_USER_ID}
    else:
        partial_error = interrupt is not None and interrupt.kind == "error"
        tokens = answer.tokens[: interrupt.emitted] if partial_error and interrupt else answer.tokens
        partial = len(tokens) + len(answer.reasoning) if partial_error else None
        body = _completion(ctx, answer, "".join(tokens), partial)
        if partial_error:
            message, error_type = _error_fields(reply)
            choice = body["choices"][0]
            choice["finish_reason"] = choice["native_finish_reason"] = "error"
            choice["error"] = {
                "code": reply.error_code,
                "message": message,
                "metadata": {"error_type": error_type},
            }

    steps: list[Step] = []
    for _ in range(reply.blank_lines):
        steps.append(b"\n")
        if reply.chunk_delay > 0:
            steps.append(Pause(reply.chunk_delay))
    if reply.repeat > 1 and not reply.error_only:
        steps += repeated_json(body, ("choices", 0, "message", "content"), answer.text, reply.repeat)
    elif interrupt is not None and interrupt.kind == "end":
        steps.append(cut_in_half(compact_json(body)))
    else:
        steps.append(compact_json(body))
    return Plan(
        status=200,
        headers=_headers(ctx, "application/json"),
        body=tuple(steps),
        chunked=reply.blank_lines > 0 and reply.chunk_delay > 0,
        preamble=preamble,
        gzip=reply.gzip,
    )


def _completion(ctx: ChatContext, answer: Answer, text: str, completion_override: int | None) -> dict[str, Any]:
    completion = answer.completion_tokens if completion_override is None else completion_override
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "reasoning": None}
    if answer.reasoning:
        message |= {"reasoning": answer.reasoning_text, "reasoning_details": _reasoning_details(answer.reasoning_text)}
    return {
        "id": ctx.generation_id,
        "provider": ctx.provider_name,
        "model": answer.model,
        "object": "chat.completion",
        "created": ctx.created,
        "choices": [
            {
                "logprobs": None,
                "finish_reason": answer.finish_reason,
                "native_finish_reason": answer.finish_reason,
                "index": 0,
                "message": message,
            }
        ],
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "usage": usage(answer.prompt_tokens, completion, answer.cost, len(answer.reasoning)),
    }


def _error_only_payload(reply: Reply, ctx: ChatContext) -> dict[str, Any]:
    message, _ = _error_fields(reply)
    return {
        "message": message,
        "code": reply.error_code,
        "metadata": {"raw": "upstream error (fake)", "provider_name": ctx.provider_name},
    }


# --------------------------------------------------------------------------- SSE


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + compact_json(obj) + b"\n\n"


def _chunk(ctx: ChatContext, answer: Answer, choices: list[dict[str, Any]], with_usage: bool = False) -> bytes:
    obj: dict[str, Any] = {
        "id": ctx.generation_id,
        "provider": ctx.provider_name,
        "model": answer.model,
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "choices": choices,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    if with_usage:
        obj["usage"] = usage(answer.prompt_tokens, answer.completion_tokens, answer.cost, len(answer.reasoning))
    return _sse(obj)


def _choice(
    content: str, finish_reason: str | None = None, *, reasoner: bool = False, reasoning: str | None = None
) -> dict[str, Any]:
    """One choice of a chunk. Every chunk repeats delta.role, as the live service does; a reasoning
    model's chunks also carry ``reasoning`` and ``reasoning_details``, empty once the answer began."""
    delta: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoner:
        delta |= {"reasoning": reasoning, "reasoning_details": _reasoning_details(reasoning or "")}
    return {
        "index": 0,
        "delta": delta,
        "finish_reason": finish_reason,
        "native_finish_reason": finish_reason,
        "logprobs": None,
    }


def render_sse(reply: Reply, ctx: ChatContext) -> Plan:
    """``text/event-stream`` per ref §1.4: comments, chunks, usage in shape A/B/C, ``[DONE]``."""
    answer = resolve_answer(reply, ctx)
    gap: list[Step] = [Pause(reply.chunk_delay)] if reply.chunk_delay > 0 else []
    reasoner = bool(answer.reasoning)

    def choice(content: str, finish_reason: str | None = None) -> dict[str, Any]:
        return _choice(content, finish_reason, reasoner=reasoner)

    steps: list[Step] = []
    for _ in range(reply.processing_comments):
        steps += [PROCESSING_COMMENT, *gap]

    if reply.error_only:
        steps.append(_sse({"error": _error_only_payload(reply, ctx)}))
        return _sse_plan(reply, ctx, steps)

    steps.append(_chunk(ctx, answer, [choice("")]))  # the live service opens with an empty delta
    for piece in reasoning_pieces(answer, ctx.tokens_per_chunk):  # reasoning streams before any content
        steps += [*gap, _chunk(ctx, answer, [_choice("", reasoner=True, reasoning=piece)])]
    shape_b_done = False
    opening = len(steps)
    for event in stream_events(reply, answer.tokens, ctx.tokens_per_chunk):
        steps += gap
        if isinstance(event, Emit):
            if event.last and reply.usage_shape == "B" and reply.repeat == 1:
                steps.append(_chunk(ctx, answer, [choice(event.content, answer.finish_reason)], with_usage=True))
                shape_b_done = True
            else:
                steps.append(_chunk(ctx, answer, [choice(event.content)]))
            continue
        if event.kind == "error":
            message, error_type = _error_fields(reply)
            steps.append(
                _sse(
                    {
                        "id": ctx.generation_id,
                        "object": "chat.completion.chunk",
                        "created": ctx.created,
                        "model": answer.model,
                        "provider": ctx.provider_name,
                        "error": {
                            "code": reply.error_code,
                            "message": message,
                            "metadata": {"error_type": error_type},
                        },
                        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
                    }
                )
            )
            if reply.done_after_error:
                steps.append(DONE)
            return _sse_plan(reply, ctx, steps)
        steps += interruption_steps(reply, event.kind)
        return _sse_plan(reply, ctx, steps)
    if reply.repeat > 1:  # one copy of the content chunks, sent ``repeat`` times
        copy = tuple(s for s in steps[opening:] if isinstance(s, bytes | Pause))
        steps[opening:] = [Repeat(copy, reply.repeat)]

    if reply.usage_shape == "A":
        steps.append(_chunk(ctx, answer, [choice("", answer.finish_reason)]))
        steps.append(_chunk(ctx, answer, [choice("", answer.finish_reason)], with_usage=True))
    elif reply.usage_shape == "B":
        if not shape_b_done:  # empty answer: one chunk with empty content, finish and usage
            steps.append(_chunk(ctx, answer, [choice("", answer.finish_reason)], with_usage=True))
    else:
        steps.append(_chunk(ctx, answer, [choice("", answer.finish_reason)]))
        steps.append(_chunk(ctx, answer, [], with_usage=True))
    if not reply.no_terminator:
        steps.append(DONE)
    return _sse_plan(reply, ctx, steps)


def _sse_plan(reply: Reply, ctx: ChatContext, steps: list[Step]) -> Plan:
    return Plan(
        status=200,
        headers=_headers(ctx, "text/event-stream"),
        body=tuple(steps),
        chunked=True,
        preamble=delay_steps(reply),
        gzip=reply.gzip,
    )


def render(reply: Reply, ctx: ChatContext) -> Plan:
    return render_sse(reply, ctx) if ctx.stream else render_json(reply, ctx)


__all__ = ["DONE", "PROCESSING_COMMENT", "render", "render_json", "render_sse", "usage"]
