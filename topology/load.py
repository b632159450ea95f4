"""One entry point for every topology format: :func:`load` and :func:`loads`.

Format names (:data:`FORMATS`):

============== ==============================================================
``json``       the topology document (:mod:`topology.io_json`)
``yaml``       the same document in YAML (:mod:`topology.io_yaml`)
``edges-csv``  ``Source,Target[,Weight]`` edge list (:mod:`topology.io_csv`)
``adjacency-csv`` adjacency matrix with row labels in the first column
``otlp``       OpenTelemetry OTLP/JSON traces (:mod:`topology.io_traces`)
``jaeger``     Jaeger JSON traces
``zipkin``     Zipkin v2 JSON spans
``nezha-spans`` Nezha span CSV
``servicenow-cmdb`` ServiceNow ``cmdb_rel_ci`` export, JSON or CSV (:mod:`topology.io_servicenow`)
============== ==============================================================

When no format is given it is guessed: ``.yaml``/``.yml`` is YAML, and so is
text whose first content line is a ``services:`` or ``calls:`` key; a CSV is
an edge list when its header starts with ``Source,Target`` or
``caller,callee``, an adjacency matrix when its first header cell is empty,
and Nezha spans when it starts with ``TraceID,SpanID``; JSON is a topology
document when it has ``services`` or ``calls``, else OTLP (``resourceSpans``),
Jaeger (``data``) or Zipkin (a list of spans); records with ``parent``, ``child`` and
``type`` (JSON ``result`` or CSV columns) are a ServiceNow CMDB export.

``edges="causal"`` reads a graph whose arrows mean cause -> effect (a causal
DAG, the output of causal discovery, PyRCA's or CIRCA's generators) and turns
it into a call graph with :meth:`ServiceGraph.reversed`; traces always give
calls.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

from topology.errors import TopologyError
from topology.io_csv import loads_adjacency_csv, loads_edge_csv
from topology.io_json import _decode, _parse_json, _read_text, graph_from_dict
from topology.io_servicenow import loads_cmdb_csv, loads_cmdb_json, looks_like_cmdb
from topology.io_spans import read_spans_csv
from topology.io_trace_json import (
    _JSON_READERS,
    _parse_json_or_lines,
    _sniff_json_traces,
)
from topology.io_traces import TRACE_FORMATS, loads_traces
from topology.io_yaml import loads_yaml
from topology.model import ServiceGraph, check_edges

__all__ = ["FORMATS", "load", "loads", "sniff_format"]

#: Every format name accepted by :func:`load` and :func:`loads`.
FORMATS: tuple[str, ...] = (
    "json",
    "yaml",
    "edges-csv",
    "adjacency-csv",
    "otlp",
    "jaeger",
    "zipkin",
    "nezha-spans",
    "servicenow-cmdb",
)

_EDGE_HEADERS = (("source", "target"), ("caller", "callee"))


def _check_format(format: str) -> str:
    name = str(format).strip().lower()
    if name not in FORMATS:
        raise TopologyError(
            f"unknown topology format {format!r}; known formats: {', '.join(FORMATS)}",
            field="format",
        )
    return name


def _sniff_csv(text: str) -> str | None:
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        header = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        return None
    cells = [c.strip().lower() for c in header]
    if len(cells) >= 2 and tuple(cells[:2]) in _EDGE_HEADERS:
        return "edges-csv"
    if len(cells) >= 2 and cells[0] == "traceid" and cells[1] == "spanid":
        return "nezha-spans"
    if len(cells) >= 2 and cells[0] == "":
        return "adjacency-csv"
    if {"parent", "child", "type"} <= set(cells):
        return "servicenow-cmdb"
    return None


def _looks_like_yaml(text: str) -> bool:
    """True when the first content line is a YAML key (``services:``, ``calls:``)."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped == "---":
            continue
        return stripped.split(":", 1)[0].strip() in ("services", "calls")
    return False


def _sniff_json(doc: object) -> str | None:
    if isinstance(doc, dict) and (not doc or "services" in doc or "calls" in doc):
        return "json"
    if looks_like_cmdb(doc):
        return "servicenow-cmdb"
    return _sniff_json_traces(doc)


def sniff_format(data: str | bytes, filename: str | os.PathLike[str] | None = None) -> str:
    """Guess the format of ``data`` from the file extension and the content.

    Parameters
    ----------
    data : str or bytes
        The content (only its start matters for CSV).
    filename : path, optional
        ``.yaml`` / ``.yml`` decide YAML without looking at the content.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    TopologyError
        When the content matches no known format, or looks like JSON but
        does not parse (the error gives the line).

    Examples
    --------
    >>> sniff_format("Source,Target\\na,b\\n"), sniff_format(",a\\na,0\\n")
    ('edges-csv', 'adjacency-csv')
    >>> sniff_format('{"services": []}'), sniff_format("services: [a]", "topo.yml")
    ('json', 'yaml')
    """
    source = None if filename is None else os.fspath(filename)
    suffix = "" if filename is None else Path(filename).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    text = _decode(data, source)
    head = text.lstrip()
    found: str | None = None
    if head[:1] in ("{", "["):
        # Clearly meant as JSON: a syntax error (with its line) helps more than
        # "cannot tell the format".
        found = _sniff_json(_parse_json_or_lines(text, source))
    elif suffix != ".json":
        found = _sniff_csv(text)
        if found is None and suffix != ".csv":
            found = "yaml" if _looks_like_yaml(text) else None
    if found is None:
        raise TopologyError(
            f"cannot tell the format; pass one of: {', '.join(FORMATS)}", source=source
        )
    return found


def _graph_from_json(doc: object, name: str, source: str | None) -> ServiceGraph:
    if name == "json":
        return graph_from_dict(doc, source=source)
    reader: Callable[..., ServiceGraph] = _JSON_READERS[name]
    return reader(doc, source=source)


def loads(data: str | bytes, format: str | None, *, source: str | None = None, edges: str = "calls") -> ServiceGraph:
    """Parse a topology held in memory (e.g. an HTTP request body).

    Parameters
    ----------
    data : str or bytes
        The content; bytes are decoded as UTF-8.
    format : str or None
        One of :data:`FORMATS` (case-insensitive); None guesses it with
        :func:`sniff_format`.
    source : str, optional
        Name of the data in error messages (e.g. ``"request body"``).
    edges : {"calls", "causal"}
        What an arrow ``A -> B`` of the document means: A calls B, or A
        causes B (the graph is then reversed).  Trace formats always give calls.

    Returns
    -------
    ServiceGraph

    Raises
    ------
    TopologyError
        Unknown format (the message lists :data:`FORMATS`) or invalid content.

    Examples
    --------
    >>> loads("caller,callee\\nweb,db\\n", "edges-csv").calls
    [Call(caller='web', callee='db', weight=None, calls=None)]
    >>> loads("{}", "xml")
    Traceback (most recent call last):
    ...
    topology.errors.TopologyError: field 'format': unknown topology format 'xml'; known formats: json, yaml, edges-csv, adjacency-csv, otlp, jaeger, zipkin, nezha-spans, servicenow-cmdb
    """
    name = _check_format(format) if format is not None else None
    check_edges(edges)
    text = _decode(data, source)
    if name is None:
        name = sniff_format(text, source)
    _refuse_causal_traces(name, edges, source)
    return _dispatch(text, name, source).as_calls(edges)


def _refuse_causal_traces(name: str, edges: str, source: str | None) -> None:
    """Traces record calls: reading them as cause -> effect is a mistake, said before any work."""
    if name in TRACE_FORMATS and check_edges(edges) == "causal":
        raise TopologyError(
            f"{name} traces record who called whom; edges='causal' only applies to graph documents",
            source=source,
            field="edges",
        )


def _dispatch(text: str, name: str, source: str | None) -> ServiceGraph:
    if name == "yaml":
        return loads_yaml(text, source=source)
    if name == "edges-csv":
        return loads_edge_csv(text, source=source)
    if name == "adjacency-csv":
        return loads_adjacency_csv(text, source=source)
    if name == "nezha-spans":
        return loads_traces(text, name, source=source)
    if name == "servicenow-cmdb":
        if text.lstrip()[:1] in ("{", "["):
            return loads_cmdb_json(_parse_json(text, source), source=source)
        return loads_cmdb_csv(text, source=source)
    if name == "json":
        doc = _parse_json(text, source)
    else:
        doc = _parse_json_or_lines(text, source)
    return _graph_from_json(doc, name, source)


def load(path: str | os.PathLike[str], format: str | None = None, *, edges: str = "calls") -> ServiceGraph:
    """Read a topology from a file (or, for ``nezha-spans``, a folder of span CSVs).

    Parameters
    ----------
    path : path
        The file.
    format : str, optional
        One of :data:`FORMATS`; guessed from the extension and the content
        when None.
    edges : {"calls", "causal"}
        What an arrow ``A -> B`` in the file means: A calls B, or A causes B
        (the graph is then reversed, see :meth:`ServiceGraph.reversed`).

    Returns
    -------
    ServiceGraph

    Raises
    ------
    TopologyError
        Unreadable file, unknown format, or invalid content (errors name the file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp, "dependency.csv")
    ...     _ = p.write_text("Source,Target,Weight\\nfrontend,cartservice,1\\n")
    ...     load(p).calls
    [Call(caller='frontend', callee='cartservice', weight=1.0, calls=None)]
    """
    name = _check_format(format) if format is not None else None
    check_edges(edges)
    if Path(path).is_dir():
        if name not in (None, "nezha-spans"):
            raise TopologyError(f"format {name!r} needs a file, not a folder", source=os.fspath(path))
        name = "nezha-spans"
    if name == "nezha-spans":
        _refuse_causal_traces(name, edges, os.fspath(path))
        return read_spans_csv(path)
    text, source = _read_text(path)
    if name is None:
        try:
            name = sniff_format(text, path)
        except TopologyError as err:
            raise TopologyError(err.message, source=source, line=err.line, field=err.field) from None
    _refuse_causal_traces(name, edges, source)
    return _dispatch(text, name, source).as_calls(edges)

