"""What the fake saw: one :class:`RecordedRequest` per HTTP request, in arrival order."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

OPENROUTER_CHAT_PATH = "/api/v1/chat/completions"
OLLAMA_CHAT_PATH = "/api/chat"
OLLAMA_OPENAI_CHAT_PATH = "/v1/chat/completions"
"""Ollama's OpenAI-compatible chat (ref §2.6/§3.3); also the Ollama Cloud key probe (ref §2.2)."""
CHAT_PATHS = frozenset({OPENROUTER_CHAT_PATH, OLLAMA_CHAT_PATH})
"""The native chat endpoints: what :attr:`RecordedRequest.is_chat` and ``FakeProvider.chat_requests`` count.
``/v1/chat/completions`` is not among them (``requests_to`` finds it)."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received.

    ``path`` excludes the query string (kept in ``query``); ``headers`` has lower-case names
    (repeated headers joined with ``", "``); ``bearer`` is the ``Authorization: Bearer`` secret or
    ``None``; ``body`` is the parsed JSON body or ``None``; ``time`` is ``time.time()`` on arrival
    (after the body was read).
    """

    method: str
    path: str
    headers: dict[str, str]
    bearer: str | None
    body: Any
    raw_body: bytes
    time: float
    query: str = ""

    @property
    def is_chat(self) -> bool:
        """A POST to a native chat endpoint (not Ollama's ``/v1/chat/completions``)."""
        return self.method == "POST" and self.path in CHAT_PATHS

    @property
    def wire(self) -> str | None:
        """``"openrouter"`` or ``"ollama"`` by path prefix (``/api/v1/``; ``/api/`` or ``/v1/``);
        ``None`` for ``GET /``."""
        if self.path.startswith("/api/v1/"):
            return "openrouter"
        if self.path.startswith(("/api/", "/v1/")):
            return "ollama"
        return None

    @property
    def stream(self) -> bool | None:
        """Whether a chat request (``/v1/chat/completions`` included) asked to stream, applying each
        API's default; ``None`` otherwise."""
        if self.method != "POST" or self.path not in (*CHAT_PATHS, OLLAMA_OPENAI_CHAT_PATH):
            return None
        if not isinstance(self.body, dict):
            return None
        value = self.body.get("stream")
        if self.path == OLLAMA_CHAT_PATH:
            return value is not False
        return value is True


def parse_bearer(authorization: str | None) -> str | None:
    """``"Bearer sk-..."`` -> ``"sk-..."`` (scheme case-insensitive); anything else -> ``None``."""
    if not authorization:
        return None
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return secret.strip() or None


def parse_json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def lower_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out
