"""HTTP clients: one ``httpx.AsyncClient`` per base URL, built on first use.

Building a verifying SSL context costs 110-130 ms, so it is built only when an
``https`` URL is actually contacted, and then shared by every client. Clients
never follow redirects: they only ever talk to their configured base URL.
Proxy variables (``HTTPS_PROXY``, ``NO_PROXY``) are honoured as httpx does.

Two backends carry the bytes, behind the same httpx API: ``httpcore`` (httpx's own pool: the default, and the
CLI's, which makes one request per process) and ``aiohttp`` (:mod:`llmroute.providers.aiohttp_transport`: ~6x
the requests per second at 32 concurrent requests, for the gateway; aiohttp is imported only then).
"""

from __future__ import annotations

import ssl
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import http.cookiejar

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


def no_cookies() -> http.cookiejar.CookieJar:
    """A cookie jar that keeps nothing: llmroute never sends a provider's cookies back (a load balancer's
    affinity cookie would tie every key to one backend, and none of the APIs needs one), and parsing
    ``Set-Cookie`` on every answer cost ~15% of the gateway's CPU. (``http.cookiejar`` comes with httpx.)"""
    import http.cookiejar

    class NoCookies(http.cookiejar.CookieJar):
        def extract_cookies(self, response: Any, request: Any) -> None:
            return None

        def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
            return None

    return NoCookies()


BACKENDS = ("httpcore", "aiohttp")
"""What may carry the bytes under httpx (``ClientPool(backend=...)``, ``Router(http_backend=...)``)."""


class ClientPool:
    """Owns the HTTP clients of one router; close it to release every connection.

    ``backend`` says what carries the bytes under each ``httpx.AsyncClient``: httpx's own pool (``httpcore``)
    or :class:`~llmroute.providers.aiohttp_transport.AiohttpTransport` (``aiohttp``, one aiohttp session per
    client, opened on its first request).
    """

    def __init__(self, user_agent: str, *, backend: str = "httpcore") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown HTTP backend {backend!r}: expected one of {', '.join(BACKENDS)}")
        self._user_agent = user_agent
        self.backend = backend
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._transports: dict[str, httpx.AsyncBaseTransport] = {}

    def client(self, base_url: str) -> httpx.AsyncClient:
        client = self._clients.get(base_url)
        if client is None:
            import httpx

            if self.backend == "aiohttp":
                from llmroute.providers.aiohttp_transport import AiohttpTransport

                transport = self._transports[base_url] = AiohttpTransport(ssl_context=_shared_ssl_context)
                client = httpx.AsyncClient(
                    transport=transport,
                    follow_redirects=False,
                    headers={"User-Agent": self._user_agent},
                    cookies=no_cookies(),
                )
            else:
                verify: ssl.SSLContext | bool = _shared_ssl_context() if base_url.startswith("https://") else False
                client = httpx.AsyncClient(
                    verify=verify,
                    follow_redirects=False,
                    headers={"User-Agent": self._user_agent},
                    cookies=no_cookies(),
                )
            self._clients[base_url] = client
        return client

    async def send(self, base_url: str, request: httpx.Request) -> httpx.Response:
        """Send a request built by ``client(base_url).build_request`` and return the response, its body unread.

        With the aiohttp backend the request goes straight to the transport: it honours proxies itself, and the
        client's ``send`` adds nothing a chat request uses here (no auth, redirects, cookies or hooks) but about
        a third of the instructions of a whole gateway request's upstream exchange (measured with callgrind:
        1.20 M instructions per request through ``send``, 0.87 M straight to the transport).
        """
        client = self.client(base_url)
        transport = self._transports.get(base_url)
        if transport is None or client.event_hooks["request"] or client.event_hooks["response"]:
            return await client.send(request, stream=True)
        response = await transport.handle_async_request(request)
        response.request = request
        return response

    async def aclose(self) -> None:
        self._transports = {}
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()
