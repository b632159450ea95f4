"""``GET /v1/incidents`` and ``GET /v1/incidents/{id}``: alerts grouped into incidents, with their analysis.

An incident is made by the alert worker (:mod:`rca.integrations.alerts.grouping`):
each alert's grouping decision is kept with its reason, and the incident has one
analysis of all its symptoms (:mod:`rca.integrations.alerts.incident_worker`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from rca.service.deps import ReadKey, SessionDep
from rca.service.errors import ApiError
from rca.service.params import DB_INT_MAX
from rca.service.routes.analyses import public_of
from rca.service.schemas import AnalysisPublic, ErrorBody
from rca.store.alerts import AlertRow
from rca.store.incidents import (
    INCIDENT_STATUSES,
    IncidentAlertRow,
    IncidentRow,
    json_list,
)
from rca.store.models import AnalysisRow

__all__ = ["router"]

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])


class IncidentSummary(BaseModel):
    """An incident as listed."""

    id: int
    status: str = Field(description="open | closed")
    title: str | None = Field(description="Title of the alert that opened it.")
    services: list[str] = Field(description="Services of its alerts that are in the topology.")
    unknown_services: list[str] = Field(description="Services of its alerts outside the topology (grouped by time and labels).")
    roots: list[str] = Field(description="Services that each of its alerts' services is or depends on (link = roots).")
    alerts: int
    first_alert_at: datetime
    last_alert_at: datetime
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    analysis_id: str | None = Field(description="Its current analysis (of all its symptoms).")
    analyses: int = Field(description="Analyses run so far (a rerun when alerts joined after the last one).")
    top_cause: str | None = Field(description="Top cause of the last analysis written back.")
    notes_seq: int = Field(description="Sequence number of the last incident.updated webhook event.")


class IncidentAlert(BaseModel):
    """One alert of an incident, with the grouping decision."""

    id: int
    source: str
    status: str
    service: str | None
    metric: str | None
    title: str | None
    started_at: datetime | None
    resolved_at: datetime | None
    analysis_state: str
    opened_incident: bool = Field(description="True for the alert that opened the incident.")
    hops: int | None = Field(description="Call hops to the incident's services when it joined (None: outside the topology).")
    reason: str = Field(description="Why it joined (or opened) this incident.")


class IncidentDetail(IncidentSummary):
    """An incident with its alerts (and why each joined) and its analysis."""

    alert_list: list[IncidentAlert] = Field(description="Its alerts, oldest first, each with its grouping decision.")
    analysis: AnalysisPublic | None = Field(description="Its current analysis, with the result of all its symptoms.")


class IncidentList(BaseModel):
    items: list[IncidentSummary]
    next_cursor: int | None


def _utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


def _summary(row: IncidentRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "title": row.title,
        "services": json_list(row.services),
        "unknown_services": json_list(row.unknown_services),
        "roots": json_list(row.roots),
        "alerts": row.alerts,
        "first_alert_at": _utc(row.first_alert_at),
        "last_alert_at": _utc(row.last_alert_at),
        "opened_at": _utc(row.opened_at),
        "updated_at": _utc(row.updated_at),
        "closed_at": _utc(row.closed_at),
        "close_reason": row.close_reason,
        "analysis_id": row.analysis_id,
        "analyses": row.analyses,
        "top_cause": row.noted_top if row.noted_top and not row.noted_top.startswith("(") else None,
        "notes_seq": row.notes_seq,
    }


@router.get("", response_model=IncidentList, responses={422: {"model": ErrorBody}}, summary="Incidents, newest first")
def list_incidents(
    s: SessionDep,
    _key: ReadKey,
    status: Annotated[Literal["open", "closed"] | None, Query(description=f"One of {', '.join(INCIDENT_STATUSES)}.")] = None,
    service: Annotated[str | None, Query(description="Only incidents with an alert on this service.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int | None, Query(ge=0, le=DB_INT_MAX, description="`next_cursor` of the previous page.")] = None,
) -> IncidentList:
    if status is not None and status not in INCIDENT_STATUSES:
        raise ApiError(422, "validation_error", f"status must be one of {list(INCIDENT_STATUSES)}, got {status!r}", field="status")
    q = select(IncidentRow)
    if status is not None:
        q = q.where(IncidentRow.status == status)
    if service is not None:
        member = (
            select(IncidentAlertRow.incident_id)
            .join(AlertRow, AlertRow.id == IncidentAlertRow.alert_id)
            .where(AlertRow.service == service)
        )
        q = q.where(IncidentRow.id.in_(member))
    if cursor is not None:
        q = q.where(IncidentRow.id < cursor)
    rows = list(s.scalars(q.order_by(IncidentRow.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return IncidentList(items=[IncidentSummary(**_summary(r)) for r in rows], next_cursor=rows[-1].id if more else None)


@router.get(
    "/{incident_id}", response_model=IncidentDetail,
    responses={404: {"model": ErrorBody}}, summary="One incident: its alerts with the grouping decisions, and its analysis",
)  # fmt: skip
def get_incident(incident_id: Annotated[int, Path(ge=1, le=DB_INT_MAX)], s: SessionDep, _key: ReadKey) -> IncidentDetail:
    row = s.get(IncidentRow, incident_id)
    if row is None:
        raise ApiError(404, "incident_not_found", f"incident {incident_id} does not exist", field="incident_id")
    pairs = s.execute(
        select(AlertRow, IncidentAlertRow)
        .join(IncidentAlertRow, IncidentAlertRow.alert_id == AlertRow.id)
        .where(IncidentAlertRow.incident_id == incident_id)
        .order_by(AlertRow.started_at, AlertRow.id)
    ).all()
    alerts = [
        IncidentAlert(
            id=a.id, source=a.source, status=a.status, service=a.service, metric=a.metric, title=a.title,
            started_at=_utc(a.started_at), resolved_at=_utc(a.resolved_at), analysis_state=a.analysis_state,
            opened_incident=bool(d.opened), hops=d.hops, reason=d.reason,
        )
        for a, d in pairs
    ]
    analysis = s.get(AnalysisRow, row.analysis_id) if row.analysis_id else None
    return IncidentDetail(**_summary(row), alert_list=alerts, analysis=public_of(analysis) if analysis else None)
