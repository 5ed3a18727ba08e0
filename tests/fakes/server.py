"""The fake provider HTTP server: OpenRouter, Ollama, OpenAI, Azure OpenAI and Cloudflare on one loopback port.

Runs a stdlib ``ThreadingHTTPServer`` in a daemon thread of the test process.  Each connection
gets its own handler thread; responses are written by hand (not via ``send_response``) so that
byte budgets (``drop_connection``), pauses, stalls and chunked framing are exact.

Mount points: OpenRouter ``/api/v1``, Ollama ``/`` (``/api/...``, ``/v1/...``), OpenAI ``/openai/v1``
(:mod:`.openai_wire`), Azure OpenAI ``/azure`` (:mod:`.azure_wire`), Cloudflare ``/cloudflare/client/v4``
(:mod:`.cloudflare_wire`); each path under a mount point is the real service's path.
Gemini is mounted at ``/gemini`` (:mod:`.gemini_wire`); its "bearer" is the ``x-goog-api-key`` header (or ``?key=``).
Bedrock is mounted at ``/bedrock`` (:mod:`.bedrock_wire`): SigV4 verified, scripted by access key id (or API key).

Order of processing for a chat request (``POST /api/v1/chat/completions``, ``/api/chat``,
``/v1/chat/completions``, ``/openai/v1/chat/completions``, ``/azure/openai/v1/chat/completions`` and the
dated ``/azure/openai/deployments/{d}/chat/completions``, ``/cloudflare/client/v4/accounts/{id}/ai/v1/
chat/completions``): record -> provider auth -> pop the next scripted behaviour for the path and
bearer -> answer.  Every chat request that passes auth consumes one behaviour (requests
rejected by auth consume nothing).  ``error``, ``hang`` and the byte budget of
``drop_connection`` apply whatever the body says, so a scripted error is used up even by a
request the fake would reject itself.  A ``reply`` (also the default when the queue is empty)
needs a valid body: otherwise the provider's real validation error is sent (after the reply's
``delay``) and the reply is used up.

Any other request: record -> pop the next behaviour scripted for its path (``script(...,
path=...)``) -> answer.  There the behaviour comes *before* any auth check and replaces the whole
response: ``error(...)`` is sent as is, ``hang``/``drop_connection`` act on the normal answer,
and a ``reply`` means "answer normally" (after its ``delay``; its other fields are ignored).

Queues are looked up by (path, bearer).  The "bearer" is the secret the service authenticates with:
the ``Authorization: Bearer`` secret, but for Azure (``/azure/...``) the ``api-key`` header, and for
Cloudflare the API token (the account is in the path).  The ``None`` bearer queue serves requests
without a bearer, and also any request to an endpoint that ignores keys: the public catalogues
(``/api/v1/models``, Ollama's ``/api/tags``, ``/api/show``, ``/v1/models``, ``/``,
``/api/version``) and every Ollama endpoint when ``require_auth=False``.  ``script`` without a
``path`` fills the shared queue of the chat endpoints (all but Ollama's ``/v1/chat/completions``),
used after any queue scripted for the exact chat path.  ``script(..., model=...)`` fills a queue
only requests whose JSON body asks for that ``model`` take from (for Azure: the deployment name),
before the queues without a model ("403 for model A, 200 for model B on the same key").
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import socket
import struct
import sys
import threading
import time
import traceback
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import MappingProxyType, TracebackType
from typing import Any
from urllib.parse import urlsplit

from . import azure_wire, cloudflare_wire, ollama_wire, openai_wire, openrouter_wire
from . import anthropic_wire
from . import gemini_wire
from . import bedrock_wire
from .behaviours import Behaviour, DropConnection, ErrorResponse, Hang, Reply, compact_json
from .catalog import (
    ROUTER_IDS,
    PriceOverride,
    is_openrouter_id,
    ollama_openai_models,
    ollama_show,
    ollama_tags,
    openrouter_key,
    openrouter_models,
)
from .errors import (
    OLLAMA_JSON,
    oll_401,
    oll_404,
    ollama_error,
    ollama_openai_error,
    openrouter_error,
    or_400_input_required,
    or_400_invalid_model,
    or_401,
    or_401_no_auth,
)
from .openai_wire import OpenAIService
from .plan import (
    ChatContext,
    Cut,
    Pause,
    Plan,
    Repeat,
    Stall,
    Step,
    Wire,
    count_prompt_words,
    is_free_model,
    resolve_answer,
)
from .records import (
    OLLAMA_CHAT_PATH,
    OLLAMA_OPENAI_CHAT_PATH,
    OPENROUTER_CHAT_PATH,
    RecordedRequest,
    lower_headers,
    parse_json_body,
    request_secret,
)

DEFAULT_TEXT = "Hello from the fake provider."
DEFAULT_COST = 0.000042
DEFAULT_MODELS = frozenset({"openai/gpt-4o-mini", "meta-llama/llama-3.3-70b-instruct:free", "gpt-oss:120b"})
DEFAULT_DEPLOYMENTS: Mapping[str, str] = MappingProxyType({"my-gpt4o-mini": "gpt-4o-mini"})
"""Azure deployment name -> the model it runs."""
DEFAULT_CLOUDFLARE_MODELS = frozenset({"@cf/meta/llama-3.1-8b-instruct"})
SERVICES: tuple[OpenAIService, ...] = (openai_wire.SERVICE, azure_wire.SERVICE, cloudflare_wire.SERVICE)
"""The OpenAI-shaped APIs, each under its mount point."""
SHAPES: dict[Wire, openai_wire.Shape] = {
    "openai": openai_wire.OLLAMA,
    **{service.wire: service.shape for service in SERVICES},
}
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
OLLAMA_VERSION = "0.12.0"
OLLAMA_AUTH_PATHS = frozenset(
    {
        OLLAMA_CHAT_PATH,
        OLLAMA_OPENAI_CHAT_PATH,
        "/api/generate",
        "/api/embed",
        "/api/usage",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/messages",
    }
)
"""Ollama Cloud endpoints that need a key; every other Ollama path is public (ref §2.2)."""

QueueKey = tuple[str | None, str | None] | tuple[str | None, str | None, str]
"""(path, bearer), or (path, bearer, model) for one model's queue; path ``None`` = the shared queue of the
native chat endpoints."""


def _queue_key(path: str | None, bearer: str | None, model: str | None) -> QueueKey:
    return (path, bearer) if model is None else (path, bearer, model)


def normalise_path(path: str) -> str:
    """``"/api/v1/key?x=1"`` -> ``"/api/v1/key"``; anything not starting with ``/`` is a mistake."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"path must be an absolute request path like '/api/v1/key', not {path!r}")
    return urlsplit(path).path


class _Abort(Exception):
    """Stop answering and close the connection (``reset`` = with a TCP RST)."""

    def __init__(self, reset: bool = False) -> None:
        super().__init__()
        self.reset = reset


class FakeProvider:
    """A fake OpenRouter + Ollama (cloud or local) + OpenAI + Azure OpenAI + Cloudflare server on ``127.0.0.1``.

    ``keys`` maps valid secrets to a name (a plain iterable of secrets also works): OpenRouter, Ollama,
    OpenAI (bearer) and Azure (``api-key``) accept any of them.
    ``models`` are served on both wire formats (chat accepts any served id); the catalogues list
    ``author/slug`` ids on OpenRouter (``/api/v1/models``) and ids without ``/`` on Ollama
    (``/api/tags``, ``/v1/models``).  ``require_auth`` applies to the Ollama endpoints (``False`` =
    a local daemon); OpenRouter endpoints always require a key, like the real service.

    ``key_info`` overrides fields of a key's ``GET /api/v1/key`` document (see
    :func:`~.catalog.openrouter_key`).  ``prices`` overrides catalogue prices per id
    (``{"openai/gpt-4o-mini": ("0.00000015", "0.0000006")}`` or a mapping of pricing fields);
    ``expiring`` sets ``expiration_date`` per id (``{"vendor/model:free": "2026-12-01"}``).  Both
    accept only ids the catalogue lists.

    ``openai_models``: ids OpenAI serves (chat and ``/models``); ``None`` = every ``openai/<id>`` of
    ``models`` without its prefix (so the default ``openai/gpt-4o-mini`` gives ``gpt-4o-mini``).
    ``deployments``: Azure deployment name -> model (default ``{"my-gpt4o-mini": "gpt-4o-mini"}``); Azure's
    ``/models`` lists ``openai_models`` and the deployments' models.  ``cloudflare_accounts``: Cloudflare
    API token -> its account id (32 lower-case hex characters; default none, so Cloudflare refuses every
    token); ``cloudflare_models``: ``@cf/``/``@hf/`` ids served to every account (default
    ``{"@cf/meta/llama-3.1-8b-instruct"}``).  The three report no cost: :meth:`usage_of` stays 0 for them.
    ``gemini_models``: ids the Gemini API serves (default ``gemini_wire.DEFAULT_GEMINI_MODELS``); it reports no cost.
    ``aws_credentials`` (access key id -> secret), ``aws_session_tokens``, ``bedrock_api_keys``, ``bedrock_models``,
    ``bedrock_profiles`` and ``bedrock_region``: the fake Bedrock (:class:`.bedrock_wire.BedrockOptions`).
    """

    def __init__(
        self,
        keys: Mapping[str, str] | Iterable[str] | None = None,
        models: Iterable[str] | None = None,
        require_auth: bool = True,
        default_text: str = DEFAULT_TEXT,
        tokens_per_chunk: int = 1,
        *,
        default_cost: float = DEFAULT_COST,
        provider_name: str = "Fake",
        context_length: int = 131_072,
        key_info: Mapping[str, Mapping[str, Any]] | None = None,
        prices: Mapping[str, PriceOverride] | None = None,
        expiring: Mapping[str, str] | None = None,
        openai_models: Iterable[str] | None = None,
        deployments: Mapping[str, str] | None = None,
        cloudflare_accounts: Mapping[str, str] | None = None,
        cloudflare_models: Iterable[str] | None = None,
        anthropic_models: Iterable[str] | None = None,
        gemini_models: Iterable[str] | None = None,
        aws_credentials: Mapping[str, str] | None = None,
        aws_session_tokens: Mapping[str, str] | None = None,
        bedrock_api_keys: Iterable[str] | None = None,
        bedrock_models: Iterable[str] | None = None,
        bedrock_profiles: Mapping[str, str] | None = None,
        bedrock_region: str = "us-east-1",
    ) -> None:
        if keys is None:
            self.keys: dict[str, str] = {}
        elif isinstance(keys, Mapping):
            self.keys = dict(keys)
        else:
            self.keys = {k: k for k in keys}
        self.models: frozenset[str] = frozenset(DEFAULT_MODELS if models is None else models)
        self.require_auth = require_auth
        self.default_text = default_text
        self.tokens_per_chunk = max(1, tokens_per_chunk)
        self.default_cost = default_cost
        self.provider_name = provider_name
        self.context_length = context_length
        self.key_info: dict[str, Mapping[str, Any]] = dict(key_info or {})
        listed = {m for m in self.models if is_openrouter_id(m)} | set(ROUTER_IDS)
        for option, ids in (("prices", prices), ("expiring", expiring)):
            unknown = sorted(set(ids or {}) - listed)
            if unknown:
                raise ValueError(f"{option}: {unknown} not in the OpenRouter catalogue (served ids with '/')")
        self.prices: dict[str, PriceOverride] = dict(prices or {})
        self.expiring: dict[str, str] = dict(expiring or {})
        openrouter_models(self.models, self.context_length, prices=self.prices)  # bad prices fail here
        if openai_models is None:
            openai_models = (m.removeprefix("openai/") for m in self.models if m.startswith("openai/"))
        self.openai_models: frozenset[str] = frozenset(openai_models)
        self.deployments: dict[str, str] = dict(DEFAULT_DEPLOYMENTS if deployments is None else deployments)
        self.cloudflare_accounts: dict[str, str] = dict(cloudflare_accounts or {})
        bad = sorted(a for a in self.cloudflare_accounts.values() if not cloudflare_wire.ACCOUNT_ID.fullmatch(a))
        if bad:
            raise ValueError(f"cloudflare_accounts: account ids must be 32 lower-case hex characters, not {bad}")
        self.cloudflare_models: frozenset[str] = frozenset(
            DEFAULT_CLOUDFLARE_MODELS if cloudflare_models is None else cloudflare_models
        )
        bad = sorted(m for m in self.cloudflare_models if not m.startswith(("@cf/", "@hf/")))
        if bad:
            raise ValueError(f"cloudflare_models: ids start with '@cf/' or '@hf/', not {bad}")
        self.anthropic_models: frozenset[str] = frozenset(
            anthropic_wire.DEFAULT_ANTHROPIC_MODELS if anthropic_models is None else anthropic_models
        )
        """Ids the Anthropic API serves (``/anthropic/v1/messages`` and ``/v1/models``): :mod:`.anthropic_wire`."""
        self.gemini_models: frozenset[str] = frozenset(
            gemini_wire.DEFAULT_GEMINI_MODELS if gemini_models is None else gemini_models
        )
        """Ids the Gemini API serves (``/gemini/v1beta/models/{id}:generateContent``, ``/models``): :mod:`.gemini_wire`."""
        self.bedrock = bedrock_wire.BedrockOptions.build(
            aws_credentials, aws_session_tokens, bedrock_api_keys, bedrock_models, bedrock_profiles, bedrock_region
        )
        """Bedrock's credentials (access key id -> secret, session tokens, API keys), models and region:
        :mod:`.bedrock_wire`."""
        self.errors: list[BaseException] = []
        """Unexpected exceptions inside the fake itself (a bug in the double, not the client)."""

        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._queues: dict[QueueKey, deque[Behaviour]] = {}
        self._usage: dict[str, float] = {}
        self._generation = 0
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        #: TCP connections accepted so far (a client that reuses its connections opens few).
        self.connections_opened = 0
        self._handler_threads: set[threading.Thread] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeProvider:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.provider = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-provider", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop quickly: wake sleepers (stalls, hangs, delays), close every connection, join threads."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
            threads = list(self._handler_threads)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        deadline = time.monotonic() + 2
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ URLs

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeProvider is not running (use it as a context manager or call start())")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openrouter_url(self) -> str:
        return f"{self.base_url}/api/v1"

    @property
    def ollama_url(self) -> str:
        return self.base_url

    @property
    def openai_url(self) -> str:
        """OpenAI's base URL (``OPENAI_BASE_URL``): ``.../openai/v1``."""
        return f"{self.base_url}/openai/v1"

    @property
    def azure_endpoint(self) -> str:
        """The Azure resource endpoint (``AZURE_OPENAI_ENDPOINT``): ``.../azure``; the v1 API is under
        ``/openai/v1``, the dated one under ``/openai/deployments``."""
        return f"{self.base_url}/azure"

    @property
    def cloudflare_url(self) -> str:
        """Cloudflare's API base (``CLOUDFLARE_BASE_URL``): ``.../cloudflare/client/v4``."""
        return f"{self.base_url}/cloudflare/client/v4"

    @property
    def anthropic_url(self) -> str:
        """Anthropic's base URL (``ANTHROPIC_BASE_URL``): ``.../anthropic`` (so ``POST .../anthropic/v1/messages``)."""
        return f"{self.base_url}{anthropic_wire.PREFIX}"

    @property
    def gemini_url(self) -> str:
        """Gemini's base URL (``GEMINI_BASE_URL``): ``.../gemini/v1beta``; the SDK's ``base_url`` is ``.../gemini``."""
        return f"{self.base_url}{gemini_wire.PREFIX}/v1beta"

    @property
    def bedrock_url(self) -> str:
        """Bedrock's runtime endpoint (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``): ``.../bedrock``; the control plane's
        ``/foundation-models`` and ``/inference-profiles`` answer under it too."""
        return f"{self.base_url}{bedrock_wire.PREFIX}"

    # ------------------------------------------------------------------ scripting and records

    def script(
        self, secret: str | None, *behaviours: Behaviour, path: str | None = None, model: str | None = None
    ) -> None:
        """Append behaviours to the queue of ``path`` for requests made with ``secret``.

        ``path=None`` (default): the chat requests of every chat endpoint but Ollama's ``/v1/chat/completions``
        (OpenRouter, Ollama's ``/api/chat``, OpenAI, Azure, Cloudflare).  Any
        other ``path`` (query ignored), e.g. ``"/api/v1/key"``, ``"/v1/chat/completions"``,
        ``"/api/tags"``: requests to exactly that path.  ``secret=None`` = requests without a
        bearer, and on endpoints that ignore keys (public catalogues; Ollama with
        ``require_auth=False``) any request whose bearer has no queue.  ``model``: only requests
        whose JSON body asks for exactly that ``model`` take these behaviours (before any queue
        without a model), e.g. ``script(key, oll_403_subscription(), model="kimi-k2.6")`` refuses
        that model while the same key's other models answer.  See the module docstring for when a
        behaviour is taken.
        """
        key = _queue_key(None if path is None else normalise_path(path), secret, model)
        for behaviour in behaviours:
            if not isinstance(behaviour, (Reply, ErrorResponse, Hang, DropConnection)):
                raise TypeError(f"not a behaviour: {behaviour!r}")
        with self._lock:
            self._queues.setdefault(key, deque()).extend(behaviours)

    def remaining(self, secret: str | None, path: str | None = None, model: str | None = None) -> int:
        """How many behaviours scripted for ``secret`` (on ``path``, for ``model``, as in :meth:`script`) are unused."""
        key = _queue_key(None if path is None else normalise_path(path), secret, model)
        with self._lock:
            return len(self._queues.get(key, ()))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, secret: str | None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.bearer == secret]

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Requests to ``path`` (compared without the query string), any method, in arrival order."""
        wanted = normalise_path(path)
        return [r for r in self.requests if r.path == wanted]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """POSTs to the chat endpoints (not Ollama's ``/v1/chat/completions``: see ``requests_to``)."""
        return [r for r in self.requests if r.is_chat]

    @property
    def keys_in_urls(self) -> list[RecordedRequest]:
        """Requests whose URL carried a key: a ``key=`` query parameter (Gemini accepts it; it leaks into logs)
        or any of :attr:`keys` in the path or query."""
        return [r for r in self.requests if gemini_wire.key_in_url(r, self.keys)]

    def usage_of(self, secret: str) -> float:
        """USD billed so far to ``secret`` by successful OpenRouter answers (what ``/key`` reports); the other
        services report no cost, so their keys stay at 0."""
        with self._lock:
            return self._usage.get(secret, 0.0)

    # ------------------------------------------------------------------ used by the handler

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_behaviour(self, keys: Iterable[QueueKey]) -> Behaviour | None:
        """Pop from the first non-empty queue of ``keys``."""
        with self._lock:
            for key in keys:
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
            return None

    def _add_usage(self, secret: str, cost: float) -> None:
        with self._lock:
            self._usage[secret] = self._usage.get(secret, 0.0) + cost

    def _next_generation(self) -> int:
        with self._lock:
            self._generation += 1
            return self._generation

    def _chatcmpl_id(self) -> str:
        """Ollama ``/v1``: ``chatcmpl-<n>`` with ``n < 999`` (not unique, like the real one)."""
        return f"chatcmpl-{self._next_generation() % 999}"

    def _generation_id(self, created: int) -> str:
        """``gen-<epoch>-<20 chars>``, unique per request and deterministic per port."""
        return f"gen-{created}-{self._random_token(20)}"

    def _random_token(self, length: int, *, hex: bool = False) -> str:
        """``length`` base-62 (or hex) characters, unique per call and deterministic per port."""
        n = self._next_generation()
        number = int.from_bytes(hashlib.sha256(f"{self.port}-{n}".encode()).digest(), "big")
        alphabet = "0123456789abcdef" if hex else _BASE62
        token = ""
        for _ in range(length):
            number, digit = divmod(number, len(alphabet))
            token += alphabet[digit]
        return token

    def _random_uuid(self) -> str:
        h = self._random_token(32, hex=True)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _server_error(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(exc)
        # A bug in the double must be loud; client disconnects never get here.
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)

    def _track(self, conn: socket.socket, thread: threading.Thread, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
                self.connections_opened += 1
                self._handler_threads.add(thread)
            else:
                self._connections.discard(conn)
                self._handler_threads.discard(thread)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 makes a 6th simultaneous connection wait for a TCP retry (1-3 s).
    request_queue_size = 128
    provider: FakeProvider

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); skip it.
        TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if exc is None or isinstance(exc, (ConnectionError, TimeoutError)):
            return
        if isinstance(exc, OSError) and self.provider._stopping.is_set():
            return
        self.provider._server_error(exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    # ------------------------------------------------------------------ plumbing

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.provider = self.server.provider
        self.provider._track(self.connection, threading.current_thread(), add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.provider._track(self.connection, threading.current_thread(), add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        self._budget: int | None = None
        self._reset = False
        self._head_sent = False
        try:
            raw = self._read_body()
            target = urlsplit(self.path)
            headers = lower_headers(self.headers.items())
            record = RecordedRequest(
                method=self.command,
                path=target.path,
                headers=headers,
                bearer=request_secret(target.path, headers),
                body=parse_json_body(raw),
                raw_body=raw,
                time=time.time(),
                query=target.query,
            )
            if anthropic_wire.owns(target.path):  # Anthropic authenticates with ``x-api-key``, not a bearer
                record = dataclasses.replace(record, bearer=anthropic_wire.api_key(headers))
            record = gemini_wire.with_secret(record)  # Gemini: ``x-goog-api-key``, else ``?key=``
            self.provider._record(record)
            self._route(record)
        except _Abort as abort:
            self._abort(abort.reset)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except OSError:
            if not self.provider._stopping.is_set():
                raise
            self.close_connection = True
        except Exception as exc:  # a bug in the fake: answer 500 if we still can, and report it
            self.provider._server_error(exc)
            self.close_connection = True
            if not self._head_sent:
                with contextlib.suppress(OSError, _Abort):
                    self._execute(Plan(500, (("Content-Type", "text/plain"),), (f"fake server bug: {exc!r}".encode(),)))

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _abort(self, reset: bool) -> None:
        self.close_connection = True
        try:
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()  # RST once the handler's file objects are closed too
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ------------------------------------------------------------------ writing

    def _write(self, data: bytes) -> None:
        if self._budget is not None:
            if len(data) >= self._budget:
                if self._budget:
                    self.wfile.write(data[: self._budget])
                raise _Abort(self._reset)
            self._budget -= len(data)
        self.wfile.write(data)

    def _step(self, step: Step) -> None:
        if isinstance(step, Pause):
            if step.seconds > 0 and self.provider._stopping.wait(step.seconds):
                raise _Abort()
        elif isinstance(step, Stall):
            self.provider._stopping.wait(step.seconds)
            raise _Abort()
        elif isinstance(step, Cut):
            raise _Abort(self._reset)
        else:
            raise TypeError(f"unexpected step {step!r}")

    def _execute(self, plan: Plan) -> None:
        for step in plan.preamble:
            self._step(step)
        if plan.status is None:
            raise _Abort(self._reset)
        try:
            phrase = HTTPStatus(plan.status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {plan.status} {phrase}", f"Date: {self.date_time_string()}"]
        lines += [f"{name}: {value}" for name, value in plan.headers]
        body = plan.body
        if plan.gzip:
            lines.append("Content-Encoding: gzip")
            # A Content-Length body is compressed up front (small even when huge: it is repetitive);
            # a chunked one step by step below, so that a stream stays a stream.
            body = body if plan.chunked else (b"".join(_gzip_steps(body)),)
        if plan.chunked:
            lines.append("Transfer-Encoding: chunked")
        else:
            length = sum(len(s) for s in body if isinstance(s, bytes | Repeat))
            lines.append(f"Content-Length: {length}")
        if self.close_connection:
            lines.append("Connection: close")
        self._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self._head_sent = True
        if self.command != "HEAD":
            compressor = zlib.compressobj(wbits=31) if plan.gzip and plan.chunked else None
            for step in body:
                self._body_step(step, plan.chunked, compressor)
            if compressor is not None:
                self._body_bytes(compressor.flush(), chunked=True)
            if plan.chunked:
                self._write(b"0\r\n\r\n")
        if self._budget is not None:  # drop_connection: whatever remains, the connection goes away
            raise _Abort(self._reset)

    def _body_step(self, step: Step, chunked: bool, compressor: Any) -> None:
        if isinstance(step, Repeat):
            for _ in range(step.times):
                for inner in step.steps:
                    self._body_step(inner, chunked, compressor)
        elif isinstance(step, bytes):
            data = step if compressor is None else compressor.compress(step) + compressor.flush(zlib.Z_SYNC_FLUSH)
            self._body_bytes(data, chunked)
        else:
            self._step(step)

    def _body_bytes(self, data: bytes, chunked: bool) -> None:
        if not chunked:
            self._write(data)
        elif data:
            self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _send(self, status: int, body: bytes, content_type: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        self._execute(Plan(status, (("Content-Type", content_type), *headers), (body,)))

    def _send_json(self, status: int, obj: Any, content_type: str = "application/json") -> None:
        self._send(status, compact_json(obj), content_type)

    def _send_error(self, response: ErrorResponse) -> None:
        overridden = any(name.lower() == "content-type" for name, _ in response.headers)
        headers = response.headers if overridden else (("Content-Type", response.content_type), *response.headers)
        preamble: tuple[Step, ...] = (Pause(response.delay),) if response.delay > 0 else ()
        body: Step = response.body if response.repeat == 1 else Repeat((response.body,), response.repeat)
        self._execute(Plan(response.status, tuple(headers), (body,), preamble=preamble, gzip=response.gzip))

    # ------------------------------------------------------------------ routing

    def _route(self, req: RecordedRequest) -> None:
        method, path = req.method, req.path
        if anthropic_wire.owns(path):
            self._anthropic(req)
            return
        if gemini_wire.is_gemini(path):
            gemini_wire.SERVICE.handle(self, req)
            return
        if path.startswith(bedrock_wire.PREFIX + "/"):
            bedrock_wire.handle(self, req)
            return
        service = next((s for s in SERVICES if path.startswith(s.prefix + "/")), None)
        if service is not None:
            self._compat(req, service)
        elif method == "POST" and path == OPENROUTER_CHAT_PATH:
            self._openrouter_chat(req)
        elif method == "POST" and path == OLLAMA_CHAT_PATH:
            self._ollama_chat(req)
        elif method == "POST" and path == OLLAMA_OPENAI_CHAT_PATH:
            self._openai_chat(req)
        else:
            reply = self._take_behaviour(req, shared=False, keys_ignored=self._keys_ignored(req))
            if reply is None:
                return
            if reply.delay > 0:
                self._step(Pause(reply.delay))
            self._route_other(req)

    def _keys_ignored(self, req: RecordedRequest) -> bool:
        """Whether the endpoint answers the same whatever the bearer (so ``None`` queues apply to all)."""
        path = req.path
        if path.startswith("/api/v1/"):
            return path == "/api/v1/models" or path.startswith("/api/v1/models/")
        return not self.provider.require_auth or path not in OLLAMA_AUTH_PATHS

    def _route_other(self, req: RecordedRequest) -> None:
        method, path = req.method, req.path
        provider = self.provider
        if path == "/" and method in ("GET", "HEAD"):
            self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
        elif path.startswith("/api/v1/"):
            self._route_openrouter(req)
        elif path == "/api/tags" and method in ("GET", "HEAD"):
            self._send_json(200, ollama_tags(provider.models, cloud=provider.require_auth), OLLAMA_JSON)
        elif path == "/api/show" and method == "POST":
            self._ollama_show(req)
        elif path == "/api/version" and method in ("GET", "HEAD"):
            self._send_json(200, {"version": OLLAMA_VERSION}, OLLAMA_JSON)
        elif path == "/v1/models" and method == "GET":
            self._send(200, compact_json(ollama_openai_models(provider.models)) + b"\n", "application/json")
        else:
            self._send(404, b"404 page not found", "text/plain")

    def _route_openrouter(self, req: RecordedRequest) -> None:
        method, path = req.method, req.path
        provider = self.provider
        if path == OPENROUTER_CHAT_PATH:  # only non-POST methods get here
            self._send_error(openrouter_error(405, "Method Not Allowed", user_id=None))
        elif path == "/api/v1/models" and method in ("GET", "HEAD"):
            doc = openrouter_models(
                provider.models, provider.context_length, prices=provider.prices, expiring=provider.expiring
            )
            self._send_json(200, doc)
        elif path in ("/api/v1/key", "/api/v1/auth/key") and method == "GET":
            if self._openrouter_auth(req):
                assert req.bearer is not None
                doc = openrouter_key(req.bearer, provider.usage_of(req.bearer), provider.key_info.get(req.bearer))
                self._send_json(200, doc)
        elif path == "/api/v1/credits" and method == "GET":
            if self._openrouter_auth(req):
                total_usage = sum(provider.usage_of(k) for k in provider.keys)
                self._send_json(200, {"data": {"total_credits": 100.0, "total_usage": total_usage}})
        else:
            self._send_error(openrouter_error(404, "Not Found", user_id=None))

    # ------------------------------------------------------------------ OpenRouter

    def _openrouter_auth(self, req: RecordedRequest) -> bool:
        if req.bearer is None:
            self._send_error(or_401_no_auth())
            return False
        if req.bearer not in self.provider.keys:
            self._send_error(or_401())
            return False
        return True

    def _openrouter_model(self, body: dict[str, Any]) -> tuple[str | None, ErrorResponse | None]:
        """Resolve ``model`` / ``models``; routers pick a served model, unknown ids are a 400."""
        served = self.provider.models
        ids: list[str] = []
        if isinstance(body.get("model"), str) and body["model"]:
            ids.append(body["model"])
        if isinstance(body.get("models"), list):
            ids += [m for m in body["models"] if isinstance(m, str)]
        if not ids:
            return None, openrouter_error(400, "No models provided")
        concrete = sorted(m for m in served if m not in ROUTER_IDS)
        resolved: list[str] = []
        for model_id in ids:
            if model_id in served:
                resolved.append(model_id)
            elif model_id == "openrouter/auto" and concrete:
                resolved.append(next((m for m in concrete if not is_free_model(m)), concrete[0]))
            elif model_id == "openrouter/free" and any(is_free_model(m) for m in concrete):
                resolved.append(next(m for m in concrete if is_free_model(m)))
            else:
                return None, or_400_invalid_model(model_id)
        return resolved[0], None

    def _openrouter_chat(self, req: RecordedRequest) -> None:
        if not self._openrouter_auth(req):
            return
        assert req.bearer is not None
        reply = self._take_behaviour(req, shared=True, keys_ignored=False)
        if reply is None:
            return
        body = req.body
        if req.raw_body.strip() and not isinstance(body, dict):
            self._reject(reply, openrouter_error(400, "Invalid JSON in request body"))
            return
        body = body if isinstance(body, dict) else {}
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._reject(reply, or_400_input_required())
            return
        model, problem = self._openrouter_model(body)
        if problem is not None or model is None:
            self._reject(reply, problem or or_400_input_required())
            return
        ctx = self._context("openrouter", body.get("stream") is True, model, openai_wire.max_tokens(body), messages)
        self._answer(reply, ctx, req.bearer)

    # ------------------------------------------------------------------ Ollama

    def _ollama_authorised(self, req: RecordedRequest) -> bool:
        provider = self.provider
        if provider.require_auth and (req.bearer is None or req.bearer not in provider.keys):
            self._send_error(oll_401())
            return False
        return True

    def _ollama_chat(self, req: RecordedRequest) -> None:
        provider = self.provider
        if not self._ollama_authorised(req):
            return
        reply = self._take_behaviour(req, shared=True, keys_ignored=not provider.require_auth)
        if reply is None:
            return
        if not req.raw_body.strip():
            self._reject(reply, ollama_error(400, "missing request body"))
            return
        body = req.body
        if not isinstance(body, dict):
            self._reject(reply, ollama_error(400, "invalid character looking for beginning of value"))
            return
        model = body.get("model")
        if not isinstance(model, str) or not model:
            self._reject(reply, ollama_error(400, "model is required"))
            return
        if model not in provider.models:
            self._reject(reply, oll_404(model))
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            # Ollama treats a chat without messages as "load the model" (done_reason "load").
            self._send_json(200, ollama_wire.load_object(model), OLLAMA_JSON)
            return
        options = body.get("options")
        num_predict = options.get("num_predict") if isinstance(options, dict) else None
        max_tokens = num_predict if isinstance(num_predict, int) and not isinstance(num_predict, bool) else None
        if max_tokens is not None and max_tokens < 0:  # -1 = unlimited, -2 = fill context
            max_tokens = None
        ctx = self._context("ollama", body.get("stream") is not False, model, max_tokens, messages)
        self._answer(reply, ctx, None)

    def _openai_chat(self, req: RecordedRequest) -> None:
        """``POST /v1/chat/completions``: the key is checked before the body (ref §2.2), so an
        empty body answers 401 for a bad key and 400 for a good one."""
        provider = self.provider
        if not self._ollama_authorised(req):
            return
        reply = self._take_behaviour(req, shared=False, keys_ignored=not provider.require_auth)
        if reply is None:
            return
        raw = req.raw_body.strip()
        body = req.body if raw != b"null" else {}
        if not raw:
            self._reject(reply, ollama_openai_error(400, "EOF"))
            return
        if body is None:
            self._reject(reply, ollama_openai_error(400, "invalid character looking for beginning of value"))
            return
        if not isinstance(body, dict):
            kind = {list: "array", str: "string", bool: "bool"}.get(type(body), "number")
            message = f"json: cannot unmarshal {kind} into Go value of type openai.ChatCompletionRequest"
            self._reject(reply, ollama_openai_error(400, message))
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._reject(reply, ollama_openai_error(400, "[] is too short - 'messages'"))
            return
        model = body.get("model")
        if not isinstance(model, str) or not model:
            self._reject(reply, ollama_openai_error(400, "model is required", wrapped=True))
            return
        if model not in provider.models:
            self._reject(reply, ollama_openai_error(404, f"model '{model}' not found", wrapped=True))
            return
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        ctx = self._context("openai", body.get("stream") is True, model, openai_wire.max_tokens(body), messages)
        self._answer(reply, dataclasses.replace(ctx, include_usage=include_usage), None)

    def _ollama_show(self, req: RecordedRequest) -> None:
        body = req.body if isinstance(req.body, dict) else {}
        model = body.get("model") or body.get("name")
        if not isinstance(model, str) or not model:
            self._send_error(ollama_error(400, "model is required"))
        elif model not in self.provider.models:
            self._send_error(oll_404(model))
        else:
            self._send_json(200, ollama_show(model, self.provider.context_length), OLLAMA_JSON)

    # ------------------------------------------------------------------ OpenAI, Azure, Cloudflare

    def _compat(self, req: RecordedRequest, service: OpenAIService) -> None:
        """A request to one of the OpenAI-shaped APIs: the service decides, the handler does the I/O."""
        provider = self.provider
        endpoint = service.endpoint(req)
        if endpoint != "chat":
            reply = self._take_behaviour(req, shared=False, keys_ignored=False)
            if reply is None:
                return
            if reply.delay > 0:
                self._step(Pause(reply.delay))
            self._send_error(service.respond(endpoint, req, provider))
            return
        problem = service.authorise(req, provider)
        if problem is not None:
            self._send_error(problem)
            return
        reply = self._take_behaviour(req, shared=True, keys_ignored=False)
        if reply is None:
            return
        ask = service.check_chat(req, provider)
        if isinstance(ask, ErrorResponse):
            self._reject(reply, ask)
            return
        ctx = self._context(service.wire, ask.stream, ask.model, ask.max_tokens, ask.messages)
        ctx = dataclasses.replace(
            ctx,
            generation_id=service.chat_id(provider, ctx.created),
            extra_headers=service.answer_headers(provider),
            include_usage=ask.include_usage,
        )
        self._answer(reply, ctx, None)

    # ------------------------------------------------------------------ Anthropic

    def _anthropic(self, req: RecordedRequest) -> None:
        """A request to the Anthropic API (:mod:`.anthropic_wire`): the service decides, the handler does the I/O."""
        service, provider = anthropic_wire.SERVICE, self.provider
        endpoint = service.endpoint(req)
        if endpoint != "messages":
            reply = self._take_behaviour(req, shared=False, keys_ignored=False)
            if reply is None:
                return
            if reply.delay > 0:
                self._step(Pause(reply.delay))
            self._send_error(service.respond(endpoint, req, provider))
            return
        problem = service.authorise(req, provider)
        if problem is not None:
            self._send_error(problem)
            return
        reply = self._take_behaviour(req, shared=True, keys_ignored=False)
        if reply is None:
            return
        ask = service.check_messages(req, provider)
        if isinstance(ask, ErrorResponse):
            self._reject(reply, ask)
            return
        self._execute(service.render(reply, ask, provider))

    # ------------------------------------------------------------------ answering

    def _context(self, wire: Wire, stream: bool, model: str, max_tokens: int | None, messages: Any) -> ChatContext:
        provider = self.provider
        created = int(time.time())
        return ChatContext(
            wire=wire,
            stream=stream,
            model=model,
            max_tokens=max_tokens,
            prompt_tokens=count_prompt_words(messages),
            default_text=provider.default_text,
            tokens_per_chunk=provider.tokens_per_chunk,
            default_cost=provider.default_cost,
            provider_name=provider.provider_name,
            generation_id=provider._chatcmpl_id() if wire == "openai" else provider._generation_id(created),
            created=created,
        )

    def _take_behaviour(self, req: RecordedRequest, shared: bool, keys_ignored: bool) -> Reply | None:
        """Pop the next behaviour and carry out the parts that don't depend on the request body.

        Queues tried, first non-empty wins: (path, bearer), then (path, None) if ``keys_ignored``;
        with ``shared`` (native chat endpoints) then the shared chat queues in the same order.
        When the body names a ``model``, that model's queues are tried first, in the same order.
        Returns the :class:`Reply` still to render once the request is validated, or ``None`` when
        the behaviour has already been answered (a scripted error response).
        """
        paths: list[str | None] = [req.path, None] if shared else [req.path]
        body_model = req.body.get("model") if isinstance(req.body, dict) else None
        models: list[str | None] = [body_model, None] if isinstance(body_model, str) and body_model else [None]
        keys: list[QueueKey] = []
        for model in models:
            for path in paths:
                keys.append(_queue_key(path, req.bearer, model))
                if keys_ignored and req.bearer is not None:
                    keys.append(_queue_key(path, None, model))
        behaviour = self.provider._next_behaviour(keys)
        if behaviour is None:
            return Reply()
        if isinstance(behaviour, ErrorResponse):
            self._send_error(behaviour)
            return None
        if isinstance(behaviour, Hang):
            self.provider._stopping.wait(behaviour.seconds)
            raise _Abort()
        if isinstance(behaviour, DropConnection):
            self._budget = max(0, behaviour.after_bytes)
            self._reset = behaviour.reset
            return behaviour.reply
        return behaviour

    def _reject(self, reply: Reply, response: ErrorResponse) -> None:
        """Send the provider's own validation error, after the scripted reply's ``delay``."""
        if reply.delay > response.delay:
            response = dataclasses.replace(response, delay=reply.delay)
        self._send_error(response)

    def _answer(self, behaviour: Reply, ctx: ChatContext, billed_key: str | None) -> None:
        if ctx.wire == "openrouter":
            plan = openrouter_wire.render(behaviour, ctx)
            failing = (
                behaviour.error_only
                or behaviour.error_after_tokens is not None
                or behaviour.stall_after_tokens is not None
                or behaviour.drop_after_tokens is not None
                or self._budget is not None
            )
            if billed_key is not None and not failing:
                self.provider._add_usage(billed_key, resolve_answer(behaviour, ctx).cost)
        elif ctx.wire in SHAPES:
            plan = openai_wire.render(behaviour, ctx, SHAPES[ctx.wire])
        else:
            plan = ollama_wire.render(behaviour, ctx)
        if behaviour.headers and plan.status is not None:
            replaced = {name.lower() for name, _ in behaviour.headers}
            kept = tuple((name, value) for name, value in plan.headers if name.lower() not in replaced)
            plan = dataclasses.replace(plan, headers=kept + behaviour.headers)
        self._execute(plan)


def _gzip_steps(steps: Iterable[Step]) -> Iterable[bytes]:
    """The gzip stream of the bytes in ``steps`` (pauses are dropped: the body is sent at once)."""
    compressor = zlib.compressobj(wbits=31)
    for step in steps:
        if isinstance(step, Repeat):
            for _ in range(step.times):
                for inner in step.steps:
                    if isinstance(inner, bytes):
                        yield compressor.compress(inner)
        elif isinstance(step, bytes):
            yield compressor.compress(step)
    yield compressor.flush()
