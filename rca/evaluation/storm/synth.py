"""Alert storms synthesized from benchmark faults, with the truth of which alerts belong together.

A storm puts ``faults`` faults (benchmark cases with a known root) side by
side at one moment.  Each fault runs in its own copy of its system: service
names get the prefix ``s<storm>f<fault>-`` and the alerts the label
``namespace=s<storm>f<fault>``, so the faults are independent and sit on
separate parts of the one stored topology.  The case's metrics (with its
separate normal data, when it has some, placed just before its window) are
shifted by a whole number of steps so that its incident starts at the storm's
moment.

Alerts of one fault (truth: the fault):

* every service on the propagation path from the root to the case's symptom,
  and the root's direct callers, each on the case's symptom metric when the
  service has that series, starting within ``spread`` of the incident start;
* ``flapping``: some of them resolve and fire again a few minutes later (a
  second alert of the same fault);
* ``unknown``: one alert on a service missing from the topology (``edge-proxy``)
  in the fault's namespace.

``noise`` alerts (truth: each on its own) fire within the same minutes on random
services of one more copy of the first fault's system (prefix ``s<storm>n-``,
namespace ``s<storm>n``) that has no fault: its metrics are the case's normal
data (before its incident, or its separate normal data), repeated to cover
the storm.  They are unrelated to every fault by construction; an alert on a
service that a fault *can* reach is indistinguishable from the fault's own by
topology and time alone, and is not what this benchmark counts as noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rca.evaluation.datasets.base import BenchCase
from topology import ServiceGraph

__all__ = ["Storm", "StormAlert", "StormEvent", "case_step", "make_storm"]


@dataclass(frozen=True)
class StormAlert:
    """One alert of a storm and the truth about it."""

    fingerprint: str
    service: str
    metric: str
    starts_at: pd.Timestamp
    namespace: str
    truth: str  # the fault id ("s0f1"), or "noise-s0-3" for a noise alert
    kind: str  # path | caller | flap | unknown | noise


@dataclass(frozen=True)
class StormEvent:
    """One webhook to replay: an alert firing or resolved."""

    alert: StormAlert
    status: str = "firing"


@dataclass(frozen=True)
class Storm:
    """The faults of one storm: their topology copies, metrics, events and roots."""

    name: str
    graph: ServiceGraph
    metrics: pd.DataFrame
    events: list[StormEvent]
    roots: dict[str, str]  # fault id -> its root (prefixed)
    cases: dict[str, str] = field(default_factory=dict)  # fault id -> case id

    @property
    def alerts(self) -> list[StormAlert]:
        return [e.alert for e in self.events if e.status == "firing"]


def case_step(case: BenchCase) -> pd.Timedelta:
    """The sampling step of a case's metrics."""
    ts = pd.Series(sorted(set(case.metrics["timestamp"])))
    return pd.Timedelta(ts.diff().dropna().min())


def _prefixed(frame: pd.DataFrame, prefix: str, shift: pd.Timedelta) -> pd.DataFrame:
    out = frame[["timestamp", "service", "metric", "value"]].copy()
    out["service"] = prefix + out["service"].astype(str)
    out["metric"] = out["metric"].astype(str)
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True) + shift
    return out


def _fault_frame(case: BenchCase, step: pd.Timedelta, baseline: pd.Timedelta) -> pd.DataFrame:
    """The case's metrics, preceded by (the last ``baseline`` of) its separate normal data."""
    frame = case.metrics[["timestamp", "service", "metric", "value"]]
    if case.baseline is None or case.baseline.empty:
        return frame
    base = case.baseline[["timestamp", "service", "metric", "value"]].copy()
    base["timestamp"] = pd.to_datetime(base["timestamp"], utc=True)
    first = pd.to_datetime(frame["timestamp"], utc=True).min()
    end = base["timestamp"].max()
    if end >= first:  # normal data of the same period (before the window): keep it as it is
        return pd.concat([base[base["timestamp"] < first], frame], ignore_index=True)
    base = base[base["timestamp"] > end - baseline]
    base["timestamp"] = base["timestamp"] + ((first - step) - end).floor(step)
    return pd.concat([base, frame], ignore_index=True)


_SPREAD = pd.Timedelta("3min")
_BASELINE = pd.Timedelta("6h")


def _quiet_frame(case: BenchCase, at: pd.Timestamp, step: pd.Timedelta, prefix: str) -> pd.DataFrame:
    """Normal data of the case's system, tiled to cover ``at - 6 h`` to ``at + 1 h`` on the step grid."""
    if case.baseline is not None and not case.baseline.empty:
        normal = case.baseline[["timestamp", "service", "metric", "value"]].copy()
    else:
        normal = case.metrics[case.metrics["timestamp"] < case.incident.start][["timestamp", "service", "metric", "value"]].copy()
    normal["timestamp"] = pd.to_datetime(normal["timestamp"], utc=True)
    lo, hi = normal["timestamp"].min(), normal["timestamp"].max()
    span = (hi - lo) + step
    at = at.floor(step)
    tiles = []
    t = at + pd.Timedelta("1h")
    while t > at - pd.Timedelta("6h") - span:
        tiles.append(_prefixed(normal, prefix, (t - span - lo).floor(step)))
        t -= span
    out = pd.concat(tiles, ignore_index=True)
    out = out[(out["timestamp"] >= at - pd.Timedelta("6h")) & (out["timestamp"] <= at + pd.Timedelta("1h"))]
    return out.drop_duplicates(["timestamp", "service", "metric"])


def make_storm(
    index: int,
    cases: Sequence[BenchCase],
    at: pd.Timestamp,
    *,
    rng: np.random.Generator,
    flapping: int = 1,
    unknown: int = 1,
    noise: int = 2,
    spread: pd.Timedelta = _SPREAD,
    baseline: pd.Timedelta = _BASELINE,
) -> Storm:
    """One storm of ``len(cases)`` simultaneous faults at ``at`` (see the module docstring)."""
    graph = ServiceGraph()
    frames: list[pd.DataFrame] = []
    alerts: list[StormAlert] = []
    roots: dict[str, str] = {}
    case_ids: dict[str, str] = {}
    copies: list[tuple[str, str, BenchCase, set[str]]] = []
    for j, case in enumerate(cases):
        fid = f"s{index}f{j}"
        prefix = f"{fid}-"
        step = case_step(case)
        shift = ((at - case.incident.start) / step).__round__() * step
        frame = _prefixed(_fault_frame(case, step, baseline), prefix, shift)
        frames.append(frame)
        copy = case.graph.relabel({s: prefix + s for s in case.graph.services})
        for node in copy.nodes:
            graph.add_service(node.name, kind=node.kind)
        for call in copy.calls:
            graph.add_call(call.caller, call.callee)
        root = case.root_causes[0]
        roots[fid] = prefix + root
        case_ids[fid] = case.case_id
        metric = case.incident.metric
        have = set(frame.loc[frame["metric"] == metric, "service"])
        path = case.graph.propagation_path(root, case.incident.service) or [root, case.incident.service]
        members = [(s, "path") for s in dict.fromkeys(path)] + [
            (s, "caller") for s in sorted(case.graph.dependents(root, 1)) if s not in path
        ]
        start = case.incident.start + shift
        mine: set[str] = set()
        for k, (svc, kind) in enumerate(members):
            name = prefix + svc
            if name not in have:
                continue
            t = start + pd.Timedelta(seconds=int(rng.integers(0, int(spread.total_seconds()) + 1)))
            alerts.append(StormAlert(f"{fid}-{k}", name, metric, t, fid, fid, kind))
            mine.add(name)
        copies.append((fid, prefix, case, mine))
        for u in range(unknown):
            t = start + pd.Timedelta(seconds=int(rng.integers(0, int(spread.total_seconds()) + 1)))
            alerts.append(StormAlert(f"{fid}-unknown-{u}", f"{prefix}edge-proxy-{u}", metric, t, fid, fid, "unknown"))
    events = [StormEvent(a) for a in alerts]
    # flapping: an alert resolves and fires again (a new alert of the same fault)
    fault_alerts = [a for a in alerts if a.kind in ("path", "caller")]
    for a in (fault_alerts[i] for i in rng.permutation(len(fault_alerts))[:flapping]):
        again = StormAlert(a.fingerprint, a.service, a.metric, a.starts_at + pd.Timedelta(minutes=int(rng.integers(2, 5))),
                           a.namespace, a.truth, "flap")  # fmt: skip
        events += [StormEvent(a, "resolved"), StormEvent(again)]
    # noise: unrelated alerts in a copy of the first fault's system that has no fault
    if noise:
        case = cases[0]
        prefix, ns = f"s{index}n-", f"s{index}n"
        quiet = _quiet_frame(case, at, case_step(case), prefix)
        frames.append(quiet)
        copy = case.graph.relabel({s: prefix + s for s in case.graph.services})
        for node in copy.nodes:
            graph.add_service(node.name, kind=node.kind)
        for call in copy.calls:
            graph.add_call(call.caller, call.callee)
        pool = sorted(set(quiet.loc[quiet["metric"] == case.incident.metric, "service"]))
        for n, k in enumerate(rng.permutation(len(pool))[:noise]):
            t = at + pd.Timedelta(seconds=int(rng.integers(-60, int(spread.total_seconds()) + 120)))
            truth = f"noise-s{index}-{n}"
            events.append(StormEvent(StormAlert(truth, pool[k], case.incident.metric, t, ns, truth, "noise")))
    order = sorted(range(len(events)), key=lambda i: (events[i].alert.starts_at, i))
    metrics = pd.concat(frames, ignore_index=True).dropna(subset=["value"])
    return Storm(f"storm-{index}", graph, metrics, [events[i] for i in order], roots, case_ids)
