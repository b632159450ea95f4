"""Shared fixtures for the topology tests: graph factories and the datasets folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from topology import NodeKind, ServiceGraph

# Hand-made shapes, edges caller -> callee.
_SHAPES: dict[str, list[tuple[str, str]]] = {
    "chain": [("frontend", "checkout"), ("checkout", "payment"), ("payment", "db")],
    "diamond": [("frontend", "cart"), ("frontend", "catalog"), ("cart", "db"), ("catalog", "db")],
    "mutual": [("frontend", "a"), ("a", "b"), ("b", "a"), ("b", "db")],
    "cycle": [("a", "b"), ("b", "c"), ("c", "a"), ("c", "db")],
}


@pytest.fixture
def make_topology() -> Callable[[str], ServiceGraph]:
    """Factory: ``make_topology("diamond")`` builds a fresh graph of that shape."""

    def make(shape: str) -> ServiceGraph:
        g = ServiceGraph(calls=_SHAPES[shape])
        if "db" in g:
            g.add_service("db", kind=NodeKind.DATABASE, tags={"engine": "postgres"})
        return g

    return make


def datasets_dir() -> Path:
    """``$RCA_DATASETS`` or ``<repo>/../shared/datasets``."""
    env = os.environ.get("RCA_DATASETS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


@pytest.fixture
def datasets() -> Path:
    """The shared datasets folder; skips the test when it is absent."""
    root = datasets_dir()
    if not root.is_dir():
        pytest.skip(f"datasets folder {root} not found (set RCA_DATASETS to its location)")
    return root
