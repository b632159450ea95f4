"""Running one analysis within the time limit: in a child process (default) or a thread.

``process`` (``RCA_ANALYSIS_ISOLATION=process``): each worker thread hands its
analyses to its own long-lived child process, forked from a ``forkserver`` that
has the engine imported and warmed up; a run past
``RCA_ANALYSIS_TIMEOUT_SECONDS`` is killed with its process (a fresh one takes
over), a crash of the engine cannot take the server down, and several
analyses use several cores.
``thread``: the analysis runs in a helper thread of the server; past the
limit the job fails but Python cannot stop the thread (its late result is
dropped).  Either way the outcome is an :class:`Outcome`, never an exception.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import threading
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["Payload", "Outcome", "AnalysisProcess", "analyze_payload", "execute_analysis", "run_with_limit", "timed_out", "warm_up"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Payload:
    """The stored inputs of a job, as plain data (picklable)."""

    incident: dict[str, Any]
    config: dict[str, Any]
    topology: dict[str, Any]
    metrics_csv_gz: bytes
    delay_seconds: float = 0.0  # RCA_TEST_JOB_DELAY_SECONDS
    evidence_gz: bytes | None = None  # uploaded span and log files (rca.service.evidence_uploads)
    topology_key: str | None = None  # SHA-256 of the stored topology document: its parsed graph is reused by it


@dataclass(frozen=True)
class Outcome:
    status: str
    result: str | None = None
    engine_version: str | None = None
    error_code: str | None = None
    error_detail: str | None = None
    error_field: str | None = None
    run_seconds: float | None = None


_GRAPHS: dict[str, Any] = {}  # topology_key -> parsed ServiceGraph, in this process (an analysis child)
_GRAPHS_KEEP = 4
_graphs_lock = threading.Lock()


def _graph_of(payload: Payload) -> Any:
    """The payload's graph, parsed once per document: an alert storm's analyses share one (2,400-service)
    topology, whose parse was a fifth of each analysis' CPU.  The engine only reads the graph."""
    from rca.store.documents import graph_from_document

    key = payload.topology_key
    if not key:
        return graph_from_document(payload.topology)
    with _graphs_lock:
        graph = _GRAPHS.get(key)
    if graph is None:
        graph = graph_from_document(payload.topology)
        with _graphs_lock:
            while len(_GRAPHS) >= _GRAPHS_KEEP:
                _GRAPHS.pop(next(iter(_GRAPHS)))
            _GRAPHS[key] = graph
    return graph


def execute_analysis(payload: Payload) -> Outcome:
    """Run :func:`rca.analyze` on ``payload``; every failure becomes a failed :class:`Outcome`."""
    import rca
    from rca.engine.errors import AnalysisError, InvalidInputError
    from rca.service.errors import error_code_for
    from rca.store.documents import read_canonical_metrics
    from topology import TopologyError

    t0 = time.perf_counter()
    try:
        if payload.delay_seconds:
            time.sleep(payload.delay_seconds)
        graph = _graph_of(payload)
        metrics = read_canonical_metrics(payload.metrics_csv_gz)
        data = dict(payload.incident)
        symptoms = data.pop("symptoms", None)  # an incident's analysis: all its symptoms (rca.engine.symptoms)
        # what the Prometheus fetch found (a catalog entry with no series): part of the answer, never dropped
        fetched = [rca.DataIssue(**i) for i in data.pop("fetch_issues", None) or ()]
        incident = symptoms if symptoms else rca.Incident.from_dict(data)
        config = rca.RCAConfig.from_dict(payload.config)
        from rca.service.evidence_uploads import evidence_paths

        with evidence_paths(payload.evidence_gz) as evidence:
            result = rca.analyze(graph, metrics, incident, config, **evidence)
        if fetched:
            result = dataclasses.replace(result, issues=(*result.issues, *fetched))
        return Outcome(
            "succeeded",
            result=json.dumps(result.to_dict(), allow_nan=False),
            engine_version=result.engine_version,
            run_seconds=time.perf_counter() - t0,
        )
    except (InvalidInputError, TopologyError) as exc:
        code, detail, field = error_code_for(exc), str(exc), getattr(exc, "field", None)
    except AnalysisError as exc:
        code, detail, field = "analysis_failed", str(exc), None
    except Exception as exc:  # noqa: BLE001 - an engine bug: recorded as the job's reason, and logged
        logger.error("the engine raised %s", type(exc).__name__, exc_info=exc)
        code, field = "engine_error", None
        detail = f"the engine failed unexpectedly ({type(exc).__name__}: {exc}); the error is logged"
    return Outcome(
        "failed", error_code=code, error_detail=detail, error_field=field,
        run_seconds=time.perf_counter() - t0, engine_version=rca.__version__,
    )  # fmt: skip


def analyze_payload(payload: Payload) -> dict[str, Any]:
    """:func:`execute_analysis` as plain data: the task a Dask worker runs (``RCA_DASK_SCHEDULER``).

    It never raises for the analysis' own failures (bad input, engine
    errors): those are a failed outcome, the same on any worker, so an
    exception out of the task can only mean the cluster lost the run.
    """
    return asdict(execute_analysis(payload))


def timed_out(limit: float) -> Outcome:
    """The outcome of a run past the time limit."""
    return Outcome(
        "failed",
        error_code="analysis_timeout",
        error_detail=f"the analysis exceeded the time limit of {limit:g} s (RCA_ANALYSIS_TIMEOUT_SECONDS)",
        run_seconds=limit,
    )


# -- isolation ------------------------------------------------------------------
_ctx_lock = threading.Lock()
_ctx: Any = None


def _context() -> Any:
    """The forkserver context, its server preloaded with the engine (started once per process)."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            # The forkserver is a `python -c` process: without this it would put the working
            # directory first on sys.path, where a stray `rca/` folder can shadow the package.
            os.environ.setdefault("PYTHONSAFEPATH", "1")
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["rca", "rca.service.execution", "rca.service._warm"])
            _ctx = ctx
        return _ctx


def _serve(conn: Connection) -> None:
    """The child's loop: one payload in, one outcome out, until the server hangs up."""
    while True:
        try:
            payload = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(execute_analysis(payload))


def _noop() -> None:
    return None


def warm_up(mode: str) -> None:
    """Start the forkserver now rather than on the first job (it imports the engine)."""
    if mode != "process":
        return
    p = _context().Process(target=_noop, daemon=True)
    p.start()
    p.join()


class AnalysisProcess:
    """A long-lived child process that runs analyses one at a time for one worker thread.

    Killed at the time limit (or when it dies) and replaced on the next job;
    recycled after ``max_jobs`` analyses to bound memory growth.
    """

    def __init__(self, max_jobs: int = 500) -> None:
        self.max_jobs = max_jobs
        self._proc: Any = None
        self._conn: Connection | None = None
        self._jobs = 0

    def _start(self) -> None:
        ctx = _context()
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="rca-analysis")
        proc.start()
        child.close()
        self._proc, self._conn, self._jobs = proc, parent, 0

    def close(self) -> None:
        """Stop the child (a job it runs is abandoned)."""
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            self._proc.join(2)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
            self._proc.close()
        self._proc, self._conn = None, None

    def run(self, payload: Payload, limit: float) -> Outcome:
        if self._proc is None or not self._proc.is_alive() or self._jobs >= self.max_jobs:
            self.close()
            self._start()
        if self._conn is None or self._proc is None:
            raise RuntimeError("the analysis child process did not start")
        self._jobs += 1
        try:
            self._conn.send(payload)
            if not self._conn.poll(limit):
                self._proc.kill()
                self.close()
                return timed_out(limit)
            return self._conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            self._proc.join(5)
            code = self._proc.exitcode
            self.close()
            return Outcome(
                "failed",
                error_code="engine_error",
                error_detail=f"the analysis process died (exit code {code}); the server log may say why",
            )


def _in_thread(payload: Payload, limit: float) -> Outcome:
    box: dict[str, Outcome] = {}
    t = threading.Thread(target=lambda: box.setdefault("out", execute_analysis(payload)), daemon=True, name="rca-analysis")
    t.start()
    t.join(limit)
    return timed_out(limit) if t.is_alive() else box["out"]


def run_with_limit(payload: Payload, limit: float, mode: str, process: AnalysisProcess | None = None) -> Outcome:
    """The outcome of ``payload`` within ``limit`` seconds, isolated as ``mode`` says.

    In ``process`` mode, ``process`` is the caller's long-lived child (a
    one-off child when None).
    """
    if mode != "process":
        return _in_thread(payload, limit)
    if process is not None:
        return process.run(payload, limit)
    one_off = AnalysisProcess()
    try:
        return one_off.run(payload, limit)
    finally:
        one_off.close()
