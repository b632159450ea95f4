"""Many analyses at once: in this process, or on a Dask cluster (``dask.distributed``).

:func:`analyze_many` runs :func:`rca.analyze` over a list of tasks and returns
the results in the tasks' order; given a ``distributed.Client`` (or a
scheduler address) it sends each task to the cluster's workers and collects
the results as they finish.  Dask is imported only then, so the engine needs
no Dask installed (``pip install "rca-engine[dask]"`` for the cluster).

What a cluster guarantees and this module relies on: a task whose worker dies
(killed, out of memory) is run again on another worker by the scheduler, up
to ``distributed.scheduler.allowed-failures`` times; every task's result comes
back through exactly one future, collected by its position, so no result is
lost or counted twice.  An analysis that raises (bad input) is not retried:
its error is the same on any worker.

:func:`dask_client` turns ``"local:N"`` (a :class:`distributed.LocalCluster`
of N worker processes, one thread each) or ``"tcp://HOST:PORT"`` into a
connected client, closed (and the local cluster stopped) on exit;
:func:`map_on_client` is the generic part, also used by ``rca bench --dask``.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rca.engine.config import RCAConfig
from rca.engine.errors import InvalidConfigError, InvalidInputError
from rca.engine.pipeline import analyze
from rca.engine.types import Incident, RCAResult
from topology import ServiceGraph

__all__ = ["AnalysisTask", "analyze_many", "dask_client", "map_on_client"]

_MetricsInput = pd.DataFrame | str | Path


@dataclass(frozen=True)
class AnalysisTask:
    """The arguments of one :func:`rca.analyze` call."""

    graph: ServiceGraph
    metrics: _MetricsInput
    incident: Incident | Mapping[str, Any]
    config: RCAConfig | Mapping[str, Any] | None = None
    baseline: _MetricsInput | None = None

    def run(self) -> RCAResult:
        """``rca.analyze`` of this task."""
        return analyze(self.graph, self.metrics, self.incident, self.config, baseline=self.baseline)


def _as_task(task: Any, position: int) -> AnalysisTask:
    """An :class:`AnalysisTask` from a task, a mapping of ``analyze``'s arguments or a tuple of them."""
    if isinstance(task, AnalysisTask):
        return task
    try:
        if isinstance(task, Mapping):
            return AnalysisTask(**task)
        if isinstance(task, tuple):
            return AnalysisTask(*task)
    except TypeError as exc:
        raise InvalidInputError(f"tasks[{position}]: {exc}", field=f"tasks[{position}]") from None
    raise InvalidInputError(
        f"tasks[{position}] must be an AnalysisTask, a dict of rca.analyze's arguments or a tuple "
        f"(graph, metrics, incident[, config[, baseline]]), got {type(task).__name__}",
        field=f"tasks[{position}]",
    )


def _run_task(task: AnalysisTask) -> RCAResult:
    return task.run()


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InvalidConfigError(
            'running on a Dask cluster needs dask.distributed: pip install "rca-engine[dask]"', field="client"
        ) from None
    return distributed


@contextlib.contextmanager
def dask_client(spec: str) -> Iterator[Any]:
    """A ``distributed.Client`` for ``"local:N"`` (N worker processes here) or a scheduler address.

    The client is closed on exit, and a local cluster shut down with it.
    """
    distributed = _distributed()
    text = spec.strip()
    if text.startswith("local:") or text == "local":
        count = text.partition(":")[2] or "2"
        if not count.isdigit() or not 1 <= int(count) <= 256:
            raise InvalidConfigError(f"dask: 'local:N' needs N workers in 1..256, got {spec!r}", field="dask")
        with distributed.LocalCluster(
            n_workers=int(count), threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster, distributed.Client(cluster) as client:
            yield client
        return
    if "://" not in text:
        raise InvalidConfigError(
            f"dask: use 'local:N' or a scheduler address such as 'tcp://HOST:8786', got {spec!r}", field="dask"
        )
    try:
        client = distributed.Client(text, timeout="10s")
    except OSError as exc:
        raise InvalidConfigError(f"dask: cannot reach the scheduler at {text}: {exc}", field="dask") from None
    with client:
        yield client


def _in_flight(client: Any) -> int:
    """How many tasks to keep submitted: a few per worker thread, so inputs do not all sit in memory at once."""
    try:
        threads = sum(client.nthreads().values())
    except Exception:  # an unusual client: a fixed window
        threads = 4
    return max(4, 4 * threads)


def map_on_client(
    fn: Callable[..., Any],
    args: Iterable[tuple[Any, ...]],
    client: Any,
    *,
    on_result: Callable[[int, Any], None] | None = None,
    errors: str = "raise",
    window: int | None = None,
) -> list[Any]:
    """``[fn(*a) for a in args]`` on the cluster behind ``client``, in order.

    At most ``window`` tasks are submitted at a time (default: four per worker
    thread); each finished one is reported to ``on_result(position, result)``
    as it arrives.  With ``errors="return"`` a task that raised (or whose
    workers kept dying) leaves its exception in its place instead of raising.
    """
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    distributed = _distributed()
    if isinstance(client, str):
        with dask_client(client) as connected:
            return map_on_client(fn, args, connected, on_result=on_result, errors=errors, window=window)
    batch = uuid.uuid4().hex[:8]
    items = enumerate(args)
    slots: dict[int, Any] = {}
    position: dict[str, int] = {}

    def submit(i: int, a: tuple[Any, ...]) -> Any:
        future = client.submit(fn, *a, key=f"{getattr(fn, '__name__', 'task')}-{batch}-{i}", pure=False)
        position[future.key] = i
        return future

    pending = distributed.as_completed([submit(i, a) for i, a in itertools.islice(items, window or _in_flight(client))])
    for future in pending:
        i = position.pop(future.key)
        try:
            slots[i] = future.result()
        except Exception as exc:  # the task raised, or its workers died too often (KilledWorker)
            if errors == "raise":
                for other in list(pending.futures):
                    other.cancel()
                raise
            slots[i] = exc
        finally:
            future.release()
        if on_result is not None:
            on_result(i, slots[i])
        for j, a in itertools.islice(items, 1):
            pending.add(submit(j, a))
    return [slots[i] for i in range(len(slots))]


def analyze_many(
    tasks: Sequence[AnalysisTask | Mapping[str, Any] | tuple[Any, ...]],
    client: Any = None,
    *,
    errors: str = "raise",
    on_result: Callable[[int, RCAResult | Exception], None] | None = None,
) -> list[RCAResult | Exception]:
    """Run :func:`rca.analyze` on every task, here or on a Dask cluster; results in the tasks' order.

    Parameters
    ----------
    tasks : sequence
        :class:`AnalysisTask` objects, dicts of ``rca.analyze``'s arguments
        (``graph``, ``metrics``, ``incident``, ``config``, ``baseline``) or
        tuples of them in that order.
    client : distributed.Client or str, optional
        A Dask client, or ``"local:N"`` / ``"tcp://HOST:PORT"`` to connect
        one for this call.  None runs every task in this process, one after
        the other.
    errors : {"raise", "return"}
        ``"raise"`` re-raises the first task's error (an
        :class:`~rca.engine.errors.InvalidInputError` for bad input);
        ``"return"`` leaves the exception in that task's place.
    on_result : callable, optional
        Called as ``on_result(position, result)`` as each task finishes (in
        completion order): a progress bar, streaming to a table.

    Returns
    -------
    list
        One :class:`~rca.engine.types.RCAResult` (or exception) per task.

    Examples
    --------
    >>> from rca.evaluation.datasets.synthetic import generate_case
    >>> cases = [generate_case("tree", 12, seed=s) for s in range(2)]
    >>> results = analyze_many([(c.graph, c.metrics, c.incident) for c in cases])
    >>> [r.status for r in results]
    ['found', 'found']
    """
    if errors not in ("raise", "return"):
        raise InvalidConfigError(f"errors must be 'raise' or 'return', got {errors!r}", field="errors")
    prepared = [_as_task(t, i) for i, t in enumerate(tasks)]
    if client is None:
        out: list[RCAResult | Exception] = []
        for i, task in enumerate(prepared):
            try:
                result: RCAResult | Exception = task.run()
            except Exception as exc:
                if errors == "raise":
                    raise
                result = exc
            out.append(result)
            if on_result is not None:
                on_result(i, result)
        return out
    return map_on_client(_run_task, [(t,) for t in prepared], client, on_result=on_result, errors=errors)
