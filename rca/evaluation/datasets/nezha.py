"""Load the Nezha benchmark (FSE 2023; MIT) as :class:`BenchCase` objects, one per injected fault.

Directory format::

    <root>/<system>/<day>/fault_list.json        faults grouped by hour
    <root>/<system>/<day>/metric/<pod>_metric.csv   per-pod metrics, one row a minute
    <root>/<system>/<day>/metric/front_service.csv  the entry point's latency and success rate
    <root>/<system>/<day>/metric/dependency.csv     call edges (optional)
    <root>/<system>/<day>/metric/source_50.csv      per-edge p50 latency at the caller (optional)
    <root>/<system>/<day>/metric/destination_50.csv per-edge p50 latency at the callee (optional)
    <root>/<system>/<day>/trace/*.csv               spans (a sample of the day; optional)

Services
    Pods map to services by the Kubernetes pod-name rule
    (:class:`topology.naming.PodNameMapper`: ``cartservice-579f59597d-wc2lz``
    -> ``cartservice``), using the ``PodName`` column, so a service whose pod
    file changes name between days is still one service.  Several pods of one
    service in the same minute are combined: counts and amounts are summed
    (CPU and memory usage, syscalls, network bytes, workload), rates, ratios
    and latencies are averaged.

Metrics (long format; values in the units of the source: latencies in
seconds, CPU in millicores, memory in MiB, rates in percent)
    Pod columns become ``cpu_usage``, ``cpu_usage_rate``, ``memory_usage``,
    ``memory_usage_rate``, ``syscall_read``, ``syscall_write``,
    ``network_receive_bytes``, ``network_transmit_bytes``,
    ``client_latency_p90/p95/p99``, ``server_latency_p90/p95/p99``,
    ``workload``, ``success_rate``.  The ``Node*`` columns describe the
    Kubernetes node shared by many pods and are dropped unless
    ``keep_node_metrics=True`` (then ``node_cpu_usage_rate``...).
    ``front_service.csv`` becomes the entry service's ``latency_p50/p90/p95/p99``
    and ``success_rate`` (replacing that pod's own ``success_rate``: the entry
    point's is the user-facing one).  Where the day has per-edge latency files
    (``source_<q>.csv``, ``destination_<q>.csv``), each service gets
    ``network_latency_p<q>``: the median over its call edges of caller-side
    minus callee-side latency, i.e. time on the network.  Every timestamp is
    floored to the minute.

Spans and logs (``trace/*.csv[.gz]``, ``log/*.csv[.gz]``, ``normal/trace``, ``normal/log``)
    Not metrics: each case hands them to :func:`rca.analyze` as evidence
    (``BenchCase.evidence``: ``spans`` and ``logs`` of the case's window and
    kept history, the day's ``normal/`` ones as ``baseline_spans`` and
    ``baseline_logs``).  Their history drops the other faults' abnormal
    minutes ``[t', t' + abnormal)`` without the metrics' extra minute of margin:
    span files cover only the minute before each fault and the two after it,
    so the minute before a fault is often the only fresh normal data.
    ``modalities="metrics+logs"`` (or the spec ``nezha:PATH|modalities=...``)
    keeps a subset, grouped as ``"<system> (metrics+logs)"``.

Topology
    From ``metric/dependency.csv`` when present; its IP-address nodes are the
    hosts the pods run on, with no metric of their own, so they are dropped
    (``hosts=True`` keeps them as ``NodeKind.HOST``), and so is a node left
    without any call or metric (the load generator, which only talks to
    hosts).  Without a dependency file the graph comes from the day's spans
    (parent span's service -> child span's service, with call counts).
    Services that have metrics but no call are added as isolated nodes.

Entry service (the symptom's home)
    The service at the root of most traces when the day has spans; otherwise
    the graph's top caller -- a node nobody calls, with the most transitive
    dependencies -- that is not a load generator.  Online Boutique:
    ``frontend``; Train Ticket: ``ts-gateway-service``.

Clock repairs (each reported as ``DataIssue(kind="clock_repair")`` on the
cases it affects)
    * Metric files whose ``TimeStamp`` disagrees with their wall-clock ``Time``
      column by more than a minute take their time from ``Time`` (Online
      Boutique 2022-08-22: ``adservice`` is 200,000,000 s ahead).
    * A fault whose ``inject_timestamp`` differs from ``inject_time`` (read as
      UTC) by more than a minute takes ``inject_time`` (Train Ticket
      2023-01-29: about 8 h behind for 24 of its faults).
    * An ``inject_timestamp`` shared by several faults is reported; after the
      repair above, faults that are still identical (same time, pod and type)
      are kept once.

Windows, per fault injected at ``t`` (floored to the minute)
    ``metrics`` = ``[t - history, t + abnormal)``; ``baseline`` = the same
    history ``[t - history, t)`` with every other fault's disturbed span
    ``[t' - 1 min, t' + abnormal + 1 min)`` removed, so neighbouring faults
    never leak into the normal data; ``incident`` = the entry service's
    ``latency_p90`` from ``t`` to ``t + abnormal`` (its pod's
    ``server_latency_p90`` when the day has no ``front_service.csv``, reported
    as ``symptom_fallback``).  A fault injected into a pod without a metric
    file is kept (a method can only miss it) and reported as
    ``fault_unobserved``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from rca.engine.errors import InvalidInputError
from rca.engine.types import DataIssue, Incident
from rca.evaluation.datasets.base import BenchCase, select_named
from rca.evaluation.datasets.nezha_day import NezhaDay, read_nezha_day

__all__ = ["load_nezha"]

_MINUTE = pd.Timedelta(minutes=1)
#: what a case may hand the engine; ``modalities=`` keeps a subset (the bench's ablations)
MODALITIES = ("metrics", "spans", "logs")












































# -- cases -----------------------------------------------------------------------
def _bounds(frame: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> tuple[int, int]:
    """Row positions ``[a, b)`` of ``lo <= timestamp < hi`` in a time-sorted frame."""
    ts = frame["timestamp"]
    return int(ts.searchsorted(lo, side="left")), int(ts.searchsorted(hi, side="left"))


def _subtract(
    lo: pd.Timestamp, hi: pd.Timestamp, holes: list[tuple[pd.Timestamp, pd.Timestamp]]
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """``[lo, hi)`` minus the union of the half-open ``holes``, as sorted disjoint intervals."""
    pieces: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    cursor = lo
    for a, b in sorted(holes):
        if b <= cursor or a >= hi:
            continue
        if a > cursor:
            pieces.append((cursor, a))
        cursor = max(cursor, b)
        if cursor >= hi:
            break
    if cursor < hi:
        pieces.append((cursor, hi))
    return pieces


def _cut(table: pd.DataFrame | None, column: str, pieces: list[tuple[pd.Timestamp, pd.Timestamp]]) -> pd.DataFrame | None:
    """The rows of a time-sorted table whose ``column`` falls in one of the half-open ``pieces``."""
    if table is None:
        return None
    ts = table[column]
    parts = [table.iloc[int(ts.searchsorted(lo, "left")):int(ts.searchsorted(hi, "left"))] for lo, hi in pieces]
    return pd.concat(parts, ignore_index=True) if parts else table.iloc[0:0]


def _evidence(d: NezhaDay, pieces: list[tuple[pd.Timestamp, pd.Timestamp]], modalities: frozenset[str]) -> dict:
    """The spans and logs of a case (its window and its kept history) and the day's normal ones."""
    out: dict = {}
    if "spans" in modalities and d.spans is not None:
        out["spans"] = _cut(d.spans, "start", pieces)
        if d.normal_spans is not None:
            out["baseline_spans"] = d.normal_spans
    if "logs" in modalities and d.logs is not None:
        out["logs"] = _cut(d.logs, "timestamp", pieces)
        if d.normal_logs is not None:
            out["baseline_logs"] = d.normal_logs
    return out


def _day_cases(d: NezhaDay, abnormal: pd.Timedelta, history: pd.Timedelta,
               modalities: frozenset[str] = frozenset(MODALITIES)) -> list[BenchCase]:
    cases: list[BenchCase] = []
    disturbed = [(f.inject - _MINUTE, f.inject + abnormal + _MINUTE) for f in d.faults]
    for k, f in enumerate(d.faults):
        t = f.inject
        a, b = _bounds(d.metrics, t - history, t + abnormal)
        window = d.metrics.iloc[a:b].reset_index(drop=True)
        removed = [
            (lo, hi) for j, (lo, hi) in enumerate(disturbed) if j != k and hi > t - history and lo < t
        ]
        # never anything at or after this fault's injection
        kept = _subtract(t - history, t, removed)
        slices = [d.metrics.iloc[slice(*_bounds(d.metrics, lo, hi))] for lo, hi in kept]
        baseline = pd.concat(slices, ignore_index=True) if slices else d.metrics.iloc[0:0].reset_index(drop=True)
        issues = list(d.issues) + list(f.issues)
        minutes = baseline["timestamp"].nunique()
        if minutes < int(abnormal / _MINUTE):
            issues.append(
                DataIssue(
                    kind="short_baseline",
                    message=(
                        f"{d.system}/{d.day}: only {minutes} minute(s) of baseline before {t:%Y-%m-%d %H:%M} "
                        f"(data start, and {len(removed)} neighbouring fault span(s) removed)"
                    ),
                )
            )
        # Spans and logs exist only around each fault, so the minute before this one is often all the fresh
        # normal data they have: their history drops the other faults' abnormal spans without the minute of
        # margin the metrics keep (which would swallow that minute whenever faults are six minutes apart).
        holes = [(f2.inject, f2.inject + abnormal) for j, f2 in enumerate(d.faults) if j != k]
        evidence = _evidence(d, [*_subtract(t - history, t, holes), (t, t + abnormal)], modalities)
        cases.append(
            BenchCase(
                case_id=f"{d.system}/{d.day}/{k:02d}",
                dataset="nezha",
                group=d.system if modalities == frozenset(MODALITIES) else f"{d.system} ({'+'.join(m for m in MODALITIES if m in modalities)})",
                graph=d.graph,
                metrics=window,
                incident=Incident(d.entry, d.symptom_metric, t, t + abnormal),
                baseline=baseline,
                root_causes=(f.service,),
                fault_type=f.fault_type,
                issues=tuple(issues),
                meta={
                    "system": d.system,
                    "day": d.day,
                    "inject_pod": f.pod,
                    "inject_time": f.raw_time,
                    "inject_timestamp": f.raw_timestamp,
                    "inject_clock_offset_s": f.clock_offset_s,
                    "baseline_removed": tuple(removed),
                    **{k2: v for k2, v in d.meta.items() if k2 != "pods"},
                },
                evidence=evidence,
            )
        )
    return cases


def _duration(value: str | pd.Timedelta, name: str) -> pd.Timedelta:
    try:
        out = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise InvalidInputError(f"{name} must be a duration like '5min', got {value!r}", field=name) from None
    if out < _MINUTE:
        raise InvalidInputError(f"{name} must be at least one minute, got {value!r}", field=name)
    return out


def _modalities(value: str | Iterable[str]) -> frozenset[str]:
    names = [v.strip() for v in (value.replace(",", "+").split("+") if isinstance(value, str) else value)]
    unknown = [n for n in names if n not in MODALITIES]
    if unknown:
        raise InvalidInputError(f"unknown modality {unknown[0]!r}; use {', '.join(MODALITIES)} joined by '+'",
                                field="dataset")
    if "metrics" not in names:
        raise InvalidInputError("modalities must include 'metrics' (the symptom is a metric)", field="dataset")
    return frozenset(names)


def _is_day(path: Path) -> bool:
    return path.is_dir() and ((path / "fault_list.json").is_file() or (path / "metric").is_dir())


def load_nezha(
    root: str | Path,
    *,
    systems: Iterable[str] | None = None,
    abnormal: str | pd.Timedelta = "5min",
    history: str | pd.Timedelta = "60min",
    use_spans: bool = True,
    keep_node_metrics: bool = False,
    hosts: bool = False,
    modalities: str | Iterable[str] = MODALITIES,
) -> list[BenchCase]:
    """Load every Nezha system and day under ``root``: one case per injected fault.

    Parameters
    ----------
    root : path
        The ``nezha`` directory (``<system>/<day>/fault_list.json`` below it),
        or one system's directory, or one day's.
    systems : iterable of str, optional
        Only these systems (``"online-boutique"``, ``"train-ticket"``...).
    abnormal : duration
        Length of the abnormal window after each injection.
    history : duration
        Length of the normal window before each injection.
    use_spans : bool
        Read the span files (``False`` is ``modalities`` without ``spans``; the topology still comes from
        them when the day has no dependency file).
    modalities : str or iterable of str
        What each case hands the engine: ``metrics`` always, ``spans`` and ``logs`` when the day has them
        (a string joins names with ``+``: ``"metrics+logs"``).  A case of a subset is grouped as
        ``"<system> (metrics+logs)"``, so a bench run shows what each modality earns.
    keep_node_metrics : bool
        Keep the ``Node*`` columns (Kubernetes node metrics, shared by pods).
    hosts : bool
        Keep the IP-address host nodes of ``dependency.csv`` (kind ``host``).

    Returns
    -------
    list of BenchCase
        ``"<system>/<day>/NN"`` in injection order, grouped by system.

    Examples
    --------
    >>> cases = load_nezha("../shared/datasets/nezha")  # doctest: +SKIP
    >>> cases[0].incident.metric  # doctest: +SKIP
    'latency_p90'
    """
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError(f"Nezha directory {str(root)!r} does not exist", field="dataset")
    chosen = _modalities(modalities)
    if not use_spans:
        chosen = chosen - {"spans"}
    abnormal_td = _duration(abnormal, "abnormal")
    history_td = _duration(history, "history")
    # ``root`` is normally the folder of systems; a system folder or a single day works too
    days_of: dict[Path, list[Path]]
    if _is_day(root):
        days_of = {root.parent: [root]}
    elif any(_is_day(x) for x in root.iterdir()):
        days_of = {root: sorted(x for x in root.iterdir() if _is_day(x))}
    else:
        days_of = {
            d: sorted(x for x in d.iterdir() if _is_day(x))
            for d in sorted(root.iterdir())
            if d.is_dir() and any(_is_day(x) for x in d.iterdir())
        }
    found = sorted(days_of)
    found = select_named(found, systems, "Nezha system")
    if not found:
        raise InvalidInputError(f"no Nezha system (<system>/<day>/fault_list.json) under {root}", field="dataset")
    cases: list[BenchCase] = []
    for system_dir in found:
        for day_dir in days_of[system_dir]:
            day = read_nezha_day(day_dir, use_spans=True, use_logs="logs" in chosen,
                                 keep_node_metrics=keep_node_metrics, hosts=hosts)
            cases.extend(_day_cases(day, abnormal_td, history_td, chosen))
    return cases
