"""Any tool through a declared mapping: ``POST /v1/webhooks/generic/{name}``.

A mapping (one per name, in ``RCA_GENERIC_WEBHOOKS``) says where the alert's parts are:
a path starting with ``/`` is a JSON Pointer (RFC 6901, the ``jsonpointer`` package),
anything else is a JMESPath expression (the ``jmespath`` package)::

    {"appdynamics": {
        "id": "/event/id", "service": "/application/name", "start": "/event/time",
        "status": "/event/type", "resolved_values": ["POLICY_CLOSE_CRITICAL"],
        "title": "/event/summary", "metric": "/rca_metric", "tokens": ["s3cret"]}}

``id`` and ``service`` are required; ``metric`` falls back to ``default_metric``, ``start``
to ``default_start`` (the routes: the receipt time minus ``RCA_ALERT_WINDOW``), ``status`` to "always firing".  A required path that selects nothing
raises :class:`UnmappablePayloadError` naming the path (answered 422, the payload stored
as ``unmappable``).  Authentication: ``tokens`` in ``token_header`` (default
``X-RCA-Token``, or ``Authorization: Bearer``), or ``hmac_secret``: the hex HMAC-SHA256 of
the raw body in ``hmac_header``, optionally after ``hmac_prefix`` (``sha256=``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import jmespath
import jsonpointer
from pydantic import BaseModel, ConfigDict, Field, field_validator

from rca.integrations.alerts.parsers import AlertEvent, PayloadError, _load
from rca.integrations.tickets.parsers import parse_time

__all__ = ["GenericMapping", "UnmappablePayloadError", "parse_generic", "select_path", "validate_mappings", "GENERIC_NAME"]

GENERIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,22}$")
"""A mapping's name: it becomes the alert source ``generic:<name>`` (32 characters at most)."""


class UnmappablePayloadError(PayloadError):
    """The payload is JSON but a required path of the mapping selects nothing in it."""


class GenericMapping(BaseModel):
    """One named mapping of ``RCA_GENERIC_WEBHOOKS``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Path of the alert's stable id (dedup).")
    service: str = Field(description="Path of the service name.")
    metric: str | None = Field(None, description="Path of the symptom metric.")
    default_metric: str | None = Field(None, description="Metric when `metric` is unset or selects nothing.")
    start: str | None = Field(None, description="Path of the start time (RFC 3339 or unix s/ms); default: receipt.")
    status: str | None = Field(None, description="Path of the status; absent: every delivery fires.")
    resolved_values: list[str] = Field(default_factory=lambda: ["resolved", "closed", "ok"],
                                       description="Status values (case-insensitive) that close the alert.")
    title: str | None = Field(None, description="Path of a title.")
    service_map: dict[str, str] = Field(default_factory=dict, description="Renames to topology node names.")
    tokens: list[str] = Field(default_factory=list, description="Shared tokens accepted.")
    token_header: str = Field("X-RCA-Token", description="Header carrying the token (or Authorization: Bearer).")
    hmac_secret: str | None = Field(None, description="Secret of an HMAC-SHA256 signature of the body.")
    hmac_header: str = Field("X-Signature", description="Header carrying the hex signature.")
    hmac_prefix: str = Field("", description="Prefix before the hex, e.g. 'sha256='.")

    @field_validator("id", "service", "metric", "start", "status", "title")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if v.startswith("/") or v == "":
            try:
                jsonpointer.JsonPointer(v)
            except jsonpointer.JsonPointerException as exc:
                raise ValueError(f"{v!r} is not a JSON Pointer: {exc}") from None
        else:
            try:
                jmespath.compile(v)
            except jmespath.exceptions.ParseError as exc:
                raise ValueError(f"{v!r} is not a JMESPath expression (start a JSON Pointer with '/'): {exc}") from None
        return v

    def check_auth_configured(self, name: str) -> None:
        if not self.tokens and not self.hmac_secret:
            raise ValueError(f"generic webhook {name!r} needs tokens or hmac_secret")


_MISSING = object()


def select_path(doc: Any, path: str) -> Any:
    """The value at ``path`` (JSON Pointer if it starts with ``/``, else JMESPath), or None when it selects nothing."""
    if path.startswith("/") or path == "":
        value = jsonpointer.resolve_pointer(doc, path, _MISSING)
        return None if value is _MISSING else value
    return jmespath.search(path, doc)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool | Mapping | list):
        return None
    s = str(value).strip()
    return s or None


def parse_generic(
    name: str, body: bytes | str | Mapping[str, Any], mapping: GenericMapping, *, default_metric: str = "latency",
    service_map: Mapping[str, str] | None = None, default_start: datetime | None = None,
) -> list[AlertEvent]:
    """One event from a payload through ``mapping``; ``UnmappablePayloadError`` names a path that selects nothing."""
    doc = _load(body)
    source = f"generic:{name}"

    def need(field: str, path: str) -> str:
        value = _text(select_path(doc, path))
        if value is None:
            raise UnmappablePayloadError(f"the mapping's {field} path {path!r} selects nothing in the payload", field=path)
        return value

    key = need("id", mapping.id)
    title = _text(select_path(doc, mapping.title)) if mapping.title else None
    if mapping.status:
        status = _text(select_path(doc, mapping.status))
        if status is not None and status.lower() in {v.lower() for v in mapping.resolved_values}:
            return [AlertEvent(source, key, "resolve", None, default_metric, None, key, title, None, doc)]
    raw_service = need("service", mapping.service)
    renames = {**(service_map or {}), **mapping.service_map}
    service = renames.get(raw_service, raw_service)
    metric = (_text(select_path(doc, mapping.metric)) if mapping.metric else None) or mapping.default_metric or default_metric
    started = default_start or datetime.now(UTC)
    if mapping.start:
        when = select_path(doc, mapping.start)
        if when is None:
            raise UnmappablePayloadError(f"the mapping's start path {mapping.start!r} selects nothing in the payload",
                                         field=mapping.start)
        started = parse_time(when, mapping.start)
    return [AlertEvent(source, key, "trigger", service, metric, started, key, title, None, doc)]


def validate_mappings(mappings: Mapping[str, GenericMapping]) -> Sequence[str]:
    """The names, checked: the charset of :data:`GENERIC_NAME` and an authentication scheme each."""
    for name, m in mappings.items():
        if not GENERIC_NAME.match(name):
            raise ValueError(f"generic webhook name {name!r} must match {GENERIC_NAME.pattern}")
        m.check_auth_configured(name)
    return list(mappings)
