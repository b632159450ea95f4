from __future__ import annotations

import json

from rca.integrations.alerts.messages import (
    NoteContext,
    render_text,
    signed_webhook,
    slack_message,
    webhook_body,
)
from rca.integrations.alerts.signatures import verify_outbound_signature


def result_dict() -> dict:
    def cause(rank: int, svc: str, conf: float, path: list[str]) -> dict:
        return {
            "rank": rank, "service": svc, "metric": "latency", "score": 0.9, "confidence": conf, "path": path,
            "evidence": {
                "anomaly_score": 41.25, "anomaly_metric": "latency", "onset": "2024-05-01T12:01:15+00:00",
                "anomalous_metrics": [{"service": svc, "metric": "latency", "score": 41.25, "z": 30.0, "direction": "up",
                                       "onset": "2024-05-01T12:01:15+00:00", "baseline_median": 0.004,
                                       "incident_value": 1.5, "baseline_points": 240}],
                "granger": [{"cause": {"service": svc, "metric": "latency"}, "effect": {"service": "cart", "metric": "latency"},
                             "lag": 1, "f_stat": 20.0, "p_value": 0.0001, "q_value": 0.0012, "significant": True,
                             "observations": 60, "differenced": False, "skipped": None}],
                "rank_scores": {},
            },
        }
    return {
        "incident": {"service": "frontend", "metric": "latency", "start": "2024-05-01T12:00:00+00:00", "end": None},
        "status": "found", "reason": "",
        "causes": [cause(1, "redis", 0.87, ["redis", "cart", "checkout", "frontend"]), cause(2, "cart", 0.4, ["cart", "checkout", "frontend"]),
                   cause(3, "checkout", 0.2, ["checkout", "frontend"]), cause(4, "frontend", 0.1, ["frontend"])],
    }


CTX = NoteContext(analysis_id=42, base_url="http://rca:8080/", alert_title="HighLatency", source="pagerduty")


def test_note_text_is_short_and_names_the_top_cause_first() -> None:
    text = render_text(result_dict(), CTX)
    lines = text.splitlines()
    assert lines[0] == "RCA: probable root cause of frontend latency (alert HighLatency)"
    assert lines[1] == "1. redis (latency), confidence 0.87"
    assert lines[2] == "   path: redis -> cart -> checkout -> frontend"
    assert lines[3] == "   evidence: latency 1.5 vs baseline 0.004 (score 41.2) from 12:01:15Z; Granger redis -> cart (q=0.0012)"
    assert "4. frontend" not in text  # top 3 only
    assert lines[-1] == "Full analysis: http://rca:8080/v1/analyses/42 (report: http://rca:8080/v1/analyses/42/report)"
    assert len(lines) == 11


def test_failed_and_empty_analyses_say_so() -> None:
    text = render_text(None, NoteContext(7, "http://rca", service="checkout", metric="latency"),
                       error="Prometheus at http://prom:9090 is unreachable")
    assert text.startswith("RCA: the analysis of checkout latency failed: Prometheus at http://prom:9090 is unreachable")
    empty = {**result_dict(), "status": "no_anomaly", "causes": [], "reason": "no series upstream is anomalous"}
    assert render_text(empty, CTX).startswith("RCA: no root cause named for frontend latency (alert HighLatency): no series")


def test_slack_message_shape() -> None:
    msg = slack_message(result_dict(), CTX)
    assert msg["text"].startswith("RCA: probable root cause")
    assert msg["blocks"][0]["type"] == "section" and "1. redis" in msg["blocks"][0]["text"]["text"]


def test_webhook_body_signed_and_verifiable() -> None:
    payload = webhook_body(result_dict(), CTX)
    assert payload["type"] == "rca.analysis.completed" and payload["top_cause"]["service"] == "redis"
    assert payload["links"]["report"].endswith("/v1/analyses/42/report")
    body, headers = signed_webhook(payload, "sekret", timestamp=1700000000)
    assert json.loads(body)["analysis_id"] == 42
    verify_outbound_signature(body, headers["X-RCA-Signature"], "sekret", now=1700000001)
    failed = webhook_body(None, CTX, error="Prometheus down")
    assert failed["type"] == "rca.analysis.failed" and failed["error"] == "Prometheus down" and failed["top_cause"] is None
    assert "X-RCA-Signature" not in signed_webhook(failed, None)[1]


def test_note_says_when_an_earlier_incident_left_the_baseline() -> None:
    res = {
        **result_dict(),
        "issues": [
            {"kind": "constant", "message": "cart/cpu: constant", "service": "cart", "metric": "cpu"},
            {"kind": "baseline_incident", "message": "frontend/latency was itself beyond 5 robust deviations at 11:20–11:25",
             "service": "frontend", "metric": "latency"},
        ],
    }
    lines = render_text(res, CTX).splitlines()
    assert lines[-2] == "Baseline: frontend/latency was itself beyond 5 robust deviations at 11:20–11:25"
    assert not any("constant" in line for line in lines)  # other data notes stay in the full analysis


def test_note_passes_on_the_hint_about_a_graph_read_the_wrong_way_round() -> None:
    hint = "frontend calls no other service in the topology, ... load it with edges='causal'"
    res = {
        **result_dict(),
        "status": "no_anomaly",
        "causes": [],
        "reason": "Nothing anomalous upstream of frontend",
        "issues": [{"kind": "symptom_calls_nothing", "message": hint, "service": "frontend", "metric": None}],
    }
    lines = render_text(res, CTX).splitlines()
    assert lines[0].startswith("RCA: no root cause named for") and f"Topology: {hint}" in lines
