"""``GET /v1/analyses/{id}/report``: the incident report page of a finished analysis.

Include :data:`router` in the app (``rca.service.routes.ROUTERS``).  The page is
rendered on request from the stored result and inputs (:mod:`rca.views.report`).
"""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from rca.service.deps import ReadKey, SessionDep
from rca.service.errors import ApiError
from rca.service.schemas import ErrorBody
from rca.store import repository as repo
from rca.store.documents import graph_from_document, read_canonical_metrics
from rca.views.report import render_report, result_from_dict

__all__ = ["router"]

router = APIRouter(prefix="/v1/analyses", tags=["analyses"])


@router.get(
    "/{analysis_id}/report",
    response_class=HTMLResponse,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
    summary="The incident report page of an analysis (self-contained HTML)",
)
def get_analysis_report(analysis_id: str, s: SessionDep, _key: ReadKey) -> HTMLResponse:
    row = repo.get_analysis(s, analysis_id)
    inputs = repo.get_analysis_inputs(s, analysis_id)
    if row is None or inputs is None:
        raise ApiError(404, "analysis_not_found", f"analysis {analysis_id!r} does not exist", field="analysis_id")
    if row.result is None:
        raise ApiError(409, "analysis_not_finished", f"analysis {analysis_id!r} is {row.status}; the report exists "
                       f"once it has succeeded (poll GET /v1/analyses/{analysis_id})", field="analysis_id")
    result = result_from_dict(json.loads(row.result))
    page = render_report(result, graph_from_document(json.loads(inputs.topology_document)),
                         read_canonical_metrics(inputs.metrics_csv_gz),
                         confirmed=repo.verdict_of(row))
    # A verdict can arrive later: a cached page would hide it.
    return HTMLResponse(page, headers={"Cache-Control": "private, no-cache"})
