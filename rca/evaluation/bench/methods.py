"""The methods ``rca bench`` can run: the engine, its ablations, and yardsticks.

A method is a callable ``(case) -> list[str]``: the services ranked from most
to least likely root cause, ``[]`` meaning "no root cause".  Methods here
return a :class:`Ranking`, a ``list[str]`` that also carries the scores.

=====================  ==========  ===============================================
name                   kind        what it does
=====================  ==========  ===============================================
engine                 engine      :func:`rca.analyze` with the default config
engine-no-granger      ablation    ... with ``granger.enabled = False``
engine-no-ranking      ablation    ... with ``rank.use_pagerank = False``
engine-no-topology     ablation    ... with ``rank.use_topology = False``
random                 reference   the symptom and its dependencies, shuffled
topology-distance      reference   closest dependency of the symptom first
robust-z               reference   largest median/IQR deviation first (BARO)
=====================  ==========  ===============================================

Reference methods never answer "no root cause", so their specificity is 0:
that is the honest yardstick, not a bug.

Examples
--------
>>> sorted(m.name for m in available_methods())[:3]
['engine', 'engine-no-granger', 'engine-no-ranking']
>>> get_method("nope")
Traceback (most recent call last):
...
rca.evaluation.bench.methods.UnknownMethodError: unknown method 'nope'; available: engine, engine-no-granger, engine-no-ranking, engine-no-topology, random, topology-distance, robust-z
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import rca
from rca.engine.config import RCAConfig
from rca.engine.errors import InvalidInputError
from rca.engine.types import Incident
from rca.evaluation.datasets.base import BenchCase
from topology import ServiceGraph

__all__ = [
    "DEFAULT_METHODS",
    "MethodFn",
    "MethodInfo",
    "Ranking",
    "UnknownMethodError",
    "available_methods",
    "case_seed",
    "get_method",
    "rank_random",
    "rank_robust_z",
    "rank_topology_distance",
    "register_method",
    "robust_z_scores",
]


class Ranking(list[str]):
    """Services ranked most-likely first, with their scores (``None``: no scores), the
    probability that the first is the root cause (``confidence``; ``None``: not given),
    the probability of "no root cause" (``no_cause``) and the features the engine's
    confidence was calibrated from (``features``, :mod:`rca.engine.confidence`)."""

    def __init__(
        self,
        services: Iterable[str] = (),
        scores: Sequence[float] | None = None,
        confidence: float | None = None,
        *,
        no_cause: float | None = None,
        features: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(services)
        self.scores: list[float] | None = None if scores is None else [float(s) for s in scores]
        self.confidence = confidence
        self.no_cause = no_cause
        self.features = None if features is None else dict(features)
        if self.scores is not None and len(self.scores) != len(self):
            raise ValueError(f"Ranking got {len(self)} services but {len(self.scores)} scores")


MethodFn = Callable[[BenchCase], list[str]]


class UnknownMethodError(InvalidInputError):
    """A method name that is not in the registry."""


@dataclass(frozen=True)
class MethodInfo:
    """A registry entry: ``factory(seed)`` builds the method's callable."""

    name: str
    kind: str
    description: str
    factory: Callable[[int], MethodFn]


_REGISTRY: dict[str, MethodInfo] = {}


def register_method(name: str, *, kind: str, description: str) -> Callable[[Callable[[int], MethodFn]], Callable[[int], MethodFn]]:
    """Register ``factory(seed) -> method`` under ``name`` (decorator)."""

    def deco(factory: Callable[[int], MethodFn]) -> Callable[[int], MethodFn]:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        _REGISTRY[name] = MethodInfo(name, kind, description, factory)
        return factory

    return deco


def available_methods() -> list[MethodInfo]:
    """Every registered method, in registration order."""
    return list(_REGISTRY.values())


def get_method(name: str, *, seed: int = 0, config: Mapping[str, Any] | None = None) -> MethodFn:
    """The callable of method ``name``; ``seed`` only matters to seeded methods.

    ``config`` (an :class:`rca.RCAConfig` mapping) is the engine's base
    configuration: the engine runs with it and each ablation switches its
    one component off on top of it.  Reference methods ignore it.

    Raises
    ------
    UnknownMethodError
        When ``name`` is not registered (the message lists the known names).
    """
    info = _REGISTRY.get(name)
    if info is None:
        known = ", ".join(_REGISTRY)
        raise UnknownMethodError(f"unknown method {name!r}; available: {known}", field="method")
    if config and name in _ENGINES:
        return _engine_factory(_ENGINES[name][2], config)(seed)
    return info.factory(seed)


# -- engine and ablations -------------------------------------------------------
def _engine_factory(
    overrides: Mapping[str, Mapping[str, Any]], base: Mapping[str, Any] | None = None
) -> Callable[[int], MethodFn]:
    def factory(seed: int) -> MethodFn:
        config = RCAConfig.from_dict(dict(base or {}))
        if overrides:
            config = config.replace(**overrides)

        def run(case: BenchCase) -> list[str]:
            # Looked up at call time so that ``rca.analyze`` is the public entry point.
            result = rca.analyze(case.graph, case.metrics, case.incident, config, baseline=case.baseline, **case.evidence)
            top = result.causes[0].confidence if result.causes else None
            # The whole ranking, not only the explained top_k: AC@5 and several root causes need it.
            ranking = result.ranking or result.causes
            basis = getattr(result, "confidence", None)
            return Ranking(
                [c.service for c in ranking], [c.score for c in ranking], top,
                no_cause=getattr(result, "no_cause_probability", None),
                features=None if basis is None else basis.features,
            )

        return run

    return factory


_ENGINES: dict[str, tuple[str, str, dict[str, dict[str, Any]]]] = {
    "engine": ("engine", "rca.analyze with the default configuration", {}),
    "engine-no-granger": ("ablation", "engine without Granger evidence (granger.enabled=False)", {"granger": {"enabled": False}}),
    "engine-no-ranking": ("ablation", "engine without the random-walk ranking (rank.use_pagerank=False)", {"rank": {"use_pagerank": False}}),
    "engine-no-topology": ("ablation", "engine without topology (rank.use_topology=False)", {"rank": {"use_topology": False}}),
}
for _name, (_kind, _desc, _over) in _ENGINES.items():
    register_method(_name, kind=_kind, description=_desc)(_engine_factory(_over))


# -- reference methods -----------------------------------------------------------
def case_seed(case: BenchCase, seed: int = 0) -> int:
    """A stable 64-bit seed from the run seed and the case's identity.

    ``hash()`` is salted per process, so a digest is used instead: the same
    case gets the same seed in every process and on every machine.
    """
    key = f"{seed}\x00{case.dataset}\x00{case.case_id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little")


def _metric_services(metrics: pd.DataFrame | None) -> set[str]:
    if metrics is None or metrics.empty:
        return set()
    if isinstance(metrics.columns, pd.MultiIndex):  # a wide frame
        return {str(s) for s in metrics.columns.get_level_values(0)}
    if "service" not in metrics.columns:
        return set()
    return {str(s) for s in metrics["service"].dropna().unique()}


def _all_services(case: BenchCase) -> list[str]:
    """Graph and metric services plus the symptom, sorted by name."""
    names = set(case.graph.services) | _metric_services(case.metrics) | {case.incident.service}
    return sorted(names)


def _hops(graph: ServiceGraph, symptom: str) -> dict[str, int]:
    """Call hops from ``symptom`` to each of its dependencies (BFS along the arrows)."""
    dist = {symptom: 0}
    queue = deque([symptom])
    while queue:
        node = queue.popleft()
        for nxt in graph.callees(node):
            if nxt not in dist:
                dist[nxt] = dist[node] + 1
                queue.append(nxt)
    return dist


def rank_random(case: BenchCase, seed: int = 0) -> Ranking:
    """The symptom and its dependencies in a random order seeded by the case.

    All services are shuffled when the graph is empty or lacks the symptom.
    """
    symptom = case.incident.service
    if symptom in case.graph:
        candidates = sorted(case.graph.dependencies(symptom) | {symptom})
    else:
        candidates = _all_services(case)
    rng = np.random.default_rng(case_seed(case, seed))
    order = rng.permutation(len(candidates))
    return Ranking([candidates[i] for i in order])


def rank_topology_distance(case: BenchCase) -> Ranking:
    """Dependencies of the symptom by call hops (ties by name), then the symptom.

    All services by name when the graph is empty or lacks the symptom.
    Scores are ``1 / hops`` (0 for the symptom itself).
    """
    symptom = case.incident.service
    if symptom not in case.graph:
        names = _all_services(case)
        return Ranking(names, [0.0] * len(names))
    dist = _hops(case.graph, symptom)
    deps = sorted((d, n) for n, d in dist.items() if n != symptom)
    return Ranking([n for _, n in deps] + [symptom], [1.0 / d for d, _ in deps] + [0.0])


def _as_names(names: pd.Series) -> pd.Series:
    """String names; a categorical stays one (its categories become strings), as the loaders give it."""
    if isinstance(names.dtype, pd.CategoricalDtype):
        return names.cat.rename_categories([str(c) for c in names.cat.categories])
    return names.astype(str)


def _long_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``timestamp`` (UTC), ``service``, ``metric``, finite float ``value``; a wide ``(service, metric)`` frame is stacked."""
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.rename_axis(index="timestamp", columns=["service", "metric"]).stack(
            ["service", "metric"], future_stack=True
        ).rename("value").reset_index()
    ts = frame["timestamp"]
    if pd.api.types.is_numeric_dtype(ts):
        ts = pd.to_datetime(ts, unit="s", utc=True)  # unix seconds
    else:
        ts = pd.to_datetime(ts, utc=True)  # naive times are UTC
    out = pd.DataFrame(
        {
            "timestamp": ts,
            "service": _as_names(frame["service"]),
            "metric": _as_names(frame["metric"]),
            "value": pd.to_numeric(frame["value"], errors="coerce").astype(float),
        }
    )
    return out[np.isfinite(out["value"].to_numpy())]


def robust_z_scores(metrics: pd.DataFrame, incident: Incident, baseline: pd.DataFrame | None = None) -> pd.Series:
    """Per-service BARO score: the largest ``|x - median| / IQR`` in the incident window.

    For every (service, metric) series the median and interquartile range come
    from ``baseline`` when given, else from the rows before ``incident.start``;
    the series' score is its largest deviation over the incident window
    (``incident.start`` to ``incident.end``, or to the end of the data), and a
    service's score is the largest over its series.  A zero IQR is replaced by
    1, as scikit-learn's ``RobustScaler`` (which BARO uses) does.  Series with
    no baseline or no incident points are not scored.

    Returns
    -------
    pandas.Series
        Indexed by service, sorted by score (descending), ties by name.
    """
    m = _long_frame(metrics)
    in_window = m["timestamp"] >= incident.start
    if incident.end is not None:
        in_window &= m["timestamp"] <= incident.end
    base = m[m["timestamp"] < incident.start] if baseline is None else _long_frame(baseline)
    keys = ["service", "metric"]
    q = base.groupby(keys, sort=False, observed=True)["value"].quantile([0.25, 0.5, 0.75]).unstack()
    if q.empty:
        return pd.Series(dtype=float, name="score").rename_axis("service")
    q.columns = ["q1", "median", "q3"]
    iqr = q["q3"] - q["q1"]
    iqr = iqr.where(iqr > 0, 1.0)
    window = m[in_window].groupby(keys, sort=False, observed=True)["value"].agg(["min", "max"])
    joined = window.join(q.assign(iqr=iqr), how="inner")
    dev = np.maximum(joined["max"] - joined["median"], joined["median"] - joined["min"]) / joined["iqr"]
    per_service = dev.groupby(level="service", observed=True).max().rename("score")
    frame = per_service.reset_index().sort_values(["score", "service"], ascending=[False, True])
    return frame.set_index("service")["score"]


def rank_robust_z(case: BenchCase) -> Ranking:
    """Services by :func:`robust_z_scores`, then unscored services by name."""
    return _scored_then_rest(case, robust_z_scores(case.metrics, case.incident, case.baseline))


def rank_hypothesis_testing(case: BenchCase) -> Ranking:
    """Services by :func:`rca.evaluation.bench.hypothesis_testing.ht_scores`, then unscored services by name."""
    from rca.evaluation.bench.hypothesis_testing import ht_scores

    base = None if case.baseline is None else _long_frame(case.baseline)
    return _scored_then_rest(case, ht_scores(case, _long_frame(case.metrics), base))


def _scored_then_rest(case: BenchCase, scores: pd.Series) -> Ranking:
    """The services of ``scores`` in its order (descending), then every other service of the case by name, scored 0."""
    scored = [str(s) for s in scores.index]
    seen = set(scored)
    rest = [s for s in _all_services(case) if s not in seen]
    return Ranking(scored + rest, list(scores.to_numpy()) + [0.0] * len(rest))


register_method(
    "random", kind="reference", description="symptom and its dependencies in a seeded random order"
)(lambda seed: lambda case: rank_random(case, seed))
register_method(
    "topology-distance", kind="reference", description="closest dependency of the symptom first (BFS hops, ties by name)"
)(lambda seed: rank_topology_distance)
register_method(
    "robust-z", kind="reference", description="largest |x - median| / IQR over the incident window first (BARO)"
)(lambda seed: rank_robust_z)

register_method(
    "hypothesis-testing", kind="reference",
    description="largest residual of a regression on the dependencies' metrics, fitted on normal data (PyRCA's HT)",
)(lambda seed: rank_hypothesis_testing)

#: Every method, in the order the tables show them.
DEFAULT_METHODS: tuple[str, ...] = tuple(_REGISTRY)
