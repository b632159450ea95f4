"""Load the PetShop benchmark (Hardt et al., CLeaR 2024; CC-BY-4.0) as :class:`BenchCase` objects.

Directory format (one directory per scenario, discovered, not hard-coded)::

    <root>/<scenario>/graph.csv                      adjacency matrix of the call graph
    <root>/<scenario>/noissue/metrics.csv            ~49 h of normal operation (optional)
    <root>/<scenario>/{train,test}/issue_N/metrics.csv   the window of one injected issue
    <root>/<scenario>/{train,test}/issue_N/target.json   symptom and ground truth

Edge direction
--------------
A 1 at row R, column C of ``graph.csv`` means **R calls C** (our ``R -> C``).
Checked against the data: the ``*_client`` nodes only appear as rows
(``PetSearch_client -> PetSearch_AWS::ECS::Fargate``), the front end
``PetSite`` is a row for a dozen backends and a column for none,
``payforadoption -> adoptions@…_Database::SQL``, and in the normal data the
caller's average latency is at least the callee's on 32 of 43 (low traffic)
and 34 of 42 (high traffic) edges with data on both ends.

Metrics
-------
``metrics.csv`` has three header rows (node, metric, statistic), then an
``unix_timestamp`` index row, then one row per 5 minutes.  Series are named
``latency`` (Average), ``latency_p50`` … ``latency_p99``, ``requests`` (Sum)
and ``availability`` (Average); other combinations become
``<metric>_<statistic>``.  The long frames hold only observed values: a
missing cell is simply absent.  A series with no value at all is dropped and
reported as ``DataIssue(kind="empty")`` on the case.

Specificity cases
-----------------
PetShop's protocol also measures *specificity*: windows cut from normal data
where the right answer is "no root cause".  For each scenario with
``noissue/`` data we cut ``normal_per_metric`` evenly spaced, non-overlapping
windows with as many rows as the scenario's issue windows, for each target
metric seen in the scenario's issues, with the incident at the median offset
of the issue targets from their window start.  Their baseline is the normal
data minus the window and one hour either side.

Scenarios without normal data
-----------------------------
The temporal scenarios have no ``noissue/`` data, and their issue windows
hold five rows: too few to tell the fault from the normal level.  Their
traffic moves between the levels of the other scenarios, so by default
(``borrow_normal=True``) their baseline is the normal data of every scenario
that has some, concatenated; each such case carries a
``DataIssue(kind="borrowed_baseline")`` saying so.  The engine judges a
baseline from another period against the minutes just before the incident
(its stale-baseline check), so a level the borrowed data does not match is
not taken for a fault.  No specificity windows are cut from borrowed data.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rca.engine.errors import InvalidInputError
from rca.engine.types import DataIssue, Incident
from rca.evaluation.datasets.base import BenchCase, compact_names, select_named
from rca.evaluation.datasets.petshop_files import (
    metric_name,
    petshop_node_kind,
    read_petshop_graph,
    read_petshop_metrics,
)
from topology import ServiceGraph

__all__ = ["load_petshop", "read_petshop_metrics", "read_petshop_graph", "petshop_node_kind"]

_SPLIT_RE = re.compile(r"^issue_(\d+)$")
_PARAM_RE = re.compile(r"--name\s+['\"]?([^'\"\s]+)")
_GUARD = pd.Timedelta(hours=1)


# -- graph ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Issue:
    split: str
    name: str
    path: Path
    node: str
    metric: str
    agg: str
    target_ts: pd.Timestamp
    root_cause: str
    fault_type: str | None
    command: str | None


def _read_target(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
        target = doc["target"]
        _ = (target["node"], target["metric"], target["timestamp"], doc["root_cause"]["node"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path}: not a PetShop target.json ({exc!r})", field="dataset") from None
    return dict(doc)


def _fault_type(command: str | None) -> str | None:
    """The reproducibility command's parameter name (``/petstore/searchdelay`` -> ``searchdelay``)."""
    if not command:
        return None
    m = _PARAM_RE.search(command)
    if not m:
        return None
    return m.group(1).rstrip("/").rsplit("/", 1)[-1] or None


def _discover_issues(scenario_dir: Path, splits: Sequence[str]) -> list[_Issue]:
    found: list[_Issue] = []
    for split in splits:
        split_dir = scenario_dir / split
        if not split_dir.is_dir():
            continue
        dirs = [d for d in split_dir.iterdir() if d.is_dir() and _SPLIT_RE.match(d.name)]
        for d in sorted(dirs, key=lambda p: int(_SPLIT_RE.match(p.name).group(1))):  # type: ignore[union-attr]
            if not (d / "metrics.csv").is_file() or not (d / "target.json").is_file():
                continue
            doc = _read_target(d / "target.json")
            target = doc["target"]
            command = (doc.get("metadata") or {}).get("reproducibility", {}).get("command")
            agg = str(target.get("agg") or "Average")
            found.append(
                _Issue(
                    split=split,
                    name=d.name,
                    path=d,
                    node=str(target["node"]),
                    metric=str(target["metric"]),
                    agg=agg,
                    target_ts=pd.Timestamp(float(target["timestamp"]), unit="s", tz="UTC"),
                    root_cause=str(doc["root_cause"]["node"]),
                    fault_type=_fault_type(command),
                    command=command,
                )
            )
    return found


def _bounds(frame: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> tuple[int, int]:
    """Row positions ``[a, b)`` of ``lo <= timestamp <= hi`` in a time-sorted frame."""
    ts = frame["timestamp"]
    a = int(ts.searchsorted(lo, side="left"))
    b = int(ts.searchsorted(hi, side="right"))
    return a, b


def _within(frame: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """Rows with ``lo <= timestamp <= hi`` (the frame is sorted by time)."""
    a, b = _bounds(frame, lo, hi)
    return frame.iloc[a:b].reset_index(drop=True)


def _without(frame: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """Rows outside ``[lo, hi]`` (the frame is sorted by time; slicing beats a boolean mask)."""
    a, b = _bounds(frame, lo, hi)
    return pd.concat([frame.iloc[:a], frame.iloc[b:]], ignore_index=True)


def _series_keys(frame: pd.DataFrame) -> set[tuple[str, str]]:
    """The distinct (service, metric) pairs of a long frame."""
    pairs = frame[["service", "metric"]].drop_duplicates().to_numpy(dtype=object)
    return {(str(a), str(b)) for a, b in pairs}


def _window_starts(n_rows: int, size: int, count: int) -> list[int]:
    """Start rows of ``count`` evenly spaced, non-overlapping windows of ``size`` rows."""
    count = min(count, n_rows // size) if size > 0 else 0
    if count <= 0:
        return []
    starts = np.linspace(0, n_rows - size, count).round().astype(int)
    return sorted(set(int(s) for s in starts))


def _issue_cases(
    scenario: str,
    graph: ServiceGraph,
    issues: Sequence[_Issue],
    baseline: pd.DataFrame | None,
    baseline_issues: Sequence[DataIssue],
) -> tuple[list[BenchCase], list[int], list[float]]:
    """One case per issue, with each window's row count and target offset (seconds)."""
    cases: list[BenchCase] = []
    window_rows: list[int] = []
    offsets: list[float] = []
    for it in issues:
        frame, empty = read_petshop_metrics(it.path / "metrics.csv")
        stamps = frame["timestamp"].drop_duplicates()
        if not stamps.empty:
            window_rows.append(len(stamps))
            offsets.append((it.target_ts - stamps.min()).total_seconds())
        metric = metric_name(it.metric, it.agg)
        cases.append(
            BenchCase(
                case_id=f"{scenario}/{it.split}/{it.name}",
                dataset="petshop",
                group=f"{scenario}/{it.metric}",
                graph=graph,
                metrics=frame,
                incident=Incident(it.node, metric, it.target_ts),
                baseline=baseline,
                root_causes=(it.root_cause,),
                fault_type=it.fault_type,
                issues=tuple(empty) + tuple(baseline_issues),
                meta={
                    "scenario": scenario,
                    "split": it.split,
                    "path": str(it.path),
                    "target_agg": it.agg,
                    "command": it.command,
                },
            )
        )

    return cases, window_rows, offsets


def _borrowed_normal(scenario_dirs: Sequence[Path]) -> tuple[pd.DataFrame | None, list[DataIssue]]:
    """The normal data of every scenario that has some, as one frame, and what was borrowed."""
    frames, names = [], []
    for d in scenario_dirs:
        path = d / "noissue" / "metrics.csv"
        if path.is_file():
            frames.append(read_petshop_metrics(path)[0])
            names.append(d.name)
    if not frames:
        return None, []
    note = DataIssue(
        kind="borrowed_baseline",
        message=f"no normal data of its own: the baseline is the normal data of {', '.join(names)}",
    )
    return compact_names(pd.concat(frames, ignore_index=True)), [note]


def _scenario_cases(
    scenario_dir: Path,
    splits: Sequence[str],
    normal_windows: bool,
    normal_per_metric: int,
    borrow: Callable[[], tuple[pd.DataFrame | None, list[DataIssue]]] | None = None,
    normal_splits: int = 0,
) -> list[BenchCase]:
    scenario = scenario_dir.name
    issues = _discover_issues(scenario_dir, splits)
    noissue_path = scenario_dir / "noissue" / "metrics.csv"
    if not issues and not noissue_path.is_file():
        return []
    graph = read_petshop_graph(scenario_dir / "graph.csv")
    baseline: pd.DataFrame | None = None
    baseline_issues: list[DataIssue] = []
    if noissue_path.is_file():
        baseline, baseline_issues = read_petshop_metrics(noissue_path)
    elif borrow is not None and issues:
        # Not this scenario's own normal operation: no specificity windows are cut from it.
        borrowed, borrowed_issues = borrow()
        return _issue_cases(scenario, graph, issues, borrowed, borrowed_issues)[0]

    cases, window_rows, offsets = _issue_cases(scenario, graph, issues, baseline, baseline_issues)
    if normal_windows and baseline is not None and issues:
        cases.extend(
            _normal_cases(scenario, graph, baseline, baseline_issues, issues, window_rows, offsets, normal_per_metric)
        )
    if normal_windows and normal_splits and baseline is not None and issues:
        cases.extend(_split_cases(scenario, graph, baseline, baseline_issues, issues, normal_splits))
    return cases


def _normal_symptoms(
    issues: Sequence[_Issue], normal: pd.DataFrame
) -> tuple[str, list[tuple[str, str]], pd.DatetimeIndex]:
    """What normal cases ask about: the issues' usual symptom node, their target metrics, the normal data's times."""
    node = Counter(it.node for it in issues).most_common(1)[0][0]
    metrics = list(dict.fromkeys((it.metric, it.agg) for it in issues))
    return node, metrics, pd.DatetimeIndex(normal["timestamp"].drop_duplicates().sort_values())


def _normal_cases(
    scenario: str,
    graph: ServiceGraph,
    normal: pd.DataFrame,
    normal_issues: list[DataIssue],
    issues: list[_Issue],
    window_rows: list[int],
    offsets: list[float],
    per_metric: int,
) -> list[BenchCase]:
    """Specificity windows cut from the scenario's normal data."""
    size = int(np.median(window_rows)) if window_rows else 5
    offset = pd.Timedelta(seconds=float(np.median(offsets)) if offsets else 0.0)
    node, metrics, stamps = _normal_symptoms(issues, normal)
    all_series = _series_keys(normal)
    starts = _window_starts(len(stamps), size, per_metric)
    cases: list[BenchCase] = []
    for k, s in enumerate(starts):
        lo, hi = stamps[s], stamps[s + size - 1]
        window = _within(normal, lo, hi)
        base = _without(normal, lo - _GUARD, hi + _GUARD)
        in_window = _series_keys(window)
        empty = tuple(
            DataIssue(
                kind="empty",
                message=f"{svc} {met} has no value in the normal window {lo:%Y-%m-%d %H:%M}-{hi:%H:%M}",
                service=svc,
                metric=met,
            )
            for svc, met in sorted(all_series - in_window)
        )
        for raw_metric, agg in metrics:
            cases.append(
                BenchCase(
                    case_id=f"{scenario}/normal/{raw_metric}/{k:02d}",
                    dataset="petshop",
                    group=f"{scenario}/{raw_metric}",
                    graph=graph,
                    metrics=window,
                    incident=Incident(node, metric_name(raw_metric, agg), lo + offset),
                    baseline=base,
                    root_causes=(),
                    fault_type=None,
                    issues=empty + tuple(normal_issues),
                    meta={
                        "scenario": scenario,
                        "split": "normal",
                        "window": (lo, hi),
                        "baseline_excluded": (lo - _GUARD, hi + _GUARD),
                    },
                )
            )
    return cases


def _split_cases(
    scenario: str,
    graph: ServiceGraph,
    normal: pd.DataFrame,
    normal_issues: list[DataIssue],
    issues: list[_Issue],
    n_splits: int,
) -> list[BenchCase]:
    """Specificity cases the way the PetShop authors cut them: normal data split in two at several points.

    The rows before the split are the baseline, every row from the split on is
    the window, and the incident starts at the split with no end (their
    ``evaluate_specificity`` hands each method ``normal[:split]`` and
    ``normal[split:]``).  Windows are hours long and baselines as short as a
    tenth of the data: a method that flags the largest deviation of a long
    window fails here.  Split points: ``n_splits`` evenly spaced from 10 % to
    90 % of the rows.
    """
    node, metrics, stamps = _normal_symptoms(issues, normal)
    ts = normal["timestamp"]
    cases: list[BenchCase] = []
    for k, frac in enumerate(np.linspace(0.1, 0.9, n_splits)):
        split = stamps[int(frac * (len(stamps) - 1))]
        before, after = normal[ts < split], normal[ts >= split]
        for raw_metric, agg in metrics:
            cases.append(
                BenchCase(
                    case_id=f"{scenario}/split/{raw_metric}/{k:02d}",
                    dataset="petshop",
                    group=f"{scenario}/{raw_metric}/split",
                    graph=graph,
                    metrics=after,
                    incident=Incident(node, metric_name(raw_metric, agg), split),
                    baseline=before,
                    root_causes=(),
                    fault_type=None,
                    issues=tuple(normal_issues),
                    meta={"scenario": scenario, "split": "normal-split", "split_at": split, "fraction": float(frac)},
                )
            )
    return cases


def load_petshop(
    root: str | Path,
    *,
    scenarios: Iterable[str] | None = None,
    splits: Sequence[str] = ("train", "test"),
    normal_windows: bool = True,
    normal_per_metric: int = 20,
    borrow_normal: bool = True,
    normal_splits: int = 9,
) -> list[BenchCase]:
    """Load every PetShop scenario under ``root`` as benchmark cases.

    Parameters
    ----------
    root : path
        The ``petshop`` directory (one sub-directory per scenario with a ``graph.csv``).
    scenarios : iterable of str, optional
        Only these scenarios (default: every one found).
    splits : sequence of str
        Which of ``train`` / ``test`` to read when present.
    normal_windows : bool
        Also cut specificity cases from ``noissue/`` data (``root_causes == ()``).
    normal_per_metric : int
        How many normal windows per scenario and target metric (about 20).
    borrow_normal : bool
        Give the issues of a scenario without ``noissue/`` data (the temporal
        ones) the normal data of every scenario that has it as their baseline.
    normal_splits : int
        Also cut this many specificity cases per scenario and metric the
        PetShop authors' way (:func:`_split_cases`: normal data split in two,
        everything after the split is the window), grouped
        ``"<scenario>/<metric>/split"``; 0 leaves them out.

    Returns
    -------
    list of BenchCase
        Issue cases ``"<scenario>/<split>/issue_N"`` and normal cases
        ``"<scenario>/normal/<metric>/NN"``, grouped ``"<scenario>/<metric>"``.

    Examples
    --------
    >>> cases = load_petshop("../shared/datasets/petshop")  # doctest: +SKIP
    >>> cases[0].case_id  # doctest: +SKIP
    'high_traffic/train/issue_0'
    """
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError(f"PetShop directory {str(root)!r} does not exist", field="dataset")
    if isinstance(splits, str):
        splits = (splits,)
    if normal_splits < 0:
        raise InvalidInputError(f"normal_splits must be >= 0, got {normal_splits}", field="normal_splits")
    if normal_per_metric < 0:
        raise InvalidInputError(f"normal_per_metric must be >= 0, got {normal_per_metric}", field="normal_per_metric")
    found = sorted(d for d in root.iterdir() if d.is_dir() and (d / "graph.csv").is_file())
    found = select_named(found, scenarios, "PetShop scenario")
    if not found:
        raise InvalidInputError(f"no PetShop scenario (a directory with graph.csv) under {root}", field="dataset")
    every = sorted(d for d in root.iterdir() if d.is_dir() and (d / "graph.csv").is_file())
    borrow = functools.cache(lambda: _borrowed_normal(every))  # read once, shared by every scenario that needs it

    cases: list[BenchCase] = []
    for d in found:
        cases.extend(
            _scenario_cases(d, splits, normal_windows, normal_per_metric, borrow if borrow_normal else None, normal_splits)
        )
    return cases
