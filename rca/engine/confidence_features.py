"""The features a confidence is calibrated on, read off one analysis (see :mod:`rca.engine.confidence`).

Every feature is a share, a flag, a log-count or a clipped log-odds, so it
means the same on a 10-service system with 5-minute metrics and on a
10,000-service one with spans and logs.  :func:`weak_evidence` says in words
which of them make an answer weak.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rca.engine.columns import per_name
from rca.engine.confidence import calibrated, load_map, logit, meaning
from rca.engine.evidence.logs import LOG_PREFIX
from rca.engine.evidence.spans import SPAN_PREFIX
from rca.engine.rank import Candidate, NodeEvidence, metric_kind
from rca.engine.types import ConfidenceBasis, DataIssue, SeriesAnomaly
from topology import ServiceGraph

__all__ = ["calibrate_ranking", "confidence_features", "weak_evidence"]

#: More than this share of all series moving at once is an unspecific incident.
WIDESPREAD_SHARE = 0.3


def _modality(metric: str) -> str:
    if metric.startswith(SPAN_PREFIX):
        return "spans"
    if metric.startswith(LOG_PREFIX):
        return "logs"
    return "metrics"


def confidence_features(
    *,
    graph: ServiceGraph,
    ranked: Sequence[Candidate],
    no_cause: float,
    null_log_score: float,
    evidence: Mapping[str, NodeEvidence],
    table: pd.DataFrame,
    frame: pd.DataFrame,
    symptom: SeriesAnomaly | None,
    symptom_service: str,
    threshold: float,
    quiet_symptom: bool,
    issues: Sequence[DataIssue],
    borrowed_baseline: bool,
    window_points: int,
) -> dict[str, float]:
    """The :data:`~rca.engine.confidence.FEATURES` of an analysis whose ranking is ``ranked`` (non-empty)."""
    top = ranked[0]
    runner_up = ranked[1].log_score if len(ranked) > 1 else -math.inf
    margin = top.log_score - max(runner_up, null_log_score)
    weighted = table["score"].to_numpy(dtype=float) * table["weight"].to_numpy(dtype=float)
    moved = weighted > threshold
    anomalous = {s for s, ev in evidence.items() if ev.score > threshold} - {top.service, symptom_service}
    if top.service in graph:
        through = graph.dependents(top.service) | {symptom_service}
        explained = len(anomalous & through) / len(anomalous) if anomalous else 1.0
    else:
        explained = 0.0 if anomalous else 1.0
    own_rows = table.index.get_level_values(0) == top.service
    own_metrics = table.index.get_level_values(1)[own_rows & moved]
    points = table["points"].to_numpy(dtype=float)
    # Over the measured series only: span and log series exist only where the evidence files reach.
    measured = per_name(frame.columns, 1, lambda m: _modality(m) == "metrics", dtype=bool)
    values = frame.to_numpy(dtype=float, na_value=np.nan)  # a view of an all-float frame, no copy
    kinds = {i.kind for i in issues}
    ev = evidence.get(top.service)
    sym_kind = metric_kind(symptom.metric) if symptom is not None else None
    return {
        "raw_logit": logit(top.confidence),
        "null_logit": logit(no_cause),
        "margin": float(np.clip(margin, -10.0, 30.0)),
        "candidates": math.log1p(len(ranked)),
        "moved_share": float(moved.mean()) if moved.size else 0.0,
        "symptom_strength": 0.0
        if symptom is None
        else float(np.clip(math.log(max(symptom.score, 1e-6) / max(threshold, 1e-9)), -3.0, 3.0)),
        "quiet_symptom": float(quiet_symptom),
        "symptom_missing": float(symptom is None),
        "deepest": float(top.components.get("deepest", 1.0)),
        "explained_share": float(explained),
        "own_strength": 0.0 if ev is None else float(np.clip(ev.log_odds / 10.0, 0.0, 3.0)),
        "granger": float(np.clip(top.components.get("granger", 0.0), -3.0, 3.0)),
        "modalities": float(len({_modality(str(m)) for m in own_metrics})),
        "short_baseline": float("short_baseline" in kinds),
        "short_window": float("short_window" in kinds),
        "borrowed_baseline": float(borrowed_baseline),
        "missing_share": float(np.isnan(values[:, measured]).mean()) if values.size and measured.any() else 0.0,
        "baseline_points": math.log1p(float(np.median(points))) if points.size else 0.0,
        "window_points": math.log1p(window_points),
        "agreement": _agreement(ranked),
        "same_kind": float(ev is not None and sym_kind is not None and metric_kind(ev.metric) == sym_kind),
        "symptom_is_cause": float(top.service == symptom_service),
    }


def _agreement(ranked: Sequence[Candidate]) -> float:
    """Share of the ranking's separate pieces of evidence (own anomaly, what it explains, the random walk)
    that, each alone, would also put the first cause first."""
    if len(ranked) < 2:
        return 1.0
    votes = []
    for part in ("anomaly", "explained", "pagerank"):
        values = [c.components.get(part) for c in ranked]
        if any(v is None for v in values):
            continue
        votes.append(float(values[0] >= max(values[1:])))
    return float(np.mean(votes)) if votes else 1.0


def weak_evidence(features: Mapping[str, float], n_series: int) -> tuple[str, ...]:
    """What makes this answer weak, in words (empty when nothing does)."""
    out: list[str] = []
    if features.get("quiet_symptom"):
        out.append("the symptom itself is inside its normal range")
    if features.get("symptom_missing"):
        out.append("the symptom series was not found, so it could not be checked")
    share = features.get("moved_share", 0.0)
    if share > WIDESPREAD_SHARE:
        out.append(f"{round(share * n_series)} of {n_series} series moved at once, so the anomaly is not specific")
    if features.get("short_baseline"):
        out.append("the baseline is short, so the normal range is uncertain")
    if features.get("short_window"):
        out.append("the incident window holds fewer than 3 points")
    if features.get("missing_share", 0.0) > 0.1:
        out.append(f"{features['missing_share']:.0%} of the values are missing")
    if features.get("margin", 99.0) < 1.0:
        out.append("the runner-up explains the symptom almost as well")
    return tuple(out)


def calibrate_ranking(
    ranked: Sequence[Candidate], no_cause: float, calibration: str, **context: Any
) -> tuple[list[Candidate], float, ConfidenceBasis]:
    """The ranked candidates with calibrated confidences, "no root cause"'s, and what they rest on.

    ``calibration`` is ``rank.calibration``; ``context`` the rest of
    :func:`confidence_features`' arguments.
    """
    features = confidence_features(ranked=ranked, no_cause=no_cause, **context)
    cmap = load_map(calibration)
    conf, null = calibrated([c.confidence for c in ranked], no_cause, features, cmap)
    out = [dataclasses.replace(c, confidence=p) for c, p in zip(ranked, conf, strict=True)]
    basis = ConfidenceBasis(
        value=conf[0],
        raw=ranked[0].confidence,
        features=features,
        calibration="none" if cmap is None else cmap.name,
        meaning=meaning(conf[0]),
        reliability="uncalibrated: the ranking's own posterior" if cmap is None else cmap.reliability(),
        weak=weak_evidence(features, len(context["table"].index)),
    )
    return out, null, basis
