"""The span table and the call graph it implies, and the Nezha span CSV that fills it.

A span whose parent span ran in another service is one call
``parent's service -> child's service``; the number of such span pairs is the
call count.  Every trace reader (:mod:`topology.io_trace_json` for OTLP, Jaeger
and Zipkin; :func:`read_spans_csv` here) builds this table and hands it to
:func:`graph_from_spans`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd

from topology.errors import TopologyError
from topology.model import ServiceGraph
from topology.naming import PodNameMapper

__all__ = ["SPAN_COLUMNS", "graph_from_spans", "normalize_spans_csv", "read_spans_csv"]

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
    >>> import io
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
