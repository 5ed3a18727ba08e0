"""Provider adapters: one per wire protocol, each a translator and classifier with no state.

Importing this package does not import httpx; the adapters load it on their first request.
"""

from __future__ import annotations

from llmroute.providers.base import ProviderAdapter
from llmroute.providers.http import ClientPool
from llmroute.providers.ollama import OllamaAdapter
from llmroute.providers.openrouter import OpenRouterAdapter

#: Wire-protocol name -> adapter class.
ADAPTERS: dict[str, type[ProviderAdapter]] = {
    "openrouter": OpenRouterAdapter,
    "ollama": OllamaAdapter,
}

__all__ = ["ADAPTERS", "ClientPool", "OllamaAdapter", "OpenRouterAdapter", "ProviderAdapter"]
