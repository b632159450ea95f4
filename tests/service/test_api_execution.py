"""One analysis within the time limit, as the worker runs it (thread isolation, in this process)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from api_support import INCIDENT, TOPOLOGY, make_metrics

from rca.service.execution import Payload, run_with_limit
from rca.store.documents import canonicalise_metrics


def _payload(**changes: object) -> Payload:
    fields = {
        "incident": dict(INCIDENT),
        "config": {},
        "topology": TOPOLOGY,
        "metrics_csv_gz": canonicalise_metrics(pd.DataFrame(make_metrics())).csv_gz,
        **changes,
    }
    return Payload(**fields)  # type: ignore[arg-type]


def test_success_carries_the_result_and_engine_version() -> None:
    out = run_with_limit(_payload(), 60, "thread")
    assert out.status == "succeeded", out
    assert out.engine_version and out.result and '"db"' in out.result


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"incident": {**INCIDENT, "start": "never"}}, "invalid_incident", "incident.start"),
        ({"config": {"rank": {"top_k": 0}}}, "invalid_config", "rank.top_k"),
        ({"topology": {"services": [1]}}, "invalid_topology", None),
    ],
)
def test_bad_stored_inputs_fail_with_the_reason(changes: dict[str, object], code: str, field: str | None) -> None:
    out = run_with_limit(_payload(**changes), 60, "thread")
    assert (out.status, out.error_code) == ("failed", code), out
    if field:
        assert out.error_field == field


def test_a_stored_topology_is_parsed_once_per_document_and_the_answer_is_the_same() -> None:
    from rca.service import execution

    plain = run_with_limit(_payload(), 60, "thread")
    execution._GRAPHS.clear()
    first = run_with_limit(_payload(topology_key="k1"), 60, "thread")
    graph = execution._GRAPHS["k1"]
    again = run_with_limit(_payload(topology_key="k1"), 60, "thread")
    assert execution._GRAPHS["k1"] is graph  # reused, not parsed again
    def answer(out: object) -> dict[str, object]:
        doc = json.loads(out.result)  # type: ignore[attr-defined]
        doc.pop("timings")
        return doc

    assert answer(plain) == answer(first) == answer(again)


def test_time_limit_in_thread_mode() -> None:
    out = run_with_limit(_payload(delay_seconds=1.0), 0.05, "thread")
    assert (out.status, out.error_code) == ("failed", "analysis_timeout")
    assert "RCA_ANALYSIS_TIMEOUT_SECONDS" in (out.error_detail or "")


def test_process_isolation_kills_at_the_limit_and_recovers() -> None:
    from rca.service.execution import AnalysisProcess

    child = AnalysisProcess()
    try:
        assert child.run(_payload(), 120).status == "succeeded"
        first = child._proc.pid
        out = child.run(_payload(delay_seconds=30.0), 0.5)
        assert (out.status, out.error_code) == ("failed", "analysis_timeout")
        assert child._proc is None  # killed, not left running
        again = child.run(_payload(), 120)
        assert again.status == "succeeded", again
        assert child._proc.pid != first
    finally:
        child.close()
