"""``rca serve`` (the HTTP service under uvicorn) and ``rca api-key create``.

Options override the matching ``RCA_*`` settings; everything else comes from
the environment and ``RCA_CONFIG_FILE`` (see the README's settings table).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from rca.cli import app

__all__ = ["serve", "create_key", "check_database", "require_server_extra", "service_settings"]

# What `pip install "rca-engine[server]"` brings; the core install (engine, topology, CLI) has none of it.
SERVER_MODULES = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "pydantic_settings", "multipart")


def require_server_extra(command: str) -> None:
    """One line naming the extra to install when the HTTP service's packages are missing, then exit 2."""
    import importlib.util

    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        typer.echo(
            f"error: {command} needs the server extra (missing: {', '.join(missing)}); "
            "install it with: pip install \"rca-engine[server]\" (from a checkout: pip install \".[server]\")",
            err=True,
        )
        raise typer.Exit(2)

api_key_app = typer.Typer(help="Manage API keys of the HTTP service.", no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")


def service_settings(**overrides: Any) -> Any:
    """Settings with the given overrides, or one readable line and exit 2."""
    from pydantic import ValidationError

    from rca.service.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        typer.echo(f"error: RCA_{where.upper()}: {first.get('msg')}", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:  # a bad RCA_CONFIG_FILE
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def check_database(url: str) -> None:
    """One readable line, not a start-up traceback, when the database is unusable."""
    from sqlalchemy.engine import make_url

    from rca.store.session import Database

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not even a URL
        typer.echo(f"error: RCA_DATABASE_URL is not a database URL: {url!r}", err=True)
        raise typer.Exit(2) from None
    try:
        db = Database(url)
        db.ping()
        db.dispose()
    except Exception as exc:  # noqa: BLE001 - drivers raise many types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        typer.echo(f"error: cannot reach the database {shown}: {first}", err=True)
        raise typer.Exit(1) from None


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8080,
    database: Annotated[str | None, typer.Option(help="Database URL (RCA_DATABASE_URL); default SQLite in the data dir.")] = None,
    workers: Annotated[int | None, typer.Option(help="Analysis worker threads (RCA_WORKERS).", min=0, max=64)] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (RCA_DATA_DIR).")] = None,
) -> None:
    """Start the HTTP service (uvicorn)."""
    require_server_extra("rca serve")
    import uvicorn

    from rca.service.app import create_app

    settings = service_settings(database_url=database, workers=workers, data_dir=data_dir)
    check_database(settings.resolved_database_url)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level)
    except OSError as exc:
        typer.echo(f"error: cannot serve on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None


@api_key_app.command("create")
def create_key(
    scope: Annotated[list[str] | None, typer.Option("--scope", help="read and/or write; repeat for both.")] = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "default",
    database: Annotated[str | None, typer.Option(help="Database URL (RCA_DATABASE_URL).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (RCA_DATA_DIR).")] = None,
) -> None:
    """Create an API key and print its token (shown once; only its hash is stored)."""
    require_server_extra("rca api-key create")
    from rca.service.security import SCOPES, create_api_key
    from rca.store.migrate import upgrade_database
    from rca.store.session import Database

    scopes = scope or ["read"]
    bad = [s for s in scopes if s not in SCOPES]
    if bad:
        typer.echo(f"error: unknown scope {bad[0]!r}; use --scope read and/or --scope write", err=True)
        raise typer.Exit(2)
    settings = service_settings(database_url=database, data_dir=data_dir)
    try:
        db = Database(settings.resolved_database_url)
        upgrade_database(db)
        token = create_api_key(db, scopes=scopes, name=name)
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        typer.echo(f"error: cannot create the key in {settings.resolved_database_url}: {type(exc).__name__}: {exc}".splitlines()[0], err=True)
        raise typer.Exit(1) from None
    typer.echo(token)
