"""``GET /v1/analyses/{id}/report`` from a running server: the answers that are not a page.

The page itself is checked in a browser by ``test_report_browser.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from visual_support import api_service

pytest.importorskip("rca.service.routes.report", reason="the HTTP API is not available")


@pytest.fixture(scope="module")
def idle_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """The app with the report route and no worker: analyses stay queued."""
    tmp: Path = tmp_path_factory.mktemp("idle-api")
    with api_service(tmp / "data", tmp / "uvicorn.log", workers=0) as base, httpx.Client(base_url=base) as client:
        yield client


def test_report_of_an_unknown_analysis_is_404(idle_api: httpx.Client) -> None:
    r = idle_api.get("/v1/analyses/does-not-exist/report")
    assert r.status_code == 404
    assert r.json()["error"] == "analysis_not_found"


def test_report_of_an_unfinished_analysis_is_409_and_says_what_to_do(idle_api: httpx.Client) -> None:
    body = {
        "incident": {"service": "frontend", "metric": "latency", "start": "2024-05-01T12:02:00Z"},
        "topology": {"inline": {"services": [{"name": "frontend"}, {"name": "db"}],
                                "calls": [{"caller": "frontend", "callee": "db"}]}},
        "metrics": [
            {"timestamp": f"2024-05-01T12:0{i}:00Z", "service": s, "metric": "latency", "value": float(i)}
            for i in range(5) for s in ("frontend", "db")
        ],
    }
    created = idle_api.post("/v1/analyses", params={"wait": "false"}, json=body)
    assert created.status_code == 202, created.text
    analysis_id = created.json()["id"]
    r = idle_api.get(f"/v1/analyses/{analysis_id}/report")
    assert r.status_code == 409
    assert r.json()["error"] == "analysis_not_finished"
    assert f"poll GET /v1/analyses/{analysis_id}" in r.json()["detail"]
