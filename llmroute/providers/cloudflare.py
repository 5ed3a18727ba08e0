"""Cloudflare Workers AI through its OpenAI-compatible routes, with Cloudflare's own errors and account.

See ``reference/providers-next.md`` §2 and ``providers.md`` §5. A key is two values: the API token
(``Authorization: Bearer``) and the account id, which sits in every path and comes from the key slot.
Chat is ``POST {base}/accounts/{account}/ai/v1/chat/completions`` with ``@cf/...`` model ids; the
catalogue and the token check are plain v4 API calls answering in the envelope
``{"success", "errors": [{"code", "message"}], "messages", "result"}``, which errors keep even on
the OpenAI-compatible route. Errors are classified by Cloudflare's numeric code and by their text (the
daily-allocation error also comes as ``{"error": {"message": "4006: you have used up your daily free
allocation ..."}}``). Responses carry no neuron count or cost: the gate prices them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from llmroute.errors import Cause, ConfigError, ErrorKind, ProviderError
from llmroute.providers.classify import as_dict, as_int, clean, context_exceeded, kind_for_status
from llmroute.providers.openai_wire import OpenAIWireAdapter
from llmroute.providers.resets import next_utc_midnight, retry_hint
from llmroute.types import KeyInfo, ModelInfo

if TYPE_CHECKING:
    from llmroute.keys import KeySlot
    from llmroute.types import Candidate

TEXT_GENERATION = "Text Generation"
#: Catalogue rows asked per page, and pages read at most (Workers AI lists well under a hundred LLMs).
PER_PAGE = 100
MAX_PAGES = 10
#: An account id is 32 hex characters; it goes into URL paths, so nothing else is ever sent (Cloudflare's
#: router would answer a malformed one with a 404 "Could not route", read as a missing model).
_ACCOUNT = re.compile(r"[0-9a-fA-F]{32}")

_AUTH, _MODEL_ACCESS = (ErrorKind.AUTH, None), (ErrorKind.AUTH, Cause.MODEL_ACCESS)
#: Workers AI's error codes (developers.cloudflare.com/workers-ai/platform/errors) and the v4 API's token error.
CODES: dict[int, tuple[ErrorKind, Cause | None]] = {
    10000: _AUTH,  # "Authentication error": the token is invalid
    3023: _AUTH,  # "Service unavailable for account"
    3036: (ErrorKind.QUOTA, None),  # the daily free allocation of neurons is used up
    3040: (ErrorKind.OVERLOADED, None),  # "No more data centers to forward the request to"
    5007: (ErrorKind.MODEL_NOT_FOUND, None),  # "No such model ${model} or task"
    3042: (ErrorKind.MODEL_NOT_FOUND, None),  # "The model name is invalid"
    # This model is not for this account (not allowed, or its terms not yet agreed): the token still works.
    5016: _MODEL_ACCESS,
    5018: _MODEL_ACCESS,
    3041: _MODEL_ACCESS,
    3003: (ErrorKind.BAD_REQUEST, None),  # "Request is missing headers or body"
    3006: (ErrorKind.BAD_REQUEST, None),  # "Request is too large" (413)
    5004: (ErrorKind.BAD_REQUEST, None),  # "Invalid data type for base64 input"
    3007: (ErrorKind.TIMEOUT, None),  # "Request timeout"
    3008: (ErrorKind.TIMEOUT, None),  # "Request aborted"
}
_DAILY_ALLOCATION = "daily free allocation"
_TIMEOUT_TEXTS = ("request timeout", "request aborted")
#: "4006: you have used up ...": a code written at the head of the message.
_LEADING_CODE = re.compile(r"\s*([0-9]{4,5})\s*:")


class CloudflareAdapter(OpenAIWireAdapter):
    """Workers AI; ``base_url`` is the v4 API root, ``https://api.cloudflare.com/client/v4``."""

    include_usage = True
    protocol = "cloudflare"

    def chat_url(self, candidate: Candidate) -> str:
        return f"{self.account_url(candidate.slot)}/ai/v1/chat/completions"

    def models_url(self, slot: KeySlot) -> str:
        return f"{self.account_url(slot)}/ai/models/search"

    def account_url(self, slot: KeySlot) -> str:
        """``{base}/accounts/{account id}``; a slot without a usable account id is a configuration error."""
        account = account_of(slot)
        if not _ACCOUNT.fullmatch(account):
            state = "no Cloudflare account id" if not account else "a Cloudflare account id that is not 32 hex digits"
            raise ConfigError(f"{slot.label} has {state}: give each Cloudflare token its account id")
        return f"{self.base_url}/accounts/{account}"

    def error_of(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """The v4 envelope's ``errors`` (code of the first, every message), else an OpenAI-style ``error``."""
        errors = data.get("errors")
        if not (isinstance(errors, list) and errors) and data.get("success") is not False:
            return super().error_of(data)
        items = errors if isinstance(errors, list) else []
        codes = [code for e in items if (code := as_int(as_dict(e).get("code"))) is not None]
        texts = [str((e.get("message") if isinstance(e, dict) else e) or "") for e in items[:3]]
        return {"code": codes[0] if codes else None, "message": "; ".join(t for t in texts if t) or "request failed"}

    def classify(
        self, status: int, error: Mapping[str, Any], headers: Mapping[str, str], secrets: tuple[str, ...], now: float
    ) -> ProviderError:
        return classify_error(status, error, headers, secrets, now, self.name)

    async def list_models(self, slot: KeySlot, *, timeout: float) -> list[ModelInfo]:
        """``GET /accounts/{id}/ai/models/search``: the text-generation models (``result[].name``), page by page."""
        models: list[ModelInfo] = []
        for page in range(1, MAX_PAGES + 1):
            params = {"task": TEXT_GENERATION, "per_page": PER_PAGE, "page": page}
            data = await self.get_json(self.models_url(slot), slot, timeout, params=params)
            rows = data.get("result")
            if not isinstance(rows, list):
                raise ProviderError(ErrorKind.BAD_RESPONSE, "the model list has no result", provider=self.name)
            models += [info for row in rows if (info := model_info(self.name, row)) is not None]
            pages = as_int(as_dict(data.get("result_info")).get("total_pages"))
            if not rows or (page >= pages if pages is not None else len(rows) < PER_PAGE):
                break
        return models

    async def probe_key(self, slot: KeySlot, *, timeout: float) -> KeyInfo:
        """``GET /user/tokens/verify`` (free): the token is alive when its status is ``active``.

        An account-owned token is verified under its account instead, when the user route refuses
        it. Neither proves the Workers AI permission; ``list_models`` does.
        """
        try:
            data = await self.get_json(f"{self.base_url}/user/tokens/verify", slot, timeout)
        except ProviderError as exc:
            if exc.kind is not ErrorKind.AUTH or not account_of(slot):
                raise
            data = await self.get_json(f"{self.account_url(slot)}/tokens/verify", slot, timeout)
        result = as_dict(data.get("result"))
        status = result.get("status")
        if status != "active":
            state = clean(str(status), self.secrets(slot.key), limit=40) if status else "not active"
            raise ProviderError(ErrorKind.AUTH, f"the API token is {state}", status=200, provider=self.name)
        expires = result.get("expires_on")
        return KeyInfo(
            detail=f"token active until {clean(expires, ())}" if isinstance(expires, str) else "token active"
        )


def account_of(slot: KeySlot) -> str:
    """The Cloudflare account id a key slot carries beside its token."""
    return slot.account


def classify_error(
    status: int,
    error: Mapping[str, Any],
    headers: Mapping[str, str],
    secrets: Iterable[str],
    now: float,
    provider: str | None = None,
) -> ProviderError:
    """Classify one Cloudflare error (``{"code": N, "message": ...}``); ``status`` 200: inside a successful answer.

    The code decides where it is known, else the text (the daily allocation, a timeout), else the status.
    """
    text = str(error.get("message") or "")
    lower = text.lower()
    code = as_int(error.get("code"))
    if code is None and (leading := _LEADING_CODE.match(text)):
        code = int(leading.group(1))
    known = CODES.get(code) if code is not None else None
    kind, cause = known if known is not None else (None, None)
    retry_at = retry_hint(headers, now)
    if code == 3036 or _DAILY_ALLOCATION in lower:
        kind, cause, retry_at = ErrorKind.QUOTA, None, next_utc_midnight(now)
    elif kind is None and any(t in lower for t in _TIMEOUT_TEXTS):
        kind = ErrorKind.TIMEOUT
    elif kind is None:
        kind = kind_for_status(status) if status >= 400 else ErrorKind.SERVER
    if context_exceeded(kind, text):
        cause = Cause.CONTEXT_LENGTH
    shown = f"{code}: {text}" if code is not None and not _LEADING_CODE.match(text) else text
    message = clean(shown, secrets) or "provider returned an error"
    return ProviderError(kind, message, status=status, retry_at=retry_at, provider=provider, cause=cause)


def model_info(provider: str, row: object) -> ModelInfo | None:
    """A catalogue row (``name`` is the model id); None for a row without one or of another task."""
    if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not row["name"].strip():
        return None
    task = row.get("task")
    task_name = as_dict(task).get("name") if not isinstance(task, str) else task
    if isinstance(task_name, str) and task_name and task_name.lower() != TEXT_GENERATION.lower():
        return None
    return ModelInfo(provider=provider, model=row["name"].strip(), context_length=_context_window(row))


def _context_window(row: Mapping[str, Any]) -> int | None:
    """The ``context_window`` property, where a row has one (``properties: [{"property_id", "value"}]``)."""
    properties = row.get("properties")
    for item in properties if isinstance(properties, list) else []:
        if as_dict(item).get("property_id") == "context_window":
            window = as_int(as_dict(item).get("value"))
            return window if window else None
    return None
