"""An ``httpx`` transport over ``aiohttp``: httpx's API for the adapters, aiohttp's connection pool underneath.

Every adapter speaks httpx (``build_request``, ``send(stream=True)``, ``Response.aiter_bytes``, httpx's
exception types, which :func:`llmroute.providers.classify.transport_error` classifies). Under many concurrent
requests httpx's own pool (httpcore over anyio) spends most of its time in locks and task switches: at 32
concurrent requests on two cores it serves ~550 requests/s with a p99 of ~250 ms, httpx over this transport
~3,500 with a p99 of ~20 ms (``benchmarks/upstream_pool.py``). This transport keeps the first and swaps in the
second, for the gateway only: importing it (aiohttp) costs ~110 ms, so the one-request CLI never imports this
module (``ClientPool(backend="httpcore")``, the default).

What it keeps exactly as httpcore does it:

- **Bytes.** Response bodies pass through raw (``auto_decompress=False``): httpx decodes ``Content-Encoding``
  as it always did, so gzip answers, corrupt gzip and gzip bombs behave as before. Request headers go out as
  httpx built them (duplicates kept, nothing added: no ``User-Agent``, ``Accept`` or ``Content-Type`` of
  aiohttp's), the URL byte for byte (a SigV4 signature covers the path's escapes). No redirects, no cookies
  (httpx keeps the client's jar), no ``.netrc``.
- **The stream.** ``response.stream`` may be iterated again and goes on where the last iteration stopped
  (:func:`llmroute.providers.base.release` reads a finished stream's tail that way). Bytes that arrived before a
  failure are delivered before the failure. Closing it returns the connection to the pool when the body
  arrived whole, and closes the connection otherwise (the provider learns the caller walked away).
- **Timeouts** from the request's ``httpx.Timeout``: ``connect`` bounds each TCP (and TLS) connect, ``read``
  each wait for data (a stall), ``pool`` the wait for a free connection (aiohttp bounds that wait and the
  connect together: a ``PoolTimeout`` comes after ``pool + connect`` seconds). aiohttp has no write timeout:
  ``write`` is not enforced (request bodies are small JSON documents the socket buffer takes at once).
- **Failures** as the httpx exceptions httpcore raises for the same fault, with the same words where
  :func:`~llmroute.providers.classify.transport_error` quotes them: refused and unresolvable hosts are
  ``ConnectError`` with the OS's message (``[Errno 111] Connection refused``, ``[Errno -2] Name or service
  not known``) and the OS error in the chain; ``ConnectTimeout`` / ``PoolTimeout`` / ``ReadTimeout``; a server
  that closes before answering is ``RemoteProtocolError("Server disconnected without sending a response.")``,
  one that closes mid-body h11's ``peer closed connection without sending complete message body (...)``; a reset
  is ``ReadError`` (``WriteError`` while sending) with ``ConnectionResetError`` in the chain (and its words:
  httpcore's is empty). A ``ServerDisconnectedError`` is never a timeout.
- **Proxies** from the environment as httpx reads them (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
  ``NO_PROXY``, read when the transport is built), through an HTTP or HTTPS proxy. aiohttp speaks no SOCKS: a
  ``socks5://`` proxy fails each request with ``httpx.ProxyError``.

What differs from httpcore is the pool itself: ``limit`` connections per transport (httpx: 100), all of them kept
alive when idle for ``keepalive_expiry`` seconds (httpx: 5, at most 20 kept), DNS answers cached for 10 s
(httpcore asks per connection), HTTP/1.1 only (as llmroute's httpx clients today); a connection goes back to the
pool as soon as its body has arrived whole, even if its reader stopped early (a body whose gzip was corrupt is
reused here, closed by httpcore); a head that is not HTTP is a ``RemoteProtocolError`` in aiohttp's parser's words
rather than h11's.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

__all__ = ["AiohttpTransport"]

SERVER_DISCONNECTED = "Server disconnected without sending a response."
"""httpcore's words for a server that closed the connection before the response's head."""
PEER_CLOSED = "peer closed connection without sending complete message body"
"""h11's words for a body cut short by the server closing the connection."""

#: Headers aiohttp would add when the request lacks them; httpx already decided what to send.
_SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
#: Longest response header line and field accepted: h11 (httpcore) accepts a whole head up to 100 KiB.
_MAX_HEADER_SIZE = 100 * 1024
_NO_CEILING = float("inf")
"""aiohttp rounds timeouts above a threshold up to the next whole second; exact deadlines tell a pool
timeout from a connect timeout (see :meth:`AiohttpTransport._timeout_error`)."""


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One ``aiohttp.ClientSession`` behind an httpx client: ``httpx.AsyncClient(transport=AiohttpTransport())``.

    The session is opened on the first request, inside the running event loop, and bound to it.
    ``ssl_context`` builds the context that verifies ``https`` servers; it is called on the first ``https``
    request only (building one costs ~120 ms), and its result is kept. ``None``: aiohttp's default context.
    """

    def __init__(
        self,
        *,
        ssl_context: Callable[[], ssl.SSLContext] | None = None,
        limit: int = 100,
        keepalive_expiry: float = 5.0,
        trust_env: bool = True,
    ) -> None:
        self._ssl_factory = ssl_context
        self._ssl: ssl.SSLContext | bool | None = None
        self._limit = limit
        self._keepalive_expiry = keepalive_expiry
        self._proxies = _environment_proxies() if trust_env else []
        self._session: aiohttp.ClientSession | None = None
        #: Requests between their start and their response's close: at ``limit``, the next one waits for the pool.
        self._busy = 0
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    # ------------------------------------------------------------------ the exchange

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session if self._session is not None else self._open()
        timeouts = request.extensions.get("timeout") or {}
        url = request.url
        proxy = self._proxy_for(url) if self._proxies else None
        headers = CIMultiDict(_decode_headers(request.headers.raw))
        data: Any = None
        chunked: bool | None = None
        try:
            data = request.content or None
        except httpx.RequestNotRead:  # a streamed body, sent as it comes
            data = _body(request.stream)  # type: ignore[arg-type]
            if "chunked" in headers.get("Transfer-Encoding", "").lower():
                del headers["Transfer-Encoding"]  # aiohttp frames it itself when told to
                chunked = True
        tls = url.scheme == "https" or (proxy is not None and proxy.startswith("https:"))
        queued = self._busy >= self._limit
        started = asyncio.get_running_loop().time()
        self._busy += 1
        try:
            response = await session.request(
                request.method,
                URL(str(url), encoded=True),
                headers=headers,
                data=data,
                chunked=chunked,
                allow_redirects=False,
                compress=None,
                proxy=proxy,
                ssl=self._ssl_for_tls() if tls else False,
                timeout=self._client_timeout(timeouts),
            )
        except BaseException as exc:
            self._busy -= 1
            if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
                waited = queued and asyncio.get_running_loop().time() - started
                raise self._request_error(exc, request, timeouts, waited) from exc
            raise
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_ResponseStream(response, request, self._done),
            extensions={
                "http_version": f"HTTP/{response.version.major}.{response.version.minor}".encode("ascii"),
                "reason_phrase": (response.reason or "").encode("ascii", "replace"),
            },
        )

    def _done(self) -> None:
        self._busy -= 1

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            loop = session.connector._loop if session.connector is not None else None  # type: ignore[attr-defined]
            if loop is None or not loop.is_closed():
                await session.close()

    # ------------------------------------------------------------------ the pool

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            # The OS's resolver, as httpcore asks it (aiohttp would switch to c-ares if aiodns were installed).
            resolver=aiohttp.ThreadedResolver(),
            limit=self._limit,
            keepalive_timeout=self._keepalive_expiry,
            ssl=True,  # never used: every request names its own (see ``_ssl_for_tls``)
            timeout_ceil_threshold=_NO_CEILING,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # httpx decodes Content-Encoding, as it does over httpcore
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
            trust_env=False,  # proxies are chosen here as httpx would; aiohttp's would also read ~/.netrc
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            timeout=aiohttp.ClientTimeout(total=None),
            max_line_size=_MAX_HEADER_SIZE,
            max_field_size=_MAX_HEADER_SIZE,
        )
        return self._session

    def _ssl_for_tls(self) -> ssl.SSLContext | bool:
        if self._ssl is None:
            self._ssl = self._ssl_factory() if self._ssl_factory is not None else True
        return self._ssl

    def _client_timeout(self, timeouts: dict[str, float | None]) -> aiohttp.ClientTimeout:
        connect, read, pool = timeouts.get("connect"), timeouts.get("read"), timeouts.get("pool")
        key = (connect, read, pool)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=None,
                # aiohttp's ``connect`` bounds the wait for a free connection and the connect together.
                connect=None if connect is None or pool is None else pool + connect,
                sock_connect=connect,
                sock_read=read,
                ceil_threshold=_NO_CEILING,
            )
            if len(self._timeouts) < 64:
                self._timeouts[key] = timeout
        return timeout

    def _proxy_for(self, url: httpx.URL) -> str | None:
        for pattern, proxy in self._proxies:
            if pattern.matches(url):
                if proxy is not None and not proxy.lower().startswith(("http://", "https://")):
                    scheme = proxy.split(":", 1)[0]
                    raise httpx.ProxyError(f"{scheme} proxies are not supported by the aiohttp transport")
                return proxy
        return None

    # ------------------------------------------------------------------ failures before the response

    def _request_error(
        self, exc: BaseException, request: httpx.Request, timeouts: dict[str, float | None], waited: float | bool
    ) -> httpx.TransportError:
        """The httpx error for a failure before the response's head; ``waited``: seconds since the request
        started, if it started with every connection busy (else False)."""
        if isinstance(exc, TimeoutError):
            return self._timeout_error(exc, request, timeouts, waited)
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return httpx.ConnectError(str(exc.certificate_error), request=request)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return httpx.ConnectError(_os_message(exc.os_error), request=request)
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return httpx.RemoteProtocolError(SERVER_DISCONNECTED, request=request)
        if isinstance(exc, aiohttp.ClientHttpProxyError):  # the proxy refused the CONNECT
            return httpx.ProxyError(f"proxy answered {exc.status} {exc.message}".strip(), request=request)
        if isinstance(exc, aiohttp.ClientResponseError):  # a head that is not HTTP (its words, never the URL)
            return httpx.RemoteProtocolError(str(exc.message or type(exc).__name__), request=request)
        if isinstance(exc, ConnectionResetError):  # aiohttp's "Cannot write to closing transport"
            return httpx.WriteError(_os_message(exc) if exc.errno else str(exc), request=request)
        if isinstance(exc, OSError):  # ClientOSError: the socket failed while the head was awaited
            return httpx.ReadError(_os_message(exc), request=request)
        if isinstance(exc, aiohttp.InvalidURL):
            return httpx.UnsupportedProtocol(str(exc), request=request)
        return httpx.ReadError(_words(exc), request=request)

    @staticmethod
    def _timeout_error(
        exc: BaseException, request: httpx.Request, timeouts: dict[str, float | None], waited: float | bool
    ) -> httpx.TimeoutException:
        if isinstance(exc, aiohttp.SocketTimeoutError):  # no head within ``read``
            return httpx.ReadTimeout("", request=request)
        connect, pool = timeouts.get("connect"), timeouts.get("pool")
        # aiohttp says "connection timeout" for both. ``sock_connect`` fires ``connect`` seconds into a connect
        # that began before ``pool`` ran out; only the pool-and-connect bound fires later, and only when the
        # request queued for a free connection longer than ``pool``.
        if waited is not False and connect is not None and pool is not None and waited >= pool + connect:
            return httpx.PoolTimeout("", request=request)
        return httpx.ConnectTimeout("", request=request)


class _ResponseStream(httpx.AsyncByteStream):
    """The body of an aiohttp response, as raw bytes, for httpx to decode; iterable again from where it stopped."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request, on_close: Callable[[], None]) -> None:
        self._response = response
        self._request = request
        self._on_close = on_close
        self._received = 0
        self._closed = False
        length = response.headers.get("Content-Length", "")
        self._expected = int(length) if length.isdigit() else None
        self._chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        while True:
            if content.exception() is not None:
                # aiohttp raises a failure before bytes that arrived ahead of it; httpcore delivers them first.
                buffered = _take_buffered(content)
                if buffered:
                    self._received += len(buffered)
                    yield buffered
                    continue
            try:
                chunk = await content.readany()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                error, cause = self._read_error(exc)
                raise error from cause
            if not chunk:
                return
            self._received += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._on_close()
        content = self._response.content
        if content.is_eof() and content.exception() is None:
            self._response.release()  # whole: the connection goes back to the pool (aiohttp did it already)
        else:
            self._response.close()  # cut short: the connection is closed, never reused mid-body

    def _read_error(self, exc: BaseException) -> tuple[httpx.TransportError, BaseException]:
        """The httpx error for a failure while reading the body, and the cause to chain it to."""
        request = self._request
        if isinstance(exc, TimeoutError):  # aiohttp's SocketTimeoutError: a stall past ``read``
            return httpx.ReadTimeout("", request=request), exc
        reset = _reset_in(exc)
        if reset is not None:  # the OS's error in the chain, as httpcore leaves it
            if reset is exc or reset in _chain(exc):
                return httpx.ReadError(_os_message(reset), request=request), exc
            reset.__context__ = exc  # known only from aiohttp's words: made up, with aiohttp's error behind it
            return httpx.ReadError(_os_message(reset), request=request), reset
        if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
            if self._expected is not None:
                detail = f"received {self._received} bytes, expected {self._expected}"
            elif self._chunked:
                detail = "incomplete chunked read"
            else:
                return httpx.ReadError(_words(exc), request=request), exc
            return httpx.RemoteProtocolError(f"{PEER_CLOSED} ({detail})", request=request), exc
        if isinstance(exc, OSError) and exc.errno:
            return httpx.ReadError(_os_message(exc), request=request), exc
        return httpx.ReadError(_words(exc), request=request), exc


# ---------------------------------------------------------------------- helpers


def _environment_proxies() -> list[tuple[Any, str | None]]:
    """httpx's reading of the proxy variables, in httpx's order of precedence (most specific pattern first)."""
    from httpx._utils import URLPattern, get_environment_proxies

    patterns = [(URLPattern(key), proxy) for key, proxy in get_environment_proxies().items()]
    return sorted(patterns, key=lambda item: item[0])


def _decode_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """httpx's header bytes as the text aiohttp writes back (as UTF-8): ASCII in practice, UTF-8 if httpx chose it."""
    out = []
    for name, value in raw:
        try:
            out.append((name.decode("ascii"), value.decode("ascii")))
        except UnicodeDecodeError:
            out.append((name.decode("latin-1"), value.decode("utf-8", "replace")))
    return out


async def _body(stream: httpx.AsyncByteStream) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk


def _take_buffered(content: aiohttp.StreamReader) -> bytes:
    """What aiohttp received before a failure and still holds; b"" if nothing (or if aiohttp changed inside)."""
    if not getattr(content, "_buffer", None):
        return b""
    try:
        return bytes(content._read_nowait(-1))
    except Exception:
        return b""


def _os_message(error: OSError | None) -> str:
    """An OS error in the words the OS gives it: ``[Errno 111] Connection refused`` (asyncio says "Connect
    call failed ('127.0.0.1', 9)"), a resolver's ``[Errno -2] Name or service not known``, an SSL error's text."""
    if error is None:
        return ""
    if isinstance(error, socket.gaierror | ssl.SSLError) or not isinstance(error.errno, int) or error.errno <= 0:
        return str(error) or type(error).__name__
    try:
        return f"[Errno {error.errno}] {os.strerror(error.errno)}"
    except ValueError:
        return str(error)


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(found) < 16 and all(seen is not known for known in found):
        found.append(seen)
        seen = seen.__cause__ or seen.__context__
    return found


def _reset_in(exc: BaseException) -> OSError | None:
    """The connection reset behind ``exc``, if one is: from its chain, else made from aiohttp's words (a cut
    payload's message quotes the connection's error only as text)."""
    for seen in _chain(exc):
        if isinstance(seen, OSError) and seen.errno == errno.ECONNRESET:
            return seen
    for seen in _chain(exc):
        if isinstance(seen, ConnectionResetError) or "ConnectionResetError" in str(seen):
            return ConnectionResetError(errno.ECONNRESET, os.strerror(errno.ECONNRESET))
    return None


def _words(exc: BaseException) -> str:
    with contextlib.suppress(Exception):
        text = str(exc).strip()
        if text:
            return text
    return type(exc).__name__
