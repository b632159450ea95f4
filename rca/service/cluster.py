"""Jobs on a Dask cluster (``RCA_DASK_SCHEDULER``): this server claims and records, the cluster computes.

The database stays the record of truth; the cluster only runs the engine::

    claim (lease, attempt n) --submit--> analyze_payload on a worker --result--> finish_job (with the lease)
                                          | its worker died, the scheduler went away
                                          +--> WorkerLost: re-queued (attempt n+1 on the next claim),
                                               or failed "worker_lost" after RCA_JOB_MAX_ATTEMPTS

* What Dask guarantees and this module relies on (https://distributed.dask.org/en/stable/resilience.html,
  https://examples.dask.org/resilience.html): a task whose worker dies is run again elsewhere until it has
  been on ``distributed.scheduler.allowed-failures`` dying workers (3 by default); then its future raises
  ``KilledWorker``.  The server's own ``local:N`` cluster is started with ``allowed-failures`` 0, so every
  lost run comes back here and is counted in the job's ``attempts``.  An external scheduler keeps its own
  setting: Dask's reruns happen there first, unseen by the database, then the job's.
* :func:`rca.service.execution.analyze_payload` returns the analysis' own failures (bad input, engine
  errors) as a failed outcome, so an exception out of the future is the cluster's (``KilledWorker``, a
  future cancelled when the scheduler restarted, a lost connection): the run is lost, not the analysis
  failed, and the job is retried.
* Each run is its own task, key ``rca-analysis-<job>-<attempt>`` with ``pure=False``
  (https://distributed.dask.org/en/stable/api.html#distributed.Client.submit): a rerun never meets the
  result of a stale one, and a result reaches the database only through ``finish_job``, which writes
  while this server holds the lease, so once.
* The time limit counts from submission; past it the task is cancelled and the job fails with
  ``analysis_timeout`` (a worker already running it keeps that thread until it ends, as in thread isolation).
* A server that dies takes its client with it; the cluster drops the tasks nobody wants any more, the
  leases expire and any server re-queues the jobs, as without a cluster.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from rca.service.execution import Outcome, Payload, analyze_payload, timed_out

__all__ = ["DaskExecutor", "WorkerLost"]

logger = logging.getLogger(__name__)


class WorkerLost(Exception):
    """The cluster lost a run of a job (not the analysis' fault): the job goes back to the queue."""


class DaskExecutor:
    """A ``distributed.Client`` of ``spec`` (``tcp://HOST:PORT`` or ``local:N``), and runs of jobs on it."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.client: Any = None
        self._stack = contextlib.ExitStack()

    @property
    def owns_cluster(self) -> bool:
        """``local:N``: the cluster was started by this server and stops with it."""
        return self.spec.startswith("local:")

    def start(self) -> None:
        """Connect (or start the local cluster); raises ``InvalidConfigError`` when the scheduler does not answer."""
        from rca.engine.batch import dask_client
        from rca.engine.errors import InvalidConfigError

        try:
            import dask
            import distributed  # noqa: F401 - loads its defaults into dask.config before the override below
        except ImportError:
            raise InvalidConfigError(
                'RCA_DASK_SCHEDULER needs dask.distributed: pip install "rca-engine[dask]"', field="dask_scheduler"
            ) from None

        # Read by the scheduler when it starts, so it applies to the local cluster only (see the module docstring);
        # a set() before distributed's defaults are loaded would remove them all on exit.
        overrides = {"distributed.scheduler.allowed-failures": 0} if self.owns_cluster else {}
        with dask.config.set(overrides):
            self.client = self._stack.enter_context(dask_client(self.spec))
        logger.info("analyses run on the Dask scheduler %s (%d worker(s))", self.address, self.worker_count() or 0)

    def close(self) -> None:
        """Disconnect; a local cluster is shut down with its worker processes."""
        try:
            self._stack.close()
        except Exception:
            logger.warning("closing the Dask client failed", exc_info=True)
        self.client = None

    @property
    def address(self) -> str | None:
        return None if self.client is None else str(self.client.scheduler.address)

    def ready(self) -> bool:
        """The client is connected (claiming a job for a cluster that is away would only use up its attempts)."""
        return self.client is not None and self.client.status == "running"

    def worker_count(self) -> int | None:
        """Workers the scheduler knows now; None when it does not answer."""
        if not self.ready():
            return None
        try:
            return len(self.client.scheduler_info(n_workers=-1)["workers"])
        except Exception:
            logger.warning("the Dask scheduler did not say its workers", exc_info=True)
            return None

    def run(self, payload: Payload, *, key: str, limit: float, stop: threading.Event) -> Outcome | None:
        """The outcome of ``payload`` on the cluster; None when ``stop`` is set first (the job is given back).

        Raises :class:`WorkerLost` when the cluster lost the run.
        """
        import distributed

        try:
            future = self.client.submit(analyze_payload, payload, key=key, pure=False)
        except Exception as exc:
            raise WorkerLost(f"the Dask scheduler did not take the job ({type(exc).__name__}: {exc})") from exc
        deadline = time.monotonic() + limit
        try:
            while not future.done():
                # TimeoutError while it runs; a cancelled future raises here too, and result() below says why.
                with contextlib.suppress(Exception):
                    distributed.wait(future, timeout=min(0.25, max(0.01, deadline - time.monotonic())))
                if future.done():
                    break
                if stop.is_set():
                    return None
                if not self.ready():
                    raise WorkerLost("the connection to the Dask scheduler was lost")
                if time.monotonic() >= deadline:
                    return timed_out(limit)
            try:
                data = future.result()
            except Exception as exc:  # KilledWorker, FutureCancelledError, CommClosedError...: never the engine's
                raise WorkerLost(_lost_reason(exc)) from exc
            return Outcome(**data)
        finally:
            with contextlib.suppress(Exception):  # a client already gone has nothing to cancel
                if future.done():
                    future.release()
                else:
                    self.client.cancel(future)


def _lost_reason(exc: BaseException) -> str:
    worker = getattr(getattr(exc, "last_worker", None), "address", None)
    if worker:  # KilledWorker
        return f"the Dask worker {worker} running it died"
    text = str(exc)
    return f"the Dask cluster lost the run ({type(exc).__name__}{': ' + text[:300] if text else ''})"
