"""A rerun of an alert's analysis answers the alert again.

``POST /v1/analyses/{id}/rerun`` makes a new analysis on the same inputs.  When the original
belongs to a firing alert, the alert follows the new analysis (``analysis_id``, state
``queued``), so the worker's *finish* step writes back again when it is done: the Jira
comment is replaced (see :mod:`rca.integrations.tickets.writeback`), other targets get a new
message.
"""

from __future__ import annotations

from sqlalchemy import update

from rca.store.alerts import AlertRow
from rca.store.session import Database

__all__ = ["follow_rerun"]


def follow_rerun(db: Database, original_id: str, rerun_id: str) -> int:
    """Point the firing alerts of analysis ``original_id`` at ``rerun_id``; how many were."""
    with db.session() as s:
        res = s.execute(
            update(AlertRow)
            .where(AlertRow.analysis_id == original_id, AlertRow.status == "firing", AlertRow.analysis_state == "done")
            .values(analysis_id=rerun_id, analysis_state="queued")
        )
    return int(res.rowcount or 0)
