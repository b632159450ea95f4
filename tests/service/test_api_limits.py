"""The analysis time limit (408 when waited for, a failed job either way), the sync wait, auth switched off."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from api_support import TOPOLOGY, Server, analysis_body, launch, wait_status


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


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No authentication, no worker: every job stays queued."""
    tmp = tmp_path_factory.mktemp("open")
    server = launch(tmp, f"sqlite:///{tmp / 'rca.db'}", auth_disabled=True, workers=0, sync_wait_seconds=0.3)
    yield server
    server.stop()


def test_auth_disabled_only_when_set(open_server: Server) -> None:
    with httpx.Client(base_url=open_server.url) as c:
        assert c.put("/v1/topologies/open", json=TOPOLOGY).status_code == 201
        assert c.get("/v1/topologies/open").status_code == 200


def test_no_worker_means_202_after_the_sync_wait(open_server: Server) -> None:
    with httpx.Client(base_url=open_server.url, timeout=60) as c:
        r = c.post("/v1/analyses", json=analysis_body())
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued"
        assert r.headers["location"].endswith(r.json()["id"])
        metrics = c.get("/metrics").text
        assert 'rca_analyses{status="queued"} 1' in metrics
