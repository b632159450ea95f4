"""What we write back: a short note, a Slack message, a signed generic webhook.

All take the result in its ``RCAResult.to_dict()`` form (what the service
stores) or an :class:`~rca.engine.types.RCAResult`, or ``None`` with an ``error``
when the analysis failed (e.g. Prometheus was down): the receiver is told so
instead of hearing nothing.

Example note::

    RCA: probable root cause of checkout latency (alert HighLatency)
    1. redis (latency), confidence 0.87
       path: redis -> cart -> checkout
       evidence: latency 1.5 vs baseline 0.004 (score 41.2) from 12:01:15Z; Granger redis -> cart (q=0.001)
    2. ...
    Full analysis: http://rca:8080/v1/analyses/42 (report: http://rca:8080/v1/analyses/42/report)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rca.engine.types import HEADLINE_ISSUES, RCAResult
from rca.integrations.alerts.signatures import OUTBOUND_SIGNATURE_HEADER, sign_outbound

__all__ = ["NoteContext", "analysis_links", "confidence_lines", "render_text", "signed_webhook", "slack_message", "webhook_body"]


@dataclass(frozen=True)
class NoteContext:
    """What the message is about, beyond the result itself."""

    analysis_id: str | int
    base_url: str = ""
    service: str | None = None
    metric: str | None = None
    alert_title: str | None = None
    source: str | None = None


def analysis_links(ctx: NoteContext) -> tuple[str, str]:
    """URLs of the full analysis and of its report."""
    base = ctx.base_url.rstrip("/")
    url = f"{base}/v1/analyses/{ctx.analysis_id}"
    return url, f"{url}/report"


def _as_dict(result: RCAResult | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if result is None or isinstance(result, Mapping):
        return result
    return result.to_dict()


def _num(x: Any, fmt: str = ".3g") -> str:
    return "?" if x is None else format(float(x), fmt)


def _hhmmss(iso: str | None) -> str | None:
    if not iso:
        return None
    t = iso.split("T")[-1]
    return t[:8] + "Z" if t[8:].startswith(("+00:00", ".", "Z")) or len(t) == 8 else t


def _evidence_line(cause: Mapping[str, Any]) -> str:
    ev = cause.get("evidence") or {}
    metric = ev.get("anomaly_metric") or cause.get("metric") or "?"
    parts = []
    am = next((a for a in ev.get("anomalous_metrics") or [] if a.get("metric") == metric), None)
    if am is not None:
        parts.append(
            f"{metric} {_num(am.get('incident_value'))} vs baseline {_num(am.get('baseline_median'))} "
            f"(score {_num(ev.get('anomaly_score'))})"
        )
    else:
        parts.append(f"{metric} anomaly score {_num(ev.get('anomaly_score'))}")
    onset = _hhmmss(ev.get("onset"))
    if onset:
        parts[-1] += f" from {onset}"
    sig = [g for g in ev.get("granger") or [] if g.get("significant")]
    if sig:
        g = min(sig, key=lambda g: g.get("q_value") if g.get("q_value") is not None else 1.0)
        parts.append(f"Granger {g['cause']['service']} -> {g['effect']['service']} (q={_num(g.get('q_value'), '.2g')})")
    return "; ".join(parts)


def _headline(res: Mapping[str, Any] | None, ctx: NoteContext) -> str:
    inc = (res or {}).get("incident") or {}
    svc = ctx.service or inc.get("service") or "?"
    metric = ctx.metric or inc.get("metric") or "?"
    alert = f" (alert {ctx.alert_title})" if ctx.alert_title else ""
    return f"{svc} {metric}{alert}"


def render_text(
    result: RCAResult | Mapping[str, Any] | None, ctx: NoteContext, *, error: str | None = None, max_causes: int = 3
) -> str:
    """The plain-text note: top causes with confidence, path, one evidence line each, links."""
    res = _as_dict(result)
    url, report = analysis_links(ctx)
    lines: list[str]
    if res is None or error:
        lines = [
            f"RCA: the analysis of {_headline(res, ctx)} failed: {error or 'no result'}",
        ]
    elif res.get("status") != "found" or not res.get("causes"):
        lines = [f"RCA: no root cause named for {_headline(res, ctx)}: {res.get('reason') or 'no cause found'}"]
    else:
        lines = [f"RCA: probable root cause of {_headline(res, ctx)}"]
        for c in list(res["causes"])[:max_causes]:
            lines.append(f"{c.get('rank')}. {c.get('service')} ({c.get('metric')}), confidence {_num(c.get('confidence'), '.2f')}")
            path = c.get("path") or []
            if len(path) > 1:
                lines.append("   path: " + " -> ".join(path))
            lines.append("   evidence: " + _evidence_line(c))
        lines += confidence_lines(res)
    if res is not None and not error:
        if res.get("no_cause_probability") is not None:
            lines.append(f"Probability of no root cause (noise): {_num(res['no_cause_probability'], '.2f')}")
        # An earlier incident left out of "normal", a graph read the wrong way round...: say so.
        lines += [
            f"{HEADLINE_ISSUES[i.get('kind')]}: {i.get('message')}" for i in res.get("issues") or () if i.get("kind") in HEADLINE_ISSUES
        ]
    lines.append(f"Full analysis: {url} (report: {report})")
    return "\n".join(lines)


def confidence_lines(res: Mapping[str, Any]) -> list[str]:
    """What the first cause's confidence means, and what makes the answer weak (nothing for older results)."""
    basis = res.get("confidence") or {}
    out = []
    if basis.get("meaning"):
        out.append(f"Confidence {_num(basis.get('value'), '.2f')}: {basis['meaning']}.")
    if basis.get("weak"):
        out.append("Weak evidence: " + "; ".join(str(w) for w in basis["weak"]) + ".")
    return out


def slack_message(result: RCAResult | Mapping[str, Any] | None, ctx: NoteContext, *, error: str | None = None) -> dict[str, Any]:
    """A Slack incoming-webhook message (``text`` fallback plus one mrkdwn section)."""
    text = render_text(result, ctx, error=error)
    first, _, rest = text.partition("\n")
    return {
        "text": first,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{first}*\n```{rest}```" if rest else f"*{first}*"}}
        ],
    }


def webhook_body(result: RCAResult | Mapping[str, Any] | None, ctx: NoteContext, *, error: str | None = None) -> dict[str, Any]:
    """The generic webhook JSON: summary text, links, and the full result."""
    res = _as_dict(result)
    url, report = analysis_links(ctx)
    top = ((res or {}).get("causes") or [None])[0]
    return {
        "type": "rca.analysis.failed" if res is None or error else "rca.analysis.completed",
        "analysis_id": ctx.analysis_id,
        "source": ctx.source,
        "service": ctx.service,
        "metric": ctx.metric,
        "status": "failed" if res is None or error else res.get("status"),
        "error": error,
        "top_cause": None if top is None else {k: top.get(k) for k in ("service", "metric", "confidence", "path")},
        "text": render_text(res, ctx, error=error),
        "links": {"analysis": url, "report": report},
        "result": res,
    }


def signed_webhook(payload: Mapping[str, Any], secret: str | None, *, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Serialize ``payload`` and sign it: ``(body, headers)`` with ``X-RCA-Signature`` when a secret is set."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[OUTBOUND_SIGNATURE_HEADER] = sign_outbound(body, secret, timestamp=timestamp)
    return body, headers
