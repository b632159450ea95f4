"""The symptom's bad direction and range, read off the symptom when its name says nothing.

Detection scores deviations in a metric's bad direction, which the metric's name
gives (:mod:`rca.engine.metric_semantics`): ``latency`` up, ``availability``
down.  A name no rule knows (``m03``, Spring Boot's ``http_server_requests_seconds``,
a team's own ``svc_resp``) is scored in both directions, so a latency that rose
counts no more than one that fell, on every service.  But the alert itself says
which way is bad: the symptom left its normal range in that direction.

* When the symptom's own metric name gives no direction and the symptom moved
  clearly (a robust z of at least :data:`CLEAR_MOVE` between the window's median
  and the baseline's, or at its farthest point when one side dominates), that
  direction is taken for every series of the same name, and the analysis says so
  (``direction_learned``); ``detect.directions`` overrides it.
* Such a symptom whose series all lie within 0..1 or 0..100 with a normal level
  near a bound (an SLO percentage) is scored as a bounded metric, as
  ``availability`` would be: the distance from the bound is what matters.
* Where every series has the same one name (a structural model's ``value``)
  nothing is learned: a name that is everything carries nothing over.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from rca.engine.detect import IncidentWindows
from rca.engine.metric_semantics import is_bounded_metric, metric_direction
from rca.engine.types import DataIssue, Incident

__all__ = ["CLEAR_MOVE", "learn_symptom_direction", "learned_bounded"]

#: Robust z (window median against the baseline median, in baseline MADs) a symptom must move by.
CLEAR_MOVE = 3.0


def learn_symptom_direction(
    frame: pd.DataFrame,
    windows: IncidentWindows,
    incident: Incident,
    directions: dict[str, str],
    baseline: pd.DataFrame | None = None,
) -> tuple[dict[str, str], list[DataIssue]]:
    """``directions`` with the symptom metric's learned direction added, and the issue saying so."""
    if metric_direction(incident.metric, directions) != "both":
        return directions, []
    if frame.columns.get_level_values(1).nunique() < 2:
        # One metric for every service (a structural model's ``value``): a name that is everything says
        # nothing to carry over; each series keeps both directions.
        return directions, []
    key = (incident.service, incident.metric)
    if key not in frame.columns:
        return directions, []
    col = frame[key]
    window = col[(col.index >= windows.start) & (col.index <= windows.end)].to_numpy(dtype=float)
    if windows.separate_baseline and baseline is not None and key in baseline.columns:
        normal = baseline[key].to_numpy(dtype=float)
    elif windows.baseline_start is not None:
        normal = col[(col.index >= windows.baseline_start) & (col.index < windows.start)].to_numpy(dtype=float)
    else:
        return directions, []
    window, normal = window[np.isfinite(window)], normal[np.isfinite(normal)]
    if window.size == 0 or normal.size < 3:
        return directions, []
    med = float(np.median(normal))
    mad = 1.4826 * float(np.median(np.abs(normal - med)))
    scale = mad if mad > 0 else max(float(np.std(normal)), 1e-9 * max(abs(med), 1.0))
    # The window's median when it moved as a whole, else its farthest point (an availability that dips
    # in a few intervals leaves the median where it was); either way one side must clearly dominate.
    dev = (window - med) / scale
    z = float(np.median(dev))
    if abs(z) < CLEAR_MOVE:
        up, down = float(dev.max()), float(-dev.min())
        z = up if up >= down else -down
        if min(up, down) > 0 and max(up, down) < 2 * min(up, down):
            return directions, []
    if not np.isfinite(z) or abs(z) < CLEAR_MOVE:
        return directions, []
    learned = "up" if z > 0 else "down"
    pattern = f"^{re.escape(incident.metric.lower())}$"
    issue = DataIssue(
        "direction_learned",
        f"the name {incident.metric!r} says nothing about which way is bad; the symptom moved {learned} "
        f"(robust z {z:+.1f}), so {learned} is taken as bad for every {incident.metric!r} series "
        "(set detect.directions to say otherwise)",
        incident.service,
        incident.metric,
    )
    return {**directions, pattern: learned}, [issue]


def learned_bounded(frame: pd.DataFrame, incident: Incident, baseline: pd.DataFrame | None = None) -> frozenset[str]:
    """``{incident.metric}`` when its series look like an SLO percentage, else empty (call after learning a direction)."""
    if is_bounded_metric(incident.metric):
        return frozenset()
    names = frame.columns.get_level_values(1)
    values = frame.loc[:, names == incident.metric].to_numpy(dtype=float)
    if baseline is not None:
        b_names = baseline.columns.get_level_values(1)
        values = np.concatenate([values.ravel(), baseline.loc[:, b_names == incident.metric].to_numpy(dtype=float).ravel()])
    values = values[np.isfinite(values)]
    if values.size == 0 or values.min() < 0 or values.max() > 100:
        return frozenset()
    cap = 1.0 if values.max() <= 1.0 else 100.0
    level = float(np.median(values))
    return frozenset({incident.metric}) if min(level, cap - level) <= 0.05 * cap else frozenset()
