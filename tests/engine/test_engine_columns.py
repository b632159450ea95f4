"""rca.engine.columns: per-name computations spread through the column index."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.engine.columns import level_codes, names_of, per_name


def _cols() -> pd.MultiIndex:
    return pd.MultiIndex.from_tuples(
        [("b", "latency"), ("a", "cpu"), ("b", "cpu"), ("c", "latency")], names=["service", "metric"]
    )


def test_per_name_calls_once_per_distinct_name_and_keeps_column_order() -> None:
    calls: list[str] = []

    def fn(name: str) -> int:
        calls.append(name)
        return len(name)

    assert per_name(_cols(), 1, fn, dtype=int).tolist() == [7, 3, 3, 7]
    assert sorted(calls) == ["cpu", "latency"]
    assert names_of(_cols(), 0) == ["b", "a", "b", "c"]


def test_unused_levels_and_subsets_map_by_code() -> None:
    sub = _cols()[[3, 1]]  # a slice keeps every level of the full index
    assert len(sub.levels[0]) == 3
    assert names_of(sub, 0) == ["c", "a"]
    assert per_name(sub, 1, lambda m: m.upper(), dtype=object).tolist() == ["LATENCY", "CPU"]


def test_plain_index_and_empty_index() -> None:
    flat = pd.Index(["x", "y", "x"])
    codes, names = level_codes(flat, 0)
    assert names[codes].tolist() == ["x", "y", "x"]
    assert per_name(flat, 0, lambda n: n == "x", dtype=bool).tolist() == [True, False, True]
    empty = _cols()[:0]
    assert per_name(empty, 1, len, dtype=float).shape == (0,)
    assert names_of(empty, 0) == []
    assert isinstance(per_name(empty, 1, len), np.ndarray)


def test_name_mask_on_multiindex_subset_plain_and_empty() -> None:
    from rca.engine.columns import name_mask

    assert name_mask(_cols(), 0, "b").tolist() == [True, False, True, False]
    assert name_mask(_cols()[[3, 1]], 0, "b").tolist() == [False, False]  # unused level kept, no row matches
    assert name_mask(pd.Index(["x", "y", "x"]), 0, "x").tolist() == [True, False, True]
    assert name_mask(_cols()[:0], 0, "a").shape == (0,)
