"""``/v1/topologies``: named, versioned call graphs. Each PUT stores a new immutable version."""

from __future__ import annotations

import json
import logging
from datetime import UTC
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from rca.service.deps import DatabaseDep, ReadKey, SessionDep, WriteKey
from rca.service.errors import ApiError
from rca.service.inputs import TOPOLOGY_FORMATS, load_topology, topology_format_for
from rca.service.params import DB_INT_MAX
from rca.service.schemas import ErrorBody, TopologyList, TopologyPublic, TopologySummary
from rca.store import repository as repo
from rca.store.documents import document_of
from rca.store.models import TopologyRow
from topology import TopologyError

__all__ = ["router", "NAME_PATTERN", "topology_not_found"]

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/topologies", tags=["topologies"])

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
Name = Annotated[str, Path(pattern=NAME_PATTERN, description="Letters, digits, '.', '_', '-'; at most 128.")]
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}, 422: {"model": ErrorBody}}


def topology_not_found(name: str, version: int | None, *, status: int = 404, field: str = "name") -> ApiError:
    what = f"topology {name!r}" + (f" version {version}" if version is not None else "")
    return ApiError(status, "topology_not_found", f"{what} does not exist; list them with GET /v1/topologies", field=field)


def _summary(row: TopologyRow) -> TopologySummary:
    return TopologySummary(
        name=row.name,
        version=row.version,
        format=row.format,
        digest=row.digest,
        services=row.services,
        calls=row.calls,
        created_at=row.created_at.replace(tzinfo=UTC),
    )


def _public(row: TopologyRow) -> TopologyPublic:
    return TopologyPublic(**_summary(row).model_dump(), document=json.loads(row.document))


@router.put(
    "/{name}",
    status_code=201,
    response_model=TopologyPublic,
    responses={413: {"model": ErrorBody}, 415: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="Upload a new version of a topology",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def put_topology(
    name: Name,
    request: Request,
    response: Response,
    db: DatabaseDep,
    _key: WriteKey,
    format: Annotated[
        str | None, Query(description=f"Loader format, one of: {', '.join(TOPOLOGY_FORMATS)}; default from Content-Type.")
    ] = None,
    edges: Annotated[
        Literal["calls", "causal"],
        Query(description="What an arrow `A -> B` in the document means: A calls B, or A causes B (stored reversed, as calls)."),
    ] = "calls",
) -> TopologyPublic:
    """Any format the ``topology`` loaders read; ``format`` or the content type says which."""
    body = await request.body()
    if not body.strip():
        raise ApiError(422, "empty_body", "the request body is empty: send the topology document", field="body")
    fmt = topology_format_for(request.headers.get("content-type"), format, body)

    def store() -> TopologyRow:
        try:
            graph = load_topology(body, fmt, edges)
            document = document_of(graph)
            digest = graph.digest()
        except (ApiError, TopologyError):
            raise
        except (TypeError, ValueError, KeyError, RecursionError) as exc:  # a loader let odd input through
            logger.warning("topology input raised %s: %s", type(exc).__name__, exc)
            raise TopologyError(f"the document cannot be used: {type(exc).__name__}: {exc}") from None
        return repo.add_topology_version(
            db,
            name=name,
            format=fmt,
            digest=digest,
            document=document,
            services=len(graph),
            calls=len(graph.calls),
        )

    row = await run_in_threadpool(store)
    response.headers["Location"] = f"/v1/topologies/{name}?version={row.version}"
    return _public(row)


@router.get("", response_model=TopologyList, summary="The latest version of every topology")
def list_topologies(s: SessionDep, _key: ReadKey) -> TopologyList:
    return TopologyList(items=[_summary(r) for r in repo.list_topologies(s)])


@router.get("/{name}", response_model=TopologyPublic, responses=_ERRORS, summary="One topology (latest or ?version=)")
def get_topology(
    name: Name, s: SessionDep, _key: ReadKey, version: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None
) -> TopologyPublic:
    row = repo.get_topology(s, name, version)
    if row is None:
        raise topology_not_found(name, version)
    return _public(row)


@router.delete("/{name}", status_code=204, responses=_ERRORS, summary="Delete every version of a topology")
def delete_topology(name: Name, db: DatabaseDep, _key: WriteKey) -> Response:
    """Analyses that used it keep their own copy; version numbers are not reused."""
    with db.session() as s:  # committed before the response goes out
        deleted = repo.delete_topology(s, name)
    if deleted == 0:
        raise topology_not_found(name, None)
    return Response(status_code=204)
