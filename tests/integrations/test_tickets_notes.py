"""What lands in the ticket: the ServiceNow note, the Jira ADF comment, the write-back targets."""

from __future__ import annotations

import json
from types import SimpleNamespace

from tickets_receiver import adf_problem

import rca
from rca.evaluation.datasets.synthetic import demo_case
from rca.integrations.alerts.messages import NoteContext
from rca.integrations.tickets.notes import jira_comment_adf, servicenow_work_note
from rca.integrations.tickets.writeback import ticket_delivery

CTX = NoteContext(analysis_id="a1b2", base_url="http://rca:8080", service="frontend", metric="latency",
                  alert_title="SUP-12 Checkout is slow", source="jira")


def _result() -> dict:
    case = demo_case()
    return rca.analyze(case.graph, case.metrics, case.incident).to_dict()


def test_the_adf_comment_is_valid_adf_with_the_ranked_causes_and_links() -> None:
    res = _result()
    doc = jira_comment_adf(res, CTX)
    assert adf_problem(doc) is None
    [ranked] = [n for n in doc["content"] if n["type"] == "orderedList"]
    assert len(ranked["content"]) == min(3, len(res["causes"]))
    first = json.dumps(ranked["content"][0])
    assert f'"{res["causes"][0]["service"]} ({res["causes"][0]["metric"]})"' in first and "confidence" in first
    hrefs = [m["attrs"]["href"] for t in doc["content"][-1]["content"] for m in t.get("marks", []) if m["type"] == "link"]
    assert hrefs == ["http://rca:8080/v1/analyses/a1b2", "http://rca:8080/v1/analyses/a1b2/report"]


def test_failed_and_no_cause_comments() -> None:
    failed = jira_comment_adf(None, CTX, error="prometheus_unavailable: down")
    assert adf_problem(failed) is None and "failed" in json.dumps(failed) and "down" in json.dumps(failed)
    none = jira_comment_adf({"status": "no_root_cause", "reason": "nothing anomalous upstream", "causes": []}, CTX)
    assert adf_problem(none) is None and "nothing anomalous upstream" in json.dumps(none)
    text = servicenow_work_note(None, CTX, error="no_metrics: none")
    assert text.startswith("RCA: the analysis of frontend latency (alert SUP-12 Checkout is slow) failed: no_metrics")


def test_write_back_targets_and_skips() -> None:
    st = SimpleNamespace(servicenow_instance_url="https://acme.service-now.com/", servicenow_table="incident",
                         jira_base_url="https://acme.atlassian.net")
    url, payload = ticket_delivery(st, "servicenow_work_note", "9d38" * 8, CTX, None, "x")
    assert url == f"https://acme.service-now.com/api/now/table/incident/{'9d38' * 8}"
    assert set(payload["body"]) == {"work_notes"} and "element_id%3D9d38" in payload["check_url"]
    url, payload = ticket_delivery(st, "jira_comment", "SUP-12", CTX, None, "x")
    assert url == "https://acme.atlassian.net/rest/api/3/issue/SUP-12/comment" and payload["body"]["body"]["type"] == "doc"
    st.jira_base_url = None
    assert ticket_delivery(st, "jira_comment", "SUP-12", CTX, None, "x") == "jira_comment: RCA_JIRA_BASE_URL is not set"
    assert "no ticket id" in ticket_delivery(st, "servicenow_work_note", None, CTX, None, "x")
