"""Span and log inputs of an analysis: frames or files, read into the span table and the log table.

Spans: a frame holding the span table (the columns of :func:`topology.io_spans.normalize_spans_csv`) or a
Nezha span CSV's columns; or paths: Nezha span CSVs (``.csv``, ``.csv.gz``), OTLP / Jaeger / Zipkin JSON
(:func:`topology.io_trace_json.spans_from_json`), or folders of them.  Logs: see
:func:`rca.engine.evidence.logs.read_logs`.  Every reading error is an :class:`InvalidInputError` naming the
input (``spans``, ``baseline_spans``...), the file and the field.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import Any

import pandas as pd

from rca.engine.errors import InvalidInputError
from rca.engine.evidence.logs import LogTable, read_logs
from topology.errors import TopologyError
from topology.io_spans import normalize_spans_csv
from topology.io_trace_json import spans_from_json
from topology.naming import PodNameMapper

__all__ = ["SpansInput", "LogsInput", "read_span_input", "read_log_input"]

SpansInput = pd.DataFrame | str | os.PathLike | list
LogsInput = pd.DataFrame | str | os.PathLike | list
_TABLE = ("trace_id", "span_id", "parent_id", "service", "start", "duration_us")
_NEZHA = ("TraceID", "SpanID", "ParentID", "PodName", "StartTimeUnixNano")


def _files(paths: list[Path], field: str) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith("."))
            if not found:
                raise InvalidInputError(f"{field}: the folder {p} holds no span files", field=field)
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise InvalidInputError(f"{field}: no such file: {p}", field=field)
    return out


def _read_one(path: Path, field: str, mapper: PodNameMapper) -> pd.DataFrame:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{field}: cannot read {path}: {exc.strerror or exc}", field=field) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InvalidInputError(f"{field}: {path} is not valid gzip: {exc}", field=field) from None
    text = raw.decode("utf-8-sig", errors="replace")
    try:
        if text.lstrip()[:1] in ("{", "["):
            return spans_from_json(text, service_of=mapper, source=str(path))
        frame = pd.read_csv(io.StringIO(text), dtype={c: str for c in ("TraceID", "SpanID", "ParentID", "PodName", "OperationName")},
                            keep_default_na=False, na_values={"StartTimeUnixNano": [""], "EndTimeUnixNano": [""], "Duration": [""]})
        return normalize_spans_csv(frame, service_of=mapper)
    except TopologyError as exc:
        raise InvalidInputError(f"{field}: {path}: {exc}", field=f"{field}.{exc.field}" if getattr(exc, "field", None) else field) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InvalidInputError(f"{field}: {path}: malformed span file: {exc}", field=field) from None


def read_span_input(spans: Any, *, field: str = "spans", pod_mapper: PodNameMapper | None = None) -> pd.DataFrame:
    """The span table of ``spans`` (a frame, a path, a folder or a list of them)."""
    mapper = pod_mapper or PodNameMapper()
    if isinstance(spans, pd.DataFrame):
        if all(c in spans.columns for c in _TABLE):
            return spans
        if all(c in spans.columns for c in _NEZHA):
            try:
                return normalize_spans_csv(spans, service_of=mapper)
            except TopologyError as exc:
                raise InvalidInputError(f"{field}: {exc}", field=f"{field}.{exc.field}" if getattr(exc, "field", None) else field) from None
        missing = [c for c in _TABLE if c not in spans.columns]
        raise InvalidInputError(
            f"{field} lack the column(s) {', '.join(missing)}: give the span table ({', '.join(_TABLE)}) or a "
            f"Nezha span CSV's columns ({', '.join(_NEZHA)}, EndTimeUnixNano)", field=f"{field}.{missing[0]}")
    if isinstance(spans, str | os.PathLike):
        paths = [Path(spans)]
    elif isinstance(spans, list | tuple):
        paths = [Path(p) for p in spans]
    else:
        raise InvalidInputError(f"{field} must be a DataFrame, a path or a list of paths, got {type(spans).__name__}", field=field)
    frames = [_read_one(p, field, mapper) for p in _files(paths, field)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        raise InvalidInputError(f"{field}: no span in {', '.join(map(str, paths))}", field=field)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def read_log_input(logs: Any, *, field: str = "logs", pod_mapper: PodNameMapper | None = None) -> LogTable:
    """The log table of ``logs`` (a frame, a path, a folder or a list of them)."""
    if not isinstance(logs, pd.DataFrame | str | os.PathLike | list | tuple):
        raise InvalidInputError(f"{field} must be a DataFrame, a path or a list of paths, got {type(logs).__name__}", field=field)
    if isinstance(logs, list | tuple):
        logs = list(logs)
    if not isinstance(logs, pd.DataFrame):
        for p in logs if isinstance(logs, list) else [logs]:
            if not Path(p).exists():
                raise InvalidInputError(f"{field}: no such file: {p}", field=field)
    return read_logs(logs, field=field, pod_mapper=pod_mapper)
