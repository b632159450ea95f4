"""Several symptoms, one answer: the analysis of an incident that fired many alerts.

When a database slows down, its callers' latency alerts fire together.  Each
symptom is analysed on its own by the ordinary pipeline (the same scoring,
Granger tests and ranking), and the rankings are combined:

* a service's combined **confidence** is the mean, over all symptoms, of its
  confidence for each symptom (zero where a symptom's ranking does not name
  it), so a cause explaining more of the symptoms ranks higher, and the
  causes' confidences still sum to at most one;
* its ``score`` is the sum of those confidences;
* ``explains`` lists the symptoms whose ranking names it;
* its metric, path and evidence are those of the symptom it explains best
  (highest confidence), with ``rank_scores`` gaining ``symptoms_explained``
  and ``confidence_sum``.

The same ``(service, metric)`` given twice (a flapping alert) is one symptom,
spanning both windows.  A symptom that cannot be analysed (its service is
not in the topology, its metric matches no series) is left out with a
``symptom_skipped`` data issue; if none can be analysed, the first error is
raised.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rca.engine.config import RCAConfig
from rca.engine.errors import InvalidConfigError, InvalidIncidentError
from rca.engine.confidence import meaning
from rca.engine.types import Cause, ConfidenceBasis, DataIssue, Incident, RankedService, RCAResult

__all__ = ["analyze_symptoms", "coerce_symptoms"]

AnalyzeOne = Callable[..., RCAResult]


def coerce_symptoms(symptoms: Sequence[Incident | Mapping[str, Any]]) -> list[Incident]:
    """Validate a list of symptoms; the same ``(service, metric)`` twice becomes one spanning both.

    Raises
    ------
    InvalidIncidentError
        An empty list, or an entry that is not an incident (``field`` is ``incident[i]...``).
    """
    if not symptoms:
        raise InvalidIncidentError("incident must name at least one symptom, got an empty list", field="incident")
    merged: dict[tuple[str, str], Incident] = {}
    for i, item in enumerate(symptoms):
        try:
            inc = Incident.from_dict(item) if isinstance(item, Mapping) else item
        except InvalidIncidentError as exc:
            field = (exc.field or "incident").replace("incident", f"incident[{i}]", 1)
            raise InvalidIncidentError(str(exc).replace("incident.", f"incident[{i}].", 1), field=field) from None
        if not isinstance(inc, Incident):
            raise InvalidIncidentError(
                f"incident[{i}] must be an Incident or a dict, got {type(item).__name__}", field=f"incident[{i}]"
            )
        key = (inc.service, inc.metric)
        old = merged.get(key)
        if old is None:
            merged[key] = inc
            continue
        end = None if old.end is None or inc.end is None else max(old.end, inc.end)
        merged[key] = Incident(inc.service, inc.metric, min(old.start, inc.start), end)
    return list(merged.values())


def _coerce_config(config: Any) -> RCAConfig:
    if config is None:
        return RCAConfig()
    if isinstance(config, RCAConfig):
        return config
    if isinstance(config, Mapping):
        return RCAConfig.from_dict(config)
    raise InvalidConfigError(f"config must be an RCAConfig or a dict, got {type(config).__name__}", field="config")


def _combine(per: list[tuple[Incident, RCAResult]], top_k: int) -> list[Cause]:
    n = len(per)
    total: dict[str, float] = {}
    explains: dict[str, list[tuple[str, str]]] = {}
    best: dict[str, Cause] = {}
    for inc, res in per:
        for c in res.causes:
            total[c.service] = total.get(c.service, 0.0) + c.confidence
            explains.setdefault(c.service, []).append((inc.service, inc.metric))
            if c.service not in best or c.confidence > best[c.service].confidence:
                best[c.service] = c
    order = sorted(total, key=lambda s: (-total[s], -len(explains[s]), best[s].rank, s))
    out = []
    for rank, service in enumerate(order[:top_k], start=1):
        b = best[service]
        scores = dict(b.evidence.rank_scores)
        scores.update(symptoms_explained=float(len(explains[service])), confidence_sum=total[service])
        out.append(
            dataclasses.replace(
                b,
                rank=rank,
                score=total[service],
                confidence=total[service] / n,
                explains=tuple(explains[service]),
                evidence=dataclasses.replace(b.evidence, rank_scores=scores),
            )
        )
    return out


def _unique(items: Sequence[Any]) -> tuple[Any, ...]:
    seen: dict[Any, None] = {}
    for x in items:
        seen.setdefault(x, None)
    return tuple(seen)


def analyze_symptoms(
    analyze_one: AnalyzeOne,
    graph: Any,
    metrics: Any,
    symptoms: Sequence[Incident | Mapping[str, Any]],
    config: RCAConfig | Mapping[str, Any] | None = None,
    *,
    baseline: Any = None,
    **evidence: Any,
) -> RCAResult:
    """One ranking for several symptoms (see the module docstring).

    ``evidence`` (spans, logs and their normal counterparts) goes to every symptom's analysis.

    Parameters
    ----------
    analyze_one : callable
        The single-symptom analysis, ``analyze_one(graph, metrics, incident, config, baseline=...)``
        (:func:`rca.analyze`).
    graph, metrics, config, baseline
        As for :func:`rca.analyze`.
    symptoms : sequence of Incident or dict
        The symptoms, first = the incident's headline.

    Returns
    -------
    RCAResult
        ``symptoms`` holds every symptom; each cause's ``explains`` the ones it explains.

    Examples
    --------
    >>> import rca
    >>> from rca.evaluation.datasets.synthetic import demo_case
    >>> case = demo_case()
    >>> symptoms = [case.incident, rca.Incident("checkout", "latency", case.incident.start)]
    >>> result = rca.analyze(case.graph, case.metrics, symptoms)
    >>> result.top.service, len(result.top.explains)
    ('payment', 2)
    """
    incidents = coerce_symptoms(symptoms)
    cfg = _coerce_config(config)
    per: list[tuple[Incident, RCAResult]] = []
    skipped: list[tuple[Incident, InvalidIncidentError]] = []
    for inc in incidents:
        try:
            per.append((inc, analyze_one(graph, metrics, inc, cfg, baseline=baseline, **evidence)))
        except InvalidIncidentError as exc:
            skipped.append((inc, exc))
    if not per:
        raise skipped[0][1]
    first = per[0][1]
    issues = [i for _, r in per for i in r.issues] + [
        DataIssue("symptom_skipped", f"symptom {inc.service}/{inc.metric} left out: {exc}", inc.service, inc.metric)
        for inc, exc in skipped
    ]
    timings: dict[str, float] = {}
    for _, r in per:
        for k, v in r.timings.items():
            timings[k] = timings.get(k, 0.0) + float(v)
    causes = _combine(per, cfg.rank.top_k)
    null = [r.no_cause_probability for _, r in per if r.no_cause_probability is not None]
    n = len(per)
    if causes:
        top = causes[0]
        status = "found"
        reason = (
            f"{n} symptom(s) analysed; most probable root cause: {top.service} ({top.metric}, confidence "
            f"{top.confidence:.2f}), explaining {len(top.explains)} of {n}."
        )
    else:
        status = "no_anomaly"
        reason = f"None of the {n} symptom(s) has a root cause: " + " | ".join(
            f"{inc.service}/{inc.metric}: {r.reason}" for inc, r in per
        )
    return RCAResult(
        incident=first.incident,
        status=status,
        reason=reason,
        causes=tuple(causes),
        symptom=first.symptom,
        anomalies=first.anomalies,
        granger=_unique([g for _, r in per for g in r.granger]),
        issues=_unique(issues),
        window=(min(r.window[0] for _, r in per), max(r.window[1] for _, r in per)),
        baseline_window=first.baseline_window,
        step_seconds=first.step_seconds,
        config=first.config,
        timings=timings,
        engine_version=first.engine_version,
        no_cause_probability=sum(null) / len(null) if null else None,
        symptoms=tuple(incidents),
        ranking=_combined_ranking(per) if causes else (),
        confidence=_combined_basis(per, causes[0]) if causes else None,
    )


def _combined_basis(per: Sequence[tuple[Incident, RCAResult]], top: Cause) -> ConfidenceBasis | None:
    """The basis of the symptom whose analysis backs the combined first cause best, with its combined value."""
    backing = [r for _, r in per if r.confidence is not None and r.top is not None and r.top.service == top.service]
    if not backing:
        return None
    best = max(backing, key=lambda r: r.top.confidence)  # type: ignore[union-attr]
    weak = tuple(dict.fromkeys(w for r in backing for w in r.confidence.weak))  # type: ignore[union-attr]
    return dataclasses.replace(
        best.confidence, value=top.confidence, meaning=meaning(top.confidence), weak=weak,
    )


def _combined_ranking(per: Sequence[tuple[Incident, RCAResult]]) -> tuple[RankedService, ...]:
    """Every candidate of any symptom's full ranking, by mean confidence over the symptoms (as the causes are)."""
    total: dict[str, float] = {}
    for _, r in per:
        for entry in r.ranking:
            total[entry.service] = total.get(entry.service, 0.0) + entry.confidence
    n = len(per)
    ordered = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(RankedService(service, conf_sum, conf_sum / n) for service, conf_sum in ordered)
