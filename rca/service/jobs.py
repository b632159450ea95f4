"""The worker pool: analyses run off the request path, their state lives in the database.

Life of a job::

    queued --claim--> running --finish--> succeeded | failed
                        |  lease expired (the server died)
                        +--> queued again (attempts < RCA_JOB_MAX_ATTEMPTS) | failed "worker_lost"

* **Claim**: PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED``; SQLite an atomic
  ``UPDATE ... WHERE status = 'queued'`` compare-and-set (see
  :func:`rca.store.repository.claim_next_job`).  Several server processes may
  share one database: a job is claimed by exactly one of them.
* **Lease**: a claimed job carries ``lease_owner``/``lease_expires_at``; a heartbeat
  thread renews the leases of the jobs this process runs.  The same thread
  reaps expired leases of dead processes (also right at start-up), so after a
  crash every accepted job ends up finished, re-queued or failed with a reason.
* **Outcome**: written only while the writer still owns the lease, so a job
  whose lease was taken over is never recorded twice.
* **Time limit**: ``RCA_ANALYSIS_TIMEOUT_SECONDS``; past it the job fails with
  ``analysis_timeout``.  Each worker thread runs the engine in its own child
  process, killed at the limit (or in a thread, see :mod:`rca.service.execution`).
* **On a Dask cluster** (``RCA_DASK_SCHEDULER``): each worker thread claims a
  job as above and hands the run to the cluster (:mod:`rca.service.cluster`);
  a run the cluster lost (its worker died) is re-queued here like a run of a
  dead server, counted in ``attempts``, and the outcome is written as above.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time

from rca.service.cluster import DaskExecutor, WorkerLost
from rca.service.execution import (
    AnalysisProcess,
    Outcome,
    Payload,
    run_with_limit,
    warm_up,
)
from rca.service.metrics import Registry
from rca.service.settings import Settings
from rca.store import repository as repo
from rca.store.polling import owner_id
from rca.store.session import Database

__all__ = ["JobRunner", "Outcome"]

logger = logging.getLogger(__name__)


class JobRunner:
    """``settings.workers`` worker threads plus one heartbeat/reaper thread."""

    def __init__(self, db: Database, settings: Settings, registry: Registry) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.owner = owner_id("jobs")
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._pending_wakeups = 0
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}
        self.executor: DaskExecutor | None = None

    # -- life cycle -----------------------------------------------------------
    def start(self) -> None:
        if self.settings.dask_scheduler:  # connect first: a scheduler that does not answer stops the start-up
            executor = DaskExecutor(self.settings.dask_scheduler)
            executor.start()
            self.executor = executor
        elif self.settings.workers:  # in the background: the forkserver imports the engine
            threading.Thread(target=warm_up, args=(self.settings.analysis_isolation,), daemon=True).start()
        self._reap()
        for i in range(self.settings.workers):
            t = threading.Thread(target=self._worker_loop, name=f"rca-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        hb = threading.Thread(target=self._heartbeat_loop, name="rca-heartbeat", daemon=True)
        hb.start()
        self._threads.append(hb)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop claiming; give back what is still running after ``timeout``."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        try:
            n = repo.requeue_owned_jobs(self.db, owner=self.owner)
            if n:
                logger.info("re-queued %d running job(s) at shutdown", n)
        except Exception:
            logger.exception("could not re-queue running jobs at shutdown")
        if self.executor is not None:
            self.executor.close()

    def describe_executor(self) -> dict[str, object]:
        """Where analyses run: ``{"kind": "process"|"thread"}`` or the Dask scheduler and its workers."""
        if self.executor is None:
            return {"kind": self.settings.analysis_isolation, "scheduler": None, "workers": self.settings.workers}
        return {"kind": "dask", "scheduler": self.executor.address, "workers": self.executor.worker_count()}

    def notify(self) -> None:
        """A job was queued: wake one idle worker now rather than at the next poll."""
        with self._wake:
            self._pending_wakeups += 1
            self._wake.notify()

    # -- waiting (async side) ---------------------------------------------------
    def register_waiter(self, job_id: str) -> asyncio.Future[None]:
        """A future set when this process finishes ``job_id`` (other processes: poll the database)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._waiters.setdefault(job_id, []).append((loop, fut))
        return fut

    def drop_waiter(self, job_id: str, fut: asyncio.Future[None]) -> None:
        with self._lock:
            lst = self._waiters.get(job_id, [])
            self._waiters[job_id] = [(lp, f) for lp, f in lst if f is not fut]
            if not self._waiters[job_id]:
                del self._waiters[job_id]

    def _wake_waiters(self, job_id: str) -> None:
        with self._lock:
            waiters = self._waiters.pop(job_id, [])
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_set_done, fut)

    # -- threads ----------------------------------------------------------------
    def _worker_loop(self) -> None:
        local_process = self.executor is None and self.settings.analysis_isolation == "process"
        child = AnalysisProcess() if local_process else None
        try:
            self._work(child)
        finally:
            if child is not None:
                child.close()

    def _work(self, child: AnalysisProcess | None) -> None:
        while not self._stop.is_set():
            if self.executor is not None and not self.executor.ready():
                self._stop.wait(self.settings.job_poll_seconds)  # the cluster is away: keep the jobs queued
                continue
            try:
                job_id = repo.claim_next_job(self.db, owner=self.owner, lease_seconds=self.settings.job_lease_seconds)
            except Exception:
                logger.exception("claiming a job failed; retrying")
                job_id = None
            if job_id is None:
                with self._wake:
                    if self._pending_wakeups == 0 and not self._stop.is_set():
                        self._wake.wait(self.settings.job_poll_seconds)
                    self._pending_wakeups = max(0, self._pending_wakeups - 1)
                continue
            with self._lock:
                self._running.add(job_id)
            try:
                self._execute(job_id, child)
            except Exception:
                logger.exception("job %s: recording the outcome failed", job_id)
            finally:
                with self._lock:
                    self._running.discard(job_id)
                self._wake_waiters(job_id)

    def _heartbeat_loop(self) -> None:
        interval = max(0.05, self.settings.job_lease_seconds / 3)
        while not self._stop.wait(interval):
            with self._lock:
                running = list(self._running)
            try:
                repo.renew_leases(self.db, owner=self.owner, job_ids=running, lease_seconds=self.settings.job_lease_seconds)
                self._reap()
            except Exception:
                logger.exception("heartbeat failed; retrying")

    def _reap(self) -> None:
        report = repo.reap_expired_leases(self.db, max_attempts=self.settings.job_max_attempts)
        for job_id in report.requeued:
            logger.warning("job %s: its server stopped mid-run; re-queued", job_id)
            self.notify()
        for job_id in report.failed:
            logger.warning("job %s: its server stopped mid-run too often; marked failed", job_id)

    # -- one job ----------------------------------------------------------------
    def _execute(self, job_id: str, child: AnalysisProcess | None = None) -> None:
        try:
            outcome = self.run_job(job_id, child)
        except WorkerLost as lost:
            self._give_back(job_id, str(lost))
            return
        if outcome is None:
            return
        recorded = repo.finish_job(
            self.db,
            job_id,
            owner=self.owner,
            status=outcome.status,
            result=outcome.result,
            engine_version=outcome.engine_version,
            error_code=outcome.error_code,
            error_detail=outcome.error_detail,
            error_field=outcome.error_field,
            run_seconds=outcome.run_seconds,
        )
        if recorded:
            self.registry.observe_analysis(outcome.status, outcome.run_seconds)
        else:
            logger.warning("job %s: lease lost before the outcome was recorded; outcome dropped", job_id)

    def _give_back(self, job_id: str, reason: str) -> None:
        """A run the cluster lost: queue the job again, or fail it once its attempts are used up."""
        state = repo.release_lost_job(
            self.db, job_id, owner=self.owner, max_attempts=self.settings.job_max_attempts, reason=reason
        )
        if state == "queued":
            logger.warning("job %s: %s; re-queued", job_id, reason)
            self.notify()
        elif state == "failed":
            logger.warning("job %s: %s too often; marked failed", job_id, reason)
            self.registry.observe_analysis("failed", None)

    def run_job(self, job_id: str, child: AnalysisProcess | None = None) -> Outcome | None:
        """Load the stored inputs of ``job_id``, run the engine within the time limit (here or on the cluster).

        None when the lease is lost or the server stops first; raises
        :class:`~rca.service.cluster.WorkerLost` when the cluster lost the run.
        """
        with self.db.session() as s:
            row = repo.get_analysis(s, job_id)
            inputs = repo.get_analysis_inputs(s, job_id)
            if row is None or inputs is None:
                return Outcome("failed", error_code="inputs_missing", error_detail="the stored inputs of this analysis are gone")
            payload = Payload(
                incident=json.loads(row.incident),
                config=json.loads(row.config),
                topology=json.loads(inputs.topology_document),
                metrics_csv_gz=inputs.metrics_csv_gz,
                delay_seconds=self.settings.test_job_delay_seconds,
                evidence_gz=inputs.evidence_gz,
                topology_key=hashlib.sha256(inputs.topology_document.encode()).hexdigest(),
            )
            attempt = row.attempts
        if not repo.mark_execution(self.db, job_id, owner=self.owner):
            return None  # the lease is gone: someone else has the job now
        if self.executor is not None:
            key = f"rca-analysis-{job_id}-{attempt}"  # one task per attempt: a rerun never meets a stale result
            return self.executor.run(payload, key=key, limit=self.settings.analysis_timeout_seconds, stop=self._stop)
        return run_with_limit(payload, self.settings.analysis_timeout_seconds, self.settings.analysis_isolation, child)


def _set_done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
