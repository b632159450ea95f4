"""``rca storm``: the alert-storm benchmark of event correlation (:mod:`rca.evaluation.storm`)."""

from __future__ import annotations

import typer

from rca.cli import app

__all__ = ["storm"]


@app.command(
    "storm",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def storm(ctx: typer.Context) -> None:
    """Replay alert storms against real servers and score the incidents (options: rca storm --help)."""
    from rca.evaluation.storm.__main__ import main

    raise typer.Exit(main(list(ctx.args), database=_fresh_schema(list(ctx.args))))


def _fresh_schema(args: list[str]):  # type: ignore[no-untyped-def]
    """``--database URL`` (PostgreSQL): each run gets a new schema of that database, named after the run."""
    url = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--database"), None)
    if url is None:
        return None
    import uuid

    from sqlalchemy import text

    from rca.store.session import Database

    def make(name: str) -> str:
        schema = f"storm_{name.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
        admin = Database(url)
        with admin.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"

    return make
