"""``reliability.png``: the reliability diagram of a bench run, one panel per held-out system.

Each panel plots, per confidence bin, how often the first cause was right
against the mean confidence given: on the diagonal a confidence means what
it says.  Circles are the calibrated confidence measured on a system left out
of the fit, crosses the ranking's raw posterior; a circle's area is the
bin's number of cases.  Needs matplotlib (``pip install "rca-engine[plot]"``);
without it the diagram is skipped and :func:`write_reliability_diagram`
returns None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rca.evaluation.bench.confidence_fit import HeldOut

__all__ = ["reliability_figure", "write_reliability_diagram"]


def reliability_figure(held: Sequence[HeldOut | Mapping[str, Any]]) -> Any:
    """The diagram as a matplotlib Figure (rows of ``summary.json``'s ``calibration_held_out`` work too).

    Raises ImportError without matplotlib; in a notebook the figure shows itself.
    """
    from matplotlib.figure import Figure

    held = [h if isinstance(h, HeldOut) else HeldOut(**h) for h in held]
    fig = Figure(figsize=(3.6 * max(1, len(held)), 3.8))
    axes = fig.subplots(1, max(1, len(held)), squeeze=False)
    for ax, h in zip(axes[0], held, strict=False):
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
        for rel, marker, label in ((h.raw, "x", "raw"), (h.calibrated, "o", "held-out calibrated")):
            bins = rel.get("bins") or []
            if not bins:
                continue
            xs = [b["confidence"] for b in bins]
            ys = [b["accuracy"] for b in bins]
            sizes = [20 + 6 * b["n"] for b in bins] if marker == "o" else None
            ax.scatter(xs, ys, s=sizes, marker=marker, alpha=0.7,
                       label=f"{label} (ECE {rel['ece']:.2f})" if rel.get("ece") is not None else label)
            ax.plot(xs, ys, lw=0.8, alpha=0.5)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{h.system}, {h.cases} ({h.n} named a cause)", fontsize=9)
        ax.set_xlabel("confidence in the first cause")
        ax.set_ylabel("share right")
        ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return fig


def write_reliability_diagram(held: Sequence[HeldOut], path: str | Path) -> Path | None:
    """Draw the diagram of ``held`` into ``path`` (PNG); None when matplotlib is missing or nothing to draw."""
    if not held:
        return None
    try:
        fig = reliability_figure(held)
    except ImportError:
        return None
    out = Path(path)
    fig.savefig(out, dpi=110)
    return out
