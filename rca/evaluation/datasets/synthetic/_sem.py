"""Linear-SEM incidents in the style of PyRCA's and CIRCA's simulators (private).

The call-graph generator (``family`` chain/tree/layered/mutual) was built
alongside the engine: five metrics per service, latency flowing up the calls.
This one reproduces, from their published descriptions, the synthetic
benchmarks of two RCA libraries, so the engine can be measured on data it
was not designed around:

* PyRCA (Salesforce; ``pyrca.simulation``): a random DAG, a linear structural
  equation model ``x = W^T x + e``, and a fault that shifts the noise mean of
  the root node(s) by several noise standard deviations;
* CIRCA (Li et al., KDD 2022, "Causal Inference-Based Root Cause Analysis for
  Online Service Systems with Intervention Recognition"): the same with a
  lag-1 term, ``x_t = W^T x_t + A^T x_{t-1} + e_t``, the fault an
  intervention on the root's mechanism.

The model, with every choice that is ours rather than theirs:

* **Graph.**  Erdős–Rényi over a random topological order: each forward pair
  is an edge with probability ``2 d / (n - 1)``, so the mean in-degree is
  ``d``, drawn per case from ``DEGREE_RANGE`` = [1.5, 3].  Node names
  (``node-07``) do not reveal the order.
* **Weights.**  ``|w|`` uniform in ``WEIGHT_RANGE`` = [0.1, 1.0] (PyRCA's
  range; CIRCA uses [0.5, 1]).  ``weights="signed"`` (the default, as in both
  libraries) gives each edge a random sign; ``"positive"`` keeps them all
  positive.
* **Lag.**  With ``lags`` > 0 that share of the edges also acts one step late
  (CIRCA's ``A``), with ``|a|`` uniform in ``LAG_WEIGHT_RANGE`` = [0.1, 0.5]
  and the edge's sign.  ``A`` only uses edges of ``W``, so the causal graph
  stays the same DAG and the process is stable whatever the weights (the
  lag operator is nilpotent).  ``lags=0`` is PyRCA's instantaneous model.
* **Noise.**  Gaussian, per-node standard deviation uniform in
  ``NOISE_SD_RANGE`` = [0.5, 1.5], times ``noise``.  The series start in the
  stationary state (a burn-in of ``n`` steps is discarded).  No intercept:
  values are centred on zero, as in both libraries.
* **Fault.**  From the fault start to the end, the noise mean of each root
  shifts by ``magnitude`` times the root's noise standard deviation
  (``magnitude`` uniform in ``MAGNITUDE_RANGE`` = [3, 10] per root unless
  fixed), always upwards; the shift travels through ``W`` (and ``A``) to the
  root's causal descendants, with whatever sign the paths give.
* **Roots and symptom.**  The first root is uniform among nodes with a
  descendant; further roots must share a descendant with the others and
  are preferably causally unrelated to them.  The symptom (the incident's
  service) is the common descendant with the largest expected shift in units
  of its own stationary standard deviation -- the node an operator would
  have been paged for.
* **One metric per node.**  With signed weights a descendant can move either
  way, and both libraries score ``|deviation|``; the metric is therefore
  called ``signal``, a name the engine's direction rules read as "both
  ways are bad" (:func:`rca.engine.metric_semantics.metric_direction`).  With positive
  weights every effect of the fault is upwards and the metric is called
  ``latency`` ("up is bad"), the engine's own semantics.
* **Topology.**  A causal edge ``cause -> effect`` is the call ``effect ->
  cause`` (anomalies travel from callee to caller), so the roots are
  dependencies of the symptom.

Everything derives from ``seed`` through :class:`numpy.random.SeedSequence`;
the DAG, weights and noise of a seed do not depend on ``lags`` or
``weights``, so the variants of one seed are directly comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg

from rca.engine.errors import InvalidInputError
from rca.engine.types import Incident
from rca.evaluation.datasets.base import BenchCase
from rca.evaluation.datasets.synthetic._checks import Checker
from rca.evaluation.datasets.synthetic._generate import format_step, parse_step
from topology import NodeKind, ServiceGraph
from topology.model import Call, Node

__all__ = ["generate_sem_case"]

SEM_FAMILY = "sem"
SEM_FAULTS = ("shift",)
SEM_WEIGHTS = ("signed", "positive")
SEM_MIN_NODES, SEM_MAX_NODES = 10, 500
DEGREE_RANGE = (1.5, 3.0)
WEIGHT_RANGE = (0.1, 1.0)
LAG_WEIGHT_RANGE = (0.1, 0.5)
NOISE_SD_RANGE = (0.5, 1.5)
MAGNITUDE_RANGE = (3.0, 10.0)
_EPOCH = pd.Timestamp("2024-05-01T00:00:00Z")


def sem_metric(weights: str) -> str:
    """The metric name of a case: ``signal`` (direction "both") or ``latency`` ("up")."""
    return "latency" if weights == "positive" else "signal"


_check = Checker("generate_sem_case")
_bad, _int, _float = _check.bad, _check.int, _check.float


@dataclass(frozen=True)
class _Sem:
    """A drawn model; index ``k`` is the ``k``-th node in topological order."""

    names: tuple[str, ...]
    edges: np.ndarray  # bool (n, n): k -> j causes, k < j
    w: np.ndarray  # instantaneous weights, w[k, j] = effect of k on j
    a: np.ndarray  # lag-1 weights on a subset of the edges
    sd: np.ndarray  # noise standard deviation per node (before the noise factor)
    degree: float

    @property
    def n(self) -> int:
        return len(self.names)


def _draw_model(n: int, weights: str, lags: float, rng: np.random.Generator) -> _Sem:
    """Random DAG, weights and noise scales; the draws do not depend on the options."""
    order = rng.permutation(n)
    width = max(2, len(str(n - 1)))
    names = tuple(f"node-{int(i):0{width}d}" for i in order)
    degree = float(rng.uniform(*DEGREE_RANGE))
    p = min(1.0, 2.0 * degree / (n - 1))
    edges = np.triu(rng.random((n, n)) < p, k=1)
    sign = np.where(rng.random((n, n)) < 0.5, -1.0, 1.0)
    magnitude = rng.uniform(*WEIGHT_RANGE, size=(n, n))
    lagged = edges & (rng.random((n, n)) < lags)
    lag_magnitude = rng.uniform(*LAG_WEIGHT_RANGE, size=(n, n))
    sd = rng.uniform(*NOISE_SD_RANGE, size=n)
    if weights == "positive":
        sign = np.ones_like(sign)
    w = np.where(edges, sign * magnitude, 0.0)
    a = np.where(lagged, sign * lag_magnitude, 0.0)
    return _Sem(names, edges, w, a, sd, degree)


def _simulate(model: _Sem, noise: np.ndarray) -> np.ndarray:
    """Rows are time steps: ``X (I - W) = shift(X) A + E``, one pass per step if lagged."""
    n = model.n
    inv = linalg.solve_triangular(np.eye(n) - model.w, np.eye(n), lower=False, unit_diagonal=True)
    y = noise @ inv
    if not model.a.any():
        return y
    p = model.a @ inv  # strictly upper triangular: no feedback through time
    x = np.empty_like(y)
    x[0] = y[0]
    for t in range(1, len(y)):
        x[t] = y[t] + x[t - 1] @ p
    return x


def _reach(adj: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Nodes reachable from ``start`` (bool vector) in one or more steps."""
    seen = np.zeros(len(start), dtype=bool)
    frontier = start.copy()
    while frontier.any():
        frontier = adj[frontier].any(axis=0) & ~seen
        seen |= frontier
    return seen


def _gain_and_sd(model: _Sem) -> tuple[np.ndarray, np.ndarray]:
    """Steady-state response to a unit step in each node's noise, and stationary sd (noise = 1)."""
    n = model.n
    eye = np.eye(n)
    inv = linalg.solve_triangular(eye - model.w, eye, lower=False, unit_diagonal=True)
    p = model.a @ inv
    gain = inv @ np.linalg.inv(eye - p)  # row r: the shift of every node per unit shift at r
    q = inv.T @ np.diag(model.sd**2) @ inv
    cov = q if not p.any() else linalg.solve_discrete_lyapunov(p.T, q)
    return gain, np.sqrt(np.fmax(np.diag(cov), 1e-24))


def _pick_roots(model: _Sem, n_roots: int, rng: np.random.Generator) -> tuple[list[int], np.ndarray]:
    """Roots sharing at least one common descendant, and that common set."""
    n, adj = model.n, model.edges
    one = np.eye(n, dtype=bool)
    first = np.flatnonzero(adj.any(axis=1))
    roots = [int(rng.choice(first))]
    common = _reach(adj, one[roots[0]])
    related = common | _reach(adj.T, one[roots[0]]) | one[roots[0]]
    for _ in range(1, n_roots):
        is_root = one[roots].any(axis=0)
        feeds_common = _reach(adj.T, common) & ~is_root
        candidates = np.flatnonzero(feeds_common & ~related)
        if not len(candidates):
            candidates = np.flatnonzero(feeds_common)
        if not len(candidates):
            raise _bad(
                "n_roots",
                f"at most {len(roots)} for this graph (no further node shares a descendant with the roots)",
                n_roots,
            )
        r = int(rng.choice(candidates))
        roots.append(r)
        common &= _reach(adj, one[r])
        related |= _reach(adj, one[r]) | _reach(adj.T, one[r]) | one[r]
    return roots, common


def _long_frame(
    names: tuple[str, ...], metric: str, values: np.ndarray, timestamps: pd.DatetimeIndex,
    *, missing: float, rng: np.random.Generator,
) -> pd.DataFrame:  # fmt: skip
    """Long frame, service by service; a ``missing`` share lost (half dropped, half NaN)."""
    steps, n = values.shape
    flat = values.T.reshape(-1).copy()
    keep = np.ones(flat.size, dtype=bool)
    n_lost = int(round(missing * flat.size))
    if n_lost:
        lost = rng.choice(flat.size, size=n_lost, replace=False)
        flat[lost[: n_lost // 2]] = np.nan
        keep[lost[n_lost // 2 :]] = False
    naive = timestamps.tz_convert("UTC").tz_localize(None).to_numpy()
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(np.tile(naive, n)[keep]).tz_localize("UTC"),
            "service": pd.array(list(names), dtype="str").take(np.repeat(np.arange(n), steps)[keep]),
            "metric": pd.array([metric] * int(keep.sum()), dtype="str"),
            "value": flat[keep],
        }
    )


def _service_graph(model: _Sem) -> ServiceGraph:
    """Causal ``k -> j`` becomes the call ``j -> k``: the effect calls its cause."""
    nodes = [Node(name, NodeKind.SERVICE) for name in sorted(model.names)]
    cause, effect = np.nonzero(model.edges)
    calls = [
        Call(model.names[j], model.names[k], weight=round(float(abs(model.w[k, j])), 3))
        for k, j in zip(cause.tolist(), effect.tolist(), strict=True)
    ]
    return ServiceGraph(nodes, calls)


def generate_sem_case(
    n_services: int = 50,
    *,
    fault: str = "shift",
    n_roots: int = 1,
    steps: int = 120,
    step: str | pd.Timedelta = "1min",
    baseline_steps: int | None = None,
    missing: float = 0.0,
    noise: float = 1.0,
    magnitude: float | None = None,
    lags: float = 0.0,
    weights: str = "signed",
    seed: int = 0,
) -> BenchCase:
    """Generate one seeded linear-SEM incident (PyRCA / CIRCA style).

    The model and every choice in it are described in the module docstring
    of :mod:`rca.evaluation.datasets.synthetic._sem`.

    Parameters
    ----------
    n_services : int
        Nodes of the DAG, one service each, 10 to 500.
    fault : {"shift"}
        The noise mean of the root(s) shifts upwards from the fault start.
    n_roots : int
        Simultaneous root causes, 1 to 10, sharing a common descendant.
    steps : int
        Time steps, 20 to 100,000.
    step : str or pandas.Timedelta
        Sampling step, ``"1s"`` to ``"5min"``.
    baseline_steps : int, optional
        Normal steps before the fault; default two thirds of ``steps``.
    missing : float
        Share of points lost, 0 to 0.5: half dropped rows, half NaN values.
    noise : float
        Factor on every node's noise (0 gives noise-free series); the fault
        size does not scale with it.
    magnitude : float, optional
        The root's noise-mean shift in units of its noise standard deviation;
        default uniform in [3, 10], drawn per root.
    lags : float
        Share of the edges (0 to 1) that also act one step late (CIRCA's
        lag-1 term); 0 is PyRCA's instantaneous model.
    weights : {"signed", "positive"}
        Edge signs random (the libraries' choice, metric ``signal``) or all
        positive (metric ``latency``).
    seed : int
        Everything is derived from it; the global random state is untouched.

    Returns
    -------
    BenchCase
        ``dataset="synthetic"``, ``group`` like ``"sem-50"``, fault type
        ``"shift"``; the whole series (normal period included) in
        ``metrics``, ``baseline=None``; the incident is the symptom's metric
        from the fault start.  ``meta`` records the parameters, the drawn
        degree and edge counts, the symptom's expected shift (``severity``, in
        its stationary standard deviations) and, per root, its shift and its
        effect on the symptom.

    Raises
    ------
    rca.engine.errors.InvalidConfigError
        An argument is out of range; ``field`` is ``"synthetic.<name>"``.

    Examples
    --------
    >>> case = generate_sem_case(20, seed=3)
    >>> case.group, case.fault_type, case.incident.metric
    ('sem-20', 'shift', 'signal')
    >>> case.root_causes[0] in case.graph.dependencies(case.incident.service)
    True
    """
    if fault not in SEM_FAULTS:
        raise _bad("fault", f"one of {list(SEM_FAULTS)}", fault)
    if weights not in SEM_WEIGHTS:
        raise _bad("weights", f"one of {list(SEM_WEIGHTS)}", weights)
    n = _int("n_services", n_services, SEM_MIN_NODES, SEM_MAX_NODES)
    n_roots = _int("n_roots", n_roots, 1, 10)
    steps = _int("steps", steps, 20, 100_000)
    try:
        step_td = parse_step(step)
    except InvalidInputError:
        raise _bad("step", "a duration between '1s' and '5min' in whole seconds, such as '30s'", step) from None
    t0 = _int("baseline_steps", (2 * steps) // 3 if baseline_steps is None else baseline_steps, 10, steps - 5)
    missing = _float("missing", missing, 0.0, 0.5)
    noise = _float("noise", noise, 0.0, 10.0)
    magnitude = None if magnitude is None else _float("magnitude", magnitude, 0.0, 1000.0)
    lags = _float("lags", lags, 0.0, 1.0)
    seed = _int("seed", seed, 0, 2**63 - 1)

    model_seq, noise_seq, fault_seq, frame_seq = np.random.SeedSequence(seed).spawn(4)
    model = _draw_model(n, weights, lags, np.random.default_rng(model_seq))
    fault_rng = np.random.default_rng(fault_seq)
    roots, common = _pick_roots(model, n_roots, fault_rng)
    sizes = (
        np.full(len(roots), magnitude) if magnitude is not None else fault_rng.uniform(*MAGNITUDE_RANGE, len(roots))
    )
    shift = np.zeros(n)
    shift[roots] = sizes * model.sd[roots]

    gain, stationary_sd = _gain_and_sd(model)
    expected = shift @ gain  # steady-state shift of every node
    unit_z = expected / stationary_sd
    candidates = np.flatnonzero(common)
    symptom = int(candidates[np.argmax(np.abs(unit_z[candidates]))])

    burn = n  # the lag operator is nilpotent of order <= n: exact stationarity after n steps
    e = np.random.default_rng(noise_seq).standard_normal((burn + steps, n)) * (noise * model.sd)
    e[burn + t0 :] += shift
    values = _simulate(model, e)[burn:]

    frame_rng = np.random.default_rng(frame_seq)
    start = _EPOCH + pd.Timedelta(hours=int(frame_rng.integers(0, 24)))
    timestamps = pd.date_range(start, periods=steps, freq=step_td)
    metric = sem_metric(weights)
    frame = _long_frame(model.names, metric, values, timestamps, missing=missing, rng=frame_rng)
    names = model.names
    group = f"{SEM_FAMILY}-{n}"
    meta = {
        "seed": seed,
        "family": SEM_FAMILY,
        "n_services": n,
        "steps": steps,
        "step": format_step(step_td),
        "baseline_steps": t0,
        "missing": missing,
        "noise": noise,
        "weights": weights,
        "lags": lags,
        "degree": round(model.degree, 4),
        "edges": int(model.edges.sum()),
        "lagged_edges": int((model.a != 0).sum()),
        "severity": round(float(abs(unit_z[symptom])), 4),
        "symptom_shift": round(float(unit_z[symptom]), 4),
        "roots": {
            names[r]: {
                "magnitude": round(float(size), 4),
                "shift": round(float(shift[r]), 4),
                "effect_on_symptom": round(float(gain[r, symptom] * shift[r] / stationary_sd[symptom]), 4),
            }
            for r, size in zip(roots, sizes, strict=True)
        },
    }
    return BenchCase(
        case_id=f"{group}/{fault}/seed-{seed}",
        dataset="synthetic",
        group=group,
        graph=_service_graph(model),
        metrics=frame,
        incident=Incident(names[symptom], metric, timestamps[t0]),
        baseline=None,
        root_causes=tuple(names[r] for r in roots),
        fault_type=fault,
        meta=meta,
    )
