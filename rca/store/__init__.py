"""Persistence for every layer above: SQLAlchemy 2 models on one :data:`Base`, sessions, repository, migrations.

::

    models.py       topologies, analyses (with their inputs), API keys
    alerts.py       every received alert, with what became of it
    deliveries.py   the outbox of write-backs
    documents.py    canonical forms of stored inputs (topology JSON, metrics gzip CSV)
    repository.py   queries and updates used by the service and the alert worker
    session.py      Database (engine + sessions), naive-UTC ``utcnow``
    migrate.py      Alembic upgrade on start, one server at a time
    polling.py      the daemon thread that claims rows in a loop (worker, outbox, jobs)

A new table goes here with an Alembic migration after the latest one in
``rca/store/migrations``; nothing here imports FastAPI.
"""

from rca.store.models import AnalysisRow, ApiKeyRow, Base, TopologyRow
from rca.store.session import Database, utcnow

__all__ = ["Base", "TopologyRow", "AnalysisRow", "ApiKeyRow", "Database", "utcnow"]
