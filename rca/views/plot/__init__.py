"""Pictures of an analysis: topology, cause metrics and Granger evidence.

Every function takes an :class:`~rca.engine.types.RCAResult` (plus the inputs it was
computed from) and returns a :class:`matplotlib.figure.Figure`.  Nothing here
calls ``pyplot.show()`` or touches pyplot's global figure registry: figures are
built with the object-oriented API, so they are safe in servers and threads
and need no interactive backend.  Display them in a notebook by leaving the
figure as a cell's last expression, or save them with ``fig.savefig(...)``.

matplotlib is an optional dependency (``pip install "rca-engine[plot]"``); it
is imported only when one of these functions is first used, so ``import rca``
never needs it.

>>> from rca.views.plot import plot_topology  # doctest: +SKIP
>>> plot_topology(result, graph).savefig("topology.png")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rca.views.plot.layout import TopologyLayout, layer_layout

if TYPE_CHECKING:  # pragma: no cover
    from rca.views.plot.granger import plot_granger
    from rca.views.plot.metrics import plot_cause_metrics
    from rca.views.plot.topology import plot_topology

__all__ = ["plot_topology", "plot_cause_metrics", "plot_granger", "layer_layout", "TopologyLayout"]

_LAZY = {
    "plot_topology": "rca.views.plot.topology",
    "plot_cause_metrics": "rca.views.plot.metrics",
    "plot_granger": "rca.views.plot.granger",
}


def __getattr__(name: str) -> Any:
    # Import the matplotlib-backed modules on first use only.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rca.views.plot' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
