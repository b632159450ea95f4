"""Two server processes on one PostgreSQL database: 50 queued jobs, each executed exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from api_support import analysis_body, wait_status
from sqlalchemy import select

from rca.store.models import AnalysisRow
from rca.store.session import Database


@pytest.mark.postgres
@pytest.mark.slow
def test_two_servers_run_each_of_50_jobs_once(start_server: Callable[..., Any], pg_url: str) -> None:
    settings = {"auth_disabled": True, "workers": 3, "test_job_delay_seconds": 0.05, "job_lease_seconds": 5}
    servers = [start_server(pg_url, **settings), start_server(pg_url, **settings)]
    clients = [httpx.Client(base_url=s.url, timeout=60) for s in servers]
    try:
        body = analysis_body()
        ids = []
        for i in range(50):
            r = clients[i % 2].post("/v1/analyses", params={"wait": "false"}, json=body)
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        finals = [wait_status(clients[0], job, {"succeeded", "failed"}, timeout=120) for job in ids]
    finally:
        for c in clients:
            c.close()
    assert {f["status"] for f in finals} == {"succeeded"}, [f["error"] for f in finals if f["error"]][:3]
    db = Database(pg_url)
    with db.session() as s:
        rows = list(s.scalars(select(AnalysisRow).where(AnalysisRow.id.in_(ids))))
    db.dispose()
    assert len(rows) == 50
    assert {r.executions for r in rows} == {1}, "a job ran more than once (or never)"
    assert {r.attempts for r in rows} == {1}
    assert len({r.worker.rsplit("-", 1)[0] for r in rows if r.worker}) == 2, "both processes should have worked"
