"""llmroute: every LLM API key you hold, usable as one.

The public surface is imported lazily, so that ``import llmroute`` (which every
CLI run does) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from llmroute._version import __version__

if TYPE_CHECKING:
    from llmroute.config import Settings, load_environment, load_settings
    from llmroute.errors import (
        AllCandidatesFailed,
        ConfigError,
        DeadlineExceeded,
        ErrorKind,
        LlmrouteError,
        ModelNotFound,
        NoCandidateAvailable,
        NoKeysError,
        PrivacyRefused,
        ProviderError,
        RequestRejected,
        RouteError,
        StateError,
        StreamBroken,
    )
    from llmroute.keys import ApiKey
    from llmroute.router import Router
    from llmroute.store import Store
    from llmroute.types import ChatRequest, ChatResult, Message, Privacy, TextDelta, Usage

_EXPORTS = {
    "Router": "llmroute.router",
    "Store": "llmroute.store",
    "Settings": "llmroute.config",
    "load_environment": "llmroute.config",
    "load_settings": "llmroute.config",
    "ApiKey": "llmroute.keys",
    **dict.fromkeys(("ChatRequest", "ChatResult", "Message", "Privacy", "TextDelta", "Usage"), "llmroute.types"),
    **dict.fromkeys(
        (
            "AllCandidatesFailed",
            "ConfigError",
            "DeadlineExceeded",
            "ErrorKind",
            "LlmrouteError",
            "ModelNotFound",
            "NoCandidateAvailable",
            "NoKeysError",
            "PrivacyRefused",
            "ProviderError",
            "RequestRejected",
            "RouteError",
            "StateError",
            "StreamBroken",
        ),
        "llmroute.errors",
    ),
}

__all__ = [
    "AllCandidatesFailed",
    "ApiKey",
    "ChatRequest",
    "ChatResult",
    "ConfigError",
    "DeadlineExceeded",
    "ErrorKind",
    "LlmrouteError",
    "Message",
    "ModelNotFound",
    "NoCandidateAvailable",
    "NoKeysError",
    "Privacy",
    "PrivacyRefused",
    "ProviderError",
    "RequestRejected",
    "RouteError",
    "Router",
    "Settings",
    "StateError",
    "Store",
    "StreamBroken",
    "TextDelta",
    "Usage",
    "__version__",
    "load_environment",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmroute' has no attribute {name!r}")
    return getattr(import_module(module), name)
