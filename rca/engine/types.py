"""Inputs and results of an analysis: frozen dataclasses with ``to_dict()``.

Timestamps are tz-aware UTC :class:`pandas.Timestamp` inside the engine and
ISO 8601 strings in ``to_dict()`` output.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from rca.engine.errors import InvalidIncidentError

__all__ = [
    "HEADLINE_ISSUES",
    "Cause",
    "ConfidenceBasis",
    "DataIssue",
    "Evidence",
    "GrangerTest",
    "Incident",
    "RCAResult",
    "RankedService",
    "SeriesAnomaly",
    "to_utc",
]

TimeLike = str | int | float | datetime | pd.Timestamp | np.datetime64


def to_utc(value: TimeLike, *, field: str = "timestamp", timezone: str | None = None) -> pd.Timestamp:
    """Parse a time (ISO string, datetime, or unix seconds) as a UTC timestamp.

    Naive values are read in ``timezone`` (an IANA name; default UTC).
    """
    if isinstance(value, bool):
        raise InvalidIncidentError(f"{field} must be a time, got {value!r}", field=field)
    try:
        if isinstance(value, (int, float, np.integer, np.floating)):
            if not math.isfinite(float(value)):
                raise ValueError("not finite")
            ts = pd.Timestamp(float(value), unit="s", tz="UTC")  # an epoch: absolute, never local
        else:
            ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise InvalidIncidentError(
            f"{field} must be an ISO 8601 time or unix seconds, got {value!r}", field=field
        ) from None
    if ts is pd.NaT or pd.isna(ts):
        raise InvalidIncidentError(f"{field} must be a time, got {value!r}", field=field)
    if ts.tzinfo is None and timezone is not None:
        try:
            ts = ts.tz_localize(timezone)
        except (ValueError, TypeError) as exc:
            raise InvalidIncidentError(f"{field} {value!r} cannot be read in {timezone}: {exc}", field=field) from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else ts.isoformat()


def _num(x: float | None) -> float | None:
    """JSON-safe float: NaN/inf become None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Incident:
    """The symptom to explain: ``service``'s ``metric`` went bad at ``start``.

    Parameters
    ----------
    service : str
        The service where the symptom shows (a node of the graph).
    metric : str
        The metric that went bad (``"latency"``, ``"error_rate"``...).
    start : time
        When it went bad (ISO string, datetime or unix seconds; naive = UTC).
    end : time, optional
        End of the incident window; default: end of the data (or
        ``DetectConfig.window`` after ``start``).

    Examples
    --------
    >>> Incident("checkout", "latency", "2024-05-01T12:00:00Z").start.isoformat()
    '2024-05-01T12:00:00+00:00'
    """

    service: str
    metric: str
    start: pd.Timestamp
    end: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        for name in ("service", "metric"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v.strip():
                raise InvalidIncidentError(
                    f"incident.{name} must be a non-empty string, got {v!r}", field=f"incident.{name}"
                )
        object.__setattr__(self, "start", to_utc(self.start, field="incident.start"))
        if self.end is not None:
            end = to_utc(self.end, field="incident.end")
            if end <= self.start:
                raise InvalidIncidentError(
                    f"incident.end ({end.isoformat()}) must be after incident.start ({self.start.isoformat()})",
                    field="incident.end",
                )
            object.__setattr__(self, "end", end)

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "metric": self.metric,
            "start": _iso(self.start),
            "end": _iso(self.end),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, timezone: str | None = None) -> Incident:
        """From ``{service, metric, start, end?}``; times without a zone are read in ``timezone`` (default UTC)."""
        if not isinstance(data, Mapping):
            raise InvalidIncidentError("incident must be an object", field="incident")
        for key in ("service", "metric", "start"):
            if key not in data:
                raise InvalidIncidentError(f"incident.{key} is required", field=f"incident.{key}")
        unknown = sorted(set(data) - {"service", "metric", "start", "end"})
        if unknown:
            raise InvalidIncidentError(f"unknown incident field {unknown[0]!r}", field=f"incident.{unknown[0]}")
        if timezone is None:
            return cls(data["service"], data["metric"], data["start"], data.get("end"))
        end = data.get("end")
        return cls(
            data["service"],
            data["metric"],
            to_utc(data["start"], field="incident.start", timezone=timezone),
            None if end is None else to_utc(end, field="incident.end", timezone=timezone),
        )


@dataclass(frozen=True)
class DataIssue:
    """A data-quality finding the user may need to act on (never silent).

    ``kind`` is one of ``constant``, ``empty``, ``unknown_service``,
    ``gap``, ``non_finite``, ``duplicate_timestamps``, ``short_baseline``,
    ``baseline_incident``, ``clock_repair``, ``missing_symptom``,
    ``symptom_calls_nothing``, ``symptom_skipped`` (a symptom of a
    multi-symptom analysis that could not be analysed), ``naive_timestamps_read_as_utc``,
    ``naive_timestamps_read_in_timezone``; dataset loaders add their own (Nezha:
    ``symptom_fallback``, ``fault_unobserved``), and a metrics fetch from
    Prometheus ``catalog_no_series`` (a catalog entry that selected nothing).
    """

    kind: str
    message: str
    service: str | None = None
    metric: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "service": self.service, "metric": self.metric}


#: Issue kinds that change how to read an answer, with the label each is shown
#: under, in full, wherever a result is summarised (CLI, alert notes, report).
HEADLINE_ISSUES: dict[str, str] = {
    "baseline_incident": "Baseline",
    "symptom_calls_nothing": "Topology",
    "missing_symptom": "Symptom",
    "short_baseline": "Data",
    "short_window": "Data",
    "catalog_no_series": "Catalog",
}


@dataclass(frozen=True)
class SeriesAnomaly:
    """How anomalous one (service, metric) series is in the incident window.

    ``score`` is the deviation in the metric's bad direction, in units of the
    baseline's own extreme deviations: above 1 means beyond anything the
    baseline shows.  ``z`` is the plain robust z-score (median/MAD) of the
    worst point.
    """

    service: str
    metric: str
    score: float
    z: float
    direction: str
    onset: pd.Timestamp | None
    baseline_median: float
    incident_value: float
    baseline_points: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "metric": self.metric,
            "score": _num(self.score),
            "z": _num(self.z),
            "direction": self.direction,
            "onset": _iso(self.onset),
            "baseline_median": _num(self.baseline_median),
            "incident_value": _num(self.incident_value),
            "baseline_points": self.baseline_points,
        }


@dataclass(frozen=True)
class GrangerTest:
    """One Granger test along a call edge, in the direction faults travel.

    ``cause`` is the callee's series, ``effect`` the caller's.  When the test
    was not run, ``p_value`` is None and ``skipped`` says why.
    """

    cause_service: str
    cause_metric: str
    effect_service: str
    effect_metric: str
    lag: int | None = None
    f_stat: float | None = None
    p_value: float | None = None
    q_value: float | None = None
    significant: bool = False
    observations: int = 0
    differenced: bool = False
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cause": {"service": self.cause_service, "metric": self.cause_metric},
            "effect": {"service": self.effect_service, "metric": self.effect_metric},
            "lag": self.lag,
            "f_stat": _num(self.f_stat),
            "p_value": _num(self.p_value),
            "q_value": _num(self.q_value),
            "significant": self.significant,
            "observations": self.observations,
            "differenced": self.differenced,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class Evidence:
    """Why a service is ranked where it is."""

    anomaly_score: float
    anomaly_metric: str
    onset: pd.Timestamp | None
    anomalous_metrics: tuple[SeriesAnomaly, ...] = ()
    granger: tuple[GrangerTest, ...] = ()
    rank_scores: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "anomaly_score": _num(self.anomaly_score),
            "anomaly_metric": self.anomaly_metric,
            "onset": _iso(self.onset),
            "anomalous_metrics": [a.to_dict() for a in self.anomalous_metrics],
            "granger": [g.to_dict() for g in self.granger],
            "rank_scores": {k: _num(v) for k, v in self.rank_scores.items()},
        }


@dataclass(frozen=True)
class Cause:
    """A probable root cause, ranked.

    ``path`` is the propagation path ``[cause, ..., symptom]`` (the way the
    fault travelled, against the call arrows).  ``explains`` lists the
    ``(service, metric)`` symptoms whose ranking names this cause (one for a
    single-symptom analysis; see :mod:`rca.engine.symptoms` for several).
    """

    rank: int
    service: str
    metric: str
    score: float
    confidence: float
    path: tuple[str, ...]
    evidence: Evidence
    explains: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "service": self.service,
            "metric": self.metric,
            "score": _num(self.score),
            "confidence": _num(self.confidence),
            "path": list(self.path),
            "evidence": self.evidence.to_dict(),
            "explains": [{"service": s, "metric": m} for s, m in self.explains],
        }


@dataclass(frozen=True)
class RankedService:
    """One entry of the full ranking: every anomalous candidate, not only the ``top_k`` explained causes."""

    service: str
    score: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "score": _num(self.score), "confidence": _num(self.confidence)}


@dataclass(frozen=True)
class ConfidenceBasis:
    """What the first cause's confidence rests on, and what it means.

    ``raw`` is the ranking's posterior before calibration; ``features`` the
    values the calibration read (:mod:`rca.engine.confidence`);
    ``calibration`` the map's name (``"none"``: the raw posterior);
    ``meaning`` the confidence in words ("right about 4 times in 5 on
    incidents like this"); ``reliability`` how well the map held on systems
    it was not fitted on; ``weak`` what makes this answer weak, in words.
    """

    value: float
    raw: float
    features: Mapping[str, float]
    calibration: str
    meaning: str
    reliability: str
    weak: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": _num(self.value),
            "raw": _num(self.raw),
            "features": {k: _num(v) for k, v in self.features.items()},
            "calibration": self.calibration,
            "meaning": self.meaning,
            "reliability": self.reliability,
            "weak": list(self.weak),
        }


@dataclass(frozen=True)
class RCAResult:
    """The outcome of :func:`rca.analyze`.

    ``status`` is ``"found"`` (``causes`` non-empty) or ``"no_anomaly"``
    (nothing to blame; ``reason`` says why).  ``anomalies`` lists every
    scored series, ``granger`` every test attempted, ``issues`` every data
    problem met on the way.  ``no_cause_probability`` is the share of belief
    left to "there is no root cause, the anomalies are noise" (the causes'
    confidences and it sum to at most one; None when no candidate was
    weighed at all).  ``ranking`` holds every anomalous candidate, best
    first; ``causes`` explains its first ``rank.top_k``.  ``symptoms`` lists every symptom of a multi-symptom
    analysis (``rca.analyze(..., incident=[...])``; ``incident`` is then the
    first of them), and is empty for a single symptom.  ``confidence`` says
    what the first cause's confidence rests on and means (None when no
    cause was named).
    """

    incident: Incident
    status: str
    reason: str
    causes: tuple[Cause, ...]
    symptom: SeriesAnomaly | None
    anomalies: tuple[SeriesAnomaly, ...]
    granger: tuple[GrangerTest, ...]
    issues: tuple[DataIssue, ...]
    window: tuple[pd.Timestamp, pd.Timestamp]
    baseline_window: tuple[pd.Timestamp, pd.Timestamp] | None
    step_seconds: float
    config: Mapping[str, Any]
    timings: Mapping[str, float]
    engine_version: str
    no_cause_probability: float | None = None
    ranking: tuple[RankedService, ...] = ()
    symptoms: tuple[Incident, ...] = ()
    confidence: ConfidenceBasis | None = None

    @property
    def top(self) -> Cause | None:
        """The first-ranked cause, or None."""
        return self.causes[0] if self.causes else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine_version": self.engine_version,
            "incident": self.incident.to_dict(),
            "symptoms": [s.to_dict() for s in self.symptoms],
            "status": self.status,
            "reason": self.reason,
            "no_cause_probability": None if self.no_cause_probability is None else _num(self.no_cause_probability),
            "causes": [c.to_dict() for c in self.causes],
            "ranking": [r.to_dict() for r in self.ranking],
            "confidence": None if self.confidence is None else self.confidence.to_dict(),
            "symptom": None if self.symptom is None else self.symptom.to_dict(),
            "window": {"start": _iso(self.window[0]), "end": _iso(self.window[1])},
            "baseline_window": None
            if self.baseline_window is None
            else {"start": _iso(self.baseline_window[0]), "end": _iso(self.baseline_window[1])},
            "step_seconds": self.step_seconds,
            "anomalies": [a.to_dict() for a in self.anomalies],
            "granger": [g.to_dict() for g in self.granger],
            "issues": [i.to_dict() for i in self.issues],
            "config": dict(self.config),
            "timings": {k: round(float(v), 6) for k, v in self.timings.items()},
        }

    def to_json(self, **kwargs: Any) -> str:
        """JSON text of :meth:`to_dict` (keyword arguments go to ``json.dumps``)."""
        return json.dumps(self.to_dict(), **kwargs)

    def to_frame(self) -> pd.DataFrame:
        """One row per cause: rank, service, metric, score, confidence, path, evidence summary."""
        rows = [
            {
                "rank": c.rank,
                "service": c.service,
                "metric": c.metric,
                "score": c.score,
                "confidence": c.confidence,
                "anomaly_score": c.evidence.anomaly_score,
                "onset": c.evidence.onset,
                "path": " -> ".join(c.path),
            }
            for c in self.causes
        ]
        cols = ["rank", "service", "metric", "score", "confidence", "anomaly_score", "onset", "path"]
        return pd.DataFrame(rows, columns=cols)
