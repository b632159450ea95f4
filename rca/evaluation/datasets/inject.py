"""Faults injected into real normal data: ``rca bench --dataset inject:SOURCE``.

Real incidents are few and their root causes repeat (every PetShop
development issue is PetSearch).  This dataset asks how the engine does on
*your* topology and *your* noise when the fault is somewhere else: it takes
the normal windows of any dataset (its cases without root causes, e.g.
PetShop's windows cut from normal operation or your own ``cases:PATH``) and
injects one fault per case at another dependency of the symptom.

The fault model, per normal window with symptom ``S`` and symptom metric ``M``:

* **Targets**: the dependencies of ``S`` with a series of ``M``'s kind
  (latency, errors...) in ``M``'s bad direction, tried in a random order
  (seeded by ``seed`` and the window) until ``per_window`` faults are kept.
* **At the target** ``X``, from the incident start on, each such series moves
  in its bad direction: unbounded series by ``m`` times their median before
  the incident (``m`` uniform in ``scale``, at least 5 % of the series'
  largest value); percentages and fractions by ``d`` uniform in
  ``points`` percentage points of their range, clipped at the bound.
* **Propagation**: every service on the call path from ``X`` up to ``S``
  (``S`` included) moves by the target's shift of the same metric times the
  share of its requests that reach ``X``: per hop, a factor uniform in
  ``share`` times the callee's traffic over the caller's (capped at 1; from
  a traffic series both have, e.g. ``requests``, in the normal data).
* A target is skipped when, in every moved series, the median over the
  fault stays inside the central 98 % of the same series' normal values
  (the case's baseline, else the window before the incident): pinned at a
  bound, missing, or noisier than the shift, there would be nothing anybody
  could find.  So is one whose symptom series (the incident's metric) stays
  inside its central 98 % in the same way: no alert would have fired.

Each case's truth is ``X``; its fault type is ``<kind>@<node kind>``
(``latency@service``, ``errors@external``...), so ``summary.md`` shows how
the engine does per kind of node.  Options follow the source after ``|``:
``inject:petshop:PATH|seed=2,per_window=4,scale=0.5-2``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from rca.engine.columns import per_name
from rca.engine.errors import InvalidInputError
from rca.engine.ingest import load_metrics
from rca.engine.metric_semantics import is_bounded_metric, metric_direction
from rca.engine.rank import metric_kind
from rca.evaluation.datasets.base import BenchCase
from topology import ServiceGraph

__all__ = ["inject_faults", "parse_inject_options"]

_OPTIONS = ("seed", "per_window", "scale", "share", "points")


def _seed_for(seed: int, case_id: str) -> int:
    digest = hashlib.sha256(f"{seed}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _range(value: Any, name: str, lo: float, hi: float | None = None) -> tuple[float, float]:
    """``(a, b)`` from a pair, a number, or ``"a-b"``, checked against ``lo`` (and ``hi``)."""
    if isinstance(value, str):
        parts = value.split("-") if "-" in value.strip("-") else [value]
        value = tuple(parts) if len(parts) == 2 else parts[0]
    try:
        a, b = (float(value), float(value)) if not isinstance(value, (tuple, list)) else (float(value[0]), float(value[1]))
    except (TypeError, ValueError, IndexError):
        raise InvalidInputError(f"inject option {name} must be a number or a range 'a-b', got {value!r}", field="dataset") from None
    if not (lo <= a <= b) or (hi is not None and b > hi) or not np.isfinite(b):
        bound = f"{lo:g} <= a <= b" + (f" <= {hi:g}" if hi is not None else "")
        raise InvalidInputError(f"inject option {name} must be a range with {bound}, got {a:g}-{b:g}", field="dataset")
    return a, b


def parse_inject_options(text: str) -> dict[str, Any]:
    """``"seed=2,per_window=4,scale=0.5-2"`` -> keyword arguments of :func:`inject_faults`."""
    out: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in _OPTIONS:
            raise InvalidInputError(
                f"inject option {item!r} is not key=value with a key among: {', '.join(_OPTIONS)}", field="dataset"
            )
        out[key] = value.strip()
    return out


def _per_metric(frame: pd.DataFrame, fn: Callable[[str], bool]) -> np.ndarray:
    """``fn(metric)`` for every row of a long frame, called once per distinct metric name."""
    return per_name(pd.Index(frame["metric"]), 0, fn, dtype=bool)


def _fault_series(metrics: pd.DataFrame, kind: str, direction: str) -> pd.Series:
    """Per row: whether its metric is of the fault's kind and bad direction."""
    match = _per_metric(metrics, lambda n: metric_kind(n) == kind and metric_direction(n) == direction)
    return pd.Series(match, index=metrics.index)


def _shifts(
    values: pd.DataFrame, before: pd.Series, direction: str, rng: np.random.Generator,
    scale: tuple[float, float], points: tuple[float, float],
) -> dict[str, float]:
    """The target's shift per metric name (signed, in the series' units)."""
    out: dict[str, float] = {}
    sign = 1.0 if direction == "up" else -1.0
    for name, group in values.groupby("metric", observed=True, sort=True):
        past = group.loc[before.loc[group.index], "value"].dropna()
        allv = group["value"].dropna()
        if allv.empty:
            continue
        if is_bounded_metric(str(name)):
            top = 100.0 if allv.max() > 1.0 else 1.0
            out[str(name)] = sign * rng.uniform(*points) / 100.0 * top
        else:
            level = float(past.median()) if len(past) else float(allv.median())
            floor = 0.05 * float(np.abs(allv).max())
            out[str(name)] = sign * rng.uniform(*scale) * max(abs(level), floor)
    return out


def _apply(frame: pd.DataFrame, rows: pd.Series, shift: Mapping[str, float], factor: float) -> None:
    """Shift ``rows`` of ``frame`` in place by ``factor`` × their metric's shift (bounded series stay in range)."""
    idx = frame.index[rows.to_numpy()]
    if not len(idx):
        return
    names = frame.loc[idx, "metric"].astype(str)
    delta = names.map(shift).astype(float).fillna(0.0) * factor
    old = frame.loc[idx, "value"].to_numpy(dtype=float)
    new = old + delta.to_numpy()
    bounded = _per_metric(frame.loc[idx], is_bounded_metric)
    if bounded.any():
        top = np.where(old > 1.0, 100.0, 1.0)  # per row: a percentage or a fraction
        new = np.where(bounded, np.clip(new, 0.0, np.fmax(top, old)), new)
    frame.loc[idx, "value"] = new


def _normal_ranges(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (service, metric): the 1st and 99th percentiles of normal data."""
    values = frame.groupby(["service", "metric"], observed=True)["value"]
    return pd.DataFrame({"lo": values.quantile(0.01), "hi": values.quantile(0.99)})


def _visible(frame: pd.DataFrame, rows: pd.Series, ranges: pd.DataFrame) -> bool:
    """Whether some series of ``rows`` has its median outside its normal range (or has no normal data)."""
    moved = frame.loc[rows.to_numpy()].dropna(subset=["value"])
    if moved.empty:
        return False
    med = moved.groupby(["service", "metric"], observed=True)["value"].median()
    lim = ranges.reindex(med.index)
    outside = (med < lim["lo"]) | (med > lim["hi"]) | lim["lo"].isna()
    return bool(outside.any())


def _traffic_levels(before: pd.DataFrame) -> pd.DataFrame:
    """Per service and traffic metric: the median before the incident (services x metrics)."""
    rows = before.loc[_per_metric(before, lambda n: metric_kind(n) == "traffic")]
    if rows.empty:
        return pd.DataFrame()
    return rows.groupby(["service", "metric"], observed=True)["value"].median().unstack("metric")


def _call_share(traffic: pd.DataFrame, callee: str, caller: str) -> float:
    """Share of the caller's requests that reach the callee, from a traffic series both have (1 when unknown).

    A callee serving 20 calls a minute cannot slow every one of its caller's 1,000 requests.
    """
    if traffic.empty or callee not in traffic.index or caller not in traffic.index:
        return 1.0
    both = traffic.loc[[callee, caller]].dropna(axis=1)
    both = both.loc[:, (both.loc[caller] > 0) & (both.loc[callee] >= 0)]
    if both.empty:
        return 1.0
    return float(min(1.0, both.loc[callee].iloc[0] / both.loc[caller].iloc[0]))


def _targets(graph: ServiceGraph, symptom: str, services_with_fault_series: set[str]) -> list[str]:
    return sorted(s for s in graph.dependencies(symptom) if s in services_with_fault_series and s != symptom)


def inject_faults(
    cases: Iterable[BenchCase],
    *,
    seed: int | str = 0,
    per_window: int | str = 3,
    scale: Any = (1.0, 3.0),
    share: Any = (0.4, 0.9),
    points: Any = (5.0, 30.0),
) -> list[BenchCase]:
    """Cases with one injected fault each, built from the normal windows of ``cases``.

    Parameters
    ----------
    cases : iterable of BenchCase
        Only those without root causes (normal windows) are used.
    seed : int
        Seeds the choice of targets and magnitudes (with each window's id).
    per_window : int
        Faults injected (one per new case) into each normal window.
    scale : float or (low, high) or "low-high"
        Unbounded series move by this many times their pre-incident median.
    share : (low, high)
        Per-hop share of a caller's requests that reach the faulty service.
    points : (low, high)
        Percentage points of their range that bounded series (availability,
        error rates) move by.

    Returns
    -------
    list of BenchCase
        ``dataset="inject"``; each case's ``meta`` says where it came from and
        what was moved by how much.

    Raises
    ------
    rca.engine.errors.InvalidInputError
        ``field="dataset"``: bad options, or no normal window to inject into.
    """
    try:
        seed_i, per = int(seed), int(per_window)
    except (TypeError, ValueError):
        raise InvalidInputError(f"inject options seed and per_window must be integers, got {seed!r}, {per_window!r}", field="dataset") from None
    if per < 1:
        raise InvalidInputError(f"inject option per_window must be >= 1, got {per}", field="dataset")
    scale_r = _range(scale, "scale", 0.0)
    share_r = _range(share, "share", 0.0, 1.0)
    points_r = _range(points, "points", 0.0, 100.0)
    normal = [c for c in cases if c.is_normal]
    if not normal:
        raise InvalidInputError(
            "inject: the source has no normal windows (cases without root causes) to inject faults into", field="dataset"
        )
    out: list[BenchCase] = []
    summaries: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}  # normal data is often shared: summarise it once
    for case in normal:
        ref = case.baseline
        if ref is not None and id(ref) not in summaries:
            summaries[id(ref)] = _summarise_normal(_string_keys(load_metrics(ref)[0]))
        summary = summaries[id(ref)] if ref is not None else None
        out.extend(_inject_one(case, summary, seed_i, per, scale_r, share_r, points_r))
    return out


def _string_keys(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(service=frame["service"].astype(str), metric=frame["metric"].astype(str))


def _summarise_normal(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the fault model needs of normal data: each series' normal range, each service's traffic."""
    return _normal_ranges(frame), _traffic_levels(frame)


def _inject_one(
    case: BenchCase, normal: tuple[pd.DataFrame, pd.DataFrame] | None, seed: int, per_window: int,
    scale: tuple[float, float], share: tuple[float, float], points: tuple[float, float],
) -> list[BenchCase]:
    symptom, metric = case.incident.service, case.incident.metric
    kind, direction = metric_kind(metric), metric_direction(metric)
    if direction == "both":
        direction = "up"
    metrics = _string_keys(load_metrics(case.metrics)[0]).reset_index(drop=True)
    start = case.incident.start
    end = case.incident.end if case.incident.end is not None else metrics["timestamp"].max()
    during = (metrics["timestamp"] >= start) & (metrics["timestamp"] <= end)
    normal_ranges, traffic = normal or _summarise_normal(metrics.loc[metrics["timestamp"] < start])
    fault_rows = _fault_series(metrics, kind, direction)
    graph = case.graph
    targets = _targets(graph, symptom, set(metrics.loc[fault_rows, "service"].astype(str)))
    rng = np.random.default_rng(_seed_for(seed, case.case_id))
    order = [str(t) for t in rng.permutation(targets)] if targets else []  # tried in turn until per_window are kept
    services = metrics["service"]
    alert = (services == symptom) & (metrics["metric"] == metric)
    if not alert.any():  # no series of the incident's metric: any of the symptom's of its kind
        alert = (services == symptom) & fault_rows
    out = []
    for target in order:
        if len(out) == per_window:
            break
        path = graph.propagation_path(target, symptom)
        if path is None:
            continue
        frame = metrics.copy()
        own = fault_rows & (services == target)
        shift = _shifts(frame.loc[own], ~during, direction, rng, scale, points)
        _apply(frame, own & during, shift, 1.0)
        if not _visible(frame, own & during, normal_ranges):
            continue  # pinned at a bound, missing or too noisy: nothing anybody could find
        factors = {target: 1.0}
        reach = 1.0
        for callee, node in zip(path, path[1:]):
            reach *= rng.uniform(*share) * _call_share(traffic, callee, node)
            factors[node] = reach
            rows = fault_rows & (services == node) & during
            # a caller's series with no same-named one at the target follow the incident metric's shift
            fallback = shift.get(metric, float(np.mean(list(shift.values()))))
            _apply(frame, rows, {m: shift.get(m, fallback) for m in frame.loc[rows, "metric"].unique()}, reach)
        if not _visible(frame, alert & during, normal_ranges):
            continue  # the symptom would not have alerted: not an incident
        out.append(
            replace(
                case,
                case_id=f"{case.case_id}+{target}",
                dataset="inject",
                metrics=frame,
                root_causes=(target,),
                fault_type=f"{kind}@{graph.kind(target).value}",
                meta={
                    **case.meta,
                    "source_case": case.case_id,
                    "injected": {"target": target, "shift": shift, "path": path, "share": factors},
                },
            )
        )
    return out
