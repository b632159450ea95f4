"""Derive the call graph from distributed-tracing spans.

A span whose parent span ran in another service is one call
``parent's service -> child's service``; the number of such span pairs is the
call count (:attr:`Call.calls`).  Parent and child in the same service are an
internal step (a handler calling a client library) and are left out unless
``include_internal=True`` (then they appear as self-calls).  A parent that is
not among the spans (the trace was cut at a file boundary) yields no call.

Formats:

``nezha-spans``
    The Nezha span CSV: ``TraceID,SpanID,ParentID,PodName,OperationName,
    StartTimeUnixNano,EndTimeUnixNano,Duration`` (``ParentID`` is ``root`` for
    root spans, ``Duration`` in microseconds).  Pods are mapped to services
    with :class:`topology.naming.PodNameMapper` unless ``service_of`` says
    otherwise.  :func:`normalize_spans_csv` exposes the cleaned span table.
``otlp``
    OpenTelemetry OTLP/JSON export (``resourceSpans[].resource.attributes``
    with ``service.name``; ``scopeSpans[].spans[]`` with hex ``traceId``,
    ``spanId``, ``parentSpanId``), one document, a list of them, or JSON lines
    as written by the collector's file exporter.
``jaeger``
    Jaeger JSON (``data[].spans[]`` whose ``CHILD_OF`` reference is the
    parent; ``processes[processID].serviceName``).  ``FOLLOWS_FROM``
    references are not calls and are ignored.
``zipkin``
    Zipkin v2 JSON: a list of spans (or a list of traces, each a list of
    spans) with ``traceId``, ``id``, ``parentId`` and
    ``localEndpoint.serviceName``.  A ``shared`` server span reuses the id of
    its client span; it is treated as the client span's child.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from topology.errors import TopologyError
from topology.io_json import _decode, _read_bytes
from topology.io_spans import (
    ServiceOf,
    _normalize_one,
    _read_nezha_csv,
    graph_from_spans,
    read_spans_csv,
)
from topology.io_trace_json import (
    _JSON_READERS,
    _parse_json_or_lines,
    _sniff_json_traces,
)
from topology.model import ServiceGraph
from topology.naming import PodNameMapper

__all__ = ["TRACE_FORMATS", "read_traces", "loads_traces"]

logger = logging.getLogger(__name__)

#: Trace formats understood by :func:`read_traces` and :func:`loads_traces`.
TRACE_FORMATS = ("otlp", "jaeger", "zipkin", "nezha-spans")



def _check_format(format: str) -> str:
    name = str(format).strip().lower()
    if name not in TRACE_FORMATS:
        raise TopologyError(
            f"unknown trace format {format!r}; use one of: {', '.join(TRACE_FORMATS)}",
            field="format",
        )
    return name


def loads_traces(
    data: str | bytes,
    format: str | None = None,
    *,
    include_internal: bool = False,
    service_of: ServiceOf | None = None,
    source: str | None = None,
) -> ServiceGraph:
    """The call graph of trace data held in memory.

    Parameters
    ----------
    data : str or bytes
        File content in one of :data:`TRACE_FORMATS`.
    format : str, optional
        One of :data:`TRACE_FORMATS`; sniffed from the content when None
        (a ``TraceID,SpanID`` CSV header is ``nezha-spans``).
    include_internal : bool, default False
    service_of : callable, optional
        Name mapping (default: pod names stripped for ``nezha-spans``,
        identity for the JSON formats).
    source : str, optional

    Returns
    -------
    ServiceGraph

    Examples
    --------
    >>> loads_traces('[{"traceId": "t", "id": "1", "localEndpoint": {"serviceName": "a"}}]').services
    ['a']
    """
    text = _decode(data, source)
    name = _check_format(format) if format is not None else None
    if name is None and text.lstrip()[:1] not in ("{", "["):
        name = "nezha-spans"
    if name == "nezha-spans":
        frame = _read_nezha_csv(io.StringIO(text), source or "<string>")
        spans = _normalize_one(frame, source or "<string>", True, service_of or PodNameMapper())
        return graph_from_spans(spans, include_internal=include_internal)
    doc = _parse_json_or_lines(text, source)
    if name is None:
        name = _sniff_json_traces(doc)
        if name is None:
            raise TopologyError(
                "cannot tell the trace format (expected OTLP 'resourceSpans', Jaeger "
                "'data', or a Zipkin list of spans); pass format=",
                source=source,
            )
    return _JSON_READERS[name](
        doc, include_internal=include_internal, service_of=service_of, source=source
    )


def read_traces(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    format: str | None = None,
    *,
    include_internal: bool = False,
    service_of: ServiceOf | None = None,
) -> ServiceGraph:
    """The call graph of a trace file (or, for ``nezha-spans``, files or a folder).

    Parameters
    ----------
    path : path or list of paths
        A ``.csv`` file, a folder of them, or a list is read as
        ``nezha-spans``; any other file is parsed as JSON (or JSON lines) and
        its format sniffed unless ``format`` is given.
    format : str, optional
        One of :data:`TRACE_FORMATS`.
    include_internal : bool, default False
    service_of : callable, optional

    Returns
    -------
    ServiceGraph

    Raises
    ------
    TopologyError
        Unknown format, unreadable file, or invalid content.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> spans = [{"traceId": "t", "id": "1", "localEndpoint": {"serviceName": "web"}},
    ...          {"traceId": "t", "id": "2", "parentId": "1", "localEndpoint": {"serviceName": "db"}}]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp, "zipkin.json")
    ...     _ = p.write_text(json.dumps(spans))
    ...     read_traces(p).has_call("web", "db")
    True
    """
    name = _check_format(format) if format is not None else None
    single = Path(path) if isinstance(path, str | os.PathLike) else None
    if name is None and (single is None or single.is_dir() or single.suffix.lower() == ".csv"):
        name = "nezha-spans"
    if name == "nezha-spans":
        return read_spans_csv(path, service_of=service_of, include_internal=include_internal)
    if single is None:
        raise TopologyError(f"format {name!r} reads one file at a time", field="path")
    source = os.fspath(single)
    return loads_traces(
        _read_bytes(source, source), name, include_internal=include_internal, service_of=service_of, source=source
    )
