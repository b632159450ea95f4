"""Settings of the alerting side of the service: ``RCA_*`` environment variables.

Read like the service's own :class:`rca.service.settings.Settings` (environment,
then the file named by ``RCA_CONFIG_FILE``).  Lists are comma-separated
(``RCA_PAGERDUTY_WEBHOOK_SECRETS=old,new``) or JSON arrays; mappings are JSON
objects.  Every field is documented in the README section "Wire it to your
alerts".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from rca.integrations.alerts.parsers import SOURCES, ParserConfig
from rca.integrations.settings_file import FileBackedSettings
from rca.integrations.tickets.settings import TicketSettingsFields, check_target, is_known_source
from rca.store.deliveries import DELIVERY_KINDS

__all__ = ["AlertSettings", "load_alert_settings"]

CsvList = Annotated[list[str], NoDecode]


def _split(v: Any) -> Any:
    if isinstance(v, str):
        text = v.strip()
        if text.startswith("["):
            return json.loads(text)
        return [p.strip() for p in text.split(",") if p.strip()]
    return v


class AlertSettings(FileBackedSettings, TicketSettingsFields):
    """Webhooks in, Prometheus, and write-back targets (the ticketing fields: :class:`TicketSettingsFields`)."""

    model_config = SettingsConfigDict(env_prefix="RCA_", extra="ignore", frozen=True)

    # -- Prometheus and the analysis ------------------------------------------------
    prometheus_url: str | None = Field(None, description="Base URL of Prometheus, e.g. http://prometheus:9090.")
    prometheus_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one Prometheus query.")
    prometheus_step_seconds: float = Field(
        15.0, ge=1, description="Smallest query step (your scrape interval); larger when a window needs it."
    )
    prometheus_attempts: int = Field(3, ge=1, le=20, description="Tries of a Prometheus fetch before the analysis fails.")
    metrics_catalog: Path | None = Field(None, description="Metrics catalog YAML; default: the bundled catalog.")
    alert_metrics: CsvList = Field(default_factory=list, description="Catalog metrics to fetch (default: all).")
    alert_topology: str = Field("default", description="Name of the stored topology alerts are analysed against.")
    alert_depth: int | None = Field(None, ge=1, description="Follow dependencies this many call hops (default: all).")
    alert_baseline: str = Field("60m", description="Baseline fetched before the alert start.")
    alert_window: str = Field("15m", description="Incident window after the alert start (capped at the receipt time).")
    alert_config: dict[str, Any] = Field(default_factory=dict, description="RCAConfig (JSON) for alert analyses.")
    alert_service_labels: CsvList = Field(
        default_factory=lambda: list(ParserConfig.service_labels), description="Alert labels naming the service, in order."
    )
    alert_metric_label: str = Field("rca_metric", description="Alert label naming the symptom metric.")
    alert_default_metric: str = Field("latency", description="Symptom metric when the alert does not name one.")
    alert_service_map: dict[str, str] = Field(default_factory=dict, description="Renames to topology node names (JSON).")
    public_url: str = Field("http://127.0.0.1:8080", description="Base URL of this service, for links in messages.")
    # -- webhooks in ----------------------------------------------------------------
    alertmanager_tokens: CsvList = Field(default_factory=list, description="Bearer tokens accepted from Alertmanager.")
    grafana_secret: str | None = Field(None, description="Grafana contact point HMAC secret.")
    grafana_signature_headers: CsvList = Field(
        default_factory=lambda: ["X-Grafana-Alerting-Signature", "X-Grafana-Alert-Signature"],
        description="Headers that may carry Grafana's signature.",
    )
    grafana_timestamp_header: str | None = Field(None, description="Grafana timestamp header, when configured there.")
    grafana_tokens: CsvList = Field(default_factory=list, description="Bearer tokens accepted from Grafana (without HMAC).")
    pagerduty_webhook_secrets: CsvList = Field(default_factory=list, description="PagerDuty V3 subscription secrets.")
    opsgenie_tokens: CsvList = Field(default_factory=list, description="Shared tokens accepted from Opsgenie.")
    opsgenie_token_header: str = Field("X-RCA-Token", description="Header carrying the Opsgenie token.")
    opsgenie_service_from: str = Field("tags", description="tags | entity | details.")
    opsgenie_tag_prefix: str = Field("service:", description="Tag prefix naming the service.")
    # -- incidents (event correlation, rca.integrations.alerts.grouping) ------------------
    incidents_enabled: bool = Field(True, description="Group alerts into incidents: one analysis and one note per incident.")
    incident_window: str = Field("10m", description="An alert joins an incident only if it started this close to its alerts.")
    incident_hops: int = Field(5, ge=0, le=50, description="Call hops within which an alert's service links to an incident.")
    incident_link: str = Field("roots", description="roots (a shared possible root cause) | undirected (distance, edges both ways).")
    incident_labels: CsvList = Field(
        default_factory=lambda: ["namespace", "cluster"], description="Labels grouping alerts of services outside the topology."
    )
    incident_quiet: str = Field("5m", description="An incident closes this long after its last alert resolved.")
    incident_debounce_seconds: float = Field(5.0, ge=0, description="Analysis waits this long after the last alert joined.")
    incident_max_delay_seconds: float = Field(30.0, ge=0, description="... but no longer than this after the first join not analysed.")
    incident_max_symptoms: int = Field(20, ge=1, le=500, description="Symptoms (service, metric) of one incident analysis.")
    incident_prepare_threads: int = Field(
        2, ge=1, le=32, description="Threads that fetch the metrics of due incidents and queue their analyses."
    )
    # -- answers out -----------------------------------------------------------------
    notify_targets: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "pagerduty": ["pagerduty_note"],
            "alertmanager": ["slack", "webhook"],
            "grafana": ["slack", "webhook"],
            "opsgenie": ["slack", "webhook"],
            "servicenow": ["servicenow_work_note"],
            "jira": ["jira_comment"],
            "splunk": ["slack", "webhook"],
            "dynatrace": ["slack", "webhook"],
            "generic": ["slack", "webhook"],
        },
        description="Write-back kinds per alert source (JSON).",
    )
    pagerduty_api_url: str = Field("https://api.pagerduty.com", description="PagerDuty REST API base URL.")
    pagerduty_api_token: str | None = Field(None, description="PagerDuty REST API key (Token token=...).")
    pagerduty_from: str | None = Field(None, description="Email of the PagerDuty user notes are written as.")
    slack_webhook_url: str | None = Field(None, description="Slack incoming-webhook URL.")
    slack_bot_token: str | None = Field(None, description="Slack bot token (xoxb-...): one message per incident, edited with chat.update.")
    slack_channel: str | None = Field(None, description="Slack channel (name or ID) of the bot's incident messages.")
    slack_api_url: str = Field("https://slack.com/api", description="Slack Web API base URL.")
    notify_webhook_url: str | None = Field(None, description="Generic outbound webhook URL.")
    notify_webhook_secret: str | None = Field(None, description="Secret of the X-RCA-Signature HMAC.")
    outbox_max_attempts: int = Field(10, ge=1, le=1000, description="Sends of one delivery before it fails.")
    outbox_backoff_seconds: float = Field(1.0, gt=0, description="First retry delay; doubles each attempt (with jitter).")
    outbox_backoff_max_seconds: float = Field(300.0, gt=0, description="Longest retry delay.")
    outbox_poll_seconds: float = Field(0.5, gt=0, description="How often the sender and the alert worker look for work.")
    outbox_timeout_seconds: float = Field(10.0, gt=0, description="HTTP timeout of one send.")
    outbox_lease_seconds: float = Field(60.0, gt=0, description="Lease of a claimed delivery or alert.")

    @field_validator(
        "alert_metrics", "alert_service_labels", "alertmanager_tokens", "grafana_signature_headers",
        "grafana_tokens", "pagerduty_webhook_secrets", "opsgenie_tokens", "incident_labels", mode="before",
    )
    @classmethod
    def _csv(cls, v: Any) -> Any:
        return _split(v)

    @field_validator("incident_window", "incident_quiet")
    @classmethod
    def _durations(cls, v: str) -> str:
        from rca.sources.prometheus import _duration

        try:
            _duration(v, "duration")
        except Exception as exc:  # noqa: BLE001 - re-raised as the setting's own error
            raise ValueError(f"must be a duration like 10m or 90s, got {v!r}: {exc}") from None
        return v

    @field_validator("incident_link")
    @classmethod
    def _link(cls, v: str) -> str:
        if v not in ("roots", "undirected"):
            raise ValueError(f"must be roots or undirected, got {v!r}")
        return v

    @field_validator("opsgenie_service_from")
    @classmethod
    def _og(cls, v: str) -> str:
        if v not in ("tags", "entity", "details"):
            raise ValueError(f"must be tags, entity or details, got {v!r}")
        return v

    @field_validator("notify_targets")
    @classmethod
    def _targets(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for source, kinds in v.items():
            if not is_known_source(source, SOURCES):
                raise ValueError(f"unknown alert source {source!r}; use {list(SOURCES)}, a ticket source or generic:<name>")
            for k in kinds:
                if k not in DELIVERY_KINDS:
                    raise ValueError(f"{source}: unknown target {k!r}; use {list(DELIVERY_KINDS)}")
                if k == "pagerduty_note" and source != "pagerduty":
                    raise ValueError(f"{source}: pagerduty_note needs a PagerDuty incident; only the pagerduty source has one")
                check_target(source, k)
        return v

    @model_validator(mode="after")
    def _pagerduty_note(self) -> AlertSettings:
        if "pagerduty_note" in self.notify_targets.get("pagerduty", []) and self.pagerduty_api_token and not self.pagerduty_from:
            raise ValueError("RCA_PAGERDUTY_FROM (a PagerDuty user's email) is required to write notes")
        return self

    def parser_config(self) -> ParserConfig:
        return ParserConfig(
            service_labels=tuple(self.alert_service_labels),
            metric_label=self.alert_metric_label,
            default_metric=self.alert_default_metric,
            service_map=dict(self.alert_service_map),
            opsgenie_service_from=self.opsgenie_service_from,
            opsgenie_tag_prefix=self.opsgenie_tag_prefix,
        )


def load_alert_settings(**overrides: Any) -> AlertSettings:
    """Settings from the environment (and config file), ``overrides`` on top."""
    return AlertSettings(**overrides)
