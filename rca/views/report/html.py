"""Render an :class:`~rca.engine.types.RCAResult` as a self-contained HTML page (a Jinja2 template, autoescaped)."""

from __future__ import annotations

import base64
import io
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

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

# The page's markup lives in templates/report.html.j2; autoescaping escapes every value put in it.
_TEMPLATES = Environment(
    loader=PackageLoader("rca.views.report", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)

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
    page = _TEMPLATES.get_template("report.html.j2").render(
        csp=Markup(_CSP),  # trusted constants: the only unescaped text on the page
        css=Markup(_CSS),
        title=title or f"Incident report: {inc.service} · {inc.metric}",
        result=result,
        inc=inc,
        top=result.top,
        confirmed=_confirmed(result, confirmed),
        facts=_facts(result),
        causes=[_cause_row(c) for c in result.causes],
        figures={
            "topology": _figure(
                "topology",
                lambda: _plot("plot_topology", result, graph, max_nodes=max_nodes),
                "The symptom (square, top) and its dependencies, one row per call hop; colour = anomaly score; "
                "ranked causes ringed in red with their rank; the thick red chain is the top cause's propagation path.",
            ),
            "metrics": _figure(
                "metrics",
                (lambda: _plot("plot_cause_metrics", result, metrics, top=top)) if metrics is not None else None,
                "Each cause's anomalous metrics (left) beside the symptom (right) on one time axis; incident window "
                "shaded orange, baseline blue; dashed = baseline median, dotted = anomaly onset.",
                missing="No metrics were given to the report, so there are no charts.",
            ),
            "granger": _figure(
                "granger",
                (lambda: _plot("plot_granger", result)) if result.granger else None,
                "Granger tests along call edges (callee series → caller series): colour = −log10 p, label = metric "
                "pair, lag, p and BH q-value; red outline = significant.",
                missing="No Granger tests were run for this analysis.",
            ),
        },
        issue_groups=_issue_groups(result),
        issue_total=len(result.issues),
        issues_shown=_ISSUES_SHOWN,
        version=__version__,
        time=_time,
        num=_num,
        pct=_pct,
    )
    return page


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


# -- pieces: plain values for the template (it escapes them) ------------------------------


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _confirmed(result: RCAResult, confirmed: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The confirmed root causes, and where the engine put them."""
    if not confirmed:
        return None
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
    return {"what": what, "how": how, "note": str(note) if note else None}


def _facts(result: RCAResult) -> list[tuple[str, str]]:
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
    return rows


def _cause_row(c: Cause) -> dict[str, Any]:
    return {
        "rank": c.rank,
        "service": c.service,
        "metric": c.metric,
        "bar": int(round(80 * _clamp01(c.confidence))),
        "confidence": _pct(c.confidence),
        "score": _num(c.score),
        "path": " → ".join(c.path),
        "evidence": _evidence(c),
    }


def _evidence(c: Cause) -> list[str]:
    ev = c.evidence
    items = [f"anomaly score {_num(ev.anomaly_score)} on {ev.anomaly_metric}, onset {_time(ev.onset)}"]
    items += [_anomaly_line(a) for a in ev.anomalous_metrics[:5]]
    items += [_granger_line(g) for g in ev.granger[:5]]
    if ev.rank_scores:
        items.append("rank scores: " + ", ".join(f"{k} {_num(v)}" for k, v in ev.rank_scores.items()))
    return items


def _anomaly_line(a: SeriesAnomaly) -> str:
    return f"{a.metric}: score {_num(a.score)}, baseline median {_num(a.baseline_median)} → {_num(a.incident_value)} ({a.direction})"


def _granger_line(g: GrangerTest) -> str:
    pair = f"Granger {g.cause_service}.{g.cause_metric} → {g.effect_service}.{g.effect_metric}"
    if g.p_value is None:
        return f"{pair}: skipped ({g.skipped or 'not run'})"
    q = "" if g.q_value is None else f", q {_num(g.q_value)}"
    sig = "significant" if g.significant else "not significant"
    return f"{pair}: lag {g.lag}, p {_num(g.p_value)}{q} ({sig})"


_ISSUES_SHOWN = 5  # per kind, before "n more"


def _issue_groups(result: RCAResult) -> list[tuple[str, list[Any]]]:
    """Data issues grouped by kind, largest group first: a count and the first few in view, every one a click away.

    Real data yields hundreds of them (a constant series, a gap each); a flat
    list would bury the analysis under them.
    """
    by_kind: dict[str, list[Any]] = {}
    for i in result.issues:
        by_kind.setdefault(i.kind, []).append(i)
    return sorted(by_kind.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def _figure(name: str, make: Callable[[], Figure] | None, caption: str, *, missing: str = "") -> dict[str, Any]:
    """A picture as base64 PNG, or why there is none."""
    out: dict[str, Any] = {"name": name, "png": None, "caption": caption, "missing": missing}
    if make is None:
        return out
    try:
        fig = make()
    except (ImportError, RCAError) as exc:
        # No matplotlib, or inputs that do not fit the picture (a graph without
        # the symptom...): the ranking is still worth a page.
        log.warning("report: no %s picture: %s", name, exc)
        out["missing"] = f"No {name} picture: {exc}"
        return out
    out["png"] = _png(fig)
    return out


def _plot(func: str, *args: Any, **kwargs: Any) -> Figure:
    import rca.views.plot

    return getattr(rca.views.plot, func)(*args, **kwargs)  # type: ignore[no-any-return]


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, facecolor="white")
    return base64.b64encode(buf.getvalue()).decode("ascii")


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
