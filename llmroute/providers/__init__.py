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

from llmroute.providers.azure import AzureAdapter
from llmroute.providers.base import HttpChatAdapter, ProviderAdapter
from llmroute.providers.cloudflare import CloudflareAdapter
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
}

if TYPE_CHECKING:
    from llmroute.config import ProviderSettings


def build_adapter(provider: ProviderSettings, clients: ClientPool) -> ProviderAdapter:
    """The adapter for a configured provider, sharing ``clients``' connections.

    ``provider.headers`` (extra request headers of a custom endpoint) is read with ``getattr`` so
    that settings from before that field still build.
    """
    headers: tuple[tuple[str, str], ...] = tuple(getattr(provider, "headers", ()) or ())
    return ADAPTERS[provider.protocol](provider.name, provider.base_url, clients, local=provider.local, headers=headers)


__all__ = [
    "ADAPTERS",
    "AzureAdapter",
    "ClientPool",
    "CloudflareAdapter",
    "OllamaAdapter",
    "OpenAIAdapter",
    "OpenAIWireAdapter",
    "OpenRouterAdapter",
    "ProviderAdapter",
    "build_adapter",
]
