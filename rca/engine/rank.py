"""Rank: from per-series anomalies and Granger evidence to one score per candidate.

Three pieces of evidence are fused into a log-score per candidate service:

* **Explanation likelihood** (the "deepest anomalous dependency" rule made
  probabilistic).  Each service gets an anomaly probability ``e`` from its
  strongest metric.  The hypothesis "c is the root cause" expects c to be
  anomalous, lets every service that (transitively) calls c be anomalous too,
  and expects everything else to be normal.  A service that is anomalous while
  its own dependencies are normal explains the most and scores highest; an
  anomalous dependency below it would explain more and wins instead.
* **Random walk with restart** from the symptom over the anomaly-weighted call
  graph (forward to dependencies, a little backward, a self-loop where a node
  is more anomalous than all its dependencies — in the spirit of MicroCause /
  MicroRCA).  Its stationary probability enters as a prior.
* **Granger support**: a significant test "c's series -> caller's series"
  supports c; a significant test "dependency -> c" shifts belief below c.

``confidence`` is the posterior probability of each hypothesis against the
others and the null hypothesis "the anomalies are noise".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import sparse

from rca.engine.columns import level_codes, name_mask, per_name
from rca.engine.config import RankConfig
from rca.engine.metric_semantics import CLIENT_SIDE_WEIGHT, is_client_side, is_traffic_name
from rca.engine.types import GrangerTest
from topology import NodeKind, ServiceGraph

__all__ = ["NodeEvidence", "Candidate", "anomaly_probability", "node_evidence", "personalized_walk", "rank_candidates"]

_MAX_LOG_ODDS = 30.0  # numeric guard only; the baseline cap (RankConfig.baseline_cap) is what bounds trust


@dataclass(frozen=True)
class NodeEvidence:
    """A service's strongest anomaly (weighted score) and its probability.

    ``upward_probability`` counts only the signals a fault passes *up* to
    callers (latency and errors); traffic and saturation flow down the calls
    and a dependency's fault does not explain them.  It equals
    ``probability`` for a service with no such series.
    """

    service: str
    score: float
    metric: str
    probability: float
    log_odds: float = 0.0
    upward_probability: float | None = None
    upward_metric: str | None = None

    @property
    def upward(self) -> float:
        return self.probability if self.upward_probability is None else self.upward_probability


@dataclass(frozen=True)
class Candidate:
    """A ranked hypothesis "this service is the root cause"."""

    service: str
    log_score: float
    confidence: float
    components: dict[str, float] = field(default_factory=dict)


def anomaly_log_odds(score: np.ndarray | float, threshold: float, sharpness: float = RankConfig.sharpness) -> np.ndarray:
    """Log-odds that a series is anomalous: 0 at the threshold, growing with log(score)."""
    s = np.fmax(np.asarray(score, dtype="float64"), 1e-12)
    return np.clip(sharpness * np.log(s / max(threshold, 1e-9)), -_MAX_LOG_ODDS, _MAX_LOG_ODDS)


def anomaly_probability(score: np.ndarray | float, threshold: float, sharpness: float = RankConfig.sharpness) -> np.ndarray:
    """Map scores to (0, 1): 0.5 at the threshold, 0.8 at twice it (with the default sharpness)."""
    return 1.0 / (1.0 + np.exp(-anomaly_log_odds(score, threshold, sharpness)))


def node_evidence(
    table: pd.DataFrame,
    *,
    threshold: float,
    exclude: tuple[str, str] | None = None,
    config: RankConfig | None = None,
) -> dict[str, NodeEvidence]:
    """Per service: its strongest weighted series score.

    ``table`` is :attr:`rca.engine.detect.AnomalyScores.table`; ``exclude`` is the
    symptom series, which every hypothesis explains alike and so is left out,
    together with the symptom service's other series of the symptom's kind
    when that is latency or errors: its other percentiles and aggregates
    (``latency_p50`` beside an alert on ``latency_p90``) are the same signal
    again, and would otherwise make the symptom's own service look like the
    best-supported cause whatever the cause.
    """
    cfg = config or RankConfig()
    index = table.index
    keep = ~_symptom_series(index, exclude) if exclude is not None else np.ones(len(index), dtype=bool)
    if not keep.any():
        return {}
    svc_codes, svc_names = level_codes(index, 0)
    met_codes, met_names = level_codes(index, 1)
    svc_codes, met_codes = svc_codes[keep], met_codes[keep]
    kinds = per_name(index, 1, metric_kind, dtype=str)[keep]
    if exclude is not None and metric_kind(exclude[1]) == "traffic" and not is_traffic_name(exclude[1]):
        # The symptom's name says nothing of its kind (``m03``, a team's own ``svc_resp``): whatever it
        # measures passed the fault up to the symptom, so its series count as a signal faults pass up.
        same = (np.asarray(met_names, dtype=object)[met_codes] == exclude[1])
        kinds = np.where(same, "latency", kinds)
    weighted_np = table["score"].to_numpy(dtype=float)[keep] * table["weight"].to_numpy(dtype=float)[keep]
    # A baseline of n points cannot support odds much beyond n : 1 that a
    # value is abnormal, however far out it lies (sparse series are noisy).
    cap = cfg.baseline_cap * np.log1p(table["points"].to_numpy(dtype=float)[keep])
    raw = anomaly_log_odds(weighted_np, threshold, cfg.sharpness)
    cap = np.fmax(cap, 0.0)
    odds = np.where(raw > cap, cap + cfg.beyond_cap * (raw - cap), raw)
    if exclude is not None:
        # A fault shows in the symptom's own kind of signal (slow callers of a
        # slow service, failing callers of a failing one) or in saturation,
        # which causes both; in a dependency, the other kind explains the
        # symptom less well.
        sk = metric_kind(exclude[1])
        if sk in ("latency", "errors"):
            other = "errors" if sk == "latency" else "latency"
            # The symptom's own service is exempt: it is where the symptom is.
            mismatch = (kinds == other) & (odds > 0) & ~name_mask(index, 0, exclude[0])[keep]
            odds = np.where(mismatch, odds * cfg.other_kind, odds)
    svc, first = pd.factorize(svc_codes)  # first-appearance order, as the groups come out
    names = svc_names[first]
    kind_code = np.searchsorted(_KIND_NAMES, kinds)
    best = _first_max_per_group(odds, svc, len(names))
    # Corroboration: a fault inside a service usually moves more than one kind
    # of signal (CPU and latency, errors and traffic); an anomaly passed on
    # from a dependency mostly moves latency or errors alone.
    per_kind = np.full((len(names), len(_KIND_NAMES)), -np.inf)
    np.maximum.at(per_kind, (svc, kind_code), odds)
    kind_sum = np.clip(per_kind, 0.0, None).sum(axis=1)
    extra = kind_sum - np.clip(odds[best], 0.0, None)
    total = odds[best] + cfg.corroboration * extra
    upward = np.isin(kinds, _UPWARD_KINDS)
    up = _first_max_per_group(np.where(upward, odds, -np.inf), svc, len(names))
    has_up = np.zeros(len(names), dtype=bool)
    has_up[svc[upward]] = True
    metric_names = np.asarray(met_names, dtype=object)[met_codes]
    return {
        str(s): NodeEvidence(
            str(s), float(weighted_np[b]), str(metric_names[b]), _sigmoid(o), float(o),
            _sigmoid(odds[u]) if h else None, str(metric_names[u]) if h else None,
        )
        for s, b, o, u, h in zip(names, best, total, up, has_up, strict=True)
    }


def _first_max_per_group(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Position of each group's largest value (its first, on ties), as ``idxmax`` gives."""
    order = np.lexsort((np.arange(len(values)), -values, group))
    starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
    out = np.zeros(n_groups, dtype=np.int64)
    out[group[order[starts]]] = order[starts]
    return out


_UPWARD_KINDS = ("latency", "errors")
_KIND_NAMES = np.array(sorted(("errors", "latency", "saturation", "traffic")))
_NETWORK_PATH = re.compile(r"network|(^|_)(tcp|rtt)(_|$)")


def _symptom_series(index: pd.Index, symptom: tuple[str, str]) -> np.ndarray:
    """Mask of the symptom series and, for a latency or errors symptom, its service's other series of that kind.

    Only the service's own end-to-end measurements are the symptom again:
    client-side series (the calls it makes) and network-path series describe
    its dependencies and the network, and stay evidence.
    """
    kind = metric_kind(symptom[1])

    def same_signal(m: str) -> bool:
        return m == symptom[1] or (kind in _UPWARD_KINDS and metric_kind(m) == kind and not _describes_elsewhere(m))

    return name_mask(index, 0, symptom[0]) & per_name(index, 1, same_signal, dtype=bool)


def _describes_elsewhere(metric: str) -> bool:
    name = metric.lower()
    return is_client_side(name) or bool(_NETWORK_PATH.search(name))


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


_KINDS = (
    ("errors", re.compile(r"error|fail|fault|5xx|exception|avail|success|timeout|(^|_)errs?($|_)")),
    ("latency", re.compile(r"latenc|duration|response|(^|_)p(50|75|90|95|99)($|_)|(^|_)m?rt($|_)")),
    ("saturation", re.compile(r"cpu|mem|disk|thread|gc_|saturat|utiliz|queue|syscall|restart")),
)


@lru_cache(maxsize=65536)  # metric names repeat across services: classify each once
def metric_kind(metric: str) -> str:
    """Coarse family of a metric: errors, latency, saturation or traffic."""
    name = metric.lower()
    for kind, pattern in _KINDS:
        if pattern.search(name):
            return kind
    return "traffic"


def _measured_sibling(graph: ServiceGraph, node: str, anomalous: set[str]) -> bool:
    """Whether an anomalous node that is not external shares a caller with ``node``."""
    for caller in graph.callers(node):
        for sib in graph.callees(caller):
            if sib != node and sib in anomalous and graph.kind(sib) is not NodeKind.EXTERNAL:
                return True
    return False


def _log_ratio(e: np.ndarray, p_if: float, p_else: float) -> np.ndarray:
    """log P(obs | anomalous with prob p_if) - log P(obs | anomalous with prob p_else)."""
    return np.log(p_if * e + (1 - p_if) * (1 - e)) - np.log(p_else * e + (1 - p_else) * (1 - e))


def personalized_walk(
    graph: ServiceGraph,
    nodes: Sequence[str],
    prob: dict[str, float],
    source: str,
    restart: float,
    *,
    granger_support: dict[tuple[str, str], float] | None = None,
    iterations: int = 200,
    walk_back: float = RankConfig.walk_back,
) -> dict[str, float]:
    """Random walk with restart at ``source`` over the anomaly-weighted graph.

    From a node the walker moves to a dependency in proportion to the
    dependency's anomaly probability (boosted by Granger support of that
    edge), back to a caller with a small weight, or stays where the node is
    more anomalous than all its dependencies.
    """
    index = {n: i for i, n in enumerate(nodes)}
    n = len(nodes)
    e = np.array([max(prob.get(x, 0.0), 0.01) for x in nodes])
    rows, cols, vals = [], [], []
    support = granger_support or {}
    g = graph
    for name, i in index.items():
        deps = [d for d in g.callees(name) if d in index]
        best_dep = 0.0
        for d in deps:
            j = index[d]
            w = e[j] * (1.0 + support.get((d, name), 0.0))
            rows.append(i)
            cols.append(j)
            vals.append(w)
            best_dep = max(best_dep, e[j])
        for c in g.callers(name):
            if c in index:
                rows.append(i)
                cols.append(index[c])
                vals.append(walk_back * e[index[c]])
        stay = max(0.0, e[i] - best_dep)
        if stay > 0:
            rows.append(i)
            cols.append(i)
            vals.append(stay)
    m = sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
    out = np.asarray(m.sum(axis=1)).ravel()
    inv = np.where(out > 0, 1.0 / np.where(out > 0, out, 1.0), 0.0)
    p = sparse.diags(inv) @ m
    dangling = out == 0
    v = np.zeros(n)
    v[index[source]] = 1.0
    x = v.copy()
    pt = p.T.tocsr()
    for _ in range(iterations):
        nxt = (1 - restart) * (pt @ x + x[dangling].sum() * v) + restart * v
        if np.abs(nxt - x).sum() < 1e-10:
            x = nxt
            break
        x = nxt
    return {name: float(x[i]) for name, i in index.items()}


def rank_candidates(
    graph: ServiceGraph,
    evidence: dict[str, NodeEvidence],
    symptom: str,
    granger: Iterable[GrangerTest],
    config: RankConfig,
    *,
    threshold: float,
    candidate_threshold: float | None = None,
    null_log_score: float = 0.0,
) -> list[Candidate]:
    """Rank anomalous candidates; empty when no candidate is anomalous.

    Candidates are the symptom and its dependencies (``use_topology``) or
    every service with metrics (without topology), whose strongest score
    exceeds ``threshold``.  ``null_log_score`` is the log-score of "no root
    cause", which shares the confidence with them.
    """
    if config.use_topology:
        scope = {symptom} | graph.dependencies(symptom, config.max_depth)
    else:
        scope = set(evidence)
    bar = threshold if candidate_threshold is None else candidate_threshold
    # Judged on the log-odds, so a score a sparse baseline cannot back (see
    # node_evidence's cap) does not make a candidate however large it is.
    bar_odds = max(float(anomaly_log_odds(bar, threshold, config.sharpness)), 0.0)
    candidates = [
        s for s in scope if s in evidence and evidence[s].score > threshold and evidence[s].log_odds > bar_odds
    ]
    if not candidates:
        return []
    prob = {s: ev.probability for s, ev in evidence.items()}
    names = list(evidence)
    # Only what a fault passes up (latency, errors) is explained by it.
    e_all = np.array([evidence[s].upward for s in names])
    explained = dict(zip(names, _log_ratio(e_all, config.propagate, config.noise), strict=True))

    sig: dict[tuple[str, str], float] = {}
    for t in granger:
        if t.significant:
            sig[(t.cause_service, t.effect_service)] = 1.0

    walk: dict[str, float] = {}
    if config.use_topology and config.use_pagerank:
        nodes = sorted(scope)
        walk = personalized_walk(
            graph, nodes, prob, symptom, config.restart, granger_support=sig, walk_back=config.walk_back
        )
        top_walk = max((walk.get(c, 0.0) for c in candidates), default=0.0) or 1.0

    anomalous = {s for s, ev in evidence.items() if ev.score > threshold}
    out: list[tuple[str, float, dict[str, float]]] = []
    for c in candidates:
        # The strength of c's own anomaly is its log-odds: it does not saturate,
        # so a decisive anomaly outweighs a marginal one deeper in the graph.
        own = evidence[c].log_odds
        if c in graph and graph.kind(c) is NodeKind.EXTERNAL and _measured_sibling(graph, c, anomalous):
            # An external endpoint is only seen from its callers' side: its
            # metrics include the network path and whatever fronts it (a load
            # balancer's are its service's, seen from outside).  Beside an
            # anomalous service that shares a caller with it, they count as any
            # client-side measurement does (detect's weight) and the service's
            # own measurements win; alone, they are the best view there is of
            # where the callers' time goes, and count in full.
            own *= CLIENT_SIDE_WEIGHT
        comps: dict[str, float] = {"anomaly": own}
        total = own
        if config.use_topology:
            callers = graph.dependents(c) if c in graph else set()
            expl = float(sum(explained[i] for i in callers if i in explained and i != c))
            deps = graph.callees(c) if c in graph else []
            deepest = 0.0 if any(d in evidence and evidence[d].score > threshold for d in deps) else 1.0
            g_up = sum(sig.get((c, u), 0.0) for u in (graph.callers(c) if c in graph else []))
            g_down = sum(sig.get((d, c), 0.0) for d in deps)
            granger_term = config.granger_weight * (g_up - g_down)
            comps.update(explained=expl, deepest=deepest, granger=granger_term)
            total += expl + granger_term  # ``deepest`` is reported evidence: the likelihood already encodes it
            if walk:
                w = walk.get(c, 0.0) / top_walk
                comps["pagerank"] = walk.get(c, 0.0)
                total += config.walk_weight * float(np.log(max(w, 1e-6)))
        out.append((c, total, comps))

    scores = np.array([s for _, s, _ in out])
    mx = max(scores.max(), null_log_score)
    denom = np.exp(null_log_score - mx) + np.exp(scores - mx).sum()
    conf = np.exp(scores - mx) / denom
    ranked = [
        Candidate(c, float(s), float(p), comps)
        for (c, s, comps), p in zip(out, conf, strict=True)
    ]
    ranked.sort(key=lambda r: (-r.log_score, r.service))
    return ranked
