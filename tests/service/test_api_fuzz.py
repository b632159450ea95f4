"""No input produces a 500: random JSON in every part of an analysis request and a topology upload."""

from __future__ import annotations

import json
from typing import Any

import httpx
from api_support import INCIDENT, TOPOLOGY, make_metrics
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["2024-05-01T11:45:00Z", "frontend", "latency", "db", "1min", "-5s", "up"]),
)
_json = st.recursive(_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12)
_METRICS = make_metrics(40)


def _mutate(part: str, value: Any) -> bytes:
    body: dict[str, Any] = {"incident": dict(INCIDENT), "topology": {"inline": TOPOLOGY}, "metrics": list(_METRICS)}
    if part == "incident.start":
        body["incident"]["start"] = value
    elif part == "metrics[0].timestamp":
        body["metrics"] = [{**_METRICS[0], "timestamp": value}, *_METRICS[1:]]
    elif part == "topology.inline":
        body["topology"] = {"inline": value}
    elif part == "config.granger":
        body["config"] = {"granger": value}
    else:
        body[part] = value
    return json.dumps(body).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    part=st.sampled_from(["incident", "incident.start", "topology", "topology.inline", "config", "config.granger", "metrics", "metrics[0].timestamp"]),
    value=_json,
)
def test_random_analysis_requests_never_500(api: httpx.Client, part: str, value: Any) -> None:
    r = api.post("/v1/analyses", content=_mutate(part, value), headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert set(r.json()) >= {"error", "detail", "field"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=_json | st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
    content_type=st.sampled_from(["application/json", "application/yaml", "text/csv", "text/plain", "application/octet-stream"]),
)
def test_random_topologies_never_500(api: httpx.Client, value: Any, content_type: str) -> None:
    r = api.put("/v1/topologies/fuzz", content=json.dumps(value).encode(), headers={"content-type": content_type})
    assert r.status_code < 500, r.text
