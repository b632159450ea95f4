"""A server killed with SIGKILL mid-analysis: after a restart every job is finished (once) or failed with a reason."""

from __future__ import annotations

import re
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


def _wait_executing(db_url: str, job: str, n: int = 1) -> None:
    """Until the engine has started on ``n`` jobs of ``job``'s database (claimed is not enough: the kill must hit a run)."""
    db = Database(db_url)
    try:
        for _ in range(600):
            with db.session() as s:
                started = s.scalar(select(AnalysisRow.executions).where(AnalysisRow.id == job))
                running = len(list(s.scalars(select(AnalysisRow.id).where(AnalysisRow.executions > 0))))
            if started and running >= n:
                return
            time.sleep(0.05)
        raise AssertionError(f"job {job} (and {n - 1} other(s)) never started executing")
    finally:
        db.dispose()


def _finished_by(server: Any, status: str) -> float:
    """``rca_analyses_finished_total{status=...}`` of ``server`` (outcomes this process recorded)."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    m = re.search(rf'^rca_analyses_finished_total{{status="{status}"}} (\S+)$', text, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


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


@pytest.mark.slow
def test_killed_server_loses_no_job_and_finishes_each_once(start_server: Callable[..., Any], db_url: str) -> None:
    """Two jobs running and four queued when the server dies: after the restart all six succeed, each once."""
    server = start_server(db_url, auth_disabled=True, workers=2, job_lease_seconds=1, test_job_delay_seconds=15)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        ids = []
        for _ in range(6):
            r = c.post("/v1/analyses", params={"wait": "false"}, json=analysis_body())
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
    _wait_executing(db_url, ids[0], n=2)
    server.kill()
    db = Database(db_url)
    with db.session() as s:
        before = {r.id: (r.status, r.executions) for r in s.scalars(select(AnalysisRow).where(AnalysisRow.id.in_(ids)))}
    assert sorted(st for st, _ in before.values()) == ["queued"] * 4 + ["running"] * 2, before

    again = start_server(db_url, auth_disabled=True, workers=2, job_lease_seconds=1, job_max_attempts=2)
    with httpx.Client(base_url=again.url, timeout=30) as c:
        finals = [wait_status(c, job, {"succeeded", "failed"}) for job in ids]
    assert [f["status"] for f in finals] == ["succeeded"] * 6, [f["error"] for f in finals]
    assert {f["result"]["causes"][0]["service"] for f in finals} == {"db"}
    with db.session() as s:
        rows = {r.id: r for r in s.scalars(select(AnalysisRow).where(AnalysisRow.id.in_(ids)))}
    db.dispose()
    for job, (status, _) in before.items():
        row = rows[job]
        # a killed run counts as one execution and one attempt; the rerun is the other; a queued job runs once
        want = 2 if status == "running" else 1
        assert (row.attempts, row.executions) == (want, want), (job, status, row.attempts, row.executions)
        assert row.lease_owner is None and row.finished_at is not None
    # every outcome was recorded once, by the restarted server (none by the killed one, none twice)
    assert _finished_by(again, "succeeded") == 6
