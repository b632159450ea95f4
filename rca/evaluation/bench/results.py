"""What one method did on one case: :class:`CaseResult`.

A result keeps only what the metrics need (the rank of every true cause, the
head of the ranking and its scores), so results stay small when they travel
back from worker processes, even for 2,000-service rankings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rca.evaluation.datasets.base import BenchCase

__all__ = ["CaseResult", "TOP_KEPT"]

#: How many ranked services (and scores) a result keeps.
TOP_KEPT = 10


def _dedupe(ranking: Sequence[str]) -> list[str]:
    """Keep the first occurrence of each service (a service is blamed once)."""
    seen: set[str] = set()
    out: list[str] = []
    for s in ranking:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def _float_or_none(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class CaseResult:
    """One row of ``cases.csv``: a method's answer on a case, and its cost.

    Attributes
    ----------
    dataset, group, case_id, fault_type : str
        Copied from the :class:`~rca.evaluation.datasets.base.BenchCase`.
    method : str
    truth : tuple of str
        The true root causes; empty for a normal window.
    top : tuple of str
        The first :data:`TOP_KEPT` services of the ranking.
    scores : tuple of float or None
        The methods' scores of ``top`` (None where a method has no scores).
    n_ranked : int
        Length of the whole ranking; 0 means the method said "no root cause".
    truth_ranks : tuple of int or None
        1-based rank of each true cause in the whole ranking (None: absent).
    seconds : float or None
        Wall time of the method call alone.
    error : str or None
        ``"TypeName: message"`` when the method raised; the ranking is then empty.
    confidence : float or None
        The method's probability that its first service is the root cause
        (None: the method gives none, or named nobody).
    no_cause : float or None
        The method's probability that there is no root cause (None: not given).
    features : dict or None
        What the engine's confidence was calibrated from
        (:data:`rca.engine.confidence.FEATURES`; None for other methods and
        when no cause was weighed); ``rca calibrate`` refits from them.
    """

    dataset: str
    group: str
    case_id: str
    method: str
    truth: tuple[str, ...]
    fault_type: str | None
    top: tuple[str, ...]
    scores: tuple[float | None, ...]
    n_ranked: int
    truth_ranks: tuple[int | None, ...]
    seconds: float | None
    error: str | None = None
    confidence: float | None = None
    no_cause: float | None = None
    features: Mapping[str, float] | None = None

    @classmethod
    def from_ranking(
        cls,
        *,
        dataset: str,
        group: str,
        case_id: str,
        method: str,
        truth: Sequence[str],
        ranking: Sequence[str],
        scores: Sequence[float | None] | None = None,
        fault_type: str | None = None,
        seconds: float | None = None,
        error: str | None = None,
        confidence: float | None = None,
        no_cause: float | None = None,
        features: Mapping[str, float] | None = None,
    ) -> CaseResult:
        """Build a result from a full ranking (duplicates keep their first place)."""
        if scores is not None and len(scores) == len(ranking):
            first: dict[str, float | None] = {}
            for s, v in zip(ranking, scores):
                first.setdefault(s, _float_or_none(v))
            ranked = list(first)
            kept_scores = tuple(first[s] for s in ranked[:TOP_KEPT])
        else:
            ranked = _dedupe(ranking)
            kept_scores = (None,) * min(len(ranked), TOP_KEPT)
        position = {s: i + 1 for i, s in enumerate(ranked)}
        return cls(
            dataset=dataset,
            group=group,
            case_id=case_id,
            method=method,
            truth=tuple(truth),
            fault_type=fault_type,
            top=tuple(ranked[:TOP_KEPT]),
            scores=kept_scores,
            n_ranked=len(ranked),
            truth_ranks=tuple(position.get(t) for t in truth),
            seconds=seconds,
            error=error,
            confidence=_float_or_none(confidence) if ranked else None,
            no_cause=_float_or_none(no_cause),
            features=None if not features else {str(k): float(v) for k, v in features.items()},
        )

    @classmethod
    def from_case(
        cls,
        case: BenchCase,
        method: str,
        ranking: Sequence[str],
        *,
        scores: Sequence[float | None] | None = None,
        seconds: float | None = None,
        error: str | None = None,
        confidence: float | None = None,
        no_cause: float | None = None,
        features: Mapping[str, float] | None = None,
    ) -> CaseResult:
        """Build a result for ``case`` from a method's full ranking."""
        return cls.from_ranking(
            dataset=case.dataset,
            group=case.group,
            case_id=case.case_id,
            method=method,
            truth=case.root_causes,
            ranking=ranking,
            scores=scores,
            fault_type=case.fault_type,
            seconds=seconds,
            error=error,
            confidence=confidence,
            no_cause=no_cause,
            features=features,
        )

    @property
    def is_normal(self) -> bool:
        """A specificity case: the right answer is "no root cause"."""
        return not self.truth

    @property
    def said_no_cause(self) -> bool:
        """The method ran and returned an empty ranking."""
        return self.error is None and self.n_ranked == 0

    @property
    def rank(self) -> int | None:
        """Best (smallest) rank of any true cause; None when none is ranked."""
        ranks = [r for r in self.truth_ranks if r is not None]
        return min(ranks) if ranks else None

    def hit(self, k: int) -> bool:
        """AC@k hit: some true cause is among the first ``k`` services."""
        r = self.rank
        return r is not None and r <= k

    def recall(self, k: int) -> float:
        """Share of the true causes found among the first ``k`` services."""
        if not self.truth:
            return 0.0
        return sum(1 for r in self.truth_ranks if r is not None and r <= k) / len(self.truth)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "group": self.group,
            "case_id": self.case_id,
            "method": self.method,
            "fault_type": self.fault_type,
            "truth": list(self.truth),
            "rank": self.rank,
            "truth_ranks": list(self.truth_ranks),
            "top5": list(self.top[:5]),
            "scores": list(self.scores[:5]),
            "n_ranked": self.n_ranked,
            "seconds": self.seconds,
            "error": self.error,
            "confidence": self.confidence,
            "no_cause": self.no_cause,
            "features": None if self.features is None else dict(self.features),
        }
