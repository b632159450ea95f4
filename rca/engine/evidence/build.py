"""Spans and logs of one analysis, turned into minute series and tested scores, and merged into detection.

:func:`read_evidence` reads the inputs once (:mod:`rca.engine.evidence.inputs`); :func:`build_evidence` cuts
them on the analysis' grid and window; :func:`merge_scores` puts the tested scores into
:class:`~rca.engine.detect.AnomalyScores`, so ranking and explanation weigh a span or log series as any other
(its score, its kind by name: ``latency``, ``errors``...).

Normal data for the tests: the separate normal spans and logs (``baseline_spans``, ``baseline_logs``) and
the given spans and logs that fall before the incident window; a change must show against both
(:func:`~rca.engine.evidence.scoring.combine_references`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from rca.engine.detect import AnomalyScores
from rca.engine.errors import InvalidInputError, did_you_mean
from rca.engine.evidence.inputs import read_log_input, read_span_input
from rca.engine.evidence.logs import log_events, mine_templates
from rca.engine.evidence.scoring import combine_references, name_new_templates, score_events
from rca.engine.evidence.spans import EVENT_COLUMNS, series_from_events, span_events
from rca.engine.metric_semantics import CLIENT_SIDE_WEIGHT
from rca.engine.types import DataIssue, SeriesAnomaly

__all__ = ["EvidenceInputs", "SpanLogEvidence", "build_evidence", "merge_scores", "read_evidence"]

_CLOCK_SLACK = pd.Timedelta(hours=1)
_TRAFFIC_WEIGHT = 0.6  # as metric_semantics weighs traffic: load moves it as much as a fault


@dataclass(frozen=True)
class EvidenceInputs:
    """The parsed span tables and log tables of an analysis (None where not given)."""

    spans: pd.DataFrame | None = None
    logs: pd.DataFrame | None = None
    baseline_spans: pd.DataFrame | None = None
    baseline_logs: pd.DataFrame | None = None
    issues: tuple[DataIssue, ...] = ()

    @property
    def given(self) -> bool:
        return self.spans is not None or self.logs is not None


@dataclass(frozen=True)
class SpanLogEvidence:
    """Minute series (long frames) of the given and the normal spans and logs, and their tested scores."""

    series: pd.DataFrame
    baseline_series: pd.DataFrame
    tested: pd.DataFrame
    issues: tuple[DataIssue, ...]


def read_evidence(spans=None, logs=None, baseline_spans=None, baseline_logs=None) -> EvidenceInputs:
    """Read every span and log input (frames or files); errors name the input, the file and the field."""
    issues: list[DataIssue] = []
    out = {}
    for name, value in (("spans", spans), ("baseline_spans", baseline_spans)):
        out[name] = None if value is None else read_span_input(value, field=name)
    for name, value in (("logs", logs), ("baseline_logs", baseline_logs)):
        if value is None:
            out[name] = None
            continue
        table = read_log_input(value, field=name)
        issues.extend(table.issues)
        out[name] = table.frame
    if (baseline_spans is not None or baseline_logs is not None) and spans is None and logs is None:
        raise InvalidInputError("baseline_spans / baseline_logs were given without spans or logs to compare",
                                field="baseline_spans" if baseline_spans is not None else "baseline_logs")
    return EvidenceInputs(**out, issues=tuple(issues))


def _clock_issue(events: pd.DataFrame, field: str, start: pd.Timestamp, end: pd.Timestamp) -> DataIssue | None:
    """A note when an input's times are nowhere near the incident (a clock or time zone hours off)."""
    if events.empty:
        return None
    ts = events["timestamp"]
    lo, hi = ts.min(), ts.max()
    if hi >= start - _CLOCK_SLACK and lo <= end + _CLOCK_SLACK:
        return None
    off = (ts.median() - start).total_seconds() / 3600.0
    return DataIssue("clock_mismatch", (
        f"{field}: the events cover {lo:%Y-%m-%d %H:%M}..{hi:%H:%M} UTC, {abs(off):.1f} h "
        f"{'after' if off > 0 else 'before'} the incident window {start:%Y-%m-%d %H:%M}..{end:%H:%M}: is a clock "
        "or time zone off (local time written as UTC)? They were not used as evidence of the incident"))


def _unknown(events: pd.DataFrame, field: str, services: set[str]) -> tuple[pd.DataFrame, list[DataIssue]]:
    if events.empty:
        return events, []
    names = pd.unique(events["service"])
    unknown = sorted(str(s) for s in names if s not in services)
    if not unknown:
        return events, []
    if len(unknown) == len(names):
        raise InvalidInputError(
            f"{field}: none of the services ({', '.join(unknown[:4])}) is in the topology"
            f"{did_you_mean(unknown[0], sorted(services))}; check the pod-to-service names", field=f"{field}.service")
    shown = ", ".join(f"{u}{did_you_mean(u, sorted(services))}" for u in unknown[:5])
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    issue = DataIssue("unknown_service", f"{field}: {len(unknown)} service(s) are not in the topology ({shown}{more}); "
                      "their spans or lines were left out")
    return events[~events["service"].isin(unknown)], [issue]


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})


def build_evidence(inputs: EvidenceInputs, *, start: pd.Timestamp, end: pd.Timestamp, step: pd.Timedelta,
                   services: set[str]) -> SpanLogEvidence:
    """Series and tested scores of the spans and logs for the window ``[start, end]`` on a ``step`` grid."""
    issues: list[DataIssue] = list(inputs.issues)
    given, normal = [], []
    for field, table in (("spans", inputs.spans), ("baseline_spans", inputs.baseline_spans)):
        if table is not None:
            ev, found = _unknown(span_events(table, step, field=field), field, services)
            issues.extend(found)
            (given if field == "spans" else normal).append((field, ev))
    if inputs.logs is not None or inputs.baseline_logs is not None:
        tables = [t for t in (inputs.logs, inputs.baseline_logs) if t is not None]
        templates = mine_templates(pd.concat([t["message"] for t in tables], ignore_index=True))
        offset = 0
        for field, table in (("logs", inputs.logs), ("baseline_logs", inputs.baseline_logs)):
            if table is None:
                continue
            tpl = pd.Series(templates.to_numpy()[offset:offset + len(table)], index=table.index)
            offset += len(table)
            ev, found = _unknown(log_events(table, tpl, step), field, services)
            issues.extend(found)
            (given if field == "logs" else normal).append((field, ev))
    window_parts, before_parts = [], []
    usable = []
    for field, ev in given:
        note = _clock_issue(ev, field, start, end)
        if note is not None:
            issues.append(note)
            continue
        usable.append((field, ev))
        ts = ev["timestamp"]
        window_parts.append(ev[(ts >= start) & (ts <= end)])
        before_parts.append(ev[ts < start])
    window = pd.concat(window_parts, ignore_index=True) if window_parts else _empty_events()
    recent = pd.concat(before_parts, ignore_index=True) if before_parts else _empty_events()
    other = pd.concat([ev for _, ev in normal], ignore_index=True) if normal else _empty_events()
    tested = name_new_templates(combine_references(score_events(window, other), score_events(window, recent)))
    series = series_from_events(pd.concat([ev for _, ev in usable], ignore_index=True)) if usable else series_from_events(_empty_events())
    baseline_series = series_from_events(pd.concat([ev for _, ev in normal], ignore_index=True)) if normal else series_from_events(_empty_events())
    if given and window.empty and not any(i.kind == "clock_mismatch" for i in issues):
        issues.append(DataIssue("empty", "spans/logs: no span or log line falls in the incident window "
                                f"{start:%Y-%m-%d %H:%M}..{end:%H:%M}; they are only context"))
    return SpanLogEvidence(series, baseline_series, tested, tuple(issues))


def evidence_weight(metric: str) -> float:
    """How much a tested span or log series says about a fault in its service (as ``metric_weight`` does)."""
    if metric.startswith("span:client "):
        return CLIENT_SIDE_WEIGHT
    if metric.startswith("span:calls to ") or metric.startswith("log:info ") or metric.startswith("log:debug "):
        return _TRAFFIC_WEIGHT
    return 1.0


def merge_scores(scores: AnomalyScores, evidence: SpanLogEvidence) -> AnomalyScores:
    """``scores`` with the tested span and log series scored by their tests (added where detection had none).

    The other span and log minute series (``p50``/``p99`` of a tested ``p90``, request and line counts) score
    0: they cover only the minutes that have spans or lines, too few for a baseline, and their events are
    judged by the tests already (counts without a denominator are load, see
    :mod:`rca.engine.evidence.scoring`).  They stay in the aligned frame for plots and Granger tests.
    """
    tested = evidence.tested
    if tested.empty:
        return scores
    rows = tested.copy()
    table = scores.table.copy()
    rows["weight"] = [evidence_weight(m) for m in rows.index.get_level_values(1)]
    rows["onset"] = None
    missing = rows.index.difference(table.index)
    if len(missing):
        add = pd.DataFrame({"score": 0.0, "z": np.nan, "direction": "up", "weight": 1.0, "points": 0, "onset": None},
                           index=missing)
        table = pd.concat([table, add])
    idx = rows.index
    metric_level = table.index.get_level_values(1).astype(str)
    derived = np.asarray(metric_level.str.startswith("span:") | metric_level.str.startswith("log:"))
    table.loc[derived & ~table.index.isin(idx), "score"] = 0.0
    for col in ("score", "z", "direction", "weight", "points"):
        table.loc[idx, col] = rows[col].to_numpy()
    table["points"] = table["points"].astype(float)
    changed = set(idx)
    by_key = {(s.service, s.metric): s for s in scores.series}
    series = []
    for s in scores.series:
        key = (s.service, s.metric)
        if key not in changed and (s.metric.startswith("span:") or s.metric.startswith("log:")):
            s = replace(s, score=0.0, onset=None)
        elif key in changed:
            r = rows.loc[key]
            s = replace(s, score=float(r["score"]), z=float(r["z"]), direction=str(r["direction"]),
                        baseline_median=float(r["baseline_value"]), incident_value=float(r["window_value"]),
                        baseline_points=int(r["points"]))
        series.append(s)
    for key in missing:
        r = rows.loc[key]
        series.append(SeriesAnomaly(str(key[0]), str(key[1]), float(r["score"]), float(r["z"]), str(r["direction"]),
                                    None, float(r["baseline_value"]), float(r["window_value"]), int(r["points"])))
    del by_key
    return AnomalyScores(series=tuple(series), table=table, points=scores.points, issues=scores.issues)
