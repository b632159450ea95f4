"""The loaders on the real benchmark files (skipped when the datasets folder is absent).

The folder is ``<repo>/../shared/datasets`` or ``$RCA_DATASETS``.
"""

from __future__ import annotations

import pytest

from topology import (
    NodeKind,
    PodNameMapper,
    load,
    normalize_spans_csv,
    read_adjacency_csv,
    read_edge_csv,
    read_spans_csv,
)

pytestmark = pytest.mark.datasets


def _need(path):
    if not path.exists():
        pytest.skip(f"{path} not found in the datasets folder")
    return path


def test_nezha_dependency_csv(datasets):
    path = _need(datasets / "nezha/online-boutique/2022-08-22/metric/dependency.csv")
    g = read_edge_csv(path)
    assert load(path) == g
    assert g.has_call("frontend", "checkoutservice")
    assert g.has_call("adservice", "33.33.33.76")
    hosts = {n.name for n in g.nodes if n.kind is NodeKind.HOST}
    assert "33.33.33.76" in hosts and "frontend" not in hosts
    assert all(c.weight is not None for c in g.calls)
    assert g.dependencies("frontend") >= {"checkoutservice", "cartservice", "productcatalogservice"}


@pytest.mark.parametrize("scenario", ["low_traffic", "high_traffic", "temporal_traffic1", "temporal_traffic2"])
def test_petshop_graph_csv(datasets, scenario):
    path = _need(datasets / "petshop" / scenario / "graph.csv")
    g = read_adjacency_csv(path)
    assert load(path) == g
    assert len(g) >= 40 and len(g.calls) >= 40
    # Rows are callers: the web front end PetSite calls the search service and
    # nobody calls PetSite; DynamoDB is a leaf.
    assert "PetSearch_AWS::ECS::Fargate" in g.callees("PetSite")
    assert g.callers("PetSite") == []
    assert g.callees("DynamoDB_AWS::DynamoDB") == []


def test_nezha_trace_csv(datasets):
    folder = _need(datasets / "nezha/online-boutique/2022-08-22/trace")
    path = sorted(folder.glob("*.csv"))[0]
    spans = normalize_spans_csv(path)
    assert spans["trace_id"].notna().all() and spans["parent_id"].isna().any()
    assert (spans["end"] >= spans["start"]).all()
    # Nezha's Duration is in microseconds: it matches the nanosecond timestamps.
    elapsed_us = (spans["end"] - spans["start"]).dt.total_seconds() * 1e6
    assert ((elapsed_us - spans["duration_us"]).abs() <= 1).all()
    g = read_spans_csv(path)
    assert g.has_call("frontend", "cartservice") or g.has_call("frontend", "currencyservice")
    assert all(c.calls and c.calls > 0 for c in g.calls)
    # Pod names were mapped to services (cartservice-579f59597d-wc2lz -> cartservice).
    assert "cartservice" in g.services
    assert all(PodNameMapper()(s) == s for s in g.services)
    # The span-derived service calls appear in the declared dependency graph.
    declared = datasets / "nezha/online-boutique/2022-08-22/metric/dependency.csv"
    if declared.exists():
        dep = read_edge_csv(declared)
        missing = [(c.caller, c.callee) for c in g.calls if not dep.has_call(c.caller, c.callee)]
        assert not missing, missing


def test_train_ticket_spans_give_the_gateway_its_callees(datasets):
    folder = _need(datasets / "nezha/train-ticket/2023-01-29/trace")
    g = load(folder)
    assert "ts-gateway-service" in g and len(g.callees("ts-gateway-service")) >= 5
    assert not any(s != PodNameMapper()(s) for s in g.services)
