"""Metric definitions on hand-made rankings with known answers."""

from __future__ import annotations

import pytest

from rca.evaluation.bench.metrics import (
    ALL_GROUPS,
    ac_at_k,
    avg_at_k,
    calibration,
    recall_at_k,
    seconds_stats,
    specificity,
    summarize_calibration,
    summarize_fault_types,
    summarize_groups,
)
from rca.evaluation.bench.results import CaseResult


def res(truth, ranking, *, case_id="c", group="g", dataset="d", method="m", fault_type=None, seconds=0.1, error=None, scores=None, confidence=None):
    return CaseResult.from_ranking(
        dataset=dataset,
        group=group,
        case_id=case_id,
        method=method,
        truth=truth,
        ranking=ranking,
        scores=scores,
        fault_type=fault_type,
        seconds=seconds,
        error=error,
        confidence=confidence,
    )


# truth ranked 1st, 2nd, 4th, absent, 6th
RANKED = [
    res(["a"], ["a", "b", "c"]),
    res(["a"], ["b", "a", "c"]),
    res(["a"], ["b", "c", "d", "a"]),
    res(["a"], ["b", "c"]),
    res(["a"], ["b", "c", "d", "e", "f", "a"]),
]


@pytest.mark.parametrize(("k", "expected"), [(1, 0.2), (2, 0.4), (3, 0.4), (4, 0.6), (5, 0.6), (6, 0.8)])
def test_ac_at_k_counts_truth_within_top_k(k, expected):
    assert ac_at_k(RANKED, k) == pytest.approx(expected)


def test_avg5_is_mean_of_ac1_to_ac5():
    assert avg_at_k(RANKED, 5) == pytest.approx((0.2 + 0.4 + 0.4 + 0.6 + 0.6) / 5)


def test_rank_is_best_rank_of_any_true_cause():
    r = res(["x", "c"], ["a", "b", "c", "x"])
    assert r.truth_ranks == (4, 3)
    assert r.rank == 3
    assert r.hit(3) and not r.hit(2)
    assert r.recall(3) == 0.5 and r.recall(4) == 1.0


def test_multiple_causes_any_hit_counts_for_ac_but_recall_is_partial():
    rows = [res(["a", "b"], ["a", "z", "b"])]
    assert ac_at_k(rows, 1) == 1.0
    assert recall_at_k(rows, 1) == 0.5
    assert recall_at_k(rows, 3) == 1.0


def test_empty_ranking_on_fault_case_is_a_miss():
    rows = [res(["a"], []), res(["a"], ["a"])]
    assert ac_at_k(rows, 5) == 0.5
    assert rows[0].rank is None


def test_error_is_a_miss_and_not_specific():
    faults = [res(["a"], [], error="ValueError: boom")]
    normal = [res([], [], error="ValueError: boom")]
    assert ac_at_k(faults, 1) == 0.0
    assert specificity(normal) == 0.0


def test_normal_cases_are_excluded_from_ac_and_only_count_for_specificity():
    rows = [res(["a"], ["a"]), res([], []), res([], ["a", "b"]), res([], []), res([], ["c"])]
    assert ac_at_k(rows, 1) == 1.0  # only the fault case counts
    assert specificity(rows) == 0.5  # 2 of 4 normal windows answered []


def test_rates_are_none_without_qualifying_cases():
    assert ac_at_k([res([], [])], 1) is None
    assert avg_at_k([], 5) is None
    assert specificity([res(["a"], ["a"])]) is None
    assert seconds_stats([]) == (None, None)


def test_ac_at_k_rejects_k_below_one():
    with pytest.raises(ValueError, match="k must be >= 1"):
        ac_at_k(RANKED, 0)


def test_duplicates_in_a_ranking_keep_their_first_place():
    r = res(["b"], ["a", "a", "b"], scores=[3.0, 2.0, 1.0])
    assert r.top == ("a", "b") and r.rank == 2 and r.scores == (3.0, 1.0)


def test_seconds_stats_skip_errors():
    rows = [res(["a"], ["a"], seconds=s) for s in (1.0, 2.0, 3.0, 4.0)] + [res(["a"], [], seconds=99.0, error="E: x")]
    med, p95 = seconds_stats(rows)
    assert med == 2.5
    assert p95 == pytest.approx(3.85)


def test_summarize_groups_per_group_and_pooled():
    rows = [
        res(["a"], ["a"], group="g1", case_id="1", method="m1"),
        res(["a"], ["b", "a"], group="g1", case_id="1", method="m2"),
        res(["a"], ["b"], group="g2", case_id="2", method="m1"),
        res(["a"], ["a"], group="g2", case_id="2", method="m2"),
        res([], [], group="g2", case_id="3", method="m1"),
        res([], ["a"], group="g2", case_id="3", method="m2"),
    ]
    table = {(g.group, g.method): g for g in summarize_groups(rows)}
    assert list(table) == [(ALL_GROUPS, "m1"), (ALL_GROUPS, "m2"), ("g1", "m1"), ("g1", "m2"), ("g2", "m1"), ("g2", "m2")]
    assert table[("g1", "m1")].ac1 == 1.0 and table[("g1", "m2")].ac1 == 0.0
    assert table[("g1", "m2")].ac3 == 1.0
    assert table[("g2", "m1")].specificity == 1.0 and table[("g2", "m2")].specificity == 0.0
    assert table[("g1", "m1")].specificity is None
    pooled = table[(ALL_GROUPS, "m1")]
    assert (pooled.n, pooled.n_normal, pooled.ac1, pooled.specificity) == (2, 1, 0.5, 1.0)


def test_single_group_dataset_has_no_pooled_row():
    rows = [res(["a"], ["a"], group="only")]
    assert [g.group for g in summarize_groups(rows)] == ["only"]


def test_summarize_fault_types():
    rows = [
        res(["a"], ["a"], case_id="1", fault_type="cpu"),
        res(["a"], ["b", "a"], case_id="2", fault_type="cpu"),
        res(["a"], ["b"], case_id="3", fault_type="delay"),
        res([], [], case_id="4"),
    ]
    table = {f.fault_type: f for f in summarize_fault_types(rows)}
    assert set(table) == {"cpu", "delay"}
    assert (table["cpu"].n, table["cpu"].ac1, table["cpu"].ac3) == (2, 0.5, 1.0)
    assert table["delay"].ac5 == 0.0


def test_public_surface_is_complete():
    import rca.evaluation.bench

    assert all(hasattr(rca.evaluation.bench, name) for name in rca.evaluation.bench.__all__)
    for name in ("run_methods", "write_report", "get_method", "CaseResult", "ac_at_k", "specificity"):
        assert name in rca.evaluation.bench.__all__


def test_calibration_compares_confidence_with_how_often_the_first_answer_is_right():
    rows = [
        res(["a"], ["a", "b"], confidence=0.95),
        res(["a"], ["a"], confidence=0.92),
        res(["a"], ["b", "a"], confidence=0.91),  # wrong first answer: counts against 0.91
        res([], ["b"], confidence=0.5),  # a cause named on a normal window is wrong
        res(["a"], ["a"], confidence=0.45),
        res(["a"], [], confidence=None),  # nothing named: not part of it
        res(["a"], ["a"]),  # no confidence given: not part of it
    ]
    c = calibration(rows, "d", "m")
    assert (c.dataset, c.method, c.n) == ("d", "m", 5)
    assert c.mean_confidence == pytest.approx((0.95 + 0.92 + 0.91 + 0.5 + 0.45) / 5)
    assert c.accuracy == pytest.approx(3 / 5)
    assert [(b["lo"], b["hi"], b["n"]) for b in c.bins] == [(0.4, 0.5, 1), (0.5, 0.6, 1), (0.9, 1.0, 3)]  # ten equal bins
    high = c.bins[-1]
    assert high["accuracy"] == pytest.approx(2 / 3)
    gaps = 3 / 5 * abs(2 / 3 - (0.95 + 0.92 + 0.91) / 3) + 1 / 5 * abs(1 - 0.45) + 1 / 5 * abs(0 - 0.5)
    assert c.ece == pytest.approx(gaps)
    assert c.mce == pytest.approx(0.55) and c.brier == pytest.approx(
        (0.05**2 + 0.08**2 + 0.91**2 + 0.5**2 + 0.55**2) / 5)
    assert calibration([res(["a"], ["a"])]).n == 0 and calibration([]).ece is None
    assert res(["a"], [], confidence=0.9).confidence is None  # an empty answer carries no confidence


def test_summarize_calibration_only_for_methods_with_a_confidence():
    rows = [res(["a"], ["a"], method="engine", confidence=0.8), res(["a"], ["a"], method="robust-z")]
    assert [(c.dataset, c.method, c.n) for c in summarize_calibration(rows)] == [("d", "engine", 1)]
