"""Event correlation: which open incident an incoming alert joins, and why.

The rule (settings ``RCA_INCIDENT_*``, see :class:`GroupingRules`):

* **time**: an alert can join an open incident only when it started within
  ``window`` of the incident's alerts (``[first - window, last + window]``,
  by the alerts' own start times, so a replayed or late-delivered storm
  groups as it happened);
* **topology** (the alert's service is a node of the alert topology):

  - ``link = "roots"`` (default): every incident keeps its *roots*, the
    services that each of its alerts' services is or depends on within
    ``hops`` call hops — the places a single fault could sit and cause them
    all.  The alert joins when its service is or depends on one of them; the
    roots narrow to those it shares.  Two faults on separate branches under a
    common caller stay two incidents, because no service is below both;
  - ``link = "undirected"``: the alert joins when its service is within
    ``hops`` hops of one of the incident's services, edges taken both ways;

  of several candidates the nearest wins, then the most recent, then the oldest;
* **unknown services** (not in the topology, or no topology): the alert joins
  the most recent incident in the time window that has seen the same values
  of the grouping ``labels`` (e.g. ``namespace``); with none of those labels,
  by time alone.  Its decision says so.

Every decision is stored with its reason (``incident_alerts.reason``).
:func:`group_pending` makes the decisions under the grouping lock
(:func:`rca.store.incidents.take_lock`), one transaction at a time across
all server processes, and ``incident_alerts.alert_id`` is a primary key: an
alert is grouped once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import networkx as nx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from rca.store.alerts import AlertRow
from rca.store.incidents import IncidentAlertRow, IncidentRow, json_list, take_lock
from rca.store.session import Database, utcnow
from topology import ServiceGraph

__all__ = ["LINKS", "Decision", "GroupingRules", "GroupingTopology", "OpenIncident", "alert_labels", "decide", "group_pending"]

LINKS = ("roots", "undirected")


@dataclass(frozen=True)
class GroupingRules:
    """How alerts are grouped (from the ``RCA_INCIDENT_*`` settings)."""

    hops: int = 5
    window: timedelta = timedelta(minutes=10)
    link: str = "roots"
    labels: tuple[str, ...] = ("namespace", "cluster")

    def __post_init__(self) -> None:
        if self.link not in LINKS:
            raise ValueError(f"link must be one of {list(LINKS)}, got {self.link!r}")
        if self.hops < 0:
            raise ValueError(f"hops must be >= 0, got {self.hops}")


@dataclass(frozen=True)
class OpenIncident:
    """What a decision needs to know of an open incident."""

    id: int
    services: frozenset[str]
    roots: frozenset[str]
    labels: frozenset[str]
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class Decision:
    """Join ``incident_id`` (None: open a new incident), with the reason and the incident's new roots."""

    incident_id: int | None
    reason: str
    hops: int | None = None
    roots: frozenset[str] = field(default_factory=frozenset)


def alert_labels(raw: Mapping[str, Any] | None, names: Iterable[str]) -> frozenset[str]:
    """``name=value`` of the grouping labels an alert carries (Alertmanager/Grafana ``labels``)."""
    labels = (raw or {}).get("labels") if isinstance(raw, Mapping) else None
    if not isinstance(labels, Mapping):
        return frozenset()
    return frozenset(f"{n}={labels[n]}" for n in names if labels.get(n) not in (None, ""))


class GroupingTopology:
    """The alert topology with the lookups of one grouping pass cached."""

    def __init__(self, graph: ServiceGraph | None, hops: int) -> None:
        self.graph = graph
        self.hops = hops
        self._g = graph.to_networkx() if graph is not None else nx.DiGraph()
        self._down: dict[str, dict[str, int]] = {}
        self._undirected: nx.Graph | None = None
        self._near: dict[str, dict[str, int]] = {}

    def __contains__(self, service: str) -> bool:
        return self.graph is not None and service in self.graph

    def down(self, service: str) -> dict[str, int]:
        """The service and what it depends on within ``hops`` call hops, with the distance (an edge is a call)."""
        if service not in self._down:
            self._down[service] = dict(nx.single_source_shortest_path_length(self._g, service, cutoff=self.hops))
        return self._down[service]

    def near(self, service: str) -> dict[str, int]:
        """Services within ``hops`` hops of ``service``, edges taken both ways."""
        if service not in self._near:
            if self._undirected is None:
                self._undirected = self._g.to_undirected(as_view=True)
            self._near[service] = dict(nx.single_source_shortest_path_length(self._undirected, service, cutoff=self.hops))
        return self._near[service]


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ")


def _window_text(rules: GroupingRules) -> str:
    return f"{rules.window.total_seconds() / 60:g} min"


def decide(
    service: str,
    at: datetime,
    labels: frozenset[str],
    topo: GroupingTopology,
    incidents: Sequence[OpenIncident],
    rules: GroupingRules,
) -> Decision:
    """The grouping decision for one alert (see the module docstring)."""
    timely = [i for i in incidents if i.first_at - rules.window <= at <= i.last_at + rules.window]
    win = _window_text(rules)
    if service in topo:
        down = topo.down(service)
        best: tuple[int, datetime, int, OpenIncident, frozenset[str], str] | None = None
        for inc in timely:
            if not inc.services and not inc.roots:
                continue  # an incident of unknown services only: no topology to compare with
            if rules.link == "roots":
                common = frozenset(r for r in inc.roots if r in down)
                if not common:
                    continue
                hops = min(down[r] for r in common)
                via = min(common, key=lambda r: (down[r], r))
                how = (
                    f"{service} is a possible root of it" if via == service
                    else f"{service} depends on {via} ({hops} hop(s)), a possible root of all its alerts"
                )
                roots = common
            else:
                near = topo.near(service)
                dist = {u: near[u] for u in inc.services if u in near}
                if not dist:
                    continue
                via = min(dist, key=lambda u: (dist[u], u))
                hops = dist[via]
                how = f"{service} is {hops} hop(s) from {via} (edges both ways)"
                roots = inc.roots
            key = (hops, -inc.last_at.timestamp(), inc.id)
            if best is None or key < (best[0], -best[1].timestamp(), best[2]):
                best = (hops, inc.last_at, inc.id, inc, roots, how)
        if best is not None:
            hops, _, _, inc, roots, how = best
            return Decision(inc.id, f"joined incident {inc.id}: {how}, and it started within {win} of its alerts", hops, roots)
        # an incident of alerts outside the topology only: by time and labels, as they were grouped
        unknown_only = [i for i in timely if not i.services and labels and labels <= i.labels]
        if unknown_only:
            inc = max(unknown_only, key=lambda i: (i.last_at, -i.id))
            return Decision(
                inc.id,
                f"joined incident {inc.id}: its alerts are all outside the topology, grouped by time and labels: "
                f"started within {win} of them, the same labels ({', '.join(sorted(labels))})",
                None,
                frozenset(down),
            )
        n = len(timely)
        return Decision(
            None,
            f"opened: {service} is linked within {rules.hops} hop(s) ({rules.link}) to none of the {n} open "
            f"incident(s) with alerts within {win} of {_fmt(at)}",
            0,
            frozenset(down),
        )
    # unknown to the topology: time and labels only
    if labels:
        matching = [i for i in timely if labels <= i.labels]
        how = f"the same labels ({', '.join(sorted(labels))})"
    else:
        matching = list(timely)
        how = f"no grouping label ({', '.join(rules.labels) or 'none configured'}), so by time alone"
    if matching:
        inc = max(matching, key=lambda i: (i.last_at, -i.id))
        return Decision(
            inc.id,
            f"joined incident {inc.id}: {service} is not in the topology, grouped by time and labels: "
            f"started within {win} of its alerts, {how}",
            None,
            inc.roots,
        )
    return Decision(
        None,
        f"opened: {service} is not in the topology, grouped by time and labels: no open incident within {win} "
        f"with {how}",
        None,
        frozenset(),
    )


def _open_incident(row: IncidentRow) -> OpenIncident:
    return OpenIncident(
        row.id,
        frozenset(json_list(row.services)),
        frozenset(json_list(row.roots)),
        frozenset(json_list(row.labels)),
        row.first_alert_at,
        row.last_alert_at,
    )


def _ungrouped(s: Session, limit: int, now: datetime, window: timedelta) -> list[AlertRow]:
    """Alerts waiting for a decision: new alerts (also those resolved before their turn), and recent open alerts on
    services outside the topology."""
    grouped = select(IncidentAlertRow.alert_id).where(IncidentAlertRow.alert_id == AlertRow.id).exists()
    unknown = and_(
        AlertRow.status == "unmappable",
        AlertRow.open_key.is_not(None),
        AlertRow.service.is_not(None),
        AlertRow.received_at >= now - max(window, timedelta(hours=1)),
    )
    q = (
        select(AlertRow)
        .where(or_(and_(AlertRow.status.in_(("firing", "resolved")), AlertRow.analysis_state == "pending"), unknown), ~grouped)
        .order_by(AlertRow.started_at, AlertRow.id)
        .limit(limit)
    )
    return list(s.scalars(q))


def _analysable(alert: AlertRow) -> bool:
    return alert.analysis_state == "pending" and alert.started_at is not None


def group_pending(
    db: Database,
    rules: GroupingRules,
    graph: ServiceGraph | None,
    *,
    debounce: timedelta,
    max_delay: timedelta,
    limit: int = 500,
    topology: GroupingTopology | None = None,
) -> list[tuple[int, int]]:
    """Group every alert waiting for a decision, in one transaction under the grouping lock.

    Alerts are taken in order of their start time.  Joining an analysable
    alert schedules the incident's analysis ``debounce`` after the last join,
    and never later than ``max_delay`` after the first join not yet analysed.
    ``topology``: the :class:`GroupingTopology` of ``graph`` kept from an earlier
    pass (its lookups stay cached), else one is made.

    Returns
    -------
    list of (alert id, incident id)
    """
    topo = topology if topology is not None and topology.graph is graph else GroupingTopology(graph, rules.hops)
    out: list[tuple[int, int]] = []
    with db.session() as s:
        take_lock(s)
        now = utcnow()
        alerts = _ungrouped(s, limit, now, rules.window)
        if not alerts:
            return out
        earliest = min((a.started_at or a.received_at) for a in alerts)
        rows = {
            r.id: r
            for r in s.scalars(
                select(IncidentRow).where(IncidentRow.status == "open", IncidentRow.last_alert_at >= earliest - rules.window)
            )
        }
        # what decide() reads of each incident, re-read from its row only when an alert joins it
        opened = {i: _open_incident(r) for i, r in rows.items()}
        for alert in alerts:
            at = alert.started_at or alert.received_at
            labels = alert_labels(_raw(alert), rules.labels)
            service = alert.service or ""
            d = decide(service, at, labels, topo, list(opened.values()), rules)
            if d.incident_id is None:
                row = IncidentRow(
                    status="open", title=alert.title, services="[]", unknown_services="[]", roots="[]", labels="[]",
                    first_alert_at=at, last_alert_at=at, alerts=0, opened_at=now, updated_at=now, revision=0,
                    analysed_revision=0, analyses=0, notes_seq=0,
                )  # fmt: skip
                s.add(row)
                s.flush()
                rows[row.id] = row
            else:
                row = rows[d.incident_id]
            analysable = _analysable(alert)
            # no topology at all: still schedule the analysis, whose write-back then says the topology is missing
            schedule = analysable and (service in topo or graph is None)
            _join(row, alert, service, at, labels, d, service in topo, now, debounce, max_delay, schedule)
            opened[row.id] = _open_incident(row)
            s.add(IncidentAlertRow(
                alert_id=alert.id, incident_id=row.id, decided_at=now, opened=int(d.incident_id is None),
                hops=d.hops, reason=d.reason.replace("incident None", f"incident {row.id}"),
            ))  # fmt: skip
            if analysable:
                s.execute(update(AlertRow).where(AlertRow.id == alert.id).values(analysis_state="grouped"))
            out.append((alert.id, row.id))
    return out


def _join(
    row: IncidentRow, alert: AlertRow, service: str, at: datetime, labels: frozenset[str], d: Decision,
    in_graph: bool, now: datetime, debounce: timedelta, max_delay: timedelta, schedule: bool,
) -> None:  # fmt: skip
    """Add ``alert`` to ``row`` in place."""
    if in_graph:
        row.services = json.dumps(sorted(set(json_list(row.services)) | {service}))
        row.roots = json.dumps(sorted(d.roots))
    elif service:
        row.unknown_services = json.dumps(sorted(set(json_list(row.unknown_services)) | {service}))
    row.labels = json.dumps(sorted(set(json_list(row.labels)) | labels))
    row.first_alert_at = min(row.first_alert_at, at)
    row.last_alert_at = max(row.last_alert_at, at)
    row.alerts += 1
    row.updated_at = now
    row.quiet_since = None
    if schedule:
        row.revision += 1
        since = row.analysis_pending_since or now
        row.analysis_pending_since = since
        row.analysis_due_at = min(now + debounce, since + max_delay)


def _raw(alert: AlertRow) -> Mapping[str, Any]:
    try:
        data = json.loads(alert.raw)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, Mapping) else {}
