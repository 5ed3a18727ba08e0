"""API keys: discovery by naming convention, fingerprints and masks.

The secret lives only in :attr:`ApiKey.secret`; it is kept out of ``repr`` and
every other form llmroute prints or stores. The state file knows a key by its
fingerprint alone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: Key prefixes that identify a vendor and carry no secret; shown in masks.
_PUBLIC_PREFIXES = ("sk-or-v1", "sk-ant", "sk-proj", "sk")
_SHORT_KEY = 16


@dataclass(frozen=True)
class ApiKey:
    provider: str
    label: str
    secret: str = field(repr=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.secret)

    def mask(self) -> str:
        return mask(self.secret)


def fingerprint(secret: str) -> str:
    """A short stable hash: enough to tell keys apart, useless to recover one."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def mask(secret: str) -> str:
    """``sk-or-v1…a3f9``: a public vendor prefix and the last four characters.

    Keys shorter than 16 characters are hidden entirely; keys without a known
    prefix show only their last four.
    """
    if len(secret) < _SHORT_KEY:
        return "…" * 3
    prefix = next((p for p in _PUBLIC_PREFIXES if secret.startswith(p)), "")
    return f"{prefix}…{secret[-4:]}"


def discover_keys(provider: str, variable: str, env: Mapping[str, str]) -> tuple[ApiKey, ...]:
    """Keys named ``VARIABLE``, ``VARIABLE_1``, ``VARIABLE_2``, … in that order.

    Empty values are ignored and a value that appears under two names is one key
    (the first name wins).
    """
    pattern = re.compile(rf"^{re.escape(variable)}(?:_(\d+))?$")
    found: list[tuple[int, str]] = []
    for name in env:
        match = pattern.match(name)
        if match:
            found.append((int(match.group(1)) if match.group(1) else -1, name))
    keys: list[ApiKey] = []
    seen: set[str] = set()
    for _, name in sorted(found):
        secret = env[name].strip()
        if secret and secret not in seen:
            seen.add(secret)
            keys.append(ApiKey(provider=provider, label=name, secret=secret))
    return tuple(keys)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a secret in ``text`` with its mask."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, mask(secret))
    return text
