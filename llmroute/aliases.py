"""Model names: built-in aliases for common families, and the rules that turn a spec into targets.

A spec is ``provider:model`` (pins the provider), an alias, or a bare model name.
Built-in aliases list each family under the names the providers use for it (an Azure target names the model;
the planner turns it into the deployment the config file maps it to); the config file's ``[aliases]`` table
extends or overrides them. Resolving a spec says what it names, not whether that still exists:
``catalog.current_targets`` is the rule for that.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from llmroute.types import Target

#: Families the providers serve today: Ollama Cloud after its June-September 2026 retirements
#: (reference/providers-next.md §8: gpt-oss:120b, gpt-oss:20b and nemotron-3-nano:30b on the free tier;
#: kimi-k2.6, mistral-large-3:675b and glm-5.3 on a subscription), each with the OpenRouter id of the same model
#: where one is known. No target here is in ``catalog.RETIRED``.
CURRENT_ALIASES: Mapping[str, tuple[str, ...]] = {
    "kimi-k2.6": ("ollama:kimi-k2.6", "openrouter:moonshotai/kimi-k2.6"),
    "glm-5.3": ("ollama:glm-5.3",),
    "gpt-oss": ("ollama:gpt-oss:120b", "openrouter:openai/gpt-oss-120b", "cloudflare:@cf/openai/gpt-oss-120b"),
    "gpt-oss:120b": (
        "ollama:gpt-oss:120b",
        "openrouter:openai/gpt-oss-120b",
        "cloudflare:@cf/openai/gpt-oss-120b",
        "local:gpt-oss:120b",
    ),
    "gpt-oss:20b": (
        "ollama:gpt-oss:20b",
        "openrouter:openai/gpt-oss-20b",
        "cloudflare:@cf/openai/gpt-oss-20b",
        "local:gpt-oss:20b",
    ),
    "gpt-4o-mini": ("openai:gpt-4o-mini", "azure:gpt-4o-mini", "openrouter:openai/gpt-4o-mini"),
    "gpt-4o": ("openai:gpt-4o", "azure:gpt-4o", "openrouter:openai/gpt-4o"),
    "llama-3.1-8b": ("cloudflare:@cf/meta/llama-3.1-8b-instruct",),
    # Bedrock's on-demand id of Claude Sonnet 4.5; some regions need an inference profile (``us.``, ``global.``):
    # override the alias in the config file for those.
    "claude-sonnet": (
        "anthropic:claude-sonnet-4-5",
        "bedrock:anthropic.claude-sonnet-4-5-20250929-v1:0",
        "openrouter:anthropic/claude-sonnet-4.5",
    ),
    "claude-opus": ("anthropic:claude-opus-4-6",),
    "gemini-flash": ("gemini:gemini-2.5-flash", "openrouter:google/gemini-2.5-flash"),
    "gemini-pro": ("gemini:gemini-2.5-pro", "openrouter:google/gemini-2.5-pro"),
    "qwen2.5-coder-32b": ("cloudflare:@cf/qwen/qwen2.5-coder-32b-instruct",),
    "mistral-large-3": ("ollama:mistral-large-3:675b", "openrouter:mistralai/mistral-large-2512"),
    "nemotron-3-nano": ("ollama:nemotron-3-nano:30b", "openrouter:nvidia/nemotron-3-nano-30b-a3b"),
    "qwen3-coder:free": ("openrouter:qwen/qwen3-coder:free",),
    "llama-3.3-70b": ("openrouter:meta-llama/llama-3.3-70b-instruct",),
    "llama-3.3-70b:free": ("openrouter:meta-llama/llama-3.3-70b-instruct:free",),
}

#: Names of retired models, kept so that scripts using them keep working: each still lists the old ids, and
#: the one rule of ``catalog.current_targets`` (applied by the planner) replaces each by its successor or drops
#: it, with a notice (``ollama:kimi-k2.5 was retired on 2026-07-31; using ollama:kimi-k2.6``). Where a family
#: lives on elsewhere (on OpenRouter, or a local Ollama) that target is kept; a name with nothing left says why.
FORMER_ALIASES: Mapping[str, tuple[str, ...]] = {
    "kimi-k2.5": ("ollama:kimi-k2.5", "openrouter:moonshotai/kimi-k2.5"),
    "kimi-k2-thinking": ("ollama:kimi-k2-thinking",),
    "deepseek-v3.1": ("ollama:deepseek-v3.1:671b", "openrouter:deepseek/deepseek-chat-v3.1"),
    "deepseek-v3.1:671b": ("ollama:deepseek-v3.1:671b", "openrouter:deepseek/deepseek-chat-v3.1"),
    "qwen3-coder": ("ollama:qwen3-coder:480b", "openrouter:qwen/qwen3-coder"),
    "qwen3-next": ("ollama:qwen3-next:80b",),
    "glm-4.6": ("ollama:glm-4.6",),
    "glm-4.7": ("ollama:glm-4.7", "openrouter:z-ai/glm-4.7"),
    "gemma3": ("ollama:gemma3:27b", "openrouter:google/gemma-3-27b-it", "local:gemma3:27b"),
    "gemma3:27b": ("ollama:gemma3:27b", "openrouter:google/gemma-3-27b-it", "local:gemma3:27b"),
    "ministral-3": ("ollama:ministral-3:14b",),
    "devstral": ("ollama:devstral-2:123b",),
    "cogito-2.1": ("ollama:cogito-2.1:671b",),
    "cogito-2.1:671b": ("ollama:cogito-2.1:671b",),
}

BUILTIN_ALIASES: Mapping[str, tuple[str, ...]] = {**CURRENT_ALIASES, **FORMER_ALIASES}


def split_spec(spec: str, providers: Collection[str]) -> tuple[str | None, str]:
    """``openrouter:x/y`` -> (``openrouter``, ``x/y``); ``gpt-oss:120b`` -> (None, ``gpt-oss:120b``)."""
    head, sep, rest = spec.partition(":")
    if sep and head in providers and rest:
        return head, rest
    return None, spec


def resolve(spec: str, aliases: Mapping[str, tuple[str, ...]], providers: Collection[str]) -> tuple[Target, ...]:
    """Every target that could answer ``spec``, in the alias's order (the planner reorders)."""
    provider, model = split_spec(spec.strip(), providers)
    if provider:
        return (Target(provider, model),)
    merged = {**BUILTIN_ALIASES, **aliases}
    if model in merged:
        return tuple(_target(entry, providers) for entry in merged[model])
    if model.startswith(("@cf/", "@hf/")):
        return (Target("cloudflare", model),)
    if "/" in model:
        return (Target("openrouter", model),)
    return (Target("ollama", model), Target("local", model))


def _target(entry: str, providers: Collection[str]) -> Target:
    provider, model = split_spec(entry, providers)
    return Target(provider, model) if provider else Target("ollama", model)
