"""rca.views.plot: every function returns a Figure with the expected artists, never shows it."""

from __future__ import annotations

import subprocess
import sys

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from rca.engine.errors import InvalidMetricsError, InvalidTopologyError
from rca.views.plot import layer_layout, plot_cause_metrics, plot_granger, plot_topology
from topology import ServiceGraph

HOSTILE = ['<script>alert("x")</script>', "$\\frac{a}{b}$ cost", "bad\x07name & 'quotes'"]


@pytest.fixture(autouse=True)
def _no_show(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("plot functions must never call show()")

    monkeypatch.setattr(plt, "show", boom)
    monkeypatch.setattr(Figure, "show", boom)


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_position"))]


def _render(fig: Figure) -> None:
    fig.canvas.draw()  # catches layout/mathtext errors that only show at draw time


# -- layout ----------------------------------------------------------------------------


def test_layer_layout_puts_symptom_on_top_and_rows_by_call_depth(make_graph) -> None:
    lay = layer_layout(make_graph("diamond"), "frontend")
    assert lay.depth == {"frontend": 0, "checkout": 1, "catalog": 1, "db": 2, "payment": 2}
    ys = {n: p[1] for n, p in lay.positions.items()}
    assert ys["frontend"] > ys["checkout"] == ys["catalog"] > ys["db"] == ys["payment"]
    assert "auth" not in lay.positions  # not a dependency of the symptom


def test_layer_layout_keeps_required_nodes_outside_the_scope(make_graph) -> None:
    lay = layer_layout(make_graph("diamond"), "frontend", keep=["auth"])
    assert lay.depth["auth"] == -1
    assert lay.positions["auth"][1] < min(p[1] for n, p in lay.positions.items() if n != "auth")


def test_layer_layout_respects_max_nodes_but_never_drops_kept_nodes(make_graph) -> None:
    g = make_graph("layered", 50)
    lay = layer_layout(g, "frontend", keep=["svc-40", "svc-45"], max_nodes=10)
    assert len(lay.positions) == 10
    assert {"frontend", "svc-40", "svc-45"} <= set(lay.positions)
    assert len(lay.hidden) == 40


def test_layer_layout_wraps_wide_rows_and_keeps_positions_distinct(make_graph) -> None:
    lay = layer_layout(make_graph("layered", 50), "frontend", max_per_row=8)
    assert len(lay.positions) == 50
    assert lay.width <= 8
    assert len(set(lay.positions.values())) == 50


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"max_nodes": 0}, "max_nodes must be an int >= 1, got 0"), ({"max_nodes": True}, "max_nodes")],
)
def test_layer_layout_rejects_bad_max_nodes(make_graph, kwargs, match) -> None:
    with pytest.raises(InvalidTopologyError, match=match):
        layer_layout(make_graph("chain"), "frontend", **kwargs)


def test_layer_layout_rejects_a_symptom_missing_from_the_graph(make_graph) -> None:
    with pytest.raises(InvalidTopologyError, match="symptom service 'nope' is not in the graph"):
        layer_layout(make_graph("chain"), "nope")


# -- topology --------------------------------------------------------------------------


def test_plot_topology_draws_each_service_colours_and_marks_causes(make_case) -> None:
    result, graph, _ = make_case("db")
    fig = plot_topology(result, graph)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    nodes = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_gid() == "services"]
    assert len(nodes) == 1 and len(nodes[0].get_offsets()) == 5
    texts = _texts(fig)
    assert {"frontend", "checkout", "catalog", "db", "payment"} <= set(texts)
    assert "#1" in texts and "#2" in texts and "symptom" in texts
    assert "top cause: db" in ax.get_title()
    top_path = [line for line in ax.lines if line.get_gid() == "path:1"]
    assert len(top_path) == 1 and len(top_path[0].get_xdata()) == 3  # db -> checkout -> frontend
    assert len([p for p in ax.patches if (p.get_gid() or "").startswith("call:")]) == 5
    assert len(fig.axes) == 2  # plot + colour bar
    assert "anomaly score" in fig.axes[1].get_ylabel()
    _render(fig)
    assert plt.get_fignums() == []  # not registered with pyplot


def test_plot_topology_is_readable_with_50_services(make_case) -> None:
    result, graph, _ = make_case("svc-40", kind="layered", n=50)
    fig = plot_topology(result, graph)
    nodes = fig.axes[0].collections[0]
    assert len(nodes.get_offsets()) == 50
    w, h = fig.get_size_inches()
    assert 10 <= w <= 26 and 6 <= h <= 22
    _render(fig)


def test_plot_topology_caps_nodes_and_says_how_many_are_hidden(make_case) -> None:
    result, graph, _ = make_case("svc-40", kind="layered", n=50)
    fig = plot_topology(result, graph, max_nodes=12)
    assert len(fig.axes[0].collections[0].get_offsets()) == 12
    assert "38 more dependencies not drawn (max_nodes=12)" in fig.axes[0].get_title()


def test_plot_topology_without_causes_says_so(make_case) -> None:
    result, graph, _ = make_case(found=False)
    fig = plot_topology(result, graph)
    assert "no root cause found" in fig.axes[0].get_title()
    assert not [line for line in fig.axes[0].lines if (line.get_gid() or "").startswith("path:")]
    _render(fig)


def test_plot_topology_rejects_a_graph_without_the_symptom(make_case) -> None:
    result, _, _ = make_case()
    with pytest.raises(InvalidTopologyError, match="pass the graph the analysis used"):
        plot_topology(result, ServiceGraph(calls=[("a", "b")]))


def test_plot_topology_rejects_what_is_not_a_result(make_graph) -> None:
    with pytest.raises(TypeError, match="result must be an RCAResult"):
        plot_topology({"causes": []}, make_graph())  # type: ignore[arg-type]


# -- metrics ---------------------------------------------------------------------------


def test_plot_cause_metrics_shows_each_cause_beside_the_symptom(make_case) -> None:
    result, _, metrics = make_case("db")
    fig = plot_cause_metrics(result, metrics)
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert len(axes) == 4  # 2 causes x (cause, symptom)
    titles = [ax.get_title(loc="left") for ax in axes]
    assert titles[0].startswith("#1 db · latency") and titles[2].startswith("#2 checkout · latency")
    assert titles[1] == titles[3] == "symptom frontend · latency"
    assert all(ax.get_shared_x_axes().joined(axes[0], ax) for ax in axes)
    left = axes[0]
    labels = [a.get_label() for a in (*left.patches, *left.lines)]
    assert "incident window" in labels and "baseline median" in labels and "anomaly onset" in labels
    assert any(len(line.get_xdata()) > 50 for line in left.lines)  # the series itself
    legend = fig.legends[0]
    assert {t.get_text() for t in legend.get_texts()} >= {"incident window", "anomaly onset"}
    _render(fig)


def test_plot_cause_metrics_top_limits_the_rows(make_case) -> None:
    result, _, metrics = make_case("db")
    assert len(plot_cause_metrics(result, metrics, top=1).axes) == 2


def test_plot_cause_metrics_without_causes_shows_the_symptom(make_case) -> None:
    result, _, metrics = make_case(found=False)
    fig = plot_cause_metrics(result, metrics)
    assert len(fig.axes) == 2
    assert any("No root cause found" in t for t in _texts(fig))


def test_plot_cause_metrics_reports_missing_series(make_case) -> None:
    result, _, metrics = make_case("db")
    fig = plot_cause_metrics(result, metrics[metrics["service"] != "db"])
    assert any(t.startswith("no data for db") for t in _texts(fig))


def test_plot_cause_metrics_accepts_unix_second_timestamps(make_case) -> None:
    result, _, metrics = make_case("db")
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    m = metrics.assign(timestamp=(metrics["timestamp"] - epoch) // pd.Timedelta("1s"))
    fig = plot_cause_metrics(result, m)
    assert any(len(line.get_xdata()) > 50 for line in fig.axes[0].lines)


@pytest.mark.parametrize(
    ("metrics", "err", "match"),
    [
        (pd.DataFrame({"timestamp": [], "service": [], "value": []}), InvalidMetricsError, "missing the column 'metric'"),
        ([1, 2], InvalidMetricsError, "metrics must be a pandas DataFrame"),
    ],
)
def test_plot_cause_metrics_validates_metrics(make_case, metrics, err, match) -> None:
    result, _, _ = make_case()
    with pytest.raises(err, match=match):
        plot_cause_metrics(result, metrics)


@pytest.mark.parametrize("top", [0, -1, True, 1.5])
def test_plot_cause_metrics_validates_top(make_case, top) -> None:
    result, _, metrics = make_case()
    with pytest.raises(ValueError, match="top must be an int >= 1"):
        plot_cause_metrics(result, metrics, top=top)


# -- granger ---------------------------------------------------------------------------


def test_plot_granger_labels_cells_with_lag_and_p_value(make_case) -> None:
    result, _, _ = make_case("db")
    fig = plot_granger(result)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    cells = {t.get_gid(): t.get_text() for t in ax.texts}
    assert "lag 1  p=4e-04 q=0.001" in cells["cell:db->checkout"]
    assert "lag 2  p=0.45" in cells["cell:catalog->frontend"]
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["#1 db", "#2 checkout"]
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "frontend"
    assert sum((p.get_gid() or "").startswith("significant:") for p in ax.patches) == 2
    assert "4 run, 2 significant, 1 skipped" in ax.get_title()
    _render(fig)


def test_plot_granger_shows_skipped_pairs(make_case) -> None:
    from dataclasses import replace

    result, _, _ = make_case("db")
    only_skipped = replace(result, granger=tuple(t for t in result.granger if t.skipped))
    fig = plot_granger(only_skipped)
    assert any("skipped\nconstant series" == t.get_text() for t in fig.axes[0].texts)
    _render(fig)


def test_plot_granger_without_tests_explains(make_case) -> None:
    result, _, _ = make_case(granger=False)
    fig = plot_granger(result)
    assert any("No Granger tests were run" in t for t in _texts(fig))


# -- hostile names and laziness --------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE)
def test_plots_draw_hostile_service_names_literally(make_case, name: str) -> None:
    result, graph, metrics = make_case("db")
    mapping = {"db": name}
    from dataclasses import replace

    def rn(s: str) -> str:
        return mapping.get(s, s)

    causes = tuple(
        replace(c, service=rn(c.service), path=tuple(rn(p) for p in c.path),
                evidence=replace(c.evidence, anomalous_metrics=tuple(replace(a, service=rn(a.service))
                                                                     for a in c.evidence.anomalous_metrics)))
        for c in result.causes
    )
    result = replace(
        result,
        causes=causes,
        anomalies=tuple(replace(a, service=rn(a.service)) for a in result.anomalies),
        granger=tuple(replace(g, cause_service=rn(g.cause_service), effect_service=rn(g.effect_service))
                      for g in result.granger),
    )
    graph = graph.relabel(mapping)
    metrics = metrics.assign(service=metrics["service"].map(rn))
    shown = name.replace("\x07", " ")
    for fig in (plot_topology(result, graph), plot_cause_metrics(result, metrics), plot_granger(result)):
        _render(fig)
        assert any(shown[:20] in t for t in _texts(fig)), shown


def test_import_rca_and_report_does_not_import_matplotlib() -> None:
    code = (
        "import sys, rca, rca.views.plot, rca.views.report\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_cause_metrics_with_a_separate_baseline_keeps_the_incident_in_view(make_case) -> None:
    from dataclasses import replace

    result, _, metrics = make_case("db")
    later = (pd.Timestamp("2024-08-01T00:00Z"), pd.Timestamp("2024-08-03T00:00Z"))
    fig = plot_cause_metrics(replace(result, baseline_window=later), metrics)
    lo, hi = fig.axes[0].get_xlim()
    import matplotlib.dates as mdates

    assert mdates.num2date(lo) < result.window[0] < mdates.num2date(hi)
    labels = [p.get_label() for ax in fig.axes for p in ax.patches]
    assert "baseline window" not in labels and "incident window" in labels
