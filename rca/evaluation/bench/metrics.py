"""Accuracy, specificity and cost of a method over a set of cases.

Definitions (the published protocols):

- **AC@k**: share of fault cases where some true cause is among the first
  ``k`` ranked services.  A fault case answered with ``[]`` (or an error) is
  a miss.  Normal cases are left out.
- **Avg@5**: mean of AC@1 ... AC@5.
- **top-k recall** (PetShop): mean over fault cases of the share of the true
  causes found in the first ``k``; equal to AC@k with one cause per case.
- **specificity** (PetShop): share of normal cases (no true cause) where the
  method answered ``[]``; errors count as failures.  Fault cases are left out.
- **seconds**: median and 95th percentile of the method call time per case
  (cases that raised are left out).
- **calibration** (methods that give a confidence): over the cases where the
  method named a cause, the mean confidence of its first answer against how
  often that answer was a true cause (naming anything on a normal window is
  wrong), per confidence bin, and the expected calibration error (ECE: the
  bins' gaps weighted by their share of the cases).

Every rate is None when no case qualifies (rendered as "–").

Examples
--------
>>> from rca.evaluation.bench.results import CaseResult
>>> r = CaseResult.from_ranking(dataset="d", group="g", case_id="1", method="m",
...                             truth=["db"], ranking=["api", "db"])
>>> ac_at_k([r], 1), ac_at_k([r], 2), avg_at_k([r], 5)
(0.0, 1.0, 0.8)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rca.evaluation.bench.results import CaseResult

__all__ = [
    "ALL_GROUPS",
    "GroupMetrics",
    "FaultTypeMetrics",
    "ac_at_k",
    "avg_at_k",
    "recall_at_k",
    "specificity",
    "seconds_stats",
    "CALIBRATION_BINS",
    "CalibrationMetrics",
    "calibration",
    "reliability",
    "summarize_groups",
    "summarize_fault_types",
    "summarize_calibration",
]

#: The ``group`` of the rows that pool every group of a dataset.
ALL_GROUPS = "(all)"


def _faults(results: Iterable[CaseResult]) -> list[CaseResult]:
    return [r for r in results if not r.is_normal]


def ac_at_k(results: Iterable[CaseResult], k: int) -> float | None:
    """AC@k over the fault cases; None when there are none."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    faults = _faults(results)
    if not faults:
        return None
    return sum(r.hit(k) for r in faults) / len(faults)


def avg_at_k(results: Iterable[CaseResult], k: int = 5) -> float | None:
    """Mean of AC@1 ... AC@k (Avg@5 by default)."""
    faults = _faults(results)
    if not faults:
        return None
    return float(np.mean([ac_at_k(faults, j) for j in range(1, k + 1)]))


def recall_at_k(results: Iterable[CaseResult], k: int) -> float | None:
    """PetShop's top-k recall: mean share of true causes in the first ``k``."""
    faults = _faults(results)
    if not faults:
        return None
    return float(np.mean([r.recall(k) for r in faults]))


def specificity(results: Iterable[CaseResult]) -> float | None:
    """Share of normal cases answered with "no root cause"; None without normal cases."""
    normal = [r for r in results if r.is_normal]
    if not normal:
        return None
    return sum(r.said_no_cause for r in normal) / len(normal)


def seconds_stats(results: Iterable[CaseResult]) -> tuple[float | None, float | None]:
    """(median, p95) of the method call seconds, over cases that did not raise."""
    secs = [r.seconds for r in results if r.error is None and r.seconds is not None]
    if not secs:
        return None, None
    arr = np.asarray(secs, dtype=float)
    return float(np.median(arr)), float(np.percentile(arr, 95))


@dataclass(frozen=True)
class GroupMetrics:
    """One row of the summary: a method on a dataset group (or on all of it)."""

    dataset: str
    group: str
    method: str
    n: int
    n_normal: int
    ac1: float | None
    ac3: float | None
    ac5: float | None
    avg5: float | None
    recall1: float | None
    recall3: float | None
    specificity: float | None
    errors: int
    median_s: float | None
    p95_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FaultTypeMetrics:
    """Accuracy of a method on one fault type of a dataset."""

    dataset: str
    fault_type: str
    method: str
    n: int
    ac1: float | None
    ac3: float | None
    ac5: float | None
    avg5: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Edges of the confidence bins of :func:`calibration`: ten of equal width (the last includes 1).
CALIBRATION_BINS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))


def reliability(confidence: Sequence[float] | np.ndarray, outcome: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """The reliability of probabilities against 0/1 outcomes, over :data:`CALIBRATION_BINS`.

    ``ece`` (expected calibration error) is the gap between mean probability
    and frequency per bin, weighted by the bin's share; ``mce`` the largest
    gap of any bin; ``brier`` the mean squared error of the probabilities.

    Examples
    --------
    >>> r = reliability([0.75, 0.75, 0.75, 0.75], [1, 1, 1, 0])
    >>> (r["n"], r["ece"], r["mce"], r["brier"])
    (4, 0.0, 0.0, 0.1875)
    """
    conf = np.asarray(confidence, dtype=float)
    right = np.asarray(outcome, dtype=float)
    if conf.size == 0:
        return {"n": 0, "confidence": None, "accuracy": None, "ece": None, "mce": None, "brier": None, "bins": []}
    edges = np.asarray(CALIBRATION_BINS)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, len(edges) - 2)
    bins: list[dict[str, float | int]] = []
    ece = mce = 0.0
    for b in range(len(edges) - 1):
        sel = which == b
        if sel.any():
            gap = abs(float(right[sel].mean()) - float(conf[sel].mean()))
            ece += float(sel.mean()) * gap
            mce = max(mce, gap)
            bins.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(sel.sum()),
                         "confidence": float(conf[sel].mean()), "accuracy": float(right[sel].mean())})
    return {"n": int(conf.size), "confidence": float(conf.mean()), "accuracy": float(right.mean()),
            "ece": round(ece, 12), "mce": round(mce, 12), "brier": float(np.mean((conf - right) ** 2)), "bins": bins}


@dataclass(frozen=True)
class CalibrationMetrics:
    """How well a method's top-1 confidence matches how often it is right, on one dataset.

    ``no_cause_*`` measure ``no_cause_probability`` against "this case is a
    normal window", over every case that gave one.
    """

    dataset: str
    method: str
    n: int
    mean_confidence: float | None
    accuracy: float | None
    ece: float | None
    bins: tuple[dict[str, float | int], ...]
    mce: float | None = None
    brier: float | None = None
    no_cause_n: int = 0
    no_cause_ece: float | None = None
    no_cause_brier: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["bins"] = [dict(b) for b in self.bins]
        return out


def calibration(results: Iterable[CaseResult], dataset: str = "", method: str = "") -> CalibrationMetrics:
    """Reliability of the top-1 confidence over the cases where a cause was named with one.

    Examples
    --------
    >>> rows = [CaseResult.from_ranking(dataset="d", group="g", case_id=str(i), method="m", truth=["db"],
    ...                                 ranking=[top], confidence=0.75) for i, top in enumerate(["db", "db", "db", "api"])]
    >>> c = calibration(rows)
    >>> (c.n, c.mean_confidence, c.accuracy, c.ece, c.brier)
    (4, 0.75, 0.75, 0.0, 0.1875)
    """
    rows = list(results)
    named = [r for r in rows if r.confidence is not None and r.top]
    null = [r for r in rows if r.no_cause is not None and r.error is None]
    nc = reliability([float(r.no_cause) for r in null], [float(r.is_normal) for r in null])  # type: ignore[arg-type]
    if not named:
        return CalibrationMetrics(dataset, method, 0, None, None, None, (), no_cause_n=nc["n"],
                                  no_cause_ece=nc["ece"], no_cause_brier=nc["brier"])
    rel = reliability([float(r.confidence) for r in named], [float(r.top[0] in r.truth) for r in named])  # type: ignore[arg-type]
    return CalibrationMetrics(dataset, method, rel["n"], rel["confidence"], rel["accuracy"], rel["ece"],
                              tuple(rel["bins"]), rel["mce"], rel["brier"], nc["n"], nc["ece"], nc["brier"])


def _grouped(results: Iterable[CaseResult], key: Callable[[CaseResult], Hashable]) -> dict[Any, list[CaseResult]]:
    out: dict[Any, list[CaseResult]] = {}
    for r in results:
        out.setdefault(key(r), []).append(r)
    return out


def _group_metrics(dataset: str, group: str, method: str, rows: Sequence[CaseResult]) -> GroupMetrics:
    med, p95 = seconds_stats(rows)
    return GroupMetrics(
        dataset=dataset,
        group=group,
        method=method,
        n=len(_faults(rows)),
        n_normal=sum(r.is_normal for r in rows),
        ac1=ac_at_k(rows, 1),
        ac3=ac_at_k(rows, 3),
        ac5=ac_at_k(rows, 5),
        avg5=avg_at_k(rows, 5),
        recall1=recall_at_k(rows, 1),
        recall3=recall_at_k(rows, 3),
        specificity=specificity(rows),
        errors=sum(r.error is not None for r in rows),
        median_s=med,
        p95_s=p95,
    )


def summarize_groups(results: Sequence[CaseResult]) -> list[GroupMetrics]:
    """Metrics per dataset × group × method, plus an :data:`ALL_GROUPS` row per dataset.

    Rows come in first-seen order of datasets, then groups (sorted), then
    methods (first-seen order), so tables read the same on every run.
    """
    methods = list(dict.fromkeys(r.method for r in results))
    out: list[GroupMetrics] = []
    for dataset, rows in _grouped(results, lambda r: r.dataset).items():
        groups = sorted({r.group for r in rows})
        by_group = _grouped(rows, lambda r: (r.group, r.method))
        by_method = _grouped(rows, lambda r: r.method)
        labels = groups if len(groups) == 1 else [ALL_GROUPS, *groups]
        for group in labels:
            for method in methods:
                sel = by_method.get(method, []) if group == ALL_GROUPS else by_group.get((group, method), [])
                if sel:
                    out.append(_group_metrics(dataset, group, method, sel))
    return out


def summarize_fault_types(results: Sequence[CaseResult]) -> list[FaultTypeMetrics]:
    """AC@k per dataset × fault type × method (fault cases with a known type only)."""
    methods = list(dict.fromkeys(r.method for r in results))
    typed = [r for r in results if not r.is_normal and r.fault_type]
    grouped = _grouped(typed, lambda r: (r.dataset, r.fault_type, r.method))
    datasets = list(dict.fromkeys(r.dataset for r in typed))
    out: list[FaultTypeMetrics] = []
    for dataset in datasets:
        kinds = sorted({str(r.fault_type) for r in typed if r.dataset == dataset})
        for kind in kinds:
            for method in methods:
                rows = grouped.get((dataset, kind, method))
                if rows:
                    out.append(
                        FaultTypeMetrics(
                            dataset=dataset,
                            fault_type=kind,
                            method=method,
                            n=len(rows),
                            ac1=ac_at_k(rows, 1),
                            ac3=ac_at_k(rows, 3),
                            ac5=ac_at_k(rows, 5),
                            avg5=avg_at_k(rows, 5),
                        )
                    )
    return out


def summarize_calibration(results: Sequence[CaseResult]) -> list[CalibrationMetrics]:
    """:func:`calibration` per dataset × method, for the methods that give a confidence."""
    with_conf = [r for r in results if r.confidence is not None]
    methods = list(dict.fromkeys(r.method for r in with_conf))
    out: list[CalibrationMetrics] = []
    for dataset, rows in _grouped(with_conf, lambda r: r.dataset).items():
        by_method = _grouped(rows, lambda r: r.method)
        out += [calibration(by_method[m], dataset, m) for m in methods if m in by_method]
    return out
