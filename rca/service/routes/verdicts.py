"""``PUT /v1/analyses/{id}/verdict``: what an incident turned out to be, recorded beside the engine's answer.

Verdicts feed ``GET /v1/accuracy`` and ``rca cases export`` (analyses with a
verdict become benchmark cases).
"""

from __future__ import annotations

import json

from fastapi import APIRouter

from rca.service.deps import DatabaseDep, WriteKey
from rca.service.errors import ApiError
from rca.service.routes.analyses import public_of
from rca.service.schemas import AnalysisPublic, ErrorBody, VerdictRequest
from rca.store import repository as repo
from rca.store.documents import graph_from_document
from rca.store.session import utcnow

__all__ = ["router"]

router = APIRouter(prefix="/v1/analyses", tags=["analyses"])


@router.put(
    "/{analysis_id}/verdict",
    response_model=AnalysisPublic,
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="Record what the incident turned out to be: the confirmed root causes (or none)",
)
def put_verdict(analysis_id: str, body: VerdictRequest, db: DatabaseDep, _key: WriteKey) -> AnalysisPublic:
    """The last verdict counts.  ``rca cases export`` turns analyses with a verdict into benchmark cases."""
    with db.session() as s:  # committed before the response goes out
        row = repo.get_analysis(s, analysis_id)
        if row is None:
            raise ApiError(404, "analysis_not_found", f"analysis {analysis_id!r} does not exist", field="analysis_id")
        inputs = repo.get_analysis_inputs(s, analysis_id)
        graph = graph_from_document(json.loads(inputs.topology_document)) if inputs is not None else None
        causes = list(dict.fromkeys(c.strip() for c in body.root_causes))
        for i, name in enumerate(causes):
            if not name or (graph is not None and name not in graph):
                raise ApiError(
                    422,
                    "unknown_service",
                    f"root cause {name!r} is not a node of the analysis' topology ({0 if graph is None else len(graph)} nodes)",
                    field=f"root_causes[{i}]",
                )
        row = repo.set_verdict(s, analysis_id, causes, body.note, utcnow())
        return public_of(row)  # type: ignore[arg-type]
