"""Service settings (:class:`Settings`): environment variables ``RCA_*`` and an optional file.

Precedence, highest first: keyword arguments, environment, the file named by
``RCA_CONFIG_FILE`` (TOML, YAML or JSON, keys without the prefix), defaults.
Every field is documented in the README's settings table; a test fails when
one is missing there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from rca.integrations.settings_file import FileBackedSettings

__all__ = ["Settings", "load_settings"]


class Settings(FileBackedSettings):
    """Configuration of the HTTP service (not of an analysis: that is :class:`rca.RCAConfig`)."""

    model_config = SettingsConfigDict(env_prefix="RCA_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("rca-data"), description="Directory for the SQLite database and other files.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file `<data_dir>/rca.db`. PostgreSQL: `postgresql+psycopg://...`."
    )
    migrate_on_start: bool = Field(True, description="Run Alembic `upgrade head` when the server starts.")
    auth_disabled: bool = Field(False, description="Turn API-key authentication off (local use only; must be set explicitly).")
    workers: int = Field(2, ge=0, le=64, description="Analysis worker threads per server process (0: accept jobs, run none).")
    max_body_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="Largest accepted request body (413 above).")
    max_metric_points: int = Field(2_000_000, ge=1, description="Most metric points in one analysis (422 above).")
    sync_max_points: int = Field(200_000, ge=0, description="Analyses with more points are answered 202 + Location even when `wait=true`.")
    analysis_timeout_seconds: float = Field(120.0, gt=0, description="Time limit of one analysis; past it the job fails (408 when waited for).")
    analysis_isolation: Literal["process", "thread"] = Field(
        "process", description="Run each analysis in a child process (killed at the time limit) or a thread."
    )
    sync_wait_seconds: float = Field(
        30.0, gt=0, description="How long `POST /v1/analyses` waits for a job to start before answering 202."
    )
    job_lease_seconds: float = Field(30.0, gt=0, description="A running job's lease; renewed by a heartbeat, expired leases are re-queued.")
    job_max_attempts: int = Field(2, ge=1, le=100, description="Runs of a job whose worker died before it is marked failed.")
    job_poll_seconds: float = Field(1.0, gt=0, description="How often idle workers look for queued jobs from other processes.")
    dask_scheduler: str | None = Field(
        None,
        description=(
            "Run claimed jobs on a Dask cluster: a scheduler address `tcp://HOST:PORT`, or `local:N` for a "
            "LocalCluster of N worker processes owned by the server. Unset: in this server, as `RCA_ANALYSIS_ISOLATION` says."
        ),
    )
    page_size_max: int = Field(200, ge=1, description="Largest `limit` of list endpoints.")
    log_level: str = Field("info", description="Log level of `rca serve`.")
    test_job_delay_seconds: float = Field(
        0.0, ge=0, description="TEST ONLY: sleep this long at the start of each job (inside the time limit)."
    )

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.lower()
        if v not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError("must be one of critical, error, warning, info, debug")
        return v

    @field_validator("dask_scheduler")
    @classmethod
    def _scheduler(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip()
        if v.startswith("local:"):
            count = v.partition(":")[2]
            if not count.isdigit() or not 1 <= int(count) <= 256:
                raise ValueError(f"'local:N' needs N worker processes in 1..256, got {v!r}")
        elif "://" not in v:
            raise ValueError(f"use a scheduler address such as 'tcp://HOST:8786' or 'local:N', got {v!r}")
        return v

    @property
    def resolved_database_url(self) -> str:
        """The database URL actually used (SQLite under ``data_dir`` by default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'rca.db').resolve()}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and config file), with ``overrides`` on top."""
    return Settings(**overrides)
