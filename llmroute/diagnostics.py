"""Key diagnostics behind ``llmroute test-keys``: prove every key, concurrently.

A check proves the key, not just the network: each adapter's ``probe_key`` makes
the cheapest *authenticated* call its provider documents. Verdicts are recorded
in the state file and feed the same cooldown/disable state the router reads.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from llmroute import aliases, health
from llmroute.config import Settings
from llmroute.errors import ErrorKind, NoKeysError, ProviderError
from llmroute.gatekeeper import Admitted, Gatekeeper, Skip
from llmroute.keys import KeySlot, redact
from llmroute.planner import deployed
from llmroute.providers import ClientPool, ProviderAdapter, build_adapter
from llmroute.store import AttemptRow, CheckRow, Store
from llmroute.types import Attempt, Candidate, ChatRequest, KeyInfo, Outcome, StreamEnd, Target, TextDelta, Usage

if TYPE_CHECKING:
    import httpx

#: The core's logger, as the router's: ``-v`` shows its INFO lines, one per probe here.
log = logging.getLogger("llmroute")

INFERENCE_PROMPT = "Reply with the single word OK."
INFERENCE_MAX_TOKENS = 16
"""Small, but not below the minimum of 16 some OpenRouter upstreams enforce."""

#: The model a key's tiny real prompt goes to when neither a required model nor the default reaches it.
INFERENCE_FALLBACK = {
    "openrouter": "openrouter/free",
    "ollama": "gpt-oss:20b",
    "openai": "gpt-4o-mini",
    "cloudflare": "@cf/meta/llama-3.1-8b-instruct",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash-lite",
    "bedrock": "amazon.nova-micro-v1:0",
}


class Verdict(StrEnum):
    OK = "ok"
    INVALID = "invalid key"
    RATE_LIMITED = "rate limited"
    OUT_OF_CREDIT = "out of credit"
    UNREACHABLE = "unreachable"
    TIMED_OUT = "timed out"
    ERROR = "error"


@dataclass(frozen=True)
class InferenceCheck:
    model: str
    ok: bool
    ttft_ms: float | None = None
    total_ms: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class KeyReport:
    provider: str
    label: str
    mask: str
    verdict: Verdict
    latency_ms: float | None = None
    """Median over the probes that answered."""
    retry_at: float | None = None
    message: str | None = None
    info: KeyInfo | None = None
    models: int | None = None
    """How many catalogue models the key reaches (None when the catalogue is unknown)."""
    inference: InferenceCheck | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK and (self.inference is None or self.inference.ok)


@dataclass(frozen=True)
class ModelReach:
    """Whether a required model is reachable, and through which working keys."""

    spec: str
    targets: tuple[str, ...]
    via: tuple[str, ...]
    retired: bool = False
    successor: str | None = None
    unverified: bool = False
    """True when no catalogue could be read, so reachability assumes the model exists."""

    @property
    def reachable(self) -> bool:
        return bool(self.via) and not self.retired


@dataclass(frozen=True)
class Diagnosis:
    keys: tuple[KeyReport, ...]
    models: tuple[ModelReach, ...]
    catalog_errors: dict[str, str]

    def passed(self, min_ok: int | None = None) -> bool:
        working = sum(report.ok for report in self.keys)
        keys_pass = working >= min_ok if min_ok is not None else working == len(self.keys)
        return keys_pass and all(model.reachable for model in self.models)


def select_slots(settings: Settings, provider: str | None, labels: Sequence[str]) -> list[KeySlot]:
    """Every key of every usable provider (the local Ollama counts as one keyless slot), narrowed."""
    slots = [s for s in settings.all_slots() if not provider or s.provider == provider]
    if labels:
        slots = [s for s in slots if s.label in labels]
    if not slots:
        raise NoKeysError(_no_keys_message(settings, provider, labels))
    return slots


def _no_keys_message(settings: Settings, provider: str | None, labels: Sequence[str]) -> str:
    if labels:
        return f"no configured key is named {', '.join(labels)}"
    variables = [
        f"{p.key_variable} (or {p.key_variable}_1, _2, ...)"
        for p in settings.providers
        if p.key_variable and (provider is None or p.name == provider)
    ]
    where = f" for {provider}" if provider else ""
    hint = "; or set OLLAMA_HOST for a local Ollama" if provider in (None, "local") else ""
    return f"no API keys configured{where}: set {' or '.join(variables)}{hint}"


async def diagnose(
    settings: Settings,
    store: Store,
    *,
    provider: str | None = None,
    labels: Sequence[str] = (),
    probes: int = 1,
    inference: bool = False,
    required: Sequence[str] = (),
    timeout: float = 15.0,
    on_report: Callable[[KeyReport], None] | None = None,
) -> Diagnosis:
    """Check the selected keys concurrently; wall time is that of the slowest key, not the sum."""
    from llmroute.catalog import RETIRED, load_catalog

    slots = select_slots(settings, provider, labels)
    clients = _WatchedClients("llmroute")
    adapters = {s.provider: build_adapter(settings.provider(s.provider), clients) for s in slots}  # type: ignore[arg-type]
    gate = Gatekeeper(settings, store, clients)
    check = _Checker(settings, store, probes, timeout, inference, required, on_report, gate)
    catalog_load = load_catalog(
        settings,
        store,
        refresh=False,
        ttl=24 * 3600,
        now=time.time(),
        providers={s.provider for s in slots},
        key_reports=False,  # each key's check reads its report
    )
    try:
        reports, catalog = await asyncio.gather(
            asyncio.gather(*(check.one(slot, adapters[slot.provider]) for slot in slots)), catalog_load
        )
    finally:
        await clients.aclose()
    store.record_checks([_check_row(r, s) for r, s in zip(reports, slots, strict=True)])
    models: dict[str, set[str]] = {}
    retired = dict(RETIRED)
    for entry in catalog.entries:
        models.setdefault(entry.info.provider, set()).add(entry.info.model)
        if entry.retired:
            retired[(entry.info.provider, entry.info.model)] = (entry.successor, entry.info.expires or "")
    reports = [_with_model_count(r, models) for r in reports]
    reach = tuple(_reach(spec, settings, reports, models, retired) for spec in required)
    return Diagnosis(tuple(reports), reach, dict(catalog.errors))


class _Checker:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        probes: int,
        timeout: float,
        inference: bool,
        required: Sequence[str],
        on_report: Callable[[KeyReport], None] | None,
        gate: Gatekeeper,
    ) -> None:
        self.settings = settings
        self.gate = gate
        self.store = store
        self.probes = probes
        self.timeout = timeout
        self.inference = inference
        self.required = required
        self.on_report = on_report

    async def one(self, slot: KeySlot, adapter: ProviderAdapter) -> KeyReport:
        report = await self._probe(slot, adapter)
        if self.inference and report.verdict is Verdict.OK:
            report = _replace(report, inference=await self._infer(slot, adapter))
        if self.on_report:
            self.on_report(report)
        return report

    async def _probe(self, slot: KeySlot, adapter: ProviderAdapter) -> KeyReport:
        latencies: list[float] = []
        info = None
        try:
            async with asyncio.timeout(self.timeout):
                for number in range(1, self.probes + 1):
                    info = await self._probe_once(slot, adapter, number, latencies)
        except ProviderError as error:
            health.record_failure(self.store, slot, error)
            return _report(slot, _verdict(error), latencies, retry_at=error.retry_at, message=error.message)
        except TimeoutError:
            message = f"no answer within {self.timeout:g}s"
            log.info("%s: %s", self._probe_name(slot, len(latencies) + 1), message)
            return _report(slot, Verdict.TIMED_OUT, latencies, message=message)
        health.record_success(self.store, slot)
        if info is not None and info.free_requests_limit is not None:
            self.store.record_free_limit(slot.id, slot.provider, info.free_requests_limit, time.time())
        return _report(slot, Verdict.OK, latencies, info=info)

    async def _probe_once(
        self, slot: KeySlot, adapter: ProviderAdapter, number: int, latencies: list[float]
    ) -> KeyInfo:
        """One probe, timed into ``latencies`` and told on the log (``-v``): what was asked, the answer, how long.

        A failure's message is redacted here, before it is logged or reported.
        """
        started = time.monotonic()
        with _watching() as exchanges:
            try:
                info = await adapter.probe_key(slot, timeout=self.timeout)
            except ProviderError as error:
                error.message = redact(error.message, (s for k in self.settings.keys for s in k.secrets))
                elapsed = (time.monotonic() - started) * 1000
                log.info(
                    "%s: %s in %.0f ms: %s", self._probe_name(slot, number), _asked(exchanges), elapsed, _failure(error)
                )
                raise
        latencies.append((time.monotonic() - started) * 1000)
        log.info("%s: %s in %.0f ms: ok", self._probe_name(slot, number), _asked(exchanges), latencies[-1])
        return info

    def _probe_name(self, slot: KeySlot, number: int) -> str:
        counter = f" {number}/{self.probes}" if self.probes > 1 else ""
        return f"probe{counter} {slot.provider} {slot.label} {slot.mask()}"

    async def _infer(self, slot: KeySlot, adapter: ProviderAdapter) -> InferenceCheck:
        """A tiny real prompt, through the same gate as ``chat``, told on the log (``-v``)."""
        with _watching() as exchanges:
            check = await self._infer_once(slot, adapter)
        outcome = "ok" if check.ok else check.message
        timing = f" in {check.total_ms:.0f} ms (first token {_ms(check.ttft_ms)})" if check.ok else ""
        name = f"inference {slot.provider} {slot.label} {slot.mask()}"
        log.info("%s: model %s, %s%s: %s", name, check.model, _asked(exchanges), timing, outcome)
        return check

    async def _infer_once(self, slot: KeySlot, adapter: ProviderAdapter) -> InferenceCheck:
        """A tiny real prompt, through the same gate as ``chat``: limits, budgets and the ledger."""
        target = self._inference_target(slot.provider)
        if target is None:
            return InferenceCheck(model="-", ok=False, message="no model to try on this provider")
        candidate = Candidate(target, slot)
        request = ChatRequest.from_prompt(INFERENCE_PROMPT, model=str(target), max_tokens=INFERENCE_MAX_TOKENS)
        admitted = await self.gate.admit(candidate, request, f"test-keys-{uuid.uuid4().hex[:8]}")
        if isinstance(admitted, Skip):
            return InferenceCheck(model=target.model, ok=False, message=f"not sent: {admitted.words()}")
        started = time.monotonic()
        ttft = None
        end = StreamEnd(model=target.model)
        try:
            async with asyncio.timeout(self.timeout):
                async for event in adapter.chat(candidate, request, timeout=self.timeout):
                    if isinstance(event, TextDelta) and ttft is None and event.text:
                        ttft = (time.monotonic() - started) * 1000
                    elif isinstance(event, StreamEnd):
                        end = event
        except (ProviderError, TimeoutError) as exc:
            if isinstance(exc, ProviderError):
                exc.message = redact(exc.message, (s for k in self.settings.keys for s in k.secrets))
            message = exc.message if isinstance(exc, ProviderError) else f"no answer within {self.timeout:g}s"
            self._ledger(admitted, candidate, started, ok=False, error=exc if isinstance(exc, ProviderError) else None)
            return InferenceCheck(model=target.model, ok=False, message=message)
        self._ledger(admitted, candidate, started, ok=True, end=end, ttft=ttft)
        total = (time.monotonic() - started) * 1000
        return InferenceCheck(model=end.model, ok=True, ttft_ms=_round(ttft), total_ms=_round(total))

    def _inference_target(self, provider: str) -> Target | None:
        """The first current target of this provider (a retired model's successor, never the retired model)."""
        from llmroute.catalog import current_targets

        names = [p.name for p in self.settings.providers]
        for spec in (*self.required, self.settings.default_model):
            resolved = deployed(aliases.resolve(spec, self.settings.aliases, names), self.settings, pinned=False)
            targets, _ = current_targets(resolved, self.store, time.time())
            for target in targets:
                if target.provider == provider:
                    return target
        settings = self.settings.provider(provider)
        fallback = INFERENCE_FALLBACK.get(provider) or next(
            iter((settings.deployments if settings else {}).values()), None
        )
        return Target(provider, fallback) if fallback else None

    def _ledger(
        self,
        admitted: Admitted,
        candidate: Candidate,
        started: float,
        *,
        ok: bool,
        error: ProviderError | None = None,
        end: StreamEnd | None = None,
        ttft: float | None = None,
    ) -> None:
        """A tiny real prompt costs tokens: it is an attempt like any other in the ledger."""
        attempt = Attempt(
            provider=candidate.provider,
            model=candidate.model,
            key_label=candidate.key_label,
            key_mask=candidate.key_mask,
            outcome=Outcome.OK if ok else Outcome.FAILED,
            error_kind=error.kind if error else None,
            status=error.status if error else None,
            message=error.message if error else None,
            latency_ms=round((time.monotonic() - started) * 1000, 1),
            ttft_ms=_round(ttft),
            usage=self.gate.costed(candidate, end.usage) if end else Usage(),
        )
        row = AttemptRow.of(attempt, request_id=admitted.ticket.request_id, key_fingerprint=candidate.slot.fingerprint)
        self.gate.settle(admitted, row, count_for_breaker=False)


_exchanges: ContextVar[list[str] | None] = ContextVar("llmroute_probe_exchanges", default=None)
"""The HTTP exchanges of the probe running in this task (each key's check is a task of its own)."""


@contextmanager
def _watching() -> Iterator[list[str]]:
    """Collect ``METHOD /path STATUS`` of every response the code inside gets (paths only: a query may hold a
    key)."""
    seen: list[str] = []
    token = _exchanges.set(seen)
    try:
        yield seen
    finally:
        _exchanges.reset(token)


async def _note_response(response: httpx.Response) -> None:
    seen = _exchanges.get()
    if seen is not None:
        seen.append(f"{response.request.method} {response.request.url.path} {response.status_code}")


class _WatchedClients(ClientPool):
    """A pool whose clients tell the running probe what they exchanged (for ``-v``)."""

    def client(self, base_url: str) -> httpx.AsyncClient:
        client = super().client(base_url)
        hooks = client.event_hooks["response"]
        if _note_response not in hooks:
            hooks.append(_note_response)
        return client


def _asked(exchanges: Sequence[str]) -> str:
    return ", ".join(exchanges) if exchanges else "no HTTP response"


def _failure(error: ProviderError) -> str:
    return f"{error.kind.value}: {error.message}" if error.message else error.kind.value


def _ms(value: float | None) -> str:
    return f"{value:.0f} ms" if value is not None else "none"


def _verdict(error: ProviderError) -> Verdict:
    if error.kind is ErrorKind.QUOTA:
        return Verdict.OUT_OF_CREDIT if error.status == 402 else Verdict.RATE_LIMITED
    return {
        ErrorKind.AUTH: Verdict.INVALID,
        ErrorKind.RATE_LIMITED: Verdict.RATE_LIMITED,
        ErrorKind.CONNECTION: Verdict.UNREACHABLE,
        ErrorKind.TIMEOUT: Verdict.TIMED_OUT,
    }.get(error.kind, Verdict.ERROR)


def _report(slot: KeySlot, verdict: Verdict, latencies: list[float], **fields: object) -> KeyReport:
    return KeyReport(
        provider=slot.provider,
        label=slot.label,
        mask=slot.mask(),
        verdict=verdict,
        latency_ms=_round(statistics.median(latencies)) if latencies else None,
        **fields,  # type: ignore[arg-type]
    )


def _replace(report: KeyReport, **changes: object) -> KeyReport:
    from dataclasses import replace

    return replace(report, **changes)  # type: ignore[arg-type]


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _with_model_count(report: KeyReport, models: dict[str, set[str]]) -> KeyReport:
    if report.verdict is not Verdict.OK or report.provider not in models:
        return report
    return _replace(report, models=len(models[report.provider]))


def _reach(
    spec: str,
    settings: Settings,
    reports: Sequence[KeyReport],
    models: dict[str, set[str]],
    retirements: dict[tuple[str, str], tuple[str | None, str]],
) -> ModelReach:
    """A required model is reachable through every working key of a provider whose catalogue lists it.

    A target the one rule (``catalog.current_target``) replaces or drops is retired: it reaches nothing, and
    the spec is reported retired, with the successor the rule would use, when no other target reaches it.
    """
    from datetime import UTC, datetime

    from llmroute.catalog import current_target

    today = datetime.now(UTC).date().isoformat()
    names = [p.name for p in settings.providers]
    targets = aliases.resolve(spec, settings.aliases, names)
    working = [r for r in reports if r.verdict is Verdict.OK]
    via: list[str] = []
    retired: list[tuple[Target, str | None]] = []
    unverified = False
    for target in targets:
        current, _ = current_target(target, retirements, today)
        if current != target:
            retired.append((target, current.model if current else None))
            continue
        known = models.get(target.provider)
        if known is None:
            unverified = True
        elif target.model not in known:
            continue
        via.extend(r.label for r in working if r.provider == target.provider and r.label not in via)
    successor = next((s for _, s in retired if s), None)
    return ModelReach(
        spec=spec,
        targets=tuple(str(t) for t in targets),
        via=tuple(via),
        retired=bool(retired) and not via,
        successor=successor,
        unverified=unverified and bool(via),
    )


def _check_row(report: KeyReport, slot: KeySlot) -> CheckRow:
    return CheckRow(
        ts=time.time(),
        key_id=slot.id,
        provider=report.provider,
        label=report.label,
        verdict=report.verdict.value,
        latency_ms=report.latency_ms,
        message=report.message,
    )
