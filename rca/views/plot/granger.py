"""The Granger evidence as a cause x effect matrix with lag and p-value labels."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rca.engine.types import GrangerTest, RCAResult
from rca.views.plot._common import TEXT, check_result, new_figure, shorten

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_granger"]


def plot_granger(result: RCAResult, *, max_services: int = 15) -> Figure:
    """Draw every Granger test as a cell: rows cause (callee), columns effect (caller).

    Several metric pairs of one service pair collapse into their strongest
    test (smallest p-value).  A cell's colour is ``-log10(p)``; its label
    gives the metric pair, the lag, the p-value and the BH-corrected q-value;
    significant tests are outlined.  Pairs whose only tests were skipped are
    hatched and say why.  Empty cells are pairs that were not tested (no call
    edge between them).

    Parameters
    ----------
    result : RCAResult
    max_services : int
        Keep at most this many services per axis, preferring the ranked causes,
        the symptom and the strongest tests.

    Returns
    -------
    matplotlib.figure.Figure
        A figure with a short explanation when no test was attempted.
    """
    result = check_result(result)
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    tests = list(result.granger)
    if not tests:
        fig = new_figure(6.0, 2.0)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, "No Granger tests were run for this analysis\n(disabled, or no call edge had data).",
                ha="center", va="center", fontsize=10, transform=ax.transAxes, **TEXT)
        return fig

    best: dict[tuple[str, str], GrangerTest] = {}
    for t in tests:
        key = (t.cause_service, t.effect_service)
        cur = best.get(key)
        if cur is None or _p(t) < _p(cur):
            best[key] = t

    priority = [c.service for c in result.causes] + [result.incident.service]
    strength = sorted(best.values(), key=_p)
    def pick(names: list[str]) -> list[str]:
        order = [n for n in priority if n in names]
        order += [n for t in strength for n in (t.cause_service, t.effect_service) if n in names and n not in order]
        order += sorted(n for n in names if n not in order)
        return order[:max_services]

    rows = pick(sorted({k[0] for k in best}))
    cols = pick(sorted({k[1] for k in best}))
    rank = {c.service: c.rank for c in result.causes}
    rows.sort(key=lambda n: (rank.get(n, 10**6), n))
    cols.sort(key=lambda n: (n != result.incident.service, rank.get(n, 10**6), n))

    cell_w, cell_h = 1.55, 0.62
    fig = new_figure(max(6.0, 2.6 + cell_w * len(cols)), max(2.6, 1.6 + cell_h * len(rows)))
    ax = fig.add_subplot()
    cmap = colormaps["Purples"]
    vmax = max(3.0, max((-math.log10(max(_p(t), 1e-300)) for t in best.values() if t.p_value is not None), default=3.0))
    vmax = min(vmax, 12.0)
    norm = Normalize(0.0, vmax)
    grid = np.full((len(rows), len(cols)), np.nan)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            t = best.get((r, c))
            if t is not None and t.p_value is not None:
                grid[i, j] = min(-math.log10(max(t.p_value, 1e-300)), vmax)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto")
    image.set_gid("granger-matrix")

    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            t = best.get((r, c))
            if t is None:
                continue
            if t.p_value is None:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", ec="#bdbdbd", lw=0))
                label = f"skipped\n{shorten(t.skipped or 'not run', 22)}"
                color = "#616161"
            else:
                lag = "?" if t.lag is None else str(t.lag)
                q = "" if t.q_value is None else f" q={_fmt(t.q_value)}"
                label = f"{shorten(t.cause_metric, 12)}→{shorten(t.effect_metric, 12)}\nlag {lag}  p={_fmt(t.p_value)}{q}"
                color = "white" if norm(grid[i, j]) > 0.6 else "black"
                if t.significant:
                    ax.add_patch(Rectangle((j - 0.48, i - 0.48), 0.96, 0.96, fill=False, ec="#b2182b", lw=2.0,
                                           gid=f"significant:{r}->{c}"))
            ax.text(j, i, label, ha="center", va="center", fontsize=7, color=color, gid=f"cell:{r}->{c}", **TEXT)

    ax.set_xticks(range(len(cols)), [shorten(c, 22) for c in cols], rotation=30, ha="right", fontsize=8, **TEXT)
    ax.set_yticks(range(len(rows)), [_row_label(r, rank) for r in rows], fontsize=8, **TEXT)
    ax.set_xlabel("effect (caller)", fontsize=9)
    ax.set_ylabel("cause (callee)", fontsize=9)
    ax.set_xticks(np.arange(-0.5, len(cols), 1), minor=True)
    ax.set_yticks(np.arange(-0.5, len(rows), 1), minor=True)
    ax.grid(which="minor", color="white", lw=2)
    ax.tick_params(which="minor", length=0)
    n_sig = sum(t.significant for t in tests)
    n_skip = sum(t.p_value is None for t in tests)
    ax.set_title(f"Granger tests along call edges: {len(tests)} run, {n_sig} significant, {n_skip} skipped",
                 fontsize=10, **TEXT)
    bar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
    bar.set_label("-log10 p", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return fig


def _row_label(name: str, rank: dict[str, int]) -> str:
    return f"#{rank[name]} {shorten(name, 22)}" if name in rank else shorten(name, 22)


def _p(t: GrangerTest) -> float:
    if t.p_value is None or not math.isfinite(float(t.p_value)):
        return 2.0  # after every real p-value
    return float(t.p_value)


def _fmt(x: float) -> str:
    return f"{x:.2g}" if x >= 0.001 else f"{x:.0e}"
