"""Tiny hand-made BenchCases for the bench tests (no dataset files needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.engine.types import Incident
from rca.evaluation.datasets.base import BenchCase
from topology import ServiceGraph

START = pd.Timestamp("2024-05-01T12:00:00Z")

# frontend -> api -> {db, cache};  api -> auth -> db
CALLS = [("frontend", "api"), ("api", "db"), ("api", "cache"), ("api", "auth"), ("auth", "db")]


def make_graph() -> ServiceGraph:
    return ServiceGraph(calls=CALLS)


def make_metrics(shifted: str | None, *, seed: int = 0, n_before: int = 30, n_after: int = 10) -> pd.DataFrame:
    """Noisy flat series for every service; ``shifted`` jumps by 50 noise IQRs at START."""
    rng = np.random.default_rng(seed)
    services = ["frontend", "api", "db", "cache", "auth"]
    times = START + pd.to_timedelta(np.arange(-n_before, n_after), unit="min")
    frames = []
    for i, svc in enumerate(services):
        for metric, level in (("latency", 100.0 + 10 * i), ("cpu", 0.3 + 0.05 * i)):
            values = level + rng.normal(0.0, 0.01 * level, size=len(times))
            if svc == shifted:
                values = values + np.where(times >= START, 0.5 * level, 0.0)
            frames.append(pd.DataFrame({"timestamp": times, "service": svc, "metric": metric, "value": values}))
    return pd.concat(frames, ignore_index=True)


def make_case(
    case_id: str = "c1",
    *,
    root: str | None = "db",
    shifted: str | None = "__root__",
    group: str = "g1",
    dataset: str = "toy",
    fault_type: str | None = "latency",
    graph: ServiceGraph | None = None,
    separate_baseline: bool = False,
) -> BenchCase:
    """A case whose ``shifted`` service (default: the root) moves at START."""
    moved = root if shifted == "__root__" else shifted
    metrics = make_metrics(moved, seed=7)
    baseline = None
    if separate_baseline:
        baseline = metrics[metrics["timestamp"] < START].reset_index(drop=True)
        metrics = metrics[metrics["timestamp"] >= START].reset_index(drop=True)
    return BenchCase(
        case_id=case_id,
        dataset=dataset,
        group=group,
        graph=make_graph() if graph is None else graph,
        metrics=metrics,
        incident=Incident("frontend", "latency", START),
        baseline=baseline,
        root_causes=() if root is None else (root,),
        fault_type=None if root is None else fault_type,
    )
