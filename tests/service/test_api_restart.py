"""A server killed with SIGKILL mid-analysis: after a restart the job is finished or failed with a reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from api_support import analysis_body, wait_status
from sqlalchemy import select

from rca.store.models import AnalysisRow
from rca.store.session import Database


def _accept_and_kill(start_server: Callable[..., Any], db_url: str, **settings: Any) -> str:
    server = start_server(db_url, auth_disabled=True, workers=1, job_lease_seconds=1, test_job_delay_seconds=15, **settings)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/analyses", params={"wait": "false"}, json=analysis_body())
        assert r.status_code == 202, r.text
        job = r.json()["id"]
        wait_status(c, job, {"running"})
    _wait_executing(db_url, job)
    server.kill()
    return job


def _wait_executing(db_url: str, job: str) -> None:
    """Until the engine has started on ``job`` (claimed is not enough: the kill must hit a run)."""
    db = Database(db_url)
    try:
        for _ in range(600):
            with db.session() as s:
                if s.scalar(select(AnalysisRow.executions).where(AnalysisRow.id == job)):
                    return
            time.sleep(0.05)
        raise AssertionError(f"job {job} never started executing")
    finally:
        db.dispose()


@pytest.mark.slow
def test_killed_job_is_requeued_and_completed_after_restart(start_server: Callable[..., Any], db_url: str) -> None:
    job = _accept_and_kill(start_server, db_url)
    server = start_server(db_url, auth_disabled=True, workers=1, job_lease_seconds=1, job_max_attempts=2)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        done = wait_status(c, job, {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    assert done["result"]["causes"][0]["service"] == "db"


@pytest.mark.slow
def test_killed_job_fails_with_a_reason_when_attempts_are_used_up(start_server: Callable[..., Any], sqlite_url: str) -> None:
    db_url = sqlite_url  # the reaping itself is tested on both databases in test_api_storage
    job = _accept_and_kill(start_server, db_url, job_max_attempts=1)
    server = start_server(db_url, auth_disabled=True, workers=1, job_lease_seconds=1, job_max_attempts=1)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        done = wait_status(c, job, {"succeeded", "failed"})
    assert done["status"] == "failed"
    assert done["error"]["error"] == "worker_lost"
    assert "stopped" in done["error"]["detail"]
    db = Database(db_url)
    with db.session() as s:
        assert s.scalar(select(AnalysisRow.executions).where(AnalysisRow.id == job)) == 1
    db.dispose()
