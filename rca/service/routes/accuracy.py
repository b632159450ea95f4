"""``GET /v1/accuracy``: how the engine's answers compare with the verdicts given on them.

The answers are the stored ones, each from the engine version that ran the
analysis.  To measure the current engine (or another configuration) on the
same incidents, export them (``rca cases export``) and run ``rca bench``.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Query

from rca.evaluation.bench.metrics import ac_at_k, calibration, specificity
from rca.evaluation.bench.results import CaseResult
from rca.service.deps import ReadKey, SessionDep
from rca.service.params import Since
from rca.service.schemas import Accuracy, AccuracyGroup
from rca.store import repository as repo
from rca.store.models import AnalysisRow

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["analyses"])


def _as_result(row: AnalysisRow) -> CaseResult:
    """A stored analysis and its verdict as a benchmark result (a failed analysis answered nothing)."""
    truth = (repo.verdict_of(row) or {}).get("root_causes") or []
    causes = (json.loads(row.result).get("causes") or []) if row.status == "succeeded" and row.result else []
    return CaseResult.from_ranking(
        dataset="analyses",
        group=row.topology_name or "inline",
        case_id=row.id,
        method="engine",
        truth=truth,
        ranking=[c.get("service") for c in causes],
        confidence=causes[0].get("confidence") if causes else None,
        error=None if row.status == "succeeded" else row.status,
    )


@router.get("/accuracy", response_model=Accuracy, summary="How the engine did on the analyses with a verdict")
def get_accuracy(
    s: SessionDep,
    _key: ReadKey,
    topology: Annotated[str | None, Query(description="Only analyses run on this stored topology.")] = None,
    since: Annotated[Since | None, Query(description="Only verdicts given at or after this time (RFC 3339, with a zone).")] = None,
) -> Accuracy:
    if since is not None and since.tzinfo is not None:
        since = since.astimezone(UTC).replace(tzinfo=None)
    results = [_as_result(r) for r in repo.verdict_rows(s, topology=topology, since=since)]
    cal = calibration(results)
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        groups.setdefault(r.group, []).append(r)
    return Accuracy(
        verdicts=len(results),
        faults=sum(not r.is_normal for r in results),
        false_alarms=sum(r.is_normal for r in results),
        failed=sum(r.error is not None for r in results),
        ac1=ac_at_k(results, 1),
        ac3=ac_at_k(results, 3),
        ac5=ac_at_k(results, 5),
        specificity=specificity(results),
        mean_confidence=cal.mean_confidence,
        named_right=cal.accuracy,
        groups=[
            AccuracyGroup(topology=g, verdicts=len(rs), ac1=ac_at_k(rs, 1), ac3=ac_at_k(rs, 3), specificity=specificity(rs))
            for g, rs in sorted(groups.items())
        ],
    )
