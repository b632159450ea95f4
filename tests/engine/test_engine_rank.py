"""Ranking of :mod:`rca.engine.rank` on hand-made graphs with hand-set evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rca.engine.config import RankConfig
from rca.engine.rank import (
    anomaly_probability,
    node_evidence,
    personalized_walk,
    rank_candidates,
)
from rca.engine.types import GrangerTest
from topology import ServiceGraph

THRESHOLD = 1.0


def _table(scores: dict[str, float], metric: str = "latency", points: int = 60) -> pd.DataFrame:
    """A detect-style table: one ``metric`` series per service with the given score."""
    index = pd.MultiIndex.from_tuples([(s, metric) for s in scores], names=["service", "metric"])
    return pd.DataFrame(
        {"score": list(scores.values()), "weight": 1.0, "points": points, "direction": "up"}, index=index
    )


def _rank(graph: ServiceGraph, scores: dict[str, float], symptom: str, *, granger=(), **cfg) -> list[str]:
    ev = node_evidence(_table(scores), threshold=THRESHOLD)
    return [c.service for c in rank_candidates(graph, ev, symptom, list(granger), RankConfig(**cfg), threshold=THRESHOLD)]


DIAMOND = {"front": 5.0, "left": 4.0, "right": 4.0, "db": 6.0}


def test_node_evidence_takes_the_strongest_metric_and_excludes_the_symptom():
    index = pd.MultiIndex.from_tuples([("a", "latency"), ("a", "cpu"), ("b", "latency")])
    table = pd.DataFrame({"score": [3.0, 0.2, 2.0], "weight": [1.0, 1.0, 1.0], "points": 60}, index=index)
    ev = node_evidence(table, threshold=THRESHOLD, exclude=("b", "latency"))
    assert set(ev) == {"a"}
    assert ev["a"].metric == "latency" and ev["a"].score == 3.0
    assert 0.5 < ev["a"].probability < 1.0
    assert node_evidence(table.iloc[:0], threshold=THRESHOLD) == {}


def test_node_evidence_leaves_out_the_symptom_service_s_other_series_of_its_kind():
    index = pd.MultiIndex.from_tuples(
        [("front", "latency_p90"), ("front", "latency_p50"), ("front", "server_latency_p90"),
         ("front", "success_rate"), ("front", "cpu"), ("api", "latency_p50")]
    )
    table = pd.DataFrame({"score": [9.0, 8.0, 9.0, 2.0, 1.5, 3.0], "weight": 1.0, "points": 60}, index=index)
    ev = node_evidence(table, threshold=THRESHOLD, exclude=("front", "latency_p90"))
    # front's other latency series are the alert again; its errors and CPU still count
    assert ev["front"].metric == "success_rate" and ev["front"].score == 2.0
    assert ev["api"].metric == "latency_p50"  # the same metric elsewhere is evidence
    # a symptom of another kind (saturation) excludes only itself
    ev_cpu = node_evidence(table, threshold=THRESHOLD, exclude=("front", "cpu"))
    assert ev_cpu["front"].metric in ("latency_p90", "server_latency_p90") and ev_cpu["front"].score == 9.0


@pytest.mark.parametrize("metric", ["client_latency_p90", "network_latency_p50", "rtt_latency_p50"])
def test_the_symptom_service_s_client_side_and_network_series_stay_evidence(metric):
    index = pd.MultiIndex.from_tuples([("front", "latency_p90"), ("front", "latency_p50"), ("front", metric)])
    table = pd.DataFrame({"score": [9.0, 8.0, 4.0], "weight": 1.0, "points": 60}, index=index)
    ev = node_evidence(table, threshold=THRESHOLD, exclude=("front", "latency_p90"))
    assert ev["front"].metric == metric  # they describe the calls it makes and the network, not the alert


def test_anomaly_probability_is_one_half_at_the_threshold():
    assert anomaly_probability(1.0, 1.0) == pytest.approx(0.5)
    assert anomaly_probability(2.0, 1.0) == pytest.approx(0.8)
    assert anomaly_probability(0.1, 1.0) < 0.5


# A marginal anomaly deep down does not beat decisive ones above it (log-odds
# do not saturate, by design); one at the callers' level or above does.
@pytest.mark.parametrize("db_score", [6.0, 4.0, 3.0])
def test_diamond_deepest_anomalous_dependency_ranks_first(make_graph, db_score):
    ranking = _rank(make_graph("diamond"), {**DIAMOND, "db": db_score}, "front")
    assert ranking[0] == "db"
    assert set(ranking) == {"front", "left", "right", "db"}


def test_diamond_normal_db_puts_blame_on_the_anomalous_branch(make_graph):
    ranking = _rank(make_graph("diamond"), {"front": 5.0, "left": 4.0, "right": 0.3, "db": 0.2}, "front")
    assert ranking[0] == "left"
    assert "right" not in ranking and "db" not in ranking  # below the threshold: not candidates


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ({"a": 4.0, "b": 4.0, "c": 3.0, "d": 0.2}, "c"),
        ({"a": 4.0, "b": 3.0, "c": 0.3, "d": 0.2}, "b"),
        ({"a": 4.0, "b": 4.0, "c": 4.0, "d": 3.5}, "d"),
    ],
    ids=["callee-c", "callee-b", "bottom-d"],
)
def test_chain_anomalous_callee_below_anomalous_caller_wins(make_graph, scores, expected):
    assert _rank(make_graph("chain"), scores, "a")[0] == expected


def test_granger_support_is_reported_in_components(make_graph):
    g = make_graph("chain")
    ev = node_evidence(_table({"a": 4.0, "b": 4.0, "c": 4.0}), threshold=THRESHOLD)
    sig = [GrangerTest("c", "latency", "b", "latency", p_value=1e-4, q_value=1e-3, significant=True)]
    ranked = rank_candidates(g, ev, "a", sig, RankConfig(), threshold=THRESHOLD)
    by = {c.service: c for c in ranked}
    assert by["c"].components["granger"] == 1.0
    assert by["b"].components["granger"] == -1.0
    assert ranked[0].service == "c"


def test_without_topology_ranking_follows_anomaly_strength(make_graph):
    scores = {"front": 2.0, "left": 6.0, "right": 3.0, "db": 4.0, "elsewhere": 5.0}
    ranking = _rank(make_graph("diamond"), scores, "front", use_topology=False)
    assert ranking == sorted(scores, key=lambda s: -scores[s])
    # with the topology, a service outside the symptom's dependencies is no candidate
    assert "elsewhere" not in _rank(make_graph("diamond"), scores, "front")


def test_nothing_anomalous_gives_no_candidates(make_graph):
    assert _rank(make_graph("diamond"), {s: 0.5 for s in DIAMOND}, "front") == []


@pytest.mark.parametrize("use_pagerank", [True, False])
@pytest.mark.parametrize("scores", [DIAMOND, {"front": 5.0, "left": 1.2, "right": 9.0, "db": 0.1}, {"front": 1.01, "db": 1.01, "left": 0.0, "right": 0.0}])
def test_confidences_are_probabilities(make_graph, scores, use_pagerank):
    ev = node_evidence(_table(scores), threshold=THRESHOLD)
    ranked = rank_candidates(make_graph("diamond"), ev, "front", [], RankConfig(use_pagerank=use_pagerank), threshold=THRESHOLD)
    conf = np.array([c.confidence for c in ranked])
    assert ranked
    assert ((conf >= 0) & (conf <= 1)).all()
    assert conf.sum() <= 1 + 1e-12
    assert [c.log_score for c in ranked] == sorted((c.log_score for c in ranked), reverse=True)
    assert list(conf) == sorted(conf, reverse=True)


@pytest.mark.parametrize("restart", [0.05, 0.15, 0.9])
def test_personalized_walk_is_a_distribution(make_graph, restart):
    g = make_graph("diamond")
    nodes = sorted(g.services)
    walk = personalized_walk(g, nodes, {"front": 0.9, "left": 0.8, "right": 0.1, "db": 0.95}, "front", restart)
    assert set(walk) == set(nodes)
    assert sum(walk.values()) == pytest.approx(1.0)
    assert all(v >= 0 for v in walk.values())
    if restart < 0.5:  # the walker reaches the anomalous bottom more than the normal branch
        assert walk["db"] > walk["right"]


def test_personalized_walk_with_a_dangling_source():
    g = ServiceGraph(services=["solo"], calls=[("x", "y")])
    walk = personalized_walk(g, ["solo"], {}, "solo", 0.15)
    assert walk == {"solo": pytest.approx(1.0)}


# -- relabelling services permutes the ranking ----------------------------------------------
_NAMES = ["front", "left", "right", "db"]


@settings(max_examples=30, deadline=None)
@given(
    st.permutations(["n0", "n1", "n2", "n3"]),
    st.lists(st.floats(0.0, 20.0, allow_nan=False), min_size=4, max_size=4, unique=True),
)
def test_relabelling_services_permutes_the_ranking(new_names, values):
    mapping = dict(zip(_NAMES, new_names, strict=True))
    g = ServiceGraph(calls=[("front", "left"), ("front", "right"), ("left", "db"), ("right", "db")])
    scores = dict(zip(_NAMES, values, strict=True))
    before = _rank(g, scores, "front")
    after = _rank(g.relabel(mapping), {mapping[s]: v for s, v in scores.items()}, mapping["front"])
    assert after == [mapping[s] for s in before]


def test_an_external_endpoint_counts_as_a_client_side_measurement():
    from rca.engine.metric_semantics import CLIENT_SIDE_WEIGHT

    g = ServiceGraph()
    g.add_service("front")
    g.add_service("api")
    g.add_service("lb_remote", kind="external")
    g.add_call("front", "api")
    g.add_call("front", "lb_remote")
    ev = node_evidence(_table({"front": 3.0, "api": 3.0, "lb_remote": 3.0}), threshold=THRESHOLD)
    ranked = rank_candidates(g, ev, "front", [], RankConfig(use_pagerank=False), threshold=THRESHOLD)
    by_name = {c.service: c for c in ranked}
    assert [c.service for c in ranked][0] == "api"  # same anomaly, but seen from inside
    assert by_name["lb_remote"].components["anomaly"] == pytest.approx(CLIENT_SIDE_WEIGHT * ev["lb_remote"].log_odds)
    assert by_name["api"].components["anomaly"] == pytest.approx(ev["api"].log_odds)


def test_an_external_endpoint_alone_below_its_caller_counts_in_full():
    # A database behind a service, seen only from the service's calls: when it
    # is slow, the service is slow too, and nothing measured from inside takes over.
    g = ServiceGraph()
    for name in ("front", "app", "cache"):
        g.add_service(name)
    g.add_service("db_remote", kind="external")
    g.add_service("lb_remote", kind="external")
    g.add_call("front", "app")
    g.add_call("front", "lb_remote")
    g.add_call("app", "db_remote")
    g.add_call("app", "cache")
    ev = node_evidence(_table({"front": 3.0, "app": 3.0, "db_remote": 3.0, "lb_remote": 0.2, "cache": 0.2}), threshold=THRESHOLD)
    ranked = rank_candidates(g, ev, "front", [], RankConfig(use_pagerank=False), threshold=THRESHOLD)
    assert [c.service for c in ranked][:2] == ["db_remote", "app"]
    assert ranked[0].components["anomaly"] == pytest.approx(ev["db_remote"].log_odds)
    # an anomalous service beside it (a sibling under the same caller) takes over again
    ev = node_evidence(_table({"front": 3.0, "app": 3.0, "db_remote": 3.0, "lb_remote": 0.2, "cache": 3.0}), threshold=THRESHOLD)
    ranked = rank_candidates(g, ev, "front", [], RankConfig(use_pagerank=False), threshold=THRESHOLD)
    assert [c.service for c in ranked][0] == "cache"


@pytest.mark.parametrize(
    ("metric", "kind"),
    [
        ("latency_p99", "latency"),
        ("rt", "latency"),
        ("mrt_ms", "latency"),
        ("error_rate", "errors"),
        ("errs", "errors"),
        ("availability", "errors"),
        ("cpu_usage", "saturation"),
        ("requests", "traffic"),
        ("start_time", "traffic"),
        ("stderr_lines", "traffic"),
    ],
)
def test_metric_kinds(metric, kind):
    from rca.engine.rank import metric_kind

    assert metric_kind(metric) == kind
