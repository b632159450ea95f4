"""Every error response of the service is built here: ``{"error", "detail", "field"}``.

=====================================  ======  ===========================
raised                                 status  ``error``
=====================================  ======  ===========================
malformed JSON body                    400     ``malformed_json``
request validation (pydantic)          422     ``validation_error``
``rca.engine.errors.InvalidInputError``       422     ``invalid_<what>`` (e.g. ``invalid_metrics``)
``topology.TopologyError``             422     ``invalid_topology``
:class:`ApiError`                      any     its own code
unknown route / method                 404/405 ``not_found`` / ``method_not_allowed``
anything else                          500     ``internal_error`` (a bug: logged)
=====================================  ======  ===========================
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from rca.engine.errors import (
    InvalidConfigError,
    InvalidIncidentError,
    InvalidInputError,
    InvalidMetricsError,
    InvalidTopologyError,
    did_you_mean,
)
from rca.service.config_schema import config_names
from topology.errors import TopologyError

__all__ = ["ApiError", "error_body", "error_code_for", "install_error_handlers"]

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered as-is: ``status``, a short ``code``, a ``detail`` that says how to fix it."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.headers = headers
        self.extra = extra or {}


def _printable(text: str | None) -> str | None:
    """Input echoed in messages may hold lone surrogates, which UTF-8 cannot carry: escape them."""
    if text is None:
        return None
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_body(code: str, detail: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": code, "detail": _printable(detail), "field": _printable(field), **extra}


def error_code_for(exc: BaseException) -> str:
    """The short code of an input error."""
    for cls, code in (
        (InvalidTopologyError, "invalid_topology"),
        (InvalidMetricsError, "invalid_metrics"),
        (InvalidIncidentError, "invalid_incident"),
        (InvalidConfigError, "invalid_config"),
        (TopologyError, "invalid_topology"),
        (InvalidInputError, "invalid_input"),
    ):
        if isinstance(exc, cls):
            return code
    return "invalid_input"


_UNION_TAGS = {"str", "int", "float", "bool", "none", "list", "dict", "bytes", "is-instance", "lax-or-strict"}


def _is_union_tag(part: str) -> bool:
    """Pydantic adds the member type of a union to error locations; users do not name those."""
    return part in _UNION_TAGS or "[" in part or part.startswith(("function-", "constrained-", "json-or-python"))


def _loc_to_field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header") and not _is_union_tag(str(p))]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or None


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    field = _loc_to_field(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid" and field is None:  # the body itself; a JSON form part is a field
        return JSONResponse(
            error_body("malformed_json", f"the request body is not valid JSON: {first.get('msg')}"),
            status_code=400,
        )
    detail = f"{field or 'request'}: {first.get('msg')}"
    code = "validation_error"
    parts = (field or "").split(".")
    if "config" in parts[:2] and parts[-1] != "config":
        # A parameter of the analysis configuration: named as the engine names it (``granger.max_lag``).
        code, path = "invalid_config", parts[parts.index("config") + 1 :]
        field = ".".join(path)
        if first.get("type") == "extra_forbidden":
            known = config_names(path[:-1])
            detail += f"{did_you_mean(path[-1], known)} (known: {', '.join(known)})"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problem(s))"
    return JSONResponse(error_body(code, detail, field), status_code=422)


async def _input(_: Request, exc: Exception) -> JSONResponse:
    field = getattr(exc, "field", None)
    return JSONResponse(error_body(error_code_for(exc), str(exc), field), status_code=422)


async def _api(_: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.detail, exc.field, **exc.extra), status_code=exc.status, headers=exc.headers
    )


def _allowed_methods(request: Request) -> str:
    """The methods the published OpenAPI document lists for this path (Starlette's ``Allow`` names only one route's)."""
    path = request.url.path
    methods: set[str] = set()
    for template, item in request.app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(path):
            methods |= {m.upper() for m in item}
    return ", ".join(sorted(methods))


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden", 413: "body_too_large"}
    code = codes.get(exc.status_code, f"http_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return JSONResponse(error_body(code, detail), status_code=exc.status_code, headers=headers or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        error_body("internal_error", "the server failed on this request; the error is logged"), status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the one error body."""
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidInputError, _input)
    app.add_exception_handler(TopologyError, _input)
    app.add_exception_handler(ApiError, _api)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
