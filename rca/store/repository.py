"""Repository functions: every query of the service, one function each.

Functions take a :class:`~sqlalchemy.orm.Session` (or the :class:`Database`
for the job-claiming ones, which manage their own transactions) and return
rows; the routes turn rows into response models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rca.store.models import AnalysisInputRow, AnalysisRow, ApiKeyRow, TopologyRow
from rca.store.session import Database, utcnow

__all__ = [
    "add_topology_version",
    "get_topology",
    "list_topologies",
    "delete_topology",
    "add_analysis",
    "get_analysis",
    "get_analysis_inputs",
    "list_analyses",
    "count_analyses_by_status",
    "claim_next_job",
    "renew_leases",
    "release_lost_job",
    "finish_job",
    "requeue_owned_jobs",
    "reap_expired_leases",
    "ReapReport",
    "add_api_key",
    "find_api_key",
    "count_api_keys",
]


def _count(res: Result[Any]) -> int:
    """Rows matched by an UPDATE (the compare-and-set outcome)."""
    return int(cast("CursorResult[Any]", res).rowcount or 0)


# -- topologies -----------------------------------------------------------------
def add_topology_version(
    db: Database, *, name: str, format: str, digest: str, document: str, services: int, calls: int
) -> TopologyRow:
    """Store a new version of ``name`` (1 + the highest one, deleted ones included)."""
    for _ in range(20):  # two writers racing for one version number: the loser retries
        try:
            with db.session() as s:
                latest = s.scalar(select(func.max(TopologyRow.version)).where(TopologyRow.name == name))
                row = TopologyRow(
                    name=name,
                    version=(latest or 0) + 1,
                    format=format,
                    digest=digest,
                    document=document,
                    services=services,
                    calls=calls,
                    created_at=utcnow(),
                    deleted=False,
                )
                s.add(row)
            return row
        except IntegrityError:
            continue
    raise RuntimeError(f"could not allocate a version for topology {name!r}")


def get_topology(s: Session, name: str, version: int | None = None) -> TopologyRow | None:
    """The latest (or the given) live version of ``name``; None when absent or deleted."""
    q = select(TopologyRow).where(TopologyRow.name == name, TopologyRow.deleted.is_(False))
    if version is not None:
        q = q.where(TopologyRow.version == version)
    return s.scalar(q.order_by(TopologyRow.version.desc()).limit(1))


def list_topologies(s: Session) -> list[TopologyRow]:
    """The latest live version of every topology, by name."""
    latest = (
        select(TopologyRow.name, func.max(TopologyRow.version).label("v"))
        .where(TopologyRow.deleted.is_(False))
        .group_by(TopologyRow.name)
        .subquery()
    )
    q = select(TopologyRow).join(
        latest, (TopologyRow.name == latest.c.name) & (TopologyRow.version == latest.c.v)
    )
    return list(s.scalars(q.order_by(TopologyRow.name)))


def delete_topology(s: Session, name: str) -> int:
    """Mark every version of ``name`` deleted; analyses keep their copy. Returns versions deleted."""
    res = s.execute(
        update(TopologyRow).where(TopologyRow.name == name, TopologyRow.deleted.is_(False)).values(deleted=True)
    )
    return _count(res)


# -- analyses -----------------------------------------------------------------
def add_analysis(s: Session, row: AnalysisRow, inputs: AnalysisInputRow) -> None:
    s.add(row)
    s.flush()  # the parent first: the inputs' foreign key points to it
    s.add(inputs)


def get_analysis(s: Session, analysis_id: str) -> AnalysisRow | None:
    return s.get(AnalysisRow, analysis_id)


def set_verdict(s: Session, analysis_id: str, root_causes: list[str], note: str | None, at: datetime) -> AnalysisRow | None:
    """Record (or replace) the verdict of an analysis; None when it does not exist."""
    row = s.get(AnalysisRow, analysis_id)
    if row is None:
        return None
    row.verdict = json.dumps({"root_causes": root_causes, "note": note}, sort_keys=True)
    row.verdict_at = at
    s.flush()
    return row


def verdict_of(row: AnalysisRow) -> dict[str, Any] | None:
    """The verdict stored on ``row`` (``{"root_causes": [...], "note": ...}``), None before one is given."""
    return None if row.verdict is None else json.loads(row.verdict)


def _with_verdict(stmt: Any) -> Any:
    """``stmt`` restricted to analyses with a verdict, oldest verdict first."""
    return stmt.where(AnalysisRow.verdict.is_not(None)).order_by(AnalysisRow.verdict_at, AnalysisRow.id)


def verdict_rows(s: Session, *, topology: str | None = None, since: datetime | None = None) -> list[AnalysisRow]:
    """Analyses with a verdict (optionally of one stored topology, given at or after ``since``)."""
    stmt = select(AnalysisRow)
    if topology is not None:
        stmt = stmt.where(AnalysisRow.topology_name == topology)
    if since is not None:
        stmt = stmt.where(AnalysisRow.verdict_at >= since)
    return list(s.scalars(_with_verdict(stmt)))


def analyses_with_verdicts(s: Session) -> list[tuple[AnalysisRow, AnalysisInputRow]]:
    """Every analysis with a verdict, oldest verdict first, with its stored inputs."""
    stmt = select(AnalysisRow, AnalysisInputRow).join(AnalysisInputRow, AnalysisInputRow.analysis_id == AnalysisRow.id)
    return [(a, i) for a, i in s.execute(_with_verdict(stmt)).all()]


def get_analysis_inputs(s: Session, analysis_id: str) -> AnalysisInputRow | None:
    return s.get(AnalysisInputRow, analysis_id)


def list_analyses(
    s: Session,
    *,
    service: str | None,
    status: str | None,
    since: datetime | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[AnalysisRow]:
    """Newest first; ``before`` is the (created_at, id) keyset cursor of the previous page."""
    q = select(AnalysisRow)
    if service is not None:
        q = q.where(AnalysisRow.incident_service == service)
    if status is not None:
        q = q.where(AnalysisRow.status == status)
    if since is not None:
        q = q.where(AnalysisRow.created_at >= since)
    if before is not None:
        at, aid = before
        q = q.where(or_(AnalysisRow.created_at < at, (AnalysisRow.created_at == at) & (AnalysisRow.id < aid)))
    q = q.order_by(AnalysisRow.created_at.desc(), AnalysisRow.id.desc()).limit(limit)
    return list(s.scalars(q))


def count_analyses_by_status(s: Session) -> dict[str, int]:
    rows = s.execute(select(AnalysisRow.status, func.count()).group_by(AnalysisRow.status))
    return {status: int(n) for status, n in rows}


# -- jobs -----------------------------------------------------------------------
def claim_next_job(db: Database, *, owner: str, lease_seconds: float) -> str | None:
    """Take the oldest queued job for ``owner``; None when there is none.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent claimers
    skip each other's row.  SQLite (one writer at a time): a compare-and-set
    ``UPDATE ... WHERE status = 'queued'``; whoever updates the row owns it.
    """
    for _ in range(10):
        with db.session() as s:
            q = (
                select(AnalysisRow.id)
                .where(AnalysisRow.status == "queued")
                .order_by(AnalysisRow.created_at, AnalysisRow.id)
                .limit(1)
            )
            if db.is_postgres:
                q = q.with_for_update(skip_locked=True)
            job_id = s.scalar(q)
            if job_id is None:
                return None
            now = utcnow()
            res = s.execute(
                update(AnalysisRow)
                .where(AnalysisRow.id == job_id, AnalysisRow.status == "queued")
                .values(
                    status="running",
                    started_at=now,
                    lease_owner=owner,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=AnalysisRow.attempts + 1,
                )
            )
            if _count(res) == 1:
                return job_id
    return None


def mark_execution(db: Database, job_id: str, *, owner: str) -> bool:
    """Count one execution of ``job_id`` by ``owner``; False when the lease was lost."""
    with db.session() as s:
        res = s.execute(
            update(AnalysisRow)
            .where(AnalysisRow.id == job_id, AnalysisRow.status == "running", AnalysisRow.lease_owner == owner)
            .values(executions=AnalysisRow.executions + 1, worker=owner)
        )
        return _count(res) == 1


def renew_leases(db: Database, *, owner: str, job_ids: list[str], lease_seconds: float) -> None:
    """Heartbeat: push back the lease of the jobs ``owner`` is running."""
    if not job_ids:
        return
    with db.session() as s:
        s.execute(
            update(AnalysisRow)
            .where(AnalysisRow.id.in_(job_ids), AnalysisRow.status == "running", AnalysisRow.lease_owner == owner)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )


def finish_job(
    db: Database,
    job_id: str,
    *,
    owner: str,
    status: str,
    result: str | None = None,
    engine_version: str | None = None,
    error_code: str | None = None,
    error_detail: str | None = None,
    error_field: str | None = None,
    run_seconds: float | None = None,
) -> bool:
    """Record the outcome, only if ``owner`` still holds the lease; False otherwise."""
    with db.session() as s:
        res = s.execute(
            update(AnalysisRow)
            .where(AnalysisRow.id == job_id, AnalysisRow.status == "running", AnalysisRow.lease_owner == owner)
            .values(
                status=status,
                finished_at=utcnow(),
                result=result,
                engine_version=engine_version,
                error_code=error_code,
                error_detail=error_detail,
                error_field=error_field,
                run_seconds=run_seconds,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        return _count(res) == 1


def requeue_owned_jobs(db: Database, *, owner: str) -> int:
    """Give back the running jobs of ``owner`` (graceful shutdown)."""
    with db.session() as s:
        res = s.execute(
            update(AnalysisRow)
            .where(AnalysisRow.status == "running", AnalysisRow.lease_owner == owner)
            .values(status="queued", lease_owner=None, lease_expires_at=None, started_at=None)
        )
        return _count(res)


def release_lost_job(db: Database, job_id: str, *, owner: str, max_attempts: int, reason: str) -> str | None:
    """A run of ``job_id`` was lost while ``owner`` held it (its cluster worker died): queue it again.

    Returns ``"queued"``, or ``"failed"`` (``worker_lost``) once it has run
    ``max_attempts`` times; None when ``owner`` no longer holds the lease.
    """
    with db.session() as s:
        attempts = s.scalar(
            select(AnalysisRow.attempts).where(
                AnalysisRow.id == job_id, AnalysisRow.status == "running", AnalysisRow.lease_owner == owner
            )
        )
        if attempts is None:
            return None
        held = (AnalysisRow.id == job_id, AnalysisRow.status == "running", AnalysisRow.lease_owner == owner)
        if attempts < max_attempts:
            values: dict[str, Any] = {"status": "queued", "started_at": None}
        else:
            values = {
                "status": "failed",
                "finished_at": utcnow(),
                "error_code": "worker_lost",
                "error_detail": f"{reason}, {attempts} time(s); giving up after RCA_JOB_MAX_ATTEMPTS={max_attempts}",
            }
        res = s.execute(update(AnalysisRow).where(*held).values(lease_owner=None, lease_expires_at=None, **values))
        return str(values["status"]) if _count(res) == 1 else None


@dataclass(frozen=True)
class ReapReport:
    requeued: list[str]
    failed: list[str]


def reap_expired_leases(db: Database, *, max_attempts: int) -> ReapReport:
    """Jobs whose worker died (lease expired): re-queue them, or fail them after ``max_attempts`` runs."""
    now = utcnow()
    with db.session() as s:
        expired = s.execute(
            select(AnalysisRow.id, AnalysisRow.attempts).where(
                AnalysisRow.status == "running", AnalysisRow.lease_expires_at < now
            )
        ).all()
    requeued: list[str] = []
    failed: list[str] = []
    for job_id, attempts in expired:
        with db.session() as s:
            still = (AnalysisRow.id == job_id, AnalysisRow.status == "running", AnalysisRow.lease_expires_at < now)
            if attempts < max_attempts:
                res = s.execute(
                    update(AnalysisRow)
                    .where(*still)
                    .values(status="queued", lease_owner=None, lease_expires_at=None, started_at=None)
                )
                if _count(res) == 1:
                    requeued.append(job_id)
            else:
                res = s.execute(
                    update(AnalysisRow)
                    .where(*still)
                    .values(
                        status="failed",
                        finished_at=now,
                        lease_owner=None,
                        lease_expires_at=None,
                        error_code="worker_lost",
                        error_detail=(
                            f"the server running this analysis stopped (lease expired) "
                            f"{attempts} time(s); giving up after RCA_JOB_MAX_ATTEMPTS={max_attempts}"
                        ),
                    )
                )
                if _count(res) == 1:
                    failed.append(job_id)
    return ReapReport(requeued, failed)


# -- API keys -------------------------------------------------------------------
def add_api_key(s: Session, row: ApiKeyRow) -> None:
    s.add(row)


def find_api_key(s: Session, token_sha256: str) -> ApiKeyRow | None:
    return s.scalar(
        select(ApiKeyRow).where(ApiKeyRow.token_sha256 == token_sha256, ApiKeyRow.revoked_at.is_(None))
    )


def count_api_keys(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))) or 0)
