"""``rca topology pull servicenow``: the CMDB's call relationships as a topology file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rca.cli import app

__all__ = ["pull"]

topology_app = typer.Typer(help="Topologies from outside systems.", no_args_is_help=True)
app.add_typer(topology_app, name="topology")

SYSTEMS = ("servicenow",)


@topology_app.command("pull")
def pull(
    system: Annotated[str, typer.Argument(help="Where from: servicenow.")],
    instance: Annotated[str, typer.Option(help="https://<instance>.service-now.com", envvar="RCA_SERVICENOW_INSTANCE_URL")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="YAML file to write (default: print it).")] = None,
    user: Annotated[str | None, typer.Option(help="Table API user.", envvar="RCA_SERVICENOW_USER")] = None,
    password: Annotated[str | None, typer.Option(help="Table API password.", envvar="RCA_SERVICENOW_PASSWORD")] = None,
    oauth_token: Annotated[str | None, typer.Option(help="OAuth bearer token instead.", envvar="RCA_SERVICENOW_OAUTH_TOKEN")] = None,
    type_: Annotated[list[str] | None, typer.Option(
        "--type", help="Map one more relationship type: 'Runs on::Runs=parent' (parent calls child), =child, or =skip.")] = None,
    page_size: Annotated[int, typer.Option(help="Records per Table API page.")] = 1000,
) -> None:
    """Page through cmdb_rel_ci (the relationship types meaning calls / depends on) and write the call graph."""
    import topology
    from rca.engine.errors import did_you_mean
    from rca.sources.servicenow_cmdb import pull_cmdb_topology

    if system not in SYSTEMS:
        typer.echo(f"error: unknown system {system!r}; use one of {list(SYSTEMS)}{did_you_mean(system, SYSTEMS)}", err=True)
        raise typer.Exit(2)
    types: dict[str, str | None] = {}
    for item in type_ or []:
        name, sep, direction = item.rpartition("=")
        if not sep or direction not in ("parent", "child", "skip") or not name:
            typer.echo(f"error: --type {item!r} must be '<relationship type>=parent|child|skip'", err=True)
            raise typer.Exit(2)
        types[name] = None if direction == "skip" else direction
    try:
        graph = pull_cmdb_topology(instance, types=types, user=user, password=password, oauth_token=oauth_token,
                                   page_size=page_size)
    except (topology.TopologyError, ValueError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    text = topology.dumps_yaml(graph)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: --out {str(out)!r} could not be written: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {len(graph)} services and {len(graph.calls)} calls to {out}", err=True)
