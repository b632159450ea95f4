"""The analysis time limit (408 when waited for, a failed job either way) and the sync wait."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from api_support import analysis_body, wait_status


def test_time_limit_answers_408_and_fails_the_job(start_server: Callable[..., Any], sqlite_url: str) -> None:
    # The test-only delay runs inside the time limit, so the job overruns it.
    server = start_server(sqlite_url, auth_disabled=True, analysis_timeout_seconds=0.5, test_job_delay_seconds=3)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/v1/analyses", json=analysis_body())
        assert r.status_code == 408, r.text
        body = r.json()
        assert body["error"] == "analysis_timeout"
        assert "RCA_ANALYSIS_TIMEOUT_SECONDS" in body["detail"]
        stored = c.get(r.headers["location"]).json()
        assert stored["status"] == "failed"
        assert stored["error"]["error"] == "analysis_timeout"
        r = c.post("/v1/analyses", params={"wait": "false"}, json=analysis_body())
        assert r.status_code == 202
        assert wait_status(c, r.json()["id"], {"failed"})["error"]["error"] == "analysis_timeout"


def test_no_worker_means_202_after_the_sync_wait(start_server: Callable[..., Any], sqlite_url: str) -> None:
    server = start_server(sqlite_url, auth_disabled=True, workers=0, sync_wait_seconds=0.3)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/v1/analyses", json=analysis_body())
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued"
        assert r.headers["location"].endswith(r.json()["id"])
        metrics = c.get("/metrics").text
        assert 'rca_analyses{status="queued"} 1' in metrics
