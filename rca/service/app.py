"""The FastAPI application: :func:`create_app` wires settings, database, workers and routers.

Run it with ``rca serve`` or ``uvicorn --factory rca.service.app:create_app_from_env``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

import rca
from rca.service.deps import load_settings_cached
from rca.service.errors import install_error_handlers
from rca.service.jobs import JobRunner
from rca.service.limits import BodySizeLimitMiddleware
from rca.service.metrics import MetricsMiddleware, Registry
from rca.service.openapi import install_openapi
from rca.service.routes import ROUTERS
from rca.service.settings import Settings
from rca.store import repository as repo
from rca.store.migrate import upgrade_database
from rca.store.session import Database

__all__ = ["create_app", "create_app_from_env"]

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, routers: Sequence[APIRouter] | None = None) -> FastAPI:
    """The service. ``routers`` default to :data:`rca.service.routes.ROUTERS`."""
    settings = settings or load_settings_cached()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.resolved_database_url, pool_size=max(5, settings.workers + 5))
        if settings.migrate_on_start:
            upgrade_database(db)
        if settings.auth_disabled:
            logger.warning("API-key authentication is OFF (RCA_AUTH_DISABLED=true): use only on a trusted machine")
        else:
            with db.session() as s:
                if repo.count_api_keys(s) == 0:
                    logger.warning("no API key exists: every request will get 401; create one with 'rca api-key create'")
        runner = JobRunner(db, settings, app.state.registry)
        app.state.db = db
        app.state.runner = runner
        runner.start()
        try:
            yield
        finally:
            runner.stop()
            db.dispose()

    app = FastAPI(
        title="rca-engine",
        version=rca.__version__,
        summary="Root-cause analysis over service topology.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = Registry()
    install_error_handlers(app)
    for router in ROUTERS if routers is None else routers:
        app.include_router(router)
    install_openapi(app, settings)
    # Outermost first: count every request, refuse big bodies before anything reads them.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, registry=app.state.registry)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn: settings from the environment."""
    return create_app(load_settings_cached())
