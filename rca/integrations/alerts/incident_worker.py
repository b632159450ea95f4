"""Alerts to incidents, one analysis and one write-back per incident (``RCA_INCIDENTS_ENABLED``).

1. **group** every new alert (:func:`rca.integrations.alerts.grouping.group_pending`);
   a join schedules the incident's analysis (debounced);
2. **analyse** a due incident: claim it with a lease, fetch the metrics of
   all its symptoms from Prometheus (one fetch per symptom service not
   already covered by another's dependencies), and queue one analysis of
   all its symptoms (``rca.analyze(..., [symptoms])``), moving its alerts to
   ``queued``.  An incident is claimed only while its current analysis is
   neither queued nor running: the alerts that join meanwhile are
   *coalesced* into one rerun, prepared when that analysis has finished
   (never a queue of stale reruns).  A join while the metrics were fetched
   leaves the incident due: it is analysed again;
3. **write back** each incident whose newest analysis finished and was not
   yet written back (:mod:`rca.integrations.alerts.incident_notes`), in one
   transaction with moving its alerts to ``done``.  The first analysis is
   written back at once; later ones once no rerun is due;
4. **close** incidents whose alerts have all resolved, after the quiet period.

Steps 1, 3 and 4 are a pass of the alert worker's thread; step 2 runs on
``RCA_INCIDENT_PREPARE_THREADS`` threads of its own, each preparing one
incident at a time, so that fetches from Prometheus delay neither grouping
nor notes.  (On one thread, in the 500-alert storm benchmark, the fetches
kept the thread busy 97% of the time and a note waited minutes for its
turn.)
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

import rca
from rca.engine.errors import RCAError
from rca.engine.types import DataIssue
from rca.integrations.alerts.grouping import GroupingRules, GroupingTopology, group_pending
from rca.integrations.alerts.incident_notes import incident_notes
from rca.integrations.notify.outbox import enqueue_delivery
from rca.integrations.tickets.writeback import TICKET_KINDS
from rca.sources.prometheus import PrometheusError, PrometheusUnavailableError
from rca.store import repository as repo
from rca.store.alerts import AlertRow
from rca.store.deliveries import DeliveryRow
from rca.store.documents import canonicalise_metrics, isoformat_timestamps
from rca.store.incidents import IncidentAlertRow, IncidentRow, take_lock
from rca.store.models import AnalysisInputRow, AnalysisRow
from rca.store.polling import PollingThread, owner_id
from rca.store.session import utcnow
from rca.store.topology_cache import LoadedTopology
from topology import ServiceGraph

if TYPE_CHECKING:
    from rca.integrations.alerts.worker import AlertWorker

__all__ = ["IncidentWorker", "grouping_rules"]

logger = logging.getLogger(__name__)


class _LeaseLost(Exception):
    """The incident's lease passed to another process: roll back."""


def grouping_rules(settings: object) -> GroupingRules:
    """The grouping rules of :class:`~rca.integrations.alerts.settings.AlertSettings`."""
    from rca.sources.prometheus import _duration

    return GroupingRules(
        hops=settings.incident_hops,  # type: ignore[attr-defined]
        window=_duration(settings.incident_window, "RCA_INCIDENT_WINDOW").to_pytimedelta(),  # type: ignore[attr-defined]
        link=settings.incident_link,  # type: ignore[attr-defined]
        labels=tuple(settings.incident_labels),  # type: ignore[attr-defined]
    )


def _members(s: Session, incident_id: int) -> list[AlertRow]:
    q = (
        select(AlertRow)
        .join(IncidentAlertRow, IncidentAlertRow.alert_id == AlertRow.id)
        .where(IncidentAlertRow.incident_id == incident_id)
        .order_by(AlertRow.started_at, AlertRow.id)
    )
    return list(s.scalars(q))


class IncidentWorker:
    """Steps 1, 3 and 4 of the module docstring on the :class:`AlertWorker`'s thread, step 2 on threads of its own."""

    def __init__(self, alerts: AlertWorker) -> None:
        self.alerts = alerts
        self.db = alerts.db
        self.settings = alerts.settings
        self.rules = grouping_rules(self.settings)
        self.debounce = timedelta(seconds=self.settings.incident_debounce_seconds)
        self.max_delay = timedelta(seconds=self.settings.incident_max_delay_seconds)
        from rca.sources.prometheus import _duration

        self.quiet = _duration(self.settings.incident_quiet, "RCA_INCIDENT_QUIET").to_pytimedelta()
        self._last_close = 0.0
        self._topology: GroupingTopology | None = None
        self._local = threading.local()
        self._preparers = [
            PollingThread(f"rca-incident-prepare-{k}", self._prepare_one, self.settings.outbox_poll_seconds, "incident analysis pass")
            for k in range(self.settings.incident_prepare_threads)
        ]  # fmt: skip

    def _owner(self) -> str:
        """The lease owner of the calling preparing thread: each has its own, so that a lease one thread let
        expire and another took over is seen as lost (as between processes)."""
        owner = getattr(self._local, "owner", None)
        if owner is None:
            owner = self._local.owner = owner_id("incidents")
        return str(owner)

    def start(self) -> None:
        for p in self._preparers:
            p.start()

    def stop(self, timeout: float = 5.0) -> None:
        for p in self._preparers:
            p.stop(timeout)

    def run_once(self) -> bool:
        """Steps 1, 3 and 4 (step 2 runs on the preparing threads)."""
        from rca.integrations.alerts.worker import load_alert_graph

        with self.db.session() as s:
            loaded = load_alert_graph(s, self.settings.alert_topology)
        graph = loaded.graph if loaded else None
        if self._topology is None or self._topology.graph is not graph:
            self._topology = GroupingTopology(graph, self.rules.hops)  # its lookups are kept while the version is
        grouped = group_pending(
            self.db, self.rules, graph, debounce=self.debounce, max_delay=self.max_delay, topology=self._topology
        )
        if grouped:
            logger.info("grouped %d alert(s) into %d incident(s)", len(grouped), len({i for _, i in grouped}))
        noted = self._note_finished()
        closed = self._close_quiet()
        return bool(grouped) or noted > 0 or closed > 0

    # -- 2. analyse ---------------------------------------------------------------
    def _claim(self) -> int | None:
        now = utcnow()
        free = or_(IncidentRow.lease_expires_at.is_(None), IncidentRow.lease_expires_at < now)
        due = and_(IncidentRow.analysis_due_at.is_not(None), IncidentRow.analysis_due_at <= now)
        # one analysis per incident at a time: joins made while it is queued or running wait for one rerun
        busy = (
            select(AnalysisRow.id)
            .where(AnalysisRow.id == IncidentRow.analysis_id, AnalysisRow.status.in_(("queued", "running")))
            .exists()
        )
        with self.db.session() as s:
            ids = list(s.scalars(select(IncidentRow.id).where(due, free, ~busy).order_by(IncidentRow.analysis_due_at).limit(5)))
        for iid in ids:
            with self.db.session() as s:
                res = s.execute(
                    update(IncidentRow)
                    .where(IncidentRow.id == iid, due, free, ~busy)
                    .values(lease_owner=self._owner(),
                            lease_expires_at=now + timedelta(seconds=self.settings.outbox_lease_seconds))
                )  # fmt: skip
                if res.rowcount == 1:
                    return iid
        return None

    def _prepare_one(self) -> bool:
        iid = self._claim()
        if iid is None:
            return False
        try:
            self._prepare(iid)
        except _LeaseLost:
            logger.warning("incident %s: lease lost while preparing its analysis", iid)
        except Exception as exc:  # a bug: record a failed analysis with the reason instead of retrying forever
            logger.exception("incident %s: preparing the analysis failed", iid)
            self._record(iid, None, None, None, None, failure=("alert_processing_failed", f"{type(exc).__name__}: {exc}"))
        return True

    def _symptoms(self, members: list[AlertRow], graph: ServiceGraph) -> list[tuple[AlertRow, rca.Incident]]:
        seen: set[tuple[str, str]] = set()
        out: list[tuple[AlertRow, rca.Incident]] = []
        ends = [a.started_at for a in members if a.started_at is not None]
        if not ends:
            return out
        from rca.integrations.alerts.worker import _aware, _prom_seconds

        last = pd.Timestamp(_aware(max(ends)))
        end = last + pd.Timedelta(_prom_seconds(self.settings.alert_window), unit="s")
        received = pd.Timestamp(_aware(max(a.received_at for a in members)))
        if received > last:
            end = min(end, received)
        for a in members:
            metric = a.metric or self.settings.alert_default_metric
            if a.service is None or a.service not in graph or a.started_at is None or a.status not in ("firing", "resolved"):
                continue
            if (a.service, metric) in seen:
                continue
            start = pd.Timestamp(_aware(a.started_at))
            if start >= end:
                start = end - pd.Timedelta(seconds=self.settings.prometheus_step_seconds)
            seen.add((a.service, metric))
            out.append((a, rca.Incident(a.service, metric, start, end)))
            if len(out) >= self.settings.incident_max_symptoms:
                break
        return out

    def _fetch_all(self, graph: ServiceGraph, symptoms: list[rca.Incident]) -> pd.DataFrame:
        """One fetch per symptom service not already covered by a fetched service's dependencies."""
        start = min(i.start for i in symptoms)
        end = max(i.end for i in symptoms if i.end is not None)
        depth = self.settings.alert_depth
        order = sorted({i.service for i in symptoms}, key=lambda svc: (-len(graph.dependencies(svc, depth)), svc))
        covered: set[str] = set()
        frames: list[pd.DataFrame] = []
        warnings: list[str] = []
        missing: list[str] = []
        issues: list[DataIssue] = []
        for svc in order:
            if svc in covered:
                continue
            metric = next(i.metric for i in symptoms if i.service == svc)
            frame = self.alerts._fetch(graph, rca.Incident(svc, metric, start, end))
            frames.append(frame)
            warnings += frame.attrs.get("warnings", [])
            missing += frame.attrs.get("missing", [])
            issues += frame.attrs.get("issues", [])
            covered |= {svc} | graph.dependencies(svc, depth)
        out = pd.concat(frames, ignore_index=True).drop_duplicates(["timestamp", "service", "metric"], ignore_index=True)
        have = set(out[["service", "metric"]].drop_duplicates().itertuples(index=False, name=None))
        out.attrs = {
            "warnings": sorted(set(warnings)),
            "missing": sorted({m for m in missing if tuple(m.split("/", 1)) not in have}),
            "window": frames[0].attrs.get("window"),
            # an entry empty for one fetch's services may have data for another's: only the wholly empty ones
            "issues": list({i.metric: i for i in issues if i.metric not in set(out["metric"])}.values()),
        }
        return out

    def _prepare(self, iid: int) -> None:
        from rca.integrations.alerts.worker import load_alert_graph

        with self.db.session() as s:
            inc = s.get(IncidentRow, iid)
            if inc is None:
                raise RuntimeError(f"incident {iid} vanished while it was being prepared")
            revision = inc.revision
            members = _members(s, iid)
            loaded = load_alert_graph(s, self.settings.alert_topology)
        if loaded is None:
            self._record(iid, revision, members, None, None, failure=(
                "topology_not_found", f"topology {self.settings.alert_topology!r} does not exist (RCA_ALERT_TOPOLOGY)"))
            return
        graph = loaded.graph
        pairs = self._symptoms(members, graph)
        if not pairs:  # nothing analysable joined (unknown services only): nothing to run
            self._record(iid, revision, members, None, None)
            return
        symptoms = [inc for _, inc in pairs]
        try:
            frame = self._fetch_all(graph, symptoms)
        except PrometheusError as exc:
            code = "prometheus_unavailable" if isinstance(exc, PrometheusUnavailableError) else "prometheus_query_failed"
            self._record(iid, revision, members, symptoms, loaded, failure=(code, str(exc)))
            return
        except RCAError as exc:
            self._record(iid, revision, members, symptoms, loaded, failure=("invalid_input", str(exc)))
            return
        have = set(frame[["service", "metric"]].drop_duplicates().itertuples(index=False, name=None))
        with_data = [i for i in symptoms if (i.service, i.metric) in have]
        if not with_data:
            from rca.integrations.alerts.worker import no_symptom_data

            detail = no_symptom_data(frame, symptoms[0])
            self._record(iid, revision, members, symptoms, loaded, failure=("no_metrics", detail))
            return
        self._record(iid, revision, members, with_data, loaded, frame=frame)

    def _record(
        self, iid: int, revision: int | None, members: list[AlertRow] | None, symptoms: list[rca.Incident] | None,
        graph: LoadedTopology | None, *, frame: pd.DataFrame | None = None,
        failure: tuple[str, str] | None = None,
    ) -> None:  # fmt: skip
        """Store the queued (or failed) analysis of incident ``iid`` and release its lease, in one transaction."""
        mine = and_(IncidentRow.id == iid, IncidentRow.lease_owner == self._owner())
        release = {"lease_owner": None, "lease_expires_at": None}
        if revision is not None:
            current = IncidentRow.revision == revision
            release |= {
                "analysis_due_at": case((current, None), else_=IncidentRow.analysis_due_at),
                "analysis_pending_since": case((current, None), else_=IncidentRow.analysis_pending_since),
            }
        else:  # a bug met while preparing: do not retry at once
            release |= {"analysis_due_at": None, "analysis_pending_since": None}
        if members is None or (symptoms is None and failure is None) or not members:
            with self.db.session() as s:
                s.execute(update(IncidentRow).where(mine).values(**release))
            return
        lead = members[0]
        first = symptoms[0] if symptoms else None
        row = self.alerts._analysis_row(first, graph, lead)
        if symptoms and len(symptoms) > 1:
            row.incident = json.dumps({**symptoms[0].to_dict(), "symptoms": [i.to_dict() for i in symptoms]})
        inputs = None
        notes: list[str] = []
        if failure is not None:
            row.status, row.finished_at, row.error_code, row.error_detail = "failed", utcnow(), failure[0], failure[1]
            row.error_field = "prometheus" if failure[0].startswith("prometheus") else None
        elif frame is not None and graph is not None:
            df = frame.copy()
            df["timestamp"] = isoformat_timestamps(df["timestamp"])
            metrics = canonicalise_metrics(df)
            row.metrics_digest, row.metrics_points = metrics.digest, metrics.points
            from rca.integrations.alerts.worker import with_fetch_issues

            row.incident = with_fetch_issues(row.incident, frame)
            inputs = AnalysisInputRow(analysis_id=row.id, topology_document=graph.document, metrics_csv_gz=metrics.csv_gz)
            notes = [f"Prometheus: {w}" for w in frame.attrs.get("warnings", [])]
            missing = frame.attrs.get("missing", [])
            if missing:
                notes.append(f"no data for {len(missing)} series: {', '.join(missing[:10])}" + (" ..." if len(missing) > 10 else ""))
        with self.db.session() as s:
            res = s.execute(
                update(IncidentRow).where(mine).values(
                    analysis_id=row.id, analysed_revision=revision or 0, analyses=IncidentRow.analyses + 1, **release)
            )  # fmt: skip
            if res.rowcount != 1:
                raise _LeaseLost(iid)
            if inputs is not None:
                repo.add_analysis(s, row, inputs)
            else:
                s.add(row)
            ids = [a.id for a in members]
            s.execute(
                update(AlertRow)
                .where(AlertRow.id.in_(ids), AlertRow.analysis_state.in_(("grouped", "queued", "done")))
                .values(analysis_state="queued", analysis_id=row.id, error="; ".join(notes) or None)
            )
        logger.info("incident %s: analysis %s %s (%d alert(s))", iid, row.id, row.status, len(members))
        if inputs is not None:
            self.alerts.notify_jobs()

    # -- 3. write back --------------------------------------------------------------
    def _note_finished(self) -> int:
        not_noted = or_(IncidentRow.noted_analysis_id.is_(None), IncidentRow.noted_analysis_id != IncidentRow.analysis_id)
        settled = or_(IncidentRow.noted_analysis_id.is_(None), IncidentRow.analysis_due_at.is_(None))
        with self.db.session() as s:
            rows = s.execute(
                select(IncidentRow.id, AnalysisRow.id)
                .join(AnalysisRow, AnalysisRow.id == IncidentRow.analysis_id)
                .where(not_noted, settled, AnalysisRow.status.in_(("succeeded", "failed")))
                .limit(50)
            ).all()
        n = 0
        for iid, aid in rows:
            with self.db.session() as s:
                res = s.execute(
                    update(IncidentRow)
                    .where(IncidentRow.id == iid, IncidentRow.analysis_id == aid, not_noted)
                    .values(noted_analysis_id=aid)
                )
                if res.rowcount != 1:
                    continue  # another process wrote it back, or a newer analysis replaced it
                inc = s.get(IncidentRow, iid)
                analysis = s.get(AnalysisRow, aid)
                if inc is None or analysis is None:
                    raise RuntimeError(f"incident {iid} or analysis {aid} vanished while writing back")
                members = _members(s, iid)
                result = json.loads(analysis.result) if analysis.status == "succeeded" and analysis.result else None
                error = None if result is not None else f"{analysis.error_code}: {analysis.error_detail}"
                ticketed = frozenset(s.scalars(select(DeliveryRow.alert_id).where(
                    DeliveryRow.alert_id.in_([a.id for a in members]), DeliveryRow.kind.in_(TICKET_KINDS))))  # fmt: skip
                plan = incident_notes(self.settings, inc, members, aid, result, error, ticketed)
                for kind, target, payload in plan.items:
                    enqueue_delivery(s, kind=kind, target=target, payload=payload, alert_id=members[0].id, analysis_id=aid)
                for alert_id, kind, target, payload in plan.ticket_items:
                    enqueue_delivery(s, kind=kind, target=target, payload=payload, alert_id=alert_id, analysis_id=aid)
                inc.noted_top, inc.notes_seq = plan.top, plan.sequence
                done = {"analysis_state": "done"}
                s.execute(
                    update(AlertRow)
                    .where(AlertRow.id.in_([a.id for a in members]), AlertRow.analysis_state == "queued", AlertRow.analysis_id == aid)
                    .values(**done)
                )
                if plan.skipped:
                    note = "write-back skipped: " + "; ".join(plan.skipped)
                    s.execute(update(AlertRow).where(AlertRow.id == members[0].id).values(
                        error=func.coalesce(AlertRow.error + "; ", "") + note))  # fmt: skip
            n += 1
        if n:
            self.alerts.wake_outbox()
        return n

    # -- 4. close -------------------------------------------------------------------
    def _close_quiet(self) -> int:
        import time

        if time.monotonic() - self._last_close < 1.0:
            return 0
        self._last_close = time.monotonic()
        now = utcnow()
        closed = 0
        with self.db.session() as s:
            take_lock(s)  # as grouping does: no alert joins an incident while it is being closed
            counts = s.execute(
                select(IncidentRow.id, IncidentRow.quiet_since, func.count(AlertRow.open_key), IncidentRow.alerts)
                .join(IncidentAlertRow, IncidentAlertRow.incident_id == IncidentRow.id)
                .join(AlertRow, AlertRow.id == IncidentAlertRow.alert_id)
                .where(IncidentRow.status == "open")
                .group_by(IncidentRow.id, IncidentRow.quiet_since, IncidentRow.alerts)
            ).all()
            for iid, quiet_since, open_alerts, total in counts:
                values: dict[str, object] = {}
                if open_alerts:
                    if quiet_since is not None:
                        values = {"quiet_since": None}
                elif quiet_since is None:
                    values = {"quiet_since": now}
                elif quiet_since <= now - self.quiet:
                    minutes = self.quiet.total_seconds() / 60
                    values = {"status": "closed", "closed_at": now,
                              "close_reason": f"all {total} alert(s) resolved, then quiet for {minutes:g} min"}  # fmt: skip
                    closed += 1
                if values:
                    s.execute(update(IncidentRow).where(IncidentRow.id == iid).values(**values))
        return closed
