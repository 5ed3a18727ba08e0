"""The gateway's health and metrics endpoints, beside the API fronts.

- ``GET /health``: liveness. ``200 {"status": "ok"}`` whenever the process answers; reads nothing, needs no
  token (a load balancer or container runtime probes it).
- ``GET /health/providers``: readiness, per provider: its circuit breaker and its keys' states with reasons and
  until-times (labels and masks only), as ``llmroute status`` judges them
  (:mod:`llmroute.reports.health`). ``200`` while at least one provider is available, ``503`` when none is.
- ``GET /metrics``: the Prometheus exposition (:mod:`llmroute.reports.metrics`): the ledger's families, which
  ``llmroute metrics`` writes too, and the gateway's own ``llmroute_gateway_*`` instruments. The format is
  negotiated from ``Accept`` as prometheus_client does (the text format, or OpenMetrics when asked).

Both read the state file on a connection of their own in a worker thread, one scrape at a time, so a scrape never
holds up the event loop that streams answers (a scrape reads the last hour of raw attempts: about 0.1 s per
15,000 attempts in that hour).

With a gateway token set, ``/health/providers`` and ``/metrics`` need it as ``Authorization: Bearer <token>``
like every API route (Prometheus sends it with ``authorization:`` in its scrape config); ``/health`` never does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web

from llmroute.errors import LlmrouteError
from llmroute.reports import health as health_report
from llmroute.reports import metrics as metrics_report
from llmroute.server.gateway import Gateway
from llmroute.store import Store

T = TypeVar("T")

NO_STORE = {"Cache-Control": "no-store"}


def add_routes(app: web.Application, gateway: Gateway) -> None:
    """Add ``GET /health``, ``GET /health/providers`` and ``GET /metrics`` (each also answers ``HEAD``)."""
    one_at_a_time = asyncio.Lock()

    async def read(work: Callable[[Store], T]) -> T:
        """``work`` on a connection of its own, in a worker thread."""

        def run() -> T:
            store = Store.open(gateway.settings.state_path)
            try:
                return work(store)
            finally:
                store.close()

        async with one_at_a_time:
            return await asyncio.to_thread(run)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, headers=NO_STORE)

    async def providers(request: web.Request) -> web.Response:
        refused = _refusal(gateway, request)
        if refused is not None:
            return refused
        try:
            report = await read(lambda store: health_report.build_health(gateway.settings, store, time.time()))
        except LlmrouteError as exc:
            return _unavailable(exc)
        status = 503 if report.status == health_report.UNAVAILABLE else 200
        return web.json_response(health_report.document(report), status=status, headers=NO_STORE)

    async def metrics(request: web.Request) -> web.Response:
        refused = _refusal(gateway, request)
        if refused is not None:
            return refused
        live = gateway.metrics if callable(getattr(gateway.metrics, "collect", None)) else None
        try:
            accept = request.headers.get("Accept")
            body, content_type = await read(
                lambda store: metrics_report.exposition(
                    gateway.settings,
                    store,
                    live,  # type: ignore[arg-type]
                    accept=accept,
                )
            )
        except LlmrouteError as exc:
            return _unavailable(exc)
        return web.Response(body=body, headers={"Content-Type": content_type, **NO_STORE})

    app.router.add_get("/health", health)
    app.router.add_get("/health/providers", providers)
    app.router.add_get("/metrics", metrics)


def _refusal(gateway: Gateway, request: web.Request) -> web.Response | None:
    if gateway.authorised(request.headers.get("Authorization")):
        return None
    return web.json_response(
        {
            "error": {
                "message": "a gateway token is required: send Authorization: Bearer <token>",
                "type": "authentication_error",
                "code": "unauthorized",
            }
        },
        status=401,
        headers={"WWW-Authenticate": "Bearer", **NO_STORE},
    )


def _unavailable(exc: LlmrouteError) -> web.Response:
    """The state file cannot be read (damaged, locked past the busy timeout, gone): say so, as a 503."""
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return web.json_response(
        {"status": health_report.UNAVAILABLE, "error": {"message": text, "code": "unavailable"}},
        status=503,
        headers=NO_STORE,
    )
