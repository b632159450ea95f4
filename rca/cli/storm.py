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

    raise typer.Exit(main(list(ctx.args)))
