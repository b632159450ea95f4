"""``rca bench``: run methods over benchmark datasets and write the tables.

::

    rca bench --dataset petshop:../shared/datasets/petshop \\
              --dataset nezha:../shared/datasets/nezha \\
              --dataset synthetic:SPEC \\
              --method engine --method robust-z --out bench-out --jobs 4
    rca bench --dataset petshop --config tuned.yaml --method engine
    rca bench --list-methods
    rca bench --dataset synthetic:SPEC --dask local:2          # on a 2-worker Dask LocalCluster
    rca bench --dataset synthetic:SPEC --scheduler tcp://HOST:8786

Without ``--method`` every registered method runs (the engine, its ablations
and the reference methods).  Writes ``cases.csv``, ``summary.json`` and
``summary.md`` into ``--out`` and prints the summary table.  A bad dataset
spec, an unknown method, a bad ``--config`` or a dataset that fails to load is
one line on stderr and exit code 2.  ``--config`` is the engine's base
configuration (the same file ``rca analyze --config`` takes); the ablations
switch their component off on top of it.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rca.cli import app


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=2)


def _check_spec(spec: str) -> None:
    """Reject a malformed spec before anything is loaded (the loader checks the rest)."""
    from rca.evaluation.datasets import DATASETS, spec_usage

    kind, sep, arg = spec.strip().partition(":")
    if kind.strip().lower() not in DATASETS:
        raise _fail(f"--dataset {spec!r}: unknown dataset {kind.strip()!r}; use one of {spec_usage()}")
    if sep and not arg.strip():
        raise _fail(f"--dataset {spec!r}: nothing after ':'; use one of {spec_usage()}")


def _load(spec: str, limit: int | None) -> tuple[list[Any], float]:
    try:
        from rca.evaluation.datasets import load_cases
    except ImportError:
        raise _fail("the dataset loaders are not available yet (rca.evaluation.datasets.load_cases is missing)") from None
    start = time.perf_counter()
    try:
        cases = list(load_cases(spec))
    except Exception as exc:  # any loader failure is the user's one line, not a traceback
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise _fail(f"--dataset {spec!r} could not be loaded: {message}") from None
    seconds = time.perf_counter() - start
    return (cases if limit is None else limit_cases(cases, limit)), seconds


def distinct_groups(new: list[Any], earlier: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """``new`` with every group an ``earlier`` case of the same dataset already has renamed ``group#k``.

    Two specs of one dataset (say two synthetic SEM sets with different
    windows) would otherwise pool their cases in one row of the report and
    repeat case ids.  A case id that starts with its group takes the new
    group there (``sem-50#2/shift/0``), any other the same ``#k`` at its end.
    Returns the cases and ``{old group: new group}``.
    """
    taken = {(c.dataset, c.group) for c in earlier}
    clashing = {c.group for c in new if (c.dataset, c.group) in taken}
    if not clashing:
        return new, {}
    renamed: dict[str, str] = {}
    for group in sorted(clashing):
        k = 2
        while any((c.dataset, f"{group}#{k}") in taken for c in new if c.group == group):
            k += 1
        renamed[group] = f"{group}#{k}"

    def rename(case: Any) -> Any:
        group = renamed.get(case.group)
        if group is None:
            return case
        if case.case_id.startswith(case.group):
            case_id = group + case.case_id[len(case.group):]
        else:
            case_id = case.case_id + group[len(case.group):]
        return dataclasses.replace(case, group=group, case_id=case_id)

    return [rename(c) for c in new], renamed


def limit_cases(cases: list[Any], limit: int) -> list[Any]:
    """At most ``limit`` cases, taken in turn from each group so every group is sampled.

    Deterministic: the k-th case of every group comes before the (k+1)-th of
    any group; the chosen cases keep their original order.
    """
    position: dict[str, int] = {}
    keyed = []
    for i, case in enumerate(cases):
        group = getattr(case, "group", "")
        turn = position.get(group, 0)
        position[group] = turn + 1
        keyed.append((turn, i))
    chosen = sorted(i for _, i in sorted(keyed)[:limit])
    return [cases[i] for i in chosen]


def _methods_table() -> Table:
    from rca.evaluation.bench.methods import DEFAULT_METHODS, available_methods

    table = Table(title="rca bench methods")
    table.add_column("name", no_wrap=True)
    table.add_column("kind")
    table.add_column("default")
    table.add_column("description")
    for m in available_methods():
        table.add_row(m.name, m.kind, "yes" if m.name in DEFAULT_METHODS else "", m.description)
    return table


def held_out_table(held: list[Any]) -> Table:
    """The leave-one-system-out calibration rows as a terminal table (``rca bench``, ``rca calibrate``)."""
    table = Table(title="confidence on a system the fit never saw (leave one system out)")
    for name in ("system", "cases", "n", "right", "raw conf / ECE / Brier", "held-out conf / ECE / Brier",
                 "no-cause Brier"):
        table.add_column(name, justify="left" if name in ("system", "cases") else "right")

    def f(x: float | None) -> str:
        return "–" if x is None else f"{x:.2f}"

    def triple(r: dict[str, Any]) -> str:
        return f"{f(r['confidence'])} / {f(r['ece'])} / {f(r['brier'])}"

    for h in held:
        table.add_row(h.system, h.cases, str(h.n), f(h.raw["accuracy"]), triple(h.raw), triple(h.calibrated),
                      f"{f(h.no_cause_raw['brier'])} → {f(h.no_cause_calibrated['brier'])}")
    return table


@app.command("bench")
def bench(
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", "-d", help="petshop:PATH, nezha:PATH, cases:PATH (your own incidents), inject:SOURCE (faults injected into its normal windows) or synthetic:SPEC (repeatable; a bare petshop/nezha uses $RCA_DATASETS or ../shared/datasets)."),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option("--method", "-m", help="Method name (repeatable); default: all. See --list-methods."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for cases.csv, summary.json, summary.md.")] = Path("bench-out"),
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (1 = in this process). Timings under N > 1 include contention; measure speed with 1.")] = 1,
    dask: Annotated[
        str | None,
        typer.Option("--dask", help="Run the cases on a Dask cluster: local:N starts N worker processes here (needs rca-engine[dask])."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Run the cases on the Dask cluster of this scheduler, e.g. tcp://HOST:8786."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Use at most N cases of each dataset, taken in turn from each of its groups.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the seeded methods (random).")] = 0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    list_methods: Annotated[bool, typer.Option("--list-methods", help="List the available methods and exit.")] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="JSON/YAML analysis configuration for the engine (its ablations switch their part off on top of it)."),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Write the loaded cases as case folders here (read back with cases:DIR) and stop."),
    ] = None,
    robustness: Annotated[
        bool,
        typer.Option("--robustness", help="Also run every case re-presented the ways users hand data over (wide, one statistic, short windows and baselines, ...); summary.md gets the worst and best per dataset."),
    ] = False,
    sensitivity: Annotated[
        bool,
        typer.Option("--sensitivity", help="Also run the engine with each default halved and doubled, and choose each on all datasets but one (leave one system out); summary.md gets both tables."),
    ] = False,
    presentation: Annotated[
        list[str] | None,
        typer.Option("--presentation", help="With --robustness: only these presentations (repeatable, e.g. window=5); default: the whole set."),
    ] = None,
) -> None:
    """Measure methods (AC@k, specificity, seconds per case) on benchmark datasets."""
    from rca.evaluation.bench.methods import (
        DEFAULT_METHODS,
        UnknownMethodError,
        get_method,
    )
    from rca.evaluation.bench.report import render_table, write_report
    from rca.evaluation.bench.runner import run_methods

    console = Console()
    if list_methods:
        console.print(_methods_table())
        return
    if jobs < 1:
        raise _fail(f"--jobs must be an integer >= 1, got {jobs}")
    if limit is not None and limit < 1:
        raise _fail(f"--limit must be an integer >= 1, got {limit}")
    if dask is not None and scheduler is not None:
        raise _fail("give --dask local:N or --scheduler tcp://HOST:PORT, not both")
    cluster = dask or scheduler
    if dask is not None and not dask.strip().startswith("local"):
        raise _fail(f"--dask {dask!r}: use local:N (N worker processes); a running cluster is --scheduler tcp://HOST:PORT")
    if dask is not None and not dask.strip().partition(":")[2].isdigit():
        raise _fail(f"--dask {dask!r}: 'local:N' needs N workers in 1..256")
    if scheduler is not None and "://" not in scheduler:
        raise _fail(f"--scheduler {scheduler!r}: use an address such as tcp://HOST:8786")
    specs = list(dataset or [])
    if not specs:
        raise _fail("give at least one --dataset, e.g. --dataset petshop:../shared/datasets/petshop")
    for spec in specs:
        _check_spec(spec)
    names = list(dict.fromkeys(method or DEFAULT_METHODS))
    engine_config: dict[str, Any] | None = None
    if config is not None:
        from rca.cli.config_file import read_config_file
        from rca.engine.errors import InvalidConfigError

        try:
            engine_config = read_config_file(config)
        except InvalidConfigError as exc:
            raise _fail(str(exc)) from None
    for name in names:
        try:
            get_method(name, seed=seed)
        except UnknownMethodError as exc:
            raise _fail(str(exc)) from None

    cases: list[Any] = []
    loaded: dict[str, dict[str, float | int]] = {}
    for spec in specs:
        got, seconds = _load(spec, limit)
        got, renamed = distinct_groups(got, cases)
        loaded[spec] = {"cases": len(got), "load_seconds": round(seconds, 3)}
        console.print(f"loaded {len(got)} cases from {spec} in {seconds:.1f} s", highlight=False)
        if renamed:
            console.print(
                f"  its groups {', '.join(renamed)} were already taken by an earlier --dataset: "
                f"reported as {', '.join(renamed.values())}",
                highlight=False,
            )
        cases.extend(got)
    if not cases:
        raise _fail("the datasets gave no cases to run")
    if presentation and not robustness:
        raise _fail("--presentation needs --robustness")
    if robustness:
        from rca.engine.errors import InvalidInputError
        from rca.evaluation.datasets.represent import DEFAULT_ROBUSTNESS, represent_all

        try:
            cases = cases + represent_all(cases, tuple(presentation or DEFAULT_ROBUSTNESS[1:]))
        except InvalidInputError as exc:
            raise _fail(f"--presentation: {exc}") from None
        console.print(f"with every presentation: {len(cases)} cases", highlight=False)
    if export is not None:
        from rca.evaluation.datasets.cases import write_cases

        try:
            n = write_cases(cases, export)
        except OSError as exc:
            raise _fail(f"--export {str(export)!r} could not be written: {exc.strerror or exc}") from None
        console.print(f"wrote {n} case folders below {export}; measure them with --dataset cases:{export}", highlight=False)
        return

    started = time.perf_counter()
    if cluster is None:
        results = run_methods(
            cases, names, jobs=jobs, seed=seed, progress=progress, console=console, config=engine_config
        )
    else:
        from rca.engine.batch import dask_client
        from rca.engine.errors import InvalidConfigError

        try:
            with dask_client(cluster) as client:
                workers = len(client.nthreads())
                console.print(f"running on Dask: {workers} worker(s) at {client.scheduler.address}", highlight=False)
                results = run_methods(
                    cases, names, seed=seed, progress=progress, console=console, config=engine_config, client=client
                )
        except InvalidConfigError as exc:
            raise _fail(str(exc)) from None
    run_seconds = time.perf_counter() - started

    import rca

    meta = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "datasets": specs,
        "loaded": loaded,
        "methods": names,
        "jobs": jobs,
        "dask": cluster,
        "run_seconds": round(run_seconds, 3),
        "seed": seed,
        "limit": limit,
        "robustness": list(presentation or ()) if robustness else None,
        "config": engine_config or {},
        "engine_version": rca.__version__,
        "python": platform.python_version(),
        "argv": sys.argv[1:],
    }
    try:
        report = write_report(results, out, meta)
    except OSError as exc:
        raise _fail(f"--out {str(out)!r} could not be written: {exc.strerror or exc}") from None
    console.print(render_table(report, width=console.width))
    if report.held_out:
        console.print(held_out_table(list(report.held_out)))
    errors = sum(r.error is not None for r in results)
    if errors:
        first = next(r for r in results if r.error is not None)
        console.print(
            f"[yellow]{errors} of {len(results)} runs raised (see the error column of cases.csv); "
            f"first: {escape(first.method)} on {escape(first.case_id)}: {escape(first.error or '')}[/yellow]",
            highlight=False,
        )
    busy = sum(r.seconds or 0.0 for r in results)
    console.print(
        f"ran {len(results)} runs in {run_seconds:.1f} s; the methods' own seconds add up to {busy:.1f} s "
        f"({busy / run_seconds if run_seconds else 0:.2f}x the wall time)",
        highlight=False,
    )
    if sensitivity:
        _sensitivity(cases, out, jobs, seed, progress, console, engine_config)
    console.print(f"wrote {out / 'cases.csv'}, {out / 'summary.json'}, {out / 'summary.md'}", highlight=False)


def _sensitivity(cases: list[Any], out: Path, jobs: int, seed: int, progress: bool, console: Console, base: dict[str, Any] | None) -> None:
    """Run the sensitivity sweep and the leave-one-system-out choice; append both tables to summary.md."""
    import json

    from rca.evaluation.bench.robustness import split_dataset
    from rca.evaluation.bench.runner import run_methods
    from rca.evaluation.bench.sensitivity import render_sensitivity, run_sweep, sweep_configs

    console.print(f"sensitivity: {len(sweep_configs()) + 1} engine runs over {len(cases)} cases, then one per dataset", highlight=False)

    def run(config: dict[str, Any] | None, only: str | None) -> list[Any]:
        sel = cases if only is None else [c for c in cases if split_dataset(c.dataset)[0] == only]
        return run_methods(sel, ["engine"], jobs=jobs, seed=seed, progress=False, console=console, config=config)

    sweep = run_sweep(run, base)
    text = render_sensitivity(sweep)
    with open(out / "summary.md", "a", encoding="utf-8") as fh:
        fh.write("\n" + text)
    (out / "sensitivity.json").write_text(
        json.dumps({"default": sweep.default, "runs": sweep.runs, "loso": sweep.loso}, indent=1, default=str), encoding="utf-8"
    )
    console.print(text, highlight=False)
