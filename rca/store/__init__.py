"""Persistence: SQLAlchemy 2 models on one :data:`Base` metadata, sessions, repository functions.

Other parts of the service (webhooks, reports) add their tables to the same
``Base`` and an Alembic migration after the latest one in ``rca/store/migrations``.
"""

from rca.store.models import AnalysisRow, ApiKeyRow, Base, TopologyRow
from rca.store.session import Database, utcnow

__all__ = ["Base", "TopologyRow", "AnalysisRow", "ApiKeyRow", "Database", "utcnow"]
