"""``generate_case``: one seeded synthetic incident (private module)."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from rca.engine.types import Incident
from rca.evaluation.datasets.base import BenchCase
from rca.evaluation.datasets.synthetic._checks import Checker
from rca.evaluation.datasets.synthetic._faults import (
    FAULTS,
    build_effects,
    incident_metric,
    pick_symptom,
    plan_fault,
)
from rca.evaluation.datasets.synthetic._propagate import components, make_plan
from rca.evaluation.datasets.synthetic._simulate import (
    METRICS,
    Effects,
    Plans,
    draw_noise,
    draw_params,
    seasonal_factor,
    simulate,
)
from rca.evaluation.datasets.synthetic._topology import (
    FAMILIES,
    SynthTopology,
    build_topology,
)

MIN_SERVICES, MAX_SERVICES = 10, 2000
MIN_STEP, MAX_STEP = pd.Timedelta("1s"), pd.Timedelta("5min")
_EPOCH = pd.Timestamp("2024-05-01T00:00:00Z")


_check = Checker("generate_case")
_bad, _int, _float = _check.bad, _check.int, _check.float


def format_step(td: pd.Timedelta) -> str:
    """``"1min"``, ``"30s"``: the compact form of a step."""
    seconds = int(td.total_seconds())
    return f"{seconds // 60}min" if seconds % 60 == 0 else f"{seconds}s"


def parse_step(value: Any, *, name: str = "step") -> pd.Timedelta:
    """A step between 1 s and 5 min, whole seconds."""
    rule = "a duration between '1s' and '5min' in whole seconds, such as '30s' or '1min'"
    if isinstance(value, bool):
        raise _bad(name, rule, value)
    try:
        td = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise _bad(name, rule, value) from None
    if td is pd.NaT or not MIN_STEP <= td <= MAX_STEP or td.total_seconds() != int(td.total_seconds()):
        raise _bad(name, rule, value)
    return td


def validate_args(
    family: Any,
    n_services: Any,
    fault: Any,
    n_roots: Any,
    steps: Any,
    step: Any,
    baseline_steps: Any,
    seasonality: Any,
    missing: Any,
    noise: Any,
    seed: Any,
    magnitude: Any,
    lags: Any = 0.0,
) -> dict[str, Any]:
    """Check every argument of :func:`generate_case`; return the normalised values."""
    if family not in FAMILIES:
        raise _bad("family", f"one of {list(FAMILIES)}", family)
    if fault not in FAULTS:
        raise _bad("fault", f"one of {list(FAULTS)}", fault)
    out: dict[str, Any] = {"family": family, "fault": fault}
    out["n_services"] = _int("n_services", n_services, MIN_SERVICES, MAX_SERVICES)
    out["n_roots"] = _int("n_roots", n_roots, 1, 10)
    out["steps"] = _int("steps", steps, 20, 100_000)
    out["step"] = parse_step(step)
    if baseline_steps is None:
        baseline_steps = (2 * out["steps"]) // 3
    out["baseline_steps"] = _int("baseline_steps", baseline_steps, 10, out["steps"] - 5)
    if not isinstance(seasonality, (bool, np.bool_)):
        raise _bad("seasonality", "a bool", seasonality)
    out["seasonality"] = bool(seasonality)
    out["missing"] = _float("missing", missing, 0.0, 0.5)
    out["noise"] = _float("noise", noise, 0.0, 10.0)
    out["lags"] = _float("lags", lags, 0.0, 1.0)
    out["seed"] = _int("seed", seed, 0, 2**63 - 1)
    out["magnitude"] = None if magnitude is None else _float("magnitude", magnitude, 0.0, 1000.0)
    return out


def make_plans(topo: SynthTopology, previous: Plans | None = None) -> Plans:
    """The four propagation plans of ``topo``.

    After changing lags pass the ``previous`` plans: only the upward ones
    (the only ones lags affect) are rebuilt.
    """
    comps = components(topo.g)
    if previous is None:
        traffic = make_plan(topo.g, "weight", "down", lagged=False, comps=comps)
        error_influence = make_plan(topo.g, "err", "down", lagged=False, comps=comps)
    else:
        traffic, error_influence = previous.traffic, previous.error_influence
    return Plans(
        latency=make_plan(topo.g, "weight", "up", comps=comps),
        errors=make_plan(topo.g, "err", "up", comps=comps),
        traffic=traffic,
        error_influence=error_influence,
    )


def to_long_frame(
    names: tuple[str, ...],
    values: dict[str, np.ndarray],
    timestamps: pd.DatetimeIndex,
    *,
    missing: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Long ``timestamp, service, metric, value`` frame, series by series.

    A ``missing`` share of the points is lost: half of them dropped, half NaN.
    """
    n, steps = values["latency"].shape
    n_metrics = len(METRICS)
    cube = np.stack([values[m] for m in METRICS], axis=1)  # (n, metrics, T)
    flat = cube.reshape(-1)
    total = flat.size
    keep = np.ones(total, dtype=bool)
    n_lost = int(round(missing * total))
    if n_lost:
        lost = rng.choice(total, size=n_lost, replace=False)
        flat = flat.copy()
        flat[lost[: n_lost // 2]] = np.nan
        keep[lost[n_lost // 2 :]] = False
    service_codes = np.repeat(np.arange(n), n_metrics * steps)[keep]
    metric_codes = np.tile(np.repeat(np.arange(n_metrics), steps), n)[keep]
    naive = timestamps.tz_convert("UTC").tz_localize(None).to_numpy()
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(np.tile(naive, n * n_metrics)[keep]).tz_localize("UTC"),
            "service": pd.array(list(names), dtype="str").take(service_codes),
            "metric": pd.array(list(METRICS), dtype="str").take(metric_codes),
            "value": flat[keep],
        }
    )


def _lag_calls(topo: SynthTopology, share: float, rng: np.random.Generator) -> int:
    """Give a ``share`` of the calls between components a lag of 1-3 steps."""
    if share <= 0:
        return 0
    comp_of = {v: i for i, comp in enumerate(components(topo.g)) for v in comp}
    edges = [(u, v) for u, v in sorted(topo.g.edges) if comp_of[u] != comp_of[v]]
    chosen = rng.random(len(edges)) < share
    lags = rng.integers(1, 4, size=len(edges))
    for (u, v), pick, lag in zip(edges, chosen, lags, strict=True):
        if pick:
            topo.g.edges[u, v]["lag"] = int(lag)
    return int(chosen.sum())


def generate_case(
    family: str = "layered",
    n_services: int = 50,
    *,
    fault: str = "latency_step",
    n_roots: int = 1,
    steps: int = 120,
    step: str | pd.Timedelta = "1min",
    baseline_steps: int | None = None,
    seasonality: bool = False,
    missing: float = 0.0,
    noise: float = 1.0,
    magnitude: float | None = None,
    lags: float = 0.0,
    seed: int = 0,
) -> BenchCase:
    """Generate one seeded synthetic incident with known root causes.

    Parameters
    ----------
    family : {"chain", "tree", "layered", "mutual"}
        Topology family. ``layered`` is a microservice DAG (a few entry points,
        layers of services, shared databases and caches at the bottom);
        ``mutual`` adds mutual calls and longer cycles to it.
    n_services : int
        Number of nodes, 10 to 2,000.
    fault : {"latency_step", "error_burst", "saturation", "slow_leak", "lagged"}
        ``latency_step``: the root's own work gets slower at once.
        ``error_burst``: the root fails a share of its requests (fluctuating).
        ``saturation``: the root's CPU climbs within a few steps; its latency
        follows (queueing).  ``slow_leak``: memory ramps up and latency creeps
        up until the end.  ``lagged``: a latency step whose effect reaches
        the root's callers several steps late.
    n_roots : int
        Number of simultaneous root causes (1 to 10), chosen among the
        symptom's dependencies, preferably independent of each other.
    steps : int
        Number of time steps (20 to 100,000).
    step : str or pandas.Timedelta
        Sampling step, ``"1s"`` to ``"5min"``.
    baseline_steps : int, optional
        Steps of normal data before the fault; default two thirds of ``steps``.
    seasonality : bool
        Add a daily traffic cycle (visible with long windows or coarse steps).
    missing : float
        Share of points lost, 0 to 0.5: half dropped rows, half NaN values.
    noise : float
        Scale of every noise source (0 gives smooth, noise-free series).
    magnitude : float, optional
        Severity: the expected shift of the symptom's metric, in units of its
        baseline noise (robust sd). Default: random, log-uniform in [2, 16].
    lags : float
        Share of calls (0 to 1) on which a change in the callee reaches the
        caller 1 to 3 steps late (calls inside cycles excepted).
    seed : int
        Everything is derived from it; the global random state is untouched.

    Returns
    -------
    BenchCase
        ``dataset="synthetic"``, ``group`` like ``"layered-50"``, the whole
        frame (baseline included) in ``metrics``, ``baseline=None``; the
        incident is the entry point's ``latency`` (``error_rate`` for
        ``error_burst``) from the fault start.  ``meta`` records every
        parameter and, per root, its influence on the symptom and the size
        of the injected change.

    Raises
    ------
    rca.engine.errors.InvalidConfigError
        An argument is out of range; ``field`` is ``"synthetic.<name>"``.

    Examples
    --------
    >>> case = generate_case("chain", 12, fault="latency_step", seed=1)
    >>> case.group, case.incident.service, case.incident.metric
    ('chain-12', 'api-0', 'latency')
    >>> sorted(case.metrics.columns)
    ['metric', 'service', 'timestamp', 'value']
    >>> case.root_causes[0] in case.graph.dependencies(case.incident.service)
    True
    """
    a = validate_args(
        family, n_services, fault, n_roots, steps, step, baseline_steps,
        seasonality, missing, noise, seed, magnitude, lags,
    )  # fmt: skip
    seqs = np.random.SeedSequence(a["seed"]).spawn(6)
    topo_seq, param_seq, noise_seq, fault_seq, frame_seq, lag_seq = seqs
    topo = build_topology(a["family"], a["n_services"], np.random.default_rng(topo_seq))
    n_lagged = _lag_calls(topo, a["lags"], np.random.default_rng(lag_seq))
    steps_, t0 = a["steps"], a["baseline_steps"]
    step_s = float(a["step"].total_seconds())
    n_deps = len(nx.descendants(topo.g, pick_symptom(topo)))
    if a["n_roots"] > n_deps:
        raise _bad("n_roots", f"at most the {n_deps} dependencies of the symptom", n_roots)
    plans = make_plans(topo)
    fault_rng = np.random.default_rng(fault_seq)
    plan = plan_fault(
        topo, plans, fault_rng, kind=a["fault"], n_roots=a["n_roots"],
        start=t0, steps=steps_, magnitude=a["magnitude"],
    )  # fmt: skip
    if plan.lag:
        plans = make_plans(topo, plans)
    param_rng = np.random.default_rng(param_seq)
    params = draw_params(topo, param_rng, a["noise"])
    start = _EPOCH + pd.Timedelta(hours=int(param_rng.integers(0, 24)))
    if a["seasonality"]:
        sod = float((start - start.normalize()).total_seconds())
        season = seasonal_factor(sod, steps_, step_s, param_rng)
    else:
        season = np.ones(steps_)
    noise_ = draw_noise(topo.n, steps_, np.random.default_rng(noise_seq), a["noise"])
    clean = simulate(plans, params, noise_, Effects(topo.n, steps_), season=season, step_seconds=step_s)
    effects, details = build_effects(plan, params, clean, fault_rng)
    values = simulate(plans, params, noise_, effects, season=season, step_seconds=step_s)
    timestamps = pd.date_range(start, periods=steps_, freq=a["step"])
    frame = to_long_frame(
        topo.names, values, timestamps, missing=a["missing"], rng=np.random.default_rng(frame_seq)
    )
    names = topo.names
    group = f"{a['family']}-{a['n_services']}"
    roots = tuple(names[r] for r in plan.roots)
    meta = {
        "seed": a["seed"],
        "family": a["family"],
        "n_services": a["n_services"],
        "steps": steps_,
        "step": format_step(a["step"]),
        "baseline_steps": t0,
        "seasonality": a["seasonality"],
        "missing": a["missing"],
        "noise": a["noise"],
        "severity": round(plan.severity, 4),
        "lag": plan.lag,
        "lags": a["lags"],
        "lagged_calls": n_lagged,
        "roots": {names[r]: d for r, d in zip(plan.roots, details, strict=True)},
    }
    return BenchCase(
        case_id=f"{group}/{a['fault']}/seed-{a['seed']}",
        dataset="synthetic",
        group=group,
        graph=topo.to_service_graph(),
        metrics=frame,
        incident=Incident(names[plan.symptom], incident_metric(a["fault"]), timestamps[t0]),
        baseline=None,
        root_causes=roots,
        fault_type=a["fault"],
        meta=meta,
    )
