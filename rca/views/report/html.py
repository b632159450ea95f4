"""Render an :class:`~rca.engine.types.RCAResult` as a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from rca.engine.errors import InvalidInputError, RCAError
from rca.engine.types import (
    HEADLINE_ISSUES,
    Cause,
    GrangerTest,
    RCAResult,
    SeriesAnomaly,
)
from rca.engine.version import __version__
from topology import ServiceGraph

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["render_report", "write_report", "REPORT_MEDIA_TYPE"]

log = logging.getLogger(__name__)

REPORT_MEDIA_TYPE = "text/html; charset=utf-8"

# Nothing may be fetched: images are data: URIs, styles are inline.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#212121;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:1.5rem;margin:0 0 4px}
h2{font-size:1.15rem;margin:28px 0 8px;border-bottom:1px solid #e0e0e0;padding-bottom:4px}
.sub{color:#616161;margin:0 0 16px}
.verdict{background:#fff;border-left:6px solid #b2182b;padding:14px 18px;margin:12px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.verdict.none{border-left-color:#2166ac}
.confirmed{background:#fff;border-left:6px solid #1a9850;padding:10px 18px;margin:12px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.confirmed .note{color:#555;margin-top:4px}
.verdict .big{font-size:1.35rem;font-weight:600}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:8px 0}
dl.facts dt{color:#616161}dl.facts dd{margin:0}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.92rem;table-layout:fixed}
td{overflow-wrap:anywhere;word-break:break-word}
col.n{width:2.5em}col.svc{width:17%}col.met{width:9%}col.conf{width:11%}col.score{width:6%}col.path{width:20%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f5f5f5}
.bar{display:inline-block;height:10px;background:#b2182b;border-radius:2px;vertical-align:middle;margin-right:6px}
.path{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.85rem}
.evidence{font-size:.85rem;color:#424242}
.evidence ul{margin:2px 0 0 16px;padding:0}
figure{margin:12px 0;background:#fff;padding:8px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:.85rem;color:#616161;margin-top:6px}
.note{color:#757575;font-style:italic}
.issues li{margin:2px 0}
footer{color:#9e9e9e;font-size:.8rem;margin-top:32px}
"""


def render_report(
    result: RCAResult,
    graph: ServiceGraph,
    metrics: pd.DataFrame | None = None,
    *,
    top: int = 3,
    max_nodes: int = 50,
    title: str | None = None,
    confirmed: Mapping[str, Any] | None = None,
) -> str:
    """Render the incident report of one analysis as a self-contained HTML page.

    Parameters
    ----------
    result : RCAResult
        The analysis (from :func:`rca.analyze`).
    graph : ServiceGraph
        The graph it was computed on (for the topology picture).
    metrics : pandas.DataFrame, optional
        The long metrics table it was computed on; without it the page has no
        metric charts (and says so).
    top : int
        Causes whose metrics are charted.
    max_nodes : int
        Largest number of services in the topology picture.
    title : str, optional
        Page title; default ``"Incident report: <service> · <metric>"``.
    confirmed : mapping, optional
        What the incident turned out to be (an analysis' verdict:
        ``{"root_causes": [...], "note": ...}``), shown beside the engine's
        answer with the rank the engine gave it.

    Returns
    -------
    str
        The HTML document.  Every name from the data is escaped; pictures are
        base64 PNG; nothing is loaded from the network.  Pictures need
        matplotlib (``rca-engine[plot]``); without it the page says so.

    Examples
    --------
    >>> html = render_report(result, graph, metrics)  # doctest: +SKIP
    >>> html.startswith("<!DOCTYPE html>")  # doctest: +SKIP
    True
    """
    if not isinstance(result, RCAResult):
        raise TypeError(f"result must be an RCAResult (from rca.analyze), got {type(result).__name__}")
    if not isinstance(graph, ServiceGraph):
        raise TypeError(f"graph must be a topology.ServiceGraph, got {type(graph).__name__}")
    inc = result.incident
    e = _esc
    page_title = title or f"Incident report: {inc.service} · {inc.metric}"

    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{e(page_title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body><main>",
        f"<h1>{e(page_title)}</h1>",
        f'<p class="sub">{e(inc.service)} · {e(inc.metric)} went bad at {e(_time(inc.start))}</p>',
        _verdict(result),
        _confirmed(result, confirmed),
        _facts(result),
        "<h2>Ranked causes</h2>",
        _causes_table(result),
        "<h2>Topology</h2>",
        _figure(
            "topology",
            lambda: _plot("plot_topology", result, graph, max_nodes=max_nodes),
            "The symptom (square, top) and its dependencies, one row per call hop; colour = anomaly score; "
            "ranked causes ringed in red with their rank; the thick red chain is the top cause's propagation path.",
        ),
        "<h2>Metrics of the top causes</h2>",
        _figure(
            "metrics",
            (lambda: _plot("plot_cause_metrics", result, metrics, top=top)) if metrics is not None else None,
            "Each cause's anomalous metrics (left) beside the symptom (right) on one time axis; incident window "
            "shaded orange, baseline blue; dashed = baseline median, dotted = anomaly onset.",
            missing="No metrics were given to the report, so there are no charts.",
        ),
        "<h2>Granger evidence</h2>",
        _figure(
            "granger",
            (lambda: _plot("plot_granger", result)) if result.granger else None,
            "Granger tests along call edges (callee series → caller series): colour = −log10 p, label = metric "
            "pair, lag, p and BH q-value; red outline = significant.",
            missing="No Granger tests were run for this analysis.",
        ),
        _issues(result),
        f"<footer>rca-engine {e(result.engine_version or __version__)} · analysis window "
        f"{e(_time(result.window[0]))} – {e(_time(result.window[1]))} · step {e(_num(result.step_seconds))} s</footer>",
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def write_report(
    path: str | Path,
    result: RCAResult,
    graph: ServiceGraph,
    metrics: pd.DataFrame | None = None,
    **options: Any,
) -> Path:
    """Write :func:`render_report`'s page to ``path`` (UTF-8) and return the path.

    Raises
    ------
    InvalidInputError
        When the file cannot be written (``field="report"``); the message says why.
    """
    target = Path(path)
    page = render_report(result, graph, metrics, **options)
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write the report to {str(target)!r}: {exc.strerror or exc}; "
            "check that the folder exists and is writable",
            field="report",
        ) from None
    return target


# -- pieces ---------------------------------------------------------------------------


def _verdict(result: RCAResult) -> str:
    e = _esc
    top = result.top
    if top is None:
        reason = result.reason or "no root cause named"
        return (
            '<section class="verdict none" id="verdict"><div class="big">No root cause found</div>'
            f"<div>{e(reason)}</div>{_null_line(result)}</section>"
        )
    path = " → ".join(top.path) if top.path else top.service
    return (
        '<section class="verdict" id="verdict">'
        f'<div>Most probable root cause</div><div class="big" id="top-cause">{e(top.service)}</div>'
        f"<div>metric <b>{e(top.metric)}</b> · confidence <b>{e(_pct(top.confidence))}</b> · "
        f"score {e(_num(top.score))} · onset {e(_time(top.evidence.onset))}</div>"
        f'<div class="path">propagation: {e(path)}</div>{_null_line(result)}</section>'
    )


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _confirmed(result: RCAResult, confirmed: Mapping[str, Any] | None) -> str:
    """The confirmed root causes, and where the engine put them."""
    if not confirmed:
        return ""
    e = _esc
    causes = [str(c) for c in confirmed.get("root_causes") or ()]
    named = [c.service for c in result.causes]
    if causes:
        found = [(c, named.index(c) + 1) for c in causes if c in named]
        what = ", ".join(causes)
        if found:
            how = "; ".join(f"the engine ranked {c} {_ordinal(k)}" for c, k in found)
        else:
            how = "the engine did not name it" if len(causes) == 1 else "the engine named none of them"
    else:
        what = "none (a false alarm)"
        how = "the engine named no cause either" if not named else f"the engine named {named[0]}"
    note = confirmed.get("note")
    return (
        '<section class="confirmed" id="confirmed">'
        f"<div>Confirmed root cause: <b>{e(what)}</b> · {e(how)}</div>"
        + (f'<div class="note">{e(str(note))}</div>' if note else "")
        + "</section>"
    )


def _null_line(result: RCAResult) -> str:
    if result.no_cause_probability is None:
        return ""
    return f'<div id="no-cause">probability of no root cause (noise): {_esc(_pct(result.no_cause_probability))}</div>'


def _facts(result: RCAResult) -> str:
    e = _esc
    inc = result.incident
    rows = [
        ("Symptom", f"{inc.service} · {inc.metric}"),
        ("Incident start", _time(inc.start)),
        ("Incident end", _time(inc.end) if inc.end is not None else "open (end of data)"),
        ("Analysis window", f"{_time(result.window[0])} – {_time(result.window[1])}"),
        (
            "Baseline window",
            "—" if result.baseline_window is None
            else f"{_time(result.baseline_window[0])} – {_time(result.baseline_window[1])}",
        ),
        ("Status", result.status + (f": {result.reason}" if result.reason else "")),
    ]
    if result.symptom is not None:
        s = result.symptom
        rows.append(
            ("Symptom anomaly", f"score {_num(s.score)} · baseline median {_num(s.baseline_median)} → "
             f"{_num(s.incident_value)} ({s.direction})")
        )
    rows.append(("Series scored", str(len(result.anomalies))))
    labels = {**HEADLINE_ISSUES, "baseline_incident": "Left out of the baseline"}
    rows += [(labels[i.kind], i.message) for i in result.issues if i.kind in labels]
    body = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in rows)
    return f'<dl class="facts" id="summary">{body}</dl>'


def _causes_table(result: RCAResult) -> str:
    e = _esc
    if not result.causes:
        return '<p class="note">No cause was ranked.</p>'
    head = (
        '<colgroup><col class="n"><col class="svc"><col class="met"><col class="conf"><col class="score">'
        '<col class="path"><col></colgroup>'
        "<tr><th>#</th><th>Service</th><th>Metric</th><th>Confidence</th><th>Score</th>"
        "<th>Propagation path</th><th>Evidence</th></tr>"
    )
    rows = []
    for c in result.causes:
        width = int(round(80 * _clamp01(c.confidence)))
        rows.append(
            f'<tr class="cause" data-rank="{c.rank}"><td>{c.rank}</td><td><b>{e(c.service)}</b></td>'
            f"<td>{e(c.metric)}</td>"
            f'<td><span class="bar" style="width:{width}px"></span>{e(_pct(c.confidence))}</td>'
            f"<td>{e(_num(c.score))}</td>"
            f'<td class="path">{e(" → ".join(c.path))}</td>'
            f'<td class="evidence">{_evidence(c)}</td></tr>'
        )
    return f'<table id="causes">{head}{"".join(rows)}</table>'


def _evidence(c: Cause) -> str:
    e = _esc
    ev = c.evidence
    items = [f"anomaly score {e(_num(ev.anomaly_score))} on {e(ev.anomaly_metric)}, onset {e(_time(ev.onset))}"]
    for a in ev.anomalous_metrics[:5]:
        items.append(_anomaly_line(a))
    for g in ev.granger[:5]:
        items.append(_granger_line(g))
    if ev.rank_scores:
        scores = ", ".join(f"{k} {_num(v)}" for k, v in ev.rank_scores.items())
        items.append(f"rank scores: {e(scores)}")
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _anomaly_line(a: SeriesAnomaly) -> str:
    e = _esc
    return (
        f"{e(a.metric)}: score {e(_num(a.score))}, baseline median {e(_num(a.baseline_median))} → "
        f"{e(_num(a.incident_value))} ({e(a.direction)})"
    )


def _granger_line(g: GrangerTest) -> str:
    e = _esc
    pair = f"Granger {g.cause_service}.{g.cause_metric} → {g.effect_service}.{g.effect_metric}"
    if g.p_value is None:
        return f"{e(pair)}: skipped ({e(g.skipped or 'not run')})"
    q = "" if g.q_value is None else f", q {_num(g.q_value)}"
    sig = "significant" if g.significant else "not significant"
    return f"{e(pair)}: lag {e(g.lag)}, p {e(_num(g.p_value))}{e(q)} ({sig})"


_ISSUES_SHOWN = 5  # per kind, before "n more"


def _issues(result: RCAResult) -> str:
    """Data issues grouped by kind: a count and the first few in view, every one a click away.

    Real data yields hundreds of them (a constant series, a gap each); a flat
    list would bury the analysis under them.
    """
    e = _esc
    if not result.issues:
        return ""
    by_kind: dict[str, list] = {}
    for i in result.issues:
        by_kind.setdefault(i.kind, []).append(i)

    def item(i) -> str:
        where = f" [{e(i.service)}{'.' + e(i.metric) if i.metric else ''}]" if i.service else ""
        return f"<li><b>{e(i.kind)}</b>{where}: {e(i.message)}</li>"

    groups = []
    for kind, items in sorted(by_kind.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shown = "".join(item(i) for i in items[:_ISSUES_SHOWN])
        rest = items[_ISSUES_SHOWN:]
        more = (
            f"<details><summary>{len(rest)} more</summary><ul>{''.join(item(i) for i in rest)}</ul></details>"
            if rest else ""
        )
        groups.append(f"<li><b>{e(kind)}</b> ({len(items)})<ul>{shown}</ul>{more}</li>")
    total = len(result.issues)
    return (
        f'<h2>Data issues ({total})</h2><ul class="issues" id="issues">{"".join(groups)}</ul>'
    )


def _figure(name: str, make: Callable[[], Figure] | None, caption: str, *, missing: str = "") -> str:
    e = _esc
    if make is None:
        return f'<p class="note" id="{name}-missing">{e(missing)}</p>'
    try:
        fig = make()
    except (ImportError, RCAError) as exc:
        # No matplotlib, or inputs that do not fit the picture (a graph without
        # the symptom...): the ranking is still worth a page.
        log.warning("report: no %s picture: %s", name, exc)
        return f'<p class="note" id="{name}-missing">No {e(name)} picture: {e(str(exc))}</p>'
    data = _png(fig)
    return (
        f'<figure id="{name}"><img src="data:image/png;base64,{data}" alt="{e(name)} chart">'
        f"<figcaption>{e(caption)}</figcaption></figure>"
    )


def _plot(func: str, *args: Any, **kwargs: Any) -> Figure:
    import rca.views.plot

    return getattr(rca.views.plot, func)(*args, **kwargs)  # type: ignore[no-any-return]


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, facecolor="white")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _time(ts: pd.Timestamp | None) -> str:
    if ts is None:
        return "—"
    ts = pd.Timestamp(ts)
    ts = ts.tz_convert("UTC") if ts.tzinfo is not None else ts
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(x: object) -> str:
    if x is None:
        return "—"
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "—"
    return f"{v:.3g}" if (v == 0 or 1e-3 <= abs(v) < 1e4) else f"{v:.2e}"


def _clamp01(x: float | None) -> float:
    if x is None:
        return 0.0
    v = float(x)
    return min(1.0, max(0.0, v)) if math.isfinite(v) else 0.0


def _pct(x: float | None) -> str:
    if x is None or not math.isfinite(float(x)):
        return "—"
    return f"{float(x):.0%}"
