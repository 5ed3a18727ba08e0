"""Azure OpenAI (providers-next §5), mounted at ``/azure`` (what ``AZURE_OPENAI_ENDPOINT`` points at).

Routes (after ``/azure``):

* v1 API: ``POST /openai/v1/chat/completions`` (the body's ``model`` is a **deployment name**) and
  ``GET /openai/v1/models`` (the resource's models, not its deployments);
* dated API: ``POST /openai/deployments/{deployment}/chat/completions?api-version=2024-10-21`` (what
  ``openai.AzureOpenAI`` calls); without an ``api-version`` of the form ``YYYY-MM-DD[-preview]`` (or
  ``preview``) it is 404 "Resource not found", as on the real service;
* anything else: 404 ``{"error":{"code":"404","message":"Resource not found"}}``.

Auth is the ``api-key`` header only: no key, an unknown key, or a key sent as ``Authorization: Bearer``
get :func:`~.errors.az_401` (the header wins when both are sent).  An unknown deployment is 404
``DeploymentNotFound``; body checks are OpenAI's (:class:`~.openai_wire.OpenAIService`), applied to the
deployment's model (``max_tokens`` is refused for a reasoning model behind a deployment).

Answers report the deployment's model (``gpt-4o-mini``, not ``my-gpt4o-mini``) and carry Azure's
content-filter annotations: ``prompt_filter_results`` and ``choices[].content_filter_results`` (all
categories ``safe``; filtered at ``medium`` violence when a reply's ``finish_reason`` is
``"content_filter"``).  A stream starts with a chunk that has ``choices: []``, empty ``id``/``model``/
``object``, ``created: 0`` and the prompt filter results; content chunks carry the filter results, the
role and finish chunks ``{}``.  JSON keys are in alphabetical order, as Azure writes them.  Headers:
``x-ratelimit-limit/remaining-requests/tokens`` (the reference's observed values, no reset headers),
``apim-request-id``, ``x-request-id``, ``x-ms-region``.  No cost anywhere.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .behaviours import ErrorResponse, compact_json, error
from .errors import az_401, az_404_deployment, az_404_resource
from .openai_wire import OpenAIService, OpenAIShape, query_value, sse
from .plan import Answer, ChatContext, Wire
from .records import AZURE_PREFIX, RecordedRequest

if TYPE_CHECKING:
    from .server import FakeProvider

_SAFE = {"filtered": False, "severity": "safe"}
FILTER_RESULTS = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
FILTERED_RESULTS = {**FILTER_RESULTS, "violence": {"filtered": True, "severity": "medium"}}
PROMPT_FILTER_RESULTS = [{"prompt_index": 0, "content_filter_results": FILTER_RESULTS}]

_DATED_CHAT = re.compile(r"/openai/deployments/([^/]+)/chat/completions")
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(?:-preview)?|preview")


def _sorted(obj: Any) -> Any:
    """``obj`` with every mapping's keys in alphabetical order (how Azure serialises)."""
    if isinstance(obj, dict):
        return {k: _sorted(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [_sorted(v) for v in obj]
    return obj


class AzureShape(OpenAIShape):
    fingerprint = "fp_b705f0c291"
    service_tier = None
    obfuscation = False

    def serialise(self, obj: Any) -> bytes:
        return compact_json(_sorted(obj))

    def document(self, obj: Any) -> bytes:
        return compact_json(_sorted(obj))

    def completion(self, ctx: ChatContext, answer: Answer, reply: Any) -> dict[str, Any]:
        body = super().completion(ctx, answer, reply)
        filtered = answer.finish_reason == "content_filter"
        body["choices"][0]["content_filter_results"] = FILTERED_RESULTS if filtered else FILTER_RESULTS
        body["prompt_filter_results"] = PROMPT_FILTER_RESULTS
        return body

    def choice(self, delta: dict[str, Any], finish_reason: str | None, *, filtered: bool = False) -> dict[str, Any]:
        results = FILTER_RESULTS if filtered else FILTERED_RESULTS if finish_reason == "content_filter" else {}
        return {**super().choice(delta, finish_reason), "content_filter_results": results}

    def preface(self, ctx: ChatContext) -> list[bytes]:
        chunk: dict[str, Any] = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": PROMPT_FILTER_RESULTS,
        }
        if ctx.include_usage:
            chunk["usage"] = None
        return [sse(self.serialise(chunk))]


AZURE = AzureShape()


class AzureService(OpenAIService):
    """Azure OpenAI under ``/azure`` (see the module docstring)."""

    prefix = AZURE_PREFIX
    wire: Wire = "azure"
    shape = AZURE

    def endpoint(self, req: RecordedRequest) -> str | None:
        rest = req.path.removeprefix(self.prefix)
        if rest == "/openai/v1/chat/completions" and req.method == "POST":
            return "chat"
        if rest == "/openai/v1/models" and req.method == "GET":
            return "models"
        if _DATED_CHAT.fullmatch(rest) and req.method == "POST":
            version = query_value(req, "api-version")
            return "chat" if version is not None and _API_VERSION.fullmatch(version) else None
        return None

    def authorise(self, req: RecordedRequest, fake: FakeProvider) -> ErrorResponse | None:
        return None if req.bearer is not None and req.bearer in fake.keys else az_401()

    def models(self, fake: FakeProvider) -> frozenset[str]:
        return fake.openai_models | frozenset(fake.deployments.values())

    def _deployment(self, req: RecordedRequest, body: dict[str, Any]) -> Any:
        dated = _DATED_CHAT.fullmatch(req.path.removeprefix(self.prefix))
        return dated.group(1) if dated else body.get("model")

    def check_body(self, req: RecordedRequest, body: dict[str, Any]) -> ErrorResponse | None:
        if _DATED_CHAT.fullmatch(req.path.removeprefix(self.prefix)):
            body = {**body, "model": self._deployment(req, body)}  # the path names the deployment
        return super().check_body(req, body)

    def resolve_model(self, req: RecordedRequest, body: dict[str, Any], fake: FakeProvider) -> str | ErrorResponse:
        """The deployment's model; an unknown deployment is 404 ``DeploymentNotFound``."""
        deployment = self._deployment(req, body)
        if isinstance(deployment, str) and deployment in fake.deployments:
            return fake.deployments[deployment]
        return az_404_deployment()

    def answer_headers(self, fake: FakeProvider) -> tuple[tuple[str, str], ...]:
        request_id = fake._random_uuid()
        return (
            ("apim-request-id", request_id),
            ("x-request-id", request_id),
            ("x-ms-region", "East US"),
            ("x-ratelimit-limit-requests", "8"),
            ("x-ratelimit-limit-tokens", "8000"),
            ("x-ratelimit-remaining-requests", "7"),
            ("x-ratelimit-remaining-tokens", "1014"),
        )

    def not_found(self, req: RecordedRequest) -> ErrorResponse:
        return az_404_resource()

    def respond(self, endpoint: str | None, req: RecordedRequest, fake: FakeProvider) -> ErrorResponse:
        if endpoint is None:
            return self.not_found(req)
        problem = self.authorise(req, fake)
        if problem is not None:
            return problem
        rows = [
            {
                "capabilities": {
                    "chat_completion": True,
                    "completion": False,
                    "embeddings": False,
                    "fine_tune": False,
                    "inference": True,
                },
                "created_at": 1_721_260_800,
                "id": model,
                "lifecycle_status": "generally-available",
                "object": "model",
                "status": "succeeded",
            }
            for model in sorted(self.models(fake))
        ]
        return error(200, _sorted({"data": rows, "object": "list"}))


SERVICE = AzureService()
