"""Helpers of the API tests (inputs, polling); fixtures are in conftest.py."""

from __future__ import annotations

import time
from typing import Any

import httpx
import numpy as np
import pandas as pd

# -- inputs ---------------------------------------------------------------------
TOPOLOGY = {
    "services": [{"name": "frontend"}, {"name": "checkout"}, {"name": "db", "kind": "database"}],
    "calls": [{"caller": "frontend", "callee": "checkout"}, {"caller": "checkout", "callee": "db"}],
}
INCIDENT = {"service": "frontend", "metric": "latency", "start": "2024-05-01T11:45:00+00:00"}


def make_metrics(points: int = 120, *, root: str = "db", seed: int = 0) -> list[dict[str, Any]]:
    """Latency of a three-service chain; ``root`` and everything calling it degrade at 11:45."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-05-01T11:00Z", periods=points, freq="30s")
    bad = np.asarray(ts >= pd.Timestamp("2024-05-01T11:45Z"), dtype=float)
    affected = {"db": {"db", "checkout", "frontend"}, "checkout": {"checkout", "frontend"}}[root]
    rows = []
    for svc, base in (("frontend", 100.0), ("checkout", 50.0), ("db", 10.0)):
        values = base + rng.normal(0, 1, points) + (40 * bad if svc in affected else 0)
        rows += [
            {"timestamp": t.isoformat(), "service": svc, "metric": "latency", "value": round(float(v), 6)}
            for t, v in zip(ts, values, strict=True)
        ]
    return rows


def analysis_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"incident": dict(INCIDENT), "topology": {"inline": TOPOLOGY}, "metrics": make_metrics()}
    body.update(overrides)
    return body


def wait_status(client: httpx.Client, analysis_id: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
    """Poll until the analysis reaches one of ``statuses`` (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = client.get(f"/v1/analyses/{analysis_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in statuses:
            return body
        time.sleep(0.1)
    raise AssertionError(f"analysis {analysis_id} stayed {body.get('status')!r}, wanted {statuses}")
