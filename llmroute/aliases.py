"""Model names: built-in aliases for common families, and the rules that turn a spec into targets.

A spec is ``provider:model`` (pins the provider), an alias, or a bare model name.
Built-in aliases list each family under the names Ollama Cloud and OpenRouter
use for it; the config file's ``[aliases]`` table extends or overrides them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from llmroute.types import Target

BUILTIN_ALIASES: Mapping[str, tuple[str, ...]] = {
    "kimi-k2.5": ("ollama:kimi-k2.5", "openrouter:moonshotai/kimi-k2.5"),
    "kimi-k2.6": ("ollama:kimi-k2.6", "openrouter:moonshotai/kimi-k2.6"),
    "kimi-k2-thinking": ("ollama:kimi-k2-thinking", "openrouter:moonshotai/kimi-k2-thinking"),
    "deepseek-v3.1": ("ollama:deepseek-v3.1:671b", "openrouter:deepseek/deepseek-chat-v3.1"),
    "deepseek-v3.1:671b": ("ollama:deepseek-v3.1:671b", "openrouter:deepseek/deepseek-chat-v3.1"),
    "qwen3-coder": ("ollama:qwen3-coder:480b", "openrouter:qwen/qwen3-coder"),
    "qwen3-coder:free": ("openrouter:qwen/qwen3-coder:free",),
    "qwen3-next": ("ollama:qwen3-next:80b", "openrouter:qwen/qwen3-next-80b-a3b-instruct"),
    "glm-4.6": ("ollama:glm-4.6", "openrouter:z-ai/glm-4.6"),
    "glm-4.7": ("ollama:glm-4.7", "openrouter:z-ai/glm-4.7"),
    "gemma3": ("ollama:gemma3:27b", "openrouter:google/gemma-3-27b-it", "local:gemma3:27b"),
    "gemma3:27b": ("ollama:gemma3:27b", "openrouter:google/gemma-3-27b-it", "local:gemma3:27b"),
    "gpt-oss": ("ollama:gpt-oss:120b", "openrouter:openai/gpt-oss-120b"),
    "gpt-oss:120b": ("ollama:gpt-oss:120b", "openrouter:openai/gpt-oss-120b", "local:gpt-oss:120b"),
    "gpt-oss:20b": ("ollama:gpt-oss:20b", "openrouter:openai/gpt-oss-20b", "local:gpt-oss:20b"),
    "mistral-large-3": ("ollama:mistral-large-3:675b", "openrouter:mistralai/mistral-large-2512"),
    "ministral-3": ("ollama:ministral-3:14b", "openrouter:mistralai/ministral-14b-2512"),
    "devstral": ("ollama:devstral-2:123b", "openrouter:mistralai/devstral-2512"),
    "cogito-2.1": ("ollama:cogito-2.1:671b", "openrouter:deepcogito/cogito-v2.1-671b"),
    "cogito-2.1:671b": ("ollama:cogito-2.1:671b", "openrouter:deepcogito/cogito-v2.1-671b"),
    "nemotron-3-nano": ("ollama:nemotron-3-nano:30b", "openrouter:nvidia/nemotron-3-nano-30b-a3b"),
    "llama-3.3-70b": ("openrouter:meta-llama/llama-3.3-70b-instruct",),
    "llama-3.3-70b:free": ("openrouter:meta-llama/llama-3.3-70b-instruct:free",),
}


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
    if "/" in model:
        return (Target("openrouter", model),)
    return (Target("ollama", model), Target("local", model))


def _target(entry: str, providers: Collection[str]) -> Target:
    provider, model = split_spec(entry, providers)
    return Target(provider, model) if provider else Target("ollama", model)
