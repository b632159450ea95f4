"""Stored analyses with a verdict, as benchmark case folders (``rca cases export``).

An analysis keeps its inputs (the topology document and the canonical
metrics); a verdict adds the truth.  Together they are a case of
:mod:`rca.evaluation.datasets.cases`, so ``rca bench --dataset cases:DIR`` measures the
engine -- this version, or a candidate configuration -- on the incidents this
system really had.
"""

from __future__ import annotations

import json
from pathlib import Path

from rca.engine.types import Incident
from rca.evaluation.datasets.base import BenchCase
from rca.evaluation.datasets.cases import write_case
from rca.store import repository as repo
from rca.store.documents import graph_from_document, read_canonical_metrics
from rca.store.session import Database

__all__ = ["export_verdict_cases"]


def export_verdict_cases(db: Database, out: str | Path, *, fmt: str = "parquet") -> int:
    """Write one case folder per analysis with a verdict below ``out``; returns how many.

    Folders are ``<topology name or "inline">/<analysis id>``, so incidents of
    one system form one group.  The analysis' own configuration is not part of
    the case: ``rca bench --config`` chooses what to measure.
    """
    root = Path(out)
    n = 0
    with db.session() as s:
        for row, inputs in repo.analyses_with_verdicts(s):
            verdict = repo.verdict_of(row) or {}
            group = row.topology_name or "inline"
            case = BenchCase(
                case_id=row.id,
                dataset="analyses",
                group=group,
                graph=graph_from_document(json.loads(inputs.topology_document)),
                metrics=read_canonical_metrics(inputs.metrics_csv_gz),
                incident=Incident.from_dict({k: v for k, v in json.loads(row.incident).items() if k not in ("symptoms", "fetch_issues")}),
                root_causes=tuple(verdict.get("root_causes") or ()),
                meta={"analysis_id": row.id, "note": verdict.get("note")},
            )
            write_case(case, root / group / row.id, fmt=fmt)
            n += 1
    return n
