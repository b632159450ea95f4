"""The unit of benchmarking: one incident with its inputs and its known answer.

Every dataset loader (``petshop``, ``nezha``, ``synthetic``) yields
:class:`BenchCase` objects; ``rca bench`` runs methods on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rca.engine.errors import InvalidInputError
from rca.engine.types import DataIssue, Incident
from topology import ServiceGraph

__all__ = ["BenchCase", "compact_names", "select_named"]


def compact_names(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``service`` and ``metric`` columns as categoricals.

    Long metrics repeat a few hundred names over many rows: as categories
    they take a fraction of the memory, and every consumer that hashes or
    groups them (the engine's baseline cache, ingest) works on small codes.
    """
    return frame.astype({"service": "category", "metric": "category"})


@dataclass(frozen=True)
class BenchCase:
    """One incident to analyse, with the truth.

    Attributes
    ----------
    case_id : str
        Unique within its dataset (``"low_traffic/train/issue_3"``).
    dataset : str
        ``"petshop"``, ``"nezha"``, ``"synthetic"``...
    group : str
        Reporting group inside the dataset (``"low_traffic/latency"``,
        ``"online-boutique"``, ``"layered-50"``).
    graph : ServiceGraph
    metrics : pandas.DataFrame
        Long format ``timestamp, service, metric, value`` covering the incident
        window (and, when there is no separate normal data, the baseline before it).
    incident : Incident
    baseline : pandas.DataFrame or None
        Separate normal data in the same long format, when the dataset has it.
    root_causes : tuple of str
        The true root-cause services; empty for a normal window, where the
        right answer is "no root cause" (specificity cases).
    fault_type : str or None
    issues : tuple of DataIssue
        What the loader repaired or noticed (clock fixes...).
    meta : dict
    evidence : dict
        Spans and logs for :func:`rca.analyze` (``spans``, ``logs``, ``baseline_spans``, ``baseline_logs``),
        passed as keyword arguments; empty for datasets without them.
    """

    case_id: str
    dataset: str
    group: str
    graph: ServiceGraph
    metrics: pd.DataFrame
    incident: Incident
    baseline: pd.DataFrame | None = None
    root_causes: tuple[str, ...] = ()
    fault_type: str | None = None
    issues: tuple[DataIssue, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def is_normal(self) -> bool:
        """True for a specificity case (the right answer is no root cause)."""
        return not self.root_causes


def select_named(found: list[Path], wanted: str | Iterable[str] | None, what: str) -> list[Path]:
    """Keep the directories of ``found`` named in ``wanted`` (all when None).

    An unknown name is an :class:`InvalidInputError` listing what exists,
    e.g. ``unknown PetShop scenario 'x'; found: high_traffic, low_traffic``.
    """
    if wanted is None:
        return found
    names = {d.name for d in found}
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    missing = [w for w in wanted if w not in names]
    if missing:
        raise InvalidInputError(
            f"unknown {what} {missing[0]!r}; found: {', '.join(sorted(names)) or 'none'}",
            field="dataset",
        )
    return [d for d in found if d.name in set(wanted)]
