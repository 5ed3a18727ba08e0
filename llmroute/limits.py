"""What the user allows: rate limits, budgets, circuit-breaker thresholds, and prices for unpriced providers.

Plain data, set from the config file and the seed project's variables. The
state file's admission transaction (``store/admission.py``) enforces them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmroute.money import usd  # noqa: F401  (the one money rule; re-exported for callers of limits.usd)

if TYPE_CHECKING:
    from llmroute.keys import KeySlot

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


@dataclass(frozen=True)
class RateLimit:
    """Calls (HTTP attempts) allowed per sliding minute, hour and 24 hours; None = no limit."""

    per_minute: int | None = None
    per_hour: int | None = None
    per_day: int | None = None

    def windows(self) -> tuple[tuple[float, int], ...]:
        """(window seconds, allowed calls) for each limit that is set."""
        pairs = ((MINUTE, self.per_minute), (HOUR, self.per_hour), (DAY, self.per_day))
        return tuple((seconds, limit) for seconds, limit in pairs if limit is not None)

    def __bool__(self) -> bool:
        return bool(self.windows())


@dataclass(frozen=True)
class FreeModelLimit:
    """A cap on calls to free models, counted per quota pool: per sliding minute, and per UTC day (the
    provider's own reset)."""

    per_minute: int | None = None
    per_utc_day: int | None = None
    reported_wins: bool = True
    """A daily cap the provider reports for the key (OpenRouter ``GET /key``) replaces ``per_utc_day``;
    False when the user set ``per_utc_day`` in the config file."""


#: OpenRouter's documented free-model caps for accounts that bought under 10 credits (reference §1.8); accounts
#: that bought 10 or more have 1000 a day, which ``GET /key`` reports as ``free_model_daily_requests``.
OPENROUTER_FREE_LIMIT = FreeModelLimit(per_minute=20, per_utc_day=50)


@dataclass(frozen=True)
class Budget:
    """Spend allowed per UTC day and per UTC calendar month, in USD; None = no budget."""

    daily: float | None = None
    monthly: float | None = None

    def __bool__(self) -> bool:
        return self.daily is not None or self.monthly is not None


@dataclass(frozen=True)
class BreakerSettings:
    """When a provider's circuit opens: N consecutive failures, or a failure rate over recent attempts."""

    consecutive_failures: int = 5
    failure_rate: float = 0.5
    min_attempts: int = 10
    window: float = 300.0
    """Seconds of history the failure rate looks at."""
    cool_off: float = 60.0
    """Seconds the circuit stays open before one trial request is let through."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens (equal to micro-dollars per token)."""

    prompt: float
    completion: float


#: What a budget assumes for a model with no known price: USD per million tokens, about the dearest
#: mainstream models' list prices, so that an unpriced call is never taken for a free one.
UNPRICED_PRICE = Price(prompt=15.0, completion=75.0)


@dataclass(frozen=True)
class Limits:
    """Everything the admission check and the breaker need, for every scope."""

    provider_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    key_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    """Key label -> its own limit."""
    pool_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    """Pool name -> the limit its keys share."""
    free_limits: Mapping[str, FreeModelLimit] = field(default_factory=lambda: {"openrouter": OPENROUTER_FREE_LIMIT})
    total_budget: Budget = field(default_factory=Budget)
    provider_budgets: Mapping[str, Budget] = field(default_factory=dict)
    key_budgets: Mapping[str, Budget] = field(default_factory=dict)
    alert_at_percent: float = 75.0
    prices: Mapping[str, Mapping[str, Price]] = field(default_factory=dict)
    """Provider -> model -> price, for providers that publish none (Ollama Cloud); model ``*`` = any."""
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    reservation_timeout: float = 600.0
    """Seconds after which a crashed process's reservation stops counting (never counted as spend)."""
    reserve_tokens: int = 4096
    """Output tokens assumed for the worst case when a request sets no ``max_tokens``."""
    unpriced_price: Price = field(default_factory=lambda: UNPRICED_PRICE)
    """The price a budget assumes for a model whose price is unknown (never zero)."""

    def price(self, provider: str, model: str) -> Price | None:
        table = self.prices.get(provider, {})
        return table.get(model) or table.get("*")


@dataclass(frozen=True)
class Scope:
    """What a limit or budget applies to: everything, one provider, one quota pool, or one key."""

    kind: str
    """``total``, ``provider``, ``pool`` or ``key``."""
    name: str = ""
    """The provider's name, the pool's id, or the key's id (fingerprint, or ``provider:NAME`` when keyless)."""
    label: str = ""
    """How to show it: the provider's name, the pool's name or the key's variable name."""
    members: tuple[str, ...] = ()
    """A pool's key ids: its calls are theirs."""

    def __str__(self) -> str:
        return "total" if self.kind == "total" else f"{self.kind} {self.label or self.name}"

    @classmethod
    def of_key(cls, slot: KeySlot) -> Scope:
        """The scope of one key's own limits and budgets."""
        return cls("key", slot.id, slot.label)
