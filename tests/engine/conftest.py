"""Shared fixtures of the engine tests: seeded generators and small graph factories."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from topology import ServiceGraph

_GRAPHS = {
    # caller -> callee
    "chain": [("a", "b"), ("b", "c"), ("c", "d")],
    "diamond": [("front", "left"), ("front", "right"), ("left", "db"), ("right", "db")],
}


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator; the global random state is never used."""
    return np.random.default_rng(20240501)


@pytest.fixture
def make_graph():
    """Factory: ``make_graph("diamond")`` or ``make_graph(edges=[...])``."""

    def _make(name: str | None = None, *, edges: list[tuple[str, str]] | None = None) -> ServiceGraph:
        return ServiceGraph(calls=edges if edges is not None else _GRAPHS[name])

    return _make


def datasets_root() -> Path:
    env = os.environ.get("RCA_DATASETS")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def long_frame(
    series: dict[tuple[str, str], np.ndarray],
    start: str = "2024-05-01T12:00:00Z",
    step: str = "1min",
) -> pd.DataFrame:
    """A long metrics frame from ``{(service, metric): values}`` on a regular grid."""
    parts = []
    for (svc, met), values in series.items():
        ts = pd.date_range(start, periods=len(values), freq=step)
        parts.append(pd.DataFrame({"timestamp": ts, "service": svc, "metric": met, "value": values}))
    return pd.concat(parts, ignore_index=True)
