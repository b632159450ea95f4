"""Several symptoms, one ranking (rca.engine.symptoms)."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

import rca
from rca.engine.symptoms import analyze_symptoms, coerce_symptoms
from rca.evaluation.datasets.synthetic import demo_case


@pytest.fixture(scope="module")
def demo():
    return demo_case()


def test_two_symptoms_of_one_fault_name_it_once_explaining_both(demo):
    checkout = rca.Incident("checkout", "latency", demo.incident.start)
    result = rca.analyze(demo.graph, demo.metrics, [demo.incident, checkout])
    assert result.status == "found"
    assert result.top.service == "payment"
    assert set(result.top.explains) == {("frontend", "latency"), ("checkout", "latency")}
    assert [s.service for s in result.symptoms] == ["frontend", "checkout"]
    assert result.incident == demo.incident
    assert sum(c.confidence for c in result.causes) <= 1.0 + 1e-9
    assert result.top.evidence.rank_scores["symptoms_explained"] == 2.0
    data = json.loads(result.to_json())
    assert data["causes"][0]["explains"] == [
        {"service": "frontend", "metric": "latency"},
        {"service": "checkout", "metric": "latency"},
    ]
    assert len(data["symptoms"]) == 2


def test_single_symptom_causes_explain_that_symptom(demo):
    result = rca.analyze(demo.graph, demo.metrics, demo.incident)
    assert all(c.explains == (("frontend", "latency"),) for c in result.causes)
    assert result.symptoms == ()


def _fake(demo, rankings: dict[str, list[tuple[str, float]]]):
    """A stand-in single-symptom analysis returning fixed rankings, to test the combination alone."""
    template = rca.analyze(demo.graph, demo.metrics, demo.incident)
    proto = template.causes[0]

    def analyze_one(graph, metrics, incident, config, *, baseline=None):
        causes = tuple(
            dataclasses.replace(proto, rank=i, service=s, confidence=c, explains=((incident.service, incident.metric),))
            for i, (s, c) in enumerate(rankings[incident.service], start=1)
        )
        return dataclasses.replace(template, incident=incident, causes=causes)

    return analyze_one


def test_a_cause_explaining_more_symptoms_ranks_higher(demo):
    # "db": 0.9 for one symptom; "cache": named by all three, 0.05 + 0.45 + 0.45 = 0.95 > 0.9
    rankings = {"a": [("db", 0.9), ("cache", 0.05)], "b": [("cache", 0.45)], "c": [("cache", 0.45)]}
    symptoms = [rca.Incident(s, "latency", demo.incident.start) for s in "abc"]
    result = analyze_symptoms(_fake(demo, rankings), demo.graph, demo.metrics, symptoms)
    assert [c.service for c in result.causes] == ["cache", "db"]
    assert result.causes[0].confidence == pytest.approx(0.95 / 3)
    assert len(result.causes[0].explains) == 3 and result.causes[1].explains == (("a", "latency"),)
    assert [c.rank for c in result.causes] == [1, 2]


def test_a_symptom_outside_the_topology_is_skipped_and_said(demo):
    ghost = rca.Incident("ghost", "latency", demo.incident.start)
    result = rca.analyze(demo.graph, demo.metrics, [demo.incident, ghost])
    assert result.top.service == "payment"
    skipped = [i for i in result.issues if i.kind == "symptom_skipped"]
    assert len(skipped) == 1 and skipped[0].service == "ghost" and "not in the topology" in skipped[0].message


def test_no_analysable_symptom_raises_the_first_error(demo):
    with pytest.raises(rca.InvalidIncidentError, match="ghost") as err:
        rca.analyze(demo.graph, demo.metrics, [{"service": "ghost", "metric": "latency", "start": "2024-05-01T13:00Z"}])
    assert err.value.field == "incident.service"


@pytest.mark.parametrize(
    ("symptoms", "field", "match"),
    [
        ([], "incident", "at least one symptom"),
        ([{"service": "frontend", "metric": "latency", "start": "2024-05-01T13:00Z"}, 3], "incident[1]", "Incident or a dict"),
        ([{"service": "frontend", "metric": "latency"}], "incident[0].start", r"incident\[0\]\.start is required"),
    ],
)
def test_bad_symptom_lists_name_the_entry(demo, symptoms, field, match):
    with pytest.raises(rca.InvalidIncidentError, match=match) as err:
        rca.analyze(demo.graph, demo.metrics, symptoms)
    assert err.value.field == field


def test_a_flapping_symptom_is_one_symptom_spanning_both_windows():
    t = pd.Timestamp("2024-05-01T13:00Z")
    out = coerce_symptoms(
        [rca.Incident("a", "latency", t + pd.Timedelta("5min"), t + pd.Timedelta("9min")),
         rca.Incident("a", "latency", t, t + pd.Timedelta("2min")),
         rca.Incident("a", "error_rate", t)]
    )
    assert [(i.service, i.metric) for i in out] == [("a", "latency"), ("a", "error_rate")]
    assert out[0].start == t and out[0].end == t + pd.Timedelta("9min")


def test_a_multi_symptom_result_round_trips_through_its_document(demo):
    from rca.views.report.restore import result_from_dict

    result = rca.analyze(demo.graph, demo.metrics, [demo.incident, rca.Incident("checkout", "latency", demo.incident.start)])
    back = result_from_dict(result.to_dict())
    assert back.to_dict() == result.to_dict()
    assert back.top.explains == result.top.explains and len(back.symptoms) == 2
