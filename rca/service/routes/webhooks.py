"""Alerting webhooks in (``/v1/webhooks/...``) and the stored alerts (``/v1/alerts``).

Each webhook: authenticate the raw body (401) -> parse (422 naming the field)
-> store every alert durably -> 202.  The analysis runs later (see
:mod:`rca.integrations.alerts.worker`): metrics are fetched from Prometheus, the analysis
is queued as a job, and write-backs go through the outbox
(:mod:`rca.integrations.notify.outbox`).

* A duplicate delivery of an alert that is still open counts on the existing
  alert (``receipts``) and starts no second analysis.
* ``resolved`` closes the open alert.
* An alert that cannot be mapped to a topology node is stored as
  ``unmappable`` with the reason, visible at ``GET /v1/alerts``.

Starting and stopping the alert worker and the outbox sender is this
router's lifespan, merged into the app's by ``include_router``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

import rca
from rca.engine.errors import did_you_mean
from rca.integrations.alerts.parsers import AlertEvent, PayloadError, parse_alert
from rca.integrations.alerts.signatures import (
    SignatureError,
    verify_bearer,
    verify_grafana,
    verify_pagerduty,
    verify_token,
)
from rca.service.deps import ReadKey, SessionDep
from rca.service.errors import ApiError
from rca.service.params import DB_INT_MAX
from rca.service.schemas import ErrorBody
from rca.sources.catalog import MetricsCatalog, load_catalog
from rca.store.alerts import ALERT_STATUSES
from rca.store.session import Database, utcnow

# The modules below import rca.service (their tables live on its Base), and rca.service
# imports this module: they are imported where used, so any import order works.
if TYPE_CHECKING:
    from rca.integrations.alerts.settings import AlertSettings
    from rca.store.alerts import AlertRow

__all__ = ["router", "accept_events"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Validate the alerting settings and the metrics catalog, start the worker and the outbox sender."""
    from rca.integrations.alerts.settings import load_alert_settings
    from rca.integrations.alerts.worker import AlertWorker
    from rca.integrations.notify.outbox import OutboxConfig, OutboxSender

    settings: AlertSettings = getattr(app.state, "alert_settings", None) or load_alert_settings()
    catalog = load_catalog(settings.metrics_catalog)  # a bad catalog stops the start, naming the entry
    rca.RCAConfig.from_dict(settings.alert_config)
    db: Database = app.state.db
    sender = OutboxSender(
        db,
        OutboxConfig(
            max_attempts=settings.outbox_max_attempts,
            backoff_seconds=settings.outbox_backoff_seconds,
            backoff_max_seconds=settings.outbox_backoff_max_seconds,
            poll_seconds=settings.outbox_poll_seconds,
            timeout_seconds=settings.outbox_timeout_seconds,
            lease_seconds=settings.outbox_lease_seconds,
            pagerduty_api_token=settings.pagerduty_api_token,
            pagerduty_from=settings.pagerduty_from,
            webhook_secret=settings.notify_webhook_secret,
            tickets=settings.ticket_credentials(),
            slack_bot_token=settings.slack_bot_token,
        ),
    )
    runner = getattr(app.state, "runner", None)
    worker = AlertWorker(
        db, settings, catalog, notify_jobs=runner.notify if runner else (lambda: None), wake_outbox=sender.wake
    )
    app.state.alert_settings = settings
    app.state.alert_catalog = catalog
    app.state.alert_worker = worker
    app.state.outbox = sender
    sender.start()
    worker.start()
    try:
        yield
    finally:
        worker.stop()
        sender.stop()


router = APIRouter(tags=["alerts"], lifespan=_lifespan)


# -- response models ------------------------------------------------------------------
class WebhookAlert(BaseModel):
    id: int
    status: str
    duplicate: bool = False
    service: str | None = None
    reason: str | None = None
    analysis_id: str | None = None


class WebhookAccepted(BaseModel):
    accepted: int
    alerts: list[WebhookAlert]


class WriteBack(BaseModel):
    id: int
    kind: str
    status: str
    attempts: int
    last_error: str | None
    delivered_at: datetime | None


class AlertPublic(BaseModel):
    id: int
    source: str
    dedup_key: str
    status: str
    reason: str | None
    service: str | None
    metric: str | None
    title: str | None
    external_id: str | None
    started_at: datetime | None
    received_at: datetime
    resolved_at: datetime | None
    receipts: int
    analysis_state: str
    analysis_id: str | None
    error: str | None


class AlertDetail(AlertPublic):
    raw: Any
    write_backs: list[WriteBack]


class AlertList(BaseModel):
    items: list[AlertPublic]
    next_cursor: int | None


def _utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


def _public(row: AlertRow) -> dict[str, Any]:
    return {
        **{k: getattr(row, k) for k in AlertPublic.model_fields if k not in ("started_at", "received_at", "resolved_at")},
        "started_at": _utc(row.started_at),
        "received_at": _utc(row.received_at),
        "resolved_at": _utc(row.resolved_at),
    }


# -- storing ----------------------------------------------------------------------------
def _naive(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.astimezone(UTC).replace(tzinfo=None)


def _open_row(s: Any, ev: AlertEvent) -> AlertRow | None:
    from rca.store.alerts import AlertRow

    return s.scalar(select(AlertRow).where(AlertRow.source == ev.source, AlertRow.open_key == ev.dedup_key))


def _mapping_problem(s: Any, settings: AlertSettings, catalog: MetricsCatalog, ev: AlertEvent) -> str | None:
    """Why ``ev`` cannot be analysed, or None."""
    from rca.integrations.alerts.worker import load_alert_graph

    if ev.service is None:
        return ev.reason or "the alert names no service"
    if ev.metric not in catalog.metrics:
        return (
            f"metric {ev.metric!r} is not in the metrics catalog {catalog.source!r}{did_you_mean(str(ev.metric), catalog.metrics)} "
            f"(known: {', '.join(sorted(catalog.metrics))}); set the alert label {settings.alert_metric_label!r}"
        )
    loaded = load_alert_graph(s, settings.alert_topology)
    if loaded is None:
        return f"topology {settings.alert_topology!r} does not exist (RCA_ALERT_TOPOLOGY); PUT it at /v1/topologies/{settings.alert_topology}"
    graph, version = loaded.graph, loaded.version
    if ev.service not in graph:
        return (
            f"service {ev.service!r} is not a node of topology {settings.alert_topology!r} v{version}"
            f"{did_you_mean(ev.service, graph.services)}; map it with RCA_ALERT_SERVICE_MAP or RCA_ALERT_SERVICE_LABELS"
        )
    return None


def _new_row(ev: AlertEvent, status: str, *, reason: str | None, open_key: str | None, state: str) -> AlertRow:
    from rca.store.alerts import AlertRow

    now = utcnow()
    return AlertRow(
        source=ev.source,
        dedup_key=ev.dedup_key[:256],
        open_key=None if open_key is None else open_key[:256],
        status=status,
        reason=reason,
        service=ev.service,
        metric=ev.metric,
        title=(ev.title or "")[:512] or None,
        external_id=ev.external_id,
        started_at=_naive(ev.started_at),
        received_at=now,
        resolved_at=now if status == "resolved" else None,
        receipts=1,
        raw=json.dumps(ev.raw, default=str),
        analysis_state=state,
    )


def _count_receipt(s: Any, row: AlertRow) -> None:
    from rca.store.alerts import AlertRow

    # In SQL, not read-modify-write: concurrent duplicates must all count.
    s.execute(update(AlertRow).where(AlertRow.id == row.id).values(receipts=AlertRow.receipts + 1))


def _duplicate(s: Any, row: AlertRow) -> WebhookAlert:
    _count_receipt(s, row)
    return WebhookAlert(id=row.id, status=row.status, duplicate=True, service=row.service, reason=row.reason, analysis_id=row.analysis_id)


def _store_event(db: Database, settings: AlertSettings, catalog: MetricsCatalog, ev: AlertEvent) -> WebhookAlert:
    if ev.action == "ignore":
        with db.session() as s:
            row = _new_row(ev, "ignored", reason=ev.reason, open_key=None, state="none")
            s.add(row)
            s.flush()
            return WebhookAlert(id=row.id, status="ignored", reason=ev.reason)
    if ev.action == "resolve":
        with db.session() as s:
            row = _open_row(s, ev)
            if row is not None:
                row.status, row.open_key, row.resolved_at = "resolved", None, utcnow()
                s.flush()
                _count_receipt(s, row)
                return WebhookAlert(id=row.id, status="resolved", service=row.service, analysis_id=row.analysis_id)
            row = _new_row(ev, "resolved", reason="resolved without an open alert (nothing to close)", open_key=None, state="none")
            s.add(row)
            s.flush()
            return WebhookAlert(id=row.id, status="resolved", service=row.service, reason=row.reason)
    for _ in range(3):
        try:
            with db.session() as s:
                existing = _open_row(s, ev)
                if existing is not None:
                    return _duplicate(s, existing)
                problem = _mapping_problem(s, settings, catalog, ev)
                if problem:
                    row = _new_row(ev, "unmappable", reason=problem, open_key=ev.dedup_key, state="none")
                else:
                    row = _new_row(ev, "firing", reason=None, open_key=ev.dedup_key, state="pending")
                s.add(row)
                s.flush()
                return WebhookAlert(id=row.id, status=row.status, service=row.service, reason=row.reason)
        except IntegrityError:
            continue  # a concurrent delivery of the same alert won: it is a duplicate now
    raise ApiError(409, "conflict", f"alert {ev.dedup_key!r} is being stored concurrently; retry")


def _store(db: Database, settings: AlertSettings, catalog: MetricsCatalog, events: list[AlertEvent]) -> list[WebhookAlert]:
    return [_store_event(db, settings, catalog, ev) for ev in events]


async def _accept(request: Request, source: str, body: bytes) -> JSONResponse:
    settings: AlertSettings = request.app.state.alert_settings
    try:
        events = parse_alert(source, body, settings.parser_config())
    except PayloadError as exc:
        raise ApiError(422, "invalid_payload", str(exc), field=exc.field) from None
    return await accept_events(request, events)


async def accept_events(request: Request, events: list[AlertEvent]) -> JSONResponse:
    """Store parsed events (dedup, resolve, unmappable), wake the worker, answer 202 (used by the ticket routes too)."""
    settings: AlertSettings = request.app.state.alert_settings
    stored = await run_in_threadpool(_store, request.app.state.db, settings, request.app.state.alert_catalog, events)
    if any(a.status == "firing" and not a.duplicate for a in stored):
        request.app.state.alert_worker.wake()
    out = WebhookAccepted(accepted=len(stored), alerts=stored)
    return JSONResponse(out.model_dump(mode="json"), status_code=202)


def _unauthorized(exc: SignatureError) -> ApiError:
    return ApiError(401, "unauthorized", exc.message, field=exc.field)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": WebhookAccepted, "description": "Stored; the analysis runs in the background."},
    401: {"model": ErrorBody, "description": "Missing or wrong signature / token."},
    422: {"model": ErrorBody, "description": "Malformed payload; `field` names the part."},
}


@router.post("/v1/webhooks/alertmanager", status_code=202, response_model=WebhookAccepted, responses=_RESPONSES,
             summary="Alertmanager webhook (payload version 4)")
async def alertmanager_webhook(request: Request) -> JSONResponse:
    """Needs ``Authorization: Bearer <RCA_ALERTMANAGER_TOKENS>`` (Alertmanager's ``http_config.authorization``)."""
    body = await request.body()
    try:
        verify_bearer(request.headers.get("authorization"), request.app.state.alert_settings.alertmanager_tokens)
    except SignatureError as exc:
        raise _unauthorized(exc) from None
    return await _accept(request, "alertmanager", body)


@router.post("/v1/webhooks/grafana", status_code=202, response_model=WebhookAccepted, responses=_RESPONSES,
             summary="Grafana-managed alerting webhook")
async def grafana_webhook(request: Request) -> JSONResponse:
    """HMAC-SHA256 when ``RCA_GRAFANA_SECRET`` is set; otherwise ``Authorization: Bearer <RCA_GRAFANA_TOKENS>``."""
    body = await request.body()
    settings: AlertSettings = request.app.state.alert_settings
    try:
        if settings.grafana_secret:
            verify_grafana(
                body,
                request.headers,
                settings.grafana_secret,
                signature_headers=settings.grafana_signature_headers,
                timestamp_header=settings.grafana_timestamp_header,
            )
        else:
            verify_bearer(request.headers.get("authorization"), settings.grafana_tokens,
                          setting="RCA_GRAFANA_SECRET or RCA_GRAFANA_TOKENS")
    except SignatureError as exc:
        raise _unauthorized(exc) from None
    return await _accept(request, "grafana", body)


@router.post("/v1/webhooks/pagerduty", status_code=202, response_model=WebhookAccepted, responses=_RESPONSES,
             summary="PagerDuty V3 webhook")
async def pagerduty_webhook(request: Request) -> JSONResponse:
    """Verified with ``X-PagerDuty-Signature`` against ``RCA_PAGERDUTY_WEBHOOK_SECRETS``."""
    body = await request.body()
    try:
        verify_pagerduty(body, request.headers.get("x-pagerduty-signature"),
                         request.app.state.alert_settings.pagerduty_webhook_secrets)
    except SignatureError as exc:
        raise _unauthorized(exc) from None
    return await _accept(request, "pagerduty", body)


@router.post("/v1/webhooks/opsgenie", status_code=202, response_model=WebhookAccepted, responses=_RESPONSES,
             summary="Opsgenie outgoing webhook")
async def opsgenie_webhook(request: Request) -> JSONResponse:
    """Needs the shared token ``RCA_OPSGENIE_TOKENS`` in ``RCA_OPSGENIE_TOKEN_HEADER`` (default ``X-RCA-Token``)."""
    body = await request.body()
    settings: AlertSettings = request.app.state.alert_settings
    try:
        verify_token(request.headers.get(settings.opsgenie_token_header), settings.opsgenie_tokens,
                     header=settings.opsgenie_token_header, setting="RCA_OPSGENIE_TOKENS")
    except SignatureError as exc:
        raise _unauthorized(exc) from None
    return await _accept(request, "opsgenie", body)


# -- reading ------------------------------------------------------------------------------
@router.get("/v1/alerts", response_model=AlertList, responses={422: {"model": ErrorBody}}, summary="Stored alerts, newest first")
def list_alerts(
    s: SessionDep,
    _key: ReadKey,
    status: Annotated[Literal[ALERT_STATUSES] | None, Query(description="The alert's state.")] = None,  # type: ignore[valid-type]
    source: Annotated[str | None, Query()] = None,
    service: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int | None, Query(ge=1, le=DB_INT_MAX, description="`next_cursor` of the previous page.")] = None,
) -> AlertList:
    from rca.store.alerts import AlertRow

    q = select(AlertRow)
    if status is not None:
        q = q.where(AlertRow.status == status)
    if source is not None:
        q = q.where(AlertRow.source == source)
    if service is not None:
        q = q.where(AlertRow.service == service)
    if cursor is not None:
        q = q.where(AlertRow.id < cursor)
    rows = list(s.scalars(q.order_by(AlertRow.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AlertList(items=[AlertPublic(**_public(r)) for r in rows], next_cursor=rows[-1].id if more else None)


@router.get("/v1/alerts/{alert_id}", response_model=AlertDetail, responses={404: {"model": ErrorBody}}, summary="One alert")
def get_alert(alert_id: Annotated[int, Path(ge=1, le=DB_INT_MAX)], s: SessionDep, _key: ReadKey) -> AlertDetail:
    from rca.store.alerts import AlertRow
    from rca.store.deliveries import DeliveryRow

    row = s.get(AlertRow, alert_id)
    if row is None:
        raise ApiError(404, "alert_not_found", f"alert {alert_id} does not exist", field="alert_id")
    writes = s.scalars(select(DeliveryRow).where(DeliveryRow.alert_id == alert_id).order_by(DeliveryRow.id))
    return AlertDetail(
        **_public(row),
        raw=json.loads(row.raw),
        write_backs=[
            WriteBack(id=d.id, kind=d.kind, status=d.status, attempts=d.attempts, last_error=d.last_error,
                      delivered_at=_utc(d.delivered_at))
            for d in writes
        ],
    )
