"""``rca analyze --prometheus URL``: an incident's metrics pulled the way the service pulls them.

The same connector as the alert analyses of ``rca serve``
(:class:`~rca.sources.prometheus.PrometheusClient`,
:func:`~rca.sources.prometheus.fetch_metrics` over a
:mod:`metrics catalog <rca.sources.catalog>`): the symptom and everything it
depends on, ``--lookback`` before ``--at`` to ``--end`` (or ``--at`` +
``--window``, at most now), one query per catalog entry.  Every mistake is an
:class:`~rca.engine.errors.InvalidInputError` whose message starts with the
option to fix; an entry the user asked for (``--metric``, ``--entry``) that
selects no series is one of them, the other empty entries of the catalog are
``catalog_no_series`` issues of the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console

from rca.engine.errors import InvalidInputError, RCAError
from rca.engine.types import DataIssue, Incident
from topology import ServiceGraph

__all__ = ["PulledMetrics", "pull_metrics"]

NEEDS = 'pip install "rca-engine[prometheus]" (from a checkout: pip install ".[prometheus]")'


@dataclass(frozen=True)
class PulledMetrics:
    """The long frame of the pull and the issues it found (empty catalog entries nobody asked for by name)."""

    frame: pd.DataFrame
    issues: tuple[DataIssue, ...]
    summary: str


def _bad(option: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"{option}: {message}", field=option)


def pull_metrics(
    url: str,
    graph: ServiceGraph,
    incident: Incident,
    *,
    catalog: Path | None = None,
    entries: Sequence[str] = (),
    lookback: str = "60m",
    window: str = "15m",
    step: float = 15.0,
    timeout: float = 30.0,
    console: Console | None = None,
) -> PulledMetrics:
    """Pull what an analysis of ``incident`` needs from the Prometheus at ``url`` (see the module docstring)."""
    try:
        import httpx

        from rca.sources.catalog import load_catalog
        from rca.sources.prometheus import (
            PrometheusClient,
            PrometheusError,
            _duration,
            fetch_metrics,
        )
    except ImportError as exc:
        raise _bad("--prometheus", f"pulling from Prometheus needs {exc.name}; install it with: {NEEDS}") from None

    try:
        cat = load_catalog(catalog)
    except RCAError as exc:
        raise _bad("--catalog", str(exc)) from None
    for option, names in (("--metric", [incident.metric]), ("--entry", list(entries))):
        for name in names:
            try:
                cat.entry(name)
            except RCAError as exc:
                raise _bad(option, str(exc)) from None
    if incident.service not in graph:
        raise _bad("--service", f"{incident.service!r} is not in the topology ({len(graph)} services)")
    if not step > 0:
        raise _bad("--step", f"must be positive seconds (your scrape interval), got {step:g}")
    back = _duration(lookback, "--lookback")
    end = incident.end
    if end is None:
        end = min(incident.start + _duration(window, "--window"), pd.Timestamp.now(tz="UTC").floor("s"))
    if end <= incident.start:
        raise _bad("--at", f"{incident.start.isoformat()} is not before the end of the window {end.isoformat()}")
    asked = {incident.metric: "--metric", **{e: "--entry" for e in entries if e != incident.metric}}
    names = list(dict.fromkeys([incident.metric, *(entries or cat.metrics)]))

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    out = console or Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=out,
                  transient=True, disable=not out.is_terminal) as bar:  # fmt: skip
        task = bar.add_task("pulling from Prometheus", total=len(names))
        done = iter(range(len(names) + 1))

        def advance(metric: str) -> None:
            bar.update(task, completed=next(done), description=f"pulling {metric}")

        try:
            with PrometheusClient(url, timeout=timeout, configured_by="--prometheus") as prom:
                frame = fetch_metrics(prom, cat, graph, incident.service, incident.start, end, back, None,
                                      metrics=names, min_step=step, on_query=advance)  # fmt: skip
        except (PrometheusError, httpx.InvalidURL) as exc:
            raise _bad("--prometheus", str(exc)) from None
    issues = tuple(frame.attrs.get("issues", ()))
    for issue in issues:
        if issue.metric in asked:
            option = asked[issue.metric]
            raise _bad(f"{option} {issue.metric}", issue.message)
    t0, t1 = frame.attrs["window"]
    summary = (
        f"Pulled {frame.groupby(['service', 'metric']).ngroups} series ({len(frame)} points) of {len(names)} catalog "
        f"entries from {url} between {t0} and {t1}, step {frame.attrs['step_seconds']:g} s"
    )
    return PulledMetrics(frame, tuple(i for i in issues if i.metric not in asked), summary)
