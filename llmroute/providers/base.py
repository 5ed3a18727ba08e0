"""What every provider adapter is: a translator and a classifier, nothing more.

An adapter turns a :class:`~llmroute.types.ChatRequest` aimed at one
:class:`~llmroute.types.Candidate` into the provider's HTTP request, and the
provider's bytes into :class:`~llmroute.types.TextDelta` events ending with one
:class:`~llmroute.types.StreamEnd`. Every failure leaves it as a classified
:class:`~llmroute.errors.ProviderError`. Adapters hold no policy and no state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from llmroute.types import Candidate, ChatRequest, StreamEvent


class ProviderAdapter(ABC):
    #: True only for providers whose traffic never leaves the user's machine.
    local: bool = False

    def __init__(self, name: str, base_url: str) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")

    @abstractmethod
    def chat(
        self, candidate: Candidate, request: ChatRequest, *, timeout: float
    ) -> AsyncIterator[StreamEvent]:
        """Yield the answer as it arrives; raise ``ProviderError`` on any failure.

        With ``request.stream`` false the adapter makes a non-streaming call and
        yields the whole text as one delta. ``timeout`` bounds connecting and
        each read (a stall), in seconds.
        """

