"""Grouping quality: pairwise precision, recall and F1 of "these two alerts are in the same incident"."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

__all__ = ["PairScores", "pairwise_scores"]


@dataclass(frozen=True)
class PairScores:
    """Pair counts and their ratios (None when a ratio has no pairs to count)."""

    true_pairs: int  # pairs of alerts of the same fault
    predicted_pairs: int  # pairs of alerts grouped into one incident
    both: int  # pairs in both

    @property
    def precision(self) -> float | None:
        return self.both / self.predicted_pairs if self.predicted_pairs else None

    @property
    def recall(self) -> float | None:
        return self.both / self.true_pairs if self.true_pairs else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return 0.0 if self.true_pairs and not self.both else None
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, float | int | None]:
        return {"true_pairs": self.true_pairs, "predicted_pairs": self.predicted_pairs, "both": self.both,
                "precision": self.precision, "recall": self.recall, "f1": self.f1}  # fmt: skip


def _pairs(counts: Counter) -> int:
    return sum(n * (n - 1) // 2 for n in counts.values())


def pairwise_scores(truth: Mapping[Hashable, Hashable], predicted: Mapping[Hashable, Hashable]) -> PairScores:
    """Pairwise scores over the items of ``truth`` (item -> true group; item -> predicted group).

    An item missing from ``predicted`` counts as a group of its own (an alert that was lost).

    >>> s = pairwise_scores({1: "a", 2: "a", 3: "b"}, {1: 7, 2: 7, 3: 7})
    >>> (s.true_pairs, s.predicted_pairs, s.both, round(s.precision, 3), s.recall)
    (1, 3, 1, 0.333, 1.0)
    """
    items = list(truth)
    pred = {i: predicted.get(i, ("lost", i)) for i in items}
    return PairScores(
        _pairs(Counter(truth[i] for i in items)),
        _pairs(Counter(pred[i] for i in items)),
        _pairs(Counter((truth[i], pred[i]) for i in items)),
    )
