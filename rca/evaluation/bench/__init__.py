"""Benchmarking: run methods over :class:`~rca.evaluation.datasets.base.BenchCase` lists and score them.

- :mod:`rca.evaluation.bench.methods` -- the registry: ``engine``, its ablations and the
  reference methods ``random``, ``topology-distance``, ``robust-z``.
- :mod:`rca.evaluation.bench.runner` -- run methods × cases (``jobs`` worker processes),
  timing only the method call.
- :mod:`rca.evaluation.bench.metrics` -- AC@k, Avg@5, top-k recall, specificity, seconds,
  calibration of the top-1 confidence.
- :mod:`rca.evaluation.bench.report` -- ``cases.csv``, ``summary.json``, ``summary.md``.

The command line is ``rca bench`` (:mod:`rca.cli.bench`).

Examples
--------
>>> from rca.evaluation.bench import run_methods, write_report  # doctest: +SKIP
>>> results = run_methods(cases, ["robust-z", "engine"], jobs=2)  # doctest: +SKIP
>>> write_report(results, "bench-out")  # doctest: +SKIP
"""

from rca.evaluation.bench.methods import (
    DEFAULT_METHODS,
    Ranking,
    UnknownMethodError,
    available_methods,
    get_method,
    register_method,
)
from rca.evaluation.bench.metrics import (
    ac_at_k,
    avg_at_k,
    calibration,
    recall_at_k,
    specificity,
    summarize_calibration,
    summarize_fault_types,
    summarize_groups,
)
from rca.evaluation.bench.report import BenchReport, build_report, write_report
from rca.evaluation.bench.results import CaseResult
from rca.evaluation.bench.runner import run_case, run_methods

__all__ = [
    "DEFAULT_METHODS",
    "BenchReport",
    "CaseResult",
    "Ranking",
    "UnknownMethodError",
    "ac_at_k",
    "available_methods",
    "avg_at_k",
    "build_report",
    "calibration",
    "get_method",
    "recall_at_k",
    "register_method",
    "run_case",
    "run_methods",
    "specificity",
    "summarize_calibration",
    "summarize_fault_types",
    "summarize_groups",
    "write_report",
]
