"""``rca.analyze_many`` in this process: order, errors, progress (the cluster runs are in tests/evaluation/bench/test_bench_dask.py)."""

from __future__ import annotations

import pytest

import rca
from rca.engine.batch import AnalysisTask
from rca.evaluation.datasets.synthetic import generate_case


@pytest.fixture(scope="module")
def cases():
    return [generate_case("tree", 12, fault="latency_step", seed=s) for s in range(3)]


def test_results_in_task_order_and_equal_to_analyze(cases):
    tasks = [
        AnalysisTask(cases[0].graph, cases[0].metrics, cases[0].incident),
        {"graph": cases[1].graph, "metrics": cases[1].metrics, "incident": cases[1].incident},
        (cases[2].graph, cases[2].metrics, cases[2].incident, {"rank": {"top_k": 2}}),
    ]
    seen = []
    results = rca.analyze_many(tasks, on_result=lambda i, r: seen.append(i))
    assert seen == [0, 1, 2]
    for case, result in zip(cases[:2], results, strict=False):
        alone = rca.analyze(case.graph, case.metrics, case.incident)
        assert [c.service for c in result.causes] == [c.service for c in alone.causes]
    assert len(results[2].causes) <= 2


def test_a_bad_task_raises_or_is_returned(cases):
    good = (cases[0].graph, cases[0].metrics, cases[0].incident)
    bad = (cases[0].graph, cases[0].metrics, rca.Incident("nope", "latency", cases[0].incident.start))
    with pytest.raises(rca.InvalidIncidentError, match="not in the topology"):
        rca.analyze_many([good, bad])
    results = rca.analyze_many([good, bad], errors="return")
    assert isinstance(results[0], rca.RCAResult) and isinstance(results[1], rca.InvalidIncidentError)


@pytest.mark.parametrize(
    ("tasks", "errors", "match"),
    [
        ([42], "raise", r"tasks\[0\] must be an AnalysisTask"),
        ([{"graph": None, "metric": None}], "raise", r"tasks\[0\]: .*unexpected keyword"),
        ([], "ignore", "errors must be 'raise' or 'return'"),
    ],
)
def test_invalid_arguments_are_named(tasks, errors, match):
    with pytest.raises(rca.InvalidInputError, match=match):
        rca.analyze_many(tasks, errors=errors)


def test_a_bad_cluster_spec_is_named():
    from rca.engine.batch import dask_client

    with pytest.raises(rca.InvalidConfigError, match="local:N"):
        with dask_client("localhost:8786"):
            pass
    with pytest.raises(rca.InvalidConfigError, match="1..256"):
        with dask_client("local:0"):
            pass
