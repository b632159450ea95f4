"""Checks of an analysis' inputs that refuse a typo or note what to read with care.

* :func:`check_symptom_metric` and :func:`check_direction_patterns` refuse a name
  that matches nothing (a typo must not be explained away), naming the closest;
* :func:`orientation_hint` notes a graph that may be read the wrong way round;
* :func:`short_data_issues` notes a short baseline or window.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from rca.engine.config import RCAConfig
from rca.engine.errors import InvalidConfigError, InvalidIncidentError, did_you_mean
from rca.engine.evidence.build import SpanLogEvidence
from rca.engine.types import DataIssue, Incident
from topology import ServiceGraph

__all__ = ["check_direction_patterns", "check_symptom_metric", "orientation_hint", "short_data_issues"]


def check_symptom_metric(long: pd.DataFrame, incident: Incident, evidence: SpanLogEvidence | None = None) -> None:
    """A symptom metric that no series has at all is a typo, not a data gap: refuse it, naming the closest names.

    (A metric that other services have but the symptom service lacks stays a
    ``missing_symptom`` data issue: that is a gap in the data, not a misspelling.)
    """
    metric = incident.metric
    names = long["metric"].cat.categories  # load_metrics returns names as sorted string categoricals
    if metric in names or (evidence is not None and metric in set(evidence.series["metric"])):
        return
    own = sorted(set(long.loc[long["service"] == incident.service, "metric"]))
    raise InvalidIncidentError(
        f"incident.metric {metric!r} matches no series in the metrics{did_you_mean(metric, names)} "
        f"({incident.service} has: {', '.join(own[:12]) or 'no series'})",
        field="incident.metric",
    )


def check_direction_patterns(long: pd.DataFrame, directions: Mapping[str, str]) -> None:
    """A ``detect.directions`` pattern that no metric name matches is a typo: refuse it, naming the closest names."""
    names = [str(n) for n in long["metric"].cat.categories]
    for pattern in directions:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise InvalidConfigError(
                f"detect.directions: {pattern!r} is not a regular expression ({exc})", field=f"detect.directions.{pattern}"
            ) from None
        if not any(rx.search(n.lower()) for n in names):
            raise InvalidConfigError(
                f"detect.directions: pattern {pattern!r} matches no metric name (searched in the lower-cased "
                f"names){did_you_mean(pattern, names)} (metrics: {', '.join(names[:12])})",
                field=f"detect.directions.{pattern}",
            )


def orientation_hint(graph: ServiceGraph, symptom: str) -> list[DataIssue]:
    """A note when the symptom depends on nothing but has callers: the graph may be causal, read the wrong way round."""
    if graph.callees(symptom):
        return []
    upstream = graph.dependents(symptom)
    if not upstream:
        return []
    return [
        DataIssue(
            "symptom_calls_nothing",
            f"{symptom} calls no other service in the topology, so only {symptom} itself can be blamed, "
            f"yet {len(upstream)} service(s) call it: if the graph's arrows mean cause -> effect rather "
            "than caller -> callee, load it with edges='causal' (rca analyze --edges causal)",
            symptom,
        )
    ]


def short_data_issues(scores, symptom, windows, cfg: RCAConfig) -> list[DataIssue]:
    """``short_baseline`` / ``short_window`` issues when the symptom's data is short.

    With a few baseline points a series' normal range is uncertain, and with
    one or two window points a level shift cannot be told from a blip; the
    analysis ranks as usual and says so (the candidates' confidence already
    carries their baseline's length, :mod:`rca.engine.rank`).
    """
    out: list[DataIssue] = []
    need = cfg.detect.short_baseline_points
    if symptom is not None and need and symptom.baseline_points < need:
        out.append(
            DataIssue(
                "short_baseline",
                f"the symptom {symptom.service}/{symptom.metric} has {symptom.baseline_points} baseline point(s), "
                f"fewer than {need}: its normal range is uncertain, so every score and confidence here is too",
                symptom.service,
                symptom.metric,
            )
        )
    n_window = len(scores.points.index)
    if n_window < 3:
        out.append(
            DataIssue(
                "short_window",
                f"the incident window holds {n_window} point(s) ({windows.start.isoformat()} .. "
                f"{windows.end.isoformat()}): a shift cannot be told from a blip, read the ranking with care",
            )
        )
    return out
