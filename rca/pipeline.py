"""The analysis pipeline (work in progress)."""

from __future__ import annotations


def analyze(graph, metrics, incident, config=None, *, baseline=None):  # type: ignore[no-untyped-def]
    raise NotImplementedError("the engine is being written")
