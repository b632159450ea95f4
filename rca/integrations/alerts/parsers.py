"""Alert webhooks -> :class:`AlertEvent`: Alertmanager/Grafana, PagerDuty V3, Opsgenie.

Every parser takes the raw body (bytes, already authenticated) and returns a
list of normalized events (Alertmanager groups several alerts in one
notification).  A malformed payload raises :class:`PayloadError` whose
``field`` is the dotted path of the offending field (``alerts[0].startsAt``);
the HTTP layer answers it with 422.

An event whose service cannot be determined is still returned, with
``service=None`` and ``reason`` saying why, so it can be stored and shown
instead of dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rca.engine.errors import InvalidInputError

__all__ = [
    "PayloadError",
    "AlertEvent",
    "ParserConfig",
    "parse_alertmanager",
    "parse_pagerduty",
    "parse_opsgenie",
    "parse_alert",
    "SOURCES",
]

SOURCES = ("alertmanager", "grafana", "pagerduty", "opsgenie")
ACTIONS = ("trigger", "resolve", "ignore")


class PayloadError(InvalidInputError):
    """The webhook body is not what the source documents; ``field`` names the part."""


@dataclass(frozen=True)
class ParserConfig:
    """How to find the service and the metric in an alert.

    Attributes
    ----------
    service_labels : sequence of str
        Alert labels tried in order for the service (Alertmanager, Grafana).
    metric_label : str
        Alert label naming the engine metric of the symptom, if present.
    default_metric : str
        The metric when the alert does not say.
    service_map : mapping
        Renames applied to whatever names the service (PagerDuty service
        summary or id, a label value, an Opsgenie tag) before the topology
        lookup, e.g. ``{"API Service": "api"}``.
    opsgenie_service_from : {"tags", "entity", "details"}
        Where an Opsgenie alert names its service.
    opsgenie_tag_prefix : str
        With ``tags``: the tag ``<prefix><service>``.
    opsgenie_details_key : str
        With ``details``: the key of ``alert.details``.
    """

    service_labels: Sequence[str] = ("service", "job", "app", "destination_service_name", "destination_workload")
    metric_label: str = "rca_metric"
    default_metric: str = "latency"
    service_map: Mapping[str, str] = field(default_factory=dict)
    opsgenie_service_from: str = "tags"
    opsgenie_tag_prefix: str = "service:"
    opsgenie_details_key: str = "service"


@dataclass(frozen=True)
class AlertEvent:
    """One alert, normalized.

    ``action`` is ``trigger`` (analyze), ``resolve`` (close the open alert with
    this ``dedup_key``) or ``ignore`` (``reason`` says why).  ``service`` is
    None when it could not be determined (``reason`` says why).
    ``external_id`` is the incident id for write-back (PagerDuty) or the
    alert id of the source.
    """

    source: str
    dedup_key: str
    action: str
    service: str | None
    metric: str
    started_at: datetime | None
    external_id: str | None = None
    title: str | None = None
    reason: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dedup_key": self.dedup_key,
            "action": self.action,
            "service": self.service,
            "metric": self.metric,
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "external_id": self.external_id,
            "title": self.title,
            "reason": self.reason,
        }


# -- helpers ---------------------------------------------------------------------
def _load(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"the body is not valid JSON: {exc}", field="body") from None
    if not isinstance(doc, Mapping):
        raise PayloadError(f"the body must be a JSON object, got {type(doc).__name__}", field="body")
    return doc


def _get(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str, *, required: bool = True) -> Any:
    if key not in doc or doc[key] is None:
        if required:
            raise PayloadError(f"{path} is required", field=path)
        return None
    value = doc[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        want = {"str": "a string", "dict": "an object", "list": "an array", "int": "a number"}.get(names, names)
        raise PayloadError(f"{path} must be {want}, got {json.dumps(value)[:60]}", field=path)
    return value


def _time(value: str, path: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Go writes up to 9 fractional digits; Python's parser takes up to 6.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = tail[: len(tail) - len(tail.lstrip("0123456789"))]
        rest = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{rest}" if digits else head + rest
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"{path} must be an RFC 3339 time, got {value!r}", field=path) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _map(cfg: ParserConfig, *names: str | None) -> str | None:
    for n in names:
        if n and n in cfg.service_map:
            return cfg.service_map[n]
    return next((n for n in names if n), None)


# -- Alertmanager and Grafana ----------------------------------------------------------
def parse_alertmanager(
    body: bytes | str | Mapping[str, Any], config: ParserConfig | None = None, *, source: str = "alertmanager"
) -> list[AlertEvent]:
    """Alertmanager webhook (``version: "4"``) or Grafana-managed alerting webhook.

    Service from the first of ``config.service_labels`` present in the alert's
    labels (then the common labels); start from ``startsAt``; dedup by
    ``fingerprint`` (prefixed with ``orgId`` for Grafana); ``status:
    resolved`` resolves.
    """
    cfg = config or ParserConfig()
    doc = _load(body)
    alerts = _get(doc, "alerts", list, "alerts")
    common = _get(doc, "commonLabels", dict, "commonLabels", required=False) or {}
    org = doc.get("orgId")
    out = []
    for i, alert in enumerate(alerts):
        p = f"alerts[{i}]"
        if not isinstance(alert, Mapping):
            raise PayloadError(f"{p} must be an object", field=p)
        status = _get(alert, "status", str, f"{p}.status")
        if status not in ("firing", "resolved"):
            raise PayloadError(f"{p}.status must be 'firing' or 'resolved', got {status!r}", field=f"{p}.status")
        labels = _get(alert, "labels", dict, f"{p}.labels")
        for k, v in labels.items():
            if not isinstance(v, str):
                raise PayloadError(f"{p}.labels.{k} must be a string", field=f"{p}.labels.{k}")
        started = _time(_get(alert, "startsAt", str, f"{p}.startsAt"), f"{p}.startsAt")
        fp = _get(alert, "fingerprint", str, f"{p}.fingerprint", required=False)
        if not fp:
            fp = hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]
        key = f"{org}:{fp}" if source == "grafana" and org is not None else fp
        merged = {**common, **labels}
        label = next((lb for lb in cfg.service_labels if merged.get(lb)), None)
        service = _map(cfg, merged[label]) if label else None
        reason = None
        if service is None:
            reason = f"no service label: none of {list(cfg.service_labels)} is set on the alert"
        metric = merged.get(cfg.metric_label) or cfg.default_metric
        out.append(
            AlertEvent(
                source=source,
                dedup_key=key,
                action="trigger" if status == "firing" else "resolve",
                service=service,
                metric=metric,
                started_at=started,
                external_id=fp,
                title=labels.get("alertname") or (alert.get("annotations") or {}).get("summary"),
                reason=reason,
                raw=alert,
            )
        )
    return out


# -- PagerDuty V3 ----------------------------------------------------------------------
_PD_ACTIONS = {"incident.triggered": "trigger", "incident.reopened": "trigger", "incident.resolved": "resolve"}


def parse_pagerduty(body: bytes | str | Mapping[str, Any], config: ParserConfig | None = None) -> list[AlertEvent]:
    """PagerDuty V3 webhook: acts on ``incident.triggered`` (and ``.reopened``), resolves on
    ``incident.resolved``, ignores the rest (``incident.annotated`` is what our own notes cause).

    The service is ``data.service.summary`` (or ``.id``), renamed by ``config.service_map``.
    """
    cfg = config or ParserConfig()
    doc = _load(body)
    event = _get(doc, "event", dict, "event")
    etype = _get(event, "event_type", str, "event.event_type")
    data = _get(event, "data", dict, "event.data")
    action = _PD_ACTIONS.get(etype, "ignore")
    if action == "ignore":
        reason = (
            "incident.annotated: a note was added (our own notes cause these)"
            if etype == "incident.annotated"
            else f"event type {etype!r} is not acted on"
        )
        key = str(data.get("incident_key") or data.get("id") or event.get("id") or "unknown")
        return [AlertEvent("pagerduty", key, "ignore", None, cfg.default_metric, None, data.get("id"), None, reason, doc)]
    incident_id = _get(data, "id", str, "event.data.id")
    key = _get(data, "incident_key", str, "event.data.incident_key", required=False) or incident_id
    svc = _get(data, "service", dict, "event.data.service", required=False) or {}
    service = _map(cfg, svc.get("summary"), svc.get("id"))
    reason = None if service else "event.data.service has no summary or id"
    when = data.get("created_at") or event.get("occurred_at")
    started = _time(when, "event.data.created_at") if isinstance(when, str) else None
    if action == "trigger" and started is None:
        raise PayloadError("event.data.created_at (or event.occurred_at) is required", field="event.data.created_at")
    return [
        AlertEvent(
            source="pagerduty",
            dedup_key=key,
            action=action,
            service=service,
            metric=cfg.default_metric,
            started_at=started,
            external_id=incident_id,
            title=data.get("title"),
            reason=reason,
            raw=doc,
        )
    ]


# -- Opsgenie ------------------------------------------------------------------------
_OG_ACTIONS = {"Create": "trigger", "Close": "resolve"}


def parse_opsgenie(body: bytes | str | Mapping[str, Any], config: ParserConfig | None = None) -> list[AlertEvent]:
    """Opsgenie outgoing webhook: ``Create`` triggers, ``Close`` resolves; dedup by ``alert.alias``."""
    cfg = config or ParserConfig()
    doc = _load(body)
    action_name = _get(doc, "action", str, "action")
    alert = _get(doc, "alert", dict, "alert")
    alias = _get(alert, "alias", str, "alert.alias", required=False) or _get(alert, "alertId", str, "alert.alertId")
    action = _OG_ACTIONS.get(action_name, "ignore")
    if action == "ignore":
        return [
            AlertEvent("opsgenie", alias, "ignore", None, cfg.default_metric, None, alert.get("alertId"), None,
                       f"action {action_name!r} is not acted on", doc)
        ]
    created = _get(alert, "createdAt", (int, float), "alert.createdAt", required=action == "trigger")
    started = None if created is None else datetime.fromtimestamp(created / 1000, tz=UTC)
    service, reason = None, None
    how = cfg.opsgenie_service_from
    if how == "tags":
        tags = _get(alert, "tags", list, "alert.tags", required=False) or []
        found = [t[len(cfg.opsgenie_tag_prefix):] for t in tags if isinstance(t, str) and t.startswith(cfg.opsgenie_tag_prefix)]
        service = _map(cfg, found[0]) if found else None
        reason = None if service else f"no tag '{cfg.opsgenie_tag_prefix}<service>' on the alert"
    elif how == "entity":
        service = _map(cfg, _get(alert, "entity", str, "alert.entity", required=False))
        reason = None if service else "alert.entity is empty"
    else:
        details = _get(alert, "details", dict, "alert.details", required=False) or {}
        value = details.get(cfg.opsgenie_details_key)
        service = _map(cfg, value if isinstance(value, str) else None)
        reason = None if service else f"alert.details.{cfg.opsgenie_details_key} is not set"
    return [
        AlertEvent(
            source="opsgenie",
            dedup_key=alias,
            action=action,
            service=service,
            metric=cfg.default_metric,
            started_at=started,
            external_id=alert.get("alertId"),
            title=alert.get("message"),
            reason=reason,
            raw=doc,
        )
    ]


def parse_alert(source: str, body: bytes | str | Mapping[str, Any], config: ParserConfig | None = None) -> list[AlertEvent]:
    """Dispatch on ``source`` (one of :data:`SOURCES`)."""
    if source in ("alertmanager", "grafana"):
        return parse_alertmanager(body, config, source=source)
    if source == "pagerduty":
        return parse_pagerduty(body, config)
    if source == "opsgenie":
        return parse_opsgenie(body, config)
    raise InvalidInputError(f"unknown alert source {source!r}; use one of {list(SOURCES)}", field="source")
