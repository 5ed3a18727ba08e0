"""Provider adapters: one per wire protocol, each a translator and classifier with no state.

The OpenAI Chat Completions wire is read once (:mod:`.openai_wire`); each provider that speaks it
is a small dialect module (:mod:`.openrouter`, :mod:`.openai_api`, :mod:`.azure`, :mod:`.cloudflare`).
Ollama's native API has its own (:mod:`.ollama`). Shared pieces: :mod:`.classify` (statuses,
redaction, transport errors), :mod:`.resets` (reset headers and durations), :mod:`.framing` (SSE,
NDJSON), :mod:`.http` (the client pool). Adapters import only ``errors``, ``keys`` and ``types``
from the core. Importing this package does not import httpx; the adapters load it on their first request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmroute.providers.anthropic import AnthropicAdapter
from llmroute.providers.azure import AzureAdapter
from llmroute.providers.base import HttpChatAdapter, ProviderAdapter
from llmroute.providers.bedrock import BedrockAdapter
from llmroute.providers.cloudflare import CloudflareAdapter
from llmroute.providers.gemini import GeminiAdapter
from llmroute.providers.http import ClientPool
from llmroute.providers.ollama import OllamaAdapter
from llmroute.providers.openai_api import OpenAIAdapter
from llmroute.providers.openai_wire import OpenAIWireAdapter
from llmroute.providers.openrouter import OpenRouterAdapter

#: Wire-protocol name -> adapter class. Each takes ``(name, base_url, clients, *, local=False, headers=())``.
ADAPTERS: dict[str, type[HttpChatAdapter]] = {
    "openrouter": OpenRouterAdapter,
    "ollama": OllamaAdapter,
    "openai": OpenAIAdapter,
    "azure": AzureAdapter,
    "cloudflare": CloudflareAdapter,
    "gemini": GeminiAdapter,
    "anthropic": AnthropicAdapter,
    "bedrock": BedrockAdapter,
}

if TYPE_CHECKING:
    from llmroute.config import ProviderSettings


def build_adapter(provider: ProviderSettings, clients: ClientPool) -> ProviderAdapter:
    """The adapter for a configured provider, sharing ``clients``' connections."""
    adapter = ADAPTERS.get(provider.protocol)
    if adapter is None:
        from llmroute.errors import ConfigError

        raise ConfigError(f"provider {provider.name}: protocol {provider.protocol!r} is not supported")
    options: dict[str, object] = {"local": provider.local, "headers": tuple(provider.headers)}
    if provider.region:
        options["region"] = provider.region
    return adapter(provider.name, provider.base_url, clients, **options)  # type: ignore[arg-type]


__all__ = [
    "ADAPTERS",
    "AnthropicAdapter",
    "AzureAdapter",
    "BedrockAdapter",
    "ClientPool",
    "CloudflareAdapter",
    "GeminiAdapter",
    "OllamaAdapter",
    "OpenAIAdapter",
    "OpenAIWireAdapter",
    "OpenRouterAdapter",
    "ProviderAdapter",
    "build_adapter",
]
