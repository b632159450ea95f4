"""Jobs of a real server run on a real multi-process Dask ``LocalCluster`` (``RCA_DASK_SCHEDULER``), no mocks.

The cluster is this test's (2 worker processes, 1 thread each); the uvicorn server
connects to its scheduler, claims jobs in its database and hands each run to the
cluster.  A worker killed with SIGKILL mid-run: the job finishes once, with the
answer the in-process executor gives.  dask[distributed] is a dev dependency: a
missing one fails these tests, never skips them.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import dask
import distributed
import httpx
import psutil
import pytest
from api_support import INCIDENT, Server, analysis_body, make_metrics, wait_status
from sqlalchemy import select

from rca.store.models import AnalysisRow
from rca.store.session import Database

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    # allowed-failures 0, as the server's own local:N cluster has it: the first worker lost surfaces as
    # KilledWorker and the retry is the database's (https://distributed.dask.org/en/stable/resilience.html).
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c, distributed.Client(c) as client:
        client.wait_for_workers(2, timeout=120)
        yield c


@pytest.fixture
def client(cluster: distributed.LocalCluster) -> Iterator[distributed.Client]:
    with distributed.Client(cluster) as c:
        c.wait_for_workers(2, timeout=120)  # a worker killed by an earlier test is back
        yield c


# -- the same answers, case for case ----------------------------------------------
CASES: dict[str, dict[str, Any]] = {
    "db slows down": analysis_body(),
    "checkout slows down": analysis_body(metrics=make_metrics(root="checkout", seed=1)),
    "top 1 of a noisier chain": analysis_body(metrics=make_metrics(seed=2), config={"rank": {"top_k": 1}}),
    "no data in the window (the engine refuses)": analysis_body(incident={**INCIDENT, "start": "2024-05-03T00:00:00+00:00"}),
}


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    """What must be equal on both executors: status, error, the result without its timings, floats to 9 digits."""

    def rounded(x: Any) -> Any:
        if isinstance(x, float):
            return float(f"{x:.9g}")  # workers run BLAS on one thread, the server's children may not
        if isinstance(x, dict):
            return {k: rounded(v) for k, v in x.items() if k != "timings"}
        if isinstance(x, list):
            return [rounded(v) for v in x]
        return x

    return {"status": body["status"], "error": body.get("error"), "result": rounded(body.get("result"))}


def _post_all(server: Server) -> dict[str, dict[str, Any]]:
    out = {}
    with httpx.Client(base_url=server.url, timeout=120) as c:
        for name, body in CASES.items():
            r = c.post("/v1/analyses", params={"wait": "false"}, json=body)
            assert r.status_code == 202, r.text
            out[name] = r.json()["id"]
        return {name: wait_status(c, job, {"succeeded", "failed"}, timeout=120) for name, job in out.items()}


def test_jobs_on_the_cluster_give_the_answers_of_the_in_process_executor(
    start_server: Callable[..., Server], tmp_path: Any, client: distributed.Client
) -> None:
    here = start_server(f"sqlite:///{tmp_path / 'here.db'}", auth_disabled=True)
    there = start_server(f"sqlite:///{tmp_path / 'there.db'}", auth_disabled=True, dask_scheduler=client.scheduler.address)
    assert httpx.get(f"{here.url}/healthz").json()["executor"] == {"kind": "process", "scheduler": None, "workers": 2}
    assert httpx.get(f"{there.url}/healthz").json()["executor"] == {
        "kind": "dask", "scheduler": client.scheduler.address, "workers": 2,
    }  # fmt: skip
    local, remote = _post_all(here), _post_all(there)
    for name in CASES:
        assert _comparable(remote[name]) == _comparable(local[name]), name
    assert [remote[n]["status"] for n in CASES] == ["succeeded", "succeeded", "succeeded", "failed"]
    bad = remote["no data in the window (the engine refuses)"]
    assert (bad["error"]["error"], bad["attempts"]) == ("invalid_incident", 1)  # a job failure, not a retry
    assert remote["db slows down"]["result"]["causes"][0]["service"] == "db"
    assert remote["checkout slows down"]["result"]["causes"][0]["service"] == "checkout"


# -- a worker lost mid-run -----------------------------------------------------------
def _worker_running(cluster: distributed.LocalCluster, job: str, timeout: float = 60) -> tuple[str, int]:
    """The address and PID of the worker whose thread runs ``job``, as the scheduler knows them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for address, worker in list(cluster.scheduler.workers.items()):
            if any(str(task.key).startswith(f"rca-analysis-{job}-") for task in worker.processing):
                return address, int(worker.pid)
        time.sleep(0.05)
    raise AssertionError(f"job {job} never reached a worker")


def _finished_total(server: Server) -> int:
    text = httpx.get(f"{server.url}/metrics").text
    found = re.search(r'^rca_analyses_finished_total\{status="succeeded"\} (\S+)$', text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


@pytest.mark.parametrize(
    ("allowed_failures", "attempts"),
    [
        pytest.param(0, 2, id="the scheduler gives up at once: the database re-queues the job"),
        pytest.param(3, 1, id="the scheduler reruns it itself (Dask's default)"),
    ],
)
def test_a_worker_killed_mid_job_finishes_the_job_exactly_once(
    start_server: Callable[..., Server],
    sqlite_url: str,
    cluster: distributed.LocalCluster,
    client: distributed.Client,
    allowed_failures: int,
    attempts: int,
) -> None:
    cluster.scheduler.allowed_failures = allowed_failures  # the in-process scheduler's own setting
    try:
        server = start_server(sqlite_url, auth_disabled=True, test_job_delay_seconds=3,
                              dask_scheduler=client.scheduler.address)  # fmt: skip
        with httpx.Client(base_url=server.url, timeout=60) as c:
            r = c.post("/v1/analyses", params={"wait": "false"}, json=analysis_body())
            assert r.status_code == 202, r.text
            job = r.json()["id"]
            address, pid = _worker_running(cluster, job)
            os.kill(pid, signal.SIGKILL)
            done = wait_status(c, job, {"succeeded", "failed"}, timeout=120)
    finally:
        cluster.scheduler.allowed_failures = 0
    assert done["status"] == "succeeded", done
    assert done["result"]["causes"][0]["service"] == "db"
    assert done["attempts"] == attempts
    assert _finished_total(server) == 1  # recorded once
    db = Database(sqlite_url)
    try:
        with db.session() as s:
            row = s.scalars(select(AnalysisRow).where(AnalysisRow.id == job)).one()
            assert (row.executions, row.lease_owner, row.error_code) == (attempts, None, None)
    finally:
        db.dispose()
    assert address not in client.scheduler_info(n_workers=-1)["workers"] or not psutil.pid_exists(pid)


# -- a cluster of the server's own -----------------------------------------------------
def test_a_local_cluster_of_the_server_runs_jobs_and_stops_with_it(
    start_server: Callable[..., Server], sqlite_url: str
) -> None:
    server = start_server(sqlite_url, auth_disabled=True, workers=1, dask_scheduler="local:1")
    executor = httpx.get(f"{server.url}/healthz").json()["executor"]
    assert executor["kind"] == "dask" and executor["workers"] == 1
    assert executor["scheduler"].startswith("tcp://127.0.0.1:")
    with httpx.Client(base_url=server.url, timeout=120) as c:
        r = c.post("/v1/analyses", json=analysis_body())
        assert r.status_code == 201, r.text
        assert r.json()["result"]["causes"][0]["service"] == "db"
    assert server.proc is not None
    children = psutil.Process(server.proc.pid).children(recursive=True)
    assert children, "the local cluster's worker process is a child of the server"
    server.stop()  # SIGTERM: uvicorn shuts down (the lifespan closes the cluster), then re-raises it
    assert server.proc.returncode == -signal.SIGTERM and "Traceback" not in server.log.read_text()
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"worker processes outlived the server: {alive}"
