"""Rebuild an :class:`~rca.engine.types.RCAResult` from its ``to_dict()`` form.

The HTTP service stores results as JSON; the report page is drawn from the
dataclasses, so the route turns the stored document back into them here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from rca.engine.errors import InvalidInputError
from rca.engine.types import (
    Cause,
    ConfidenceBasis,
    DataIssue,
    Evidence,
    GrangerTest,
    Incident,
    RankedService,
    RCAResult,
    SeriesAnomaly,
    to_utc,
)

__all__ = ["result_from_dict"]


def result_from_dict(data: Mapping[str, Any]) -> RCAResult:
    """The :class:`RCAResult` whose ``to_dict()`` is ``data``.

    ``None`` numbers (NaN/inf in the original) come back as NaN.

    Raises
    ------
    InvalidInputError
        When ``data`` is not a result document; ``field`` names the first bad key.

    Examples
    --------
    >>> result_from_dict(result.to_dict()).to_dict() == result.to_dict()  # doctest: +SKIP
    True
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"a result document must be an object, got {type(data).__name__}", field="result")
    try:
        win = data["window"]
        base = data.get("baseline_window")
        return RCAResult(
            incident=Incident.from_dict(data["incident"]),
            status=str(data["status"]),
            reason=str(data.get("reason") or ""),
            causes=tuple(_cause(c) for c in data.get("causes") or ()),
            symptom=None if data.get("symptom") is None else _anomaly(data["symptom"]),
            anomalies=tuple(_anomaly(a) for a in data.get("anomalies") or ()),
            granger=tuple(_granger(g) for g in data.get("granger") or ()),
            issues=tuple(DataIssue(**i) for i in data.get("issues") or ()),
            window=(_ts(win["start"]), _ts(win["end"])),
            baseline_window=None if base is None else (_ts(base["start"]), _ts(base["end"])),
            step_seconds=float(data.get("step_seconds") or 0.0),
            config=dict(data.get("config") or {}),
            timings=dict(data.get("timings") or {}),
            engine_version=str(data.get("engine_version") or ""),
            no_cause_probability=None if data.get("no_cause_probability") is None else float(data["no_cause_probability"]),
            ranking=tuple(
                RankedService(str(r["service"]), float(r["score"]), float(r["confidence"])) for r in data.get("ranking") or ()
            ),
            symptoms=tuple(Incident.from_dict(x) for x in data.get("symptoms") or ()),
            confidence=_basis(data.get("confidence")),
        )
    except KeyError as exc:
        raise InvalidInputError(f"the result document lacks the key {exc.args[0]!r}", field=f"result.{exc.args[0]}") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"the result document is malformed: {exc}", field="result") from None


def _basis(d: Mapping[str, Any] | None) -> ConfidenceBasis | None:
    if d is None:
        return None
    return ConfidenceBasis(
        value=_f(d.get("value")), raw=_f(d.get("raw")), features={str(k): _f(v) for k, v in (d.get("features") or {}).items()},
        calibration=str(d.get("calibration") or ""), meaning=str(d.get("meaning") or ""),
        reliability=str(d.get("reliability") or ""), weak=tuple(str(w) for w in d.get("weak") or ()),
    )


def _ts(v: Any) -> pd.Timestamp:
    return to_utc(v, field="result.time")


def _opt_ts(v: Any) -> pd.Timestamp | None:
    return None if v is None else _ts(v)


def _f(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _anomaly(d: Mapping[str, Any]) -> SeriesAnomaly:
    return SeriesAnomaly(
        service=d["service"],
        metric=d["metric"],
        score=_f(d.get("score")),
        z=_f(d.get("z")),
        direction=d.get("direction", "up"),
        onset=_opt_ts(d.get("onset")),
        baseline_median=_f(d.get("baseline_median")),
        incident_value=_f(d.get("incident_value")),
        baseline_points=int(d.get("baseline_points") or 0),
    )


def _granger(d: Mapping[str, Any]) -> GrangerTest:
    return GrangerTest(
        cause_service=d["cause"]["service"],
        cause_metric=d["cause"]["metric"],
        effect_service=d["effect"]["service"],
        effect_metric=d["effect"]["metric"],
        lag=d.get("lag"),
        f_stat=d.get("f_stat"),
        p_value=d.get("p_value"),
        q_value=d.get("q_value"),
        significant=bool(d.get("significant", False)),
        observations=int(d.get("observations") or 0),
        differenced=bool(d.get("differenced", False)),
        skipped=d.get("skipped"),
    )


def _cause(d: Mapping[str, Any]) -> Cause:
    ev = d.get("evidence") or {}
    evidence = Evidence(
        anomaly_score=_f(ev.get("anomaly_score")),
        anomaly_metric=ev.get("anomaly_metric", d.get("metric", "")),
        onset=_opt_ts(ev.get("onset")),
        anomalous_metrics=tuple(_anomaly(a) for a in ev.get("anomalous_metrics") or ()),
        granger=tuple(_granger(g) for g in ev.get("granger") or ()),
        rank_scores={k: _f(v) for k, v in (ev.get("rank_scores") or {}).items()},
    )
    return Cause(
        rank=int(d["rank"]),
        service=d["service"],
        metric=d["metric"],
        score=_f(d.get("score")),
        confidence=_f(d.get("confidence")),
        path=tuple(d.get("path") or ()),
        evidence=evidence,
        explains=tuple((x["service"], x["metric"]) for x in d.get("explains") or ()),
    )
