"""Dependencies of the routes, as ``Annotated`` aliases.

``get_settings`` is the one settings dependency; tests override it with
``app.dependency_overrides[get_settings] = lambda: Settings(...)``.
:func:`load_settings_cached` reads the environment once per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from rca.service.jobs import JobRunner
from rca.service.metrics import Registry
from rca.service.security import Principal, require_scope
from rca.service.settings import Settings
from rca.store.session import Database

__all__ = [
    "load_settings_cached",
    "get_settings",
    "get_db",
    "get_session",
    "get_runner",
    "get_registry",
    "SettingsDep",
    "DatabaseDep",
    "SessionDep",
    "RunnerDep",
    "RegistryDep",
    "ReadKey",
    "WriteKey",
]


@lru_cache(maxsize=1)
def load_settings_cached() -> Settings:
    """The settings of this process, from the environment (read once)."""
    return Settings()  # type: ignore[call-arg]  # every field has a default


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def get_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    """A session for reads. Writers use ``db.session()`` themselves so the commit precedes the response."""
    with db.session() as s:
        yield s


def get_runner(request: Request) -> JobRunner:
    return request.app.state.runner  # type: ignore[no-any-return]


def get_registry(request: Request) -> Registry:
    return request.app.state.registry  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]
SessionDep = Annotated[Session, Depends(get_session)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
ReadKey = Annotated[Principal, Depends(require_scope("read"))]
WriteKey = Annotated[Principal, Depends(require_scope("write"))]
