"""Factories for the visual tests: a small graph, metrics, and a hand-made RCAResult.

Results are built from the dataclasses of ``rca.engine.types`` directly, so these
tests do not depend on the engine; the end-to-end tests use ``rca.analyze``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib
import numpy as np
import pandas as pd
import pytest

from rca.engine.types import (
    Cause,
    Evidence,
    GrangerTest,
    Incident,
    RCAResult,
    SeriesAnomaly,
)
from topology import ServiceGraph

matplotlib.use("Agg")

T0 = pd.Timestamp("2024-05-01T12:00:00Z")
STEP = pd.Timedelta("1min")

TOPOLOGIES: dict[str, list[tuple[str, str]]] = {
    "chain": [("frontend", "checkout"), ("checkout", "db")],
    "diamond": [
        ("frontend", "checkout"),
        ("frontend", "catalog"),
        ("checkout", "db"),
        ("catalog", "db"),
        ("checkout", "payment"),
        ("auth", "db"),  # not a dependency of frontend
    ],
}


def _layered(n: int) -> list[tuple[str, str]]:
    """A layered call graph with ``n`` services (fan-out 3-4 per layer)."""
    rng = np.random.default_rng(7)
    names = ["frontend"] + [f"svc-{i:02d}" for i in range(1, n)]
    layers = [names[:1], names[1:5], names[5:14], names[14:28], names[28:]]
    edges = []
    for upper, lower in zip(layers, layers[1:]):
        for j, callee in enumerate(lower):
            edges.append((upper[j % len(upper)], callee))
            extra = upper[int(rng.integers(len(upper)))]
            if extra != upper[j % len(upper)]:
                edges.append((extra, callee))
    return edges


@pytest.fixture
def make_graph() -> Callable[..., ServiceGraph]:
    def make(kind: str = "diamond", n: int = 50) -> ServiceGraph:
        if kind == "layered":
            return ServiceGraph(calls=_layered(n))
        return ServiceGraph(calls=TOPOLOGIES[kind])

    return make


def _metrics(services: Sequence[str], root: str, path: Sequence[str], minutes: int = 90) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ts = pd.date_range(T0 - 60 * STEP, periods=minutes, freq=STEP)
    rows = []
    for s in services:
        for metric, base in (("latency", 100.0), ("error_rate", 0.01)):
            v = base * (1 + 0.05 * rng.standard_normal(len(ts)))
            if s in path and metric == "latency":
                after = ts >= T0 + (len(path) - 1 - list(path).index(s)) * STEP
                v = np.where(after, v * (4.0 if s == root else 2.5), v)
            rows.append(pd.DataFrame({"timestamp": ts, "service": s, "metric": metric, "value": v}))
    return pd.concat(rows, ignore_index=True)


def _anomaly(service: str, metric: str, score: float, onset: pd.Timestamp | None) -> SeriesAnomaly:
    base = 100.0 if metric == "latency" else 0.01
    return SeriesAnomaly(service, metric, score, score * 3, "up", onset, base, base * (1 + score), 60)


@pytest.fixture
def make_case(make_graph: Callable[..., ServiceGraph]) -> Callable[..., tuple[RCAResult, ServiceGraph, pd.DataFrame]]:
    """``make_case(root="db")`` -> (result, graph, metrics) with ``root`` ranked first."""

    def make(
        root: str = "db",
        *,
        kind: str = "diamond",
        symptom: str = "frontend",
        n: int = 50,
        found: bool = True,
        granger: bool = True,
    ) -> tuple[RCAResult, ServiceGraph, pd.DataFrame]:
        graph = make_graph(kind, n)
        path = graph.propagation_path(root, symptom) or [root, symptom]
        metrics = _metrics(graph.services, root, path)
        anomalies = []
        for s in graph.services:
            on = s in path
            onset = T0 + (len(path) - 1 - path.index(s)) * STEP if on else None
            anomalies.append(_anomaly(s, "latency", (5.0 if s == root else 2.5) if on else 0.3, onset))
            anomalies.append(_anomaly(s, "error_rate", 0.2, None))
        by = {(a.service, a.metric): a for a in anomalies}
        tests = []
        if granger:
            for a, b in zip(path, path[1:]):
                tests.append(GrangerTest(a, "latency", b, "latency", lag=1, f_stat=12.0, p_value=0.0004,
                                         q_value=0.001, significant=True, observations=40))
            other = next((s for s in graph.services if s not in path and s != symptom), None)
            if other is not None:
                tests.append(GrangerTest(other, "error_rate", symptom, "latency", skipped="constant series"))
                tests.append(GrangerTest(other, "latency", symptom, "latency", lag=2, f_stat=0.8,
                                         p_value=0.45, q_value=0.6, observations=40))
        causes = []
        if found:
            second = [s for s in path[1:-1]] or [s for s in graph.services if s not in (root, symptom)][:1]
            for rank, s in enumerate([root, *second][:3], start=1):
                p = tuple(graph.propagation_path(s, symptom) or (s, symptom))
                ev = Evidence(
                    anomaly_score=by[(s, "latency")].score,
                    anomaly_metric="latency",
                    onset=by[(s, "latency")].onset,
                    anomalous_metrics=(by[(s, "latency")],),
                    granger=tuple(t for t in tests if t.cause_service == s),
                    rank_scores={"anomaly": 0.9 / rank, "pagerank": 0.5 / rank, "granger": 0.7 / rank},
                )
                causes.append(Cause(rank, s, "latency", 1.0 / rank, 0.85 / rank, p, ev))
        result = RCAResult(
            incident=Incident(symptom, "latency", T0),
            status="found" if found else "no_anomaly",
            reason="" if found else "no dependency of the symptom is anomalous",
            causes=tuple(causes),
            symptom=by.get((symptom, "latency")),
            anomalies=tuple(anomalies),
            granger=tuple(tests),
            issues=(),
            window=(T0, T0 + 30 * STEP),
            baseline_window=(T0 - 60 * STEP, T0),
            step_seconds=60.0,
            config={},
            timings={"total": 0.1},
            engine_version="test",
        )
        return result, graph, metrics

    return make
