"""Fixtures of the alerting tests: a synthetic incident and a real Prometheus loaded with it."""

from __future__ import annotations

from collections.abc import Iterator

import alerts_support as S
import pytest
from real_parts import missing_part


@pytest.fixture(scope="session")
def incident() -> S.SyntheticIncident:
    return S.make_incident()


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory, incident: S.SyntheticIncident) -> Iterator[S.PrometheusServer]:
    if not S.HAVE_PROMETHEUS:
        missing_part(S.SKIP_REASON)
    server = S.PrometheusServer(tmp_path_factory.mktemp("prometheus"), S.openmetrics_text(incident))
    try:
        yield server
    finally:
        server.close()
