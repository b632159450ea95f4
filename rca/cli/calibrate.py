"""``rca calibrate``: refit the map from an analysis' features to its confidence.

From a bench run's results (``--results bench-out``) or by running the engine
on cases (``-d cases:DIR`` for a team's own incidents, written from the HTTP
service's verdicts by ``rca cases export``; or any ``rca bench`` dataset).
Prints the leave-one-system-out reliability and writes the map; analyses use
it with ``rank.calibration: PATH`` in a configuration file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from rca.cli import app
from rca.cli.bench import _check_spec, _fail, _load, distinct_groups, held_out_table

__all__ = ["calibrate"]


@app.command("calibrate")
def calibrate(
    results: Annotated[
        list[Path] | None,
        typer.Option("--results", "-r", help="A bench run's output folder or cases.csv (repeatable)."),
    ] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", "-d", help="Run the engine on these cases first (as rca bench -d; cases:DIR for your own)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the calibration file.")] = Path("calibration.json"),
    penalty: Annotated[float, typer.Option(help="L2 penalty of the logistic fit (per unit of sample weight).")] = 0.05,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes for -d.")] = 1,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar for -d.")] = True,
) -> None:
    """Fit the confidence calibration on bench results or your own incidents and write it."""
    from rca.engine.errors import InvalidInputError
    from rca.evaluation.bench.confidence_fit import bench_commands, fit_map, read_cases_csv, samples_from_results
    from rca.evaluation.bench.runner import run_methods

    console = Console()
    if not results and not dataset:
        raise _fail("give --results BENCH_OUT (a bench run) or --dataset SPEC (cases to run the engine on)")
    if not 0 <= penalty <= 100:
        raise _fail(f"--penalty must be in [0, 100], got {penalty}")
    if jobs < 1:
        raise _fail(f"--jobs must be an integer >= 1, got {jobs}")
    rows: list[Any] = []
    sources: list[str] = []
    runs: list[str] = []
    for path in results or []:
        try:
            rows += read_cases_csv(path)
        except InvalidInputError as exc:
            raise _fail(str(exc)) from None
        sources.append(f"--results {path}")
        runs += bench_commands(path)
    cases: list[Any] = []
    for spec in dataset or []:
        _check_spec(spec)
        got, _ = _load(spec, None)
        got, _ = distinct_groups(got, cases)
        cases += got
        sources.append(f"-d {spec}")
    if cases:
        rows += run_methods(cases, ["engine"], jobs=jobs, progress=progress, console=console)
    samples = samples_from_results(rows)
    try:
        cmap = fit_map(samples, penalty=penalty, source=" ".join(sources), runs=runs)
    except InvalidInputError as exc:
        raise _fail(str(exc)) from None
    held = cmap.fitted.get("held_out") or []
    if held:
        from rca.evaluation.bench.confidence_fit import HeldOut

        console.print(held_out_table([HeldOut(**h) for h in held]))
    else:
        console.print("one system only: no leave-one-system-out measurement (give cases of another system too)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        cmap.save(out)
    except OSError as exc:
        raise _fail(f"--out {str(out)!r} could not be written: {exc.strerror or exc}") from None
    console.print(
        f"fitted on {len(samples)} cases of {len(cmap.fitted['systems'])} system(s); wrote {out}. "
        f"Use it with `rank: {{calibration: {out}}}` in a --config file.",
        highlight=False,
    )
