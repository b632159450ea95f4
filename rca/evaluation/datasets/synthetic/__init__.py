"""Seeded synthetic incidents: topology, metrics and known root causes.

The engine's test and demo data, and a benchmark dataset
(``rca bench --dataset synthetic:SPEC``).

* :func:`generate_case` -- one incident: a random call graph of a family
  (``chain``, ``tree``, ``layered``, ``mutual``), five metrics per service
  (``latency`` ms, ``error_rate``, ``requests`` per second, ``cpu``,
  ``memory`` MB) in long format, and one or more injected faults
  (``latency_step``, ``error_burst``, ``saturation``, ``slow_leak``,
  ``lagged``) whose effect travels up the call graph to an entry point.
* :func:`generate_sem_case` -- one incident in the style of the PyRCA and
  CIRCA synthetic benchmarks: a random DAG, a linear structural equation
  model (with an optional lag-1 term), one metric per node, a noise-mean
  shift at the root(s).  Spec ``family=sem`` (see
  :mod:`rca.evaluation.datasets.synthetic._sem` for every modelling choice).
* :func:`generate_cases` / :class:`SyntheticSpec` -- a benchmark from a
  compact spec such as ``"family=layered,n=50,cases=100,fault=mixed"`` or
  ``"family=sem,n=50,cases=40,seed=1"``.
* :func:`demo_case` / :func:`write_demo_files` -- the fixed, readable demo
  incident of ``rca demo`` (``rca/data/demo/``).

The physics (see :mod:`rca.evaluation.datasets.synthetic._simulate`): traffic flows
down the calls, latency and errors flow up (a caller waits for its callees),
CPU follows load and slows a service like a queue; noise is heteroscedastic
with rare heavy-tailed spikes.  Fault strength is calibrated as a *severity*:
the expected shift of the symptom's metric in units of its baseline noise,
random in [2, 16] unless fixed, so some incidents are faint.

Everything is derived from the ``seed`` with :class:`numpy.random.SeedSequence`;
the global random state is never touched.

Examples
--------
>>> from rca.evaluation.datasets.synthetic import generate_case
>>> case = generate_case("layered", 50, fault="saturation", seed=7)
>>> case.dataset, case.group, case.fault_type
('synthetic', 'layered-50', 'saturation')
>>> set(case.metrics["metric"]) == {"latency", "error_rate", "requests", "cpu", "memory"}
True
"""

from rca.evaluation.datasets.synthetic._demo import demo_case, write_demo_files
from rca.evaluation.datasets.synthetic._faults import FAULTS, SEVERITY_RANGE
from rca.evaluation.datasets.synthetic._generate import generate_case
from rca.evaluation.datasets.synthetic._sem import generate_sem_case
from rca.evaluation.datasets.synthetic._simulate import METRICS
from rca.evaluation.datasets.synthetic._spec import SyntheticSpec, generate_cases
from rca.evaluation.datasets.synthetic._topology import FAMILIES

__all__ = [
    "FAMILIES",
    "FAULTS",
    "METRICS",
    "SEVERITY_RANGE",
    "SyntheticSpec",
    "demo_case",
    "generate_case",
    "generate_cases",
    "generate_sem_case",
    "write_demo_files",
]
