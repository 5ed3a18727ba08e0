"""Provider adapters: one per wire protocol, each a translator and classifier with no state.

The OpenAI Chat Completions wire is read once (:mod:`.openai_wire`); each provider that speaks it
is a small dialect module (:mod:`.openrouter`, :mod:`.openai_api`, :mod:`.azure`, :mod:`.cloudflare`).
Ollama's native API has its own (:mod:`.ollama`), as do :mod:`.anthropic`, :mod:`.gemini` and
:mod:`.bedrock` (with :mod:`.eventstream`). Shared pieces: :mod:`.classify` (statuses, redaction,
transport errors), :mod:`.resets` (reset headers and durations), :mod:`.framing` (SSE, NDJSON),
:mod:`.http` (the client pool). Adapters import only ``errors``, ``keys`` and ``types`` from the core.

Importing this package imports none of its modules: :data:`ADAPTERS` imports an adapter's module the
first time that protocol is asked for, so a chat through one provider never loads the other seven, and
every name below is imported on first use. httpx is imported by the adapters on their first request.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmroute.config import ProviderSettings
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

#: Wire-protocol name -> where its adapter class lives (``module:Class`` under this package).
_ADAPTER_PATHS = {
    "openrouter": "openrouter:OpenRouterAdapter",
    "ollama": "ollama:OllamaAdapter",
    "openai": "openai_api:OpenAIAdapter",
    "azure": "azure:AzureAdapter",
    "cloudflare": "cloudflare:CloudflareAdapter",
    "gemini": "gemini:GeminiAdapter",
    "anthropic": "anthropic:AnthropicAdapter",
    "bedrock": "bedrock:BedrockAdapter",
}

#: Public name -> the module that defines it, imported on first access (PEP 562).
_EXPORTS = {
    **{path.split(":")[1]: path.split(":")[0] for path in _ADAPTER_PATHS.values()},
    "HttpChatAdapter": "base",
    "ProviderAdapter": "base",
    "ClientPool": "http",
    "OpenAIWireAdapter": "openai_wire",
}


def _import(module: str) -> Any:
    """A module of this package. ``__import__``, not ``importlib.import_module``: ``-X importtime`` sees only the
    former, and it is how the start-up of a chat is measured."""
    name = f"{__name__}.{module}"
    __import__(name)
    return sys.modules[name]


def _load(path: str) -> Any:
    module, name = path.split(":")
    return getattr(_import(module), name)


class AdapterRegistry(MutableMapping[str, "type[HttpChatAdapter]"]):
    """Wire-protocol name -> adapter class; each class's module is imported when that protocol is first looked up.

    Entries are ``module:Class`` paths until resolved; setting an entry (a test, a plug-in) stores the class itself.
    Iterating lists every protocol without importing anything; ``items()`` and ``values()`` import them all.
    """

    def __init__(self, paths: dict[str, str]) -> None:
        self._entries: dict[str, type[HttpChatAdapter] | str] = dict(paths)

    def __getitem__(self, protocol: str) -> type[HttpChatAdapter]:
        entry = self._entries[protocol]
        if isinstance(entry, str):
            entry = self._entries[protocol] = _load(entry)
        return entry

    def __setitem__(self, protocol: str, adapter: type[HttpChatAdapter]) -> None:
        self._entries[protocol] = adapter

    def __delitem__(self, protocol: str) -> None:
        del self._entries[protocol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, protocol: object) -> bool:
        return protocol in self._entries

    def __repr__(self) -> str:
        return f"{type(self).__name__}({sorted(self._entries)})"


#: Wire-protocol name -> adapter class. Each takes ``(name, base_url, clients, *, local=False, headers=())``.
ADAPTERS = AdapterRegistry(_ADAPTER_PATHS)


def build_adapter(provider: ProviderSettings, clients: ClientPool) -> ProviderAdapter:
    """The adapter for a configured provider, sharing ``clients``' connections (its module is imported now)."""
    if provider.protocol not in ADAPTERS:
        from llmroute.errors import ConfigError

        raise ConfigError(f"provider {provider.name}: protocol {provider.protocol!r} is not supported")
    adapter = ADAPTERS[provider.protocol]
    options: dict[str, object] = {"local": provider.local, "headers": tuple(provider.headers)}
    if provider.region:
        options["region"] = provider.region
    return adapter(provider.name, provider.base_url, clients, **options)  # type: ignore[arg-type]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ADAPTERS",
    "AdapterRegistry",
    "AnthropicAdapter",
    "AzureAdapter",
    "BedrockAdapter",
    "ClientPool",
    "CloudflareAdapter",
    "GeminiAdapter",
    "HttpChatAdapter",
    "OllamaAdapter",
    "OpenAIAdapter",
    "OpenAIWireAdapter",
    "OpenRouterAdapter",
    "ProviderAdapter",
    "build_adapter",
]
