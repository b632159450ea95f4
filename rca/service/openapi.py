"""The service's OpenAPI document, made to say what the server really does.

FastAPI's generated document is the starting point; :func:`contract_openapi`
then

* documents the project's one error body (:class:`~rca.service.schemas.ErrorBody`,
  ``{"error", "detail", "field"}``) as the ``application/json`` answer of every
  4xx status a route can give (400 malformed JSON, 401/403 API keys, 413 big
  bodies, 422 bad input...), in place of FastAPI's ``HTTPValidationError``
  that the server never sends;
* puts the limits that depend on settings (``limit <= RCA_PAGE_SIZE_MAX``) and
  the documented patterns into the parameters;
* declares the bearer API key as the security scheme of the ``/v1`` routes;
* adds the models that hand-written request bodies refer to
  (``TopologyRef``...) to ``components``, so every ``$ref`` resolves.

``tests/service/test_api_contract.py`` holds the server to this document with
schemathesis.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from rca.service.schemas import AnalysisRequest, ErrorBody
from rca.service.settings import Settings

__all__ = ["ANALYSIS_CURSOR_PATTERN", "contract_openapi", "install_openapi"]

ANALYSIS_CURSOR_PATTERN = r"^[0-9]{1,16}\.[0-9a-f]{32}$"
"""What ``next_cursor`` of ``GET /v1/analyses`` looks like (microseconds since the epoch, the analysis id)."""

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_DESCRIPTIONS = {
    "400": "Malformed JSON body.",
    "401": "Missing, malformed or unknown API key (or webhook signature).",
    "403": "The API key lacks the scope this route needs.",
    "404": "Not found.",
    "408": "The analysis exceeded RCA_ANALYSIS_TIMEOUT_SECONDS.",
    "409": "Conflict with the resource's state.",
    "413": "The body exceeds RCA_MAX_BODY_BYTES.",
    "415": "Unsupported Content-Type.",
    "422": "Invalid input; `field` names the offending part, `detail` how to fix it.",
    "503": "A dependency (the database) is unavailable.",
}


def _authenticated(path: str) -> bool:
    """Routes that take an API key: the ``/v1`` API except webhooks (which verify their own signatures)."""
    return path.startswith("/v1/") and not path.startswith("/v1/webhooks/")


def _hoist_defs(node: Any, components: dict[str, Any]) -> None:
    """Move ``$defs`` of hand-written schemas into ``components.schemas`` (their refs point there)."""
    if isinstance(node, dict):
        for name, sub in (node.pop("$defs", None) or {}).items():
            components.setdefault(name, sub)
            _hoist_defs(sub, components)
        for value in node.values():
            _hoist_defs(value, components)
    elif isinstance(node, list):
        for value in node:
            _hoist_defs(value, components)


def _set_param(op: dict[str, Any], name: str, **schema: Any) -> None:
    for p in op.get("parameters", []):
        if p["name"] == name:
            inner = p["schema"]
            target = next((s for s in inner.get("anyOf", []) if s.get("type") != "null"), inner)
            target.update(schema)


def contract_openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """The OpenAPI document of ``app`` as served at ``/openapi.json``."""
    doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for model in (ErrorBody, AnalysisRequest):  # referred to by hand-written bodies, or by every error
        components.setdefault(model.__name__, model.model_json_schema(ref_template="#/components/schemas/{model}"))
    doc["components"]["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key from `rca api-key create`."}
    }
    for path, item in doc["paths"].items():
        for method, op in item.items():
            _hoist_defs(op, components)
            codes = set()
            if op.get("parameters") or op.get("requestBody"):
                codes.add("422")
            if op.get("requestBody"):
                codes |= {"400", "413"}
            if _authenticated(path):
                codes |= {"401", "403"}
                op["security"] = [{"apiKey": []}]
            responses = op.setdefault("responses", {})
            for code in sorted(codes | {c for c in responses if c[0] in "45"}):
                responses[code] = {
                    "description": responses.get(code, {}).get("description") or _DESCRIPTIONS.get(code, "Error."),
                    "content": {"application/json": {"schema": dict(_ERROR_REF)}},
                }
            if path == "/v1/analyses" and method == "get":
                _set_param(op, "limit", maximum=settings.page_size_max)
                _set_param(op, "cursor", pattern=ANALYSIS_CURSOR_PATTERN)
    _hoist_defs(components, components)
    return doc


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Serve :func:`contract_openapi` (built once, on the first request for it)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = contract_openapi(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
