"""The topology around the symptom, coloured by anomaly score, causes marked."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rca.engine.types import RCAResult
from rca.views.plot._common import (
    CAUSE_COLOR,
    PATH_COLOR,
    SCORE_CMAP,
    SYMPTOM_COLOR,
    TEXT,
    check_result,
    new_figure,
    service_scores,
    shorten,
)
from rca.views.plot.layout import layer_layout
from topology import ServiceGraph

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_topology"]

_NO_DATA = "#e0e0e0"


def plot_topology(result: RCAResult, graph: ServiceGraph, *, max_nodes: int = 50) -> Figure:
    """Draw the symptom and its dependencies in layers, coloured by anomaly score.

    The symptom is the square on the top row; each row below is one more call
    hop away (arrows point from caller to callee).  Each service is filled by
    its worst anomaly score (grey: no scored series); the ranked causes carry
    a red ring and their rank; the top cause's propagation path (the way the
    fault travelled, against the call arrows) is drawn as a thick red chain,
    other causes' paths dashed.

    Parameters
    ----------
    result : RCAResult
        The analysis to draw.
    graph : ServiceGraph
        The graph it was computed on.
    max_nodes : int
        Draw at most this many services (the symptom, the causes and their
        paths always; then the most anomalous).  The title counts the rest.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_topology(result, graph)  # doctest: +SKIP
    >>> fig.savefig("topology.png")  # doctest: +SKIP
    """
    result = check_result(result)
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import SymLogNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    symptom = result.incident.service
    causes = list(result.causes)
    keep: list[str] = []
    for c in causes:
        for n in (c.service, *c.path):
            if n not in keep:
                keep.append(n)
    scores = service_scores(result)
    lay = layer_layout(graph, symptom, keep=keep, scores=scores, max_nodes=max_nodes)
    pos = lay.positions

    width = min(26.0, max(7.0, 1.7 * lay.width + 2.5))
    height = min(22.0, max(4.0, 1.45 * lay.rows + 1.8))
    fig = new_figure(width, height)
    ax = fig.add_subplot()
    ax.set_axis_off()

    # Linear up to 1 (the edge of what the baseline shows), logarithmic beyond,
    # so one huge score does not wash out the others.
    vmax = max(2.0, max(scores.values(), default=0.0))
    # Scores below 1 (within what the baseline shows) stay in the pale end.
    norm = SymLogNorm(linthresh=1.0, linscale=0.3, vmin=0.0, vmax=vmax)
    cmap = colormaps[SCORE_CMAP]

    # Call edges, caller -> callee.  Arrows that go sideways or upwards
    # (cycles, same-depth calls) are bent so they do not hide other edges.
    path_edges: dict[tuple[str, str], int] = {}
    for c in causes:
        for a, b in zip(c.path, c.path[1:]):
            # path is propagation order [cause, ..., symptom]: b calls a.
            path_edges.setdefault((b, a), c.rank)
    for u, v in lay.edges:
        (x1, y1), (x2, y2) = pos[u], pos[v]
        bend = 0.0 if y2 < y1 - 0.5 else 0.35
        on_path = (u, v) in path_edges
        ax.add_patch(
            FancyArrowPatch(
                (x1, y1), (x2, y2),
                arrowstyle="-|>", mutation_scale=9,
                shrinkA=13, shrinkB=13,
                connectionstyle=f"arc3,rad={bend}",
                color="#9e9e9e", lw=0.8, alpha=0.8, zorder=1,
                gid=f"call:{u}->{v}",
                label="_call" if not on_path else "_call_on_path",
            )
        )

    # Propagation paths, drawn over the call edges: from cause to symptom.
    for c in sorted(causes, key=lambda c: -c.rank):
        pts = [pos[n] for n in c.path if n in pos]
        if len(pts) < 2:
            continue
        top = c.rank == causes[0].rank
        xs, ys = zip(*pts)
        ax.plot(
            xs, ys,
            color=CAUSE_COLOR if top else PATH_COLOR,
            lw=4.5 if top else 2.0,
            ls="-" if top else "--",
            alpha=0.75 if top else 0.6,
            solid_capstyle="round",
            zorder=2,
            gid=f"path:{c.rank}",
            label="propagation path (top cause)" if top else "_propagation path",
        )

    names = list(pos)
    colors = [cmap(norm(scores[n])) if n in scores else _NO_DATA for n in names]
    xs = [pos[n][0] for n in names]
    ys = [pos[n][1] for n in names]
    cause_rank = {c.service: c.rank for c in causes}
    sizes = [620 if n == symptom else 480 for n in names]
    edgecolors = [CAUSE_COLOR if n in cause_rank else (SYMPTOM_COLOR if n == symptom else "#616161") for n in names]
    linewidths = [3.0 if n in cause_rank or n == symptom else 0.8 for n in names]
    markers = ["s" if n == symptom else "o" for n in names]
    nodes = ax.scatter(
        xs, ys, s=sizes, c=colors, edgecolors=edgecolors, linewidths=linewidths, zorder=3, gid="services"
    )
    nodes.set_paths([_marker_path(m) for m in markers])

    label_size = 8 if lay.width <= 8 else 7
    for n in names:
        x, y = pos[n]
        ax.text(
            x, y - 0.2, shorten(n), ha="center", va="top", fontsize=label_size, zorder=4,
            fontweight="bold" if (n in cause_rank or n == symptom) else "normal",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
            gid=f"label:{n}", **TEXT,
        )
        if n in cause_rank:
            ax.text(
                x + 0.17, y + 0.13, f"#{cause_rank[n]}", ha="left", va="bottom", fontsize=9,
                color="white", fontweight="bold", zorder=5,
                bbox={"boxstyle": "round,pad=0.2", "fc": CAUSE_COLOR, "ec": "none"},
                gid=f"rank:{cause_rank[n]}", **TEXT,
            )
        if n == symptom:
            ax.text(
                x, y + 0.2, "symptom", ha="center", va="bottom", fontsize=8,
                color=SYMPTOM_COLOR, fontstyle="italic", zorder=5, gid="symptom-tag", **TEXT,
            )

    xs_all = [p[0] for p in pos.values()]
    ys_all = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs_all) - 0.9, max(xs_all) + 0.9)
    ax.set_ylim(min(ys_all) - 0.6, max(ys_all) + 0.55)

    title = f"{shorten(symptom, 40)} · {shorten(result.incident.metric, 30)}"
    if result.top is not None:
        top = result.top
        title += f" — top cause: {shorten(top.service, 40)} ({top.confidence:.0%} confidence)" if _ok(
            top.confidence
        ) else f" — top cause: {shorten(top.service, 40)}"
    else:
        title += " — no root cause found"
    if lay.hidden:
        title += f"\n{len(lay.hidden)} more dependencies not drawn (max_nodes={max_nodes})"
    ax.set_title(title, fontsize=11, **TEXT)

    if any(d < 0 for d in lay.depth.values()):
        y_out = min(p[1] for n, p in pos.items() if lay.depth[n] < 0)
        ax.text(min(xs_all) - 0.85, y_out + 0.32, "not a dependency of the symptom", fontsize=7,
                color="#616161", ha="left", **TEXT)

    handles = [
        Line2D([], [], marker="s", ls="", ms=10, mfc="white", mec=SYMPTOM_COLOR, mew=2.5, label="symptom"),
        Line2D([], [], marker="o", ls="", ms=10, mfc="white", mec=CAUSE_COLOR, mew=2.5, label="ranked cause (#rank)"),
        Line2D([], [], color=CAUSE_COLOR, lw=4, alpha=0.75, label="propagation path"),
        Line2D([], [], color="#9e9e9e", lw=1, marker=">", ms=5, label="calls (caller → callee)"),
        Line2D([], [], marker="o", ls="", ms=10, mfc=_NO_DATA, mec="#616161", label="no scored metric"),
    ]
    ax.legend(handles=handles, loc="upper left", fontsize=7, frameon=False, bbox_to_anchor=(0.0, 1.0))
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6, pad=0.01, aspect=30)
    bar.set_label("anomaly score (> 1: beyond anything in the baseline; log scale above 1)", fontsize=8)
    ticks = [t for t in (0, 1, 3, 10, 30, 100, 300, 1000, 3000, 10000) if t <= vmax]
    bar.set_ticks(ticks, labels=[str(t) for t in ticks])
    bar.ax.minorticks_off()
    bar.ax.tick_params(labelsize=7)
    return fig


def _ok(x: float | None) -> bool:
    return x is not None and math.isfinite(float(x))


def _marker_path(marker: str):  # type: ignore[no-untyped-def]
    """The path of a scatter marker (scatter takes one marker for all points)."""
    from matplotlib.markers import MarkerStyle

    m = MarkerStyle(marker)
    return m.get_path().transformed(m.get_transform())
