"""HTTP clients: one ``httpx.AsyncClient`` per base URL, built on first use.

Building a verifying SSL context costs 110-130 ms, so it is built only when an
``https`` URL is actually contacted, and then shared by every client. Clients
never follow redirects: they only ever talk to their configured base URL.
Proxy variables (``HTTPS_PROXY``, ``NO_PROXY``) are honoured as httpx does.
"""

from __future__ import annotations

import ssl
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

# httpx imports its own command-line client (httpx._main: rich, pygments, click)
# whenever those are installed, as they are here: ~70 ms of every run for code
# llmroute never calls. A None entry makes that optional import fail fast, and
# httpx falls back to its stub `main`. Nothing else in httpx is affected.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

_ssl_context: ssl.SSLContext | None = None


def _shared_ssl_context() -> ssl.SSLContext:
    global _ssl_context
    if _ssl_context is None:
        import os

        import certifi

        cafile = os.environ.get("SSL_CERT_FILE") or certifi.where()
        _ssl_context = ssl.create_default_context(cafile=cafile, capath=os.environ.get("SSL_CERT_DIR"))
    return _ssl_context


class ClientPool:
    """Owns the HTTP clients of one router; close it to release every connection."""

    def __init__(self, user_agent: str) -> None:
        self._user_agent = user_agent
        self._clients: dict[str, httpx.AsyncClient] = {}

    def client(self, base_url: str) -> httpx.AsyncClient:
        client = self._clients.get(base_url)
        if client is None:
            import httpx

            verify: ssl.SSLContext | bool = _shared_ssl_context() if base_url.startswith("https://") else False
            client = httpx.AsyncClient(
                verify=verify,
                follow_redirects=False,
                headers={"User-Agent": self._user_agent},
            )
            self._clients[base_url] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()
