"""What the fake saw: one :class:`RecordedRequest` per HTTP request, in arrival order."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

OPENROUTER_CHAT_PATH = "/api/v1/chat/completions"
OLLAMA_CHAT_PATH = "/api/chat"
OLLAMA_OPENAI_CHAT_PATH = "/v1/chat/completions"
"""Ollama's OpenAI-compatible chat (ref §2.6/§3.3); also the Ollama Cloud key probe (ref §2.2)."""
CHAT_PATHS = frozenset({OPENROUTER_CHAT_PATH, OLLAMA_CHAT_PATH})
"""The native chat endpoints of OpenRouter and Ollama (``/v1/chat/completions`` is not among them)."""

OPENAI_PREFIX = "/openai/v1"
AZURE_PREFIX = "/azure"
CLOUDFLARE_PREFIX = "/cloudflare/client/v4"
"""Where the OpenAI, Azure OpenAI and Cloudflare APIs are mounted (each path below is the real one after it)."""
OPENAI_CHAT_PATH = f"{OPENAI_PREFIX}/chat/completions"
_NATIVE_CHAT = re.compile(
    r"^(?:/anthropic/v1/messages|/gemini/v1beta/models/[^/]+:(?:generateContent|streamGenerateContent)"
    r"|/bedrock/model/[^/]+/(?:converse|converse-stream))$"
)
"""The chat endpoints of the native-wire fakes (Anthropic Messages, Gemini, Bedrock Converse)."""
AZURE_CHAT_PATH = f"{AZURE_PREFIX}/openai/v1/chat/completions"
_COMPAT_CHAT = re.compile(
    rf"^(?:{re.escape(OPENAI_CHAT_PATH)}|{re.escape(AZURE_CHAT_PATH)}"
    rf"|{AZURE_PREFIX}/openai/deployments/[^/]+/chat/completions"
    rf"|{CLOUDFLARE_PREFIX}/accounts/[^/]+/ai/v1/chat/completions)$"
)


def is_compat_chat_path(path: str) -> bool:
    """The chat endpoints of OpenAI, Azure (v1 and dated) and Cloudflare (``/accounts/{id}/ai/v1``)."""
    return _COMPAT_CHAT.match(path) is not None


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received.

    ``path`` excludes the query string (kept in ``query``); ``headers`` has lower-case names
    (repeated headers joined with ``", "``); ``bearer`` is the secret the service authenticates with:
    the ``Authorization: Bearer`` secret, except under ``/azure/`` where it is the ``api-key`` header
    (a bearer sent to Azure is ignored, as the fake's Azure refuses it); ``None`` without one;
    ``body`` is the parsed JSON body or ``None``; ``time`` is ``time.time()`` on arrival
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
        """A POST to a chat endpoint: OpenRouter's, Ollama's native one, OpenAI's, Azure's, Cloudflare's,
        Anthropic's, Gemini's or Bedrock's (not Ollama's ``/v1/chat/completions``, which is also its key probe)."""
        return self.method == "POST" and (
            self.path in CHAT_PATHS or is_compat_chat_path(self.path) or bool(_NATIVE_CHAT.match(self.path))
        )

    @property
    def wire(self) -> str | None:
        """By path prefix: ``"openai"``, ``"azure"``, ``"cloudflare"`` (their mount points), ``"openrouter"``
        (``/api/v1/``) or ``"ollama"`` (``/api/`` or ``/v1/``); ``None`` for ``GET /``."""
        mounts = (
            ("openai", OPENAI_PREFIX),
            ("azure", AZURE_PREFIX),
            ("cloudflare", CLOUDFLARE_PREFIX),
            ("anthropic", "/anthropic"),
            ("gemini", "/gemini"),
            ("bedrock", "/bedrock"),
        )
        for wire, prefix in mounts:
            if self.path.startswith(prefix + "/"):
                return wire
        if self.path.startswith("/api/v1/"):
            return "openrouter"
        if self.path.startswith(("/api/", "/v1/")):
            return "ollama"
        return None

    @property
    def stream(self) -> bool | None:
        """Whether a chat request (``/v1/chat/completions`` included) asked to stream, applying each
        API's default; ``None`` otherwise."""
        if self.method != "POST" or not (self.is_chat or self.path == OLLAMA_OPENAI_CHAT_PATH):
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


def request_secret(path: str, headers: dict[str, str]) -> str | None:
    """What :attr:`RecordedRequest.bearer` holds: Azure's ``api-key`` header under ``/azure/``, else the bearer."""
    if path.startswith(AZURE_PREFIX + "/"):
        return headers.get("api-key", "").strip() or None
    return parse_bearer(headers.get("authorization"))


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
