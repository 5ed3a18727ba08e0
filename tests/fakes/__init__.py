"""In-process fake of the OpenRouter, Ollama (cloud / local), OpenAI, Azure OpenAI and Cloudflare Workers AI
HTTP APIs for end-to-end tests, all on one loopback port.

    from tests.fakes import FakeProvider, reply, stream_reply, error, hang, drop_connection

    with FakeProvider(keys={"sk-or-v1-aaa": "alice"}, models={"openai/gpt-4o-mini"}) as fake:
        fake.script("sk-or-v1-aaa", or_daily_cap(), reply("second answer"))
        ...  # point the client at fake.openrouter_url / fake.ollama_url
        assert len(fake.chat_requests) == 2

Any endpoint can be scripted (``fake.script(secret, or_401(), path="/api/v1/key")``) and its
requests listed (``fake.requests_to("/api/v1/key")``).  Endpoints: OpenRouter ``/api/v1/chat/completions``,
``/models``, ``/key`` (and ``/auth/key``), ``/credits``; Ollama ``/api/chat``, ``/api/tags``,
``/api/show``, ``/api/version``, ``GET /``, and the OpenAI-compatible ``/v1/chat/completions`` and
``/v1/models``.

OpenAI at ``fake.openai_url`` (``/openai/v1``: ``/chat/completions``, ``/models``), Azure OpenAI at
``fake.azure_endpoint`` (``/azure``: ``/openai/v1/chat/completions``, ``/openai/v1/models``, the dated
``/openai/deployments/{d}/chat/completions?api-version=...``; ``api-key`` auth; ``deployments=``) and
Cloudflare at ``fake.cloudflare_url`` (``/cloudflare/client/v4``: ``/accounts/{id}/ai/v1/chat/completions``,
``/accounts/{id}/ai/models/search``, ``/user/tokens/verify``, ``/accounts/{id}/tokens/verify``;
``cloudflare_accounts={token: account_id}``), with their errors ``oa_*``, ``az_*`` and ``cf_*``.

Faults beyond the providers' own errors, for the fault matrix: ``or_status(code)`` / ``oll_status(code)``
(a documented body per status), ``or_429(retry_after=..., reset_ms=..., retry_after_seconds=...)`` with
``http_date(epoch)``, ``html_error(status)`` and ``cloudflare_524()`` (proxy pages), ``huge_error(status,
size)`` (a body sent ``repeat`` times over, never built whole), and on any reply or error ``gzip=True``;
replies also take ``repeat=N`` (a huge answer), ``end_after_tokens=N`` (a clean end mid-answer) and
``chunks=(...)`` (exact stream pieces). Text may carry ``"\\udcff"`` (sent as the raw, invalid byte) and
lone surrogates (sent as JSON escapes): see :func:`~.behaviours.compact_json`.

Wire formats follow /work/shared/reference/providers.md §1 (OpenRouter) and §2-3 (Ollama), and
providers-next.md §2 (Cloudflare), §3 (OpenAI) and §5 (Azure).
"""

from __future__ import annotations

from .behaviours import (
    Behaviour,
    DropConnection,
    ErrorResponse,
    Hang,
    Reply,
    drop_connection,
    error,
    hang,
    reply,
    stream_reply,
)
from .errors import (
    MIB,
    OA_SERVER_ERROR,
    az_400_content_filter,
    az_401,
    az_404_deployment,
    az_404_resource,
    az_429,
    azure_error,
    cf_3036,
    cf_3040,
    cf_4006,
    cf_5007,
    cf_5018,
    cf_10000,
    cf_error,
    cf_invalid_token,
    cloudflare_524,
    html_error,
    http_date,
    huge_error,
    mask_key,
    oa_401,
    oa_401_no_key,
    oa_404_model_not_found,
    oa_429_insufficient_quota,
    oa_429_rate_limit,
    oa_429_too_large,
    oa_500,
    oa_503,
    oa_rate_limit_headers,
    oa_responses_only,
    oa_stream_error,
    oll_401,
    oll_402_extra_usage,
    oll_402_usage_limit,
    oll_403_cloud_disabled,
    oll_403_subscription,
    oll_404,
    oll_500_unserved,
    oll_503_busy,
    oll_status,
    oll_usage_limit,
    ollama_error,
    ollama_openai_error,
    openai_error,
    openrouter_error,
    or_200_error_only,
    or_400_input_required,
    or_400_invalid_model,
    or_401,
    or_401_no_auth,
    or_402_credits,
    or_402_insufficient,
    or_403_forbidden,
    or_403_moderation,
    or_403_region,
    or_404_no_endpoints,
    or_429,
    or_502_raw,
    or_blank_lines_json,
    or_daily_cap,
    or_per_minute,
    or_status,
    or_upstream_429,
)
from .plan import tokenize
from .records import AZURE_CHAT_PATH, OLLAMA_OPENAI_CHAT_PATH, OPENAI_CHAT_PATH, RecordedRequest
from .server import (
    DEFAULT_CLOUDFLARE_MODELS,
    DEFAULT_COST,
    DEFAULT_DEPLOYMENTS,
    DEFAULT_MODELS,
    DEFAULT_TEXT,
    OLLAMA_VERSION,
    FakeProvider,
)

__all__ = [
    "AZURE_CHAT_PATH",
    "DEFAULT_CLOUDFLARE_MODELS",
    "DEFAULT_COST",
    "DEFAULT_DEPLOYMENTS",
    "DEFAULT_MODELS",
    "DEFAULT_TEXT",
    "MIB",
    "OA_SERVER_ERROR",
    "OLLAMA_OPENAI_CHAT_PATH",
    "OLLAMA_VERSION",
    "OPENAI_CHAT_PATH",
    "Behaviour",
    "DropConnection",
    "ErrorResponse",
    "FakeProvider",
    "Hang",
    "RecordedRequest",
    "Reply",
    "az_400_content_filter",
    "az_401",
    "az_404_deployment",
    "az_404_resource",
    "az_429",
    "azure_error",
    "cf_3036",
    "cf_3040",
    "cf_4006",
    "cf_5007",
    "cf_5018",
    "cf_10000",
    "cf_error",
    "cf_invalid_token",
    "cloudflare_524",
    "drop_connection",
    "error",
    "hang",
    "html_error",
    "http_date",
    "huge_error",
    "mask_key",
    "oa_401",
    "oa_401_no_key",
    "oa_404_model_not_found",
    "oa_429_insufficient_quota",
    "oa_429_rate_limit",
    "oa_429_too_large",
    "oa_500",
    "oa_503",
    "oa_rate_limit_headers",
    "oa_responses_only",
    "oa_stream_error",
    "oll_401",
    "oll_402_extra_usage",
    "oll_402_usage_limit",
    "oll_403_cloud_disabled",
    "oll_403_subscription",
    "oll_404",
    "oll_500_unserved",
    "oll_503_busy",
    "oll_status",
    "oll_usage_limit",
    "ollama_error",
    "ollama_openai_error",
    "openai_error",
    "openrouter_error",
    "or_200_error_only",
    "or_400_input_required",
    "or_400_invalid_model",
    "or_401",
    "or_401_no_auth",
    "or_402_credits",
    "or_402_insufficient",
    "or_403_forbidden",
    "or_403_moderation",
    "or_403_region",
    "or_404_no_endpoints",
    "or_429",
    "or_502_raw",
    "or_blank_lines_json",
    "or_daily_cap",
    "or_per_minute",
    "or_status",
    "or_upstream_429",
    "reply",
    "stream_reply",
    "tokenize",
]
