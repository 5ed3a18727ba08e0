"""API keys: discovery by naming convention, fingerprints and masks.

The secret lives only in :attr:`ApiKey.secret`; it is kept out of ``repr`` and
every other form llmroute prints or stores. The state file knows a key by its
fingerprint alone.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger("llmroute")

#: Key prefixes that identify a vendor and carry no secret; shown in masks.
_PUBLIC_PREFIXES = ("sk-or-v1", "sk-ant", "sk-proj", "sk")
_SHORT_KEY = 16
#: Characters past the public prefix that identify a key cut short (32 bits of a hex key).
_HEAD = 8
#: What an HTTP header can carry: printable ASCII without spaces. Anything else is a copy-paste accident.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class ApiKey:
    provider: str
    label: str
    secret: str = field(repr=False)
    token: str = field(default="", repr=False)
    """A second secret sent with the key where a provider needs one (an AWS session token)."""

    @functools.cached_property
    def fingerprint(self) -> str:
        """Computed once per key: every attempt's gate, ledger row and hold address names it."""
        return fingerprint(self.secret)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret this key holds: what must be masked wherever text may carry it."""
        return (self.secret, self.token) if self.token else (self.secret,)

    def mask(self) -> str:
        return self._mask

    @functools.cached_property
    def _mask(self) -> str:
        return mask(self.secret)


@dataclass(frozen=True)
class KeySlot:
    """One way into a provider: one of its keys, or the endpoint of a keyless local daemon.

    The one home of key identity: what the state file, the ledger, limits and
    reports call a key. ``pool`` names the quota the key shares with others (an
    account, a project): by default each key is its own pool. ``endpoint`` is
    a short hash of the provider's base URL, so that state kept for one
    endpoint never holds a key sent to another.
    """

    provider: str
    key: ApiKey | None = None
    pool: str = ""
    """The pool id; empty means the key's own pool (:attr:`pool_id`)."""
    base_url: str = ""
    account: str = ""
    """The account a key is paired with, where the provider needs one beside the key (Cloudflare)."""

    @functools.cached_property
    def id(self) -> str:
        """How the state file and the ledger know the slot: the key's fingerprint, or ``provider:NAME``."""
        return self.key.fingerprint if self.key else f"provider:{self.provider}"

    @property
    def fingerprint(self) -> str | None:
        return self.key.fingerprint if self.key else None

    @property
    def label(self) -> str:
        return self.key.label if self.key else self.provider

    @property
    def pool_id(self) -> str:
        return self.pool or self.id

    @property
    def pool_name(self) -> str:
        """How to show the pool: its configured name, or the key's label for a key on its own."""
        return self.pool.removeprefix("pool:") if self.pool else self.label

    @functools.cached_property
    def endpoint(self) -> str:
        return endpoint_id(self.base_url)

    def mask(self) -> str:
        return self.key.mask() if self.key else "(no key)"


def endpoint_id(base_url: str) -> str:
    """A short stable hash of a base URL (which may carry an account id in its path)."""
    return hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:8] if base_url else ""


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
    (the first name wins). A value with a space, a control or a non-ASCII character
    inside (a smart quote, a zero-width space, a line break pasted along) cannot
    travel in a header: it is ignored with a warning that names the variable only.
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
        if not secret or secret in seen:
            continue
        if not _HEADER_SAFE.fullmatch(secret):
            log.warning(
                "%s is ignored: its value holds a space, a control or a non-ASCII character "
                "(often a copy-paste accident); set it again",
                name,
            )
            continue
        seen.add(secret)
        keys.append(ApiKey(provider=provider, label=name, secret=secret))
    return tuple(keys)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a secret in ``text`` with its mask, in any of its :func:`encoded_forms`,
    and the head of a secret that was cut short (a provider's message truncated in the middle of a key)."""
    for secret in secrets:
        if not secret:
            continue
        for form in encoded_forms(secret):
            if form in text:
                text = text.replace(form, mask(secret))
        if len(secret) >= _SHORT_KEY:
            text = _redact_heads(text, secret)
    return text


def _redact_heads(text: str, secret: str) -> str:
    """Mask each run of text that matches the secret from its start for its public prefix plus 8 characters."""
    prefix = next((p for p in _PUBLIC_PREFIXES if secret.startswith(p)), "")
    head = secret[: len(prefix) + _HEAD]
    replacement = mask(secret)
    start = text.find(head)
    while start != -1:
        end = start + len(head)
        while end < len(text) and end - start < len(secret) and text[end] == secret[end - start]:
            end += 1
        text = text[:start] + replacement + text[end:]
        start = text.find(head, start + len(replacement))
    return text


@functools.lru_cache(maxsize=256)
def encoded_forms(secret: str) -> tuple[str, ...]:
    """The secret as text may carry it: itself, URL-encoded, hex, and base64 (standard and URL-safe).

    Base64 of a longer value (``Bearer <key>``, ``user:key``) spells the key differently
    depending on where it falls in a 3-byte group, so each of the three alignments gives
    the run of characters that depends on the key's bytes alone. Encoded forms are kept
    only for keys long enough that they cannot match ordinary text by chance.
    """
    forms = [secret]
    if len(secret) >= _SHORT_KEY:
        raw = secret.encode("utf-8", "surrogatepass")
        forms += [urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret), raw.hex(), raw.hex().upper()]
        for offset in range(3):
            start, end = -(-8 * offset // 6), 8 * (offset + len(raw)) // 6
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                forms.append(encode(bytes(offset) + raw).decode()[start:end])
    return tuple(dict.fromkeys(forms))
