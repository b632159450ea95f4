"""ServiceGraph queries: direction, transitive closure, paths, subgraphs, relabel, digest."""

from __future__ import annotations

import networkx as nx
import pytest

from topology import Call, Node, NodeKind, ServiceGraph, TopologyError


def test_edges_mean_caller_calls_callee(make_topology):
    g = make_topology("chain")
    assert g.callees("frontend") == ["checkout"]
    assert g.callers("checkout") == ["frontend"]
    assert g.has_call("frontend", "checkout") and not g.has_call("checkout", "frontend")


def test_dependencies_and_dependents_are_transitive(make_topology):
    g = make_topology("diamond")
    assert g.dependencies("frontend") == {"cart", "catalog", "db"}
    assert g.dependencies("frontend", max_depth=1) == {"cart", "catalog"}
    assert g.dependencies("db") == set()
    assert g.dependents("db") == {"cart", "catalog", "frontend"}
    assert g.dependents("db", max_depth=1) == {"cart", "catalog"}


def test_dependencies_in_a_cycle_exclude_the_node_itself(make_topology):
    g = make_topology("cycle")
    assert g.dependencies("a") == {"b", "c", "db"}
    assert g.dependents("a") == {"b", "c"}


def test_propagation_path_runs_against_the_calls(make_topology):
    g = make_topology("chain")
    assert g.propagation_path("db", "frontend") == ["db", "payment", "checkout", "frontend"]
    assert g.propagation_path("frontend", "db") is None  # db does not depend on frontend
    assert g.propagation_path("db", "db") == ["db"]


def test_propagation_path_with_mutual_calls_and_cycles(make_topology):
    g = make_topology("mutual")
    assert g.propagation_path("b", "a") == ["b", "a"]
    assert g.propagation_path("a", "b") == ["a", "b"]
    assert g.propagation_path("db", "frontend") == ["db", "b", "a", "frontend"]
    c = make_topology("cycle")
    # c calls a directly, so a fault in a reaches c in one hop, not via b.
    assert c.propagation_path("a", "c") == ["a", "c"]
    assert c.propagation_path("c", "a") == ["c", "b", "a"]


def test_call_distance(make_topology):
    g = make_topology("chain")
    assert g.call_distance("frontend", "db") == 3
    assert g.call_distance("db", "frontend") is None


def test_unknown_service_raises(make_topology):
    g = make_topology("chain")
    for query in (g.callees, g.callers, g.dependencies, g.dependents, g.node):
        with pytest.raises(TopologyError, match="unknown service 'nope'"):
            query("nope")
    with pytest.raises(TopologyError, match="unknown service"):
        g.propagation_path("nope", "db")


def test_subgraph_keeps_calls_among_names_and_order(make_topology):
    g = make_topology("diamond")
    sub = g.subgraph(["db", "cart", "missing"])
    assert sub.services == ["cart", "db"]  # parent order, unknown names ignored
    assert [(c.caller, c.callee) for c in sub.calls] == [("cart", "db")]
    assert sub.kind("db") is NodeKind.DATABASE
    assert sub.node("db").tags == {"engine": "postgres"}


def test_subgraph_keeps_insertion_order_for_small_subsets():
    # Regression: the networkx subgraph view iterates a *set* when the subset is
    # under half the graph, so the order used to depend on the string hash seed.
    names = [f"svc-{i:02d}" for i in range(40)]
    g = ServiceGraph(calls=list(zip(names, names[1:])))
    wanted = names[5:17]
    sub = g.subgraph(reversed(wanted))
    assert sub.services == wanted
    assert [c.caller for c in sub.calls] == wanted[:-1]
    assert sub.to_dict() == g.subgraph(wanted).to_dict()


def test_scope_is_the_symptom_and_its_dependencies(make_topology):
    g = make_topology("diamond")
    assert set(g.scope("cart").services) == {"cart", "db"}
    assert set(g.scope("frontend", max_depth=1).services) == {"frontend", "cart", "catalog"}
    mutual = make_topology("mutual")
    assert set(mutual.scope("a").services) == {"a", "b", "db"}


def test_relabel_merges_nodes_and_adds_call_counts():
    g = ServiceGraph()
    g.add_call("web-1", "db-0", calls=3)
    g.add_call("web-2", "db-0", calls=4)
    g.add_call("web-1", "web-2", calls=9)  # becomes internal: dropped
    merged = g.relabel({"web-1": "web", "web-2": "web", "db-0": "db"})
    assert merged.services == ["web", "db"]
    assert merged.calls == [Call("web", "db", None, 7)]


def test_relabel_keeps_existing_self_calls():
    # Regression: relabel({}) used to drop self-calls, which the merge did not create.
    g = ServiceGraph(calls=[("a", "a"), ("a", "b")])
    assert g.relabel({}) == g


def test_equality_ignores_insertion_order():
    a = ServiceGraph(["x", "y"], calls=[("x", "y"), ("y", "z")])
    b = ServiceGraph(calls=[("y", "z"), ("x", "y")])
    assert a == b
    assert a != ServiceGraph(calls=[("x", "y")])
    assert (a == "not a graph") is False


def test_digest_is_stable_and_order_independent():
    a = ServiceGraph([Node("db", NodeKind.DATABASE)], calls=[("x", "db"), ("y", "db")])
    b = ServiceGraph(calls=[Call("y", "db"), Call("x", "db")])
    b.add_service("db", kind="database")
    assert a.digest() == b.digest()
    # Pinned value: the digest is persisted by other components, so it must not drift.
    assert ServiceGraph(calls=[("a", "b")]).digest() == (
        "8dad0e7b35cfc1ba0f939e07f086a2537966e1a7dfe0f6d0f66233aeb8bbba29"
    )
    c = ServiceGraph(calls=[("x", "db")])
    assert c.digest() != a.digest()


def test_add_call_accumulates_counts_and_replaces_weight():
    g = ServiceGraph()
    g.add_call("a", "b", weight=1.0, calls=2)
    g.add_call("a", "b", weight=0.5, calls=3)
    assert g.calls == [Call("a", "b", 0.5, 5)]


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_bad_names_are_rejected(bad):
    with pytest.raises(TopologyError, match="non-empty string") as info:
        ServiceGraph().add_call("a", bad)
    assert info.value.field == "callee"


def test_unknown_kind_lists_the_allowed_ones():
    with pytest.raises(TopologyError, match="unknown node kind 'cache'; use one of: service") as info:
        ServiceGraph().add_service("redis", kind="cache")
    assert info.value.field == "kind"


def test_networkx_round_trip(make_topology):
    g = make_topology("mutual")
    nxg = g.to_networkx()
    assert isinstance(nxg, nx.DiGraph) and nxg.has_edge("a", "b") and nxg.has_edge("b", "a")
    assert ServiceGraph.from_networkx(nxg) == g


def test_reversed_flips_every_edge_and_keeps_nodes_and_attributes():
    g = ServiceGraph(calls=[("web", "api"), ("api", "db")])
    g.add_service("db", kind="database", tags={"team": "data"})
    g.add_call("web", "api", weight=2.5, calls=7)
    g.add_service("lonely")
    r = g.reversed()
    assert sorted((c.caller, c.callee) for c in r.calls) == [("api", "web"), ("db", "api")]
    assert r.services == g.services  # same nodes, same order, isolated ones too
    assert r.node("db") == g.node("db")
    flipped = next(c for c in r.calls if c.caller == "api")
    assert (flipped.weight, flipped.calls) == (2.5, 7)
    assert r.reversed() == g and g.calls[0].caller == "web"  # an involution; the original is untouched
    assert g.as_calls("calls") is g and g.as_calls("causal") == r


def test_from_networkx_reads_a_causal_dag_as_the_reverse_call_graph():
    causal = nx.DiGraph([("db", "api"), ("api", "web")])  # cause -> effect
    g = ServiceGraph.from_networkx(causal, edges="causal")
    assert g.dependencies("web") == {"api", "db"}
    assert g.propagation_path("db", "web") == ["db", "api", "web"]
    assert ServiceGraph.from_networkx(causal) == g.reversed()
    with pytest.raises(TopologyError, match="edges must be 'calls'.*or 'causal'.*got 'effect'") as info:
        ServiceGraph.from_networkx(causal, edges="effect")
    assert info.value.field == "edges"
