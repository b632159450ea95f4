"""Fitting the confidence map: the logistic fit, its sign bound, leave-one-system-out, and ``rca calibrate``."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from typer.testing import CliRunner

import rca
from rca.cli import app
from rca.engine.confidence import FEATURES, load_map
from rca.evaluation.bench.confidence_fit import (
    MONOTONE,
    SIGNS,
    CalibrationSample,
    fit_logistic,
    fit_map,
    leave_one_system_out,
    read_cases_csv,
    samples_from_results,
    system_of,
)
from rca.evaluation.bench.metrics import reliability
from rca.evaluation.bench.report import write_report
from rca.evaluation.bench.results import CaseResult
from rca.evaluation.datasets.cases import write_case
from rca.evaluation.datasets.synthetic import generate_cases


def _sample(system: str, raw: float, right: bool, normal: bool = False, **features: float) -> CalibrationSample:
    f = {k: 0.0 for k in FEATURES}
    f.update(raw_logit=math.log(raw / (1 - raw)), null_logit=-4.0, **features)
    return CalibrationSample(system, system, f"{system}-{raw}-{right}", f, right, normal, raw, 0.02)


def test_the_fit_recovers_a_known_logistic_relation():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, 2))
    p = 1 / (1 + np.exp(-(0.5 + 1.5 * x[:, 0] - 1.0 * x[:, 1])))
    y = (rng.random(4000) < p).astype(float)
    model = fit_logistic(x, y, names=("raw_logit", "window_points"), penalty=0.0, signs={})
    coef = np.array(model.coef) / np.array(model.scale)
    assert coef == pytest.approx([1.5, -1.0], abs=0.15)


def test_the_raw_posterior_never_counts_against_the_answer_even_when_the_data_say_so():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 1))
    y = (x[:, 0] < 0).astype(float)  # more raw belief, less often right: the fit must not follow
    model = fit_logistic(x, y, names=("raw_logit",))
    assert model.coef[0] >= 0.0


def test_every_feature_keeps_the_sign_its_meaning_gives_it():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 2))
    y = (x[:, 0] + x[:, 1] > 0).astype(float)  # here a quiet symptom and short data would help: the fit must not say so
    model = fit_logistic(x, y, names=("quiet_symptom", "short_baseline"))
    assert model.coef == (0.0, 0.0)
    assert all(SIGNS[f] >= 0 for f in MONOTONE) and "raw_logit" in MONOTONE


def test_the_map_does_not_extrapolate_beyond_what_it_was_fitted_on():
    x = np.column_stack([np.linspace(0, 0.02, 200)])
    y = (np.arange(200) % 4 != 0).astype(float) * (x[:, 0] < 0.015)
    model = fit_logistic(x, y, names=("missing_share",))
    assert model.probability({"missing_share": 0.9}) == pytest.approx(model.probability({"missing_share": 0.02}))


def test_a_feature_that_never_varies_gets_no_weight():
    x = np.column_stack([np.linspace(-2, 2, 100), np.ones(100)])
    y = (np.linspace(-2, 2, 100) > 0).astype(float)
    assert fit_logistic(x, y, names=("raw_logit", "short_window")).coef[1] == 0.0


def test_leave_one_system_out_measures_each_system_with_a_map_fitted_without_it():
    # System "over" is right far less often than its raw confidence says; "fair" means what it says.
    samples = [_sample("fair", 0.8, i % 5 != 0) for i in range(50)]
    samples += [_sample("fair", 0.3, i % 10 < 3, moved_share=0.5) for i in range(50)]
    samples += [_sample("over", 0.8, i % 5 != 0) for i in range(40)]
    samples += [_sample("over", 0.8, i % 10 < 3, moved_share=0.5) for i in range(40)]
    held = {h.system: h for h in leave_one_system_out(samples)}
    assert set(held) == {"fair", "over"}
    over = held["over"]
    assert over.n == 80
    # The raw confidence is 0.8 on all of "over" and it is right 44 times in 80; the map learnt on "fair"
    # that series moving everywhere means a weaker answer, which holds on "over" too.
    assert over.raw["ece"] == pytest.approx(0.8 - 44 / 80, abs=1e-9)
    assert over.calibrated["ece"] < over.raw["ece"]


def test_fit_map_records_how_it_was_fitted_and_refuses_too_little():
    samples = [_sample(s, 0.7, i % 3 != 0) for s in ("a", "b") for i in range(30)]
    cmap = fit_map(samples, source="--results x")
    assert cmap.fitted["cases"] == 60 and cmap.fitted["systems"] == {"a": 30, "b": 30}
    assert cmap.fitted["command"] == "rca calibrate --results x"
    assert len(cmap.fitted["held_out"]) == 2 and cmap.fitted["held_out_ece"] is not None
    with pytest.raises(rca.InvalidInputError, match="at least 10"):
        fit_map(samples[:5])
    with pytest.raises(rca.InvalidInputError, match="right and cases where it was wrong"):
        fit_map([dataclasses.replace(s, right=True) for s in samples])


def test_systems_are_read_off_the_dataset_names():
    assert [system_of(d) for d in ("petshop", "inject", "nezha", "synthetic", "sem-50#2", "cases")] == [
        "petshop", "petshop", "nezha", "synthetic", "synthetic", "cases"]


def test_reliability_bins_and_scores():
    r = reliability([0.05, 0.95, 0.95, 0.55], [0, 1, 0, 1])
    assert r["n"] == 4 and [b["n"] for b in r["bins"]] == [1, 1, 2]
    assert r["mce"] == pytest.approx(0.45) and r["brier"] == pytest.approx((0.05**2 + 0.05**2 + 0.95**2 + 0.45**2) / 4)


def _verdict_cases(tmp_path):
    """A team's case folders: synthetic incidents where the verdict agrees with the engine on some, not on others."""
    root = tmp_path / "cases"
    for k, case in enumerate(generate_cases("n=15,cases=24,seed=7")):
        if k % 3 == 0:  # the team's verdict: the cause was elsewhere
            other = sorted(set(case.graph.services) - set(case.root_causes))[0]
            case = dataclasses.replace(case, root_causes=(other,))
        write_case(case, root / ("shop" if k % 2 else "bank") / f"case-{k}")
    return root


def test_rca_calibrate_refits_from_a_case_folder_and_the_map_is_used(tmp_path):
    root = _verdict_cases(tmp_path)
    out = tmp_path / "team.json"
    result = CliRunner().invoke(app, ["calibrate", "-d", f"cases:{root}", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "fitted on 24 cases of 1 system" in result.output
    cmap = load_map(str(out))
    assert cmap is not None and cmap.fitted["cases"] >= 20 and cmap.fitted["command"].startswith("rca calibrate -d cases:")
    from rca.evaluation.datasets import load_cases

    conf, raw, right = [], [], []
    for case in load_cases(f"cases:{root}"):
        answer = rca.analyze(case.graph, case.metrics, case.incident, {"rank": {"calibration": str(out)}})
        if answer.top is None:
            continue
        assert answer.confidence.calibration == str(out)
        conf.append(answer.top.confidence)
        raw.append(answer.confidence.raw)
        right.append(answer.top.service in case.root_causes)
    # On the team's own incidents the refitted confidence means what it says, closer than the raw posterior did.
    accuracy = float(np.mean(right))
    assert 0.5 < accuracy < 0.8
    assert abs(np.mean(conf) - accuracy) < 0.05 < abs(np.mean(raw) - accuracy)


def test_rca_calibrate_refits_from_bench_results(tmp_path):
    cases = list(generate_cases("n=15,cases=12,seed=9"))
    rows = []
    from rca.evaluation.bench.runner import run_methods

    rows = run_methods(cases, ["engine"], progress=False)
    wrong = [dataclasses.replace(r, truth=("x",), truth_ranks=(None,)) if i % 3 == 0 else r for i, r in enumerate(rows)]
    write_report(wrong, tmp_path / "bench")
    back = read_cases_csv(tmp_path / "bench")
    assert [r.features for r in back] == [pytest.approx(r.features, abs=1e-6) for r in wrong]
    assert len(samples_from_results(back)) == len(samples_from_results(wrong)) > 0
    result = CliRunner().invoke(app, ["calibrate", "--results", str(tmp_path / "bench"), "--out", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    bad = CliRunner().invoke(app, ["calibrate", "--results", str(tmp_path / "nowhere")])
    assert bad.exit_code != 0 and "no cases.csv" in bad.output


def test_case_results_without_features_are_left_out():
    r = CaseResult.from_ranking(dataset="d", group="g", case_id="1", method="engine", truth=["a"], ranking=["a"])
    assert samples_from_results([r]) == []
