"""``/v1/analyses``: post an analysis, read it, list them.

``POST`` stores the job and its inputs, then waits for a worker (any server
process) to finish it: 201 with the result.  With ``?wait=false``, or when
the request has more than ``RCA_SYNC_MAX_POINTS`` metric points, or when no
worker starts it within ``RCA_SYNC_WAIT_SECONDS``, it answers 202 with a
``Location`` to poll.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

import rca
from rca.engine.errors import InvalidInputError, InvalidMetricsError, did_you_mean
from rca.integrations.alerts.reruns import follow_rerun
from rca.service.config_schema import ConfigBody, config_dict
from rca.service.deps import (
    DatabaseDep,
    ReadKey,
    RunnerDep,
    SessionDep,
    SettingsDep,
    WriteKey,
)
from rca.service.errors import ApiError, error_body
from rca.service.inputs import (
    TOPOLOGY_FORMATS,
    load_topology,
    metrics_from_records,
    metrics_from_upload,
)
from rca.service.openapi import ANALYSIS_CURSOR_PATTERN
from rca.service.params import Since, check_pattern
from rca.service.routes.topologies import topology_not_found
from rca.service.schemas import (
    AnalysisCreate,
    AnalysisError,
    AnalysisInputs,
    AnalysisList,
    AnalysisPublic,
    AnalysisRequest,
    AnalysisSummary,
    ErrorBody,
    Status,
    Verdict,
)
from rca.service.settings import Settings
from rca.store import repository as repo
from rca.service.evidence_uploads import EVIDENCE_PARTS, check_evidence, pack_evidence, read_evidence_parts
from rca.store.documents import canonicalise_metrics, document_of, graph_from_document
from rca.store.models import AnalysisInputRow, AnalysisRow
from rca.store.session import Database, utcnow
from topology import ServiceGraph, TopologyError

__all__ = ["router"]

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/analyses", tags=["analyses"])

_INPUT_ERRORS = ("invalid_input", "invalid_topology", "invalid_metrics", "invalid_incident", "invalid_config")


# -- presenting rows -------------------------------------------------------------
def _utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else round((b - a).total_seconds(), 6)


def _top_cause(row: AnalysisRow) -> str | None:
    if row.status != "succeeded" or not row.result:
        return None
    causes = json.loads(row.result).get("causes") or []
    return causes[0].get("service") if causes else None


def summary_of(row: AnalysisRow) -> AnalysisSummary:
    return AnalysisSummary(
        id=row.id,
        status=row.status,  # type: ignore[arg-type]
        created_at=_utc(row.created_at),  # type: ignore[arg-type]
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
        incident=json.loads(row.incident),
        top_cause=_top_cause(row),
    )


def public_of(row: AnalysisRow) -> AnalysisPublic:
    error = None
    if row.status == "failed":
        error = AnalysisError(error=row.error_code or "failed", detail=row.error_detail or "", field=row.error_field)
    return AnalysisPublic(
        **summary_of(row).model_dump(),
        inputs=AnalysisInputs(
            topology_name=row.topology_name,
            topology_version=row.topology_version,
            topology_digest=row.topology_digest,
            metrics_digest=row.metrics_digest,
            metrics_points=row.metrics_points,
        ),
        engine_version=row.engine_version,
        config=json.loads(row.config),
        timings={
            "queued_seconds": _seconds(row.created_at, row.started_at),
            "run_seconds": None if row.run_seconds is None else round(row.run_seconds, 6),
            "total_seconds": _seconds(row.created_at, row.finished_at),
        },
        attempts=row.attempts,
        result=None if row.result is None else json.loads(row.result),
        error=error,
        verdict=None if row.verdict is None else Verdict(**repo.verdict_of(row), at=_utc(row.verdict_at)),
    )


# -- reading the request -------------------------------------------------------
def _validation_error(exc: ValidationError, prefix: tuple[str, ...] = ()) -> RequestValidationError:
    errors = [{**e, "loc": (*prefix, *e.get("loc", ()))} for e in exc.errors(include_url=False, include_input=False)]
    return RequestValidationError(errors)


def _parse_json_request(body: bytes) -> tuple[AnalysisRequest, pd.DataFrame]:
    try:
        req = AnalysisCreate.model_validate_json(body)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    frame = metrics_from_records([p.model_dump() for p in req.metrics])
    return req, frame


async def _read_multipart(request: Request, settings: Settings) -> tuple[AnalysisRequest, pd.DataFrame, dict]:
    form = await request.form(max_files=2 + len(EVIDENCE_PARTS), max_fields=10, max_part_size=settings.max_body_bytes)
    try:
        part = form.get("request")
        upload = form.get("metrics")
        if part is None:
            raise ApiError(422, "validation_error", "the multipart body needs a 'request' part (JSON: incident, topology, config)", field="request")
        text = await part.read() if isinstance(part, UploadFile) else part
        try:
            req = AnalysisRequest.model_validate_json(text)
        except ValidationError as exc:
            raise _validation_error(exc, ("request",)) from None
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "validation_error", "the multipart body needs a 'metrics' file part (CSV or Parquet)", field="metrics")
        data = await upload.read()
        frame = await run_in_threadpool(
            metrics_from_upload, data, filename=upload.filename, content_type=upload.content_type
        )
        parts = await read_evidence_parts(form)
        await run_in_threadpool(check_evidence, parts)
        return req, frame, parts
    finally:
        await form.close()


# -- checking and storing -------------------------------------------------------
def _resolve_topology(db: Database, ref: Any) -> tuple[ServiceGraph, str | None, int | None]:
    if ref.name is not None:
        with db.session() as s:
            row = repo.get_topology(s, ref.name, ref.version)
            if row is None:
                raise topology_not_found(ref.name, ref.version, status=422, field="topology.name")
            doc, name, version = row.document, row.name, row.version
        return graph_from_document(json.loads(doc)), name, version
    try:
        if ref.inline is not None:
            return graph_from_document(ref.inline).as_calls(ref.edges), None, None
        if ref.format not in TOPOLOGY_FORMATS:
            raise ApiError(
                422, "unsupported_format", f"unknown topology format {ref.format!r}; use one of: {', '.join(TOPOLOGY_FORMATS)}", field="topology.format"
            )
        return load_topology(ref.data.encode(), ref.format, ref.edges), None, None
    except TopologyError as exc:
        field = f"topology.{'inline' if ref.inline is not None else 'data'}" + (f".{exc.field}" if exc.field else "")
        raise TopologyError(exc.message, field=field, line=exc.line, source=exc.source) from None


def _prepare(db: Database, settings: Settings, req: AnalysisRequest, frame: pd.DataFrame, evidence: dict) -> AnalysisRow:
    """Check the inputs at the door (so an accepted job can run), then store job and inputs."""
    config = rca.RCAConfig.from_dict(config_dict(req.config))
    incident = rca.Incident.from_dict(req.incident, timezone=config.align.timezone)
    graph, topo_name, topo_version = _resolve_topology(db, req.topology)
    if incident.service not in graph:
        raise ApiError(
            422,
            "unknown_service",
            f"the incident's service {incident.service!r} is not a node of the topology ({len(graph)} nodes)",
            field="incident.service",
        )
    if len(frame) > settings.max_metric_points:
        raise ApiError(
            422,
            "too_many_metric_points",
            f"{len(frame)} metric points exceed the limit of {settings.max_metric_points} (RCA_MAX_METRIC_POINTS)",
            field="metrics",
        )
    metrics = canonicalise_metrics(frame)
    known = metrics.services & set(graph.services)
    if not known:
        shown = ", ".join(sorted(metrics.services)[:5])
        raise InvalidMetricsError(
            f"no metric belongs to a service of the topology (metrics name: {shown}); check service names", field="metrics"
        )
    if (incident.service, incident.metric) not in metrics.series:
        own = sorted(m for s, m in metrics.series if s == incident.service)
        hint = did_you_mean(incident.metric, own or {m for _, m in metrics.series})
        raise InvalidMetricsError(
            f"the metrics have no series for the incident ({incident.service!r}, {incident.metric!r}){hint} "
            f"({incident.service} has: {', '.join(own[:12]) or 'no series'})",
            field="incident.metric",
        )
    row = AnalysisRow(
        id=uuid.uuid4().hex,
        status="queued",
        created_at=utcnow(),
        incident=json.dumps(incident.to_dict()),
        incident_service=incident.service,
        config=json.dumps(config.to_dict()),
        topology_name=topo_name,
        topology_version=topo_version,
        topology_digest=graph.digest(),
        metrics_digest=metrics.digest,
        metrics_points=metrics.points,
        attempts=0,
        executions=0,
    )
    inputs = AnalysisInputRow(
        analysis_id=row.id, topology_document=document_of(graph), metrics_csv_gz=metrics.csv_gz, evidence_gz=pack_evidence(evidence)
    )
    with db.session() as s:
        repo.add_analysis(s, row, inputs)
    return row


def _prepare_safely(
    db: Database, settings: Settings, req: AnalysisRequest, frame: pd.DataFrame, evidence: dict | None = None
) -> AnalysisRow:
    """:func:`_prepare`, with any value problem a parser let through answered as 422, never 500."""
    try:
        return _prepare(db, settings, req, frame, evidence or {})
    except (ApiError, InvalidInputError, TopologyError):
        raise
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        logger.warning("request input raised %s: %s", type(exc).__name__, exc)
        raise ApiError(422, "invalid_input", f"the request cannot be used: {type(exc).__name__}: {exc}") from None


def _load(db: Database, analysis_id: str) -> AnalysisRow | None:
    with db.session() as s:
        return repo.get_analysis(s, analysis_id)


async def _wait_for(db: Database, settings: Settings, analysis_id: str, fut: asyncio.Future[None]) -> AnalysisRow | None:
    """The finished row, or None when it did not start within the sync wait (or took too long).

    ``fut`` is set when this process finishes the job; a job run by another
    process is seen by polling the database.
    """
    start = time.monotonic()
    deadline = start + settings.sync_wait_seconds + settings.analysis_timeout_seconds + 5
    while time.monotonic() < deadline:
        if fut.done():  # woken already, yet not finished (its lease was lost): poll at a calm pace
            await asyncio.sleep(0.5)
        else:
            try:
                await asyncio.wait_for(asyncio.shield(fut), timeout=0.5)
            except TimeoutError:
                pass
        row = await run_in_threadpool(_load, db, analysis_id)
        if row is None or row.status in ("succeeded", "failed"):
            return row
        if row.status == "queued" and time.monotonic() - start > settings.sync_wait_seconds:
            return None
    return None


_POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": AnalysisPublic, "description": "Accepted; poll the Location."},
    400: {"model": ErrorBody},
    404: {"model": ErrorBody},
    408: {"model": ErrorBody, "description": "The analysis exceeded RCA_ANALYSIS_TIMEOUT_SECONDS."},
    413: {"model": ErrorBody},
    415: {"model": ErrorBody},
    422: {"model": ErrorBody},
}


@router.post(
    "",
    status_code=201,
    response_model=AnalysisPublic,
    responses=_POST_RESPONSES,
    summary="Run an analysis",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": AnalysisCreate.model_json_schema(ref_template="#/components/schemas/{model}")},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["request", "metrics"],
                        "properties": {
                            "request": {
                                "type": "string",
                                "contentMediaType": "application/json",
                                "description": "JSON: incident, topology, config (the schema `AnalysisRequest`)",
                            },
                            "metrics": {"type": "string", "format": "binary", "description": "CSV or Parquet, long format"},
                            **{p: {"type": "string", "format": "binary", "description": "optional: spans or logs (rca.analyze's formats)"}
                               for p in EVIDENCE_PARTS},
                        },
                    }
                },
            },
        }
    },
)
async def create_analysis(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    runner: RunnerDep,
    _key: WriteKey,
    wait: Annotated[bool, Query(description="Wait for the result (201); false: answer 202 at once.")] = True,
) -> Any:
    """JSON with inline metrics, or multipart with a ``request`` JSON part and a ``metrics`` CSV/Parquet file."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media == "application/json":
        body = await request.body()
        req, frame = await run_in_threadpool(_parse_json_request, body)
        parts: dict = {}
    elif media == "multipart/form-data":
        req, frame, parts = await _read_multipart(request, settings)
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send application/json (inline metrics) or multipart/form-data (metrics file), not {media or '(none)'!r}",
            field="body",
        )
    row = await run_in_threadpool(_prepare_safely, db, settings, req, frame, parts)
    return await _answer(db, settings, runner, row, wait)


async def _answer(db: Database, settings: Settings, runner: Any, row: AnalysisRow, wait: bool) -> JSONResponse:
    """Wake a worker; wait for the outcome when asked and the job is small, else 202."""
    location = f"/v1/analyses/{row.id}"
    if wait and row.metrics_points <= settings.sync_max_points:
        fut = runner.register_waiter(row.id)  # before the wake-up, so a fast job cannot finish unseen
        runner.notify()
        try:
            done = await _wait_for(db, settings, row.id, fut)
        finally:
            runner.drop_waiter(row.id, fut)
        if done is not None:
            return _answer_finished(done, location)
        latest: AnalysisRow | None = await run_in_threadpool(_load, db, row.id)
        row = latest or row
    else:
        runner.notify()
    return JSONResponse(
        public_of(row).model_dump(mode="json"), status_code=202, headers={"Location": location, "Retry-After": "1"}
    )


def _answer_finished(row: AnalysisRow, location: str) -> JSONResponse:
    headers = {"Location": location}
    if row.status == "failed" and row.error_code == "analysis_timeout":
        return JSONResponse(error_body(row.error_code, row.error_detail or "", None, analysis_id=row.id), 408, headers)
    if row.status == "failed" and row.error_code in _INPUT_ERRORS:
        body = error_body(row.error_code, row.error_detail or "", row.error_field, analysis_id=row.id)
        return JSONResponse(body, 422, headers)
    return JSONResponse(public_of(row).model_dump(mode="json"), 201, headers)


def _copy_for_rerun(db: Database, analysis_id: str, config: dict[str, Any] | None) -> AnalysisRow:
    """A new queued analysis on the stored inputs of ``analysis_id`` (its config unless one is given)."""
    with db.session() as s:
        old = repo.get_analysis(s, analysis_id)
        inputs = repo.get_analysis_inputs(s, analysis_id)
        if old is None or inputs is None:
            raise ApiError(404, "analysis_not_found", f"analysis {analysis_id!r} does not exist", field="analysis_id")
        effective = json.loads(old.config) if config is None else rca.RCAConfig.from_dict(config).to_dict()
        row = AnalysisRow(
            id=uuid.uuid4().hex,
            status="queued",
            created_at=utcnow(),
            incident=old.incident,
            incident_service=old.incident_service,
            config=json.dumps(effective),
            topology_name=old.topology_name,
            topology_version=old.topology_version,
            topology_digest=old.topology_digest,
            metrics_digest=old.metrics_digest,
            metrics_points=old.metrics_points,
            attempts=0,
            executions=0,
        )
        copy = AnalysisInputRow(
            analysis_id=row.id, topology_document=inputs.topology_document, metrics_csv_gz=inputs.metrics_csv_gz,
            evidence_gz=inputs.evidence_gz,
        )
        repo.add_analysis(s, row, copy)
    return row


class RerunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: ConfigBody | None = Field(None, description="A different configuration; default: the original one.")  # type: ignore[valid-type]


@router.post(
    "/{analysis_id}/rerun",
    status_code=201,
    response_model=AnalysisPublic,
    responses=_POST_RESPONSES,
    summary="Run a stored analysis again on the same inputs (optionally with another config)",
)
async def rerun_analysis(
    analysis_id: str,
    db: DatabaseDep,
    settings: SettingsDep,
    runner: RunnerDep,
    _key: WriteKey,
    body: RerunRequest | None = None,
    wait: Annotated[bool, Query(description="Wait for the result (201); false: answer 202 at once.")] = True,
) -> Any:
    """The new analysis has the same input digests: compare its result with the original's."""
    row = await run_in_threadpool(_copy_for_rerun, db, analysis_id, config_dict(body.config) if body else None)
    await run_in_threadpool(follow_rerun, db, analysis_id, row.id)  # its alert's ticket gets the new answer
    return await _answer(db, settings, runner, row, wait)


_EPOCH = datetime(1970, 1, 1)


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """``<microseconds since the epoch>.<id>``: any string of that pattern is a valid position."""
    micros, aid = cursor.split(".", 1)
    return _EPOCH + timedelta(microseconds=int(micros)), aid


def _encode_cursor(row: AnalysisRow) -> str:
    return f"{(row.created_at.replace(tzinfo=None) - _EPOCH) // timedelta(microseconds=1)}.{row.id}"


@router.get("", response_model=AnalysisList, responses={422: {"model": ErrorBody}}, summary="List analyses, newest first")
def list_analyses(
    s: SessionDep,
    settings: SettingsDep,
    _key: ReadKey,
    service: Annotated[str | None, Query(description="The incident's service.")] = None,
    status: Annotated[Status | None, Query()] = None,
    since: Annotated[Since | None, Query(description="Created at or after this time (RFC 3339, with a zone).")] = None,
    limit: Annotated[int, Query(ge=1, description="Page size (at most RCA_PAGE_SIZE_MAX).")] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> AnalysisList:
    check_pattern(cursor, ANALYSIS_CURSOR_PATTERN, status=422, code="invalid_cursor", field="cursor",
                  detail="cursor is not one this server returned; start again without it")
    if limit > settings.page_size_max:
        raise ApiError(422, "validation_error", f"limit must be at most {settings.page_size_max} (RCA_PAGE_SIZE_MAX)", field="limit")
    if since is not None and since.tzinfo is not None:
        since = since.astimezone(UTC).replace(tzinfo=None)
    before = _decode_cursor(cursor) if cursor else None
    rows = repo.list_analyses(s, service=service, status=status, since=since, before=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return AnalysisList(items=[summary_of(r) for r in rows], next_cursor=_encode_cursor(rows[-1]) if more else None)


@router.get(
    "/{analysis_id}", response_model=AnalysisPublic, responses={404: {"model": ErrorBody}}, summary="One analysis"
)
def get_analysis(analysis_id: str, s: SessionDep, _key: ReadKey) -> AnalysisPublic:
    row = repo.get_analysis(s, analysis_id)
    if row is None:
        raise ApiError(404, "analysis_not_found", f"analysis {analysis_id!r} does not exist", field="analysis_id")
    return public_of(row)
