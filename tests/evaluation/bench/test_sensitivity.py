"""The sensitivity sweep and the leave-one-system-out choice, with a runner whose answers depend on one knob."""

from __future__ import annotations

from rca.evaluation.bench.results import CaseResult
from rca.evaluation.bench.sensitivity import render_sensitivity, run_sweep, sweep_configs


def _row(dataset: str, k: int, right: bool) -> CaseResult:
    return CaseResult(
        dataset=dataset, group="g", case_id=f"c{k}", method="engine", truth=("db",), fault_type=None,
        top=("db",) if right else ("api",), scores=(1.0,), n_ranked=1, truth_ranks=(1,) if right else (None,),
        seconds=0.01, error=None, confidence=0.9,
    )


def fake_run(config, only):
    # "a" and "b" like a higher threshold, "c" likes the default: a default fitted to c.
    threshold = config["detect"]["threshold"]
    rows = []
    for d in ("a", "b", "c"):
        if only not in (None, d):
            continue
        right = threshold > 1.0 if d in ("a", "b") else threshold == 1.0
        rows += [_row(d, k, right if k else True) for k in range(2)]
    return rows


def test_every_numeric_default_is_halved_and_doubled_within_its_range():
    configs = sweep_configs(["detect.threshold", "rank.other_kind", "detect.horizon"])
    assert [(p, label, v) for p, label, v, _ in configs] == [
        ("detect.threshold", "half", 0.5), ("detect.threshold", "double", 2.0),
        ("rank.other_kind", "half", 0.3), ("rank.other_kind", "double", 1.0),  # clipped to its range
        ("detect.horizon", "half", 15), ("detect.horizon", "double", 60),
    ]


def test_leave_one_system_out_chooses_on_the_others_and_measures_on_the_one_left_out():
    sweep = run_sweep(fake_run, parameters=["detect.threshold"])
    assert sweep.default == {d: {"ac1": 1.0 if d == "c" else 0.5, "specificity": None} for d in "abc"}
    loso = {row["held_out"]: row for row in sweep.loso}
    # chosen on a and b, the doubled threshold loses c's cases
    assert loso["c"]["changes"] == ["detect.threshold=2 (double)"] and loso["c"]["chosen"]["ac1"] == 0.5
    # chosen on b and c (tie between double and the default on them): the default stays
    assert loso["a"]["changes"] == [] and loso["a"]["chosen"] == sweep.default["a"]
    md = render_sensitivity(sweep)
    assert "## Sensitivity of the defaults" in md and "## Leave one system out" in md
    assert "| c | a, b | detect.threshold=2 (double) | 1.00 / – | 0.50 / – |" in md
