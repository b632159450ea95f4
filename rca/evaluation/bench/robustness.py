"""How much the answer depends on how the data is handed over.

``rca bench --robustness`` runs each case as the loader presents it and in
every variation of :mod:`rca.evaluation.datasets.represent`; their results
carry the dataset name ``"<dataset>[<variation>]"``.  This module sets the
variations side by side: AC@1, AC@3 and specificity per variation, and per
dataset × group the worst and the best variation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rca.evaluation.bench.metrics import ALL_GROUPS, ac_at_k, specificity
from rca.evaluation.bench.results import CaseResult

__all__ = ["AS_GIVEN", "RobustnessRow", "split_dataset", "summarize_robustness"]

AS_GIVEN = "as_given"
_LABEL = re.compile(r"^(?P<base>.*)\[(?P<variation>[^\]]+)\]$")


def split_dataset(name: str) -> tuple[str, str]:
    """``"petshop[window=5]"`` -> ``("petshop", "window=5")``; a plain name is ``as_given``."""
    m = _LABEL.match(name)
    return (m.group("base"), m.group("variation")) if m else (name, AS_GIVEN)


@dataclass(frozen=True)
class RobustnessRow:
    """One dataset × group × method: each variation's AC@1 / AC@3 / specificity, and the spread."""

    dataset: str
    group: str
    method: str
    n: int
    by_variation: dict[str, dict[str, float | None]]
    worst: str | None
    worst_ac1: float | None
    best: str | None
    best_ac1: float | None

    @property
    def spread(self) -> float | None:
        if self.worst_ac1 is None or self.best_ac1 is None:
            return None
        return self.best_ac1 - self.worst_ac1

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "spread": self.spread}


def summarize_robustness(results: Sequence[CaseResult]) -> list[RobustnessRow]:
    """One row per base dataset × group (and all groups) × method, when more than one variation ran."""
    cells: dict[tuple[str, str, str], dict[str, list[CaseResult]]] = {}
    for r in results:
        base, variation = split_dataset(r.dataset)
        for group in (ALL_GROUPS, r.group):
            cells.setdefault((base, group, r.method), {}).setdefault(variation, []).append(r)
    out: list[RobustnessRow] = []
    for (base, group, method), per in cells.items():
        if len(per) < 2:
            continue
        stats = {
            v: {"ac1": ac_at_k(rows, 1), "ac3": ac_at_k(rows, 3), "specificity": specificity(rows)}
            for v, rows in per.items()
        }
        scored = {v: s["ac1"] for v, s in stats.items() if s["ac1"] is not None}
        worst = min(scored, key=lambda v: (scored[v], v)) if scored else None
        best = max(scored, key=lambda v: (scored[v], v)) if scored else None
        n = sum(not r.is_normal for r in per.get(AS_GIVEN, next(iter(per.values()))))
        out.append(
            RobustnessRow(
                base, group, method, n, stats, worst, scored.get(worst) if worst else None,
                best, scored.get(best) if best else None,
            )
        )
    out.sort(key=lambda row: (row.dataset, row.group != ALL_GROUPS, row.group, row.method))
    return out
