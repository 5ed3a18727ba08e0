"""Prometheus metrics: what ``llmroute metrics`` writes and what the gateway's ``GET /metrics`` serves.

Two sources, kept apart by name:

- **The ledger** (:class:`LedgerCollector`), read afresh at every scrape, so a fresh ``llmroute metrics`` process
  and a gateway that has run for weeks say the same thing, and counters never go down across restarts:

  ================================================ ========= ======================================================
  family                                           type      source and meaning
  ================================================ ========= ======================================================
  ``llmroute_calls_total{provider,key,model,       counter   ``usage_days``, all time: attempts settled ``ok``,
  outcome}``                                                 ``failed``, or ``other`` (cancelled, abandoned)
  ``llmroute_tokens_total{...,direction}``         counter   ``usage_days``: tokens ``in`` (prompt) and ``out``
  ``llmroute_cost_usd_total{...,source}``          counter   ``usage_days``: settled cost, ``reported`` by the
                                                             provider or ``estimated`` from prices (exact micro-
                                                             dollars, shown in dollars)
  ``llmroute_unpriced_calls_total{...}``           counter   ``usage_days``: answers whose cost nobody knows
  ``llmroute_calls_in_flight{...}``                gauge     ledger rows still ``pending`` (any process)
  ``llmroute_recent_errors{...,kind}``             gauge     raw ledger, last :data:`RECENT_WINDOW` seconds:
                                                             failed attempts per error kind
  ``llmroute_recent_requests``,                    gauge     raw ledger, same window: distinct requests and the
  ``llmroute_recent_failovers``                              attempts beyond each request's first
  ``llmroute_recent_attempt_latency_seconds``      gauge-    raw ledger, same window: latency of successful
  ``{provider,key,model}``                         histogram attempts
  ``llmroute_recent_attempt_ttft_seconds{...}``    gauge-    raw ledger, same window: time to first token of
                                                   histogram successful streamed attempts
  ``llmroute_recent_window_seconds``               gauge     the window of the ``recent`` families
  ``llmroute_key_state{provider,key,state}``       gauge     ``llmroute status``: 1 for the key's state, 0 for
                                                             the others (:data:`~llmroute.reports.status.STATES`)
  ``llmroute_key_state_until_timestamp_seconds``   gauge     when that state ends by itself (absent: it does not)
  ``llmroute_breaker_state{provider,state}``       gauge     1 for the breaker's state (closed, open, half_open)
  ``llmroute_breaker_consecutive_failures``        gauge     the breaker's failure streak
  ``llmroute_budget_{limit,used,reserved}_usd``    gauge     every configured budget this UTC day or month:
  ``{scope,name,period}``, ``..._used_ratio``                settled spend, in-flight reservations, used / limit
  ``llmroute_info{version}``                       gauge     always 1
  ================================================ ========= ======================================================

  The counters are per UTC day rows summed over all days, never pruned; the ``recent`` families read raw attempts,
  which are kept ``keep_days`` (at least a day), so the window is always whole. Errors by kind are a window gauge
  and not a counter because ``usage_days`` does not count kinds, and a count of raw rows would drop when old rows
  are pruned.

- **The gateway process** (:class:`LiveMetrics`, ``llmroute_gateway_*``), counted as requests are answered and
  reset when the process restarts (which Prometheus' ``rate()`` expects of a counter): requests by API and HTTP
  status, request duration and time to first token, each attempt's latency and time to first token per provider,
  key and model, errors by kind, failovers; and the ``process_*`` families of the gateway process.

Labels name keys by their variable name (``OPENROUTER_API_KEY_2``), never by secret or fingerprint.

``prometheus_client`` is imported here only: this module is imported by ``llmroute metrics`` and
``llmroute serve`` alone, never by ``chat``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from llmroute._version import __version__
from llmroute.config import Settings
from llmroute.reports.common import BudgetUse
from llmroute.reports.status import STATES, Status, build_status
from llmroute.store import Store
from llmroute.store.reports import Buckets
from llmroute.types import Attempt, Outcome

RECENT_WINDOW = 3600.0
"""Seconds of raw ledger the ``llmroute_recent_*`` families read (the same hour ``status`` takes its p50 over)."""

LATENCY_BUCKETS_MS = (100, 250, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 30_000, 60_000, 120_000)
"""Upper bounds (ms) of the latency histograms: an LLM answer takes from a tenth of a second to minutes."""
TTFT_BUCKETS_MS = (50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000, 30_000)
"""Upper bounds (ms) of the time-to-first-token histograms."""

BREAKER_STATES = ("closed", "open", "half_open")
SERIES_LABELS = ("provider", "key", "model")
BUDGET_LABELS = ("scope", "name", "period")


def _seconds(bounds_ms: Sequence[int]) -> tuple[float, ...]:
    return tuple(ms / 1000 for ms in bounds_ms)


class LedgerCollector(Collector):
    """The families read from the state file at each scrape (see the module's table)."""

    def __init__(self, settings: Settings, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        yield from _ledger_counters(self._store)
        yield from _recent(self._store, now)
        status = build_status(self._settings, self._store, now)
        yield from _states(status)
        yield from _budgets(status)
        info = GaugeMetricFamily("llmroute_info", "The llmroute version that wrote these metrics.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info


def _ledger_counters(store: Store) -> Iterator[Metric]:
    lifetime = store.lifetime_by_series()
    pending = store.pending_by_series()
    calls = CounterMetricFamily(
        "llmroute_calls",
        "Attempts settled, by outcome: ok, failed, or other (cancelled, abandoned by a process that died). "
        "From the ledger's daily totals, all time.",
        labels=[*SERIES_LABELS, "outcome"],
    )
    tokens = CounterMetricFamily(
        "llmroute_tokens",
        "Tokens of settled attempts: direction in (prompt) or out (completion). From the ledger, all time.",
        labels=[*SERIES_LABELS, "direction"],
    )
    cost = CounterMetricFamily(
        "llmroute_cost_usd",
        "Settled cost in US dollars: source reported (by the provider) or estimated (from prices). "
        "Summed exactly in micro-dollars. From the ledger, all time.",
        labels=[*SERIES_LABELS, "source"],
    )
    unpriced = CounterMetricFamily(
        "llmroute_unpriced_calls",
        "Successful attempts whose cost nobody knows (no reported cost, no price): counted as nothing in cost.",
        labels=list(SERIES_LABELS),
    )
    in_flight = GaugeMetricFamily(
        "llmroute_calls_in_flight",
        "Attempts admitted and not yet settled (pending in the ledger), by any process sharing the state file.",
        labels=list(SERIES_LABELS),
    )
    for row in lifetime:
        labels = list(row.series)
        t = row.totals
        other = max(0, t.calls - t.ok - t.failed - pending.get(row.series, 0))
        for outcome, value in (("ok", t.ok), ("failed", t.failed), ("other", other)):
            calls.add_metric([*labels, outcome], value)
        tokens.add_metric([*labels, "in"], t.tokens_in)
        tokens.add_metric([*labels, "out"], t.tokens_out)
        cost.add_metric([*labels, "reported"], t.reported_micros / 1_000_000)
        cost.add_metric([*labels, "estimated"], t.estimated_micros / 1_000_000)
        unpriced.add_metric(labels, t.unpriced)
    for series, count in sorted(pending.items()):
        in_flight.add_metric(list(series), count)
    yield from (calls, tokens, cost, unpriced, in_flight)


def _recent(store: Store, now: float) -> Iterator[Metric]:
    since = now - RECENT_WINDOW
    window = f"the last {RECENT_WINDOW:g} s (llmroute_recent_window_seconds) of the raw ledger"
    groups = store.window_by_series(since, LATENCY_BUCKETS_MS, TTFT_BUCKETS_MS)
    errors = GaugeMetricFamily(
        "llmroute_recent_errors",
        f"Failed attempts by error kind over {window}.",
        labels=[*SERIES_LABELS, "kind"],
    )
    latency = GaugeHistogramMetricFamily(
        "llmroute_recent_attempt_latency_seconds",
        f"Latency of successful attempts over {window}.",
        labels=list(SERIES_LABELS),
    )
    ttft = GaugeHistogramMetricFamily(
        "llmroute_recent_attempt_ttft_seconds",
        f"Time to first token of successful streamed attempts over {window}.",
        labels=list(SERIES_LABELS),
    )
    for group in groups:
        if group.outcome == "failed":
            errors.add_metric([*group.series, group.error_kind], group.attempts)
            continue
        _add_buckets(latency, group.series, LATENCY_BUCKETS_MS, group.latency_ms)
        if group.ttft_ms.count:
            _add_buckets(ttft, group.series, TTFT_BUCKETS_MS, group.ttft_ms)
    counts = store.requests_since(since)
    requests = GaugeMetricFamily("llmroute_recent_requests", f"Distinct requests over {window}.")
    requests.add_metric([], counts.requests)
    failovers = GaugeMetricFamily(
        "llmroute_recent_failovers", f"Attempts beyond each request's first (retries and failovers) over {window}."
    )
    failovers.add_metric([], counts.attempts - counts.requests)
    seconds = GaugeMetricFamily("llmroute_recent_window_seconds", "The window of the llmroute_recent_* families.")
    seconds.add_metric([], RECENT_WINDOW)
    yield from (errors, requests, failovers, latency, ttft, seconds)


def _add_buckets(
    family: GaugeHistogramMetricFamily, series: Sequence[str], bounds_ms: Sequence[int], found: Buckets
) -> None:
    buckets = [(floatToGoString(ms / 1000), n) for ms, n in zip(bounds_ms, found.within, strict=True)]
    family.add_metric(list(series), [*buckets, ("+Inf", found.count)], gsum_value=found.total / 1000)


def _states(status: Status) -> Iterator[Metric]:
    states = GaugeMetricFamily(
        "llmroute_key_state",
        "1 for the key's state as llmroute status shows it, 0 for the other states.",
        labels=["provider", "key", "state"],
    )
    until = GaugeMetricFamily(
        "llmroute_key_state_until_timestamp_seconds",
        "When the key's state ends by itself (a cooldown, a rate-limit window, a budget period), Unix time.",
        labels=["provider", "key"],
    )
    for key in status.keys:
        for state in STATES:
            states.add_metric([key.key.provider, key.key.label, state], int(key.state == state))
        if key.until is not None and math.isfinite(key.until):
            until.add_metric([key.key.provider, key.key.label], key.until)
    breaker = GaugeMetricFamily(
        "llmroute_breaker_state",
        "1 for the provider's circuit breaker state (closed, open, half_open), 0 for the others.",
        labels=["provider", "state"],
    )
    failures = GaugeMetricFamily(
        "llmroute_breaker_consecutive_failures",
        "Provider-side failures in a row counted by the circuit breaker.",
        labels=["provider"],
    )
    for provider in status.providers:
        for state in BREAKER_STATES:
            breaker.add_metric([provider.name, state], int(provider.breaker.state == state))
        failures.add_metric([provider.name], provider.breaker.consecutive_failures)
    yield from (states, until, breaker, failures)


def _budgets(status: Status) -> Iterator[Metric]:
    uses: list[BudgetUse] = [
        *status.budgets,
        *(b for p in status.providers for b in p.budgets),
        *(b for k in status.keys for b in k.budgets),
    ]
    period = "this UTC day or month (period)"
    families = {
        "limit": GaugeMetricFamily(
            "llmroute_budget_limit_usd", "A configured budget, US dollars.", labels=list(BUDGET_LABELS)
        ),
        "used": GaugeMetricFamily(
            "llmroute_budget_used_usd", f"Settled spend against the budget {period}.", labels=list(BUDGET_LABELS)
        ),
        "reserved": GaugeMetricFamily(
            "llmroute_budget_reserved_usd",
            "Worst-case cost held against the budget by attempts in flight.",
            labels=list(BUDGET_LABELS),
        ),
        "ratio": GaugeMetricFamily(
            "llmroute_budget_used_ratio", f"Settled spend / limit {period} (1 = used up).", labels=list(BUDGET_LABELS)
        ),
    }
    for use in uses:
        labels = [use.scope.kind, use.scope.label or use.scope.name or use.scope.kind, use.period]
        families["limit"].add_metric(labels, use.limit_micros / 1_000_000)
        families["used"].add_metric(labels, use.used_micros / 1_000_000)
        families["reserved"].add_metric(labels, use.reserved_micros / 1_000_000)
        families["ratio"].add_metric(labels, use.percent / 100)
    yield from families.values()


class LiveMetrics(Collector):
    """The gateway's own instruments (``llmroute_gateway_*``): a :class:`~llmroute.server.gateway.MetricsSink`.

    Kept in a private registry, never prometheus_client's global one, so that two gateways in one process (tests,
    a library user) never share or clash.
    """

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        series = list(SERIES_LABELS)
        self.requests = Counter(
            "llmroute_gateway_requests",
            "Requests answered by the gateway, by API (openai, ollama), HTTP status code and streaming.",
            ["api", "code", "stream"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "llmroute_gateway_request_duration_seconds",
            "Time from a request's arrival to its last byte, failovers included.",
            ["api", "stream"],
            buckets=_seconds(LATENCY_BUCKETS_MS),
            registry=self.registry,
        )
        self.ttft = Histogram(
            "llmroute_gateway_ttft_seconds",
            "Time from a streamed request's arrival to the first token sent to the client.",
            ["api"],
            buckets=_seconds(TTFT_BUCKETS_MS),
            registry=self.registry,
        )
        self.attempt_latency = Histogram(
            "llmroute_gateway_attempt_duration_seconds",
            "Latency of each successful attempt at a provider.",
            series,
            buckets=_seconds(LATENCY_BUCKETS_MS),
            registry=self.registry,
        )
        self.attempt_ttft = Histogram(
            "llmroute_gateway_attempt_ttft_seconds",
            "Time to first token of each successful streamed attempt at a provider.",
            series,
            buckets=_seconds(TTFT_BUCKETS_MS),
            registry=self.registry,
        )
        self.errors = Counter(
            "llmroute_gateway_attempt_errors",
            "Failed attempts made for the gateway's requests, by error kind.",
            [*series, "kind"],
            registry=self.registry,
        )
        self.failovers = Counter(
            "llmroute_gateway_failovers",
            "Attempts beyond a request's first (retries and failovers to the next key or provider).",
            ["api"],
            registry=self.registry,
        )
        if process:
            ProcessCollector(registry=self.registry)

    def observe(
        self,
        *,
        api: str,
        status: int,
        seconds: float,
        ttft_seconds: float | None,
        attempts: Sequence[Attempt],
        stream: bool,
    ) -> None:
        streamed = "true" if stream else "false"
        self.requests.labels(api, str(status), streamed).inc()
        self.duration.labels(api, streamed).observe(max(seconds, 0.0))
        if ttft_seconds is not None:
            self.ttft.labels(api).observe(max(ttft_seconds, 0.0))
        if len(attempts) > 1:
            self.failovers.labels(api).inc(len(attempts) - 1)
        for attempt in attempts:
            labels = (attempt.provider, attempt.key_label, attempt.model)
            if attempt.outcome == Outcome.OK:
                self.attempt_latency.labels(*labels).observe(max(attempt.latency_ms, 0.0) / 1000)
                if attempt.ttft_ms is not None:
                    self.attempt_ttft.labels(*labels).observe(max(attempt.ttft_ms, 0.0) / 1000)
            elif attempt.outcome == Outcome.FAILED:
                kind = attempt.error_kind.value if attempt.error_kind else "unknown"
                self.errors.labels(*labels, kind).inc()

    def collect(self) -> Iterator[Metric]:
        return self.registry.collect()


def registry(
    settings: Settings, store: Store, live: LiveMetrics | None = None, *, clock: Callable[[], float] = time.time
) -> CollectorRegistry:
    """A fresh private registry of the ledger's families, and the gateway's own when ``live`` is given."""
    found = CollectorRegistry(auto_describe=False)
    found.register(LedgerCollector(settings, store, clock=clock))
    if live is not None:
        found.register(live)
    return found


def exposition(
    settings: Settings,
    store: Store,
    live: LiveMetrics | None = None,
    *,
    accept: str | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[bytes, str]:
    """The metrics as a scrape returns them, and their content type: the Prometheus text format, or OpenMetrics
    when ``accept`` (a request's ``Accept`` header) asks for it, negotiated as prometheus_client does."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry(settings, store, live, clock=clock)), content_type
