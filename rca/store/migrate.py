"""Schema migrations (Alembic), run programmatically: ``upgrade head`` at start-up.

Migrations live in ``rca/store/migrations/versions`` as ``NNNN_what.py`` with
``revision = "NNNN"`` and ``down_revision`` the previous number, so that a new
part of the service adds its tables by adding the next file.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from rca.store.session import Database

__all__ = ["MIGRATIONS_DIR", "upgrade_database", "alembic_config"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any constant: several servers starting at once on one PostgreSQL migrate one at a time.
_PG_LOCK_KEY = 0x5243_4150  # "RCAP"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


@contextmanager
def _sqlite_file_lock(db: Database) -> Iterator[None]:
    """Serialise migrations of one SQLite file across processes (a server and ``rca api-key``)."""
    path = db.engine.url.database
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def upgrade_database(db: Database, revision: str = "head") -> None:
    """Bring the schema of ``db`` to ``revision``; concurrent callers migrate one at a time."""
    if db.is_sqlite:
        with _sqlite_file_lock(db):
            _upgrade(db, revision)
    else:
        _upgrade(db, revision)


def _upgrade(db: Database, revision: str) -> None:
    cfg = alembic_config()
    with db.engine.begin() as conn:
        if db.is_postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
