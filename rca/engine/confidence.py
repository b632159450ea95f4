"""Confidence: from the ranking's posterior to a probability that holds on unseen incidents.

The ranking's posterior (:mod:`rca.engine.rank`) orders hypotheses well but is
not a probability: it is too low where the evidence is clean and too high
where many series move at once or the baseline is short.  This module turns
it into one, from features that mean the same on any system:

=====================  ==============================================================
feature                what it measures
=====================  ==============================================================
``raw_logit``          the ranking's posterior of the first cause (log-odds)
``null_logit``         the ranking's belief in "no root cause" (log-odds)
``margin``             first cause's log-score over the runner-up (or the null)
``candidates``         log(1 + anomalous candidates)
``moved_share``        share of all scored series that moved at all
``symptom_strength``   log(symptom score / threshold), clipped to [-3, 3]
``quiet_symptom``      1 when the symptom sits inside its normal range
``symptom_missing``    1 when the symptom series was not found
``deepest``            1 when none of the first cause's dependencies is anomalous
``explained_share``    share of the other anomalous services the first cause explains
``own_strength``       the first cause's own anomaly log-odds (/10, clipped)
``granger``            the first cause's Granger support (tests up minus tests down)
``modalities``         how many kinds of evidence (metrics, spans, logs) moved at the cause
``short_baseline``     1 when the symptom's baseline is shorter than ``detect.short_baseline_points``
``short_window``       1 when the incident window holds fewer than 3 points
``borrowed_baseline``  1 when the normal data came from another period (``baseline=``)
``missing_share``      share of missing values of the measured series (not span or log series)
``baseline_points``    log(1 + median baseline points per series)
``window_points``      log(1 + points in the incident window)
``agreement``          share of the ranking's pieces of evidence that alone would also put the cause first
``same_kind``          1 when the cause moved in the symptom's kind of signal (latency, errors, ...)
``symptom_is_cause``   1 when the first cause is the symptom's own service
=====================  ==============================================================

A :class:`CalibrationMap` (a logistic regression over the features in fixed
units, fitted by :mod:`rca.evaluation.bench.confidence_fit` and shipped as
``calibration.json`` beside this module) gives the probability that the first
cause is right.  "No root cause" keeps the ranking's own share (a first cause
less likely right does not make the incident less real), and the other
candidates share the rest in the ranking's proportions: every answer's
confidences and ``no_cause_probability`` sum to at most one.

Inference is a dot product and a logistic function in numpy; only fitting
needs scipy's optimizer, in the evaluation layer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rca.engine.errors import InvalidConfigError

__all__ = [
    "DEFAULT_MAP_PATH",
    "FEATURES",
    "FORMAT",
    "FORMAT_VERSION",
    "CalibrationMap",
    "calibrated",
    "load_map",
    "meaning",
    "plain_odds",
]

FEATURES: tuple[str, ...] = (
    "raw_logit",
    "null_logit",
    "margin",
    "candidates",
    "moved_share",
    "symptom_strength",
    "quiet_symptom",
    "symptom_missing",
    "deepest",
    "explained_share",
    "own_strength",
    "granger",
    "modalities",
    "short_baseline",
    "short_window",
    "borrowed_baseline",
    "missing_share",
    "baseline_points",
    "window_points",
    "agreement",
    "same_kind",
    "symptom_is_cause",
)

#: The ``format`` field of a calibration file, and the version this engine reads.
FORMAT = "rca-calibration"
FORMAT_VERSION = 1

DEFAULT_MAP_PATH = Path(__file__).with_name("calibration.json")

_EPS = 1e-4


def logit(p: float) -> float:
    p = min(max(float(p), _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class LogisticModel:
    """``P = 1 / (1 + exp(-(intercept + coef . (clip(x, lo, hi) - center) / scale)))``.

    ``lo`` and ``hi`` are the range of each feature the fit saw (empty: no clipping).
    """

    features: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    lo: tuple[float, ...] = ()
    hi: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.center) == len(self.scale) == len(self.coef) == n):
            raise InvalidConfigError(
                "calibration model: features, center, scale and coef must have the same length", field="calibration"
            )
        unknown = sorted(set(self.features) - set(FEATURES))
        if unknown:
            raise InvalidConfigError(
                f"calibration model: unknown feature {unknown[0]!r}; known: {list(FEATURES)}", field="calibration"
            )
        if (self.lo or self.hi) and not (len(self.lo) == len(self.hi) == n):
            raise InvalidConfigError("calibration model: lo and hi must have one value per feature", field="calibration")
        if any(not s > 0 for s in self.scale):
            raise InvalidConfigError("calibration model: every scale must be positive", field="calibration")

    def probability(self, features: Mapping[str, float]) -> float:
        x = np.array([float(features.get(f, 0.0)) for f in self.features])
        if self.lo:
            x = np.clip(x, np.asarray(self.lo), np.asarray(self.hi))
        z = self.intercept + float(np.dot(np.asarray(self.coef), (x - np.asarray(self.center)) / np.asarray(self.scale)))
        return float(1.0 / (1.0 + math.exp(-min(max(z, -30.0), 30.0))))

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "center": list(self.center),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "lo": list(self.lo),
            "hi": list(self.hi),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogisticModel:
        try:
            return cls(
                features=tuple(str(f) for f in data["features"]),
                center=tuple(float(v) for v in data["center"]),
                scale=tuple(float(v) for v in data["scale"]),
                coef=tuple(float(v) for v in data["coef"]),
                intercept=float(data["intercept"]),
                lo=tuple(float(v) for v in data.get("lo") or ()),
                hi=tuple(float(v) for v in data.get("hi") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidConfigError(f"calibration model is malformed: {exc}", field="calibration") from None


@dataclass(frozen=True)
class CalibrationMap:
    """A logistic model of P(first cause right), with how it was fitted.

    ``fitted`` records the cases and systems behind the fit and the
    leave-one-system-out reliability measured when it was made
    (``held_out_ece``: the largest, over the systems, of the mean gap
    between confidence and accuracy on a system the fit never saw), so
    every answer can say how far to trust it.
    """

    top: LogisticModel
    fitted: Mapping[str, Any] = field(default_factory=dict)
    name: str = "custom"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model": "logistic",
            "top": self.top.to_dict(),
            "fitted": dict(self.fitted),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str = "custom") -> CalibrationMap:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise InvalidConfigError(f"not a calibration file (its 'format' must be {FORMAT!r})", field="calibration")
        if data.get("version") != FORMAT_VERSION:
            raise InvalidConfigError(
                f"calibration file version {data.get('version')!r} is not {FORMAT_VERSION}, the one this engine reads; "
                "refit it with `rca calibrate`",
                field="calibration",
            )
        if data.get("model") != "logistic":
            raise InvalidConfigError(f"calibration model {data.get('model')!r} is not 'logistic'", field="calibration")
        if data.get("no_cause") is not None:
            raise InvalidConfigError(
                "calibration file has a 'no_cause' model; this engine keeps the ranking's own no-cause probability "
                "and reads none: refit it with `rca calibrate`",
                field="calibration",
            )
        return cls(
            top=LogisticModel.from_dict(data["top"]) if "top" in data else _missing("top"),
            fitted=dict(data.get("fitted") or {}),
            name=name,
        )

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return out

    def reliability(self) -> str:
        """How far to trust the map, in words, from what its fit measured."""
        f = self.fitted
        n, systems = f.get("cases"), f.get("systems") or []
        ece = f.get("held_out_ece")
        if not n:
            return f"calibration {self.name!r}: no record of how it was fitted"
        text = f"calibrated on {n} incidents of {len(systems)} system(s)"
        if ece is not None:
            text += (
                f"; measured on each system left out of the fit in turn, its confidence was off by at most "
                f"{float(ece):.2f} on average (expected calibration error)"
            )
        return text


def _missing(name: str) -> Any:
    raise InvalidConfigError(f"calibration file has no {name!r} model", field="calibration")


@lru_cache(maxsize=16)
def _load_path(path: str, mtime: float) -> CalibrationMap:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidConfigError(f"rank.calibration: cannot read {path!r}: {exc}", field="rank.calibration") from None
    name = "default" if Path(path) == DEFAULT_MAP_PATH else path
    return CalibrationMap.from_dict(data, name=name)


def load_map(spec: str) -> CalibrationMap | None:
    """The map ``rank.calibration`` names: ``"default"`` (shipped), ``"none"`` (raw posterior) or a file path."""
    if spec == "none":
        return None
    path = DEFAULT_MAP_PATH if spec == "default" else Path(spec)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise InvalidConfigError(
            f"rank.calibration {spec!r}: no such file (give 'default', 'none' or the path of a file "
            "written by `rca calibrate`)",
            field="rank.calibration",
        ) from None
    return _load_path(str(path), mtime)


def calibrated(
    raw: Sequence[float], raw_no_cause: float, features: Mapping[str, float], cmap: CalibrationMap | None
) -> tuple[list[float], float]:
    """Calibrated confidences of the ranked candidates (best first) and of "no root cause".

    The first cause gets the map's probability; "no root cause" the ranking's
    share (bounded so the two sum to at most one); the other candidates share the rest in the ranking's proportions
    (when it gave them nothing, what is left is belief in a cause the ranking
    did not name, and the sum stays below one).  Without a map the raw
    values return.
    """
    raw = [float(r) for r in raw]
    if cmap is None or not raw:
        return raw, float(raw_no_cause)
    top = cmap.top.probability(features)
    rest_raw = sum(raw[1:])
    # A first cause that is less likely right does not make "no root cause" likelier: the belief it loses
    # goes to the other causes (named or not), and "no root cause" keeps the ranking's own share.
    null = min(float(raw_no_cause), 1.0 - top)
    left = max(0.0, 1.0 - top - null)
    # With nothing ranked beside the first cause, what is left is belief in a cause the ranking did not name.
    others = [left * r / rest_raw for r in raw[1:]] if rest_raw > 0 else [0.0] * (len(raw) - 1)
    return [top, *others], null


#: Simple odds an on-call engineer reads at a glance: (numerator, denominator).
_PLAIN = ((1, 20), (1, 10), (1, 5), (1, 4), (1, 3), (2, 5), (1, 2), (3, 5), (2, 3), (3, 4), (4, 5), (9, 10), (19, 20))


def plain_odds(p: float) -> str:
    """``0.79`` -> ``"about 4 times in 5"``: the nearest simple fraction, in words."""
    a, b = min(_PLAIN, key=lambda nb: abs(nb[0] / nb[1] - p))
    if p < 0.04:
        return "less than 1 time in 20"
    if p > 0.97:
        return "more than 19 times in 20"
    return f"about {a} time{'s' if a > 1 else ''} in {b}"


def meaning(p: float) -> str:
    """What a first-cause confidence ``p`` means, in words: ``"right about 4 times in 5 on incidents like this"``."""
    return f"right {plain_odds(p)} on incidents like this"
