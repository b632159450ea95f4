"""The pipeline: ingest -> align -> detect -> causal -> rank -> explain.

This is the only module that knows the order of the stages.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd

from rca.engine.align import align_metrics
from rca.engine.causal import granger_along_pairs
from rca.engine.columns import name_mask
from rca.engine.confidence_features import calibrate_ranking
from rca.engine.config import AlignConfig, RCAConfig
from rca.engine.detect import incident_windows, score_anomalies
from rca.engine.errors import (
    InvalidConfigError,
    InvalidIncidentError,
    InvalidInputError,
    InvalidTopologyError,
)
from rca.engine.evidence.build import merge_scores, read_evidence
from rca.engine.evidence.stage import evidence_frames, join_evidence
from rca.engine.explain import explain_causes
from rca.engine.ingest import load_metrics
from rca.engine.input_checks import (
    check_direction_patterns,
    check_symptom_metric,
    orientation_hint,
    short_data_issues,
)
from rca.engine.rank import anomaly_log_odds, node_evidence, rank_candidates
from rca.engine.symptom_semantics import learn_symptom_direction, learned_bounded
from rca.engine.symptoms import analyze_symptoms
from rca.engine.types import DataIssue, GrangerTest, Incident, RankedService, RCAResult
from rca.engine.version import __version__
from topology import ServiceGraph

__all__ = ["analyze"]

MetricsInput = pd.DataFrame | str | Path


def _coerce_graph(graph: Any) -> ServiceGraph:
    if isinstance(graph, ServiceGraph):
        return graph
    if isinstance(graph, nx.DiGraph):
        return ServiceGraph.from_networkx(graph)
    raise InvalidTopologyError(
        f"graph must be a topology.ServiceGraph (or networkx.DiGraph), got {type(graph).__name__}",
        field="graph",
    )


_BASELINE_CACHE: OrderedDict[tuple, tuple[pd.DataFrame, list[DataIssue]]] = OrderedDict()
_BASELINE_CACHE_SIZE = 4


def _content_hash(frame: pd.DataFrame) -> int | str | None:
    """A hash of the frame's cells and index (None when a cell cannot be hashed).

    A numeric wide frame is hashed as one block of bytes (hundreds of columns
    hashed one by one cost more than aligning them); other frames column by column.
    """
    if len(frame.columns) > 8 and all(pd.api.types.is_float_dtype(d) for d in dict.fromkeys(frame.dtypes)):
        digest = hashlib.blake2b(frame.to_numpy(dtype="float64").tobytes(), digest_size=16)
        digest.update(pd.util.hash_pandas_object(frame.index).to_numpy().tobytes())
        return digest.hexdigest()
    try:
        return int(pd.util.hash_pandas_object(frame, index=True).sum())
    except TypeError:  # unhashable cells: skip the cache
        return None


def _aligned_baseline(
    baseline: MetricsInput, config: AlignConfig, graph: ServiceGraph, step: pd.Timedelta
) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Ingest and align separate normal data, reusing the last few results.

    Normal data is typically hours long and shared by many analyses (every
    incident of a system, every benchmark case); aligning it dominated their
    cost.  The cache key is the data's content hash, so a frame changed in
    place is never served stale.
    """
    key = None
    if isinstance(baseline, pd.DataFrame):
        content = _content_hash(baseline)
        if content is not None:
            key = (
                content,
                baseline.shape,
                tuple(map(str, baseline.columns)),
                tuple(sorted(map(str, config.to_dict().items()))),
                step,
                frozenset(graph.services),
            )
            hit = _BASELINE_CACHE.get(key)
            if hit is not None:
                _BASELINE_CACHE.move_to_end(key)
                return hit[0], list(hit[1])
    long, issues = load_metrics(baseline, field="baseline", timezone=config.timezone)
    aligned = align_metrics(long, config, known_services=graph, step=step)
    out = (aligned.frame, issues + list(aligned.issues))
    if key is not None:
        _BASELINE_CACHE[key] = out
        while len(_BASELINE_CACHE) > _BASELINE_CACHE_SIZE:
            _BASELINE_CACHE.popitem(last=False)
    return out[0], list(out[1])


def _clock() -> tuple[float, float]:
    """Wall and CPU seconds now."""
    return time.perf_counter(), time.process_time()


def _lap(timings: dict[str, float], stage: str, since: tuple[float, float]) -> None:
    """Record ``stage``'s wall seconds since ``since`` and, as ``<stage>_cpu``, its CPU seconds.

    The CPU time is what this process spent, whatever else the machine runs.
    """
    wall, cpu = _clock()
    timings[stage] = wall - since[0]
    timings[f"{stage}_cpu"] = cpu - since[1]


def _coerce_config(config: Any) -> RCAConfig:
    if config is None:
        return RCAConfig()
    if isinstance(config, RCAConfig):
        return config
    if isinstance(config, Mapping):
        return RCAConfig.from_dict(config)
    raise InvalidConfigError(f"config must be an RCAConfig or a dict, got {type(config).__name__}", field="config")


def _granger_pairs(
    graph: ServiceGraph,
    evidence: dict,
    scope: set[str],
    symptom: tuple[str, str],
    columns: pd.Index,
    threshold: float,
) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Callee series -> caller series for call edges between anomalous services.

    Both ends are the services' strongest latency or error series (their
    strongest series of any kind when they have none): that is what a fault
    passes up a call, so a test between, say, a callee's latency and its
    caller's memory would only measure coincidence.
    """
    active = {s for s in scope if s in evidence and evidence[s].score > threshold}

    def series(service: str) -> tuple[str, str]:
        ev = evidence[service]
        return (service, ev.upward_metric or ev.metric)

    pairs = []
    for caller in sorted(scope):  # a set: sorted, so the tests come out in the same order every run
        if caller not in active and caller != symptom[0]:
            continue
        for callee in graph.callees(caller):
            if callee not in active or callee == caller:
                continue
            if caller == symptom[0] and symptom in columns:
                effect_col = symptom
            elif caller in evidence:
                effect_col = series(caller)
            else:
                continue
            pairs.append((series(callee), effect_col))
    return pairs


def _null_log_score(cfg: RCAConfig, symptom, threshold: float) -> float:
    """Log-score of "no root cause".

    The null must call the symptom's own deviation noise, so it loses the
    symptom's anomaly log-odds: an anomalous symptom makes it less likely, a
    quiet one more (by at most ``quiet_null_log_score``).
    """
    if symptom is None:
        return cfg.rank.null_log_score
    odds = float(anomaly_log_odds(symptom.score, threshold, cfg.rank.sharpness))
    return cfg.rank.null_log_score - max(odds, -cfg.rank.quiet_null_log_score)


def _decisive_own_signal(table: pd.DataFrame, service: str, level: float) -> bool:
    """Whether ``service`` has a direct (non-traffic, server-side) series scoring above ``level``."""
    direct = name_mask(table.index, 0, service) & (table["direction"].to_numpy() != "both") & (table["weight"].to_numpy(dtype=float) >= 1.0)
    return bool((table["score"].to_numpy(dtype=float)[direct] > level).any())


def analyze(
    graph: ServiceGraph,
    metrics: MetricsInput | None,
    incident: Incident | Mapping[str, Any] | Sequence[Incident | Mapping[str, Any]],
    config: RCAConfig | Mapping[str, Any] | None = None,
    *,
    baseline: MetricsInput | None = None,
    spans: Any = None,
    logs: Any = None,
    baseline_spans: Any = None,
    baseline_logs: Any = None,
) -> RCAResult:
    """Find the probable root causes of an incident.

    Parameters
    ----------
    graph : ServiceGraph
        Who calls whom (edge ``A -> B``: A calls B).
    metrics : DataFrame or path
        Long (``timestamp, service, metric, value``) or wide (``(service,
        metric)`` columns) metrics, or a CSV/Parquet file; they must cover the
        incident window and, unless ``baseline`` is given, time before it.
    incident : Incident or dict, or a list of them
        The symptom: service, metric, start (and optional end).  A list is
        an incident with several symptoms, analysed into one ranking
        (:mod:`rca.engine.symptoms`).
    config : RCAConfig or dict, optional
        Defaults documented in :mod:`rca.engine.config`.
    baseline : DataFrame or path, optional
        Separate normal-operation data of the same services.
    spans, logs : DataFrame, path, folder or list of paths, optional
        Spans (Nezha span CSV, OTLP / Jaeger / Zipkin JSON, or the span table) and log lines (Nezha log CSV,
        JSON lines, plain ``<time> <service> <message>`` lines, or the log table) of the incident window and
        the time before it; with either, ``metrics`` may be None.  Their series (``span:<op> latency p90``,
        ``log:errors``, ``log:error <template>``...) are tested event by event against the normal spans and
        lines (:mod:`rca.engine.evidence`).
    baseline_spans, baseline_logs : same as ``spans``, ``logs``, optional
        Normal spans and lines from another period (with the given ones before the window, the tests'
        reference).

    Returns
    -------
    RCAResult
        ``causes`` ranked best first, or empty with ``reason`` when nothing
        upstream of the symptom is anomalous.

    Raises
    ------
    InvalidInputError
        Bad graph, metrics, incident or config; ``.field`` names what.

    Examples
    --------
    >>> from rca.evaluation.datasets.synthetic import demo_case
    >>> case = demo_case()
    >>> result = analyze(case.graph, case.metrics, case.incident)
    >>> result.top.service in case.root_causes
    True
    """
    if isinstance(incident, Sequence) and not isinstance(incident, str):
        return analyze_symptoms(
            analyze, graph, metrics, incident, config, baseline=baseline,
            spans=spans, logs=logs, baseline_spans=baseline_spans, baseline_logs=baseline_logs,
        )
    timings: dict[str, float] = {}
    t0 = _clock()
    g = _coerce_graph(graph)
    cfg = _coerce_config(config)
    if isinstance(incident, Mapping):
        incident = Incident.from_dict(incident)
    if not isinstance(incident, Incident):
        raise InvalidIncidentError(f"incident must be an Incident or a dict, got {type(incident).__name__}", field="incident")
    if incident.service not in g:
        raise InvalidIncidentError(
            f"incident.service {incident.service!r} is not in the topology ({len(g)} services)",
            field="incident.service",
        )

    inputs = read_evidence(spans, logs, baseline_spans, baseline_logs)
    if metrics is None and not inputs.given:
        raise InvalidInputError("metrics: give metrics, or spans or logs to analyze", field="metrics")
    long, issues = (
        load_metrics(metrics, field="metrics", timezone=cfg.align.timezone) if metrics is not None else (None, [])
    )
    long, span_log, ev_step = evidence_frames(inputs, long, incident, cfg, g)
    if span_log is not None:
        issues += list(span_log.issues)
    check_symptom_metric(long, incident, span_log)
    check_direction_patterns(long, cfg.detect.directions)
    _lap(timings, "ingest", t0)
    issues += orientation_hint(g, incident.service)

    t = _clock()
    aligned = align_metrics(long, cfg.align, known_services=g, step=ev_step)
    issues += list(aligned.issues)
    base_frame = None
    if baseline is not None:
        base_frame, base_issues = _aligned_baseline(baseline, cfg.align, g, aligned.step)
        issues += base_issues
    frame = aligned.frame
    if span_log is not None and metrics is not None:
        frame, ev_issues = join_evidence(frame, span_log.series, cfg, g, aligned.step)
        issues += ev_issues
        if base_frame is not None:
            base_frame, _ = join_evidence(base_frame, span_log.baseline_series, cfg, g, aligned.step)
    _lap(timings, "align", t)

    t = _clock()
    windows = incident_windows(frame, aligned.step, incident, cfg.detect, baseline=base_frame)
    directions, learned = learn_symptom_direction(frame, windows, incident, dict(cfg.detect.directions), base_frame)
    bounded: frozenset[str] = frozenset()
    if learned:
        cfg = cfg.replace(detect={"directions": directions})
        issues += learned
        bounded = learned_bounded(frame, incident, base_frame)
        if bounded:
            note = "; its values stay in a percentage's range near a bound, so it is scored as one"
            issues[-1] = dataclasses.replace(issues[-1], message=issues[-1].message + note)
    scores = score_anomalies(
        frame, windows, cfg.detect, baseline=base_frame, symptom=(incident.service, incident.metric),
        bounded_names=bounded,
    )
    if span_log is not None:
        scores = merge_scores(scores, span_log)
    issues += list(scores.issues)
    threshold = cfg.detect.threshold
    symptom_key = (incident.service, incident.metric)
    symptom = next((s for s in scores.series if (s.service, s.metric) == symptom_key), None)
    if symptom is None:
        have = sorted({m for s, m in frame.columns if s == incident.service})
        issues.append(
            DataIssue(
                "missing_symptom",
                f"no {incident.metric!r} series for {incident.service!r} (it has: {have[:8]}); "
                "the symptom itself is not checked",
                incident.service,
                incident.metric,
            )
        )
    _lap(timings, "detect", t)

    no_cause: float | None = None  # set once candidates are weighed; result() reads it when called
    ranked: list = []  # every anomalous candidate, best first; result() reads it when called

    def result(status: str, reason: str, causes=(), granger: list[GrangerTest] | None = None) -> RCAResult:
        _lap(timings, "total", t0)
        return RCAResult(
            incident=incident,
            status=status,
            reason=reason,
            causes=tuple(causes),
            symptom=symptom,
            anomalies=scores.series,
            granger=tuple(granger or ()),
            issues=tuple(issues),
            window=(windows.start, windows.end),
            baseline_window=None
            if windows.baseline_start is None
            else (windows.baseline_start, windows.baseline_end),
            step_seconds=aligned.step.total_seconds(),
            config=cfg.to_dict(),
            timings=dict(timings),
            engine_version=__version__,
            no_cause_probability=no_cause,
            ranking=tuple(RankedService(c.service, c.log_score, c.confidence) for c in ranked) if causes else (),
        )

    # A symptom inside its everyday range does not make the incident unreal
    # (alerts fire on aggregates the metrics here may not show), but then only
    # decisive anomalies are worth naming.
    # The symptom service's other own signals count too: a latency alert on a
    # service whose success rate has collapsed is a real incident.
    gate = cfg.detect.symptom_threshold
    decisive = threshold * cfg.detect.quiet_symptom_factor
    short = short_data_issues(scores, symptom, windows, cfg)
    issues += short
    # A short baseline is said, not acted on: measured with rca bench --robustness
    # (baseline=10), dropping the quiet-symptom gate there cost PetShop
    # specificity 0.75 -> 0.39 and won no fault anywhere.
    quiet_symptom = (
        gate > 0
        and symptom is not None
        and symptom.score <= gate
        and not _decisive_own_signal(scores.table, incident.service, decisive)
    )
    candidate_threshold = decisive if quiet_symptom else threshold

    t = _clock()
    evidence = node_evidence(scores.table, threshold=threshold, exclude=symptom_key, config=cfg.rank)
    scope = {incident.service} | g.dependencies(incident.service, cfg.rank.max_depth)
    granger: list[GrangerTest] = []
    if cfg.granger.enabled and cfg.rank.use_topology:
        pairs = _granger_pairs(g, evidence, scope, symptom_key, frame.columns, threshold)
        lo = windows.start - cfg.granger.context * aligned.step
        data = frame.loc[(frame.index >= lo) & (frame.index <= windows.end)]
        granger = granger_along_pairs(data, pairs, cfg.granger)
    _lap(timings, "causal", t)

    t = _clock()
    null = _null_log_score(cfg, symptom, threshold)
    ranked = rank_candidates(
        g, evidence, incident.service, granger, cfg.rank,
        threshold=threshold, candidate_threshold=candidate_threshold, null_log_score=null,
    )
    _lap(timings, "rank", t)
    if ranked:
        no_cause = max(0.0, 1.0 - sum(c.confidence for c in ranked))
    if ranked and ranked[0].log_score <= null:
        best = ranked[0]
        return result(
            "no_anomaly",
            f"No candidate explains the symptom better than noise: the best, {best.service} "
            f"({evidence[best.service].metric}), has log-score {best.log_score:.2f} <= {null:.2f}, the null "
            f"hypothesis' (symptom {incident.service}/{incident.metric} score "
            f"{'n/a' if symptom is None else f'{symptom.score:.2f}'}).",
            granger=granger,
        )
    if not ranked and quiet_symptom:
        return result(
            "no_anomaly",
            f"The symptom {incident.service}/{incident.metric} is within its normal range in the "
            f"incident window (score {symptom.score:.2f} <= {gate:g}) and no dependency deviates "
            f"decisively (score > {candidate_threshold:g}); nothing to explain.",
            granger=granger,
        )
    if not ranked:
        n_deps = len(scope) - 1
        upstream = (
            f"none of its {n_deps} dependencies nor its other metrics deviate"
            if n_deps
            else "it calls no other service in the topology, and its other metrics do not deviate"
        )
        return result(
            "no_anomaly",
            f"Nothing anomalous upstream of {incident.service}: {upstream} from the baseline (threshold "
            f"{threshold:g}). The cause may lie inside {incident.service} itself or outside the observed topology.",
            granger=granger,
        )
    t = _clock()
    ranked, no_cause, basis = calibrate_ranking(
        ranked, no_cause, cfg.rank.calibration, graph=g, null_log_score=null, evidence=evidence,
        table=scores.table, frame=frame, symptom=symptom, symptom_service=incident.service, threshold=threshold,
        quiet_symptom=quiet_symptom, issues=issues, borrowed_baseline=baseline is not None,
        window_points=len(scores.points.index),
    )
    _lap(timings, "calibrate", t)
    t = _clock()
    causes = explain_causes(
        g, ranked, evidence, scores, granger, incident.service, threshold=threshold, top_k=cfg.rank.top_k
    )
    causes = tuple(dataclasses.replace(c, explains=(symptom_key,)) for c in causes)
    _lap(timings, "explain", t)
    top = causes[0]
    weak = f" Weak evidence: {'; '.join(basis.weak)}." if basis.weak else ""
    return dataclasses.replace(
        result(
            "found",
            f"{len(ranked)} anomalous candidate(s); most probable root cause: {top.service} "
            f"({top.metric}, confidence {top.confidence:.2f}).{weak}",
            causes,
            granger,
        ),
        confidence=basis,
    )

