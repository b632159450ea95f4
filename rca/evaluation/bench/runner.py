"""Run methods over cases, serially or in worker processes.

Only the method call is timed (:func:`time.perf_counter` around it); loading
and converting data is not.  A method that raises on a case yields a row with
an ``error`` and an empty ranking; the run goes on.

With ``jobs > 1`` each case is pickled once and sent to a worker that runs
every method on it; workers resolve methods by name from the registry of
:mod:`rca.evaluation.bench.methods` (methods registered at run time in the parent are not
visible to them).  Workers are started with ``spawn``: the parent may hold
threads (the progress bar), and forking a threaded process is unsafe.

With a Dask ``client`` each case is sent to the cluster the same way (its
workers import this module); a case whose worker dies is run again by the
scheduler, and its rows are kept once.

Seconds measured with ``jobs > 1`` include contention between workers (and
their BLAS threads); measure speed targets with ``jobs=1``.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from functools import lru_cache
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from rca.evaluation.bench.methods import MethodFn, get_method
from rca.evaluation.bench.results import CaseResult
from rca.evaluation.datasets.base import BenchCase

__all__ = ["run_case", "run_cases", "run_methods"]


@lru_cache(maxsize=None)
def _method(name: str, seed: int, config_json: str = "") -> MethodFn:
    return get_method(name, seed=seed, config=json.loads(config_json) if config_json else None)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _run_one(case: BenchCase, name: str, seed: int, config_json: str = "") -> CaseResult:
    """One method on one case; only the method call is timed."""
    try:
        fn = _method(name, seed, config_json)
    except Exception as exc:  # an unknown name in a worker: record, don't abort
        return CaseResult.from_case(case, name, [], error=_one_line(exc))
    start = time.perf_counter()
    try:
        answer = fn(case)
    except Exception as exc:
        seconds = time.perf_counter() - start
        return CaseResult.from_case(case, name, [], seconds=seconds, error=_one_line(exc))
    seconds = time.perf_counter() - start
    if not isinstance(answer, (list, tuple)) or not all(isinstance(s, str) for s in answer):
        error = f"TypeError: method {name!r} must return a list of service names, got {answer!r:.80}"
        return CaseResult.from_case(case, name, [], seconds=seconds, error=error)
    scores = getattr(answer, "scores", None)
    return CaseResult.from_case(
        case, name, list(answer), scores=scores, seconds=seconds, confidence=getattr(answer, "confidence", None),
        no_cause=getattr(answer, "no_cause", None), features=getattr(answer, "features", None),
    )


def run_case(
    case: BenchCase,
    methods: Sequence[str],
    seed: int = 0,
    on_done: Callable[[], None] | None = None,
    config_json: str = "",
) -> list[CaseResult]:
    """Run each method on ``case``; one :class:`CaseResult` per method, in order.

    ``on_done`` is called after each method (progress reporting);
    ``config_json`` is the engine's base configuration as JSON ("" = defaults).
    """
    out: list[CaseResult] = []
    for name in methods:
        out.append(_run_one(case, name, seed, config_json))
        if on_done is not None:
            on_done()
    return out


def run_cases(cases: Sequence[BenchCase], methods: Sequence[str], seed: int = 0, config_json: str = "") -> list[list[CaseResult]]:
    """:func:`run_case` over several cases in one task (what a cluster worker runs)."""
    return [run_case(case, methods, seed, None, config_json) for case in cases]


def _chunk_size(n_cases: int, client: Any) -> int:
    """Cases per cluster task: about eight tasks per worker thread, at most 25 cases each."""
    try:
        threads = max(1, sum(client.nthreads().values()))
    except Exception:  # a client given as an address string, or an unusual one
        threads = 4
    return max(1, min(25, n_cases // (8 * threads)))


def _failed_case(case: BenchCase, methods: Sequence[str], exc: BaseException) -> list[CaseResult]:
    msg = f"worker failed: {_one_line(exc)}"
    return [CaseResult.from_case(case, name, [], error=msg) for name in methods]


def run_methods(
    cases: Sequence[BenchCase],
    methods: Sequence[str],
    *,
    jobs: int = 1,
    seed: int = 0,
    progress: bool = True,
    console: Console | None = None,
    config: Mapping[str, Any] | None = None,
    client: Any = None,
) -> list[CaseResult]:
    """Run every method on every case.

    Parameters
    ----------
    cases : sequence of BenchCase
    methods : sequence of str
        Registered method names (:func:`rca.evaluation.bench.methods.get_method`).
    jobs : int
        Worker processes; 1 runs in this process.
    seed : int
        Run seed handed to seeded methods (``random``).
    progress : bool
        Show a rich progress bar (on ``console``).
    config : mapping, optional
        The engine's base configuration (an :class:`rca.RCAConfig` mapping);
        ablations switch their component off on top of it.
    client : distributed.Client or str, optional
        Run the cases on this Dask cluster (``"local:N"``, ``"tcp://HOST:PORT"``)
        instead; ``jobs`` is then ignored.  Same rows as ``jobs=1``, case for case.

    Returns
    -------
    list of CaseResult
        Ordered by case, then by method, whatever the order of completion.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    config_json = json.dumps(dict(config), sort_keys=True) if config else ""
    for name in methods:
        get_method(name, seed=seed, config=config)  # fail fast on unknown names and bad config, in the parent
    methods = list(methods)
    slots: list[list[CaseResult] | None] = [None] * len(cases)
    bar = Progress(
        TextColumn("[bold]bench"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not progress,
        transient=False,
    )
    with bar:
        task = bar.add_task("bench", total=len(cases) * len(methods))
        if client is not None:
            from rca.engine.batch import map_on_client

            # Several cases per task: a case of a small system runs in milliseconds, less than it costs
            # the scheduler to hand it out and the client to pickle it alone.
            size = _chunk_size(len(cases), client)
            starts = list(range(0, len(cases), size))
            args = [(list(cases[i:i + size]), methods, seed, config_json) for i in starts]

            def done(k: int, rows: Any) -> None:
                chunk = range(starts[k], min(starts[k] + size, len(cases)))
                for j, i in enumerate(chunk):
                    failed = isinstance(rows, BaseException)
                    slots[i] = _failed_case(cases[i], methods, rows) if failed else rows[j]
                bar.advance(task, len(methods) * len(chunk))

            map_on_client(run_cases, args, client, on_result=done, errors="return")
        elif jobs == 1 or len(cases) <= 1:
            for i, case in enumerate(cases):
                slots[i] = run_case(case, methods, seed, on_done=lambda: bar.advance(task, 1), config_json=config_json)
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(jobs, len(cases)), mp_context=ctx) as pool:
                futures: dict[Future[list[CaseResult]], int] = {
                    pool.submit(run_case, case, methods, seed, None, config_json): i for i, case in enumerate(cases)
                }
                for fut in as_completed(futures):
                    i = futures[fut]
                    try:
                        slots[i] = fut.result()
                    except Exception as exc:  # a crashed worker or an unpicklable case
                        slots[i] = _failed_case(cases[i], methods, exc)
                    bar.advance(task, len(methods))
    return [r for rows in slots if rows is not None for r in rows]
