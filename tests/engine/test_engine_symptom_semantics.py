"""A symptom whose name says nothing: its bad direction and range are read off the symptom itself."""

from __future__ import annotations

import numpy as np
import pandas as pd

import rca
from rca.evaluation.datasets.synthetic import demo_case


def _renamed(frame: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    out = frame.copy()
    out["metric"] = out["metric"].astype(str).replace(mapping)
    return out


def test_an_opaque_symptom_name_takes_the_direction_the_symptom_moved_and_says_so():
    case = demo_case()
    metrics = _renamed(case.metrics, {"latency": "m01"})
    incident = rca.Incident(case.incident.service, "m01", case.incident.start)
    result = rca.analyze(case.graph, metrics, incident)
    learned = [i for i in result.issues if i.kind == "direction_learned"]
    assert len(learned) == 1 and "moved up" in learned[0].message and learned[0].metric == "m01"
    assert result.config["detect"]["directions"] == {"^m01$": "up"}
    assert result.top.service == "payment"


def test_a_named_symptom_learns_nothing_and_a_user_direction_wins():
    case = demo_case()
    result = rca.analyze(case.graph, case.metrics, case.incident)
    assert not [i for i in result.issues if i.kind == "direction_learned"]
    metrics = _renamed(case.metrics, {"latency": "m01"})
    incident = rca.Incident(case.incident.service, "m01", case.incident.start)
    told = rca.analyze(case.graph, metrics, incident, {"detect": {"directions": {"m01": "up"}}})
    assert not [i for i in told.issues if i.kind == "direction_learned"]


def test_an_opaque_slo_percentage_is_scored_as_a_bounded_metric():
    from rca.engine.symptom_semantics import learned_bounded

    idx = pd.date_range("2024-05-01", periods=60, freq="1min", tz="UTC")
    cols = pd.MultiIndex.from_tuples([("a", "m00"), ("b", "m00"), ("b", "m01")])
    frame = pd.DataFrame(np.column_stack([np.full(60, 99.9), np.full(60, 100.0), np.arange(60.0) * 10]),
                         index=idx, columns=cols)
    incident = rca.Incident("a", "m00", idx[50])
    assert learned_bounded(frame, incident) == frozenset({"m00"})
    assert learned_bounded(frame, rca.Incident("b", "m01", idx[50])) == frozenset()  # 0..590: not a percentage
    assert learned_bounded(frame, rca.Incident("a", "availability", idx[50])) == frozenset()  # named already
