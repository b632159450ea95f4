"""The HTTP service: FastAPI over :func:`rca.analyze`, with persisted topologies, analyses and jobs.

::

    app.py        create_app(settings): routers, error handlers, middleware, lifespan
    settings.py   Settings (RCA_* environment, optional config file)
    deps.py       Annotated dependencies (settings, database, session, API-key scopes)
    schemas.py    request/response models (TopologyPublic, AnalysisCreate, AnalysisPublic...)
    routes/       topologies, analyses, report, accuracy, webhooks, ops
    inputs.py     request bodies checked at the door (the stored forms live in rca.store)
    jobs.py       worker pool, leases and heartbeat
    execution.py  one analysis within the time limit, in a child process or a thread
    cluster.py    or on a Dask cluster (RCA_DASK_SCHEDULER), a lost run re-queued
    security.py   API keys (hashed at rest), scopes
    metrics.py    Prometheus exposition
    errors.py     the one place where exceptions become {error, detail, field}
"""

from rca.service.app import create_app, create_app_from_env
from rca.service.settings import Settings

__all__ = ["create_app", "create_app_from_env", "Settings"]
