"""One Nezha day read from its files: pod metrics, the entry point's metrics, per-edge latency, spans and the fault list, with the clock repairs each needs.

The layout and the meaning of each metric are described in :mod:`rca.evaluation.datasets.nezha`,
which cuts the day returned by :func:`read_nezha_day` into one case per fault.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rca.engine.errors import InvalidInputError
from rca.engine.evidence.logs import read_logs
from rca.engine.ingest import LONG_COLUMNS
from rca.engine.types import DataIssue
from rca.evaluation.datasets.base import compact_names
from topology import NodeKind, ServiceGraph
from topology.io_csv import is_ip_address, read_edge_csv
from topology.io_spans import graph_from_spans, normalize_spans_csv
from topology.naming import PodNameMapper

__all__ = ['NezhaDay', 'NezhaFault', 'metric_name', 'read_nezha_day']


_CLOCK_TOLERANCE = pd.Timedelta(minutes=1)




_TS_DTYPE = "datetime64[ns, UTC]"


_FRONT = {
    "SuccessRate(%)": "success_rate",
    "LatencyP50(s)": "latency_p50",
    "LatencyP90(s)": "latency_p90",
    "LatencyP95(s)": "latency_p95",
    "LatencyP99(s)": "latency_p99",
}


# Summed when several pods of one service report in the same minute; others are averaged.
_ADDITIVE = {
    "cpu_usage",
    "memory_usage",
    "syscall_read",
    "syscall_write",
    "network_receive_bytes",
    "network_transmit_bytes",
    "workload",
}


_SYMPTOM = "latency_p90"  # the entry point's user-facing latency, from front_service.csv


_POD_SYMPTOM = "server_latency_p90"  # the entry pod's own, when there is no front_service.csv


_LOADGEN = re.compile(r"load[-_]?gen|locust", re.IGNORECASE)


_TIME_RE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:\.\d+)?(?:\s*([+-]\d{2}:?\d{2}|Z))?")


def metric_name(column: str) -> str:
    """snake_case metric name of a Nezha column, without units or the ``Pod`` prefix.

    >>> metric_name("PodClientLatencyP90(s)"), metric_name("CpuUsageRate(%)"), metric_name("PodWorkload(Ops)")
    ('client_latency_p90', 'cpu_usage_rate', 'workload')
    """
    base = re.sub(r"\(.*?\)", "", column).strip()
    if base.startswith("Pod") and len(base) > 3 and base[3].isupper():
        base = base[3:]
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", base).lower()
    return re.sub(r"[^a-z0-9]+", "_", snake).strip("_")


# -- time -----------------------------------------------------------------------
def _parse_wall_time(text: pd.Series) -> pd.Series:
    """Parse Nezha's ``Time`` column (``2022-08-22 03:51:19.6 +0000 UTC m=+0.1``) as UTC."""
    text = text.astype("str")
    plain = text.str.slice(0, 19)
    # fast path: every value is in UTC (``+0000``/``Z``) or carries no offset at all
    if not text.str.contains(r"\s[+-](?!00:?00)\d{2}:?\d{2}\b", regex=True).any():
        return pd.to_datetime(plain.str.replace("T", " ", regex=False), format="%Y-%m-%d %H:%M:%S", errors="coerce", utc=True)
    parts = text.str.extract(_TIME_RE)
    offset = parts[1].fillna("+0000").str.replace("Z", "+0000", regex=False).str.replace(":", "", regex=False)
    return pd.to_datetime(
        parts[0].str.replace("T", " ", regex=False) + offset, format="%Y-%m-%d %H:%M:%S%z", errors="coerce", utc=True
    )


def _fmt_epoch(value: Any) -> str:
    return "missing" if pd.isna(value) else f"{int(value)}"


def _row_times(df: pd.DataFrame, where: str) -> tuple[pd.Series, list[DataIssue]]:
    """UTC minute of each row: ``TimeStamp``, or ``Time`` where the two disagree."""
    issues: list[DataIssue] = []
    epoch = pd.to_numeric(df["TimeStamp"], errors="coerce") if "TimeStamp" in df else pd.Series(np.nan, index=df.index)
    stamp = pd.to_datetime(epoch, unit="s", utc=True, errors="coerce")
    if "Time" not in df:
        return stamp.dt.floor("min"), issues
    wall = _parse_wall_time(df["Time"])
    delta = (stamp - wall).dt.total_seconds()
    bad = (delta.abs() > _CLOCK_TOLERANCE.total_seconds()) | (stamp.isna() & wall.notna())
    if bad.any():
        n = int(bad.sum())
        med = float(np.nanmedian(delta[bad])) if delta[bad].notna().any() else float("nan")
        first = int(np.flatnonzero(bad.to_numpy())[0])
        issues.append(
            DataIssue(
                kind="clock_repair",
                message=(
                    f"{where}: TimeStamp disagrees with Time on {n} of {len(df)} rows "
                    f"(median {med:+,.0f} s, e.g. {_fmt_epoch(epoch.iloc[first])} vs {wall.iloc[first]:%Y-%m-%d %H:%M:%S}); "
                    "used Time for those rows"
                ),
            )
        )
        stamp = stamp.where(~bad, wall)
    return stamp.dt.floor("min"), issues


# -- reading one day -------------------------------------------------------------
@dataclass(frozen=True)
class NezhaFault:
    """One injected fault after clock repair (``inject`` is floored to the minute)."""

    inject: pd.Timestamp
    pod: str
    service: str
    fault_type: str
    raw_time: str | None
    raw_timestamp: int | None
    issues: tuple[DataIssue, ...] = ()
    #: ``inject_time`` minus ``inject_timestamp`` in seconds (None when one is missing)
    clock_offset_s: float | None = None


@dataclass
class NezhaDay:
    """Everything parsed from one day directory, shared by its fault cases."""

    system: str
    day: str
    path: Path
    metrics: pd.DataFrame
    graph: ServiceGraph
    entry: str
    faults: list[NezhaFault]
    #: the incident's metric on ``entry``: the user-facing ``latency_p90`` of
    #: ``front_service.csv``, else the entry pod's own ``server_latency_p90``
    symptom_metric: str = "latency_p90"
    issues: list[DataIssue] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    #: the day's spans (the span table, sorted by start) and log lines (the log table, sorted by time), and the
    #: fault-free ones of ``normal/`` -- None where the day has none (or they were not asked for)
    spans: pd.DataFrame | None = None
    logs: pd.DataFrame | None = None
    normal_spans: pd.DataFrame | None = None
    normal_logs: pd.DataFrame | None = None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}", field="dataset") from None


def _wide_to_long(times: pd.Series, service: pd.Series, values: pd.DataFrame) -> dict[str, np.ndarray]:
    """Rows x metric columns -> long column arrays, without NaN values and unparseable times."""
    if not all(pd.api.types.is_numeric_dtype(t) for t in values.dtypes):
        values = values.apply(pd.to_numeric, errors="coerce")
    arr = values.to_numpy(dtype=float)
    n_t, n_c = arr.shape
    flat = arr.ravel()
    naive = pd.to_datetime(times, utc=True).dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    ts = np.repeat(naive, n_c)
    keep = ~np.isnan(flat) & ~np.isnat(ts)
    return {
        "timestamp": ts[keep],
        "service": np.repeat(service.to_numpy(dtype=object), n_c)[keep],
        "metric": np.tile(np.asarray(list(values.columns), dtype=object), n_t)[keep],
        "value": flat[keep],
    }


def _frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """One long frame from column arrays (built once: cheaper than concatenating frames)."""
    if not parts:
        return pd.DataFrame(
            {"timestamp": pd.Series(dtype=_TS_DTYPE), "service": pd.Series(dtype="str"),
             "metric": pd.Series(dtype="str"), "value": pd.Series(dtype=float)}
        )
    cols = {c: np.concatenate([p[c] for p in parts]) for c in LONG_COLUMNS}
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(cols["timestamp"]).tz_localize("UTC"),
            "service": pd.array(cols["service"], dtype="str"),
            "metric": pd.array(cols["metric"], dtype="str"),
            "value": cols["value"].astype(float),
        }
    )


def _combine_duplicates(frame: pd.DataFrame) -> pd.DataFrame:
    """One value per (minute, service, metric): sums for amounts, means for the rest."""
    key = ["timestamp", "service", "metric"]
    if not frame.duplicated(key).any():
        return frame
    additive = frame["metric"].isin(_ADDITIVE)
    parts = []
    if additive.any():
        parts.append(frame[additive].groupby(key, sort=False, as_index=False)["value"].sum())
    if (~additive).any():
        parts.append(frame[~additive].groupby(key, sort=False, as_index=False)["value"].mean())
    return pd.concat(parts, ignore_index=True)


def _read_pod_metrics(
    metric_dir: Path, to_service: PodNameMapper, keep_node_metrics: bool, where: str
) -> tuple[pd.DataFrame, list[DataIssue], dict[str, str]]:
    frames: list[dict[str, np.ndarray]] = []
    issues: list[DataIssue] = []
    pods: dict[str, str] = {}
    for path in sorted(metric_dir.glob("*_metric.csv")):
        df = _read_csv(path)
        if df.empty:
            continue
        times, fixed = _row_times(df, f"{where}/metric/{path.name}")
        issues.extend(fixed)
        repeated = int(times.duplicated().sum())
        if repeated:
            issues.append(
                DataIssue(
                    kind="duplicate_timestamps",
                    message=f"{where}/metric/{path.name}: {repeated} row(s) fall in an already seen minute; combined",
                )
            )
        pod_col = df["PodName"].astype("str") if "PodName" in df else pd.Series(path.name[: -len("_metric.csv")], index=df.index)
        names = to_service.mapping_for(pod_col.unique())
        service = pod_col.map(names)
        pods.update(names)
        cols = {c: metric_name(c) for c in df.columns if c not in ("Time", "TimeStamp", "PodName")}
        if not keep_node_metrics:
            cols = {c: m for c, m in cols.items() if not c.startswith("Node")}
        values = df[list(cols)].rename(columns=cols)
        frames.append(_wide_to_long(times, service, values))
    return _frame(frames), issues, pods


def _read_front(metric_dir: Path, entry: str, where: str) -> tuple[pd.DataFrame, list[DataIssue]]:
    path = metric_dir / "front_service.csv"
    if not path.is_file():
        return _frame([]), []
    df = _read_csv(path)
    times, issues = _row_times(df, f"{where}/metric/{path.name}")
    cols = {c: _FRONT.get(c, metric_name(c)) for c in df.columns if c not in ("Time", "TimeStamp", "ServiceName")}
    values = df[list(cols)].rename(columns=cols)
    return _frame([_wide_to_long(times, pd.Series(entry, index=df.index), values)]), issues


def _read_spans(trace_dir: Path, to_service: PodNameMapper) -> tuple[pd.DataFrame | None, int]:
    """Normalized spans of every trace file of the day, and how many duplicate spans were dropped.

    Trace files may overlap (the same trace in two files): a span is kept once.
    """
    files = sorted([*trace_dir.glob("*.csv"), *trace_dir.glob("*.csv.gz")]) if trace_dir.is_dir() else []
    if not files:
        return None, 0
    spans = normalize_spans_csv(files, service_of=to_service)
    before = len(spans)
    spans = spans.drop_duplicates(["trace_id", "span_id"]).sort_values("start", kind="stable").reset_index(drop=True)
    return spans, before - len(spans)


def _read_log_dir(log_dir: Path, to_service: PodNameMapper) -> tuple[pd.DataFrame | None, list[DataIssue]]:
    """Every log file of a folder (``HH_MM_log.csv.gz``, raw ``.csv`` too) as one log table sorted by time."""
    files = sorted([*log_dir.glob("*.csv"), *log_dir.glob("*.csv.gz")]) if log_dir.is_dir() else []
    if not files:
        return None, []
    table = read_logs(files, field="dataset", pod_mapper=to_service)
    return table.frame.sort_values("timestamp", kind="stable").reset_index(drop=True), list(table.issues)


def _read_faults(path: Path, to_service: PodNameMapper, where: str) -> list[NezhaFault]:
    """The faults of a day, clock-repaired; each fault carries the issues found on it."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}", field="dataset") from None
    entries = [f for group in doc.values() for f in group] if isinstance(doc, dict) else list(doc)
    rows = []
    for k, f in enumerate(entries):
        try:
            pod = str(f["inject_pod"])
            ftype = str(f["inject_type"])
        except (KeyError, TypeError):
            raise InvalidInputError(f"{path}: fault #{k} lacks inject_pod or inject_type", field="dataset") from None
        raw_ts = f.get("inject_timestamp")
        epoch = pd.to_numeric(pd.Series([raw_ts]), errors="coerce").iloc[0]
        raw_time = f.get("inject_time")
        wall = _parse_wall_time(pd.Series([raw_time])).iloc[0] if raw_time else pd.NaT
        rows.append((k, pod, ftype, None if pd.isna(epoch) else int(epoch), raw_time, wall))
        if pd.isna(epoch) and pd.isna(wall):
            raise InvalidInputError(f"{path}: fault #{k} has neither inject_timestamp nor inject_time", field="dataset")

    shared = Counter(r[3] for r in rows if r[3] is not None)
    faults: list[NezhaFault] = []
    for k, pod, ftype, epoch, raw_time, wall in rows:
        issues: list[DataIssue] = []
        stamp = pd.Timestamp(epoch, unit="s", tz="UTC") if epoch is not None else pd.NaT
        if epoch is not None and shared[epoch] > 1:
            others = [r for r in rows if r[3] == epoch and r[0] != k]
            issues.append(
                DataIssue(
                    kind="clock_repair",
                    message=(
                        f"{where}/fault_list.json: inject_timestamp {epoch} of {pod} {ftype} at {raw_time} "
                        f"is shared with {len(others)} other fault(s) ("
                        + ", ".join(f"{r[1]} {r[2]} at {r[4]}" for r in others)
                        + "); each fault's inject_time decides"
                    ),
                    service=to_service(pod),
                )
            )
        if pd.isna(stamp):
            chosen = wall
        elif pd.notna(wall) and abs(stamp - wall) > _CLOCK_TOLERANCE:
            chosen = wall
            issues.append(
                DataIssue(
                    kind="clock_repair",
                    message=(
                        f"{where}/fault_list.json: inject_timestamp {epoch} ({stamp:%Y-%m-%d %H:%M:%S} UTC) of "
                        f"{pod} {ftype} is {(wall - stamp).total_seconds():+,.0f} s away from inject_time "
                        f"{raw_time!r}; used inject_time as UTC"
                    ),
                    service=to_service(pod),
                )
            )
        else:
            chosen = stamp
        faults.append(
            NezhaFault(
                inject=chosen.floor("min"),
                pod=pod,
                service=to_service(pod),
                fault_type=ftype,
                raw_time=raw_time,
                raw_timestamp=epoch,
                issues=tuple(issues),
                clock_offset_s=None if pd.isna(stamp) or pd.isna(wall) else (wall - stamp).total_seconds(),
            )
        )
    # faults still identical after the repair are listed twice: keep one, say so on it
    unique: dict[tuple[pd.Timestamp, str, str], NezhaFault] = {}
    for f in faults:
        key = (f.inject, f.pod, f.fault_type)
        kept = unique.get(key)
        if kept is None:
            unique[key] = f
            continue
        note = DataIssue(
            kind="clock_repair",
            message=(
                f"{where}/fault_list.json: {f.pod} {f.fault_type} at {f.raw_time or f.inject} "
                "is listed more than once; kept one case"
            ),
            service=f.service,
        )
        merged = tuple(dict.fromkeys(kept.issues + f.issues + (note,)))
        unique[key] = NezhaFault(**{**kept.__dict__, "issues": merged})
    return sorted(unique.values(), key=lambda f: (f.inject, f.pod))


def _unobserved(f: NezhaFault, where: str) -> NezhaFault:
    """``f`` with a note that its pod has no metric file: no metric can point at it."""
    note = DataIssue(
        kind="fault_unobserved",
        message=(
            f"{where}: {f.pod} {f.fault_type} was injected into {f.service}, which has no metric file "
            "under metric/; the case is kept, but its cause cannot be seen in the metrics"
        ),
        service=f.service,
    )
    return replace(f, issues=(*f.issues, note))


def _graph_from_dependency(path: Path, hosts: bool, with_metrics: set[str]) -> ServiceGraph:
    graph = read_edge_csv(path)
    if hosts:
        return graph
    keep = [n for n in graph.services if not is_ip_address(n) and graph.kind(n) is not NodeKind.HOST]
    graph = graph.subgraph(keep)
    connected = {c.caller for c in graph.calls} | {c.callee for c in graph.calls}
    return graph.subgraph([n for n in graph.services if n in connected or n in with_metrics])


def _entry_service(spans: pd.DataFrame | None, graph: ServiceGraph) -> str | None:
    if spans is not None and not spans.empty:
        roots = spans.loc[spans["parent_id"].isna(), "service"]
        if not roots.empty:
            counts = roots.value_counts()
            return str(sorted(counts[counts == counts.max()].index)[0])
    tops = [
        n
        for n in graph.services
        if not graph.callers(n) and graph.kind(n) is not NodeKind.HOST and not _LOADGEN.search(n)
    ]
    if not tops:
        return None
    return max(sorted(tops), key=lambda n: len(graph.dependencies(n)))


_EDGE_FILE = re.compile(r"^source_(\d+)\.csv$")


def _split_edge(column: str, services: set[str]) -> tuple[str, str] | None:
    """``caller_callee`` -> (caller, callee), preferring a split into two known services."""
    cuts = [i for i, ch in enumerate(column) if ch == "_"]
    for i in cuts:
        a, b = column[:i], column[i + 1:]
        if a in services and b in services:
            return a, b
    return (column[: cuts[0]], column[cuts[0] + 1:]) if cuts else None


def _read_edge_latency(metric_dir: Path, services: set[str], where: str) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Per-service network time from ``source_<q>.csv`` / ``destination_<q>.csv``.

    The two files give, per call edge ``caller_callee`` and minute, the
    ``q``-th percentile latency measured at the caller and at the callee; the
    difference is time spent on the network.  A service's
    ``network_latency_p<q>`` is the median of that difference over its call
    edges, so a delay on one pod's interface stands out at that pod and not
    at a neighbour that has other, unaffected edges.
    """
    parts: list[dict[str, np.ndarray]] = []
    issues: list[DataIssue] = []
    for src_path in sorted(metric_dir.glob("source_*.csv")):
        m = _EDGE_FILE.match(src_path.name)
        dst_path = metric_dir / f"destination_{m.group(1)}.csv" if m else None
        if dst_path is None or not dst_path.is_file():
            continue
        sides = []
        for path in (src_path, dst_path):
            df = _read_csv(path).rename(columns={"time": "Time", "timestamp": "TimeStamp"})
            times, fixed = _row_times(df, f"{where}/metric/{path.name}")
            issues.extend(fixed)
            values = df.drop(columns=[c for c in ("Time", "TimeStamp") if c in df]).apply(pd.to_numeric, errors="coerce")
            values.index = times
            sides.append(values.groupby(level=0).mean())
        src, dst = sides
        common = [c for c in src.columns if c in dst.columns]
        gap = src[common] - dst[common].reindex(src.index)
        per_service: dict[str, list[str]] = {}
        for col in common:
            pair = _split_edge(col, services)
            if pair is None:
                continue
            for svc in pair:
                per_service.setdefault(svc, []).append(col)
        if not per_service:
            continue
        name = f"network_latency_p{m.group(1)}"
        wide = pd.DataFrame({svc: gap[cols].median(axis=1) for svc, cols in per_service.items()}, index=gap.index)
        long = wide.stack().rename("value").reset_index()
        long.columns = ["timestamp", "service", "value"]
        parts.append(
            {
                "timestamp": long["timestamp"].dt.tz_convert(None).to_numpy(dtype="datetime64[ns]"),
                "service": long["service"].to_numpy(dtype=object),
                "metric": np.full(len(long), name, dtype=object),
                "value": long["value"].to_numpy(dtype=float),
            }
        )
    return _frame(parts), issues


def read_nezha_day(
    day_dir: str | Path,
    *,
    use_spans: bool = True,
    use_logs: bool = True,
    keep_node_metrics: bool = False,
    hosts: bool = False,
    pod_mapper: PodNameMapper | None = None,
) -> NezhaDay:
    """Parse one Nezha day directory (metrics, topology, faults, spans and logs) once; see the module docstring.

    ``use_spans`` / ``use_logs``: keep the spans (``trace/``, ``normal/trace/``) and log lines (``log/``,
    ``normal/log/``) for the cases, which hand them to the engine as evidence; the topology comes from the
    spans whenever the day has no dependency file, whatever ``use_spans`` says.
    """
    day_dir = Path(day_dir)
    system, day = day_dir.parent.name, day_dir.name
    where = f"{system}/{day}"
    to_service = pod_mapper or PodNameMapper()
    metric_dir = day_dir / "metric"
    pod_frame, issues, pods = _read_pod_metrics(metric_dir, to_service, keep_node_metrics, where)
    with_metrics = set(pod_frame["service"].unique())
    spans, dup_spans = _read_spans(day_dir / "trace", to_service)

    dep = metric_dir / "dependency.csv"
    if dep.is_file():
        graph = _graph_from_dependency(dep, hosts, with_metrics)
        topology_source = "dependency.csv"
    elif spans is not None:
        graph = graph_from_spans(spans)
        topology_source = "spans"
    else:
        graph = ServiceGraph()
        topology_source = "none"
    for s in sorted(with_metrics):
        if s not in graph:
            graph.add_service(s)

    entry = _entry_service(spans, graph)
    if entry is None:
        raise InvalidInputError(f"{where}: cannot tell the entry service (no spans, no graph)", field="dataset")
    if entry not in graph:
        graph.add_service(entry)
    front, front_issues = _read_front(metric_dir, entry, where)
    issues.extend(front_issues)
    parts = [pod_frame]
    symptom_metric = _SYMPTOM
    if "latency_p90" not in set(front["metric"]):
        symptom_metric = _POD_SYMPTOM
        issues.append(
            DataIssue(
                kind="symptom_fallback",
                message=(
                    f"{where}: no entry-point latency (metric/front_service.csv missing or without LatencyP90); "
                    f"the incident is {entry}'s own {_POD_SYMPTOM} from its pod metrics"
                ),
                service=entry,
                metric=_POD_SYMPTOM,
            )
        )
    if not front.empty:
        # the entry point's user-facing success rate replaces its pod's own
        clash = (pod_frame["service"] == entry) & pod_frame["metric"].isin(set(front["metric"]))
        parts = [pod_frame.loc[~clash], front]
    edges, edge_issues = _read_edge_latency(metric_dir, with_metrics | set(graph.services), where)
    issues.extend(edge_issues)
    parts.append(edges)
    metrics = pd.concat([p.astype({"timestamp": _TS_DTYPE}) for p in parts if not p.empty], ignore_index=True)
    metrics["service"] = metrics["service"].astype("str")
    metrics["metric"] = metrics["metric"].astype("str")
    metrics["value"] = metrics["value"].astype(float)
    if len(set(pods.values())) < len(pods) or any(i.kind == "duplicate_timestamps" for i in issues):
        metrics = _combine_duplicates(metrics)
    metrics = metrics.sort_values(["timestamp", "service", "metric"], kind="stable").reset_index(drop=True)
    metrics = compact_names(metrics)

    fault_path = day_dir / "fault_list.json"
    faults = _read_faults(fault_path, to_service, where) if fault_path.is_file() else []
    for f in faults:
        if f.service not in graph:
            graph.add_service(f.service)
    faults = [f if f.service in with_metrics else _unobserved(f, where) for f in faults]
    normal_spans = _read_spans(day_dir / "normal" / "trace", to_service)[0] if use_spans else None
    logs = normal_logs = None
    if use_logs:
        logs, log_issues = _read_log_dir(day_dir / "log", to_service)
        normal_logs, normal_issues = _read_log_dir(day_dir / "normal" / "log", to_service)
        issues.extend(log_issues + normal_issues)
    return NezhaDay(
        system=system,
        day=day,
        path=day_dir,
        metrics=metrics,
        graph=graph,
        entry=entry,
        faults=faults,
        symptom_metric=symptom_metric,
        issues=issues,
        meta={
            "topology": topology_source,
            "pods": pods,
            "span_files": len(list((day_dir / "trace").glob("*.csv"))) if (day_dir / "trace").is_dir() else 0,
            "spans": 0 if spans is None else len(spans),
            "duplicate_spans_dropped": dup_spans,
            "log_lines": 0 if logs is None else len(logs),
        },
        spans=spans if use_spans else None,
        logs=logs,
        normal_spans=normal_spans,
        normal_logs=normal_logs,
    )
