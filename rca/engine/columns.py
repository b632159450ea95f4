"""The ``(service, metric)`` column index: computations done once per distinct name.

Every stage after align works on frames whose columns are ``(service,
metric)`` pairs.  Names repeat (each service has many metrics, each metric
many services), so classifying them column by column repeats the same work
hundreds of times; here each distinct name is handled once and the result
spread to the columns through the index's integer codes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["level_codes", "per_name", "names_of", "name_mask"]


def level_codes(index: pd.Index, level: int) -> tuple[np.ndarray, pd.Index]:
    """Integer code of every entry's ``level`` name, and the distinct names the codes index."""
    if isinstance(index, pd.MultiIndex):
        return np.asarray(index.codes[level]), index.levels[level]
    codes, uniques = pd.factorize(index.get_level_values(level))
    return codes, pd.Index(uniques)


def per_name(index: pd.Index, level: int, fn: Callable[[str], Any], dtype: Any = None) -> np.ndarray:
    """``fn(name)`` for every entry's ``level`` name, calling ``fn`` once per distinct name.

    >>> cols = pd.MultiIndex.from_tuples([("a", "latency"), ("b", "latency"), ("b", "cpu")])
    >>> per_name(cols, 1, len).tolist()
    [7, 7, 3]
    """
    codes, names = level_codes(index, level)
    values = np.array([fn(str(n)) for n in names], dtype=dtype)
    if dtype is None and not len(names):
        values = values.astype(object)
    return values[codes]


def names_of(index: pd.Index, level: int) -> list[str]:
    """Every entry's ``level`` name as a plain ``str`` (one conversion per distinct name)."""
    return per_name(index, level, str, dtype=object).tolist()


def name_mask(index: pd.Index, level: int, name: str) -> np.ndarray:
    """Whether each entry's ``level`` name is ``name`` (one comparison per distinct name).

    >>> cols = pd.MultiIndex.from_tuples([("a", "latency"), ("b", "latency"), ("a", "cpu")])
    >>> name_mask(cols, 0, "a").tolist()
    [True, False, True]
    """
    codes, names = level_codes(index, level)
    if not len(names):
        return np.zeros(len(index), dtype=bool)
    return np.asarray(names == name)[codes]
