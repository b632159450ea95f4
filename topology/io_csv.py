"""Read and write call graphs as CSV: an edge list or an adjacency matrix.

Edge list (as Nezha's ``metric/dependency.csv``)::

    Source,Target,Weight
    frontend,cartservice,1
    cartservice,33.33.33.80,1

Header names are case-insensitive; ``caller,callee`` may replace
``Source,Target``; ``Weight`` (a finite number) and ``Calls`` (an integer >= 0)
are optional columns and an empty cell means "not known".  A node whose name
is an IP address gets kind ``host``; every other node is a ``service``.
The same edge twice is an error.

Adjacency matrix (as PetShop's ``graph.csv``, ``pandas.read_csv(path, index_col=0)``)::

    ,frontend,cart,db
    frontend,0,1,0
    cart,0,0,1.0
    db,0,0,0

The first column holds the row labels; a non-zero value at row R, column C is
an edge ``R -> C`` whose weight is that value.  Row and column labels must be
the same set; every cell must be a finite number.

CSV carries no kinds (other than the IP rule), tags or isolated nodes (edge
list only); use JSON or YAML for a lossless copy.  Errors are
:class:`TopologyError` with the file as ``source``, the 1-based ``line`` and,
for a bad cell, the column name as ``field``.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import math
from collections.abc import Iterator

from topology.errors import TopologyError
from topology.io_json import PathOrFile, _decode, _read_text, _write_text
from topology.model import NodeKind, ServiceGraph

__all__ = [
    "read_edge_csv",
    "loads_edge_csv",
    "write_edge_csv",
    "dumps_edge_csv",
    "read_adjacency_csv",
    "loads_adjacency_csv",
    "write_adjacency_csv",
    "dumps_adjacency_csv",
    "is_ip_address",
]

# Accepted edge-list header names (lower case) and the role each one plays.
_EDGE_COLUMNS = {
    "source": "caller",
    "caller": "caller",
    "target": "callee",
    "callee": "callee",
    "weight": "weight",
    "calls": "calls",
}


def is_ip_address(name: str) -> bool:
    """True when ``name`` is an IPv4 or IPv6 address (such nodes are hosts).

    Examples
    --------
    >>> is_ip_address("33.33.33.76"), is_ip_address("::1"), is_ip_address("cartservice")
    (True, True, False)
    """
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _kind_for(name: str) -> NodeKind:
    return NodeKind.HOST if is_ip_address(name) else NodeKind.SERVICE


def _rows(text: str, source: str | None) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line, cells)`` for every non-blank CSV record."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise TopologyError(
                f"malformed CSV: {exc}", source=source, line=reader.line_num
            ) from None
        if not row or all(not cell.strip() for cell in row):
            continue
        yield reader.line_num, row


def _number(cell: str, *, source: str | None, line: int, column: str, what: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise TopologyError(
            f"{what} must be a number, got {cell!r}", source=source, line=line, field=column
        ) from None
    if not math.isfinite(value):
        raise TopologyError(
            f"{what} must be a finite number, got {cell!r}", source=source, line=line, field=column
        )
    return value


# -- edge list ----------------------------------------------------------------
def loads_edge_csv(text: str | bytes, *, source: str | None = None) -> ServiceGraph:
    """Parse an edge-list CSV (``Source,Target[,Weight][,Calls]``).

    Parameters
    ----------
    text : str or bytes
        CSV text with a header row (bytes are decoded as UTF-8).
    source : str, optional
        Name used in error messages.

    Returns
    -------
    ServiceGraph
        Nodes in order of first appearance; IP-address nodes have kind ``host``.

    Raises
    ------
    TopologyError
        Missing or unknown header columns, a short/long row, an empty name, a
        non-numeric weight, a bad call count, or a repeated edge.

    Examples
    --------
    >>> g = loads_edge_csv("Source,Target,Weight\\nadservice,33.33.33.76,1\\n")
    >>> [(n.name, n.kind.value) for n in g.nodes]
    [('adservice', 'service'), ('33.33.33.76', 'host')]
    >>> loads_edge_csv("caller,callee,weight\\na,b,heavy\\n")
    Traceback (most recent call last):
    ...
    topology.errors.TopologyError: line 2, field 'weight': the weight must be a number, got 'heavy'
    """
    text = _decode(text, source)
    rows = _rows(text, source)
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise TopologyError(
            "the CSV is empty; expected a header 'Source,Target[,Weight]'", source=source, line=1
        ) from None
    roles: dict[str, int] = {}
    for j, name in enumerate(header):
        key = name.strip().lower()
        role = _EDGE_COLUMNS.get(key)
        if role is None:
            raise TopologyError(
                f"unknown column {name!r}; an edge list has the columns Source,Target "
                "(or caller,callee) and optionally Weight and Calls",
                source=source,
                line=header_line,
                field=name,
            )
        if role in roles:
            raise TopologyError(
                f"column {name!r} repeats the {role} column {header[roles[role]]!r}",
                source=source,
                line=header_line,
                field=name,
            )
        roles[role] = j
    for role, example in (("caller", "Source"), ("callee", "Target")):
        if role not in roles:
            raise TopologyError(
                f"the header {','.join(header)!r} has no {example} (or {role}) column",
                source=source,
                line=header_line,
            )
    graph = ServiceGraph()
    seen: dict[tuple[str, str], int] = {}
    for line, row in rows:
        if len(row) != len(header):
            raise TopologyError(
                f"expected {len(header)} cells like the header, got {len(row)}",
                source=source,
                line=line,
            )
        names = []
        for role in ("caller", "callee"):
            j = roles[role]
            name = row[j].strip()
            if not name:
                raise TopologyError(
                    f"the {role} name is empty", source=source, line=line, field=header[j]
                )
            names.append(name)
        caller, callee = names
        weight = None
        if "weight" in roles and row[roles["weight"]].strip():
            j = roles["weight"]
            weight = _number(row[j], source=source, line=line, column=header[j], what="the weight")
        count = None
        if "calls" in roles and row[roles["calls"]].strip():
            j = roles["calls"]
            cell = row[j].strip()
            if not (cell.isascii() and cell.isdigit()):
                raise TopologyError(
                    f"the call count must be an integer >= 0, got {cell!r}",
                    source=source,
                    line=line,
                    field=header[j],
                )
            count = int(cell)
        if (caller, callee) in seen:
            raise TopologyError(
                f"edge {caller} -> {callee} repeats line {seen[caller, callee]}; "
                "merge the two rows",
                source=source,
                line=line,
            )
        seen[caller, callee] = line
        for name in (caller, callee):
            if name not in graph:
                graph.add_service(name, kind=_kind_for(name))
        graph.add_call(caller, callee, weight=weight, calls=count)
    return graph


def read_edge_csv(path_or_file: PathOrFile) -> ServiceGraph:
    """Read an edge-list CSV from a path or an open file (see :func:`loads_edge_csv`).

    Examples
    --------
    >>> import io
    >>> read_edge_csv(io.StringIO("Source,Target\\nfrontend,cart\\n")).has_call("frontend", "cart")
    True
    """
    text, source = _read_text(path_or_file)
    return loads_edge_csv(text, source=source)


def dumps_edge_csv(graph: ServiceGraph) -> str:
    """The calls of ``graph`` as an edge-list CSV.

    The header is ``Source,Target``, plus ``Weight`` and ``Calls`` when any
    call has them.  Isolated nodes, kinds and tags are not written.

    Examples
    --------
    >>> g = ServiceGraph()
    >>> g.add_call("a", "b", weight=0.5)
    >>> print(dumps_edge_csv(g), end="")
    Source,Target,Weight
    a,b,0.5
    """
    calls = graph.calls
    with_weight = any(c.weight is not None for c in calls)
    with_calls = any(c.calls is not None for c in calls)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["Source", "Target"] + (["Weight"] if with_weight else []) + (["Calls"] if with_calls else [])
    )
    for c in calls:
        row = [c.caller, c.callee]
        if with_weight:
            row.append("" if c.weight is None else repr(float(c.weight)))
        if with_calls:
            row.append("" if c.calls is None else str(int(c.calls)))
        writer.writerow(row)
    return out.getvalue()


def write_edge_csv(graph: ServiceGraph, path_or_file: PathOrFile) -> None:
    """Write the calls of ``graph`` as an edge-list CSV (see :func:`dumps_edge_csv`).

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> write_edge_csv(ServiceGraph(calls=[("a", "b")]), buf)
    >>> buf.getvalue()
    'Source,Target\\na,b\\n'
    """
    _write_text(dumps_edge_csv(graph), path_or_file)


# -- adjacency matrix ---------------------------------------------------------
def loads_adjacency_csv(text: str | bytes, *, source: str | None = None) -> ServiceGraph:
    """Parse an adjacency-matrix CSV (row R, column C non-zero: edge ``R -> C``).

    Parameters
    ----------
    text : str or bytes
        CSV whose header row is ``<corner>,label1,label2,...`` and whose first
        column holds the same labels (in any order).
    source : str, optional
        Name used in error messages.

    Returns
    -------
    ServiceGraph
        Nodes in column order; each edge's weight is its cell value.

    Raises
    ------
    TopologyError
        Empty or repeated labels, row and column labels that differ, a row of
        the wrong length, or a cell that is not a finite number (the error
        names the line and the column).

    Examples
    --------
    >>> g = loads_adjacency_csv(",web,db\\nweb,0,1.0\\ndb,0,0\\n")
    >>> g.calls
    [Call(caller='web', callee='db', weight=1.0, calls=None)]
    >>> loads_adjacency_csv(",web,db\\nweb,0,x\\ndb,0,0\\n")
    Traceback (most recent call last):
    ...
    topology.errors.TopologyError: line 2, field 'db': cell (row 'web', column 3 'db') must be a number, got 'x'
    """
    text = _decode(text, source)
    rows = _rows(text, source)
    try:
        header_line, header = next(rows)
    except StopIteration:
        if text.strip() == '""':
            return ServiceGraph()  # what dumps_adjacency_csv writes for an empty graph
        raise TopologyError(
            "the CSV is empty; expected a header ',label1,label2,...'", source=source, line=1
        ) from None
    labels = [cell.strip() for cell in header[1:]]
    col_of: dict[str, int] = {}
    for j, label in enumerate(labels, start=2):
        if not label:
            raise TopologyError(
                f"column {j} of the header has an empty label",
                source=source,
                line=header_line,
                field=f"column {j}",
            )
        if label in col_of:
            raise TopologyError(
                f"column label {label!r} repeats column {col_of[label]}",
                source=source,
                line=header_line,
                field=label,
            )
        col_of[label] = j
    row_line: dict[str, int] = {}
    edges: list[tuple[str, str, float]] = []
    for line, row in rows:
        if len(row) != len(header):
            raise TopologyError(
                f"expected {len(header)} cells like the header, got {len(row)}",
                source=source,
                line=line,
            )
        label = row[0].strip()
        if not label:
            raise TopologyError("the row label (first cell) is empty", source=source, line=line)
        if label in row_line:
            raise TopologyError(
                f"row label {label!r} repeats line {row_line[label]}", source=source, line=line
            )
        if label not in col_of:
            raise TopologyError(
                f"row label {label!r} is not a column label; rows and columns must "
                "list the same nodes",
                source=source,
                line=line,
            )
        row_line[label] = line
        for j, (target, cell) in enumerate(zip(labels, row[1:], strict=True), start=2):
            value = _number(
                cell.strip(),
                source=source,
                line=line,
                column=target,
                what=f"cell (row {label!r}, column {j} {target!r})",
            )
            if value != 0.0:
                edges.append((label, target, value))
    missing = [label for label in labels if label not in row_line]
    if missing:
        raise TopologyError(
            f"no row for the column label(s) {', '.join(map(repr, missing))}; rows and "
            "columns must list the same nodes",
            source=source,
            line=header_line,
        )
    graph = ServiceGraph()
    for label in labels:
        graph.add_service(label, kind=_kind_for(label))
    for caller, callee, weight in edges:
        graph.add_call(caller, callee, weight=weight)
    return graph


def read_adjacency_csv(path_or_file: PathOrFile) -> ServiceGraph:
    """Read an adjacency-matrix CSV from a path or an open file.

    See :func:`loads_adjacency_csv`.

    Examples
    --------
    >>> import io
    >>> read_adjacency_csv(io.StringIO(",a,b\\na,0,0\\nb,1,0\\n")).has_call("b", "a")
    True
    """
    text, source = _read_text(path_or_file)
    return loads_adjacency_csv(text, source=source)


def dumps_adjacency_csv(graph: ServiceGraph) -> str:
    """The graph as an adjacency-matrix CSV, labels in node order.

    A call's cell holds its weight, or ``1`` when it has none; other cells are
    ``0``.  Call counts, kinds and tags are not written.

    Raises
    ------
    TopologyError
        If a call has weight 0 or a non-finite weight, which a matrix cannot
        tell apart from "no call".

    Examples
    --------
    >>> print(dumps_adjacency_csv(ServiceGraph(calls=[("a", "b")])), end="")
    ,a,b
    a,0,1
    b,0,0
    """
    labels = graph.services
    index = {name: i for i, name in enumerate(labels)}
    matrix = [["0"] * len(labels) for _ in labels]
    for c in graph.calls:
        if c.weight is None:
            cell = "1"
        elif c.weight == 0.0 or not math.isfinite(c.weight):
            raise TopologyError(
                f"call {c.caller} -> {c.callee} has weight {c.weight!r}, which an adjacency "
                "matrix cannot hold; use a non-zero finite weight or JSON",
                field=f"{c.caller} -> {c.callee}",
            )
        else:
            cell = repr(float(c.weight))
        matrix[index[c.caller]][index[c.callee]] = cell
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["", *labels])
    for name, row in zip(labels, matrix, strict=True):
        writer.writerow([name, *row])
    return out.getvalue()


def write_adjacency_csv(graph: ServiceGraph, path_or_file: PathOrFile) -> None:
    """Write the graph as an adjacency-matrix CSV (see :func:`dumps_adjacency_csv`).

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> write_adjacency_csv(ServiceGraph(["a"]), buf)
    >>> buf.getvalue()
    ',a\\na,0\\n'
    """
    _write_text(dumps_adjacency_csv(graph), path_or_file)
