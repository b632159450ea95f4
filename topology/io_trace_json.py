"""OpenTelemetry OTLP/JSON, Jaeger JSON and Zipkin v2 JSON traces to the call graph (through :mod:`topology.io_spans`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from topology.errors import TopologyError
from topology.io_json import _invalid_json
from topology.io_spans import ServiceOf, graph_from_spans
from topology.model import ServiceGraph

__all__ = ["JSON_SPAN_COLUMNS", "graph_from_otlp", "graph_from_jaeger", "graph_from_zipkin", "spans_from_json"]

logger = logging.getLogger(__name__)

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


#: columns of :func:`spans_from_json`: the span table of :mod:`topology.io_spans` plus ``error``
JSON_SPAN_COLUMNS = ("trace_id", "span_id", "parent_id", "service", "operation", "start", "duration_us", "error")


def _timing(span: Mapping[str, Any], fmt: str) -> tuple[Any, Any, Any, Any]:
    """``(operation, start ns, duration us, error)`` of one span; None where the span does not say.

    OTLP/JSON writes times as decimal strings of nanoseconds and ``status.code`` 2 (or
    ``"STATUS_CODE_ERROR"``) for a failed span (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding);
    Jaeger's JSON has ``startTime``/``duration`` in microseconds and an ``error`` tag
    (https://www.jaegertracing.io/docs/latest/apis/); Zipkin v2 has ``timestamp``/``duration`` in microseconds
    and an ``error`` tag (https://zipkin.io/zipkin-api/#/default/post_spans).
    """
    def num(v: Any) -> int | float | None:
        if v is None or isinstance(v, bool):
            return None
        try:
            return int(v)  # exact: epoch nanoseconds do not fit a float
        except (TypeError, ValueError):
            try:
                return float(v)
            except (TypeError, ValueError):
                return None

    if fmt == "otlp":
        start, end = num(span.get("startTimeUnixNano")), num(span.get("endTimeUnixNano"))
        status = span.get("status") if isinstance(span.get("status"), Mapping) else {}
        code = status.get("code")
        error = code in (2, "2", "STATUS_CODE_ERROR")
        dur = None if start is None or end is None else (end - start) / 1000
        return span.get("name"), start, dur, error
    tags = span.get("tags")
    error = False
    if isinstance(tags, list):  # Jaeger: [{"key": "error", "type": "bool", "value": true}, ...]
        for t in tags:
            if isinstance(t, Mapping) and t.get("key") == "error":
                error = str(t.get("value")).lower() in ("true", "1")
            elif isinstance(t, Mapping) and t.get("key") == "http.status_code":
                error = error or (num(t.get("value")) or 0) >= 500
    elif isinstance(tags, Mapping):  # Zipkin: {"error": "...", "http.status_code": "500"}
        error = "error" in tags or (num(tags.get("http.status_code")) or 0) >= 500
    if fmt == "jaeger":
        start = num(span.get("startTime"))
        return span.get("operationName"), None if start is None else start * 1000, num(span.get("duration")), error
    start = num(span.get("timestamp"))
    return span.get("name"), None if start is None else start * 1000, num(span.get("duration")), error


def _frame(rows: list[tuple], service_of: ServiceOf | None) -> pd.DataFrame:
    width = len(rows[0]) if rows else 4
    frame = pd.DataFrame(rows, columns=list(JSON_SPAN_COLUMNS[:width]), dtype=object)
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
    return graph_from_spans(_otlp_spans(doc, service_of, source), include_internal=include_internal)


def _otlp_spans(doc: object, service_of: ServiceOf | None, source: str | None) -> pd.DataFrame:
    docs = doc if isinstance(doc, list) else [doc]
    rows: list[tuple] = []
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
                            *_timing(span, "otlp"),
                        )
                    )
    return _frame(rows, service_of)


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
    return graph_from_spans(_jaeger_spans(doc, service_of, source), include_internal=include_internal)


def _jaeger_spans(doc: object, service_of: ServiceOf | None, source: str | None) -> pd.DataFrame:
    rows: list[tuple] = []
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
            rows.append((trace_id, span_id, parent, service.strip(), *_timing(span, "jaeger")))
    return _frame(rows, service_of)


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
    return graph_from_spans(_zipkin_spans(doc, service_of, source), include_internal=include_internal)


def _zipkin_spans(doc: object, service_of: ServiceOf | None, source: str | None) -> pd.DataFrame:
    spans_in = _list(doc, "", source)
    flat: list[tuple[str, Any]] = []
    for i, item in enumerate(spans_in):
        if isinstance(item, list):
            flat.extend((f"[{i}][{k}]", span) for k, span in enumerate(item))
        else:
            flat.append((f"[{i}]", item))
    parsed: list[tuple] = []
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
        parsed.append((trace_id, span_id, parent, service.strip(), bool(span.get("shared")), _timing(span, "zipkin")))
    shared = {(t, s) for t, s, _, _, sh, _ in parsed if sh}
    unshared = {(t, s) for t, s, _, _, sh, _ in parsed if not sh}
    twins = shared & unshared
    rows: list[tuple] = []
    for t, s, parent, service, is_shared, timing in parsed:
        if (t, s) in twins:
            if is_shared:
                # The server half: child of the client half, parent of what follows.
                parent = f"{s}~client"
            else:
                s = f"{s}~client"
        rows.append((t, s, parent, service, *timing))
    return _frame(rows, service_of)


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
_JSON_SPANS = {"otlp": _otlp_spans, "jaeger": _jaeger_spans, "zipkin": _zipkin_spans}


def spans_from_json(text: str, *, service_of: ServiceOf | None = None, source: str | None = None) -> pd.DataFrame:
    """The span table (:data:`JSON_SPAN_COLUMNS`) of an OTLP, Jaeger or Zipkin JSON (or JSON lines) document.

    ``start`` is UTC; ``duration_us`` in microseconds; ``error`` as the format marks a failed span.  A span
    without a start or duration is an error naming it: its timing is what the table is for.

    Examples
    --------
    >>> doc = '[{"traceId": "t", "id": "1", "name": "get /", "timestamp": 1700000000000000, "duration": 1500,'
    >>> doc += ' "localEndpoint": {"serviceName": "web"}}]'
    >>> spans_from_json(doc)[["service", "operation", "duration_us", "error"]].values.tolist()
    [['web', 'get /', 1500.0, False]]
    """
    parsed = _parse_json_or_lines(text, source)
    fmt = _sniff_json_traces(parsed)
    if fmt is None:
        raise TopologyError("cannot tell the trace format (expected OTLP 'resourceSpans', Jaeger 'data', or a "
                            "Zipkin list of spans)", source=source)
    frame = _JSON_SPANS[fmt](parsed, service_of, source)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in JSON_SPAN_COLUMNS})
    for col in ("start", "duration_us"):
        bad = pd.to_numeric(frame[col], errors="coerce").isna()
        if bad.any():
            k = int(bad.to_numpy().argmax())
            raise TopologyError(f"span {frame['span_id'].iloc[k]!r} of trace {frame['trace_id'].iloc[k]!r} has no "
                                f"{'start time' if col == 'start' else 'duration'}", source=source, field=col)
    frame["start"] = pd.to_datetime(frame["start"].map(int).astype("int64"), unit="ns", utc=True)
    frame["duration_us"] = pd.to_numeric(frame["duration_us"]).astype(float)
    frame["operation"] = frame["operation"].astype("str").replace("None", "")
    frame["error"] = frame["error"].astype(bool)
    return frame[list(JSON_SPAN_COLUMNS)]
