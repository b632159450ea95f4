"""Fit and measure the map from an analysis' features to a confidence (see :mod:`rca.engine.confidence`).

The engine's first-cause confidence is a logistic regression over features
that mean the same on any system.  This module

* reads the samples from ``rca bench`` results (``cases.csv``, or the results
  of a run in memory): every case where the engine named a cause, with its
  features, whether the first cause was right, and whether the case was a
  normal window;
* fits the map (:func:`fit_map`), weighting every *system* equally so the
  one with the most cases does not decide it alone;
* measures it honestly (:func:`leave_one_system_out`): fitted on every system
  but one, scored on the one left out, for each system in turn.  That
  held-out figure is the one the README shows and the one the shipped map
  records in its ``fitted`` block.

The fit is L2-penalised logistic regression by maximum likelihood with
``scipy.optimize.minimize`` (L-BFGS-B).  We use it instead of statsmodels'
``GLM.fit_regularized`` or scikit-learn's ``LogisticRegression`` because it
takes per-sample weights *and* a sign bound together: the coefficient of the
ranking's own posterior (``raw_logit``) is held at or above zero, so the
calibrated confidence can never fall as the raw one rises (the monotonicity
the tests pin).  Neither library offers that bound.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from rca.engine.confidence import FEATURES, CalibrationMap, LogisticModel, calibrated
from rca.engine.errors import InvalidInputError
from rca.evaluation.bench.metrics import reliability
from rca.evaluation.bench.results import CaseResult

__all__ = [
    "CalibrationSample",
    "HeldOut",
    "MONOTONE",
    "SIGNS",
    "fit_map",
    "bench_commands",
    "fit_logistic",
    "leave_one_system_out",
    "read_cases_csv",
    "samples_from_results",
    "system_of",
]

#: The sign each feature's coefficient is held to (+1: at or above zero, -1: at or below, 0: free).  They
#: state what every feature means on any system: more belief in the raw answer, a wider margin, a
#: cause whose own dependencies are normal never lower the confidence; a quiet or missing symptom,
#: short or gappy data and many series moving at once never raise it.  A fit on some systems can
#: then not learn a direction from an accident of their cases that would mislead on another system.
SIGNS: dict[str, int] = {
    "raw_logit": 1, "null_logit": -1, "margin": 1, "candidates": -1, "moved_share": -1,
    "symptom_strength": 1, "quiet_symptom": -1, "symptom_missing": -1, "deepest": 1, "explained_share": 1,
    "own_strength": 1, "granger": 1, "modalities": 1, "short_baseline": -1, "short_window": -1,
    "borrowed_baseline": 0, "missing_share": -1, "baseline_points": 1, "window_points": 1,
    "agreement": 1, "same_kind": 1, "symptom_is_cause": 0,
}
#: Features whose coefficient is held at or above zero (the monotonicity the tests pin).
MONOTONE: tuple[str, ...] = tuple(f for f, sign in SIGNS.items() if sign > 0)

#: The unit each feature is measured in for the fit: the penalty then acts per meaningful step (ten
#: points of the series moving, ten points missing, one log-odds), not per standard deviation of
#: whatever systems the fit saw; a feature that barely varies there cannot get a huge coefficient
#: that misleads on a system where it varies more.
UNITS: dict[str, float] = {"moved_share": 0.1, "missing_share": 0.1, "explained_share": 0.25}

#: The L2 penalty per unit of (equal-system) sample weight; small, so that it only tames separable data.
DEFAULT_PENALTY = 0.05


def system_of(dataset: str) -> str:
    """The system a bench dataset measures: ``inject`` cases are PetShop's, every synthetic family is ``synthetic``.

    The leave-one-system-out split is by system, not by dataset: a fault
    injected into PetShop's normal data is still PetShop.
    """
    name = dataset.split("|", 1)[0].split("#", 1)[0]
    if name.startswith("inject") or name.startswith("petshop"):
        return "petshop"
    if name.startswith("nezha"):
        return "nezha"
    if name.startswith(("synthetic", "sem", "var", "layered", "chain", "tree", "random", "family")):
        return "synthetic"
    return name


@dataclass(frozen=True)
class CalibrationSample:
    """One case where the engine named a cause."""

    system: str
    dataset: str
    case_id: str
    features: Mapping[str, float]
    right: bool  # the first cause is a true cause
    normal: bool  # the case is a normal window (no true cause)
    raw_confidence: float
    raw_no_cause: float


def samples_from_results(
    results: Iterable[CaseResult], *, method: str = "engine", system: Callable[[str], str] = system_of
) -> list[CalibrationSample]:
    """The calibration samples of ``method``'s results (rows without features are skipped)."""
    out: list[CalibrationSample] = []
    seen: set[tuple[str, str]] = set()
    for r in results:
        if r.method != method or not r.features or not r.top or (r.dataset, r.case_id) in seen:
            continue  # the same case in two runs (a bench and its --robustness run) counts once
        seen.add((r.dataset, r.case_id))
        f = {k: float(r.features.get(k, 0.0)) for k in FEATURES}
        raw = 1.0 / (1.0 + math.exp(-f["raw_logit"]))
        raw_null = 1.0 / (1.0 + math.exp(-f["null_logit"]))
        out.append(CalibrationSample(system(r.dataset), r.dataset, r.case_id, f, r.top[0] in r.truth, r.is_normal,
                                     raw, raw_null))
    return out


def read_cases_csv(path: str | Path) -> list[CaseResult]:
    """The results of a bench run from its ``cases.csv`` (a file, or the folder holding it)."""
    p = Path(path)
    if p.is_dir():
        p = p / "cases.csv"
    if not p.is_file():
        raise InvalidInputError(f"--results: no cases.csv at {str(path)!r}", field="results")
    out: list[CaseResult] = []
    with open(p, newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            try:
                top = json.loads(row["top5"])
                out.append(CaseResult.from_ranking(
                    dataset=row["dataset"], group=row["group"], case_id=row["case_id"], method=row["method"],
                    truth=json.loads(row["truth"]), ranking=top + [""] * max(0, int(row["n_ranked"]) - len(top)),
                    fault_type=row.get("fault_type") or None, error=row.get("error") or None,
                    confidence=float(row["confidence"]) if row.get("confidence") else None,
                    no_cause=float(row["no_cause"]) if row.get("no_cause") else None,
                    features=json.loads(row["features"]) if row.get("features") else None,
                ))
            except (KeyError, ValueError, TypeError) as exc:
                raise InvalidInputError(f"--results: {p}: line {i} is not a bench result row ({exc})",
                                        field="results") from None
    return out


def _standardize(x: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), np.array([UNITS.get(n, 1.0) for n in names])


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None = None,
    *,
    names: Sequence[str] = FEATURES,
    penalty: float = DEFAULT_PENALTY,
    signs: Mapping[str, int] | None = None,
) -> LogisticModel:
    """Weighted, L2-penalised logistic regression of ``y`` on the columns of ``x`` in their :data:`UNITS`.

    The model keeps the range of every column it saw (``lo``, ``hi``): where an
    analysis lies beyond it, the map reads the nearest value it was fitted on
    rather than extrapolating a line into data it never saw.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    w = w / w.sum() * len(y)
    center, scale = _standardize(x, names)
    z = (x - center) / scale
    constant = x.std(axis=0) <= 1e-9
    n, k = z.shape

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        b, beta = theta[0], theta[1:]
        eta = b + z @ beta
        # log(1 + e^eta) - y*eta, stably
        nll = np.sum(w * (np.logaddexp(0.0, eta) - y * eta)) / n + 0.5 * penalty * float(beta @ beta)
        p = 1.0 / (1.0 + np.exp(-eta))
        g = w * (p - y) / n
        return nll, np.concatenate([[g.sum()], z.T @ g + penalty * beta])

    base = float(np.clip(np.average(y, weights=w), 1e-3, 1 - 1e-3))
    theta0 = np.zeros(k + 1)
    theta0[0] = math.log(base / (1 - base))
    signs = SIGNS if signs is None else signs

    def bound(j: int) -> tuple[float | None, float | None]:
        sign = signs.get(names[j], 0)
        return (0.0, 0.0) if constant[j] else (0.0, None) if sign > 0 else (None, 0.0) if sign < 0 else (None, None)

    bounds = [(None, None)] + [bound(j) for j in range(k)]
    fit = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
    theta = fit.x
    return LogisticModel(tuple(names), tuple(float(c) for c in center), tuple(float(s) for s in scale),
                         tuple(float(c) for c in theta[1:]), float(theta[0]),
                         lo=tuple(float(v) for v in x.min(axis=0)), hi=tuple(float(v) for v in x.max(axis=0)))


def _matrix(samples: Sequence[CalibrationSample]) -> np.ndarray:
    return np.array([[s.features[f] for f in FEATURES] for s in samples], dtype=float).reshape(len(samples), len(FEATURES))


def _system_weights(samples: Sequence[CalibrationSample]) -> np.ndarray:
    """Every system weighs the same; within one, its cases as given and re-presented (``rca bench
    --robustness``: ``dataset[presentation]``) weigh half each, so the many re-presented copies teach
    what short or gappy data does without outvoting the cases as they came."""
    counts: dict[tuple[str, bool], int] = {}
    for s in samples:
        key = (s.system, "[" in s.dataset)
        counts[key] = counts.get(key, 0) + 1
    out = []
    for s in samples:
        both = (s.system, True) in counts and (s.system, False) in counts
        out.append((0.5 if both else 1.0) / counts[(s.system, "[" in s.dataset)])
    return np.array(out)


def _fit(samples: Sequence[CalibrationSample], penalty: float) -> CalibrationMap:
    x, w = _matrix(samples), _system_weights(samples)
    top = fit_logistic(x, np.array([s.right for s in samples], dtype=float), w, penalty=penalty)
    # "No root cause" keeps its share of what the first cause leaves, in the ranking's proportions: the
    # normal windows where the engine still named a cause are too few (a few dozen, on one system) to fit
    # a second model that would hold elsewhere.
    return CalibrationMap(top=top)


def apply_map(cmap: CalibrationMap | None, sample: CalibrationSample) -> tuple[float, float]:
    """(first-cause confidence, no-cause probability) of ``sample`` under ``cmap`` (None: the raw ones)."""
    rest = max(0.0, 1.0 - sample.raw_confidence - sample.raw_no_cause)
    conf, null = calibrated([sample.raw_confidence, rest], sample.raw_no_cause, sample.features, cmap)
    return conf[0], null


@dataclass(frozen=True)
class HeldOut:
    """A system's samples scored by a map fitted without them, beside the raw confidence.

    ``cases`` says which of its samples: ``"as given"`` (the cases as their loader gives them) or
    ``"re-presented"`` (the same cases handed over the other ways of ``rca bench --robustness``).
    """

    system: str
    n: int
    raw: dict[str, Any]
    calibrated: dict[str, Any]
    no_cause_raw: dict[str, Any]
    no_cause_calibrated: dict[str, Any]
    cases: str = "as given"

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "cases": self.cases, "n": self.n, "raw": self.raw,
                "calibrated": self.calibrated, "no_cause_raw": self.no_cause_raw,
                "no_cause_calibrated": self.no_cause_calibrated}


def _scored(samples: Sequence[CalibrationSample], cmap: CalibrationMap | None) -> tuple[np.ndarray, np.ndarray]:
    pairs = [apply_map(cmap, s) for s in samples]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _held_out(system: str, cases: str, test: Sequence[CalibrationSample], cmap: CalibrationMap | None) -> HeldOut:
    right = np.array([s.right for s in test], dtype=float)
    normal = np.array([s.normal for s in test], dtype=float)
    raw_c, raw_n = _scored(test, None)
    cal_c, cal_n = _scored(test, cmap)
    return HeldOut(system, len(test), reliability(raw_c, right), reliability(cal_c, right),
                   reliability(raw_n, normal), reliability(cal_n, normal), cases)


def leave_one_system_out(
    samples: Sequence[CalibrationSample], *, penalty: float = DEFAULT_PENALTY
) -> list[HeldOut]:
    """For each system: fit on the others, measure on it (raw and calibrated, first cause and no cause),
    on its cases as given and, when there are any, on its re-presented ones separately."""
    out: list[HeldOut] = []
    for held in sorted({s.system for s in samples}):
        train = [s for s in samples if s.system != held]
        cmap = _fit(train, penalty) if len(train) >= 10 and len({s.right for s in train}) == 2 else None
        given = [s for s in samples if s.system == held and "[" not in s.dataset]
        again = [s for s in samples if s.system == held and "[" in s.dataset]
        out += [_held_out(held, name, rows, cmap) for name, rows in (("as given", given), ("re-presented", again)) if rows]
    return out


def bench_commands(path: str | Path) -> list[str]:
    """The ``rca bench`` command that wrote the results at ``path`` (from its ``summary.json``), if recorded."""
    p = Path(path)
    summary = (p if p.is_dir() else p.parent) / "summary.json"
    try:
        argv = json.loads(summary.read_text(encoding="utf-8"))["meta"]["argv"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return ["rca " + " ".join(str(a) for a in argv)]


def fit_map(
    samples: Sequence[CalibrationSample],
    *,
    penalty: float = DEFAULT_PENALTY,
    source: str = "",
    name: str = "custom",
    runs: Sequence[str] = (),
) -> CalibrationMap:
    """The map fitted on every sample, with the leave-one-system-out reliability measured on the way.

    ``source`` is what ``rca calibrate`` was given; ``runs`` the bench commands behind those results.
    """
    if len(samples) < 10:
        raise InvalidInputError(
            f"calibration needs at least 10 cases where the engine named a cause, got {len(samples)}", field="results"
        )
    if len({s.right for s in samples}) < 2:
        raise InvalidInputError(
            "calibration needs cases where the first cause was right and cases where it was wrong; "
            f"all {len(samples)} are {'right' if samples[0].right else 'wrong'}",
            field="results",
        )
    cmap = _fit(samples, penalty)
    held = leave_one_system_out(samples, penalty=penalty) if len({s.system for s in samples}) > 1 else []
    eces = [h.calibrated["ece"] for h in held if h.calibrated["ece"] is not None and h.cases == "as given"]
    systems: dict[str, int] = {}
    for s in samples:
        systems[s.system] = systems.get(s.system, 0) + 1
    fitted = {
        "cases": len(samples),
        "systems": systems,
        "penalty": penalty,
        "command": f"rca calibrate {source}".strip(),
        "bench_runs": list(runs),
        "held_out_ece": max(eces) if eces else None,
        "held_out": [h.to_dict() for h in held],
    }
    return CalibrationMap(top=cmap.top, fitted=fitted, name=name)
