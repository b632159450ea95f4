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
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd

from topology.errors import TopologyError
from topology.io_json import _decode, _invalid_json, _read_bytes
from topology.model import ServiceGraph
from topology.naming import PodNameMapper

__all__ = [
    "SPAN_COLUMNS",
    "TRACE_FORMATS",
    "normalize_spans_csv",
    "graph_from_spans",
    "read_spans_csv",
    "graph_from_otlp",
    "graph_from_jaeger",
    "graph_from_zipkin",
    "read_traces",
    "loads_traces",
]

logger = logging.getLogger(__name__)

#: Columns of the span table returned by :func:`normalize_spans_csv`.
SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_id",
    "service",
    "operation",
    "start",
    "end",
    "duration_us",
)

#: Trace formats understood by :func:`read_traces` and :func:`loads_traces`.
TRACE_FORMATS = ("otlp", "jaeger", "zipkin", "nezha-spans")

_NEZHA_COLUMNS = (
    "TraceID",
    "SpanID",
    "ParentID",
    "PodName",
    "OperationName",
    "StartTimeUnixNano",
    "EndTimeUnixNano",
)
_NEZHA_TEXT = ("TraceID", "SpanID", "ParentID", "PodName", "OperationName")
_ROOT_PARENTS = ("root", "")

ServiceOf: TypeAlias = Callable[[str], str]
SpanSource: TypeAlias = pd.DataFrame | str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


# -- the shared core: span table -> graph ------------------------------------
def graph_from_spans(
    spans: pd.DataFrame, *, include_internal: bool = False
) -> ServiceGraph:
    """The call graph of a span table with ``trace_id, span_id, parent_id, service``.

    Each child span is joined to its parent span (same trace) in one merge;
    the pairs are counted per ``(parent service, child service)``.

    Parameters
    ----------
    spans : pandas.DataFrame
        For example the output of :func:`normalize_spans_csv`; ``parent_id``
        is missing (NA) for root spans.
    include_internal : bool, default False
        Keep same-service parent/child pairs as self-calls.

    Returns
    -------
    ServiceGraph
        Every service seen in ``spans`` (sorted by name) and the calls (sorted
        by caller, callee) with their counts.

    Raises
    ------
    TopologyError
        If a required column is missing.

    Examples
    --------
    >>> spans = pd.DataFrame({
    ...     "trace_id": ["t", "t", "t", "t"],
    ...     "span_id": ["1", "2", "3", "4"],
    ...     "parent_id": [None, "1", "2", "2"],
    ...     "service": ["web", "web", "cart", "cart"]})
    >>> graph_from_spans(spans).calls
    [Call(caller='web', callee='cart', weight=None, calls=2)]
    >>> graph_from_spans(spans, include_internal=True).calls[-1]
    Call(caller='web', callee='web', weight=None, calls=1)
    """
    missing = [c for c in ("trace_id", "span_id", "parent_id", "service") if c not in spans.columns]
    if missing:
        raise TopologyError(
            f"the span table lacks the column(s) {', '.join(missing)}", field=missing[0]
        )
    parents = (
        spans[["trace_id", "span_id", "service"]]
        .drop_duplicates(["trace_id", "span_id"])
        .rename(columns={"span_id": "parent_id", "service": "caller"})
    )
    children = spans.loc[spans["parent_id"].notna(), ["trace_id", "parent_id", "service"]]
    pairs = children.merge(parents, on=["trace_id", "parent_id"], how="inner")
    orphans = len(children) - len(pairs)
    if orphans > 0:
        logger.debug("%d spans have a parent outside the data; they add no call", orphans)
    if not include_internal:
        pairs = pairs[pairs["caller"] != pairs["service"]]
    counts = pairs.groupby(["caller", "service"], sort=True).size()
    graph = ServiceGraph(sorted(str(s) for s in spans["service"].dropna().unique()))
    for (caller, callee), n in zip(counts.index.tolist(), counts.tolist(), strict=True):
        graph.add_call(str(caller), str(callee), calls=int(n))
    return graph


# -- Nezha span CSV -----------------------------------------------------------
def _as_sources(frame_or_paths: SpanSource) -> list[tuple[pd.DataFrame | None, str]]:
    """``[(frame or None, source)]``: a frame as is, or each path to read."""
    if isinstance(frame_or_paths, pd.DataFrame):
        return [(frame_or_paths, "<DataFrame>")]
    if isinstance(frame_or_paths, str | os.PathLike):
        paths: list[str | os.PathLike[str]] = [frame_or_paths]
    else:
        paths = list(frame_or_paths)
    out: list[tuple[pd.DataFrame | None, str]] = []
    for p in paths:
        if isinstance(p, pd.DataFrame):
            out.append((p, "<DataFrame>"))
        elif Path(p).is_dir():
            files = sorted(Path(p).glob("*.csv"))
            if not files:
                raise TopologyError("the folder holds no *.csv span files", source=os.fspath(p))
            out.extend((None, os.fspath(f)) for f in files)
        else:
            out.append((None, os.fspath(p)))
    if not out:
        raise TopologyError("no span files given")
    return out


def _read_nezha_csv(path_or_buffer: Any, source: str) -> pd.DataFrame:
    """Read one span CSV with IDs kept as text (hex IDs may look numeric)."""
    try:
        return pd.read_csv(
            path_or_buffer,
            dtype={c: str for c in _NEZHA_TEXT},
            keep_default_na=False,
            na_values={"StartTimeUnixNano": [""], "EndTimeUnixNano": [""], "Duration": [""]},
        )
    except FileNotFoundError:
        raise TopologyError("cannot read the file: no such file", source=source) from None
    except OSError as exc:
        raise TopologyError(f"cannot read the file: {exc}", source=source) from None
    except pd.errors.EmptyDataError:
        raise TopologyError(
            f"the span CSV is empty; expected the header {','.join(_NEZHA_COLUMNS)},Duration",
            source=source,
            line=1,
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise TopologyError(f"malformed span CSV: {exc}", source=source) from None


def _bad_row(mask: pd.Series, from_file: bool) -> tuple[int, int | None, str]:
    """``(position, line, where)`` of the first True in ``mask``.

    ``line`` is the CSV line (header is line 1) for files, None for frames;
    ``where`` is a message suffix naming the frame row.
    """
    position = int(mask.to_numpy().argmax())
    if from_file:
        return position, position + 2, ""
    return position, None, f" (row {position} of the frame)"


def _normalize_one(
    frame: pd.DataFrame, source: str, from_file: bool, service_of: ServiceOf
) -> pd.DataFrame:
    missing = [c for c in _NEZHA_COLUMNS if c not in frame.columns]
    if missing:
        raise TopologyError(
            f"missing column(s) {', '.join(missing)}; a Nezha span CSV has the header "
            f"{','.join(_NEZHA_COLUMNS)},Duration",
            source=source,
            line=1 if from_file else None,
            field=missing[0],
        )
    out = pd.DataFrame(index=frame.index)
    for src, dst in (
        ("TraceID", "trace_id"),
        ("SpanID", "span_id"),
        ("ParentID", "parent_id"),
        ("PodName", "service"),
        ("OperationName", "operation"),
    ):
        col = frame[src].astype("string").str.strip()
        if dst != "parent_id" and dst != "operation":
            empty = col.isna() | (col == "")
            if empty.any():
                _, line, where = _bad_row(empty, from_file)
                raise TopologyError(
                    f"empty {src}{where}; every span needs one", source=source, line=line, field=src
                )
        out[dst] = col
    out["parent_id"] = out["parent_id"].mask(
        out["parent_id"].isna() | out["parent_id"].str.lower().isin(_ROOT_PARENTS)
    )
    pods = out["service"].unique()
    out["service"] = out["service"].map({p: service_of(str(p)) for p in pods}).astype("string")
    nanos = {}
    for src in ("StartTimeUnixNano", "EndTimeUnixNano", "Duration"):
        if src not in frame.columns:
            continue
        values = pd.to_numeric(frame[src], errors="coerce")
        bad = values.isna() | (values != values.round())
        if bad.any():
            position, line, where = _bad_row(bad, from_file)
            raise TopologyError(
                f"{src} must be an integer, got {frame[src].iloc[position]!r}{where}",
                source=source,
                line=line,
                field=src,
            )
        nanos[src] = values.astype("int64")
    out["start"] = pd.to_datetime(nanos["StartTimeUnixNano"], unit="ns", utc=True)
    out["end"] = pd.to_datetime(nanos["EndTimeUnixNano"], unit="ns", utc=True)
    if "Duration" in nanos:
        out["duration_us"] = nanos["Duration"]  # Nezha writes microseconds
    else:
        out["duration_us"] = (nanos["EndTimeUnixNano"] - nanos["StartTimeUnixNano"]) // 1000
    return out


def normalize_spans_csv(
    frame_or_paths: SpanSource, *, service_of: ServiceOf | None = None
) -> pd.DataFrame:
    """Read and clean Nezha span CSVs into one span table.

    Parameters
    ----------
    frame_or_paths : DataFrame, path, folder or iterable of paths
        A frame with the Nezha columns, a CSV file, a folder of ``*.csv`` span
        files, or several of them (concatenated in the given order).
    service_of : callable, optional
        Maps ``PodName`` to a service; default :class:`PodNameMapper` (strips
        Kubernetes hashes).  Pass ``str`` to keep pod names.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SPAN_COLUMNS`: ``trace_id``, ``span_id``, ``parent_id``
        (NA for root spans), ``service``, ``operation`` (string dtype);
        ``start``, ``end`` (``datetime64[ns, UTC]``); ``duration_us`` (int64,
        the ``Duration`` column, else computed from the timestamps).  The
        index is a fresh RangeIndex.

    Raises
    ------
    TopologyError
        Unreadable file, missing column, empty ID or pod, non-integer time
        (``line`` is the CSV line for files).

    Examples
    --------
    >>> csv = '''TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration
    ... t1,a1,root,frontend-579b9bff58-t2dbm,Recv.,1661140994180863716,1661140994401635594,220771
    ... t1,b2,a1,cartservice-579f59597d-wc2lz,GetCart,1661140994201329213,1661140994206836711,5507
    ... '''
    >>> spans = normalize_spans_csv(pd.read_csv(io.StringIO(csv), dtype=str))
    >>> spans["service"].tolist(), spans["parent_id"].isna().tolist()
    (['frontend', 'cartservice'], [True, False])
    >>> spans["duration_us"].tolist()
    [220771, 5507]
    >>> str(spans.loc[0, "start"])
    '2022-08-22 04:03:14.180863716+00:00'
    """
    mapper: ServiceOf = service_of if service_of is not None else PodNameMapper()
    parts = []
    for frame, source in _as_sources(frame_or_paths):
        from_file = frame is None
        if frame is None:
            frame = _read_nezha_csv(source, source)
        parts.append(_normalize_one(frame, source, from_file, mapper))
    table = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return table.reset_index(drop=True)[list(SPAN_COLUMNS)]


def read_spans_csv(
    paths_or_frame: SpanSource,
    *,
    service_of: ServiceOf | None = None,
    include_internal: bool = False,
) -> ServiceGraph:
    """The call graph of Nezha span CSVs (see :func:`normalize_spans_csv`).

    Parameters
    ----------
    paths_or_frame : DataFrame, path, folder or iterable of paths
    service_of : callable, optional
        Pod name to service; default strips Kubernetes hashes.
    include_internal : bool, default False
        Keep same-service parent/child pairs as self-calls.

    Returns
    -------
    ServiceGraph

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "TraceID": ["t1", "t1"], "SpanID": ["a", "b"], "ParentID": ["root", "a"],
    ...     "PodName": ["frontend-579b9bff58-t2dbm", "redis-0"], "OperationName": ["GET", "HGET"],
    ...     "StartTimeUnixNano": [0, 10], "EndTimeUnixNano": [5000, 3000]})
    >>> read_spans_csv(frame).calls
    [Call(caller='frontend', callee='redis', weight=None, calls=1)]
    """
    spans = normalize_spans_csv(paths_or_frame, service_of=service_of)
    return graph_from_spans(spans, include_internal=include_internal)


# -- JSON trace formats -------------------------------------------------------
def _require(mapping: object, key: str, path: str, source: str | None) -> Any:
    if not isinstance(mapping, Mapping):
        raise TopologyError(
            f"expected an object, got {type(mapping).__name__}", source=source, field=path
        )
    if key not in mapping:
        raise TopologyError(
            f"missing required key {key!r}", source=source, field=f"{path}.{key}" if path else key
        )
    return mapping[key]


def _id(value: object, field: str, source: str | None) -> str:
    """A required span/trace id, as lower-case text (hex ids are case-insensitive)."""
    if value is None or value == "":
        raise TopologyError("missing or empty id", source=source, field=field)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise TopologyError(
            f"expected an id string, got {type(value).__name__}", source=source, field=field
        )
    return str(value).strip().lower()


def _parent_id(value: object, field: str, source: str | None) -> str | None:
    """An optional parent id; empty or all-zero ids mean "no parent" (root span)."""
    if value is None or value == "":
        return None
    text = _id(value, field, source)
    return None if not text or set(text) == {"0"} else text


def _list(value: object, field: str, source: str | None) -> list[Any]:
    if not isinstance(value, list):
        raise TopologyError(
            f"expected a list, got {type(value).__name__}", source=source, field=field
        )
    return value


def _frame(rows: list[tuple[str, str, str | None, str]], service_of: ServiceOf | None) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["trace_id", "span_id", "parent_id", "service"], dtype=object)
    if service_of is not None:
        names = frame["service"].unique()
        frame["service"] = frame["service"].map({n: service_of(str(n)) for n in names})
    return frame


def _otlp_service(resource: object, path: str, source: str | None) -> str:
    attributes = []
    if isinstance(resource, Mapping):
        attributes = _list(resource.get("attributes", []), f"{path}.attributes", source)
    for attr in attributes:
        if isinstance(attr, Mapping) and attr.get("key") == "service.name":
            value = attr.get("value")
            name = value.get("stringValue") if isinstance(value, Mapping) else None
            if isinstance(name, str) and name.strip():
                return name.strip()
    raise TopologyError(
        "the resource has no string attribute 'service.name'; spans cannot be "
        "attributed to a service",
        source=source,
        field=f"{path}.attributes",
    )


def graph_from_otlp(
    doc: object,
    *,
    include_internal: bool = False,
    service_of: ServiceOf | None = None,
    source: str | None = None,
) -> ServiceGraph:
    """The call graph of an OpenTelemetry OTLP/JSON trace export.

    Parameters
    ----------
    doc : dict or list of dict
        ``{"resourceSpans": [...]}`` (a parsed ``ExportTraceServiceRequest``),
        or a list of them.  ``instrumentationLibrarySpans`` (pre-1.0 exports)
        is accepted in place of ``scopeSpans``.
    include_internal : bool, default False
        Keep same-service parent/child pairs as self-calls.
    service_of : callable, optional
        Applied to each ``service.name``.
    source : str, optional
        Name used in error messages.

    Returns
    -------
    ServiceGraph

    Raises
    ------
    TopologyError
        Missing keys, a resource without ``service.name``, empty span ids.

    Examples
    --------
    >>> def res(service, *spans):
    ...     attrs = [{"key": "service.name", "value": {"stringValue": service}}]
    ...     return {"resource": {"attributes": attrs}, "scopeSpans": [{"spans": list(spans)}]}
    >>> doc = {"resourceSpans": [
    ...     res("web", {"traceId": "AB", "spanId": "01", "parentSpanId": ""}),
    ...     res("db", {"traceId": "ab", "spanId": "02", "parentSpanId": "01"})]}
    >>> graph_from_otlp(doc).calls
    [Call(caller='web', callee='db', weight=None, calls=1)]
    """
    docs = doc if isinstance(doc, list) else [doc]
    rows: list[tuple[str, str, str | None, str]] = []
    for d, one in enumerate(docs):
        prefix = f"[{d}]." if isinstance(doc, list) else ""
        resource_spans = _list(
            _require(one, "resourceSpans", prefix.rstrip("."), source), f"{prefix}resourceSpans", source
        )
        for i, rs in enumerate(resource_spans):
            path = f"{prefix}resourceSpans[{i}]"
            if not isinstance(rs, Mapping):
                raise TopologyError("expected an object", source=source, field=path)
            service = _otlp_service(rs.get("resource"), f"{path}.resource", source)
            scope_key = "scopeSpans" if "scopeSpans" in rs else "instrumentationLibrarySpans"
            for j, ss in enumerate(_list(rs.get(scope_key, []), f"{path}.{scope_key}", source)):
                spans_path = f"{path}.{scope_key}[{j}].spans"
                spans = ss.get("spans", []) if isinstance(ss, Mapping) else None
                for k, span in enumerate(_list(spans, spans_path, source)):
                    sp = f"{spans_path}[{k}]"
                    rows.append(
                        (
                            _id(_require(span, "traceId", sp, source), f"{sp}.traceId", source),
                            _id(_require(span, "spanId", sp, source), f"{sp}.spanId", source),
                            _parent_id(span.get("parentSpanId"), f"{sp}.parentSpanId", source),
                            service,
                        )
                    )
    return graph_from_spans(_frame(rows, service_of), include_internal=include_internal)


def graph_from_jaeger(
    doc: object,
    *,
    include_internal: bool = False,
    service_of: ServiceOf | None = None,
    source: str | None = None,
) -> ServiceGraph:
    """The call graph of a Jaeger JSON export (``{"data": [trace, ...]}``).

    Parameters
    ----------
    doc : dict
        As returned by Jaeger's ``/api/traces`` or the UI's "Download JSON".
    include_internal : bool, default False
        Keep same-service parent/child pairs as self-calls.
    service_of : callable, optional
        Applied to each ``serviceName``.
    source : str, optional
        Name used in error messages.

    Returns
    -------
    ServiceGraph

    Raises
    ------
    TopologyError
        Missing ``data``/``spans``/ids, or a ``processID`` not in ``processes``.

    Examples
    --------
    >>> doc = {"data": [{"traceID": "t1",
    ...     "processes": {"p1": {"serviceName": "web"}, "p2": {"serviceName": "db"}},
    ...     "spans": [{"traceID": "t1", "spanID": "a", "processID": "p1", "references": []},
    ...               {"traceID": "t1", "spanID": "b", "processID": "p2",
    ...                "references": [{"refType": "CHILD_OF", "traceID": "t1", "spanID": "a"}]}]}]}
    >>> graph_from_jaeger(doc).calls
    [Call(caller='web', callee='db', weight=None, calls=1)]
    """
    rows: list[tuple[str, str, str | None, str]] = []
    traces = _list(_require(doc, "data", "", source), "data", source)
    for i, trace in enumerate(traces):
        path = f"data[{i}]"
        spans = _list(_require(trace, "spans", path, source), f"{path}.spans", source)
        processes = trace.get("processes") or {}
        for k, span in enumerate(spans):
            sp = f"{path}.spans[{k}]"
            span_id = _id(_require(span, "spanID", sp, source), f"{sp}.spanID", source)
            trace_id = _id(span.get("traceID", trace.get("traceID")), f"{sp}.traceID", source)
            process = span.get("process")
            if process is None:
                pid = _require(span, "processID", sp, source)
                if not isinstance(processes, Mapping) or pid not in processes:
                    raise TopologyError(
                        f"processID {pid!r} is not in the trace's processes",
                        source=source,
                        field=f"{sp}.processID",
                    )
                process = processes[pid]
            service = _require(process, "serviceName", f"{sp}.process", source)
            if not isinstance(service, str) or not service.strip():
                raise TopologyError(
                    "serviceName must be a non-empty string", source=source, field=f"{sp}.process.serviceName"
                )
            parent = None
            references = span.get("references") or []
            for r, ref in enumerate(_list(references, f"{sp}.references", source)):
                if isinstance(ref, Mapping) and ref.get("refType") == "CHILD_OF":
                    parent = _parent_id(ref.get("spanID"), f"{sp}.references[{r}].spanID", source)
                    ref_trace = ref.get("traceID")
                    if ref_trace not in (None, "") and _id(ref_trace, "", source) != trace_id:
                        logger.debug("%s: parent in another trace; no call", sp)
                        parent = None
                    break
            rows.append((trace_id, span_id, parent, service.strip()))
    return graph_from_spans(_frame(rows, service_of), include_internal=include_internal)


def graph_from_zipkin(
    doc: object,
    *,
    include_internal: bool = False,
    service_of: ServiceOf | None = None,
    source: str | None = None,
) -> ServiceGraph:
    """The call graph of Zipkin v2 JSON spans.

    Parameters
    ----------
    doc : list
        A list of spans (``/api/v2/trace/{id}``) or a list of traces, each a
        list of spans (``/api/v2/traces``).
    include_internal : bool, default False
        Keep same-service parent/child pairs as self-calls.
    service_of : callable, optional
        Applied to each ``localEndpoint.serviceName``.
    source : str, optional
        Name used in error messages.

    Returns
    -------
    ServiceGraph

    Raises
    ------
    TopologyError
        Not a list, missing ids, or a span without ``localEndpoint.serviceName``.

    Examples
    --------
    Client and server share a span id (B3 single-span), the shared server span
    is the client span's child:

    >>> doc = [
    ...     {"traceId": "t", "id": "1", "localEndpoint": {"serviceName": "web"}},
    ...     {"traceId": "t", "id": "2", "parentId": "1", "kind": "CLIENT",
    ...      "localEndpoint": {"serviceName": "web"}},
    ...     {"traceId": "t", "id": "2", "parentId": "1", "kind": "SERVER", "shared": True,
    ...      "localEndpoint": {"serviceName": "cart"}},
    ...     {"traceId": "t", "id": "3", "parentId": "2", "localEndpoint": {"serviceName": "cart"}}]
    >>> graph_from_zipkin(doc).calls
    [Call(caller='web', callee='cart', weight=None, calls=1)]
    """
    spans_in = _list(doc, "", source)
    flat: list[tuple[str, Any]] = []
    for i, item in enumerate(spans_in):
        if isinstance(item, list):
            flat.extend((f"[{i}][{k}]", span) for k, span in enumerate(item))
        else:
            flat.append((f"[{i}]", item))
    parsed: list[tuple[str, str, str | None, str, bool]] = []
    for sp, span in flat:
        trace_id = _id(_require(span, "traceId", sp, source), f"{sp}.traceId", source)
        span_id = _id(_require(span, "id", sp, source), f"{sp}.id", source)
        parent = _parent_id(span.get("parentId"), f"{sp}.parentId", source)
        endpoint = span.get("localEndpoint")
        service = endpoint.get("serviceName") if isinstance(endpoint, Mapping) else None
        if not isinstance(service, str) or not service.strip():
            raise TopologyError(
                "the span has no localEndpoint.serviceName",
                source=source,
                field=f"{sp}.localEndpoint.serviceName",
            )
        parsed.append((trace_id, span_id, parent, service.strip(), bool(span.get("shared"))))
    shared = {(t, s) for t, s, _, _, sh in parsed if sh}
    unshared = {(t, s) for t, s, _, _, sh in parsed if not sh}
    twins = shared & unshared
    rows: list[tuple[str, str, str | None, str]] = []
    for t, s, parent, service, is_shared in parsed:
        if (t, s) in twins:
            if is_shared:
                # The server half: child of the client half, parent of what follows.
                parent = f"{s}~client"
            else:
                s = f"{s}~client"
        rows.append((t, s, parent, service))
    return graph_from_spans(_frame(rows, service_of), include_internal=include_internal)


# -- sniffing and dispatch ----------------------------------------------------
def _sniff_json_traces(doc: object) -> str | None:
    """The trace format of a parsed JSON document, or None."""
    first = doc[0] if isinstance(doc, list) and doc else doc
    if isinstance(first, list) and first:
        first = first[0]
    if isinstance(first, Mapping):
        if "resourceSpans" in first:
            return "otlp"
        if "data" in first and isinstance(doc, Mapping):
            return "jaeger"
        if isinstance(doc, list) and "traceId" in first and "id" in first:
            return "zipkin"
    return None


def _parse_json_or_lines(text: str, source: str | None) -> object:
    """A JSON document, or a list of documents for JSON lines."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise _invalid_json(exc, source) from None
    docs = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                docs.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise _invalid_json(exc, source, what="invalid JSON line", line=n) from None
    return docs


_JSON_READERS = {"otlp": graph_from_otlp, "jaeger": graph_from_jaeger, "zipkin": graph_from_zipkin}


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
