"""rca.views.report: a self-contained, escaped HTML page."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from pathlib import Path

import pytest

from rca.engine.errors import InvalidInputError
from rca.engine.types import DataIssue
from rca.views.report import REPORT_MEDIA_TYPE, render_report, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_is_a_self_contained_page(make_case) -> None:
    result, graph, metrics = make_case("db")
    page = render_report(result, graph, metrics)
    assert page.startswith("<!DOCTYPE html>")
    # Nothing is fetched from anywhere: no scripts, stylesheets, external src/href/url().
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page, re.I)
    assert not re.search(r"<script|<link|@import|url\(", page, re.I)
    assert "default-src 'none'" in page  # the CSP forbids any load but data: images
    imgs = _images(page)
    assert len(imgs) == 3  # topology, metrics, granger
    assert all(img.startswith(PNG_MAGIC) and len(img) > 5_000 for img in imgs)
    assert page.count("<img") == 3


def test_report_shows_summary_ranked_causes_and_evidence(make_case) -> None:
    result, graph, metrics = make_case("db")
    page = render_report(result, graph, metrics)
    assert '<div class="big" id="top-cause">db</div>' in page
    assert "confidence <b>85%</b>" in page
    assert "propagation: db → checkout → frontend" in page
    assert page.index('data-rank="1"') < page.index('data-rank="2"')
    assert "Granger db.latency → checkout.latency: lag 1, p 4.00e-04, q 0.001 (significant)" in page
    assert "latency: score 5, baseline median 100 → 600 (up)" in page
    assert "<title>Incident report: frontend · latency</title>" in page
    assert "2024-05-01 12:00:00 UTC" in page


def test_report_without_cause_says_so(make_case) -> None:
    result, graph, metrics = make_case(found=False)
    page = render_report(result, graph, metrics)
    assert "No root cause found" in page and "no dependency of the symptom is anomalous" in page
    assert 'id="top-cause"' not in page
    assert "No cause was ranked." in page


def test_report_without_metrics_or_granger_explains_the_gaps(make_case) -> None:
    result, graph, _ = make_case("db", granger=False)
    page = render_report(result, graph, None)
    assert 'id="metrics-missing"' in page and "No metrics were given to the report" in page
    assert "No Granger tests were run for this analysis." in page
    assert len(_images(page)) == 1


def test_report_lists_data_issues(make_case) -> None:
    result, graph, metrics = make_case("db")
    result = replace(result, issues=(DataIssue("constant", "flat for the whole window", "auth", "cpu"),))
    page = render_report(result, graph, metrics)
    assert "<li><b>constant</b> [auth.cpu]: flat for the whole window</li>" in page


@pytest.mark.parametrize(
    "name",
    [
        '<script>alert("x")</script>',
        '"><img src=x onerror=alert(1)>',
        "db' onmouseover='alert(1)",
        "</title><h1>pwned</h1>",
    ],
)
def test_report_escapes_hostile_service_names(make_case, name: str) -> None:
    result, graph, metrics = make_case("db")
    c = result.causes[0]
    causes = (replace(c, service=name, path=(name, *c.path[1:])), *result.causes[1:])
    result = replace(result, causes=causes, reason=name)
    page = render_report(result, graph, metrics)
    assert name not in page
    assert f'id="top-cause">{_html_escape(name)}</div>' in page
    assert "<script" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    assert page.count("<img") == 3  # no injected element


def _html_escape(s: str) -> str:
    """The escaping of the page's template (Jinja2's autoescape is markupsafe's)."""
    from markupsafe import escape

    return str(escape(s))


def test_write_report_writes_utf8_and_returns_the_path(make_case, tmp_path: Path) -> None:
    result, graph, metrics = make_case("db")
    out = write_report(tmp_path / "incident.html", result, graph, metrics)
    assert out == tmp_path / "incident.html"
    assert 'id="top-cause">db<' in out.read_text(encoding="utf-8")


def test_write_report_names_an_unwritable_path(make_case, tmp_path: Path) -> None:
    result, graph, metrics = make_case("db")
    with pytest.raises(InvalidInputError, match="cannot write the report to .*missing.*check that the folder exists"):
        write_report(tmp_path / "missing" / "r.html", result, graph, metrics)


def test_report_rejects_wrong_arguments(make_case) -> None:
    result, graph, metrics = make_case("db")
    with pytest.raises(TypeError, match="result must be an RCAResult"):
        render_report(result.to_dict(), graph, metrics)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="graph must be a topology.ServiceGraph"):
        render_report(result, {"calls": []}, metrics)  # type: ignore[arg-type]


def test_report_media_type_is_html_utf8() -> None:
    assert REPORT_MEDIA_TYPE == "text/html; charset=utf-8"


def test_result_from_dict_round_trips_and_renders_the_same_page(make_case) -> None:
    from rca.views.report import result_from_dict

    result, graph, metrics = make_case("db")
    back = result_from_dict(result.to_dict())
    assert back.to_dict() == result.to_dict()
    assert render_report(back, graph, None) == render_report(result, graph, None)


@pytest.mark.parametrize(
    ("doc", "match"),
    [([], "must be an object, got list"), ({"status": "found"}, "lacks the key 'window'")],
)
def test_result_from_dict_names_what_is_wrong(doc, match) -> None:
    from rca.views.report import result_from_dict

    with pytest.raises(InvalidInputError, match=match):
        result_from_dict(doc)


def test_report_without_the_symptom_in_the_graph_still_shows_the_ranking(make_case, caplog) -> None:
    from topology import ServiceGraph

    result, _, metrics = make_case("db")
    page = render_report(result, ServiceGraph(calls=[("a", "b")]), metrics)
    assert 'id="top-cause">db<' in page
    assert 'id="topology-missing"' in page and "symptom service &#39;frontend&#39; is not in the graph" in page
    assert len(_images(page)) == 2
    assert "no topology picture" in caplog.text


def test_report_and_plots_without_matplotlib(make_case, tmp_path: Path) -> None:
    """With matplotlib absent the page says how to get pictures; rca.views.plot says how to install it."""
    import pickle
    import subprocess
    import sys

    result, graph, metrics = make_case("db")
    blob = tmp_path / "case.pkl"
    blob.write_bytes(pickle.dumps((result, graph, metrics)))
    code = f"""
import pickle, sys
sys.modules["matplotlib"] = None  # import matplotlib -> ImportError
result, graph, metrics = pickle.loads(open({str(blob)!r}, "rb").read())
from rca.views.report import render_report
page = render_report(result, graph, metrics)
assert 'id="top-cause">db<' in page and "<img" not in page, page
assert "pip install &#39;rca-engine[plot]&#39;" in page, page
from rca.views.plot import plot_topology
try:
    plot_topology(result, graph)
except ImportError as exc:
    assert "pip install 'rca-engine[plot]'" in str(exc)
else:
    raise AssertionError("plot_topology worked without matplotlib")
"""
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("module", ["rca.views.plot", "rca.views.report"])
def test_public_names_are_complete(module: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert getattr(mod, name) is not None
    public = {n for n in dir(mod) if not n.startswith("_") and callable(getattr(mod, n, None))}
    submodules = {"html", "restore", "layout"}
    assert public - submodules - {"annotations", "TYPE_CHECKING", "Any"} <= set(mod.__all__)


def test_report_groups_many_data_issues_by_kind(make_case) -> None:
    result, graph, metrics = make_case("db")
    issues = tuple(DataIssue("constant", f"flat {k}", "auth", f"m{k}") for k in range(40)) + (
        DataIssue("gap", "2 point(s) missing", "db", "latency"),
    )
    page = render_report(replace(result, issues=issues), graph, metrics)
    assert "<h2>Data issues (41)</h2>" in page
    assert "<li><b>constant</b> (40)<ul>" in page and "<li><b>gap</b> (1)<ul>" in page
    assert "<summary>35 more</summary>" in page
    # every issue is still on the page, in the order found
    positions = [page.index(f"[auth.m{k}]: flat {k}</li>") for k in range(40)]
    assert positions == sorted(positions)
    assert page.index("<b>constant</b> (40)") < page.index("<b>gap</b> (1)")  # the largest group first


def test_report_summary_names_an_earlier_incident_left_out_of_the_baseline(make_case) -> None:
    result, graph, metrics = make_case("db")
    note = DataIssue("baseline_incident", "api/latency was itself beyond 5 robust deviations at 12:20–12:25", "api", "latency")
    page = render_report(replace(result, issues=(note,)), graph, metrics)
    summary = page[page.index('id="summary"'):page.index("</dl>")]
    assert "<dt>Left out of the baseline</dt><dd>api/latency was itself beyond 5 robust deviations at 12:20–12:25</dd>" in summary


def test_report_summary_shows_the_orientation_hint(make_case) -> None:
    result, graph, metrics = make_case("db")
    note = DataIssue("symptom_calls_nothing", "frontend calls no other service ... edges='causal'", "frontend")
    page = render_report(replace(result, issues=(note,)), graph, metrics)
    summary = page[page.index('id="summary"'):page.index("</dl>")]
    assert "<dt>Topology</dt><dd>frontend calls no other service ... edges=&#39;causal&#39;</dd>" in summary


@pytest.mark.parametrize(
    ("confirmed", "expected"),
    [
        ({"root_causes": ["db"], "note": "disk full <PM-12>"}, "Confirmed root cause: <b>db</b> · the engine ranked db 1st"),
        ({"root_causes": ["ghost"]}, "Confirmed root cause: <b>ghost</b> · the engine did not name it"),
        ({"root_causes": ["ghost", "phantom"]}, "the engine named none of them"),
        ({"root_causes": []}, "Confirmed root cause: <b>none (a false alarm)</b> · the engine named db"),
    ],
)
def test_report_shows_the_confirmed_root_cause_beside_the_answer(make_case, confirmed, expected) -> None:
    result, graph, metrics = make_case("db")
    page = render_report(result, graph, metrics, confirmed=confirmed)
    box = page[page.index('id="confirmed"'):page.index("</section>", page.index('id="confirmed"'))]
    assert expected in box
    if confirmed.get("note"):
        assert "disk full &lt;PM-12&gt;" in box  # escaped like every name from the data
    assert 'id="confirmed"' not in render_report(result, graph, metrics)  # no verdict, no box


def test_report_says_what_the_confidence_means_and_what_makes_it_weak() -> None:
    import rca
    from rca.evaluation.datasets.synthetic import demo_case

    case = demo_case()
    m = case.metrics.copy()
    late = m["timestamp"] >= case.incident.start
    m.loc[late & m["metric"].isin(["latency", "error_rate", "cpu"]), "value"] *= 3.0  # everything moves at once
    result = rca.analyze(case.graph, m, case.incident)
    page = render_report(result, case.graph, m)
    assert f"{result.confidence.meaning}" in page and 'id="confidence-meaning"' in page
    assert 'id="confidence-reliability"' in page and "calibrated on" in page
    assert 'id="weak-evidence"' in page and "moved at once" in page
