"""``rca analyze``, ``rca demo`` and ``rca --version``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from rca.cli import app
from rca.cli.config_file import read_config_file
from rca.engine.errors import RCAError
from topology import TopologyError

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> None:
    """Print one clear line and exit non-zero (no traceback for user mistakes)."""
    _err.print(f"Error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        from rca.engine.version import __version__

        _out.print(f"rca-engine {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Root-cause analysis over service topology."""


def print_result(result: Any, *, console: Console = _out) -> None:
    """A readable table of the ranked causes (or the reason there are none)."""
    from rca.engine.explain import describe_cause

    inc = result.incident
    console.print(
        f"Incident: [bold]{inc.service}[/bold] {inc.metric} from {inc.start.isoformat()}"
        + (f" (symptom score {result.symptom.score:.2f})" if result.symptom else "")
    )
    if not result.causes:
        console.print(f"[yellow]No root cause:[/yellow] {result.reason}")
        _print_notes(result, console)
        return
    table = Table(title="Probable root causes", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("service")
    table.add_column("confidence", justify="right")
    table.add_column("propagation path")
    table.add_column("evidence")
    for c in result.causes:
        table.add_row(str(c.rank), c.service, f"{c.confidence:.2f}", " -> ".join(c.path), describe_cause(c))
    console.print(table)
    console.print(result.reason)
    basis = getattr(result, "confidence", None)
    if basis is not None:
        console.print(f"Confidence {result.causes[0].confidence:.2f}: {basis.meaning} ({basis.reliability}).")
    if result.no_cause_probability is not None:
        console.print(f'Probability that there is no root cause (the anomalies are noise): {result.no_cause_probability:.2f}')
    _print_notes(result, console)


def _print_notes(result: Any, console: Console) -> None:
    """The issues that change how to read the answer in full, then a count of the other data notes."""
    from rca.engine.types import HEADLINE_ISSUES

    for issue in result.issues:
        if issue.kind in HEADLINE_ISSUES:
            console.print(f"{HEADLINE_ISSUES[issue.kind]}: {issue.message}")
    shown = [i for i in result.issues if i.kind not in ("constant", *HEADLINE_ISSUES)]
    if shown:
        console.print(f"[dim]{len(result.issues)} data note(s), e.g. {shown[0].message}[/dim]")


@app.command("analyze")
def analyze_cmd(
    graph: Path = typer.Option(..., "--graph", "-g", help="Topology file (JSON, YAML, edge-list or adjacency CSV, traces)."),
    metrics: Path | None = typer.Option(
        None, "--metrics", "-m", help="Metrics CSV/Parquet, long (timestamp,service,metric,value) or wide (optional with --spans/--logs)."
    ),
    service: str = typer.Option(..., "--service", "-s", help="Symptom service."),
    metric: str = typer.Option(..., "--metric", help="Symptom metric, e.g. latency."),
    at: str = typer.Option(..., "--at", help="Incident start: ISO 8601 time or unix seconds."),
    end: str | None = typer.Option(
        None, "--end", help="Incident end (default: end of the data; with --prometheus: --at + --window, at most now)."
    ),
    baseline: Path | None = typer.Option(None, "--baseline", help="Separate normal-operation metrics."),
    spans: list[Path] | None = typer.Option(
        None, "--spans", help="Span file or folder (Nezha span CSV, OTLP/Jaeger/Zipkin JSON); repeatable."
    ),
    logs: list[Path] | None = typer.Option(
        None, "--logs", help="Log file or folder (Nezha log CSV, JSON lines, '<time> <service> <message>' text); repeatable."
    ),
    baseline_spans: list[Path] | None = typer.Option(None, "--baseline-spans", help="Normal spans from another period."),
    baseline_logs: list[Path] | None = typer.Option(None, "--baseline-logs", help="Normal log lines from another period."),
    graph_format: str | None = typer.Option(None, "--graph-format", help="Force the topology format."),
    edges: str = typer.Option(
        "calls", "--edges", help="What the graph's arrows mean: 'calls' (A -> B: A calls B) or 'causal' (A causes B)."
    ),
    config: Path | None = typer.Option(None, "--config", help="JSON/YAML file with analysis configuration."),
    top_k: int | None = typer.Option(None, "--top", help="Number of causes to show."),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
    report: Path | None = typer.Option(None, "--report", help="Also write the incident report page (HTML) here."),
    tz: str | None = typer.Option(
        None, "--tz", help="IANA zone (Asia/Shanghai) of timestamps and --at/--end given without one; default UTC."
    ),
    prometheus: str | None = typer.Option(
        None, "--prometheus", help="Pull the metrics from this Prometheus (http://host:9090) instead of --metrics."
    ),
    catalog: Path | None = typer.Option(
        None, "--catalog", envvar="RCA_METRICS_CATALOG", help="Metrics catalog YAML for --prometheus (default: the bundled one)."
    ),
    entries: list[str] | None = typer.Option(
        None, "--entry", help="Catalog entry to pull (repeatable; default: all); each must select series."
    ),
    lookback: str = typer.Option("60m", "--lookback", help="With --prometheus: the baseline pulled before --at."),
    window: str = typer.Option("15m", "--window", help="With --prometheus and no --end: the incident window after --at."),
    step: float = typer.Option(15.0, "--step", help="With --prometheus: the smallest query step in seconds (your scrape interval)."),
) -> None:
    """Rank the probable root causes of an incident."""
    import rca
    import topology

    if fmt not in ("table", "json"):
        fail(f"--format must be 'table' or 'json', got {fmt!r}")
    try:
        g = topology.load(graph, format=graph_format, edges=edges)
        cfg: dict[str, Any] = read_config_file(config) if config is not None else {}
        rcfg = rca.RCAConfig.from_dict(cfg)
        if top_k is not None:
            rcfg = rcfg.replace(rank={"top_k": top_k})
        if tz is not None:
            rcfg = rcfg.replace(align={"timezone": tz})
        incident = rca.Incident.from_dict(
            {"service": service, "metric": metric, "start": at, "end": end}, timezone=rcfg.align.timezone
        )
        from rca.engine.ingest import read_metrics_file

        pulled = None
        if prometheus is not None:
            if metrics is not None:
                fail("give --metrics or --prometheus, not both")
            if baseline is not None:
                fail("--baseline reads a file; with --prometheus the baseline is the --lookback before --at")
            from rca.cli.prometheus_pull import pull_metrics

            pulled = pull_metrics(prometheus, g, incident, catalog=catalog, entries=entries or (), lookback=lookback,
                                  window=window, step=step, console=_err)  # fmt: skip
            _err.print(pulled.summary, markup=False, soft_wrap=True)
        elif metrics is None and not spans and not logs:
            fail("give --metrics, or --spans / --logs to analyze (or pull the metrics with --prometheus URL)")
        frame = pulled.frame if pulled is not None else read_metrics_file(metrics) if metrics is not None else None
        if report is not None and frame is None:
            fail("--report draws the metrics: give --metrics or --prometheus too")
        base = read_metrics_file(baseline, field="baseline") if baseline is not None else None
        evidence = {k: list(v) for k, v in (("spans", spans), ("logs", logs), ("baseline_spans", baseline_spans),
                                             ("baseline_logs", baseline_logs)) if v}
        result = rca.analyze(g, frame, incident, rcfg, baseline=base, **evidence)
        if pulled is not None and pulled.issues:  # empty catalog entries nobody named: said with the answer
            result = dataclasses.replace(result, issues=(*result.issues, *pulled.issues))
        if report is not None:
            from rca.views.report import write_report

            write_report(report, result, g, frame)
    except (RCAError, TopologyError) as exc:
        fail(str(exc))
    if fmt == "json":
        typer.echo(result.to_json(indent=2))
    else:
        print_result(result)
        if report is not None:
            _out.print(f"Report written to {report}")


@app.command("demo")
def demo_cmd(
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
    report: Path | None = typer.Option(None, "--report", help="Also write the incident report page (HTML) here."),
) -> None:
    """Analyze a small bundled incident and explain what the output shows."""
    import rca
    from rca.evaluation.datasets.synthetic import demo_case

    if fmt not in ("table", "json"):
        fail(f"--format must be 'table' or 'json', got {fmt!r}")
    case = demo_case()
    result = rca.analyze(case.graph, case.metrics, case.incident)
    if report is not None:
        from rca.views.report import write_report

        write_report(report, result, case.graph, case.metrics)
    if fmt == "json":
        typer.echo(result.to_json(indent=2))
        return
    _out.print(
        f"Demo: a {len(case.graph)}-service shop (frontend -> checkout -> payment, cart, catalog ...).\n"
        f"At {case.incident.start.strftime('%H:%M')}Z the frontend's latency rose. The engine compares every "
        "service's metrics with the hour before, tests Granger causality along the call graph, "
        "and ranks the services that best explain the symptom.\n"
    )
    print_result(result)
    _out.print(
        f"\nGround truth: the fault was injected in [bold]{', '.join(case.root_causes)}[/bold]. "
        "The path shows how it travelled up to the frontend; confidence is the probability that "
        "the explanation is right, calibrated on the benchmark's incidents.\nTry it on your data: rca analyze --graph topology.yaml "
        "--metrics metrics.csv --service frontend --metric latency --at 2024-05-01T13:00:00Z"
    )


