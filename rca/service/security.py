"""API keys: ``Authorization: Bearer <token>``; only the SHA-256 of a token is stored.

A key has scopes ``read`` (GET endpoints) and/or ``write`` (PUT, POST,
DELETE).  Authentication is off only when ``RCA_AUTH_DISABLED=true`` is set
explicitly.  Keys are created with ``rca api-key create --scope read --scope write``
(or :func:`create_api_key`); the token is shown once and cannot be recovered.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable

from fastapi import Request

from rca.service.errors import ApiError
from rca.store import repository as repo
from rca.store.models import ApiKeyRow
from rca.store.session import Database, utcnow

__all__ = ["SCOPES", "hash_token", "create_api_key", "require_scope", "Principal"]

SCOPES = ("read", "write")
TOKEN_PREFIX = "rca_"


def hash_token(token: str) -> str:
    """The stored form of a token. Tokens are 256-bit random, so a plain SHA-256 is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_key(db: Database, *, scopes: Iterable[str], name: str = "default") -> str:
    """Store a new key with ``scopes`` and return its token (the only time it is visible)."""
    scopes = sorted(set(scopes))
    bad = [s for s in scopes if s not in SCOPES]
    if not scopes or bad:
        raise ValueError(f"scopes must be among {list(SCOPES)}, got {bad or scopes!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.session() as s:
        repo.add_api_key(
            s,
            ApiKeyRow(
                name=name,
                prefix=token[:10],
                token_sha256=hash_token(token),
                scopes=" ".join(scopes),
                created_at=utcnow(),
            ),
        )
    return token


class Principal:
    """Who is calling: a key name and its scopes (``anonymous`` with every scope when auth is off)."""

    def __init__(self, name: str, scopes: frozenset[str]) -> None:
        self.name = name
        self.scopes = scopes


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def require_scope(scope: str) -> Callable[[Request], Principal]:
    """A dependency that admits callers whose key has ``scope``."""

    def dependency(request: Request) -> Principal:
        settings = request.app.state.settings
        if settings.auth_disabled:
            return Principal("anonymous", frozenset(SCOPES))
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if not header:
            raise _unauthorized("missing API key: send 'Authorization: Bearer <key>' (create one with 'rca api-key create')")
        if kind.lower() != "bearer" or not token.strip():
            raise _unauthorized("the Authorization header must be 'Bearer <key>'")
        db: Database = request.app.state.db
        with db.session() as s:
            row = repo.find_api_key(s, hash_token(token.strip()))
            found = None if row is None else (row.name, frozenset(row.scopes.split()))
        if found is None:
            raise _unauthorized("unknown or revoked API key")
        principal = Principal(*found)
        if scope not in principal.scopes:
            raise ApiError(
                403, "forbidden", f"this API key lacks the {scope!r} scope (it has: {' '.join(sorted(principal.scopes))})"
            )
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency
