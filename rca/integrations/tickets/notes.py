"""What lands in the ticket: a ServiceNow work note (plain text) and a Jira comment (Atlassian Document Format).

The ServiceNow note is the plain-text note of :func:`rca.integrations.alerts.messages.render_text`.
The Jira comment carries the same content as ADF nodes (``doc`` > ``paragraph`` /
``orderedList`` > ``listItem``, ``text`` with ``strong``/``code``/``link`` marks), the node
types Jira Cloud's REST API v3 accepts in a comment body
(https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/).

Both carry the analysis URL ``.../v1/analyses/<id>``: the outbox looks for it before a retry
so a note that did land before a timeout is not written twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rca.engine.types import RCAResult
from rca.integrations.alerts.messages import (
    NoteContext,
    _as_dict,
    _evidence_line,
    _headline,
    _num,
    analysis_links,
    confidence_lines,
    render_text,
)

__all__ = ["servicenow_work_note", "jira_comment_adf", "note_marker"]


def note_marker(ctx: NoteContext) -> str:
    """The string that identifies our note in the ticket: the path of the analysis URL."""
    return f"/v1/analyses/{ctx.analysis_id}"


def servicenow_work_note(result: RCAResult | Mapping[str, Any] | None, ctx: NoteContext, *, error: str | None = None) -> str:
    """The work note text (ServiceNow shows journal text as written, line breaks kept)."""
    return render_text(result, ctx, error=error)


def _text(text: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return node


def _para(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(nodes)}


def jira_comment_adf(
    result: RCAResult | Mapping[str, Any] | None, ctx: NoteContext, *, error: str | None = None, max_causes: int = 3
) -> dict[str, Any]:
    """The comment body: headline, the ranked causes as an ordered list (confidence, path, evidence), links."""
    res = _as_dict(result)
    url, report = analysis_links(ctx)
    content: list[dict[str, Any]] = []
    if res is None or error:
        content.append(_para(_text(f"RCA: the analysis of {_headline(res, ctx)} failed: ", {"type": "strong"}),
                             _text(error or "no result")))
    elif res.get("status") != "found" or not res.get("causes"):
        content.append(_para(_text(f"RCA: no root cause named for {_headline(res, ctx)}: ", {"type": "strong"}),
                             _text(str(res.get("reason") or "no cause found"))))
    else:
        content.append(_para(_text(f"RCA: probable root cause of {_headline(res, ctx)}", {"type": "strong"})))
        items = []
        for c in list(res["causes"])[:max_causes]:
            paras = [_para(_text(f"{c.get('service')} ({c.get('metric')})", {"type": "strong"}),
                           _text(f", confidence {_num(c.get('confidence'), '.2f')}"))]
            path = c.get("path") or []
            if len(path) > 1:
                paras.append(_para(_text("path: "), _text(" -> ".join(path), {"type": "code"})))
            paras.append(_para(_text("evidence: " + _evidence_line(c))))
            items.append({"type": "listItem", "content": paras})
        content.append({"type": "orderedList", "content": items})
        content += [_para(_text(line)) for line in confidence_lines(res)]
        if res.get("no_cause_probability") is not None:
            content.append(_para(_text(f"Probability of no root cause (noise): {_num(res['no_cause_probability'], '.2f')}")))
    content.append(_para(_text("Full analysis: "), _text(url, {"type": "link", "attrs": {"href": url}}),
                         _text(" (report: "), _text(report, {"type": "link", "attrs": {"href": report}}), _text(")")))
    return {"type": "doc", "version": 1, "content": content}
