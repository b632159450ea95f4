"""Every endpoint answers bad input with a 4xx and ``{error, detail, field}``; never a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from api_support import INCIDENT, TOPOLOGY, analysis_body, make_metrics

JSON = {"content-type": "application/json"}


def _check(r: httpx.Response, status: int, error: str, field: str | None = "?") -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "detail", "field"}, body
    assert body["error"] == error, body
    assert body["detail"], body
    if field != "?":
        assert body["field"] == field, body
    return body


def _body(**changes: Any) -> bytes:
    return json.dumps(analysis_body(**changes)).encode()


def _points(*edits: dict[str, Any]) -> list[dict[str, Any]]:
    pts = make_metrics()
    for i, e in enumerate(edits):
        pts[i] = {**pts[i], **e}
    return pts


# (id, content, headers, params, status, error, field)
ANALYSIS_CASES = [
    ("malformed-json", b'{"incident": ', JSON, {}, 400, "malformed_json", None),
    ("not-an-object", b"[1, 2]", JSON, {}, 422, "validation_error", None),
    ("no-content-type", _body(), {"content-type": "text/plain"}, {}, 415, "unsupported_media_type", "body"),
    ("missing-metrics", json.dumps({"incident": INCIDENT, "topology": {"inline": TOPOLOGY}}).encode(), JSON, {}, 422, "validation_error", "metrics"),
    ("value-not-number", _body(metrics=_points({"value": "fast"})), JSON, {}, 422, "validation_error", "metrics[0].value"),
    ("service-not-string", _body(metrics=_points({"service": 7})), JSON, {}, 422, "validation_error", "metrics[0].service"),
    ("extra-field", _body(metrics=_points({"unit": "ms"})), JSON, {}, 422, "validation_error", "metrics[0].unit"),
    ("bad-timestamp", _body(metrics=_points({"timestamp": "yesterday-ish"})), JSON, {}, 422, "invalid_metrics", "?"),
    ("empty-metrics", _body(metrics=[]), JSON, {}, 422, "invalid_metrics", "metrics"),
    ("incident-missing-start", _body(incident={"service": "frontend", "metric": "latency"}), JSON, {}, 422, "invalid_incident", "incident.start"),
    ("incident-bad-time", _body(incident={**INCIDENT, "start": "soon"}), JSON, {}, 422, "invalid_incident", "incident.start"),
    ("incident-unknown-service", _body(incident={**INCIDENT, "service": "ghost"}), JSON, {}, 422, "unknown_service", "incident.service"),
    ("incident-series-missing", _body(incident={**INCIDENT, "metric": "cpu"}), JSON, {}, 422, "invalid_metrics", "incident.metric"),
    ("incident-metric-typo", _body(incident={**INCIDENT, "metric": "latncy"}), JSON, {}, 422, "invalid_metrics", "incident.metric"),
    ("config-out-of-range", _body(config={"granger": {"max_lag": 0}}), JSON, {}, 422, "invalid_config", "granger.max_lag"),
    ("config-unknown-section", _body(config={"magic": {}}), JSON, {}, 422, "invalid_config", "magic"),
    ("config-wrong-type", _body(config="fast"), JSON, {}, 422, "validation_error", "config"),
    ("unknown-topology", _body(topology={"name": "nope"}), JSON, {}, 422, "topology_not_found", "topology.name"),
    ("unknown-topology-version", _body(topology={"name": "bad-input-shop", "version": 99}), JSON, {}, 422, "topology_not_found", "topology.name"),
    ("topology-two-sources", _body(topology={"name": "x", "inline": TOPOLOGY}), JSON, {}, 422, "validation_error", "topology"),
    ("topology-inline-broken", _body(topology={"inline": {"services": [3]}}), JSON, {}, 422, "invalid_topology", "?"),
    ("topology-bad-edges", _body(topology={"inline": TOPOLOGY, "edges": "effect"}), JSON, {}, 422, "validation_error", "topology.edges"),
    ("topology-name-with-edges", _body(topology={"name": "bad-input-shop", "edges": "causal"}), JSON, {}, 422, "validation_error", "topology"),
    ("topology-spans-as-causal", _body(topology={"data": "[]", "format": "zipkin", "edges": "causal"}), JSON, {}, 422, "invalid_topology", "topology.data.edges"),
    ("topology-data-bad-format", _body(topology={"data": "a,b", "format": "dot"}), JSON, {}, 422, "unsupported_format", "topology.format"),
    ("metrics-unknown-services", _body(metrics=[{**p, "service": "x-" + p["service"]} for p in make_metrics()]), JSON, {}, 422, "invalid_metrics", "metrics"),
    ("wait-not-bool", _body(), JSON, {"wait": "maybe"}, 422, "validation_error", "wait"),
]


@pytest.fixture(scope="module", autouse=True)
def _stored_topology(shared: Any) -> None:
    with shared.client() as c:
        assert c.put("/v1/topologies/bad-input-shop", json=TOPOLOGY).status_code == 201


@pytest.mark.parametrize(
    ("content", "headers", "params", "status", "error", "field"),
    [c[1:] for c in ANALYSIS_CASES],
    ids=[c[0] for c in ANALYSIS_CASES],
)
def test_post_analysis_bad_input(
    api: httpx.Client, content: bytes, headers: dict[str, str], params: dict[str, str], status: int, error: str, field: str | None
) -> None:
    _check(api.post("/v1/analyses", content=content, headers=headers, params=params), status, error, field)


def _files(request: Any, metrics: tuple[str, bytes, str] | None) -> dict[str, Any]:
    files: dict[str, Any] = {}
    if request is not None:
        files["request"] = (None, request if isinstance(request, str) else json.dumps(request), "application/json")
    if metrics is not None:
        files["metrics"] = metrics
    return files


GOOD_REQUEST = {"incident": INCIDENT, "topology": {"inline": TOPOLOGY}}
MULTIPART_CASES = [
    ("no-request-part", None, ("m.csv", b"timestamp,service,metric,value\n", "text/csv"), 422, "validation_error", "request"),
    ("request-not-json", "{oops", ("m.csv", b"a\n", "text/csv"), 422, "validation_error", "request"),  # a form field, not the body
    ("request-wrong-type", {"incident": 5, "topology": {"inline": TOPOLOGY}}, ("m.csv", b"a\n", "text/csv"), 422, "validation_error", "request.incident"),
    ("no-metrics-file", GOOD_REQUEST, None, 422, "validation_error", "metrics"),
    ("csv-missing-columns", GOOD_REQUEST, ("m.csv", b"time,svc,value\n1,a,2\n", "text/csv"), 422, "invalid_metrics", "metrics"),
    ("csv-bad-value", GOOD_REQUEST, ("m.csv", b"timestamp,service,metric,value\n2024-05-01T11:00Z,db,latency,high\n", "text/csv"), 422, "invalid_metrics", "metrics[0].value"),
    ("csv-empty-service", GOOD_REQUEST, ("m.csv", b"timestamp,service,metric,value\n2024-05-01T11:00Z,,latency,1\n", "text/csv"), 422, "invalid_metrics", "metrics[0].service"),
    ("parquet-garbage", GOOD_REQUEST, ("m.parquet", b"PAR1 this is not parquet", "application/octet-stream"), 422, "invalid_metrics", "metrics"),
    ("csv-binary-garbage", GOOD_REQUEST, ("m.csv", bytes(range(256)) * 4, "text/csv"), 422, "invalid_metrics", "?"),
]


@pytest.mark.parametrize(
    ("request_part", "metrics", "status", "error", "field"),
    [c[1:] for c in MULTIPART_CASES],
    ids=[c[0] for c in MULTIPART_CASES],
)
def test_post_analysis_multipart_bad_input(
    api: httpx.Client, request_part: Any, metrics: Any, status: int, error: str, field: str | None
) -> None:
    _check(api.post("/v1/analyses", files=_files(request_part, metrics)), status, error, field)


TOPOLOGY_CASES = [
    ("malformed-json", "shop", b'{"services": [', JSON, {}, 422, "invalid_topology"),
    ("wrong-types", "shop", json.dumps({"services": [1, 2]}).encode(), JSON, {}, 422, "invalid_topology"),
    ("empty-body", "shop", b"", JSON, {}, 422, "empty_body"),
    ("empty-graph", "shop", b'{"services": [], "calls": []}', JSON, {}, 422, "invalid_topology"),
    ("bad-yaml", "shop", b"services: [a, b\n", {"content-type": "application/yaml"}, {}, 422, "invalid_topology"),
    ("csv-no-header", "shop", b"a;b;c\n", {"content-type": "text/csv"}, {}, 422, "invalid_topology"),
    ("unknown-format", "shop", b"{}", JSON, {"format": "dot"}, 422, "unsupported_format"),
    ("unknown-edges", "shop", json.dumps(TOPOLOGY).encode(), JSON, {"edges": "sideways"}, 422, "validation_error"),
    ("unknown-content-type", "shop", b"{}", {"content-type": "image/png"}, {}, 415, "unsupported_media_type"),
    ("bad-name", "bad name!", json.dumps(TOPOLOGY).encode(), JSON, {}, 422, "validation_error"),
    ("binary-garbage", "shop", bytes(range(256)), JSON, {}, 422, "invalid_topology"),
]


@pytest.mark.parametrize(
    ("name", "content", "headers", "params", "status", "error"),
    [c[1:] for c in TOPOLOGY_CASES],
    ids=[c[0] for c in TOPOLOGY_CASES],
)
def test_put_topology_bad_input(
    api: httpx.Client, name: str, content: bytes, headers: dict[str, str], params: dict[str, str], status: int, error: str
) -> None:
    _check(api.put(f"/v1/topologies/{name}", content=content, headers=headers, params=params), status, error)


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "error", "field"),
    [
        ("GET", "/v1/topologies/never-uploaded", {}, 404, "topology_not_found", "name"),
        ("GET", "/v1/topologies/bad-input-shop", {"version": "0"}, 422, "validation_error", "version"),
        ("GET", "/v1/topologies/bad-input-shop", {"version": "two"}, 422, "validation_error", "version"),
        ("GET", "/v1/topologies/bad-input-shop", {"version": "42"}, 404, "topology_not_found", "name"),
        ("DELETE", "/v1/topologies/never-uploaded", {}, 404, "topology_not_found", "name"),
        ("GET", "/v1/analyses/0123456789abcdef", {}, 404, "analysis_not_found", "analysis_id"),
        ("GET", "/v1/analyses", {"status": "sleeping"}, 422, "validation_error", "status"),
        ("GET", "/v1/analyses", {"since": "last tuesday"}, 422, "validation_error", "since"),
        ("GET", "/v1/analyses", {"limit": "0"}, 422, "validation_error", "limit"),
        ("GET", "/v1/analyses", {"limit": "100000"}, 422, "validation_error", "limit"),
        ("GET", "/v1/analyses", {"cursor": "!!not-a-cursor"}, 422, "invalid_cursor", "cursor"),
        ("GET", "/v1/nothing-here", {}, 404, "not_found", None),
        ("PATCH", "/v1/analyses", {}, 405, "method_not_allowed", None),
        ("POST", "/healthz", {}, 405, "method_not_allowed", None),
        ("DELETE", "/readyz", {}, 405, "method_not_allowed", None),
        ("PUT", "/metrics", {}, 405, "method_not_allowed", None),
        ("POST", "/v1/topologies", {}, 405, "method_not_allowed", None),
    ],
)
def test_read_endpoints_bad_input(
    api: httpx.Client, method: str, path: str, params: dict[str, str], status: int, error: str, field: str | None
) -> None:
    _check(api.request(method, path, params=params), status, error, field)


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/v1/topologies/big"), ("POST", "/v1/analyses")],
)
def test_oversized_bodies_are_413(api: httpx.Client, method: str, path: str) -> None:
    big = b'{"x": "' + b"a" * 1_100_000 + b'"}'
    body = _check(api.request(method, path, content=big, headers=JSON), 413, "body_too_large", None)
    assert "RCA_MAX_BODY_BYTES" in body["detail"]


def test_oversized_chunked_body_is_413(api: httpx.Client) -> None:
    def chunks() -> Any:
        for _ in range(12):
            yield b"a" * 100_000

    r = api.post("/v1/analyses", content=chunks(), headers=JSON)
    _check(r, 413, "body_too_large", None)


def test_too_many_metric_points_names_the_limit(api: httpx.Client) -> None:
    body = _check(api.post("/v1/analyses", json=analysis_body(metrics=make_metrics(2000))), 422, "too_many_metric_points", "metrics")
    assert "RCA_MAX_METRIC_POINTS" in body["detail"]


def test_a_metric_typo_names_the_closest_series(api: httpx.Client) -> None:
    r = api.post("/v1/analyses", content=_body(incident={**INCIDENT, "metric": "latncy"}), headers=JSON)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "incident.metric"
    assert "did you mean 'latency'?" in body["detail"]
