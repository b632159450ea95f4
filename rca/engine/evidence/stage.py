"""The span and log stage of an analysis, before alignment: their series on the metrics' grid.

:func:`rca.engine.pipeline.analyze` calls :func:`evidence_frames` after reading the metrics and
:func:`join_evidence` after aligning them; the tested scores join detection through
:func:`rca.engine.evidence.build.merge_scores`.
"""

from __future__ import annotations

import pandas as pd

from rca.engine.align import align_metrics, infer_step
from rca.engine.config import RCAConfig
from rca.engine.errors import InvalidInputError
from rca.engine.evidence.build import EvidenceInputs, SpanLogEvidence, build_evidence
from rca.engine.ingest import load_metrics
from rca.engine.types import DataIssue, Incident
from topology import ServiceGraph

__all__ = ["evidence_frames", "join_evidence"]


def evidence_frames(
    inputs: EvidenceInputs, long: pd.DataFrame | None, incident: Incident, cfg: RCAConfig, g: ServiceGraph
) -> tuple[pd.DataFrame | None, SpanLogEvidence | None, pd.Timedelta | None]:
    """The span and log evidence on the metrics' grid (``rca.engine.evidence``), before alignment.

    Returns the metrics to align (the span and log series themselves when no metrics were given), the
    evidence, and the grid step it was cut on (None: the metrics' own, inferred by alignment).
    """
    if not inputs.given:
        return long, None, None
    if long is not None and len(long):
        ts = long["timestamp"].drop_duplicates().sort_values()
        # the grid alignment will use: the same inference, rounded to whole seconds (clocks a little off the grid)
        step = pd.Timedelta(cfg.align.step) if cfg.align.step else (infer_step(long) if len(ts) > 1 else pd.Timedelta("1min"))
        last = ts.iloc[-1]
    else:
        step = pd.Timedelta(cfg.align.step or "1min")
        last = None
    start = incident.start.floor(step)
    if incident.end is not None:
        end = incident.end
    elif cfg.detect.window:
        end = incident.start + pd.Timedelta(cfg.detect.window)
    else:
        stamps = [t["start"].max() for t in (inputs.spans,) if t is not None] + \
                 [t["timestamp"].max() for t in (inputs.logs,) if t is not None]
        end = max([x for x in [last, *stamps] if x is not None and pd.notna(x)], default=start)
    evidence = build_evidence(inputs, start=start, end=end, step=step, services=set(g.services))
    if long is None:
        if evidence.series.empty:
            raise InvalidInputError("spans/logs: no series could be derived from them, and no metrics were given",
                                    field="spans")
        long, _ = load_metrics(evidence.series, field="spans")
    return long, evidence, step


def join_evidence(frame: pd.DataFrame, series: pd.DataFrame, cfg: RCAConfig, g: ServiceGraph,
                   step: pd.Timedelta) -> tuple[pd.DataFrame, list[DataIssue]]:
    """``frame`` (aligned) with the span and log minute series aligned on its grid as more columns."""
    if len(frame.index):
        # only the minutes of the frame's grid: series elsewhere (normal data of another day) would stretch it
        series = series[(series["timestamp"] >= frame.index.min()) & (series["timestamp"] <= frame.index.max())]
    if series.empty:
        return frame, []
    ev_long, _ = load_metrics(series, field="spans")
    ev = align_metrics(ev_long, cfg.align, known_services=g, step=step)
    ev_frame = ev.frame.loc[:, ~ev.frame.columns.isin(frame.columns)]
    out = pd.concat([frame, ev_frame], axis=1).sort_index()
    return out, list(ev.issues)
