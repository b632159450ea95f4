"""Explain: turn ranked candidates into :class:`~rca.engine.types.Cause` objects.

Each cause carries its strongest anomaly (score, metric, onset), every
anomalous metric of the service, the Granger tests along its propagation path,
the rank components, and the path ``[cause, ..., symptom]``.
"""

from __future__ import annotations

from collections.abc import Sequence

from rca.engine.detect import AnomalyScores
from rca.engine.rank import Candidate, NodeEvidence
from rca.engine.types import Cause, Evidence, GrangerTest, SeriesAnomaly
from topology import ServiceGraph

__all__ = ["explain_causes", "describe_cause"]


def _path(graph: ServiceGraph, cause: str, symptom: str) -> tuple[str, ...]:
    if cause == symptom or cause not in graph or symptom not in graph:
        return (cause,) if cause == symptom else (cause, symptom)
    p = graph.propagation_path(cause, symptom)
    return tuple(p) if p else (cause, symptom)


def explain_causes(
    graph: ServiceGraph,
    candidates: Sequence[Candidate],
    evidence: dict[str, NodeEvidence],
    anomalies: AnomalyScores,
    granger: Sequence[GrangerTest],
    symptom: str,
    *,
    threshold: float,
    top_k: int,
) -> tuple[Cause, ...]:
    """Build the top ``top_k`` causes, best first."""
    by_service: dict[str, list[SeriesAnomaly]] = {}
    for s in anomalies.series:
        by_service.setdefault(s.service, []).append(s)
    causes = []
    for rank, cand in enumerate(candidates[:top_k], start=1):
        ev = evidence[cand.service]
        path = _path(graph, cand.service, symptom)
        edges = set(zip(path[:-1], path[1:], strict=True))
        tests = tuple(
            t
            for t in granger
            if (t.cause_service, t.effect_service) in edges
            or cand.service in (t.cause_service, t.effect_service)
        )
        metrics = sorted(
            (s for s in by_service.get(cand.service, []) if s.score > threshold),
            key=lambda s: -s.score,
        )[:8]
        best = next((s for s in metrics if s.metric == ev.metric), None)
        rank_scores = dict(cand.components)
        rank_scores["log_score"] = cand.log_score
        causes.append(
            Cause(
                rank=rank,
                service=cand.service,
                metric=ev.metric,
                score=cand.log_score,
                confidence=cand.confidence,
                path=path,
                evidence=Evidence(
                    anomaly_score=ev.score,
                    anomaly_metric=ev.metric,
                    onset=best.onset if best else None,
                    anomalous_metrics=tuple(metrics),
                    granger=tests,
                    rank_scores=rank_scores,
                ),
            )
        )
    return tuple(causes)


def describe_cause(cause: Cause) -> str:
    """One line of evidence for humans (used by the CLI and notifications)."""
    ev = cause.evidence
    parts = [f"{ev.anomaly_metric} score {ev.anomaly_score:.1f}"]
    if ev.onset is not None:
        parts.append(f"onset {ev.onset.strftime('%Y-%m-%d %H:%M:%S')}Z")
    sig = [t for t in ev.granger if t.significant]
    if sig:
        t = sig[0]
        parts.append(f"Granger {t.cause_service}->{t.effect_service} p={t.p_value:.2g} lag {t.lag}")
    elif ev.granger and all(t.skipped for t in ev.granger):
        parts.append(f"Granger skipped: {ev.granger[0].skipped}")
    return "; ".join(parts)
