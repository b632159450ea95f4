"""Re-present benchmark cases the ways users hand the same incident over.

A loader presents a dataset one way; a user with a notebook presents it
another: a wide frame after a pivot, one statistic per metric, a short
window, a short baseline, normal data from another month, the incident
start in the middle of the fault, names no built-in rule recognizes, gaps,
clocks that do not sit on the grid.  The answer must not depend on which.
Each *variation* here maps a :class:`~rca.evaluation.datasets.base.BenchCase`
to the same incident presented differently (the truth unchanged), so
``rca bench --robustness`` can report accuracy per variation and the worst
of them.

The variations (``VARIATIONS``; options after ``=``):

``as_given``        the loader's presentation
``wide``            metrics and baseline as wide ``(service, metric)`` frames
``one_stat``        one statistic per metric (``latency_p50`` ... ``latency_p99`` -> the symptom's or the first)
``window=N``        only the first N grid points from the incident start
``baseline=N``      only the last N points of normal data
``borrowed``        the normal data shifted 30 days back (another month's; the data itself unchanged)
``early_start``     the incident start given half the window earlier than the loader's
``renamed``         every metric renamed ``m00``, ``m01`` ... (no direction rule matches)
``missing=F``       a share F of the values removed at random
``jitter``          timestamps moved up to a third of a step off the grid
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from rca.engine.errors import InvalidInputError, did_you_mean
from rca.engine.types import Incident
from rca.evaluation.datasets.base import BenchCase

__all__ = ["VARIATIONS", "DEFAULT_ROBUSTNESS", "represent", "represent_all"]

#: The default set of ``rca bench --robustness``.
DEFAULT_ROBUSTNESS: tuple[str, ...] = (
    "as_given", "wide", "one_stat", "window=3", "window=5", "window=10", "baseline=10", "baseline=30",
    "baseline=120", "borrowed", "early_start", "renamed", "missing=0.05", "jitter",
)

_STAT = re.compile(r"^(?P<base>.*?)_(p\d{2,3}|average|avg|mean|sum|min|max|median|count)$", re.IGNORECASE)


def _step(case: BenchCase) -> pd.Timedelta:
    stamps = np.sort(pd.to_datetime(case.metrics["timestamp"]).unique())
    if len(stamps) < 2:
        return pd.Timedelta(minutes=1)
    return pd.Timedelta(np.median(np.diff(stamps)))


def _seed(case: BenchCase, salt: str) -> int:
    return int.from_bytes(f"{case.dataset}/{case.case_id}/{salt}".encode()[-8:].ljust(8, b"\0"), "little") % 2**32


def _pre_and_window(case: BenchCase) -> tuple[pd.DataFrame, pd.DataFrame]:
    ts = pd.to_datetime(case.metrics["timestamp"])
    return case.metrics[ts < case.incident.start], case.metrics[ts >= case.incident.start]


def _wide(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    f = frame.astype({"service": str, "metric": str})
    wide = f.pivot_table(index="timestamp", columns=["service", "metric"], values="value", aggfunc="mean", observed=True)
    wide.columns.names = [None, None]
    wide.index.name = None
    return wide


def _as_wide(case: BenchCase, _: str) -> BenchCase:
    return dataclasses.replace(case, metrics=_wide(case.metrics), baseline=_wide(case.baseline))


def _one_stat(case: BenchCase, _: str) -> BenchCase:
    names = sorted(set(case.metrics["metric"].astype(str)))
    keep: dict[str, str] = {}
    for m in names:
        match = _STAT.match(m)
        base = match.group("base") if match else m
        keep.setdefault(base, m)
    sym = case.incident.metric
    match = _STAT.match(sym)
    keep[match.group("base") if match else sym] = sym
    kept = set(keep.values())

    def sub(f: pd.DataFrame | None) -> pd.DataFrame | None:
        return None if f is None else f[f["metric"].astype(str).isin(kept)]

    return dataclasses.replace(case, metrics=sub(case.metrics), baseline=sub(case.baseline))


def _window(case: BenchCase, arg: str) -> BenchCase:
    n = int(arg)
    step = _step(case)
    end = case.incident.start.floor(step) + (n - 1) * step
    ts = pd.to_datetime(case.metrics["timestamp"])
    inc = case.incident
    if inc.end is not None and inc.end > end:
        inc = Incident(inc.service, inc.metric, inc.start, end)
    return dataclasses.replace(case, metrics=case.metrics[ts <= end + step / 2], incident=inc)


def _baseline(case: BenchCase, arg: str) -> BenchCase:
    n = int(arg)
    if case.baseline is not None:
        stamps = np.sort(pd.to_datetime(case.baseline["timestamp"]).unique())
        keep = stamps[-n:]
        b = case.baseline
        return dataclasses.replace(case, baseline=b[pd.to_datetime(b["timestamp"]).isin(keep)])
    pre, window = _pre_and_window(case)
    stamps = np.sort(pd.to_datetime(pre["timestamp"]).unique())[-n:]
    pre = pre[pd.to_datetime(pre["timestamp"]).isin(stamps)]
    return dataclasses.replace(case, metrics=pd.concat([pre, window], ignore_index=True))


def _borrowed(case: BenchCase, _: str) -> BenchCase:
    shift = pd.Timedelta(days=30)
    if case.baseline is not None:
        b = case.baseline.assign(timestamp=pd.to_datetime(case.baseline["timestamp"]) - shift)
        return dataclasses.replace(case, baseline=b)
    pre, window = _pre_and_window(case)
    if pre.empty:
        return case
    b = pre.assign(timestamp=pd.to_datetime(pre["timestamp"]) - shift)
    return dataclasses.replace(case, metrics=window.reset_index(drop=True), baseline=b.reset_index(drop=True))


def _early_start(case: BenchCase, _: str) -> BenchCase:
    step = _step(case)
    inc = case.incident
    last = inc.end if inc.end is not None else pd.to_datetime(case.metrics["timestamp"]).max()
    points = max(1, int((last - inc.start.floor(step)) / step) + 1)
    start = inc.start - (points // 2) * step
    return dataclasses.replace(case, incident=Incident(inc.service, inc.metric, start, inc.end))


def _renamed(case: BenchCase, _: str) -> BenchCase:
    names = sorted(set(case.metrics["metric"].astype(str)) | (set(case.baseline["metric"].astype(str)) if case.baseline is not None else set()))
    code = {m: f"m{i:02d}" for i, m in enumerate(names)}

    def sub(f: pd.DataFrame | None) -> pd.DataFrame | None:
        return None if f is None else f.assign(metric=f["metric"].astype(str).map(code))

    inc = case.incident
    return dataclasses.replace(
        case, metrics=sub(case.metrics), baseline=sub(case.baseline),
        incident=Incident(inc.service, code.get(inc.metric, inc.metric), inc.start, inc.end),
    )


def _missing(case: BenchCase, arg: str) -> BenchCase:
    share = float(arg)
    rng = np.random.default_rng(_seed(case, "missing"))

    def sub(f: pd.DataFrame | None) -> pd.DataFrame | None:
        return None if f is None else f[rng.random(len(f)) >= share]

    return dataclasses.replace(case, metrics=sub(case.metrics), baseline=sub(case.baseline))


def _jitter(case: BenchCase, _: str) -> BenchCase:
    step = _step(case)
    rng = np.random.default_rng(_seed(case, "jitter"))

    def sub(f: pd.DataFrame | None) -> pd.DataFrame | None:
        if f is None:
            return None
        ts = pd.to_datetime(f["timestamp"])
        stamps = ts.unique()
        off = pd.to_timedelta(rng.uniform(-1 / 3, 1 / 3, len(stamps)) * step.total_seconds(), unit="s")
        moved = dict(zip(stamps, stamps + off, strict=True))  # one offset per timestamp: rows of a moment stay together
        return f.assign(timestamp=ts.map(moved))

    return dataclasses.replace(case, metrics=sub(case.metrics), baseline=sub(case.baseline))


VARIATIONS: dict[str, tuple[Callable[[BenchCase, str], BenchCase], str | None]] = {
    "as_given": (lambda c, _: c, None),
    "wide": (_as_wide, None),
    "one_stat": (_one_stat, None),
    "window": (_window, "points"),
    "baseline": (_baseline, "points"),
    "borrowed": (_borrowed, None),
    "early_start": (_early_start, None),
    "renamed": (_renamed, None),
    "missing": (_missing, "share"),
    "jitter": (_jitter, None),
}


def _parse(variation: str) -> tuple[Callable[[BenchCase, str], BenchCase], str]:
    name, _, arg = variation.strip().partition("=")
    if name not in VARIATIONS:
        raise InvalidInputError(
            f"unknown presentation {name!r}{did_you_mean(name, VARIATIONS)}; known: {', '.join(VARIATIONS)}",
            field="robustness",
        )
    func, needs = VARIATIONS[name]
    if needs and not arg:
        raise InvalidInputError(f"presentation {name!r} needs a value: {name}=<{needs}>", field="robustness")
    if needs == "points" and not (arg.isdigit() and int(arg) > 0):
        raise InvalidInputError(f"presentation {name}= needs a positive number of points, got {arg!r}", field="robustness")
    if needs == "share":
        try:
            ok = 0.0 <= float(arg) < 1.0
        except ValueError:
            ok = False
        if not ok:
            raise InvalidInputError(f"presentation {name}= needs a share in [0, 1), got {arg!r}", field="robustness")
    return func, arg


def represent(cases: Iterable[BenchCase], variation: str) -> list[BenchCase]:
    """``cases`` presented as ``variation`` describes; their dataset becomes ``"<dataset>[<variation>]"``.

    >>> represent([], "window=5")
    []
    """
    func, arg = _parse(variation)
    label = variation.strip()
    return [dataclasses.replace(func(c, arg), dataset=f"{c.dataset}[{label}]") for c in cases]


def represent_all(cases: Sequence[BenchCase], variations: Sequence[str] = DEFAULT_ROBUSTNESS) -> list[BenchCase]:
    """Every case in every variation (validated before any case is built)."""
    for v in variations:
        _parse(v)
    out: list[BenchCase] = []
    for v in variations:
        out.extend(represent(cases, v))
    return out
