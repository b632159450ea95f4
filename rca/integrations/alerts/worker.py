"""From a stored alert to a queued analysis, and from a finished analysis to write-backs.

One background thread per server process does two things in a loop:

* **prepare**: claim a ``pending`` alert (compare-and-set with a lease, so of
  several processes one does it), fetch its metrics from Prometheus (the
  symptom and its dependencies, baseline + incident window), and store the
  analysis as a ``queued`` job of the service's job queue (the
  :class:`~rca.service.jobs.JobRunner` runs the engine) in the same transaction
  that moves the alert to ``queued``.  When Prometheus cannot answer after
  ``RCA_PROMETHEUS_ATTEMPTS`` tries, a *failed* analysis is recorded with the
  reason, and the write-back says so.
* **finish**: for alerts whose analysis has finished, move the alert to
  ``done`` and enqueue the write-backs in one transaction (outbox).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pandas as pd
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

import rca
from rca.engine.errors import RCAError
from rca.integrations.alerts.messages import (
    NoteContext,
    render_text,
    slack_message,
    webhook_body,
)
from rca.integrations.alerts.incident_worker import IncidentWorker
from rca.integrations.alerts.settings import AlertSettings
from rca.integrations.notify.outbox import enqueue_delivery, pagerduty_note_url
from rca.integrations.tickets.writeback import TICKET_KINDS, ticket_delivery
from rca.sources.catalog import MetricsCatalog
from rca.sources.prometheus import (
    PrometheusClient,
    PrometheusError,
    PrometheusUnavailableError,
    fetch_metrics,
)
from rca.store import repository as repo
from rca.store.alerts import AlertRow
from rca.store.documents import canonicalise_metrics, isoformat_timestamps
from rca.store.incidents import IncidentAlertRow
from rca.store.models import AnalysisInputRow, AnalysisRow
from rca.store.polling import PollingThread, owner_id
from rca.store.session import Database, utcnow
from rca.store.topology_cache import LoadedTopology, latest_topology
from topology import ServiceGraph

__all__ = ["AlertWorker", "deliveries_for", "load_alert_graph", "no_symptom_data", "with_fetch_issues"]

logger = logging.getLogger(__name__)


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC)


def load_alert_graph(s: Session, name: str) -> LoadedTopology | None:
    """The latest version of the stored topology ``name`` (RCA_ALERT_TOPOLOGY), parsed once per process."""
    return latest_topology(s, name)


def with_fetch_issues(incident_json: str, frame: pd.DataFrame) -> str:
    """The stored incident with the fetch's data issues (``fetch_issues``), which the job adds to the result."""
    issues = [i.to_dict() for i in frame.attrs.get("issues", [])]
    return json.dumps({**json.loads(incident_json), "fetch_issues": issues}) if issues else incident_json


def no_symptom_data(frame: pd.DataFrame, incident: rca.Incident) -> str:
    """Why an analysis cannot run: Prometheus gave nothing for the symptom (with the catalog's own reason when known)."""
    detail = (
        f"Prometheus returned no data for {incident.service!r} {incident.metric!r} between "
        f"{frame.attrs.get('window')}; check the metrics catalog query for {incident.metric!r}"
    )
    why = [i.message for i in frame.attrs.get("issues", []) if i.metric == incident.metric]
    return f"{detail} ({why[0]})" if why else detail


def deliveries_for(
    settings: AlertSettings, alert: AlertRow, analysis_id: str, result: dict[str, Any] | None, error: str | None
) -> tuple[list[tuple[str, str, dict[str, Any]]], list[str]]:
    """``([(kind, target URL, payload)], [why a configured kind was skipped])`` for ``alert``."""
    ctx = NoteContext(
        analysis_id=analysis_id,
        base_url=settings.public_url,
        service=alert.service,
        metric=alert.metric,
        alert_title=alert.title,
        source=alert.source,
    )
    out: list[tuple[str, str, dict[str, Any]]] = []
    skipped: list[str] = []
    kinds = settings.notify_targets.get(alert.source)
    if kinds is None and alert.source.startswith("generic:"):
        kinds = settings.notify_targets.get("generic")
    for kind in kinds or []:
        if kind in TICKET_KINDS:
            item = ticket_delivery(settings, kind, alert.external_id, ctx, result, error, alert_id=alert.id)
            if isinstance(item, str):
                skipped.append(item)
            else:
                out.append((kind, *item))
        elif kind == "pagerduty_note":
            if not settings.pagerduty_api_token or not alert.external_id:
                skipped.append("pagerduty_note: RCA_PAGERDUTY_API_TOKEN is not set")
                continue
            url = pagerduty_note_url(settings.pagerduty_api_url, alert.external_id)
            out.append((kind, url, {"note": {"content": render_text(result, ctx, error=error)}}))
        elif kind == "slack":
            if not settings.slack_webhook_url:
                skipped.append("slack: RCA_SLACK_WEBHOOK_URL is not set")
                continue
            out.append((kind, settings.slack_webhook_url, slack_message(result, ctx, error=error)))
        elif kind == "webhook":
            if not settings.notify_webhook_url:
                skipped.append("webhook: RCA_NOTIFY_WEBHOOK_URL is not set")
                continue
            out.append((kind, settings.notify_webhook_url, webhook_body(result, ctx, error=error)))
    return out, skipped


class AlertWorker:
    """The prepare/finish loop (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        settings: AlertSettings,
        catalog: MetricsCatalog,
        *,
        notify_jobs: Callable[[], None] = lambda: None,
        wake_outbox: Callable[[], None] = lambda: None,
        prometheus_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.catalog = catalog
        self.config = rca.RCAConfig.from_dict(settings.alert_config)
        self.notify_jobs = notify_jobs
        self.wake_outbox = wake_outbox
        self.prometheus_transport = prometheus_transport
        self.owner = owner_id("alerts")
        # Event correlation (RCA_INCIDENTS_ENABLED): alerts grouped into incidents, one analysis each.
        self.incidents = IncidentWorker(self) if settings.incidents_enabled else None
        self._poller = PollingThread("rca-alerts", self.run_once, settings.outbox_poll_seconds, "alert worker pass")

    def start(self) -> None:
        self._poller.start()
        if self.incidents is not None:
            self.incidents.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._poller.stop(timeout)
        if self.incidents is not None:
            self.incidents.stop(timeout)

    def wake(self) -> None:
        self._poller.wake()

    def run_once(self) -> bool:
        """Prepare one pending alert and finish every finished one; True if anything happened."""
        if self.incidents is not None:
            busy = self.incidents.run_once()
            return self._finish_all() > 0 or busy
        prepared = self._prepare_one()
        finished = self._finish_all()
        return prepared or finished > 0

    # -- prepare ------------------------------------------------------------------
    def _claim(self) -> int | None:
        now = utcnow()
        free = or_(AlertRow.lease_expires_at.is_(None), AlertRow.lease_expires_at < now)
        with self.db.session() as s:
            ids = list(
                s.scalars(
                    select(AlertRow.id)
                    .where(AlertRow.analysis_state == "pending", free)
                    .order_by(AlertRow.received_at, AlertRow.id)
                    .limit(5)
                )
            )
        for aid in ids:
            with self.db.session() as s:
                res = s.execute(
                    update(AlertRow)
                    .where(AlertRow.id == aid, AlertRow.analysis_state == "pending", free)
                    .values(lease_owner=self.owner, lease_expires_at=now + timedelta(seconds=self.settings.outbox_lease_seconds))
                )
                if res.rowcount == 1:
                    return aid
        return None

    def _prepare_one(self) -> bool:
        aid = self._claim()
        if aid is None:
            return False
        try:
            self._prepare(aid)
        except Exception as exc:  # never leave an alert retried forever on a bug: fail it, with the reason
            logger.exception("alert %s: preparing the analysis failed", aid)
            with self.db.session() as s:
                alert = s.get(AlertRow, aid)
            if alert is not None:
                self._fail(alert, None, None, "alert_processing_failed", f"{type(exc).__name__}: {exc}")
        return True

    def _prepare(self, aid: int) -> None:
        with self.db.session() as s:
            alert = s.get(AlertRow, aid)
            if alert is None:
                raise RuntimeError(f"alert {aid} vanished while it was being prepared")
            loaded = load_alert_graph(s, self.settings.alert_topology)
        if alert.service is None or alert.started_at is None:
            self._fail(alert, None, None, "invalid_alert", "the alert has no service or start time")
            return
        if loaded is None:
            self._fail(alert, None, None, "topology_not_found",
                       f"topology {self.settings.alert_topology!r} does not exist (RCA_ALERT_TOPOLOGY)")
            return
        graph = loaded.graph
        start = pd.Timestamp(_aware(alert.started_at))
        end = start + pd.Timedelta(_prom_seconds(self.settings.alert_window), unit="s")
        received = pd.Timestamp(_aware(alert.received_at))
        if received > start:
            end = min(end, received)
        incident = rca.Incident(alert.service, alert.metric or self.settings.alert_default_metric, start, end)
        try:
            frame = self._fetch(graph, incident)
        except PrometheusError as exc:
            code = "prometheus_unavailable" if isinstance(exc, PrometheusUnavailableError) else "prometheus_query_failed"
            self._fail(alert, incident, loaded, code, str(exc))
            return
        except RCAError as exc:
            self._fail(alert, incident, loaded, "invalid_input", str(exc))
            return
        if not ((frame["service"] == incident.service) & (frame["metric"] == incident.metric)).any():
            self._fail(alert, incident, loaded, "no_metrics", no_symptom_data(frame, incident))
            return
        self._queue(alert, incident, loaded, frame)

    def _fetch(self, graph: ServiceGraph, incident: rca.Incident) -> pd.DataFrame:
        if not self.settings.prometheus_url:
            raise PrometheusUnavailableError("RCA_PROMETHEUS_URL is not set: cannot fetch metrics for alerts")
        metrics = self.settings.alert_metrics or None
        last: PrometheusError | None = None
        for attempt in range(self.settings.prometheus_attempts):
            if attempt:
                time.sleep(min(5.0, 0.5 * 2**attempt))
            try:
                with PrometheusClient(
                    self.settings.prometheus_url,
                    timeout=self.settings.prometheus_timeout_seconds,
                    transport=self.prometheus_transport,
                ) as prom:
                    return fetch_metrics(
                        prom, self.catalog, graph, incident.service, incident.start, incident.end,
                        f"{_prom_seconds(self.settings.alert_baseline)}s", self.settings.alert_depth, metrics=metrics,
                        min_step=self.settings.prometheus_step_seconds,
                    )
            except PrometheusUnavailableError as exc:
                last = exc
                logger.warning("fetching metrics failed (attempt %d): %s", attempt + 1, exc)
        if last is None:  # the loop ran at least once and only leaves by return or error
            raise RuntimeError("metrics fetch made no attempt")
        raise last

    def _analysis_row(self, incident: rca.Incident | None, graph: LoadedTopology | None, alert: AlertRow) -> AnalysisRow:
        inc = incident.to_dict() if incident else {"service": alert.service, "metric": alert.metric, "start": None, "end": None}
        return AnalysisRow(
            id=uuid.uuid4().hex,
            status="queued",
            created_at=utcnow(),
            incident=json.dumps(inc),
            incident_service=alert.service or "",
            config=json.dumps(self.config.to_dict()),
            topology_name=self.settings.alert_topology if graph else None,
            topology_version=graph.version if graph else None,
            topology_digest=graph.digest if graph else "",
            metrics_digest=hashlib.sha256(b"").hexdigest(),
            metrics_points=0,
            attempts=0,
            executions=0,
        )

    def _queue(self, alert: AlertRow, incident: rca.Incident, graph: LoadedTopology, frame: pd.DataFrame) -> None:
        df = frame.copy()
        df["timestamp"] = isoformat_timestamps(df["timestamp"])
        metrics = canonicalise_metrics(df)
        row = self._analysis_row(incident, graph, alert)
        row.incident = with_fetch_issues(row.incident, frame)
        row.metrics_digest, row.metrics_points = metrics.digest, metrics.points
        inputs = AnalysisInputRow(analysis_id=row.id, topology_document=graph.document, metrics_csv_gz=metrics.csv_gz)
        notes = [f"Prometheus: {w}" for w in frame.attrs.get("warnings", [])]
        missing = frame.attrs.get("missing", [])
        if missing:
            notes.append(f"no data for {len(missing)} series: {', '.join(missing[:10])}" + (" ..." if len(missing) > 10 else ""))
        with self.db.session() as s:
            if not self._still_mine(s, alert.id, analysis_id=row.id, state="queued", error="; ".join(notes) or None):
                return  # the lease was lost: another process has this alert
            repo.add_analysis(s, row, inputs)
        logger.info("alert %s: analysis %s queued (%d points)", alert.id, row.id, metrics.points)
        self.notify_jobs()

    def _fail(self, alert: AlertRow, incident: rca.Incident | None, graph: LoadedTopology | None, code: str, detail: str) -> None:
        row = self._analysis_row(incident, graph, alert)
        row.status, row.finished_at, row.error_code, row.error_detail = "failed", utcnow(), code, detail
        row.error_field = "prometheus" if code.startswith("prometheus") else None
        with self.db.session() as s:
            if not self._still_mine(s, alert.id, analysis_id=row.id, state="done", error=detail):
                return  # the lease was lost: another process has this alert
            s.add(row)
            self._enqueue(s, alert, row.id, None, detail)
        logger.warning("alert %s: analysis %s failed: %s", alert.id, row.id, detail)
        self.wake_outbox()

    def _still_mine(self, s: Session, alert_id: int, *, analysis_id: str, state: str, error: str | None = None) -> bool:
        res = s.execute(
            update(AlertRow)
            .where(AlertRow.id == alert_id, AlertRow.analysis_state == "pending", AlertRow.lease_owner == self.owner)
            .values(analysis_state=state, analysis_id=analysis_id, error=error, lease_owner=None, lease_expires_at=None)
        )
        return res.rowcount == 1

    # -- finish -------------------------------------------------------------------
    def _finish_all(self) -> int:
        q = (
            select(AlertRow.id, AnalysisRow.id)
            .join(AnalysisRow, AnalysisRow.id == AlertRow.analysis_id)
            .where(and_(AlertRow.analysis_state == "queued", AnalysisRow.status.in_(("succeeded", "failed"))))
        )
        if self.incidents is not None:  # alerts of incidents are written back per incident, not here
            q = q.where(~select(IncidentAlertRow.alert_id).where(IncidentAlertRow.alert_id == AlertRow.id).exists())
        with self.db.session() as s:
            rows = s.execute(q.limit(50)).all()
        n = 0
        for alert_id, analysis_id in rows:
            with self.db.session() as s:
                res = s.execute(
                    update(AlertRow)
                    .where(AlertRow.id == alert_id, AlertRow.analysis_state == "queued")
                    .values(analysis_state="done")
                )
                if res.rowcount != 1:
                    continue  # another process finished it
                alert = s.get(AlertRow, alert_id)
                analysis = s.get(AnalysisRow, analysis_id)
                if alert is None or analysis is None:
                    raise RuntimeError(f"alert {alert_id} or analysis {analysis_id} vanished while finishing")
                if analysis.status == "succeeded" and analysis.result:
                    self._enqueue(s, alert, analysis_id, json.loads(analysis.result), None)
                else:
                    error = f"{analysis.error_code}: {analysis.error_detail}"
                    alert.error = error
                    self._enqueue(s, alert, analysis_id, None, error)
            n += 1
        if n:
            self.wake_outbox()
        return n

    def _enqueue(self, s: Session, alert: AlertRow, analysis_id: str, result: dict[str, Any] | None, error: str | None) -> None:
        items, skipped = deliveries_for(self.settings, alert, analysis_id, result, error)
        for kind, target, payload in items:
            enqueue_delivery(s, kind=kind, target=target, payload=payload, alert_id=alert.id, analysis_id=analysis_id)
        if skipped:
            note = "write-back skipped: " + "; ".join(skipped)
            alert.error = f"{alert.error}; {note}" if alert.error else note
            s.execute(update(AlertRow).where(AlertRow.id == alert.id).values(error=alert.error))


def _prom_seconds(value: str) -> float:
    from rca.sources.prometheus import _duration

    return _duration(value, "duration").total_seconds()
