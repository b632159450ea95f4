"""The ticketing settings (``RCA_SERVICENOW_*``, ``RCA_JIRA_*``, ``RCA_SPLUNK_*``, ``RCA_DYNATRACE_*``,
``RCA_GENERIC_WEBHOOKS``), mixed into :class:`~rca.integrations.alerts.settings.AlertSettings`.

Every field is documented in ``docs/integrations/alertmanager-grafana.md#settings`` and
listed in the README's alerts section.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from rca.integrations.tickets.generic import GenericMapping, validate_mappings
from rca.integrations.tickets.parsers import TICKET_SOURCES, TicketParserConfig

__all__ = ["TicketSettingsFields", "TicketCredentials", "TICKET_TARGETS", "check_target", "is_known_source"]

CsvList = Annotated[list[str], NoDecode]

TICKET_TARGETS = {"servicenow_work_note": "servicenow", "jira_comment": "jira"}
"""Write-back kinds that need a ticket of one source: kind -> the source whose tickets they write on."""


def check_target(source: str, kind: str) -> None:
    """Refuse a ticket write-back configured for a source that has no such ticket."""
    need = TICKET_TARGETS.get(kind)
    if need is not None and source != need:
        raise ValueError(f"{source}: {kind} writes on a {need} ticket; only the {need} source has one")


def is_known_source(source: str, builtin: tuple[str, ...]) -> bool:
    """An alert source a write-back may be configured for (``generic`` applies to every ``generic:<name>``)."""
    return source in builtin or source in TICKET_SOURCES or source == "generic" or source.startswith("generic:")


class TicketCredentials(BaseModel):
    """What the outbox needs to write on tickets; read at send time, never stored with a delivery."""

    servicenow_user: str | None = None
    servicenow_password: str | None = None
    servicenow_oauth_token: str | None = None
    jira_user_email: str | None = None
    jira_api_token: str | None = None
    jira_bearer_token: str | None = None


class TicketSettingsFields(BaseModel):
    """Fields of the ticketing side (a mixin: the settings class reads them from the environment)."""

    # -- ServiceNow ---------------------------------------------------------------------
    servicenow_tokens: CsvList = Field(default_factory=list, description="Shared tokens accepted from ServiceNow.")
    servicenow_token_header: str = Field("X-RCA-Token", description="Header carrying the ServiceNow token.")
    servicenow_basic_auth: CsvList = Field(default_factory=list,
                                           description="user:password pairs accepted as Basic auth from ServiceNow.")
    servicenow_service_fields: CsvList = Field(
        default_factory=lambda: ["cmdb_ci", "business_service"],
        description="Incident fields naming the service (display value), in order.",
    )
    servicenow_metric_field: str = Field("u_rca_metric", description="Incident field naming the symptom metric.")
    servicenow_instance_url: str | None = Field(None, description="https://<instance>.service-now.com, for work notes.")
    servicenow_table: str = Field("incident", description="Table of the records work notes are written on.")
    servicenow_user: str | None = Field(None, description="Basic-auth user of the Table API.")
    servicenow_password: str | None = Field(None, description="Basic-auth password of the Table API.")
    servicenow_oauth_token: str | None = Field(None, description="OAuth bearer token of the Table API (instead of Basic).")
    # -- Jira -----------------------------------------------------------------------------
    jira_webhook_secrets: CsvList = Field(default_factory=list, description="Jira webhook secrets (X-Hub-Signature).")
    jira_tokens: CsvList = Field(default_factory=list, description="Shared tokens accepted from Jira (Automation).")
    jira_token_header: str = Field("X-RCA-Token", description="Header carrying the Jira token.")
    jira_service_field: str = Field("components", description="Issue field naming the service (or labels).")
    jira_service_prefix: str = Field("service:", description="With labels: the label <prefix><service>.")
    jira_metric_field: str | None = Field(None, description="Issue field naming the symptom metric, e.g. customfield_10051.")
    jira_base_url: str | None = Field(None, description="https://<site>.atlassian.net, for comments.")
    jira_user_email: str | None = Field(None, description="Atlassian account email (Basic auth with the API token).")
    jira_api_token: str | None = Field(None, description="Atlassian API token.")
    jira_bearer_token: str | None = Field(None, description="Personal access token (Jira Data Center), instead.")
    jira_comment_internal: bool = Field(True, description="Mark comments internal (not shown to JSM customers).")
    # -- Splunk, Dynatrace, generic --------------------------------------------------------
    splunk_tokens: CsvList = Field(default_factory=list, description="Tokens accepted from Splunk (?token= in the URL).")
    splunk_service_field: str = Field("service", description="Result field naming the service.")
    splunk_metric_field: str = Field("rca_metric", description="Result field naming the symptom metric.")
    dynatrace_tokens: CsvList = Field(default_factory=list, description="Tokens accepted from Dynatrace.")
    dynatrace_tag_prefix: str = Field("service:", description="Tag prefix naming the service.")
    generic_webhooks: dict[str, GenericMapping] = Field(default_factory=dict,
                                                        description="Mappings of /v1/webhooks/generic/{name} (JSON).")

    @field_validator("servicenow_tokens", "servicenow_basic_auth", "servicenow_service_fields", "jira_webhook_secrets",
                     "jira_tokens", "splunk_tokens", "dynatrace_tokens", mode="before")
    @classmethod
    def _ticket_csv(cls, v: Any) -> Any:
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                return json.loads(text)
            return [p.strip() for p in text.split(",") if p.strip()]
        return v

    @field_validator("servicenow_basic_auth")
    @classmethod
    def _pairs(cls, v: list[str]) -> list[str]:
        for p in v:
            if ":" not in p:
                raise ValueError("each entry must be user:password")
        return v

    @field_validator("generic_webhooks")
    @classmethod
    def _generic(cls, v: dict[str, GenericMapping]) -> dict[str, GenericMapping]:
        validate_mappings(v)
        return v

    @model_validator(mode="after")
    def _ticket_auth(self) -> TicketSettingsFields:
        if self.servicenow_user and not self.servicenow_password:
            raise ValueError("RCA_SERVICENOW_PASSWORD is required with RCA_SERVICENOW_USER")
        if self.jira_api_token and not self.jira_user_email:
            raise ValueError("RCA_JIRA_USER_EMAIL is required with RCA_JIRA_API_TOKEN (Basic auth is email:token)")
        return self

    def ticket_parser_config(self, default_metric: str, service_map: dict[str, str]) -> TicketParserConfig:
        return TicketParserConfig(
            default_metric=default_metric,
            service_map=dict(service_map),
            servicenow_service_fields=tuple(self.servicenow_service_fields),
            servicenow_metric_field=self.servicenow_metric_field,
            jira_service_field=self.jira_service_field,
            jira_service_prefix=self.jira_service_prefix,
            jira_metric_field=self.jira_metric_field,
            splunk_service_field=self.splunk_service_field,
            splunk_metric_field=self.splunk_metric_field,
            dynatrace_tag_prefix=self.dynatrace_tag_prefix,
        )

    def ticket_credentials(self) -> TicketCredentials:
        return TicketCredentials(**{k: getattr(self, k) for k in TicketCredentials.model_fields})
