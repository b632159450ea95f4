"""Alembic environment of the service, run programmatically by :func:`rca.store.migrate.upgrade_database`.

A connection is handed in through ``config.attributes["connection"]``; the
command line also works with ``-x url=...`` (``alembic -c /dev/null ...``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from rca.store.models import Base

target_metadata = Base.metadata
config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database: alembic -x url=postgresql+psycopg://... upgrade head")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
