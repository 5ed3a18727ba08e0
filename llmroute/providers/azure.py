"""Azure OpenAI through its v1 API: the OpenAI wire at ``{resource endpoint}/openai/v1`` with an ``api-key`` header.

See ``reference/providers-next.md`` §5. The request's ``model`` is the deployment name. Streams may
open with a ``choices: []`` chunk carrying ``prompt_filter_results`` and hold chunks without
``delta``; ``finish_reason: "content_filter"`` marks output the filter cut (passed on as the finish
reason). Errors are ``{"error": {"code": "<string>", "message": ...}}``, the code a word or a status
("401", "Unauthorized", "429", "content_filter", "DeploymentNotFound"). Rate limits are per
deployment and say when they free in integer seconds: ``retry-after-ms`` / ``retry-after``,
``x-ratelimit-reset-*`` (seconds here, not OpenAI's Go durations), or the message's
"retry after N seconds" / "Try again in N seconds".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from llmroute.errors import Cause, ErrorKind, ProviderError
from llmroute.providers.classify import as_dict, clean, context_exceeded, http_status, kind_for_status
from llmroute.providers.openai_wire import OpenAIWireAdapter
from llmroute.providers.resets import delay_in_text, limit_reset, parse_seconds, retry_hint

if TYPE_CHECKING:
    from llmroute.keys import ApiKey, KeySlot
    from llmroute.providers.http import ClientPool
    from llmroute.types import ModelInfo

API_ROOT = "/openai/v1"

_CODE_KINDS: dict[str, ErrorKind] = {
    **dict.fromkeys(("unauthorized", "permissiondenied", "invalid_api_key"), ErrorKind.AUTH),
    **dict.fromkeys(("deploymentnotfound", "model_not_found"), ErrorKind.MODEL_NOT_FOUND),
    **dict.fromkeys(("content_filter", "responsibleaipolicyviolation"), ErrorKind.BAD_REQUEST),
    **dict.fromkeys(("ratelimitexceeded", "rate_limit_exceeded", "toomanyrequests"), ErrorKind.RATE_LIMITED),
}
#: Content filtering refuses the same prompt every time on Azure, whatever the status: another provider may take it.
_FILTERED = frozenset({"content_filter", "responsibleaipolicyviolation"})
_RETRY_IN = re.compile(r"(?:retry after|try again in) ([0-9]+(?:\.[0-9]+)?) seconds?")


class AzureAdapter(OpenAIWireAdapter):
    """An Azure OpenAI (or Foundry) resource; ``base_url`` is its endpoint, ``https://{resource}.openai.azure.com``.

    A base URL that already ends in ``/openai/v1`` is taken as it is.
    """

    chat_path = f"{API_ROOT}/chat/completions"
    models_path = f"{API_ROOT}/models"
    max_tokens_field = "max_completion_tokens"  # the v1 API takes it for every model; o-series reject max_tokens
    include_usage = True
    protocol = "azure"

    def __init__(
        self,
        name: str,
        base_url: str,
        clients: ClientPool,
        *,
        local: bool = False,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(name, base_url.rstrip("/").removesuffix(API_ROOT), clients, local=local, headers=headers)

    def auth_headers(self, key: ApiKey | None) -> dict[str, str]:
        return {"api-key": key.secret} if key is not None else {}

    def error_of(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        error = super().error_of(data)
        if error is not None and not error.get("code"):
            # The filter's verdict may name itself only inside ``innererror``.
            inner = as_dict(error.get("innererror")).get("code")
            return {**error, "code": inner} if inner else error
        return error

    def classify(
        self, status: int, error: Mapping[str, Any], headers: Mapping[str, str], secrets: tuple[str, ...], now: float
    ) -> ProviderError:
        return classify_error(status, error, headers, secrets, now, self.name)

    async def list_models(self, slot: KeySlot, *, timeout: float) -> list[ModelInfo]:
        """``GET /openai/v1/models``: the models the resource offers, **not** its deployments.

        Requests name deployments, which no data-plane call lists with a key (the old
        ``/openai/deployments`` route is gone; ARM needs Entra credentials), so the configuration
        must name them. These ids show what could be deployed, not what can be called.
        """
        return await super().list_models(slot, timeout=timeout)


def classify_error(
    status: int,
    error: Mapping[str, Any],
    headers: Mapping[str, str],
    secrets: Iterable[str],
    now: float,
    provider: str | None = None,
) -> ProviderError:
    """Classify one Azure error object; ``status`` 200 means it came inside a successful answer."""
    code = str(error.get("code") or "").strip()
    word = code.lower()
    http = status if status >= 400 else http_status(code)
    kind = kind_for_status(http) if http else _CODE_KINDS.get(word, ErrorKind.SERVER)
    retry_at = retry_hint(headers, now)
    cause: Cause | None = None
    if word in _FILTERED:
        kind, retry_at, cause = ErrorKind.BAD_REQUEST, None, Cause.CONTENT_FILTER
    elif word in _CODE_KINDS and (not http or 400 <= http < 500):
        kind = _CODE_KINDS[word]
    if context_exceeded(kind, word, error.get("message")):
        cause = Cause.CONTEXT_LENGTH
    if kind is ErrorKind.RATE_LIMITED:
        text = str(error.get("message") or "").lower()
        retry_at = retry_at or limit_reset(headers, now, parse_seconds)
        retry_at = retry_at or delay_in_text(text, _RETRY_IN, parse_seconds, now)
    message = clean(str(error.get("message") or ""), secrets) or "provider returned an error"
    return ProviderError(kind, message, status=http or status, retry_at=retry_at, provider=provider, cause=cause)
