"""Provider adapters: one per wire protocol, each a translator and classifier with no state.

Importing this package does not import httpx; the adapters load it on their first request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmroute.providers.base import ProviderAdapter
from llmroute.providers.http import ClientPool
from llmroute.providers.ollama import OllamaAdapter
from llmroute.providers.openrouter import OpenRouterAdapter

#: Wire-protocol name -> adapter class.
ADAPTERS: dict[str, type[ProviderAdapter]] = {
    "openrouter": OpenRouterAdapter,
    "ollama": OllamaAdapter,
}

if TYPE_CHECKING:
    from llmroute.config import ProviderSettings


def build_adapter(provider: ProviderSettings, clients: ClientPool) -> ProviderAdapter:
    """The adapter for a configured provider, sharing ``clients``' connections."""
    if provider.protocol == "ollama":
        return OllamaAdapter(provider.name, provider.base_url, clients, local=provider.local)
    return ADAPTERS[provider.protocol](provider.name, provider.base_url, clients)  # type: ignore[call-arg]


__all__ = ["ADAPTERS", "ClientPool", "OllamaAdapter", "OpenRouterAdapter", "ProviderAdapter", "build_adapter"]
