"""Score span and log series by testing their events against the baseline's events.

Each series of :func:`rca.engine.evidence.spans.span_events` and :func:`rca.engine.evidence.logs.log_events`
is tested once over the whole incident window (every span or line in it), not minute by minute:

durations (``span:<op> latency p90``, ``span:self latency p90``, ``span:client <callee> latency p90``)
    the share of the window's spans above the baseline's 90th percentile, and the share below its 10th,
    each against the baseline's own share (:func:`~rca.engine.evidence.significance.share_change_z`);
    slower is the usual fault, faster is one too (a handler that returns early or throws before its work);
counts with a denominator (``span:<op> errors`` per request of that operation, ``span:calls to <callee>`` per
request the service receives, ``log:errors``, ``log:warnings`` and each template per log line of the service)
    the rate per denominator against the baseline's
    (:func:`~rca.engine.evidence.significance.rate_change_z`), one-sided for errors and warnings and two-sided
    for calls and templates (a handler that stops calling a dependency, or stops logging a step, changed too).

Counts without a denominator (``span:<op> requests``, ``log:lines``) are load, not behaviour: they are left to
the ordinary detection of their minute series.  The z-scores become anomaly scores by
:func:`~rca.engine.evidence.significance.z_to_odds_score`: the Bayes-factor bound of their p-value,
Bonferroni-adjusted over every test made, is the score's log-odds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.engine.evidence.significance import rate_change_z, share_change_z, z_to_odds_score

__all__ = ["TESTED_COLUMNS", "combine_references", "name_new_templates", "score_events"]

#: columns of :func:`score_events`' table (index ``(service, metric)``)
TESTED_COLUMNS = ("score", "z", "direction", "points", "baseline_value", "window_value", "new")
_MIN_EVENTS = 3  # window events a duration series needs to be tested
#: the least change that counts: twice the share beyond a baseline quantile, twice (or half) the rate.  Load,
#: time of day and the mix of requests move every series a little; with thousands of events a test would
#: call that significant.  A pattern the baseline never shows (a new log template) is exempt: no load
#: change creates it.
TOLERANCE = 2.0


def _empty() -> pd.DataFrame:
    idx = pd.MultiIndex.from_arrays([[], []], names=["service", "metric"])
    types = {"direction": object, "new": bool}
    return pd.DataFrame({c: pd.Series(dtype=types.get(c, float)) for c in TESTED_COLUMNS}, index=idx)


def _duration_tests(w: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    key = ["service", "metric"]
    gb = b.groupby(key, sort=False)["value"]
    ref = pd.DataFrame({"lo": gb.quantile(0.1), "hi": gb.quantile(0.9), "n_b": gb.size(),
                        "med_b": gb.quantile(0.9)})
    bj = b.join(ref, on=key)
    ref["up_b"] = (bj["value"] > bj["hi"]).groupby([bj["service"], bj["metric"]], sort=False).sum()
    ref["dn_b"] = (bj["value"] < bj["lo"]).groupby([bj["service"], bj["metric"]], sort=False).sum()
    wj = w.join(ref, on=key, how="inner")
    if wj.empty:
        return _empty()
    g = wj.assign(up=wj["value"] > wj["hi"], dn=wj["value"] < wj["lo"]).groupby(key, sort=False)
    t = pd.DataFrame({"n_w": g.size(), "up_w": g["up"].sum(), "dn_w": g["dn"].sum(),
                      "p90_w": g["value"].quantile(0.9)}).join(ref)
    t = t[t["n_w"] >= _MIN_EVENTS]
    z_up = share_change_z(t["up_w"], t["n_w"], t["up_b"], t["n_b"], TOLERANCE)
    z_dn = share_change_z(t["dn_w"], t["n_w"], t["dn_b"], t["n_b"], TOLERANCE)
    return pd.DataFrame({
        "z": np.fmax(z_up, z_dn), "direction": np.where(z_dn > z_up, "down", "up"),
        "points": t["n_b"].to_numpy(dtype=float), "baseline_value": t["med_b"].to_numpy(dtype=float),
        "window_value": t["p90_w"].to_numpy(dtype=float), "tests": 2, "new": False,
    }, index=t.index)


def _denominator(metric: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Per count series: the series it is a rate of (None: untested), and whether it is tested both ways."""
    m = metric.astype("str")
    den = pd.Series(None, index=m.index, dtype=object)
    op_err = m.str.startswith("span:") & m.str.endswith(" errors") & ~m.str.startswith("span:client ")
    den[op_err] = m[op_err].str.slice(0, -len(" errors")) + " requests"
    cl_err = m.str.startswith("span:client ") & m.str.endswith(" errors")
    den[cl_err] = "span:calls to " + m[cl_err].str.slice(len("span:client "), -len(" errors"))
    calls = m.str.startswith("span:calls to ")
    den[calls] = "span:requests"
    logs = m.str.startswith("log:") & (m != "log:lines")
    den[logs] = "log:lines"
    two = calls | (logs & ~m.isin(["log:errors", "log:warnings"]))
    return den, two.to_numpy()


def _count_tests(w: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    key = ["service", "metric"]
    kw = w.groupby(key, sort=False).size().rename("k_w")
    kb = b.groupby(key, sort=False).size().rename("k_b")
    t = pd.concat([kw, kb], axis=1).fillna(0.0)
    # every request a service receives, whatever the operation: the exposure of its outgoing calls
    totals = {}
    for frame, col in ((w, "k_w"), (b, "k_b")):
        req = frame["metric"].str.startswith("span:") & frame["metric"].str.endswith(" requests")
        totals[col] = frame[req].groupby("service", sort=False).size()
    extra = pd.DataFrame(totals).fillna(0.0)
    if not extra.empty:
        extra.index = pd.MultiIndex.from_arrays([extra.index, ["span:requests"] * len(extra)], names=key)
        t = pd.concat([t, extra])
    metric = pd.Series(t.index.get_level_values(1), index=t.index)
    den, two = _denominator(metric)
    tested = den.notna().to_numpy()
    if not tested.any():
        return _empty()
    sub = t[tested]
    den_key = pd.MultiIndex.from_arrays([sub.index.get_level_values(0), den[tested].to_numpy()])
    e = t.reindex(den_key)
    e_w = e["k_w"].fillna(0.0).to_numpy()
    e_b = e["k_b"].fillna(0.0).to_numpy()
    tol = np.where(sub["k_b"].to_numpy() > 0, TOLERANCE, 1.0)
    z, sign = rate_change_z(sub["k_w"].to_numpy(), e_w, sub["k_b"].to_numpy(), e_b, two_sided=False, tolerance=tol)
    z2, sign2 = rate_change_z(sub["k_w"].to_numpy(), e_w, sub["k_b"].to_numpy(), e_b, two_sided=True, tolerance=tol)
    both = two[tested]
    z = np.where(both, z2, z)
    sign = np.where(both, sign2, sign)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_b = np.where(e_b > 0, sub["k_b"].to_numpy() / e_b, np.nan)
        rate_w = np.where(e_w > 0, sub["k_w"].to_numpy() / e_w, np.nan)
    out = pd.DataFrame({
        "z": z, "direction": np.where(sign < 0, "down", "up"), "points": e_b,
        "baseline_value": rate_b, "window_value": rate_w, "tests": np.where(both, 2, 1),
    }, index=sub.index)
    metric_names = sub.index.get_level_values(1)
    out["new"] = (sub["k_b"].to_numpy() == 0) & (z > 0) & np.asarray(metric_names.str.startswith("log:")) \
        & ~np.asarray(metric_names.isin(["log:errors", "log:warnings"]))
    return out


def score_events(window: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Test every span or log series of ``window`` against ``baseline`` (both event tables).

    Returns
    -------
    pandas.DataFrame
        Index ``(service, metric)``; columns :data:`TESTED_COLUMNS`: ``score`` (1.0 where the adjusted
        p-value is ``1/e``), ``z``, ``direction`` (``up``: slower, or more events; ``down``: faster, or fewer),
        ``points`` (baseline events behind the test), the baseline's and the window's p90 (durations) or rate
        per denominator event (counts).  Series with no baseline events are not tested, so they are absent.
    """
    if window.empty or baseline.empty:
        return _empty()
    parts = []
    dur_w, dur_b = window[window["kind"] == "duration"], baseline[baseline["kind"] == "duration"]
    if not dur_w.empty and not dur_b.empty:
        parts.append(_duration_tests(dur_w, dur_b))
    cnt_w, cnt_b = window[window["kind"] == "count"], baseline[baseline["kind"] == "count"]
    if not cnt_w.empty:
        parts.append(_count_tests(cnt_w, cnt_b))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return _empty()
    out = pd.concat(parts)
    out["score"] = z_to_odds_score(out["z"].to_numpy(dtype=float), int(out["tests"].sum()))
    out.index = out.index.set_names(["service", "metric"])
    return out[list(TESTED_COLUMNS)]


def combine_references(normal: pd.DataFrame, recent: pd.DataFrame) -> pd.DataFrame:
    """Per series, the weaker of its test against the normal data and against the events just before the window.

    Normal spans and logs from another period may not match the level of the minutes before the incident
    (a slow drift over hours, another load mix): a change must show against both to count, as
    :mod:`rca.engine.detect` asks of separate baselines.  A series tested against one reference only keeps
    that test.
    """
    if normal.empty:
        return recent
    if recent.empty:
        return normal
    both = normal.index.intersection(recent.index)
    out = pd.concat([normal.drop(both), recent.drop(both)])
    n, r = normal.loc[both], recent.loc[both]
    weaker = np.where((r["score"] < n["score"]).to_numpy()[:, None], r.to_numpy(), n.to_numpy())
    picked = pd.DataFrame(weaker, index=both, columns=normal.columns)
    picked["points"] = (n["points"] + r["points"]).to_numpy()
    picked["new"] = (n["new"].to_numpy(dtype=bool) & r["new"].to_numpy(dtype=bool))
    out = pd.concat([out, picked])
    out["new"] = out["new"].astype(bool)
    for col in ("score", "z", "points", "baseline_value", "window_value"):
        out[col] = out[col].astype(float)
    return out


def name_new_templates(tested: pd.DataFrame) -> pd.DataFrame:
    """``tested`` with every template no reference ever logged renamed ``log:new <level> <template>``."""
    if tested.empty or not tested["new"].any():
        return tested
    svc, met = tested.index.get_level_values(0), tested.index.get_level_values(1)
    names = np.where(tested["new"].to_numpy(dtype=bool), "log:new " + met.str.slice(4), met)
    out = tested.copy()
    out.index = pd.MultiIndex.from_arrays([svc, names], names=["service", "metric"])
    return out
