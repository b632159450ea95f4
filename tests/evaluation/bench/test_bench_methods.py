"""Reference methods on tiny hand-made cases, and the engine wiring."""

from __future__ import annotations

import types

import pandas as pd
import pytest
from bench_case_factory import START, make_case, make_metrics

import rca
from rca.engine.types import Incident
from rca.evaluation.bench.methods import (
    DEFAULT_METHODS,
    Ranking,
    UnknownMethodError,
    available_methods,
    case_seed,
    get_method,
    rank_random,
    rank_robust_z,
    rank_topology_distance,
    robust_z_scores,
)
from rca.evaluation.datasets.base import BenchCase
from topology import ServiceGraph


def test_registry_lists_engine_ablations_and_references():
    names = [m.name for m in available_methods()]
    assert names == [
        "engine",
        "engine-no-granger",
        "engine-no-ranking",
        "engine-no-topology",
        "random",
        "topology-distance",
        "robust-z",
        "hypothesis-testing",
    ]
    assert DEFAULT_METHODS == tuple(names)
    assert {m.kind for m in available_methods()} == {"engine", "ablation", "reference"}


def test_unknown_method_names_the_known_ones():
    with pytest.raises(UnknownMethodError, match="unknown method 'pagerank'; available: engine, "):
        get_method("pagerank")


@pytest.mark.parametrize("root", ["db", "cache", "auth", "api"])
def test_robust_z_picks_the_shifted_service(root):
    case = make_case(root=root)
    ranking = get_method("robust-z")(case)
    assert ranking[0] == root
    assert sorted(ranking) == sorted(case.graph.services)
    assert isinstance(ranking, Ranking) and ranking.scores == sorted(ranking.scores, reverse=True)


def test_robust_z_uses_the_separate_baseline_when_given():
    case = make_case(root="cache", separate_baseline=True)
    assert (case.metrics["timestamp"] >= START).all()  # nothing before the incident in metrics
    assert rank_robust_z(case)[0] == "cache"


def test_robust_z_score_is_max_abs_deviation_over_iqr():
    t = START + pd.to_timedelta([-4, -3, -2, -1, 0, 1], unit="min")
    frame = pd.DataFrame(
        {
            "timestamp": list(t) * 2,
            "service": ["a"] * 6 + ["b"] * 6,
            "metric": ["x"] * 6 + ["y"] * 6,
            # a: baseline 1,2,3,4 (median 2.5, IQR 1.5); window 2.5, -0.5 -> |−0.5−2.5|/1.5 = 2
            # b: constant baseline (IQR 0 -> 1, as RobustScaler); window 5, 7 -> 2
            "value": [1, 2, 3, 4, 2.5, -0.5, 5, 5, 5, 5, 5, 7],
        }
    )
    scores = robust_z_scores(frame, Incident("a", "x", START))
    assert scores.to_dict() == pytest.approx({"a": 2.0, "b": 2.0})
    assert list(scores.index) == ["a", "b"]  # ties broken by name


def test_robust_z_respects_incident_end():
    t = START + pd.to_timedelta([-2, -1, 0, 1, 2], unit="min")
    frame = pd.DataFrame({"timestamp": t, "service": "a", "metric": "x", "value": [1.0, 2.0, 1.5, 1.5, 100.0]})
    inc = Incident("a", "x", START, START + pd.Timedelta("1min"))
    assert robust_z_scores(frame, inc).loc["a"] == pytest.approx(0.0)


def test_robust_z_accepts_naive_timestamps_and_ranks_unscored_services_last():
    metrics = make_metrics("db")
    metrics["timestamp"] = metrics["timestamp"].dt.tz_localize(None)
    graph = ServiceGraph(calls=[("frontend", "api"), ("api", "db"), ("api", "ghost")])
    case = BenchCase("n", "toy", "g", graph, metrics, Incident("frontend", "latency", START), root_causes=("db",))
    ranking = rank_robust_z(case)
    assert ranking[0] == "db"
    assert ranking[-1] == "ghost"  # in the graph, no metrics


def test_topology_distance_orders_by_hops_then_name():
    case = make_case()
    # frontend -> api (1) -> auth, cache, db (2); symptom last
    assert rank_topology_distance(case) == ["api", "auth", "cache", "db", "frontend"]
    assert get_method("topology-distance")(case)[0] == "api"


def test_topology_distance_with_mutual_calls_terminates():
    graph = ServiceGraph(calls=[("frontend", "a"), ("a", "b"), ("b", "a"), ("b", "c")])
    case = make_case(graph=graph, root="c")
    assert rank_topology_distance(case) == ["a", "b", "c", "frontend"]


def test_reference_methods_on_an_empty_graph_rank_every_service():
    case = make_case(graph=ServiceGraph())
    everyone = ["api", "auth", "cache", "db", "frontend"]
    assert rank_topology_distance(case) == everyone
    assert sorted(rank_random(case)) == everyone
    assert sorted(rank_robust_z(case)) == everyone


def test_random_is_deterministic_per_case_and_seed():
    case = make_case("x1")
    first = get_method("random", seed=3)(case)
    assert first == get_method("random", seed=3)(case)
    assert sorted(first) == ["api", "auth", "cache", "db", "frontend"]
    # different seeds or cases give (for these values) different orders
    orders = {tuple(rank_random(make_case(f"case-{i}"), s)) for i in range(5) for s in range(3)}
    assert len(orders) > 1


def test_case_seed_is_stable_across_processes():
    # a digest, not hash(): this value must never change
    assert case_seed(make_case("x1"), 0) == case_seed(make_case("x1"), 0)
    assert case_seed(make_case("x1"), 0) != case_seed(make_case("x1"), 1)
    assert case_seed(make_case("x1"), 0) == 3511149959149159701  # sha256(b"0\\x00toy\\x00x1")[:8], little-endian


@pytest.mark.parametrize("name", ["random", "topology-distance", "robust-z", "hypothesis-testing"])
def test_reference_methods_never_say_no_root_cause(name):
    assert get_method(name)(make_case(root=None, shifted=None))


@pytest.mark.parametrize(
    ("name", "section", "key", "value"),
    [
        ("engine", "granger", "enabled", True),
        ("engine-no-granger", "granger", "enabled", False),
        ("engine-no-ranking", "rank", "use_pagerank", False),
        ("engine-no-topology", "rank", "use_topology", False),
    ],
)
def test_engine_methods_call_analyze_with_their_config(monkeypatch, name, section, key, value):
    seen = {}

    def fake_analyze(graph, metrics, incident, config=None, *, baseline=None):
        seen["config"], seen["baseline"] = config, baseline
        causes = tuple(
            types.SimpleNamespace(service=s, score=sc, confidence=p) for s, sc, p in (("db", 0.9, 0.6), ("db", 0.5, 0.2), ("api", 0.2, 0.1))
        )
        return types.SimpleNamespace(causes=causes, ranking=causes)

    monkeypatch.setattr(rca, "analyze", fake_analyze)
    case = make_case(separate_baseline=True)
    ranking = get_method(name)(case)
    assert getattr(getattr(seen["config"], section), key) is value
    assert seen["baseline"] is case.baseline
    assert list(ranking) == ["db", "db", "api"] and ranking.scores == [0.9, 0.5, 0.2]
    assert ranking.confidence == 0.6  # the first cause's


def test_engine_saying_no_root_cause_gives_an_empty_ranking(monkeypatch):
    monkeypatch.setattr(rca, "analyze", lambda *a, **k: types.SimpleNamespace(causes=(), ranking=()))
    ranking = get_method("engine")(make_case(root=None))
    assert ranking == [] and ranking.confidence is None


def test_robust_z_matches_a_per_series_reference_implementation():
    import numpy as np

    metrics = make_metrics("auth", seed=11)
    inc = Incident("frontend", "latency", START)
    expected: dict[str, float] = {}
    for (svc, metric), series in metrics.groupby(["service", "metric"]):
        before = series.loc[series["timestamp"] < START, "value"].to_numpy()
        during = series.loc[series["timestamp"] >= START, "value"].to_numpy()
        q1, med, q3 = np.percentile(before, [25, 50, 75])
        iqr = q3 - q1 if q3 > q1 else 1.0
        expected[svc] = max(expected.get(svc, 0.0), float(np.max(np.abs(during - med)) / iqr))
    assert robust_z_scores(metrics, inc).to_dict() == pytest.approx(expected)
