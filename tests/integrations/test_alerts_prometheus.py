"""The Prometheus source against a real Prometheus loaded from OpenMetrics (and a few fakes for error paths)."""

from __future__ import annotations

import json

import alerts_support as S
import httpx
import pandas as pd
import pytest

from rca.engine.errors import InvalidIncidentError
from rca.sources.catalog import parse_catalog
from rca.sources.prometheus import (
    PrometheusClient,
    PrometheusQueryError,
    PrometheusUnavailableError,
    choose_step,
    fetch_metrics,
)
from rca.sources.prometheus_topology import (
    load_topology_from_prometheus,
    topology_query,
)
from topology import ServiceGraph

pytestmark = pytest.mark.prometheus
CATALOG = parse_catalog(S.catalog_doc(), source="test")


def test_fetched_frame_equals_the_source_data(prometheus: S.PrometheusServer, incident: S.SyntheticIncident) -> None:
    with PrometheusClient(prometheus.url) as prom:
        got = fetch_metrics(prom, CATALOG, incident.graph, "frontend", incident.start, incident.end, incident.baseline, None)
    want = incident.frame.sort_values(["service", "metric", "timestamp"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=True)
    assert str(got["timestamp"].dt.tz) == "UTC"
    assert got.attrs["step_seconds"] == S.STEP
    assert got.attrs["warnings"] == [] and got.attrs["missing"] == []
    # one query per catalog metric, each selecting all services with one regex
    assert set(got.attrs["queries"]) == {"latency", "error_rate"}
    assert 'service=~"cart|checkout|frontend|payments|redis"' in got.attrs["queries"]["latency"]


def test_only_the_symptom_and_its_dependencies_to_the_depth(
    prometheus: S.PrometheusServer, incident: S.SyntheticIncident
) -> None:
    with PrometheusClient(prometheus.url) as prom:
        got = fetch_metrics(prom, CATALOG, incident.graph, "checkout", incident.start, incident.end, "10min", 1)
    assert sorted(got["service"].unique()) == ["cart", "checkout", "payments"]
    assert got["timestamp"].min() == incident.start - pd.Timedelta("10min")
    assert got["timestamp"].max() == incident.end


def test_services_without_data_are_reported_missing(
    prometheus: S.PrometheusServer, incident: S.SyntheticIncident
) -> None:
    graph = ServiceGraph(calls=[*S.CALLS, ("redis", "disk")])
    with PrometheusClient(prometheus.url) as prom:
        got = fetch_metrics(prom, CATALOG, graph, "cart", incident.start, incident.end, "5min", None, metrics=["latency"])
    assert got.attrs["missing"] == ["disk/latency"]
    assert set(got["metric"]) == {"latency"}


def test_step_stays_under_the_points_limit_on_long_windows(
    prometheus: S.PrometheusServer, incident: S.SyntheticIncident
) -> None:
    with PrometheusClient(prometheus.url) as prom:
        got = fetch_metrics(prom, CATALOG, incident.graph, "redis", incident.start, incident.end, "90d", None, metrics=["latency"])
    assert got.attrs["step_seconds"] == choose_step(incident.start - pd.Timedelta(days=90), incident.end)
    assert got.groupby(["service", "metric"]).size().max() <= 11_000


@pytest.mark.parametrize(("days", "step"), [(0.01, 15.0), (1, 15.0), (2, 16.0), (30, 236.0), (365, 2868.0)])
def test_choose_step(days: float, step: float) -> None:
    end = 86400 * days
    assert choose_step(0, end) == step
    assert int(end // step) + 1 <= 11_000


def test_bad_query_400_names_the_query(prometheus: S.PrometheusServer) -> None:
    with PrometheusClient(prometheus.url) as prom, pytest.raises(PrometheusQueryError, match=r"rejected query 'sum by \(\(' \(400") as info:
        prom.query_range("sum by ((", 0, 60, 15)
    assert info.value.status == 400 and info.value.query == "sum by (("


def test_unexecutable_query_422_names_the_query(prometheus: S.PrometheusServer, incident: S.SyntheticIncident) -> None:
    q = "demo_latency_seconds + on() demo_latency_seconds"
    with PrometheusClient(prometheus.url) as prom, pytest.raises(PrometheusQueryError, match=r"cannot execute query .*\(422\)") as info:
        prom.query_range(q, incident.start, incident.end, 15)
    assert info.value.status == 422


def test_prometheus_down_is_unavailable() -> None:
    url = f"http://127.0.0.1:{S.free_port()}"
    with PrometheusClient(url, timeout=2) as prom, pytest.raises(PrometheusUnavailableError, match="is unreachable") as info:
        prom.query_range("up", 0, 60, 15)
    assert url in str(info.value) and "RCA_PROMETHEUS_URL" in str(info.value)


def _fake(status: int, body: dict) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=json.dumps(body).encode()))


def test_503_and_warnings_with_a_fake() -> None:
    busy = _fake(503, {"status": "error", "errorType": "timeout", "error": "query timed out"})
    with PrometheusClient("http://prom", transport=busy) as prom, pytest.raises(PrometheusUnavailableError, match=r"timed out or aborted query 'up' \(503\): query timed out"):
        prom.query_range("up", 0, 60, 15)
    partial = _fake(
        200,
        {
            "status": "success",
            "warnings": ["remote store unavailable, partial data"],
            "data": {"resultType": "matrix", "result": [{"metric": {"service": "a"}, "values": [[0, "NaN"], [15, "+Inf"], [30, "1.5"]]}]},
        },
    )
    cat = parse_catalog({"metrics": {"latency": {"query": 'x{service=~"{services}"}', "service_label": "service"}}})
    with PrometheusClient("http://prom", transport=partial) as prom:
        got = fetch_metrics(prom, cat, ServiceGraph(["a"]), "a", 60, 90, "1min", None)
    assert got.attrs["warnings"] == ["warning for query 'x{service=~\"a\"}': remote store unavailable, partial data"]
    assert got["value"].iloc[2] == 1.5 and got["value"].isna().iloc[0] and got["value"].iloc[1] == float("inf")


def test_duplicate_series_per_service_are_averaged_and_reported() -> None:
    body = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": {"service": "a", "pod": "1"}, "values": [[0, "1"], [15, "3"]]},
                {"metric": {"service": "a", "pod": "2"}, "values": [[0, "3"]]},
                {"metric": {"service": "zzz"}, "values": [[0, "3"]]},
            ],
        },
    }
    cat = parse_catalog({"metrics": {"latency": {"query": 'x{service=~"{services}"}', "service_label": "service"}}})
    with PrometheusClient("http://prom", transport=_fake(200, body)) as prom:
        got = fetch_metrics(prom, cat, ServiceGraph(["a"]), "a", 15, 15, "15s", None)
    assert got["value"].tolist() == [2.0, 3.0]
    assert any("2 series for service 'a' were averaged" in w for w in got.attrs["warnings"])
    assert any("service='zzz'" in w for w in got.attrs["warnings"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"symptom": "nowhere"}, "not in the topology"),
        ({"depth": 0}, "depth must be a positive int"),
        ({"baseline": "soon"}, "baseline must be a duration"),
        ({"end": "2020-01-01T00:00:00Z", "start": "2020-01-02T00:00:00Z", "baseline": 0}, "must end after it starts"),
    ],
)
def test_fetch_metrics_validates_its_arguments(kwargs: dict, match: str) -> None:
    args = {"symptom": "a", "start": 0, "end": 60, "baseline": "1min", "depth": None, **kwargs}
    with PrometheusClient("http://prom", transport=_fake(500, {})) as prom, pytest.raises(InvalidIncidentError, match=match):
        fetch_metrics(prom, CATALOG, ServiceGraph(["a"]), **args)


def test_istio_topology_uses_one_reporter_and_skips_unknown(
    prometheus: S.PrometheusServer, incident: S.SyntheticIncident
) -> None:
    with PrometheusClient(prometheus.url) as prom:
        graph = load_topology_from_prometheus(prom, "istio", at=incident.end)
    assert sorted((c.caller, c.callee) for c in graph.calls) == sorted(S.CALLS)
    rates = {(c.caller, c.callee): c.weight for c in graph.calls}
    # each edge counted once (reporter="destination" only): the generated rates are 10, 20, 30, 40 /s
    assert sorted(round(r, 6) for r in rates.values()) == [10.0, 20.0, 30.0, 40.0]
    assert "unknown" not in graph


def test_servicegraph_topology(prometheus: S.PrometheusServer, incident: S.SyntheticIncident) -> None:
    with PrometheusClient(prometheus.url) as prom:
        graph = load_topology_from_prometheus(prom, "servicegraph", at=incident.end)
    assert sorted((c.caller, c.callee) for c in graph.calls) == sorted(S.CALLS)
    assert sorted(graph.dependencies("frontend")) == ["cart", "checkout", "payments", "redis"]


def test_topology_query_validation() -> None:
    with pytest.raises(ValueError, match="unknown topology source 'jaeger'"):
        topology_query("jaeger")
    with pytest.raises(ValueError, match="window must be a Prometheus duration"):
        topology_query("istio", "5 minutes")


def test_the_bundled_demo_incident_round_trips_through_prometheus(prometheus: S.PrometheusServer) -> None:
    """rca/data/demo, loaded with promtool and fetched back: same values, same timestamps."""
    from topology import io_yaml

    graph = io_yaml.loads_yaml(S.demo_topology_yaml(), source="demo")
    want = S.demo_frame().sort_values(["service", "metric", "timestamp"]).reset_index(drop=True)
    catalog = parse_catalog(S.demo_catalog_doc())
    end = want["timestamp"].max()
    with PrometheusClient(prometheus.url) as prom:
        got = fetch_metrics(prom, catalog, graph, "frontend", S.DEMO_START, end, "60m", None, min_step=S.DEMO_STEP)
    assert got.attrs["step_seconds"] == S.DEMO_STEP and got.attrs["missing"] == []
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=True)


def _entry(query: str, label: str = "service") -> dict:
    return {"query": query, "service_label": label}


def test_an_entry_matching_no_series_is_an_issue_naming_it_the_query_and_the_closest_names(
    prometheus: S.PrometheusServer, incident: S.SyntheticIncident
) -> None:
    cat = parse_catalog({"metrics": {
        "latency": _entry('max by (service) (demo_latency_seconds{service=~"{services}"})'),
        "typo": _entry('max by (service) (demo_latncy_seconds{service=~"{services}"})'),
        "label": _entry('max by (svc) (demo_latency_seconds{svc=~"{services}"})', "svc"),
        "filtered": _entry('max by (service) (demo_latency_seconds{service=~"{services}"} > 1000)'),
    }}, source="mine.yaml")  # fmt: skip
    with PrometheusClient(prometheus.url) as prom:
        got = fetch_metrics(prom, cat, incident.graph, "frontend", incident.start, incident.end, "10min", None)
    assert set(got["metric"]) == {"latency"}
    assert got.attrs["empty"] == ["typo", "label", "filtered"]
    issues = {i.metric: i for i in got.attrs["issues"]}
    assert {i.kind for i in issues.values()} == {"catalog_no_series"} and all(i.service is None for i in issues.values())
    typo = issues["typo"].message
    assert typo.startswith("metrics catalog 'mine.yaml': entry 'typo' matched no series of the 5 services ('cart', ")
    assert "Prometheus has no metric 'demo_latncy_seconds' in that window; did you mean 'demo_latency_seconds'?" in typo
    assert typo.endswith(f"; query: {got.attrs['queries']['typo']}")
    assert "no series of 'demo_latency_seconds' has the label 'svc' (service_label of the entry)" in issues["label"].message
    assert "its metrics and services exist, so a matcher or an operator" in issues["filtered"].message


def test_services_named_differently_in_prometheus_get_the_closest_label_values(
    prometheus: S.PrometheusServer, incident: S.SyntheticIncident
) -> None:
    graph = ServiceGraph(calls=[("frontnd", "chekout")])
    with PrometheusClient(prometheus.url) as prom:
        got = fetch_metrics(prom, CATALOG, graph, "frontnd", incident.start, incident.end, "5min", None, metrics=["latency"])
    [issue] = got.attrs["issues"]
    assert "'demo_latency_seconds' has service='cart', 'checkout', 'frontend', 'payments', 'redis', none of them a " \
           "requested service (closest: 'chekout' -> 'checkout', 'frontnd' -> 'frontend')" in issue.message  # fmt: skip


def test_the_default_error_ratio_is_zero_not_missing_without_5xx(
    prometheus: S.PrometheusServer, incident: S.SyntheticIncident
) -> None:
    """The synthetic Istio traffic has only 200s: the ratio must be 0 for each service, not an empty entry."""
    from rca.sources.catalog import load_catalog

    with PrometheusClient(prometheus.url) as prom:
        got = fetch_metrics(prom, load_catalog(), incident.graph, "frontend", incident.start, incident.end, "10min", None,
                            metrics=["istio_error_rate"])  # fmt: skip
    assert got.attrs["empty"] == [] and got.attrs["issues"] == []
    assert sorted(got["service"].unique()) == sorted(incident.graph.services)
    assert (got["value"].dropna() == 0).all() and got["value"].notna().any()
