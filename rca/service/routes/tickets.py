"""Ticketing and monitoring webhooks in: ServiceNow, Jira, Splunk, Dynatrace, and mapped generic ones.

Same contract as :mod:`rca.service.routes.webhooks` (401 unauthenticated, 422 naming the
field, 202 stored; duplicates of an open ticket start nothing; closing closes), and the same
worker, outbox and ``/v1/alerts``.  A generic payload whose mapping selects nothing is stored
as ``unmappable`` with the reason and answered 422 naming the path.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rca.engine.errors import did_you_mean
from rca.integrations.alerts.parsers import PayloadError, _load
from rca.integrations.alerts.signatures import SignatureError
from rca.integrations.tickets.auth import (
    verify_hmac_header,
    verify_jira,
    verify_servicenow,
    verify_token_or_bearer,
)
from rca.integrations.tickets.generic import UnmappablePayloadError, parse_generic
from rca.integrations.tickets.parsers import (
    parse_dynatrace,
    parse_jira,
    parse_servicenow,
    parse_splunk,
)
from rca.service.errors import ApiError
from rca.service.routes.webhooks import _RESPONSES, WebhookAccepted, accept_events
from rca.sources.prometheus import _duration
from rca.store.session import Database, utcnow

if TYPE_CHECKING:
    from rca.integrations.alerts.settings import AlertSettings

__all__ = ["router"]

router = APIRouter(tags=["alerts"])


def _settings(request: Request) -> AlertSettings:
    return request.app.state.alert_settings


def _unauthorized(exc: SignatureError) -> ApiError:
    return ApiError(401, "unauthorized", exc.message, field=exc.field)


def _invalid(exc: PayloadError) -> ApiError:
    return ApiError(422, "invalid_payload", str(exc), field=exc.field)


def _config(settings: AlertSettings) -> Any:
    return settings.ticket_parser_config(settings.alert_default_metric, settings.alert_service_map)


def _default_start(settings: AlertSettings) -> datetime:
    """For payloads without a time: the incident window is the last RCA_ALERT_WINDOW before receipt."""
    return datetime.now(UTC) - _duration(settings.alert_window, "RCA_ALERT_WINDOW").to_pytimedelta()


@router.post("/v1/webhooks/servicenow", status_code=202, response_model=WebhookAccepted, responses=_RESPONSES,
             summary="ServiceNow incident (Business Rule / Flow Designer REST step)")
async def servicenow_webhook(request: Request) -> JSONResponse:
    """``RCA_SERVICENOW_TOKENS`` in ``RCA_SERVICENOW_TOKEN_HEADER``, or Basic auth from ``RCA_SERVICENOW_BASIC_AUTH``."""
    body = await request.body()
    st = _settings(request)
    try:
        verify_servicenow(request.headers, st.servicenow_tokens, st.servicenow_basic_auth, header=st.servicenow_token_header)
        events = parse_servicenow(body, _config(st))
    except SignatureError as exc:
        raise _unauthorized(exc) from None
    except PayloadError as exc:
        raise _invalid(exc) from None
    return await accept_events(request, events)


@router.post("/v1/webhooks/jira", status_code=202, response_model=WebhookAccepted, responses=_RESPONSES,
             summary="Jira issue webhook (jira:issue_created, jira:issue_updated)")
async def jira_webhook(request: Request) -> JSONResponse:
    """``X-Hub-Signature`` with ``RCA_JIRA_WEBHOOK_SECRETS``, or a token from ``RCA_JIRA_TOKENS``."""
    body = await request.body()
    st = _settings(request)
    try:
        verify_jira(body, request.headers, st.jira_webhook_secrets, st.jira_tokens, header=st.jira_token_header)
        events = parse_jira(body, _config(st))
    except SignatureError as exc:
        raise _unauthorized(exc) from None
    except PayloadError as exc:
        raise _invalid(exc) from None
    return await accept_events(request, events)


@router.post("/v1/webhooks/splunk", status_code=202, response_model=WebhookAccepted, responses=_RESPONSES,
             summary="Splunk webhook alert action")
async def splunk_webhook(request: Request) -> JSONResponse:
    """``?token=<RCA_SPLUNK_TOKENS>`` in the URL (Splunk sends no custom headers; this route alone accepts it)."""
    body = await request.body()
    st = _settings(request)
    try:
        verify_token_or_bearer(request.headers, st.splunk_tokens, header="X-RCA-Token", setting="RCA_SPLUNK_TOKENS",
                               query_token=request.query_params.get("token") or "")
        events = parse_splunk(body, _config(st), default_start=_default_start(st))
    except SignatureError as exc:
        raise _unauthorized(exc) from None
    except PayloadError as exc:
        raise _invalid(exc) from None
    return await accept_events(request, events)


@router.post("/v1/webhooks/dynatrace", status_code=202, response_model=WebhookAccepted, responses=_RESPONSES,
             summary="Dynatrace problem notification (custom integration)")
async def dynatrace_webhook(request: Request) -> JSONResponse:
    """``X-RCA-Token`` or ``Authorization: Bearer`` with ``RCA_DYNATRACE_TOKENS``."""
    body = await request.body()
    st = _settings(request)
    try:
        verify_token_or_bearer(request.headers, st.dynatrace_tokens, header="X-RCA-Token", setting="RCA_DYNATRACE_TOKENS")
        events = parse_dynatrace(body, _config(st), default_start=_default_start(st))
    except SignatureError as exc:
        raise _unauthorized(exc) from None
    except PayloadError as exc:
        raise _invalid(exc) from None
    return await accept_events(request, events)


def _store_unmappable(db: Database, source: str, doc: Any, reason: str) -> int:
    from rca.store.alerts import AlertRow

    now = utcnow()
    with db.session() as s:
        row = AlertRow(source=source, dedup_key="unmappable", open_key=None, status="unmappable", reason=reason[:2000],
                       received_at=now, receipts=1, raw=json.dumps(doc, default=str), analysis_state="none")
        s.add(row)
        s.flush()
        return row.id


@router.post("/v1/webhooks/generic/{name}", status_code=202, response_model=WebhookAccepted,
             responses={**_RESPONSES, 404: {"description": "No mapping of that name."}},
             summary="Any tool, through the mapping RCA_GENERIC_WEBHOOKS[name]")
async def generic_webhook(name: str, request: Request) -> JSONResponse:
    """Authenticated as the mapping says (``tokens`` or ``hmac_secret``); parsed through its paths."""
    body = await request.body()
    st = _settings(request)
    mapping = st.generic_webhooks.get(name)
    if mapping is None:
        known = sorted(st.generic_webhooks)
        raise ApiError(404, "webhook_not_found",
                       f"no generic webhook named {name!r} (RCA_GENERIC_WEBHOOKS has {known}){did_you_mean(name, known)}",
                       field="name")
    try:
        if mapping.hmac_secret:
            verify_hmac_header(body, request.headers, [mapping.hmac_secret], header=mapping.hmac_header,
                               prefix=mapping.hmac_prefix)
        else:
            verify_token_or_bearer(request.headers, mapping.tokens, header=mapping.token_header,
                                   setting=f"RCA_GENERIC_WEBHOOKS[{name!r}].tokens")
        events = parse_generic(name, body, mapping, default_metric=st.alert_default_metric,
                               service_map=st.alert_service_map, default_start=_default_start(st))
    except SignatureError as exc:
        raise _unauthorized(exc) from None
    except UnmappablePayloadError as exc:
        alert_id = await run_in_threadpool(_store_unmappable, request.app.state.db, f"generic:{name}", _load(body), str(exc))
        raise ApiError(422, "unmappable_payload", f"{exc} (stored as unmappable alert {alert_id})", field=exc.field) from None
    except PayloadError as exc:
        raise _invalid(exc) from None
    return await accept_events(request, events)
