"""Which generation options each wire carries, in one table: ask before sending, never drop one on the way.

Every wire carries ``temperature`` and ``max_tokens`` (the one cap on the answer, whatever the wire calls
it). ``top_p``, ``stop`` and ``seed`` are carried where :data:`WIRES` says, under the names it gives, up to
its limits. A request that asks for more than a wire carries is not sent there with the option left out: a
seed that silently went missing would make "reproducible" answers differ with no word why, a dropped stop
sequence would let the answer run on. :func:`check_options` says why a request cannot go over a wire (the
router, the CLI and the gateway ask it first, to skip that candidate or refuse the request), and every
adapter calls :func:`require_options` before it builds a body, so a caller that did not ask still gets a
classified ``BAD_REQUEST`` and nothing is sent.

The table holds what the wire documents (``reference/providers.md``, ``providers-next.md`` and the sources
named per row), not what one model of a provider does: a model that refuses an option its wire carries
(OpenAI's reasoning models and ``stop`` / ``top_p``; recent Claude models given both ``temperature`` and
``top_p``) answers with a 400, which is loud. This module imports only ``errors`` (and ``types`` for its
annotations): the gateway and the CLI may ask it without loading any adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmroute.errors import ErrorKind, ProviderError

if TYPE_CHECKING:
    from llmroute.types import ChatRequest

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class WireOptions:
    """What one wire carries of the options beyond ``temperature`` and ``max_tokens``, and under which names.

    The names are where each option lands in the wire's body (for messages and help texts; the adapters build
    the bodies). ``None`` means the wire has no such option; ``why_no_*`` then says so in the wire's terms.
    """

    title: str
    """How messages name the wire."""
    top_p: str | None
    stop: str | None
    seed: str | None
    max_stop: int | None = None
    """The most stop sequences the wire takes; ``None`` where it documents no limit."""
    seed_range: tuple[int, int] = INT64
    """The integers the wire's seed field holds."""
    why_no_stop: str = ""
    why_no_seed: str = ""


#: Wire protocol (a provider's ``protocol``, the key of :data:`~llmroute.providers.ADAPTERS`) -> what it carries.
WIRES: dict[str, WireOptions] = {
    # ``stop``: "Up to 4 sequences" (OpenAI's API reference; OpenRouter's ChatRequest schema, ref §1.2). OpenRouter
    # passes each option to the upstream that serves the model, which may ignore one it does not support
    # (``provider.require_parameters`` makes OpenRouter pick only upstreams that take them all; not sent).
    "openai": WireOptions("the OpenAI Chat Completions API", "top_p", "stop", "seed", max_stop=4),
    "openrouter": WireOptions("OpenRouter's Chat Completions API", "top_p", "stop", "seed", max_stop=4),
    "azure": WireOptions("the Azure OpenAI v1 API", "top_p", "stop", "seed", max_stop=4),
    # Workers AI checks each body against the model's own input schema (developers.cloudflare.com, the
    # ``workers-ai-models`` schemas): every text-generation model takes ``top_p`` and ``seed`` (the older ones a
    # seed of 1..9999999999), but only the newer ones list ``stop``; the older ones (``@cf/meta/llama-3.1-8b-
    # instruct`` and its kin) have no such property and would ignore it, and nothing tells the two apart first.
    "cloudflare": WireOptions(
        "Cloudflare Workers AI",
        "top_p",
        None,
        "seed",
        why_no_stop="Workers AI's older models (such as @cf/meta/llama-3.1-8b-instruct) have no stop sequences "
        "and would ignore them",
    ),
    # Native ``/api/chat``: sampling goes in ``options`` (ref §2.3), ``stop`` an array with no documented limit;
    # the seed is a Go ``int``.
    "ollama": WireOptions("Ollama's /api/chat", "options.top_p", "options.stop", "options.seed"),
    # Messages API (ref providers-next §4, platform.claude.com): ``top_p``, ``stop_sequences`` (no documented
    # limit); there is no seed. ``top_p`` is deprecated like ``temperature``: with ``anthropic-version:
    # 2023-06-01`` (what the adapter sends) the models released after Claude Opus 4.6 answer 400 "`top_p` is
    # deprecated for this model", and version 2026-10-21 (the 2.x SDKs') has neither; a 400 is loud, so the
    # older models that still take it are not refused it here.
    "anthropic": WireOptions(
        "the Anthropic Messages API",
        "top_p",
        "stop_sequences",
        None,
        why_no_seed="the Anthropic Messages API has no seed",
    ),
    # ``generationConfig`` (providers-next §1): ``topP``, ``stopSequences`` ("up to 5"), ``seed`` (an int32).
    "gemini": WireOptions(
        "the Gemini API",
        "generationConfig.topP",
        "generationConfig.stopSequences",
        "generationConfig.seed",
        max_stop=5,
        seed_range=INT32,
    ),
    # Converse's ``InferenceConfiguration`` (providers-next §6; botocore's service model): ``topP`` and
    # ``stopSequences`` (at most 2500) for every model family; no seed field (a model that has one takes it only
    # through ``additionalModelRequestFields``, in its own native name).
    "bedrock": WireOptions(
        "Bedrock Converse",
        "inferenceConfig.topP",
        "inferenceConfig.stopSequences",
        None,
        max_stop=2500,
        why_no_seed="Bedrock Converse has no seed",
    ),
}


def stop_sequences(request: ChatRequest) -> list[str]:
    """The request's stop sequences as the list every wire sends (one string given alone is one sequence)."""
    stop = request.stop
    return [stop] if isinstance(stop, str) else list(stop)


def check_options(protocol: str, request: ChatRequest) -> str | None:
    """Why ``request`` cannot be sent over the ``protocol`` wire as it is, or None when it can.

    The reason names the option first (``"seed: the Anthropic Messages API has no seed"``), for a message
    such as ``cannot send to anthropic: <reason>``. A wire llmroute has no table for is refused only when the
    request asks for an option beyond ``temperature`` and ``max_tokens``.
    """
    stop = stop_sequences(request)
    wire = WIRES.get(protocol)
    if wire is None:
        given = (("top_p", request.top_p is not None), ("stop", bool(stop)), ("seed", request.seed is not None))
        asked = [name for name, present in given if present]
        return f"{asked[0]}: llmroute does not know whether the {protocol!r} wire carries it" if asked else None
    if request.top_p is not None and wire.top_p is None:
        return f"top_p: {wire.title} has no top_p"
    if stop:
        if wire.stop is None:
            return f"stop: {wire.why_no_stop or wire.title + ' has no stop sequences'}"
        if wire.max_stop is not None and len(stop) > wire.max_stop:
            return f"stop: {wire.title} takes at most {wire.max_stop} stop sequences, not {len(stop)}"
    if request.seed is not None:
        if wire.seed is None:
            return f"seed: {wire.why_no_seed or wire.title + ' has no seed'}"
        low, high = wire.seed_range
        if not low <= request.seed <= high:
            return f"seed: {wire.title} takes a seed from {low} to {high}, not {request.seed}"
    return None


def require_options(protocol: str, request: ChatRequest, provider: str) -> None:
    """Raise a classified ``BAD_REQUEST`` when :func:`check_options` finds the request cannot go over the wire."""
    reason = check_options(protocol, request)
    if reason is not None:
        raise ProviderError(ErrorKind.BAD_REQUEST, f"cannot send this request: {reason}", provider=provider)
