"""Benchmark cases and analyses on a real multi-process Dask ``LocalCluster`` (no mocks).

Workers are separate processes; one is killed with SIGKILL in the middle of a
case, and that case must be run again, with every case's result kept exactly once.
dask[distributed] is a dev dependency: a missing one fails these tests, never skips them.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

import cloudpickle
import distributed
import pytest

import rca
from rca.engine.batch import AnalysisTask, map_on_client
from rca.evaluation.bench.runner import run_methods
from rca.evaluation.datasets.synthetic import generate_case

pytestmark = pytest.mark.slow

# The workers cannot import this test module: send its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as c:
        c.wait_for_workers(2, timeout=120)
        yield c


@pytest.fixture(scope="module")
def cases():
    kinds = ("latency_step", "error_burst", "saturation")
    return [generate_case("layered", 20, fault=kinds[s % 3], seed=s) for s in range(6)]


def test_workers_are_separate_processes(client):
    pids = client.run(os.getpid)
    assert len(pids) == 2 and os.getpid() not in pids.values() and len(set(pids.values())) == 2


def test_bench_on_the_cluster_gives_the_rows_of_jobs_1(client, cases):
    methods = ["engine", "robust-z"]
    here = run_methods(cases, methods, jobs=1, progress=False)
    there = run_methods(cases, methods, progress=False, client=client)
    assert [(r.case_id, r.method) for r in there] == [(r.case_id, r.method) for r in here]
    same = ("top", "n_ranked", "truth_ranks")
    assert [[getattr(r, f) for f in same] for r in there] == [[getattr(r, f) for f in same] for r in here]
    assert any(r.top for r in there)
    # Scores agree to rounding: workers run BLAS on one thread (Dask's default), this process may not.
    for a, b in zip(there, here, strict=True):
        assert [x is None for x in a.scores] == [x is None for x in b.scores]
        assert [x for x in a.scores if x is not None] == pytest.approx([x for x in b.scores if x is not None], rel=1e-9)
        assert (a.confidence is None) == (b.confidence is None)
        assert a.confidence is None or a.confidence == pytest.approx(b.confidence, rel=1e-9)
    assert all(r.error is None for r in there)


def test_analyze_many_on_the_cluster_equals_local(client, cases):
    tasks = [AnalysisTask(c.graph, c.metrics, c.incident) for c in cases]
    local = rca.analyze_many(tasks)
    streamed = []
    remote = rca.analyze_many(tasks, client=client, on_result=lambda i, r: streamed.append(i))
    assert sorted(streamed) == list(range(len(tasks)))
    assert [[c.service for c in r.causes] for r in remote] == [[c.service for c in r.causes] for r in local]
    assert [r.status for r in remote] == [r.status for r in local]


def test_an_error_on_a_worker_is_raised_here_or_returned(client, cases):
    bad = AnalysisTask(cases[0].graph, cases[0].metrics, rca.Incident("nope", "latency", cases[0].incident.start))
    with pytest.raises(rca.InvalidIncidentError, match="not in the topology"):
        rca.analyze_many([bad], client=client)
    out = rca.analyze_many([AnalysisTask(cases[0].graph, cases[0].metrics, cases[0].incident), bad],
                           client=client, errors="return")
    assert isinstance(out[0], rca.RCAResult) and isinstance(out[1], rca.InvalidIncidentError)


def _bench(*args: str):
    from typer.testing import CliRunner

    from rca.cli import app

    return CliRunner().invoke(app, ["bench", *args, "--no-progress"])


def test_rca_bench_on_a_scheduler_writes_the_rows_of_jobs_1(client, tmp_path):
    import pandas as pd

    spec = ["-d", "synthetic:family=tree,n=12,cases=4,seed=5", "-m", "engine"]
    local = _bench(*spec, "--jobs", "1", "--out", str(tmp_path / "local"))
    remote = _bench(*spec, "--scheduler", client.scheduler.address, "--out", str(tmp_path / "remote"))
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    assert "running on Dask: 2 worker(s)" in remote.output and "runs in" in remote.output
    rows = [pd.read_csv(tmp_path / d / "cases.csv").drop(columns=["seconds"]) for d in ("local", "remote")]
    pd.testing.assert_frame_equal(rows[0], rows[1], rtol=1e-9)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dask", "local:2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
        (["--dask", "tcp://127.0.0.1:8786"], "use local:N"),
        (["--dask", "local:x"], "needs N workers in 1..256"),
        (["--scheduler", "127.0.0.1:8786"], "use an address such as tcp://HOST:8786"),
    ],
)
def test_cluster_mistakes_are_one_line_and_exit_2(tmp_path, args, message):
    result = _bench("-d", "synthetic:family=tree,n=12,cases=2,seed=5", "-m", "engine", *args, "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output


def _attempt(position: int, task: AnalysisTask, marks: str) -> rca.RCAResult:
    """Record this attempt (position and worker pid); the first attempt of case 0 waits to be killed."""
    folder = Path(marks)
    first = not any(folder.glob(f"{position}-*"))
    (folder / f"{position}-{os.getpid()}-{uuid.uuid4().hex[:6]}").touch()
    if position == 0 and first:
        time.sleep(120)  # its worker is killed meanwhile
    return task.run()


def test_a_worker_killed_mid_case_reruns_it_and_loses_or_repeats_nothing(client, cases, tmp_path):
    tasks = [AnalysisTask(c.graph, c.metrics, c.incident) for c in cases]
    expected = [[c.service for c in r.causes] for r in rca.analyze_many(tasks)]
    arrived: list[int] = []
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["results"] = map_on_client(
                _attempt, [(i, t, str(tmp_path)) for i, t in enumerate(tasks)], client,
                on_result=lambda i, r: arrived.append(i),
            )
        except BaseException as exc:  # surfaced by the assertions below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("0-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    (mark,) = tmp_path.glob("0-*")
    victim = int(mark.name.split("-")[1])
    assert victim in client.run(os.getpid).values()
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=300)
    assert not thread.is_alive(), "the run did not finish after its worker was killed"
    assert "error" not in outcome, outcome.get("error")
    results = outcome["results"]
    assert [[c.service for c in r.causes] for r in results] == expected
    assert sorted(arrived) == list(range(len(tasks)))  # each case reported once: none lost, none twice
    attempts = [len(list(tmp_path.glob(f"{i}-*"))) for i in range(len(tasks))]
    assert attempts[0] == 2, attempts  # the killed case ran again, once
    second_pid = int(next(p for p in tmp_path.glob("0-*") if p != mark).name.split("-")[1])
    assert second_pid != victim
    client.wait_for_workers(2, timeout=120)  # the nanny replaced the killed worker
