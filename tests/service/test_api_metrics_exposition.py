"""``/metrics`` comes from prometheus_client with the series names it always had."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from rca.service.metrics import Registry

SERIES = {
    "rca_http_requests_total", "rca_http_request_duration_seconds_bucket", "rca_http_request_duration_seconds_sum",
    "rca_http_request_duration_seconds_count", "rca_analyses", "rca_analyses_finished_total",
    "rca_analysis_duration_seconds_bucket", "rca_analysis_duration_seconds_sum", "rca_analysis_duration_seconds_count",
}  # fmt: skip


def test_series_names_types_and_values() -> None:
    reg = Registry()
    reg.observe_request("POST", "/v1/analyses", 201, 0.2)
    reg.observe_request("POST", "/v1/analyses", 201, 0.03)
    reg.observe_analysis("succeeded", 1.5)
    text = reg.render({"succeeded": 4, "queued": 1})
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert {name for name, _ in samples} == SERIES
    assert {n: f.type for n, f in families.items()} == {
        "rca_http_requests": "counter", "rca_http_request_duration_seconds": "histogram", "rca_analyses": "gauge",
        "rca_analyses_finished": "counter", "rca_analysis_duration_seconds": "histogram",
    }  # fmt: skip
    assert samples[("rca_http_requests_total", (("method", "POST"), ("route", "/v1/analyses"), ("status", "201")))] == 2
    assert samples[("rca_http_request_duration_seconds_bucket", (("le", "0.05"), ("method", "POST"), ("route", "/v1/analyses")))] == 1
    assert samples[("rca_analyses", (("status", "succeeded"),))] == 4 and samples[("rca_analyses", (("status", "running"),))] == 0
    assert samples[("rca_analyses_finished_total", (("status", "failed"),))] == 0
    assert samples[("rca_analysis_duration_seconds_count", ())] == 1
    assert "_created" not in text
    assert 'rca_http_requests_total{method="POST",route="/v1/analyses",status="201"} 2.0' in text
