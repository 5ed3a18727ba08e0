"""What every provider adapter is: a translator and a classifier, nothing more.

An adapter turns a :class:`~llmroute.types.ChatRequest` aimed at one
:class:`~llmroute.types.Candidate` into the provider's HTTP request, and the
provider's bytes into :class:`~llmroute.types.TextDelta` events ending with one
:class:`~llmroute.types.StreamEnd`. Every failure leaves it as a classified
:class:`~llmroute.errors.ProviderError`. Adapters hold no policy and no state.
"""

from __future__ import annotations

import contextlib
import functools
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from llmroute.errors import ErrorKind, ProviderError
from llmroute.keys import ApiKey, KeySlot
from llmroute.providers.classify import transport_error
from llmroute.types import Candidate, ChatRequest, KeyInfo, ModelInfo, StreamEvent

if TYPE_CHECKING:
    import httpx

    from llmroute.providers.http import ClientPool

ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of an error body read at most: any provider's JSON error fits, and a proxy's 50 MB error
page costs neither the time nor the memory to read it whole."""
BODY_LIMIT = 16 * 1024 * 1024
"""Bytes of a non-stream answer read at most; a longer body is a bad response, not something to buffer."""
RELEASE_LIMIT = 64 * 1024
RELEASE_WAIT = 1.0
"""Bytes and seconds a finished stream's tail is read for, to keep its connection (see :func:`release`)."""
SECRET_HEADER_LENGTH = 16
"""Configured header values at least this long are treated as secrets (a gateway token) and redacted from
messages; shorter ones (``preview``, an organization id's words) are left legible."""


class ProviderAdapter(ABC):
    #: True only for providers whose traffic never leaves the user's machine.
    local: bool = False
    #: True for providers whose key report (``probe_key``) says limits routing must count by (a free-model cap).
    reports_key_limits: bool = False

    def __init__(self, name: str, base_url: str) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")

    @abstractmethod
    def chat(self, candidate: Candidate, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamEvent]:
        """Yield the answer as it arrives; raise ``ProviderError`` on any failure.

        With ``request.stream`` false the adapter makes a non-streaming call and
        yields the whole text as one delta. ``timeout`` bounds connecting and
        each read (a stall), in seconds.
        """

    @abstractmethod
    async def list_models(self, slot: KeySlot, *, timeout: float) -> list[ModelInfo]:
        """The provider's model catalogue as ``slot`` sees it; raise ``ProviderError`` on failure.

        The slot, not just its key: some providers need more than the secret to address the
        catalogue (Cloudflare's account id). A keyless slot (``slot.key is None``) asks anonymously.
        """

    @abstractmethod
    async def probe_key(self, slot: KeySlot, *, timeout: float) -> KeyInfo:
        """The cheapest call that proves the slot's key (not just the network); raise a classified ``ProviderError``.

        Returns what the key reports about itself, where the provider tells it.
        """


class HttpChatAdapter(ProviderAdapter):
    """An adapter that POSTs one JSON request and reads a stream or a whole body.

    Subclasses say where and what to send, and how to read the provider's
    answer and errors; the exchange itself (streaming, no buffering, transport
    errors classified) is the same for every such provider.
    """

    chat_path: str

    def __init__(
        self,
        name: str,
        base_url: str,
        clients: ClientPool,
        *,
        local: bool = False,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(name, base_url)
        self._clients = clients
        self.local = local
        #: Extra request headers the configuration gives (a custom endpoint's gateway token, a preview flag).
        self.extra_headers: dict[str, str] = dict(headers)
        self._header_secrets = tuple(v for v in self.extra_headers.values() if len(v) >= SECRET_HEADER_LENGTH)

    def secrets(self, key: ApiKey | None) -> tuple[str, ...]:
        """What to redact from anything the provider says back: the key, and configured header values."""
        return (key.secrets if key is not None else ()) + self._header_secrets

    def chat_url(self, candidate: Candidate) -> str:
        """Where the chat request goes; a provider whose URL depends on the key slot overrides it."""
        return f"{self.base_url}{self.chat_path}"

    def request_url(self, candidate: Candidate, request: ChatRequest) -> str:
        """Where this request goes; a provider whose URL depends on the request's mode (Gemini) overrides it."""
        return self.chat_url(candidate)

    async def chat(self, candidate: Candidate, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamEvent]:
        import httpx

        secrets = self.request_secrets(candidate)
        client = self._clients.client(self.base_url)
        try:
            outgoing = self.build_request(client, candidate, request, httpx.Timeout(timeout))
            response = await self._clients.send(self.base_url, outgoing)
            try:
                async for event in self._answer(response, candidate, request, secrets):
                    yield event
                await release(response)
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.name, secrets) from exc

    async def _answer(
        self, response: httpx.Response, candidate: Candidate, request: ChatRequest, secrets: tuple[str, ...]
    ) -> AsyncIterator[StreamEvent]:
        """The events of a response: an error raised, a stream read as it comes, or a whole body read."""
        if not response.is_success:
            body, _ = await read_limited(response, ERROR_BODY_LIMIT)
            raise self.http_error(response, body, secrets)
        if request.stream and self.is_stream(response):
            async for event in self.read_stream(response, candidate, secrets):
                yield event
            return
        body, cut = await read_limited(response, BODY_LIMIT)
        if cut:
            raise ProviderError(
                ErrorKind.BAD_RESPONSE,
                f"response body is larger than {BODY_LIMIT // 2**20} MiB",
                status=response.status_code,
                provider=self.name,
            )
        for event in self.read_body(response, body, candidate, secrets):
            yield event

    def build_request(
        self, client: httpx.AsyncClient, candidate: Candidate, request: ChatRequest, timeout: httpx.Timeout
    ) -> httpx.Request:
        """The HTTP request to send; a provider that signs the exact bytes (Bedrock) overrides it."""
        return client.build_request(
            "POST",
            parsed_url(self.request_url(candidate, request)),
            json=self.request_body(candidate, request),
            headers=self.request_headers(candidate, request),
            timeout=timeout,
        )

    def request_secrets(self, candidate: Candidate) -> tuple[str, ...]:
        """What to redact from this candidate's answers and errors."""
        return self.secrets(candidate.key)

    @abstractmethod
    def request_body(self, candidate: Candidate, request: ChatRequest) -> dict[str, Any]: ...

    @abstractmethod
    def request_headers(self, candidate: Candidate, request: ChatRequest) -> dict[str, str]: ...

    def is_stream(self, response: httpx.Response) -> bool:
        """Whether a streaming request was answered with a stream.

        A JSON body may hold an error; an HTML page (a proxy's, a captive portal's) is read as a
        body too, so that its failure quotes the page rather than a parser's complaint.
        """
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        return not (media_type in ("application/json", "text/html") or media_type.endswith("+json"))

    @abstractmethod
    def http_error(self, response: httpx.Response, body: bytes, secrets: tuple[str, ...]) -> ProviderError: ...

    @abstractmethod
    def read_stream(
        self, response: httpx.Response, candidate: Candidate, secrets: tuple[str, ...]
    ) -> AsyncIterator[StreamEvent]: ...

    @abstractmethod
    def read_body(
        self, response: httpx.Response, body: bytes, candidate: Candidate, secrets: tuple[str, ...]
    ) -> Iterable[StreamEvent]: ...


@functools.lru_cache(maxsize=256)
def parsed_url(url: str) -> httpx.URL:
    """An endpoint's URL parsed once: httpx parses a string URL on every request (a tenth of the gateway's
    CPU per request); a parsed ``httpx.URL`` is immutable, so one serves every request to that endpoint."""
    import httpx

    return httpx.URL(url)


_BODY = "llmroute.body"
"""Where a streamed response keeps the one iterator its reader and :func:`release` share."""


def body_text(response: httpx.Response) -> AsyncIterator[str]:
    """A streamed response's text, as the one iterator its reader reads and :func:`release` drains."""
    return _kept(response, response.aiter_text())


def body_bytes(response: httpx.Response) -> AsyncIterator[bytes]:
    """A streamed response's bytes, as the one iterator its reader reads and :func:`release` drains."""
    return _kept(response, response.aiter_bytes())


def _kept(response: httpx.Response, chunks: AsyncIterator[Any]) -> AsyncIterator[Any]:
    response.extensions[_BODY] = chunks
    return chunks


async def release(response: httpx.Response) -> None:
    """Read what is left of a stream its reader finished with (the terminator's last bytes, usually none), so that
    the connection goes back to the pool instead of being closed; a response that goes on past
    ``RELEASE_LIMIT`` bytes or ``RELEASE_WAIT`` seconds is closed instead.

    The reader stops at the stream's own end (``[DONE]``, ``done: true``, ``message_stop``), which
    comes before the end of the HTTP body: without this, every streamed answer costs a new connection
    (and a TLS handshake). The tail is read from the reader's own iterator (:func:`body_text`,
    :func:`body_bytes`), so the chain of httpx iterators under it ends normally and hands the connection back;
    a second iteration of ``response.stream`` raced the first one's finalizer, which closed the connection
    whenever the tail had to be waited for.
    """
    import asyncio

    import httpx

    chunks = response.extensions.get(_BODY)
    if response.is_closed or chunks is None:  # read to its end already: the connection is back in the pool
        return
    size = 0
    with contextlib.suppress(TimeoutError, httpx.HTTPError):
        async with asyncio.timeout(RELEASE_WAIT):
            async for chunk in chunks:
                size += len(chunk)
                if size > RELEASE_LIMIT:
                    return


async def read_limited(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The (decoded) body, read only up to ``limit`` bytes; True when the body went on past that."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False
