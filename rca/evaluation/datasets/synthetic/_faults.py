"""Fault injection: where, how strong, and what it changes (private).

Strength is set by a *severity* ``z``: the expected shift of the symptom's
metric, in units of its own baseline noise (robust standard deviation).  The
change at the root is whatever it takes to cause that shift through the
graph, so a root deep below the symptom gets a larger local fault, as in a
real outage where a small service timing out moves the frontend's mean
latency only a little.  Severities are drawn log-uniformly from
``SEVERITY_RANGE`` unless given: some incidents are faint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from rca.evaluation.datasets.synthetic._propagate import influence
from rca.evaluation.datasets.synthetic._simulate import Effects, NodeParams, Plans
from rca.evaluation.datasets.synthetic._topology import SynthTopology

FAULTS = ("latency_step", "error_burst", "saturation", "slow_leak", "lagged")
SEVERITY_RANGE = (2.0, 16.0)
_MIN_INFLUENCE = 0.05


@dataclass(frozen=True)
class FaultPlan:
    """Roots, start, lags and severities of one case."""

    kind: str
    symptom: int
    roots: tuple[int, ...]
    start: int
    severity: float
    lag: int
    influence: tuple[float, ...]


def incident_metric(kind: str) -> str:
    """The symptom metric a fault of ``kind`` shows in."""
    return "error_rate" if kind == "error_burst" else "latency"


def pick_symptom(topo: SynthTopology) -> int:
    """The entry point with the most dependencies (ties: the first)."""
    best = max(topo.entries, key=lambda e: (len(nx.descendants(topo.g, e)), -e))
    return int(best)


def plan_fault(
    topo: SynthTopology,
    plans: Plans,
    rng: np.random.Generator,
    *,
    kind: str,
    n_roots: int,
    start: int,
    steps: int,
    magnitude: float | None,
) -> FaultPlan:
    """Choose roots among the symptom's dependencies and draw the fault's strength.

    Lagged faults set the ``lag`` of the calls into each root on ``topo.g``;
    build the propagation plans again afterwards.
    """
    symptom = pick_symptom(topo)
    deps = sorted(nx.descendants(topo.g, symptom))
    infl_plan = plans.error_influence if kind == "error_burst" else plans.traffic
    infl = influence(infl_plan, symptom)
    strong = [v for v in deps if infl[v] >= _MIN_INFLUENCE]
    if len(strong) < 2 * n_roots:
        strong = sorted(deps, key=lambda v: (-infl[v], v))[: max(2 * n_roots, 5)]
    roots = _pick_roots(topo, sorted(strong), n_roots, rng)
    if magnitude is None:
        lo, hi = np.log(SEVERITY_RANGE[0]), np.log(SEVERITY_RANGE[1])
        severity = float(np.exp(rng.uniform(lo, hi)))
    else:
        severity = float(magnitude)
    lag = 0
    if kind == "lagged":
        lag = min(int(rng.integers(3, 7)), max(1, (steps - start) // 3))
        for r in roots:
            for u in topo.g.predecessors(r):
                topo.g.edges[u, r]["lag"] = lag
    return FaultPlan(kind, symptom, roots, start, severity, lag, tuple(float(infl[r]) for r in roots))


def _pick_roots(
    topo: SynthTopology, candidates: list[int], n_roots: int, rng: np.random.Generator
) -> tuple[int, ...]:
    """Distinct roots, preferring ones that do not depend on each other."""
    order = rng.permutation(len(candidates)).tolist()
    chosen: list[int] = []
    for j in order:
        v = candidates[j]
        related = any(
            nx.has_path(topo.g, v, c) or nx.has_path(topo.g, c, v) for c in chosen
        )
        if not related:
            chosen.append(v)
        if len(chosen) == n_roots:
            return tuple(chosen)
    for j in order:
        if candidates[j] not in chosen:
            chosen.append(candidates[j])
        if len(chosen) == n_roots:
            break
    return tuple(chosen)


def robust_sd(x: np.ndarray) -> float:
    """1.4826 * MAD, ignoring NaN."""
    med = np.nanmedian(x)
    return float(1.4826 * np.nanmedian(np.abs(x - med)))


def build_effects(
    plan: FaultPlan,
    params: NodeParams,
    clean: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> tuple[Effects, list[dict[str, Any]]]:
    """The changes that make each root cause a shift of ``severity`` noise units.

    ``clean`` is a fault-free run with the same noise: its baseline part
    gives the symptom's level and noise.
    """
    n, steps = clean["latency"].shape
    t0 = plan.start
    eff = Effects(n, steps)
    metric = incident_metric(plan.kind)
    base = clean[metric][plan.symptom, :t0]
    level = float(np.median(base))
    sd = robust_sd(base)
    if not sd > 0:
        sd = 0.05 * level if metric == "latency" else max(0.1 * level, 1e-4)
    target = plan.severity * sd
    after = np.arange(steps) >= t0
    frac = np.clip((np.arange(steps) - t0 + 1) / max(steps - t0, 1), 0.0, 1.0)
    details = []
    for r, infl in zip(plan.roots, plan.influence, strict=True):
        infl = max(infl, 1e-3)
        own = float(params.own_latency[r])
        d: dict[str, Any] = {"influence": round(infl, 4)}
        if metric == "error_rate":
            e_s = min(level + target, 0.9)
            dlog_r = (np.log1p(-e_s) - np.log1p(-level)) / infl
            e0 = float(params.base_error[r])
            e_r = float(min(1.0 - (1.0 - e0) * np.exp(dlog_r), 0.95))
            burst = np.clip(e_r * rng.uniform(0.6, 1.4, size=steps), e0, 0.95)
            eff.err_log[r] = np.where(after, np.log1p(-burst) - np.log1p(-e0), 0.0)
            d["error_rate"] = round(e_r, 5)
            details.append(d)
            continue
        delta = target / infl  # ms of own work needed at the root
        if plan.kind in ("latency_step", "lagged"):
            eff.lat_add[r] += np.where(after, delta, 0.0)
        elif plan.kind == "saturation":
            rho0 = float(params.cpu_idle[r] + params.cpu_load[r])
            factor = 1.0 + delta / own
            rho_f = min(1.0 - (1.0 - rho0) / factor, 0.98)
            extra = delta - own * ((1.0 - rho0) / (1.0 - rho_f) - 1.0)
            ramp_steps = int(rng.integers(3, 8))
            ramp = np.clip((np.arange(steps) - t0 + 1) / ramp_steps, 0.0, 1.0)
            eff.cpu_add[r] += (rho_f - rho0) * ramp
            if extra > 0:  # beyond what queueing explains: thread-pool exhaustion
                eff.lat_add[r] += extra * ramp**2
            d["cpu"] = round(rho_f, 4)
        elif plan.kind == "slow_leak":
            eff.lat_mult[r] *= 1.0 + 2.0 * delta / own * frac
            eff.mem_add[r] += params.memory[r] * rng.uniform(0.5, 2.0) * frac
            eff.cpu_add[r] += 0.1 * frac
        d["latency_ms"] = round(delta, 3)
        details.append(d)
    return eff, details
