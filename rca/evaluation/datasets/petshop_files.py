"""The PetShop file formats: the call graph (``graph.csv``) and the three-header metrics (``metrics.csv``).

See :mod:`rca.evaluation.datasets.petshop` for the directory layout, the edge
direction and how series are named; this module only reads files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rca.engine.errors import InvalidInputError
from rca.engine.types import DataIssue
from rca.evaluation.datasets.base import compact_names
from topology import NodeKind, ServiceGraph
from topology.io_csv import read_adjacency_csv

__all__ = ["read_petshop_metrics", "read_petshop_graph", "petshop_node_kind", "metric_name"]


def petshop_node_kind(name: str) -> tuple[NodeKind, str | None]:
    """Kind of a PetShop node from its name suffix, and the raw AWS type (or None).

    >>> petshop_node_kind("petInfo_AWS::DynamoDB::Table")
    (<NodeKind.DATABASE: 'database'>, 'AWS::DynamoDB::Table')
    >>> petshop_node_kind("amazon.com_remote")
    (<NodeKind.EXTERNAL: 'external'>, 'remote')
    """
    if name.startswith("AWS::"):
        raw: str | None = name
    elif "_AWS::" in name:
        raw = name[name.index("_AWS::") + 1 :]
    elif "_Database::" in name:
        raw = name[name.index("_Database::") + 1 :]
    elif name.endswith("_remote"):
        raw = "remote"
    elif name.endswith("_client"):
        raw = "client"
    else:
        raw = None
    if name.endswith("_remote"):
        kind = NodeKind.EXTERNAL
    elif raw is not None and ("DynamoDB" in raw or raw.startswith("Database::") or raw == "AWS::S3"):
        kind = NodeKind.DATABASE
    elif raw is not None and "SQS::Queue" in raw:
        kind = NodeKind.QUEUE
    else:
        kind = NodeKind.SERVICE
    return kind, raw


def read_petshop_graph(path: str | Path) -> ServiceGraph:
    """Read a PetShop ``graph.csv`` adjacency matrix (row R calls column C), with node kinds.

    Parse errors are :class:`topology.TopologyError` naming the file and line.
    """
    graph = read_adjacency_csv(Path(path))
    for name in graph.services:
        kind, raw = petshop_node_kind(name)
        graph.add_service(name, kind=kind, tags={"aws_type": raw} if raw else None)
    return graph


# -- metrics -------------------------------------------------------------------
def metric_name(metric: str, statistic: str) -> str:
    if statistic in ("Average", "Sum"):
        return metric
    return f"{metric}_{statistic.lower()}"


def read_petshop_metrics(path: str | Path) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Read one PetShop ``metrics.csv`` as a long frame, and the all-empty series dropped.

    Returns ``(frame, issues)``; ``frame`` has columns ``timestamp`` (UTC),
    ``service``, ``metric``, ``value`` sorted by time; ``issues`` has one
    ``DataIssue(kind="empty")`` per series without any value.
    """
    path = Path(path)
    try:
        wide = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read PetShop metrics {path}: {exc}", field="dataset") from None
    if wide.columns.nlevels != 3:
        raise InvalidInputError(
            f"{path}: expected three header rows (node, metric, statistic)", field="dataset"
        )
    nodes = np.asarray([str(x) for x in wide.columns.get_level_values(0)], dtype=object)
    names = np.asarray(
        [metric_name(str(m), str(s)) for m, s in zip(wide.columns.get_level_values(1), wide.columns.get_level_values(2), strict=True)],
        dtype=object,
    )
    odd = [c for c, dt in zip(wide.columns, wide.dtypes, strict=True) if not pd.api.types.is_numeric_dtype(dt)]
    if odd:  # a stray text cell makes a column non-numeric: coerce it to NaN
        wide = wide.copy()
        for c in odd:
            wide[c] = pd.to_numeric(wide[c], errors="coerce")
    values = wide.to_numpy(dtype=float)
    stamps = pd.to_numeric(pd.Series(wide.index), errors="coerce").to_numpy(dtype=float)
    good_rows = np.isfinite(stamps)
    values, stamps = values[good_rows], stamps[good_rows]
    empty = np.isnan(values).all(axis=0)
    issues = [
        DataIssue(
            kind="empty",
            message=f"{nodes[k]} {names[k]} has no value in {path.parent.name}/{path.name}; dropped",
            service=str(nodes[k]),
            metric=str(names[k]),
        )
        for k in np.flatnonzero(empty)
    ]
    ts = pd.to_datetime(stamps, unit="s", utc=True)
    n_t, n_c = values.shape
    flat = values.ravel()
    keep = ~np.isnan(flat)
    frame = pd.DataFrame(
        {
            "timestamp": np.repeat(ts, n_c)[keep],
            "service": np.tile(nodes, n_t)[keep],
            "metric": np.tile(names, n_t)[keep],
            "value": flat[keep],
        }
    )
    frame["service"] = frame["service"].astype("str")
    frame["metric"] = frame["metric"].astype("str")
    frame = frame.sort_values(["timestamp", "service", "metric"], kind="stable").reset_index(drop=True)
    return compact_names(frame), issues


# -- cases ---------------------------------------------------------------------
