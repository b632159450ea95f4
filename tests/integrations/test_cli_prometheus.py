"""``rca analyze --prometheus``: the demo incident pulled from a real Prometheus gives the CSV's answer; mistakes are one line.

The Prometheus is the session's real one (``prometheus`` fixture, the bundled
demo incident loaded with promtool); the pull against a Prometheus that
scrapes a live exporter is in ``test_alertmanager_e2e.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import alerts_support as S
import pytest
import yaml
from typer.testing import CliRunner

from rca.cli import app

pytestmark = pytest.mark.prometheus

DEMO = S.DEMO_DIR
TYPO = {"query": 'max by (service) (rca_demo_latncy{service=~"{services}"})', "service_label": "service"}


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("cli-catalogs")
    good, typo = tmp / "demo.yaml", tmp / "typo.yaml"
    good.write_text(yaml.safe_dump(S.demo_catalog_doc()))
    doc = S.demo_catalog_doc()
    doc["metrics"]["saturation"] = TYPO
    typo.write_text(yaml.safe_dump(doc))
    return {"good": good, "typo": typo}


def _run(*extra: str, metric: str = "latency") -> tuple[int, str, str]:
    args = ["analyze", "--graph", str(DEMO / "topology.yaml"), "--service", "frontend", "--metric", metric,
            "--at", S.DEMO_START.isoformat(), "--step", str(S.DEMO_STEP), "--format", "json", *extra]  # fmt: skip
    res = CliRunner().invoke(app, args, env={"RCA_METRICS_CATALOG": None})
    return res.exit_code, res.stdout, res.stderr


def test_the_pulled_demo_gives_the_same_answer_as_its_csv(prometheus: S.PrometheusServer, catalogs: dict[str, Path]) -> None:
    end = "2024-05-01T13:29:00Z"  # the CSV's last point: both analyses see the same window
    code, out, err = _run("--prometheus", prometheus.url, "--catalog", str(catalogs["good"]), "--end", end)
    assert code == 0, err
    pulled = json.loads(out)
    code, out, _ = _run("--metrics", str(DEMO / "metrics.csv"), "--end", end)
    from_csv = json.loads(out)
    assert pulled["causes"][0]["service"] == S.DEMO_ROOT
    assert [(c["service"], c["confidence"]) for c in pulled["causes"]] == [
        (c["service"], c["confidence"]) for c in from_csv["causes"]
    ]
    assert pulled["causes"] == from_csv["causes"]
    assert err.startswith(f"Pulled 60 series (5400 points) of 5 catalog entries from {prometheus.url} between "
                          "2024-05-01T12:00:00+00:00 and 2024-05-01T13:29:00+00:00, step 60 s")  # fmt: skip


def test_an_empty_entry_nobody_named_is_a_catalog_issue_of_the_answer(
    prometheus: S.PrometheusServer, catalogs: dict[str, Path]
) -> None:
    code, out, err = _run("--prometheus", prometheus.url, "--catalog", str(catalogs["typo"]))
    assert code == 0, err
    result = json.loads(out)
    assert result["causes"][0]["service"] == S.DEMO_ROOT
    [issue] = [i for i in result["issues"] if i["kind"] == "catalog_no_series"]
    assert issue["metric"] == "saturation" and "did you mean 'rca_demo_latency'" in issue["message"]
    table = CliRunner().invoke(app, ["analyze", "--graph", str(DEMO / "topology.yaml"), "--service", "frontend",
                                     "--metric", "latency", "--at", S.DEMO_START.isoformat(), "--step", "60",
                                     "--prometheus", prometheus.url, "--catalog", str(catalogs["typo"])])  # fmt: skip
    assert table.exit_code == 0 and "Catalog: metrics catalog" in table.stdout and "entry 'saturation'" in table.stdout


@pytest.mark.parametrize(
    ("extra", "metric", "starts"),
    [
        (["--entry", "saturation"], "latency", "Error: --entry saturation: metrics catalog "),
        ([], "saturation", "Error: --metric saturation: metrics catalog "),
        ([], "latncy", "Error: --metric: metrics catalog "),
        (["--entry", "cpuu"], "latency", "Error: --entry: metrics catalog "),
        (["--lookback", "an hour"], "latency", "Error: --lookback must be a duration such as '60min', got 'an hour'"),
        (["--step", "0"], "latency", "Error: --step: must be positive seconds (your scrape interval), got 0"),
        (["--metrics", str(DEMO / "metrics.csv")], "latency", "Error: give --metrics or --prometheus, not both"),
        (["--baseline", str(DEMO / "metrics.csv")], "latency", "Error: --baseline reads a file; with --prometheus"),
    ],
)
def test_mistakes_are_one_line_naming_the_option(
    prometheus: S.PrometheusServer, catalogs: dict[str, Path], extra: list[str], metric: str, starts: str
) -> None:
    code, out, err = _run("--prometheus", prometheus.url, "--catalog", str(catalogs["typo"]), *extra, metric=metric)
    assert code == 2 and out == ""
    assert err.startswith(starts) and len(err.strip().splitlines()) == 1, err
    if "saturation:" in starts:  # the entry, the query, and the closest name Prometheus has
        assert "entry 'saturation' matched no series" in err and "did you mean 'rca_demo_latency'" in err
        assert '; query: max by (service) (rca_demo_latncy{service=~"auth|cart|' in err
    if "latncy" == metric or "cpuu" in extra:
        assert "did you mean" in err


def test_an_unreachable_prometheus_or_a_bad_url_names_the_option(catalogs: dict[str, Path]) -> None:
    url = f"http://127.0.0.1:{S.free_port()}"
    for bad, says in ((url, f"Prometheus at {url} is unreachable"), ("127.0.0.1:9090", "is unreachable")):
        code, out, err = _run("--prometheus", bad, "--catalog", str(catalogs["good"]))
        assert code == 2 and out == "", err
        assert err.startswith("Error: --prometheus: ") and says in err and len(err.strip().splitlines()) == 1, err
    code, _, err = _run("--prometheus", url, "--catalog", "/nonexistent/catalog.yaml")
    assert code == 2 and err.startswith("Error: --catalog: cannot read metrics catalog '/nonexistent/catalog.yaml'"), err


def test_without_the_prometheus_extra_the_line_names_it(catalogs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "httpx", None)  # as in a core install
    code, out, err = _run("--prometheus", "http://127.0.0.1:9090", "--catalog", str(catalogs["good"]))
    assert code == 2 and out == ""
    assert err.strip() == ('Error: --prometheus: pulling from Prometheus needs httpx; install it with: '
                           'pip install "rca-engine[prometheus]" (from a checkout: pip install ".[prometheus]")')  # fmt: skip
