"""Tables of the service. Times are naive UTC ``datetime`` (the same on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "TopologyRow", "AnalysisRow", "AnalysisInputRow", "ApiKeyRow", "JOB_STATUSES"]

JOB_STATUSES = ("queued", "running", "succeeded", "failed")


class Base(DeclarativeBase):
    """The one metadata of the service's tables."""


class TopologyRow(Base):
    """One immutable version of a named topology."""

    __tablename__ = "topologies"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_topologies_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    format: Mapped[str] = mapped_column(String(32), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    document: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON (ServiceGraph.to_dict)
    services: Mapped[int] = mapped_column(Integer, nullable=False)
    calls: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class AnalysisRow(Base):
    """An analysis: its job state, the digests of its inputs, and its result."""

    __tablename__ = "analyses"
    __table_args__ = (
        Index("ix_analyses_status_created", "status", "created_at"),
        Index("ix_analyses_created_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    incident: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    incident_service: Mapped[str] = mapped_column(String(256), nullable=False, index=True)
    config: Mapped[str] = mapped_column(Text, nullable=False)  # JSON, the full effective RCAConfig
    topology_name: Mapped[str | None] = mapped_column(String(128))
    topology_version: Mapped[int | None] = mapped_column(Integer)
    topology_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    metrics_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    metrics_points: Mapped[int] = mapped_column(Integer, nullable=False)
    engine_version: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str | None] = mapped_column(Text)  # JSON of RCAResult.to_dict()
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(Text)
    error_field: Mapped[str | None] = mapped_column(String(256))
    run_seconds: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Incremented each time a worker actually starts the engine on this job:
    # the audit trail behind "each job is executed exactly once".
    executions: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    worker: Mapped[str | None] = mapped_column(String(64))
    # What a person confirmed after the incident (JSON {"root_causes": [...], "note": ...}):
    # the truth that turns stored analyses into a benchmark of the engine on this system.
    verdict: Mapped[str | None] = mapped_column(Text)
    verdict_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)


class AnalysisInputRow(Base):
    """The inputs of an analysis, kept so that a re-queued job can run again."""

    __tablename__ = "analysis_inputs"

    analysis_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("analyses.id", ondelete="CASCADE"), primary_key=True
    )
    topology_document: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON
    metrics_csv_gz: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # gzip of the canonical CSV
    # uploaded span and log files, as sent (rca.service.evidence_uploads.pack_evidence); None without them
    evidence_gz: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class ApiKeyRow(Base):
    """An API key; only the SHA-256 of the token is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    token_sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    scopes: Mapped[str] = mapped_column(String(128), nullable=False)  # space-separated
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
