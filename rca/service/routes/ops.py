"""Operations: ``/healthz`` (the process and where it runs analyses), ``/readyz`` (the database), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

import rca
from rca.service.deps import DatabaseDep, RegistryDep, RunnerDep
from rca.service.errors import ApiError
from rca.service.schemas import ErrorBody, ExecutorPublic, Health
from rca.store import repository as repo

__all__ = ["router"]

logger = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="The process is up, and where it runs analyses")
def healthz(runner: RunnerDep) -> Health:
    executor = ExecutorPublic.model_validate(runner.describe_executor())
    return Health(status="ok", engine_version=rca.__version__, executor=executor)


@router.get(
    "/readyz", response_model=Health, responses={503: {"model": ErrorBody}}, summary="The database is reachable"
)
def readyz(db: DatabaseDep) -> Health:
    try:
        db.ping()
    except Exception as exc:
        logger.warning("readiness check failed: %s", exc)
        raise ApiError(503, "database_unavailable", f"the database does not answer: {type(exc).__name__}") from None
    return Health(status="ready", database=db.engine.dialect.name)


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics (text exposition format)")
async def metrics(db: DatabaseDep, registry: RegistryDep) -> PlainTextResponse:
    def counts() -> dict[str, int]:
        try:
            with db.session() as s:
                return repo.count_analyses_by_status(s)
        except Exception:
            logger.warning("could not count analyses for /metrics", exc_info=True)
            return {}

    body = registry.render(await run_in_threadpool(counts))
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")
