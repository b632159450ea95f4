"""Over HTTP: timestamps without a zone are reported, and ``config.align.timezone`` reads them in a zone."""

from __future__ import annotations

import httpx
import pandas as pd
from api_support import INCIDENT, TOPOLOGY, make_metrics

ZONE = "Asia/Shanghai"


def _local(points: list[dict], zone: str | None) -> list[dict]:
    """The same points as wall-clock times of ``zone`` (UTC when None), without an offset."""
    out = []
    for p in points:
        ts = pd.Timestamp(p["timestamp"]).tz_convert(zone or "UTC")
        out.append({**p, "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S")})
    return out


def test_naive_timestamps_come_back_as_a_data_issue(api: httpx.Client) -> None:
    r = api.post("/v1/analyses", json={"incident": INCIDENT, "topology": {"inline": TOPOLOGY}, "metrics": _local(make_metrics(), None)})
    assert r.status_code == 201, r.text
    kinds = [i["kind"] for i in r.json()["result"]["issues"]]
    assert "naive_timestamps_read_as_utc" in kinds


def test_config_align_timezone_reads_metrics_and_incident_in_the_zone(api: httpx.Client) -> None:
    reference = api.post("/v1/analyses", json={"incident": INCIDENT, "topology": {"inline": TOPOLOGY}, "metrics": make_metrics()})
    assert reference.status_code == 201, reference.text
    start = pd.Timestamp(INCIDENT["start"]).tz_convert(ZONE).strftime("%Y-%m-%dT%H:%M:%S")
    r = api.post("/v1/analyses", json={
        "incident": {**INCIDENT, "start": start}, "topology": {"inline": TOPOLOGY},
        "metrics": _local(make_metrics(), ZONE), "config": {"align": {"timezone": ZONE}},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    body, ref = r.json(), reference.json()
    assert body["incident"]["start"] == ref["incident"]["start"] == "2024-05-01T11:45:00+00:00"
    assert body["result"]["window"] == ref["result"]["window"]
    assert body["top_cause"] == ref["top_cause"] == "db"
    assert [i["kind"] for i in body["result"]["issues"] if i["kind"].startswith("naive")] == ["naive_timestamps_read_in_timezone"]


def test_an_unknown_zone_is_a_422_naming_the_field(api: httpx.Client) -> None:
    r = api.post("/v1/analyses", json={
        "incident": INCIDENT, "topology": {"inline": TOPOLOGY}, "metrics": make_metrics(), "config": {"align": {"timezone": "Asia/Shanghi"}},
    })  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "align.timezone" and r.json()["error"] == "invalid_config", r.text
    assert "did you mean 'Asia/Shanghai'" in r.json()["detail"] and len(r.json()["detail"]) < 300, r.text


def test_a_direction_pattern_matching_no_metric_is_a_422(api: httpx.Client) -> None:
    """Not a time zone, but the same promise: a config that matches nothing is refused, not ignored."""
    r = api.post("/v1/analyses", json={
        "incident": INCIDENT, "topology": {"inline": TOPOLOGY}, "metrics": make_metrics(),
        "config": {"detect": {"directions": {"latncy": "up"}}},
    })  # fmt: skip
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_config" and r.json()["field"] == "detect.directions.latncy"
    assert "did you mean 'latency'?" in r.json()["detail"]
