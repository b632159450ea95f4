"""``rca cases export``: analyses of the HTTP service with a verdict, as benchmark case folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rca.cli import app

__all__ = ["export"]

cases_app = typer.Typer(help="Benchmark cases from the HTTP service's analyses.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")


@cases_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the case folders (read back with cases:OUT).")],
    database: Annotated[str | None, typer.Option(help="Database URL (RCA_DATABASE_URL).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (RCA_DATA_DIR).")] = None,
) -> None:
    """Write every analysis with a verdict (PUT /v1/analyses/{id}/verdict) as a case folder."""
    from rca.cli.serve import check_database, require_server_extra, service_settings

    require_server_extra("rca cases export")
    from rca.service.cases import export_verdict_cases
    from rca.store.migrate import upgrade_database
    from rca.store.session import Database

    settings = service_settings(database_url=database, data_dir=data_dir)
    check_database(settings.resolved_database_url)
    db = Database(settings.resolved_database_url)
    try:
        upgrade_database(db)
        n = export_verdict_cases(db, out)
    except OSError as exc:
        typer.echo(f"error: --out {str(out)!r} could not be written: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    if n == 0:
        typer.echo("no analysis has a verdict yet: record one with PUT /v1/analyses/{id}/verdict")
        return
    typer.echo(f"wrote {n} case(s) below {out}; measure the engine on them with: rca bench --dataset cases:{out}")
