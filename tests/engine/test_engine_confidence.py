"""The confidence map: its file format and version, its monotonicity, and what every answer says about it."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import rca
from rca.engine.confidence import (
    DEFAULT_MAP_PATH,
    FEATURES,
    FORMAT,
    FORMAT_VERSION,
    CalibrationMap,
    LogisticModel,
    calibrated,
    load_map,
    plain_odds,
)
from rca.evaluation.datasets.synthetic import demo_case


def _shipped() -> CalibrationMap:
    cmap = load_map("default")
    assert cmap is not None
    return cmap


def test_the_shipped_file_has_the_format_and_version_this_engine_reads():
    data = json.loads(DEFAULT_MAP_PATH.read_text(encoding="utf-8"))
    assert (data["format"], data["version"], data["model"]) == (FORMAT, FORMAT_VERSION, "logistic")
    model = data["top"]
    assert set(model["features"]) <= set(FEATURES)
    assert len(model["features"]) == len(model["center"]) == len(model["scale"]) == len(model["coef"])
    assert "no_cause" not in data, "no-cause keeps the ranking's own probability"
    fitted = data["fitted"]
    assert fitted["cases"] > 100 and len(fitted["systems"]) >= 3, "the shipped map is fitted on every bench system"
    assert fitted["held_out_ece"] is not None and fitted["command"].startswith("rca calibrate")


def test_the_shipped_map_never_lowers_the_confidence_as_the_raw_posterior_rises():
    cmap = _shipped()
    rng = np.random.default_rng(0)
    centers = dict(zip(cmap.top.features, cmap.top.center, strict=True))
    for _ in range(50):
        base = {f: centers.get(f, 0.0) + rng.normal() for f in FEATURES}
        curve = [cmap.top.probability({**base, "raw_logit": z}) for z in np.linspace(-8, 8, 33)]
        assert all(b >= a - 1e-12 for a, b in zip(curve, curve[1:])), curve


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 99}, "version 99 is not 1"),
        ({"format": "something-else"}, "not a calibration file"),
        ({"model": "isotonic"}, "is not 'logistic'"),
        ({"no_cause": {"features": ["raw_logit"], "center": [0], "scale": [1], "coef": [1], "intercept": 0}}, "reads none"),
        ({"top": {"features": ["nope"], "center": [0], "scale": [1], "coef": [1], "intercept": 0}}, "unknown feature 'nope'"),
        ({"top": {"features": ["raw_logit"], "center": [0], "scale": [0], "coef": [1], "intercept": 0}}, "scale must be positive"),
        ({"top": {"features": ["raw_logit"]}}, "malformed"),
    ],
)
def test_a_bad_calibration_file_is_refused_by_name(tmp_path, change, message):
    data = {**json.loads(DEFAULT_MAP_PATH.read_text(encoding="utf-8")), **change}
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(data))
    with pytest.raises(rca.InvalidConfigError, match=message):
        load_map(str(path))


def test_rank_calibration_names_default_none_or_an_existing_file(tmp_path):
    with pytest.raises(rca.InvalidConfigError, match="rank.calibration") as err:
        rca.RCAConfig.from_dict({"rank": {"calibration": str(tmp_path / "missing.json")}})
    assert err.value.field == "rank.calibration"
    assert rca.RCAConfig.from_dict({"rank": {"calibration": "none"}}).rank.calibration == "none"


def test_calibrated_confidences_keep_no_cause_and_share_the_rest_in_the_rankings_proportions():
    cmap = CalibrationMap(top=LogisticModel(("raw_logit",), (0.0,), (1.0,), (1.0,), 1.0))
    conf, null = calibrated([0.6, 0.2, 0.1], 0.1, {"raw_logit": 0.4}, cmap)
    assert conf[0] == pytest.approx(cmap.top.probability({"raw_logit": 0.4}))
    assert null == pytest.approx(0.1), "a first cause less likely right does not make the incident less real"
    assert sum(conf) + null == pytest.approx(1.0)
    assert conf[1] / conf[2] == pytest.approx(2.0)
    # Alone in the ranking, the first cause leaves the rest to a cause the ranking did not name.
    alone, null = calibrated([0.99], 0.01, {"raw_logit": -2.0}, cmap)
    assert null == pytest.approx(0.01) and alone[0] + null < 1.0
    assert calibrated([0.6, 0.2], 0.2, {}, None) == ([0.6, 0.2], 0.2)


def test_every_answer_says_what_its_confidence_rests_on_and_means():
    case = demo_case()
    result = rca.analyze(case.graph, case.metrics, case.incident)
    basis = result.confidence
    assert basis is not None and basis.calibration == "default"
    assert basis.value == pytest.approx(result.top.confidence)
    assert set(basis.features) == set(FEATURES)
    assert basis.meaning.startswith("right about ") and basis.meaning.endswith("on incidents like this")
    assert "calibrated on" in basis.reliability and "system" in basis.reliability
    assert sum(c.confidence for c in result.ranking) + result.no_cause_probability <= 1.0 + 1e-9
    assert result.to_dict()["confidence"]["meaning"] == basis.meaning
    raw = rca.analyze(case.graph, case.metrics, case.incident, {"rank": {"calibration": "none"}})
    assert raw.confidence.calibration == "none"
    assert raw.top.confidence == pytest.approx(raw.confidence.raw) == pytest.approx(basis.raw)
    assert [c.service for c in raw.ranking] == [c.service for c in result.ranking], "calibration never reorders"


def test_weak_data_is_said_in_words_and_lowers_the_confidence():
    case = demo_case()
    strong = rca.analyze(case.graph, case.metrics, case.incident)
    assert strong.confidence.weak == ()
    # The same incident with every service's latency, errors and CPU jumping at once: nothing specific to blame.
    m = case.metrics.copy()
    late = m["timestamp"] >= case.incident.start
    m.loc[late & m["metric"].isin(["latency", "error_rate", "cpu"]), "value"] *= 3.0
    weak = rca.analyze(case.graph, m, case.incident)
    assert weak.status == "found"
    assert any("moved at once" in w for w in weak.confidence.weak), weak.confidence.weak
    assert "Weak evidence" in weak.reason
    assert weak.top.confidence < strong.top.confidence


@pytest.mark.parametrize(("p", "words"), [(0.79, "about 4 times in 5"), (0.5, "about 1 time in 2"),
                                          (0.01, "less than 1 time in 20"), (0.99, "more than 19 times in 20")])
def test_plain_odds(p, words):
    assert plain_odds(p) == words


def test_a_map_round_trips_through_its_file(tmp_path):
    cmap = _shipped()
    again = load_map(str(cmap.save(tmp_path / "copy.json")))
    assert again is not None and again.to_dict() == cmap.to_dict()
    assert replace(again, name="x").top == cmap.top
