"""Log lines: reading them, mining their templates, and their per-service events and minute series.

Formats (:func:`read_logs`), told apart by content:

Nezha log CSV (``.csv`` or ``.csv.gz``)
    ``Timestamp, TimeUnixNano, Node, PodName, Container, TraceID, SpanID, Log``; ``Log`` is the container
    runtime's JSON record (``{"log": "16:42:22.404 INFO  f.c.StationFoodController#46 ...", "stream": ...}``).
    Time comes from ``TimeUnixNano`` (else ``Timestamp``), never from the text, which starts with the pod's
    local time.  Pods map to services by :class:`topology.naming.PodNameMapper`.
JSON lines
    One object a line with a time (``timestamp``, ``time``, ``@timestamp``, ``ts``: ISO text or epoch s/ms/ns),
    a service (``service``, ``service.name``, ``service_name``, ``app``, ``pod``, ``pod_name``, or
    ``kubernetes.pod_name``) and a message (``message``, ``msg``, ``log``, ``body``); ``level`` or
    ``severity`` when present.
Plain text
    ``<ISO-8601 timestamp> <service> <message>`` a line (the service is the second field).

The level is the record's own field when it has one, else the first level word (``ERROR``, ``WARN``...) near
the start of the message.

Templates are mined with drain3 (the Drain algorithm of He et al., ICWS 2017, as kept by IBM: the library log
analytics tools use), after masking what varies inside a template (ids, UUIDs, numbers, times) with regular
expressions over the whole column at once, so drain3 sees each distinct masked message once.

Series, per service and ``step`` (:func:`log_events` gives the events, one per line and series):
``log:lines`` (every line), ``log:errors`` and ``log:warnings`` (lines at those levels), and one per template,
``log:<level> <template text>`` (``log:error Servlet.service() for servlet [<*>] threw exception``).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rca.engine.errors import InvalidInputError
from rca.engine.types import DataIssue
from topology.naming import PodNameMapper

__all__ = ["LOG_COLUMNS", "LOG_PREFIX", "LogTable", "log_events", "mine_templates", "read_logs"]

LOG_PREFIX = "log:"
#: columns of the log table
LOG_COLUMNS = ("timestamp", "service", "level", "message")
_TEMPLATE_CHARS = 120  # the template text kept in a series name
_NEZHA = ("PodName", "Log")
_TIME_KEYS = ("timestamp", "time", "@timestamp", "ts", "date")
_SERVICE_KEYS = ("service", "service.name", "service_name", "serviceName", "app", "pod", "pod_name", "kubernetes.pod_name")
_MESSAGE_KEYS = ("message", "msg", "log", "body")
_LEVEL_KEYS = ("level", "severity", "severity_text", "levelname", "lvl")
_LEVEL_WORD = re.compile(r"\b(FATAL|CRITICAL|SEVERE|ERROR|ERR|WARNING|WARN|INFO|DEBUG|TRACE)\b", re.IGNORECASE)
_LEVELS = {"fatal": "error", "critical": "error", "severe": "error", "error": "error", "err": "error",
           "warning": "warning", "warn": "warning", "info": "info", "debug": "debug", "trace": "debug"}
_PLAIN = re.compile(r"^\s*(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+(\S+)\s+(.*)$")
# masks applied before mining, most specific first (drain3's own masking runs per line in Python)
_MASKS = (
    (re.compile(r"^\s*\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\s+"), ""),  # a leading local time of day
    (re.compile(r"^\s*(?:FATAL|CRITICAL|SEVERE|ERROR|ERR|WARNING|WARN|INFO|DEBUG|TRACE)\b\s*", re.IGNORECASE), ""),
    (re.compile(r"\b(?:TraceID|SpanID|trace_id|span_id)[:=]\s*\S+", re.IGNORECASE), ""),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<ID>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"), "<TIME>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b"), "<HEX>"),
    (re.compile(r"(?<![A-Za-z])[-+]?\d+(?:\.\d+)?(?![A-Za-z])"), "<NUM>"),
)


@dataclass(frozen=True)
class LogTable:
    """Parsed log lines (:data:`LOG_COLUMNS`) and what reading them found wrong."""

    frame: pd.DataFrame
    issues: tuple[DataIssue, ...] = field(default_factory=tuple)


def _open_text(path: Path, field: str) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{field}: cannot read {path}: {exc.strerror or exc}", field=field) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InvalidInputError(f"{field}: {path} is not valid gzip: {exc}", field=field) from None
    return raw.decode("utf-8", errors="replace")


def _levels(explicit: pd.Series | None, message: pd.Series) -> pd.Series:
    word = message.str.slice(0, 80).str.extract(_LEVEL_WORD, expand=False).str.lower().map(_LEVELS)
    if explicit is not None:
        given = explicit.astype("str").str.strip().str.lower().map(_LEVELS)
        word = given.where(given.notna(), word)
    return word.fillna("info").astype("str")


def _epoch(num: pd.Series) -> pd.Series:
    """Epoch numbers to UTC times, the unit (s, ms, us, ns) told by magnitude."""
    mag = num.abs()
    out = pd.Series(pd.NaT, index=num.index, dtype="datetime64[ns, UTC]")
    for unit, lo, hi in (("s", 0, 1e11), ("ms", 1e11, 1e14), ("us", 1e14, 1e17), ("ns", 1e17, np.inf)):
        m = (mag >= lo) & (mag < hi)
        if m.any():
            vals = num[m].astype("int64") if unit == "ns" else num[m]
            out[m] = pd.to_datetime(vals, unit=unit, utc=True, errors="coerce")
    return out


def _parse_time(values: pd.Series, source: str, column: str) -> pd.Series:
    """ISO-8601 text or epoch numbers (mixed is fine) to UTC; NaT where neither."""
    num = pd.to_numeric(values, errors="coerce")
    if num.notna().all() and len(num):
        return _epoch(num)
    out = pd.to_datetime(values.astype("str").where(num.isna(), None), utc=True, errors="coerce", format="ISO8601")
    if num.notna().any():
        out = out.where(num.isna(), _epoch(num.fillna(0)))
    return out


def _finish(frame: pd.DataFrame, source: str, field: str, issues: list[DataIssue]) -> pd.DataFrame:
    bad = frame["timestamp"].isna()
    if bad.all() and len(frame):
        raise InvalidInputError(f"{field}: {source}: no line has a readable time", field=f"{field}.timestamp")
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        issues.append(DataIssue("log_parse", f"{source}: {int(bad.sum())} of {len(frame)} log line(s) have no "
                                f"readable time (first: record {first + 1}); left out"))
        frame = frame.loc[~bad]
    return frame.reset_index(drop=True)


def _read_nezha(text: str, source: str, field: str, issues: list[DataIssue]) -> pd.DataFrame:
    """One Nezha log CSV, checked, as its raw columns (``time``, ``PodName``, ``Log``)."""
    try:
        # Real files hold lines two writers interleaved; they are skipped, and counted below.
        df = pd.read_csv(io.StringIO(text), dtype={"PodName": str, "Log": str}, keep_default_na=False,
                         on_bad_lines="skip")
    except (pd.errors.ParserError, ValueError) as exc:
        raise InvalidInputError(f"{field}: {source}: malformed log CSV: {exc}", field=field) from None
    lines = text.count("\n") + (0 if text.endswith("\n") else 1) - 1
    if lines > len(df):
        issues.append(DataIssue("log_parse", f"{source}: {lines - len(df)} of {lines} line(s) are not CSV records "
                                "of the header's fields (interleaved writes); left out"))
    missing = [c for c in _NEZHA if c not in df.columns]
    time_col = "TimeUnixNano" if "TimeUnixNano" in df.columns else "Timestamp" if "Timestamp" in df.columns else None
    if missing or time_col is None:
        need = missing or ["TimeUnixNano"]
        raise InvalidInputError(
            f"{field}: {source}: missing column(s) {', '.join(need)}; a Nezha log CSV has "
            "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log", field=f"{field}.{need[0]}")
    return pd.DataFrame({"time": df[time_col], "PodName": df["PodName"], "Log": df["Log"]})


def _nezha_table(df: pd.DataFrame, source: str, field: str, to_service: PodNameMapper,
                 issues: list[DataIssue]) -> pd.DataFrame:
    """The log table of Nezha log CSVs' raw columns (every file of a folder at once: one pass per column)."""
    message, broken = _decode_records(df["Log"].astype("str"))
    if broken:
        issues.append(DataIssue("log_parse", f"{source}: {broken} Log record(s) are not valid JSON; their raw "
                                "text was used as the message"))
    pods = df["PodName"].astype("str")
    names = to_service.mapping_for(pods.unique())
    frame = pd.DataFrame({
        "timestamp": _parse_time(df["time"], source, "time"),
        "service": pods.map(names).astype("str"),
        "message": message.str.rstrip("\n"),
    })
    frame["level"] = _levels(None, frame["message"])
    return _finish(frame[list(LOG_COLUMNS)], source, field, issues)


_RECORD_HEAD = '{"log":"'
_RECORD_TAIL = '","stream"'
_SIMPLE_ESCAPES = (("\\n", "\n"), ("\\t", "\t"), ('\\"', '"'), ("\\/", "/"))


def _decode_records(raw: pd.Series) -> tuple[pd.Series, int]:
    """The ``log`` text of container-runtime JSON records (``{"log": "...", "stream": ...}``), and how many are broken.

    The runtime's own shape (``{"log":"<text>","stream":...}``) is cut with string operations over the column;
    records with other escapes (``\\uXXXX``, ``\\\\``) or another shape go through :func:`json.loads`; a record
    that is not JSON keeps its raw text and is counted.
    """
    end = raw.str.rfind(_RECORD_TAIL)
    head = raw.str.startswith(_RECORD_HEAD) & (end > len(_RECORD_HEAD))
    cut = [r[len(_RECORD_HEAD):e] if h else "" for r, e, h in zip(raw.tolist(), end.tolist(), head.tolist(), strict=True)]
    text = pd.Series(cut, index=raw.index, dtype="str")
    simple = head & ~text.str.contains("\\\\[^nt\"/]", regex=True)
    out = text.copy()
    for a, b in _SIMPLE_ESCAPES:
        out = out.str.replace(a, b, regex=False)
    message = raw.copy()
    message[simple] = out[simple]
    rest = raw[~simple]
    broken = 0
    if len(rest):
        decoded = []
        for s in rest:
            try:
                rec = json.loads(s)
                decoded.append(str(rec.get("log", "")) if isinstance(rec, dict) else s)
            except ValueError:
                broken += 1
                decoded.append(s)
        message[~simple] = decoded
    return message, broken


def _pick(rec: dict, keys: tuple[str, ...]) -> object:
    for k in keys:
        if k in rec:
            return rec[k]
        if "." in k:
            head, _, tail = k.partition(".")
            sub = rec.get(head)
            if isinstance(sub, dict) and tail in sub:
                return sub[tail]
    return None


def _read_json_lines(text: str, source: str, field: str, to_service: PodNameMapper, issues: list[DataIssue]) -> pd.DataFrame:
    rows, broken, first_bad = [], 0, None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            broken += 1
            first_bad = first_bad or n
            continue
        if not isinstance(rec, dict):
            broken += 1
            first_bad = first_bad or n
            continue
        rows.append((n, _pick(rec, _TIME_KEYS), _pick(rec, _SERVICE_KEYS), _pick(rec, _MESSAGE_KEYS), _pick(rec, _LEVEL_KEYS)))
    if not rows:
        raise InvalidInputError(f"{field}: {source}: no line is a JSON object (first bad line {first_bad})", field=field)
    if broken:
        issues.append(DataIssue("log_parse", f"{source}: {broken} line(s) are not JSON objects (first: line "
                                f"{first_bad}); left out"))
    df = pd.DataFrame(rows, columns=["line", "time", "service", "message", "level"])
    for col, keys in (("time", _TIME_KEYS), ("service", _SERVICE_KEYS), ("message", _MESSAGE_KEYS)):
        if df[col].isna().all():
            raise InvalidInputError(f"{field}: {source}: no record has a {col} field ({', '.join(keys)})",
                                    field=f"{field}.{col}")
        if df[col].isna().any():
            n = int(df[col].isna().sum())
            issues.append(DataIssue("log_parse", f"{source}: {n} record(s) lack a {col} field (first: line "
                                    f"{int(df.loc[df[col].isna(), 'line'].iloc[0])}); left out"))
            df = df.loc[df[col].notna()]
    services = df["service"].astype("str")
    names = to_service.mapping_for(services.unique())
    frame = pd.DataFrame({
        "timestamp": _parse_time(df["time"], source, "time"),
        "service": services.map(names).astype("str"),
        "message": df["message"].astype("str").str.rstrip("\n"),
    })
    frame["level"] = _levels(df["level"] if df["level"].notna().any() else None, frame["message"])
    return _finish(frame[list(LOG_COLUMNS)], source, field, issues)


def _read_plain(text: str, source: str, field: str, to_service: PodNameMapper, issues: list[DataIssue]) -> pd.DataFrame:
    lines = pd.Series(text.splitlines(), dtype="str")
    lines = lines[lines.str.strip() != ""]
    parts = lines.str.extract(_PLAIN)
    bad = parts[0].isna()
    if bad.all():
        raise InvalidInputError(
            f"{field}: {source}: no line reads '<ISO-8601 timestamp> <service> <message>' "
            f"(first line: {lines.iloc[0][:80]!r})" if len(lines) else f"{field}: {source}: the log file is empty",
            field=f"{field}.timestamp")
    if bad.any():
        issues.append(DataIssue("log_parse", f"{source}: {int(bad.sum())} line(s) do not start with a timestamp and "
                                "a service; left out"))
        parts = parts.loc[~bad]
    names = to_service.mapping_for(parts[1].unique())
    frame = pd.DataFrame({
        "timestamp": pd.to_datetime(parts[0].str.replace(",", ".", regex=False), utc=True, errors="coerce", format="ISO8601"),
        "service": parts[1].map(names).astype("str"),
        "message": parts[2].astype("str"),
    })
    frame["level"] = _levels(None, frame["message"])
    return _finish(frame[list(LOG_COLUMNS)], source, field, issues)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise InvalidInputError(f"the log folder {path} holds no files", field="logs")
        return files
    return [path]


def read_logs(
    source: str | os.PathLike[str] | pd.DataFrame | list,
    *,
    field: str = "logs",
    pod_mapper: PodNameMapper | None = None,
) -> LogTable:
    """Read log lines from files, a folder of them, or a frame already holding :data:`LOG_COLUMNS`.

    Raises
    ------
    InvalidInputError
        Unreadable file, missing columns or fields, no readable line; ``.field`` names the input and field.
    """
    to_service = pod_mapper or PodNameMapper()
    issues: list[DataIssue] = []
    if isinstance(source, pd.DataFrame):
        missing = [c for c in ("timestamp", "service", "message") if c not in source.columns]
        if missing:
            raise InvalidInputError(f"{field} lack the column(s) {', '.join(missing)}; expected "
                                    f"{', '.join(LOG_COLUMNS)}", field=f"{field}.{missing[0]}")
        frame = source.copy()
        frame["timestamp"] = _parse_time(frame["timestamp"], "<DataFrame>", "timestamp")
        frame["message"] = frame["message"].astype("str")
        frame["level"] = _levels(frame["level"] if "level" in frame else None, frame["message"])
        frame["service"] = frame["service"].astype("str")
        return LogTable(_finish(frame[list(LOG_COLUMNS)], "<DataFrame>", field, issues), tuple(issues))
    paths = [Path(p) for p in (source if isinstance(source, list | tuple) else [source])]
    frames = []
    nezha: list[tuple[str, pd.DataFrame]] = []
    for p in [f for q in paths for f in _files(q)]:
        text = _open_text(p, field)
        head = text.lstrip()[:2000]
        first = head.splitlines()[0] if head else ""
        if not head:
            issues.append(DataIssue("log_parse", f"{p}: the log file is empty"))
            continue
        if all(c in first for c in _NEZHA):
            nezha.append((str(p), _read_nezha(text, str(p), field, issues)))
        elif head.startswith("{"):
            frames.append(_read_json_lines(text, str(p), field, to_service, issues))
        else:
            frames.append(_read_plain(text, str(p), field, to_service, issues))
    if nezha:
        where = nezha[0][0] if len(nezha) == 1 else f"{len(nezha)} Nezha log files ({nezha[0][0]}...)"
        frames.append(_nezha_table(pd.concat([f for _, f in nezha], ignore_index=True), where, field, to_service, issues))
    if not frames:
        raise InvalidInputError(f"{field}: no log line in {', '.join(map(str, paths))}", field=field)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return LogTable(frame, tuple(issues))


def _mask(message: pd.Series) -> pd.Series:
    out = message.str.slice(0, 400)
    for pattern, repl in _MASKS:
        out = out.str.replace(pattern, repl, regex=True)
    return out.str.replace(r"\s+", " ", regex=True).str.strip()


def mine_templates(messages: pd.Series) -> pd.Series:
    """The drain3 template of each message (same index), each distinct masked message mined once.

    >>> s = pd.Series(["16:42:22.382 INFO Route is 12 for user 7", "16:42:23.001 INFO Route is 40 for user 9"])
    >>> mine_templates(s).tolist()
    ['Route is <NUM> for user <NUM>', 'Route is <NUM> for user <NUM>']
    """
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    masked = _mask(messages.astype("str"))
    codes, uniques = pd.factorize(masked)
    config = TemplateMinerConfig()
    config.profiling_enabled = False
    miner = TemplateMiner(config=config)
    cluster = np.array([miner.add_log_message(u)["cluster_id"] for u in uniques], dtype=np.int64)
    # a cluster's template generalizes as messages join it: read the final ones
    text = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
    templates = np.array([text[c] for c in cluster], dtype=object)
    return pd.Series(templates[codes] if len(codes) else [], index=messages.index, dtype="str")


def log_events(logs: pd.DataFrame, templates: pd.Series, step: str | pd.Timedelta = "1min") -> pd.DataFrame:
    """One count event per line and series (``log:lines``, ``log:errors``, ``log:warnings``, its template).

    ``templates`` is :func:`mine_templates` of ``logs["message"]`` (mined once over window and baseline lines
    together, so both name a template alike).
    """
    freq = pd.Timedelta(step)
    if logs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ("timestamp", "service", "metric", "kind", "value", "flag")})
    ts = logs["timestamp"].dt.floor(freq).to_numpy()
    service = logs["service"].to_numpy(dtype=object)
    level = logs["level"].to_numpy(dtype=object)
    text = templates.str.slice(0, _TEMPLATE_CHARS).to_numpy(dtype=object)
    n = len(logs)
    parts = [
        (np.ones(n, dtype=bool), np.full(n, LOG_PREFIX + "lines", dtype=object)),
        (level == "error", np.full(n, LOG_PREFIX + "errors", dtype=object)),
        (level == "warning", np.full(n, LOG_PREFIX + "warnings", dtype=object)),
        (np.ones(n, dtype=bool), LOG_PREFIX + level + " " + text),
    ]
    frames = [
        pd.DataFrame({"timestamp": ts[m], "service": service[m], "metric": name[m], "kind": "count",
                      "value": 1.0, "flag": False})
        for m, name in parts if m.any()
    ]
    out = pd.concat(frames, ignore_index=True)
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True)
    return out
