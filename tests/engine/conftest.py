"""Shared fixtures of the engine tests: seeded generators and small graph factories."""

from __future__ import annotations

import numpy as np
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
