"""Large incidents for the scale benchmark: up to 100,000 services in a second or two.

:func:`generate_case` simulates traffic, queues and five metrics per service
and stops at 2,000 services; here the point is the engine's cost at 300 to
30,000 services, so the incident is built directly with numpy over whole
blocks:

* a **layered** call graph: layer ``k`` has ``2**k`` services (the last one
  what is left), every service calls two distinct services of the next layer
  (fan-out 2), and every service but the entry point ``svc-0`` has a caller;
* three metrics per service (``latency`` ms, ``error_rate``, ``cpu``) on a
  one-minute grid (``steps`` points, 180 by default), Gaussian noise around a
  per-service level;
* one **deep** root cause, a service of the last layer, whose latency steps
  up at ``fault_step`` (and its CPU with it); the step reaches every service
  that calls it, directly or not, attenuated by ``attenuation`` per call, so
  the symptom ``svc-0/latency`` shifts too.

The case comes in both shapes a user has: the long frame
``timestamp, service, metric, value`` and the wide ``(service, metric)``
frame a notebook pivot gives.  Seeded with :class:`numpy.random.Generator`;
the global random state is untouched.

Examples
--------
>>> case = scale_case(300, seed=1)
>>> case.wide.shape, len(case.long) == case.wide.size
((180, 900), True)
>>> case.root in case.graph.dependencies("svc-0")
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rca.engine.types import Incident
from topology import ServiceGraph
from topology.model import Call, Node

__all__ = ["ScaleCase", "scale_case", "SCALE_METRICS"]

SCALE_METRICS = ("latency", "error_rate", "cpu")
_EPOCH = pd.Timestamp("2024-05-01T00:00:00Z")


@dataclass(frozen=True)
class ScaleCase:
    """One large incident: its graph, metrics in both shapes, the symptom and the true root."""

    graph: ServiceGraph
    long: pd.DataFrame
    wide: pd.DataFrame
    incident: Incident
    root: str
    n_services: int

    @property
    def n_series(self) -> int:
        return self.wide.shape[1]


def _layers(n: int) -> list[np.ndarray]:
    """Service numbers of each layer: 1, 2, 4, ... services, the last layer the rest."""
    out, start, width = [], 0, 1
    while start < n:
        out.append(np.arange(start, min(n, start + width)))
        start += width
        width *= 2
    return out


def _calls(layers: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Caller and callee arrays: two distinct callees in the next layer, every service called."""
    callers, callees = [], []
    for upper, lower in zip(layers[:-1], layers[1:], strict=False):
        # Every lower service gets one caller, spread evenly over the upper layer ...
        parent = upper[np.arange(len(lower)) * len(upper) // len(lower)]
        callers.append(parent)
        callees.append(lower)
        # ... and every upper service calls one more, distinct, lower service.
        if len(lower) >= 2:
            first = np.full(len(upper), -1)
            first_of = np.searchsorted(parent, upper)  # the lower service each upper one already calls
            has = first_of < len(lower)
            first[has] = lower[first_of[has]]
            pick = lower[rng.integers(0, len(lower), size=len(upper))]
            clash = pick == first
            pick[clash] = lower[(np.searchsorted(lower, pick[clash]) + 1) % len(lower)]
            callers.append(upper)
            callees.append(pick)
    caller, callee = np.concatenate(callers), np.concatenate(callees)
    pairs = np.unique(np.stack([caller, callee], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def _shift_upward(n: int, caller: np.ndarray, callee: np.ndarray, root: int, attenuation: float) -> np.ndarray:
    """Share of the root's step that reaches each service: ``attenuation**hops``, the shortest way up."""
    share = np.zeros(n)
    share[root] = 1.0
    frontier = np.array([root])
    while frontier.size:
        up = caller[np.isin(callee, frontier)]
        reached = share[frontier].max() * attenuation
        new = up[share[up] < reached]
        share[new] = reached
        frontier = np.unique(new)
    return share


def scale_case(
    n_services: int,
    *,
    steps: int = 180,
    fault_step: int = 150,
    magnitude: float = 30.0,
    attenuation: float = 0.9,
    seed: int = 0,
) -> ScaleCase:
    """A seeded layered incident with ``n_services`` services and ``3 * n_services`` series.

    Parameters
    ----------
    n_services : int
        At least 8.
    steps : int
        One-minute points per series.
    fault_step : int
        Index of the first point after the fault (the incident start).
    magnitude : float
        The root's latency step in units of its noise.
    attenuation : float
        Share of a callee's step its caller shows (per call, in (0, 1]).
    seed : int
    """
    if n_services < 8:
        raise ValueError(f"n_services must be >= 8, got {n_services}")
    if not 10 <= fault_step < steps:
        raise ValueError(f"fault_step must be in [10, steps), got {fault_step}")
    rng = np.random.default_rng(seed)
    layers = _layers(n_services)
    caller, callee = _calls(layers, rng)
    root = int(layers[-1][rng.integers(0, len(layers[-1]))])
    share = _shift_upward(n_services, caller, callee, root, attenuation)

    names = np.array([f"svc-{i}" for i in range(n_services)], dtype=object)
    level = {"latency": rng.uniform(20, 200, n_services), "error_rate": rng.uniform(0.001, 0.01, n_services),
             "cpu": rng.uniform(0.1, 0.6, n_services)}
    noise = {"latency": 0.05, "error_rate": 0.1, "cpu": 0.05}  # relative sd
    after = (np.arange(steps) >= fault_step).astype(float)
    cube = np.empty((steps, n_services, len(SCALE_METRICS)))
    for k, metric in enumerate(SCALE_METRICS):
        sd = level[metric] * noise[metric]
        cube[:, :, k] = level[metric] + sd * rng.standard_normal((steps, n_services))
        if metric == "latency":
            cube[:, :, k] += np.outer(after, magnitude * sd * share)
        elif metric == "cpu":
            cube[:, root, k] += after * 8 * sd[root]
    timestamps = pd.date_range(_EPOCH, periods=steps, freq="1min", name="timestamp")
    columns = pd.MultiIndex.from_product([names, list(SCALE_METRICS)], names=["service", "metric"])
    wide = pd.DataFrame(cube.reshape(steps, -1), index=timestamps, columns=columns)
    n_series = wide.shape[1]
    long = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(np.tile(timestamps.as_unit("ns").asi8, n_series).view("datetime64[ns]")).tz_localize("UTC"),
            "service": pd.array(names, dtype="str").take(np.repeat(np.arange(n_services), len(SCALE_METRICS) * steps)),
            "metric": pd.array(list(SCALE_METRICS), dtype="str").take(np.tile(np.repeat(np.arange(3), steps), n_services)),
            "value": cube.reshape(steps, -1).T.reshape(-1),
        }
    )
    graph = ServiceGraph(
        [Node(str(s)) for s in names],
        [Call(str(names[u]), str(names[v])) for u, v in zip(caller.tolist(), callee.tolist(), strict=True)],
    )
    incident = Incident("svc-0", "latency", timestamps[fault_step])
    return ScaleCase(graph, long, wide, incident, str(names[root]), n_services)
