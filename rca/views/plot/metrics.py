"""Each top cause's anomalous metrics against its baseline, beside the symptom."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from rca.engine.types import Cause, RCAResult, SeriesAnomaly
from rca.views.plot._common import (
    BASELINE_SHADE,
    CAUSE_COLOR,
    INCIDENT_SHADE,
    SYMPTOM_COLOR,
    TEXT,
    check_metrics,
    check_result,
    naive,
    new_figure,
    series,
    shorten,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_cause_metrics"]


def plot_cause_metrics(
    result: RCAResult,
    metrics: pd.DataFrame,
    *,
    top: int = 3,
    metrics_per_cause: int = 2,
) -> Figure:
    """Plot the top causes' anomalous series next to the symptom's, on one time axis.

    One row per (cause, anomalous metric), worst metric first.  The left panel
    is the cause's series with its baseline median (dashed) and anomaly onset
    (dotted line); the right panel is the symptom's series over the same
    time.  The incident window is shaded orange, the part of the baseline in
    view blue.  The view starts at most three incident-window lengths before
    the incident.

    Parameters
    ----------
    result : RCAResult
    metrics : pandas.DataFrame
        The long table (``timestamp, service, metric, value``) the analysis used.
    top : int
        Number of causes shown (at most the number ranked).
    metrics_per_cause : int
        At most this many anomalous metrics per cause.

    Returns
    -------
    matplotlib.figure.Figure
        With no causes (``status == "no_anomaly"``) the figure shows the
        symptom alone and says so.
    """
    result = check_result(result)
    metrics = check_metrics(metrics)
    for name, value in (("top", top), ("metrics_per_cause", metrics_per_cause)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    inc = result.incident
    start, end = naive(result.window[0]), naive(result.window[1])
    if start is None or end is None:  # every RCAResult has a window
        raise ValueError("result.window must hold two timestamps")
    span = max(end - start, pd.Timedelta(seconds=max(result.step_seconds, 1.0)) * 5)
    view_lo = start - 3 * span
    if result.baseline_window is not None:
        # A baseline just before the incident bounds the view; a separate
        # baseline (other days of normal data) is summarised by its median line.
        b_lo, b_hi = naive(result.baseline_window[0]), naive(result.baseline_window[1])
        if b_lo is not None and b_hi is not None and b_lo > view_lo and b_hi <= start:
            view_lo = b_lo
    view_hi = end + 0.05 * span

    rows: list[tuple[Cause | None, str, SeriesAnomaly | None]] = []
    for c in result.causes[:top]:
        found = _anomalous_metrics(result, c)[:metrics_per_cause]
        rows.extend((c, a.metric if a else c.metric, a) for a in found)
    if not rows:
        rows = [(None, inc.metric, None)]

    # Start the view where the data starts when it starts later than that.
    firsts = [
        s.index[0]
        for s in (series(metrics, svc, m) for svc, m in {(inc.service, inc.metric)} | {
            (c.service, met) for c, met, _ in rows if c is not None
        })
        if not s.empty and s.index[-1] >= start
    ]
    if firsts:
        step = pd.Timedelta(seconds=max(result.step_seconds, 1.0))
        view_lo = max(view_lo, min(firsts) - step)
    symptom_s = _clip(series(metrics, inc.service, inc.metric), view_lo, view_hi)
    fig = new_figure(12.0, max(2.8, 2.3 * len(rows) + 0.6))
    axes = fig.subplots(len(rows), 2, sharex=True, squeeze=False, width_ratios=[1.0, 1.0])
    prev_rank = None
    for i, (cause, metric, anomaly) in enumerate(rows):
        left, right = axes[i]
        if cause is None:
            left.text(0.5, 0.5, f"No root cause found.\n{shorten(result.reason, 80)}", ha="center",
                      va="center", transform=left.transAxes, fontsize=10, **TEXT)
            left.set_yticks([])
        else:
            s = _clip(series(metrics, cause.service, metric), view_lo, view_hi)
            _draw(left, s, CAUSE_COLOR, result, start, end, (view_lo, view_hi), anomaly)
            head = f"#{cause.rank} {shorten(cause.service, 36)}" if cause.rank != prev_rank else f"{shorten(cause.service, 36)}"
            score = f" — score {anomaly.score:.2g}" if anomaly is not None and _ok(anomaly.score) else ""
            left.set_title(f"{head} · {shorten(metric, 30)}{score}", loc="left", fontsize=10,
                           fontweight="bold" if cause.rank != prev_rank else "normal", **TEXT)
            left.set_ylabel(shorten(metric, 20), fontsize=8, **TEXT)
            if s.empty:
                _no_data(left, cause.service, metric)
            prev_rank = cause.rank
        _draw(right, symptom_s, SYMPTOM_COLOR, result, start, end, (view_lo, view_hi), result.symptom)
        right.set_title(f"symptom {shorten(inc.service, 36)} · {shorten(inc.metric, 30)}", loc="left",
                        fontsize=10, **TEXT)
        right.set_ylabel(shorten(inc.metric, 20), fontsize=8, **TEXT)
        if symptom_s.empty:
            _no_data(right, inc.service, inc.metric)

    for ax in axes.ravel():
        ax.set_xlim(view_lo, view_hi)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.25, lw=0.6)
    loc = AutoDateLocator(minticks=3, maxticks=8)
    for ax in axes[-1]:
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(loc))
        ax.set_xlabel("time (UTC)", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    h2, l2 = axes[0][1].get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    for lab, h in zip(l2, h2):
        seen.setdefault(lab, h)
    if seen:
        fig.legend(list(seen.values()), list(seen.keys()), loc="outside lower center", ncols=min(5, len(seen)),
                   fontsize=8, frameon=False)
    return fig


def _anomalous_metrics(result: RCAResult, cause: Cause) -> list[SeriesAnomaly | None]:
    """The cause's anomalous series, worst first; its headline metric always included."""
    found = list(cause.evidence.anomalous_metrics)
    if not any(a.metric == cause.metric for a in found):
        match = [a for a in result.anomalies if a.service == cause.service and a.metric == cause.metric]
        found = match + found
    found.sort(key=lambda a: (a.metric != cause.metric, -_f(a.score)))
    return list(found) or [None]


def _draw(ax: Axes, s: pd.Series, color: str, result: RCAResult, start: pd.Timestamp, end: pd.Timestamp,
          view: tuple[pd.Timestamp, pd.Timestamp], anomaly: SeriesAnomaly | None) -> None:
    if result.baseline_window is not None:
        b0, b1 = naive(result.baseline_window[0]), naive(result.baseline_window[1])
        if b0 is not None and b1 is not None and b1 > view[0] and b0 < view[1]:
            ax.axvspan(max(b0, view[0]), min(b1, view[1]), color=BASELINE_SHADE, alpha=0.5, lw=0,
                       label="baseline window")
    ax.axvspan(start, end, color=INCIDENT_SHADE, alpha=0.35, lw=0, label="incident window")
    if not s.empty:
        ax.plot(s.index, s.to_numpy(), color=color, lw=1.4, marker="." if len(s) < 40 else None, ms=4,
                label="_series")
    if anomaly is not None:
        if _ok(anomaly.baseline_median):
            ax.axhline(anomaly.baseline_median, color="#424242", ls="--", lw=1.0, label="baseline median")
        if anomaly.onset is not None:
            ax.axvline(naive(anomaly.onset), color="black", ls=":", lw=1.4, label="anomaly onset")


def _no_data(ax: Axes, service: str, metric: str) -> None:
    ax.text(0.5, 0.5, f"no data for {shorten(service, 30)} · {shorten(metric, 20)}", ha="center", va="center",
            transform=ax.transAxes, fontsize=9, color="#757575", **TEXT)


def _clip(s: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.Series:
    return s[(s.index >= lo) & (s.index <= hi)] if not s.empty else s


def _f(x: float | None) -> float:
    return float(x) if _ok(x) else float("-inf")


def _ok(x: float | None) -> bool:
    return x is not None and math.isfinite(float(x))
