"""Request and response models, in families: ``*Create`` come in, ``*Public`` go out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from rca.service.config_schema import ConfigBody
from rca.service.params import DB_INT_MAX

__all__ = [
    "ErrorBody",
    "TopologyPublic",
    "TopologySummary",
    "TopologyList",
    "TopologyRef",
    "MetricPoint",
    "AnalysisCreate",
    "AnalysisRequest",
    "AnalysisInputs",
    "AnalysisError",
    "AnalysisPublic",
    "AnalysisSummary",
    "AnalysisList",
    "Health",
]

Status = Literal["queued", "running", "succeeded", "failed"]


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer."""

    error: str = Field(description="Short machine-readable code, e.g. `invalid_metrics`.")
    detail: str = Field(description="What is wrong and how to fix it.")
    field: str | None = Field(description="The offending field (dotted path), when there is one.")


class TopologySummary(BaseModel):
    name: str
    version: int
    format: str = Field(description="The format the version was uploaded in.")
    digest: str = Field(description="SHA-256 of the graph's content (`ServiceGraph.digest()`).")
    services: int
    calls: int
    created_at: datetime


class TopologyPublic(TopologySummary):
    document: dict[str, Any] = Field(description="The graph in the JSON document form (`services`, `calls`).")


class TopologyList(BaseModel):
    items: list[TopologySummary]


def _given(name: str, kind: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"type": kind}}}


# The rules of TopologyRef._one_source, in JSON Schema, so that a generated client knows them.
_TOPOLOGY_REF_RULES: dict[str, Any] = {
    "oneOf": [_given("name", "string"), _given("inline", "object"), _given("data", "string")],
    "allOf": [
        {"anyOf": [{"not": _given("data", "string")}, {"required": ["format"], "properties": {"format": {"type": "string", "minLength": 1}}}]},
        {"anyOf": [{"not": _given("version", "integer")}, _given("name", "string")]},
        {"anyOf": [{"not": _given("name", "string")}, {"not": {"required": ["edges"]}}, {"properties": {"edges": {"const": "calls"}}}]},
    ],
}


class TopologyRef(BaseModel):
    """Which topology an analysis runs on: a stored one (`name`), or one sent inline (`inline`, or `data` + `format`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_TOPOLOGY_REF_RULES)

    name: str | None = Field(None, description="A stored topology.")
    version: StrictInt | None = Field(None, ge=1, le=DB_INT_MAX, description="Its version; default: the latest.")
    inline: dict[str, Any] | None = Field(None, description="A graph in the JSON document form.")
    data: StrictStr | None = Field(None, description="A topology document as text, in `format`.")
    format: StrictStr | None = Field(None, description="The format of `data` (e.g. `yaml`, `edges-csv`).")
    edges: Literal["calls", "causal"] = Field(
        "calls",
        description="What an arrow `A -> B` of `inline` or `data` means: A calls B, or A causes B (the graph is then reversed).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> TopologyRef:
        given = [k for k in ("name", "inline", "data") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'name' (a stored topology), 'inline' (a JSON document) or 'data' (+ 'format')")
        if self.data is not None and not self.format:
            raise ValueError("'data' needs 'format'")
        if self.version is not None and self.name is None:
            raise ValueError("'version' goes with 'name'")
        if self.edges != "calls" and self.name is not None:
            raise ValueError("'edges' goes with 'inline' or 'data': a stored topology is already a call graph")
        return self


class MetricPoint(BaseModel):
    """One point of the long-format metrics table."""

    model_config = ConfigDict(extra="forbid")

    timestamp: StrictStr | StrictInt | StrictFloat = Field(description="ISO 8601 time or unix seconds.")
    service: StrictStr = Field(min_length=1)
    metric: StrictStr = Field(min_length=1)
    value: StrictFloat | StrictInt | None = Field(description="The value; null for a missing point.")


class AnalysisRequest(BaseModel):
    """Everything but the metrics (the `request` part of a multipart upload)."""

    model_config = ConfigDict(extra="forbid")

    incident: dict[str, Any] = Field(
        description="`{service, metric, start, end?}`, as `rca.Incident.from_dict`.",
        examples=[{"service": "frontend", "metric": "latency", "start": "2024-05-01T12:00:00Z"}],
    )
    topology: TopologyRef
    config: ConfigBody | None = Field(None, description="Analysis configuration (`rca.RCAConfig`); omitted parameters keep their defaults.")  # type: ignore[valid-type]


class AnalysisCreate(AnalysisRequest):
    """A JSON analysis request with inline metrics."""

    metrics: list[MetricPoint] = Field(description="Long-format points `{timestamp, service, metric, value}`.")


class AnalysisInputs(BaseModel):
    topology_name: str | None
    topology_version: int | None
    topology_digest: str
    metrics_digest: str = Field(description="SHA-256 of the canonical metrics CSV.")
    metrics_points: int


class AnalysisError(BaseModel):
    error: str
    detail: str
    field: str | None


class AnalysisSummary(BaseModel):
    id: str
    status: Status
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    incident: dict[str, Any]
    top_cause: str | None = Field(description="The first-ranked service, once succeeded.")


class VerdictRequest(BaseModel):
    """What the incident turned out to be, once someone knows."""

    model_config = ConfigDict(extra="forbid")

    root_causes: list[StrictStr] = Field(
        max_length=100,
        description="The services that really caused it (nodes of the analysis' topology); `[]`: there was no root cause (a false alarm).",
    )
    note: StrictStr | None = Field(None, max_length=4000, description="Free text: the postmortem's link, what was fixed...")


class Verdict(VerdictRequest):
    at: datetime = Field(description="When the verdict was given (the last one counts).")


class AnalysisPublic(AnalysisSummary):
    inputs: AnalysisInputs
    engine_version: str | None
    config: dict[str, Any]
    timings: dict[str, float | None] = Field(description="`queued_seconds`, `run_seconds`, `total_seconds`.")
    attempts: int
    result: dict[str, Any] | None = Field(description="`RCAResult.to_dict()` once succeeded.")
    error: AnalysisError | None = Field(description="Why it failed, once failed.")
    verdict: Verdict | None = Field(None, description="The confirmed root causes, once given (`PUT .../verdict`).")


class AnalysisList(BaseModel):
    items: list[AnalysisSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class AccuracyGroup(BaseModel):
    topology: str = Field(description="The analyses' stored topology name, or `inline`.")
    verdicts: int
    ac1: float | None
    ac3: float | None
    specificity: float | None


class Accuracy(BaseModel):
    """How the engine's stored answers compare with the verdicts given since."""

    verdicts: int = Field(description="Analyses with a verdict (in the filter).")
    faults: int = Field(description="Of them, with at least one confirmed root cause.")
    false_alarms: int = Field(description="Of them, confirmed to have none.")
    failed: int = Field(description="Analyses with a verdict that failed: count as misses.")
    ac1: float | None = Field(description="Share of faults whose first-ranked service is a confirmed cause.")
    ac3: float | None
    ac5: float | None
    specificity: float | None = Field(description="Share of false alarms the engine answered with no root cause.")
    mean_confidence: float | None = Field(description="Mean confidence of the first named cause.")
    named_right: float | None = Field(description="How often the first named cause was right (compare with the confidence).")
    groups: list[AccuracyGroup]


class ExecutorPublic(BaseModel):
    kind: Literal["process", "thread", "dask"] = Field(
        description="Where analyses run: child processes or threads of this server, or a Dask cluster (`RCA_DASK_SCHEDULER`)."
    )
    scheduler: str | None = Field(description="The Dask scheduler's address (a `local:N` cluster's too); null without Dask.")
    workers: int | None = Field(
        description="Dask workers the scheduler knows now (null when it does not answer); without Dask, this server's worker threads."
    )


class Health(BaseModel):
    status: str
    engine_version: str | None = None
    database: str | None = None
    executor: ExecutorPublic | None = None
