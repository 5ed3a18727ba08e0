"""Cloudflare Workers AI (providers-next §2), mounted at ``/cloudflare/client/v4`` (``CLOUDFLARE_BASE_URL``).

Routes (after the mount point):

* ``POST /accounts/{account_id}/ai/v1/chat/completions`` — the OpenAI-compatible chat (model ``@cf/...``);
* ``GET /accounts/{account_id}/ai/models/search`` — the catalogue (``task``, ``search``, ``page``,
  ``per_page`` honoured), v4 envelope with ``result[]`` rows (``name``, ``task.name:"Text Generation"``,
  a ``context_window`` property) and ``result_info`` (with ``total_pages``);
* ``GET /user/tokens/verify`` and ``GET /accounts/{account_id}/tokens/verify`` — the key check.
  An account-owned token (prefix ``cfat_``) is ``1000 Invalid API Token`` on ``/user/tokens/verify``
  and valid only on its account's verify route, as observed on the real service;
* anything else: 404 from Cloudflare's router (7003 "Could not route to ..." when the account id is not
  32 hex characters, else 7000 "No route for that URI").

Tokens map to accounts (``FakeProvider(cloudflare_accounts={token: account_id})``): a missing or unknown
token, or a token on another account's path, gets ``403 10000 Authentication error`` on the AI routes.
Chat checks, in order: a JSON body (``3003``), ``model`` (missing: ``5007 No such model undefined or
task``), ``messages`` (the ``5006`` schema error), an unknown model (``5007``).  Errors use the v4
envelope.  Answers are OpenAI-shaped (no ``system_fingerprint``, ``service_tier``, ``refusal`` or
details in ``usage``; ids ``id-<epoch ms>``), ``include_usage`` works as on OpenAI (not documented by
Cloudflare: an assumption), a mid-stream failure is a ``data: {"error":...}`` event and a failed
non-stream answer ``500 3043 Internal server error`` (neither is in the reference).  Headers: a
``cf-ray``; no rate-limit headers (Cloudflare documents none).  No cost and no neuron count.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import TYPE_CHECKING, Any

from .behaviours import ErrorResponse, Reply, error
from .errors import cf_5007, cf_10000, cf_error, cf_invalid_token, cf_no_route
from .openai_wire import OpenAIService, OpenAIShape, query_value
from .plan import Wire
from .records import CLOUDFLARE_PREFIX, RecordedRequest

if TYPE_CHECKING:
    from .server import FakeProvider

ACCOUNT_ID = re.compile(r"[0-9a-f]{32}")
ACCOUNT_TOKEN_PREFIX = "cfat_"
"""Account-owned API tokens start with this; user tokens (``cfut_`` or legacy 40-character) do not."""
_ACCOUNT_PATH = re.compile(r"/accounts/([^/]+)(/.*)")
_BAD_INPUT = (
    "AiError: Bad input: Error: oneOf at '/' not met, 0 matches: required properties at '/' are 'prompt', "
    "required properties at '/' are 'messages'"
)
TEXT_GENERATION = {
    "id": "c329a1f9-323d-4e91-b2aa-582dd4188d34",
    "name": "Text Generation",
    "description": "Family of generative text models, such as large language models (LLM), that can be adapted "
    "for a variety of natural language tasks.",
}


class CloudflareShape(OpenAIShape):
    fingerprint = None
    service_tier = None
    refusal = False
    obfuscation = False
    detailed_usage = False

    def failure(self, reply: Reply) -> ErrorResponse:
        return cf_error(500, 3043, reply.error_message or "Internal server error")


CLOUDFLARE = CloudflareShape()


def _uuid(seed: str) -> str:
    h = hashlib.sha256(seed.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class CloudflareService(OpenAIService):
    """Cloudflare Workers AI under ``/cloudflare/client/v4`` (see the module docstring)."""

    prefix = CLOUDFLARE_PREFIX
    wire: Wire = "cloudflare"
    shape = CLOUDFLARE

    @staticmethod
    def _split(req: RecordedRequest, prefix: str) -> tuple[str | None, str]:
        """(account id, the rest of the path) for ``/accounts/{id}/...``; (None, path) otherwise."""
        rest = req.path.removeprefix(prefix)
        match = _ACCOUNT_PATH.fullmatch(rest)
        return (match.group(1), match.group(2)) if match else (None, rest)

    def account(self, req: RecordedRequest) -> str | None:
        return self._split(req, self.prefix)[0]

    def endpoint(self, req: RecordedRequest) -> str | None:
        account, rest = self._split(req, self.prefix)
        if account is None:
            return "verify-user" if rest == "/user/tokens/verify" and req.method == "GET" else None
        if not ACCOUNT_ID.fullmatch(account):
            return None
        if rest == "/ai/v1/chat/completions" and req.method == "POST":
            return "chat"
        if rest == "/ai/models/search" and req.method == "GET":
            return "models"
        if rest == "/tokens/verify" and req.method == "GET":
            return "verify-account"
        return None

    def authorise(self, req: RecordedRequest, fake: FakeProvider) -> ErrorResponse | None:
        owner = fake.cloudflare_accounts.get(req.bearer) if req.bearer is not None else None
        return None if owner is not None and owner == self.account(req) else cf_10000()

    def models(self, fake: FakeProvider) -> frozenset[str]:
        return fake.cloudflare_models

    def parse_body(self, req: RecordedRequest) -> dict[str, Any] | ErrorResponse:
        body = req.body
        return body if isinstance(body, dict) else cf_error(400, 3003, "Request is missing headers or body")

    def check_body(self, req: RecordedRequest, body: dict[str, Any]) -> ErrorResponse | None:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return cf_5007("undefined" if model is None else str(model))
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return cf_error(400, 5006, _BAD_INPUT)
        return None

    def resolve_model(self, req: RecordedRequest, body: dict[str, Any], fake: FakeProvider) -> str | ErrorResponse:
        model = str(body["model"])
        return model if model in self.models(fake) else cf_5007(model)

    def check_options(self, body: dict[str, Any], model: str) -> ErrorResponse | None:
        return None

    def chat_id(self, fake: FakeProvider, created: int) -> str:
        return f"id-{int(time.time() * 1000)}"

    def answer_headers(self, fake: FakeProvider) -> tuple[tuple[str, str], ...]:
        return (("cf-ray", fake._random_token(16, hex=True) + "-SJC"),)

    def not_found(self, req: RecordedRequest) -> ErrorResponse:
        account = self.account(req)
        real = req.path.removeprefix(self.prefix.removesuffix("/client/v4"))
        return cf_no_route(real, identifier_ok=account is None or ACCOUNT_ID.fullmatch(account) is not None)

    def respond(self, endpoint: str | None, req: RecordedRequest, fake: FakeProvider) -> ErrorResponse:
        if endpoint is None:
            return self.not_found(req)
        if endpoint.startswith("verify"):
            return self._verify(endpoint, req, fake)
        problem = self.authorise(req, fake)
        if problem is not None:
            return problem
        return error(200, self._search(req, fake))

    def _verify(self, endpoint: str, req: RecordedRequest, fake: FakeProvider) -> ErrorResponse:
        token = req.bearer
        owner = fake.cloudflare_accounts.get(token) if token is not None else None
        if token is None or owner is None:
            return cf_invalid_token()
        if endpoint == "verify-user" and token.startswith(ACCOUNT_TOKEN_PREFIX):
            return cf_invalid_token()
        if endpoint == "verify-account" and owner != self.account(req):
            return cf_invalid_token()
        doc = {
            "result": {"id": hashlib.sha256(token.encode()).hexdigest()[:32], "status": "active"},
            "success": True,
            "errors": [],
            "messages": [{"code": 10000, "message": "This API Token is valid and active", "type": None}],
        }
        return error(200, doc)

    def _search(self, req: RecordedRequest, fake: FakeProvider) -> dict[str, Any]:
        task = (query_value(req, "task") or "").lower()
        search = (query_value(req, "search") or "").lower()
        names = [
            m
            for m in sorted(fake.cloudflare_models)
            if (not task or task == TEXT_GENERATION["name"].lower()) and search in m.lower()
        ]
        page = _positive(query_value(req, "page"), 1)
        per_page = _positive(query_value(req, "per_page"), 100)
        shown = names[(page - 1) * per_page : page * per_page]
        rows = [
            {
                "id": _uuid(name),
                "source": 1,
                "name": name,
                "description": f"{name.rsplit('/', 1)[-1]}: a text generation model served by the fake.",
                "task": TEXT_GENERATION,
                "created_at": "2024-07-23 00:00:00.000",
                "tags": [],
                "properties": [{"property_id": "context_window", "value": str(fake.context_length)}],
            }
            for name in shown
        ]
        return {
            "result": rows,
            "success": True,
            "errors": [],
            "messages": [],
            "result_info": {
                "count": len(rows),
                "page": page,
                "per_page": per_page,
                "total_count": len(names),
                "total_pages": max(1, -(-len(names) // per_page)),
            },
        }


def _positive(value: str | None, default: int) -> int:
    return int(value) if value is not None and value.isdigit() and int(value) > 0 else default


SERVICE = CloudflareService()
