"""The report page in a real browser: headless Chromium loads it from a running server.

Three pages: a hand-made result served by ``python -m http.server`` (needs
nothing but Chromium), the engine's analysis of a synthetic incident served by
the FastAPI app under uvicorn at ``GET /v1/analyses/{id}/report``, and a
PetShop incident (needs ``../shared/datasets``).  Each check asks the browser:
the DOM must show the top cause, and the screenshot must contain the
rendered charts (a page whose images failed to decode is almost colourless).
Screenshots are kept under ``tests/artifacts/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from real_parts import chromium_binary, missing_part
from visual_support import api_service, static_site

from rca.views.report import write_report

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = chromium_binary()
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ROOT = Path(__file__).resolve().parents[2]

if CHROMIUM is None:
    missing_part("headless Chromium is not installed (apt-get install chromium, or chromium-headless-shell)", allow_module_level=True)


# -- browser --------------------------------------------------------------------------


def _chromium(url: str, *extra: str, profile: Path) -> str:
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=10000", *extra, url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def _check_in_browser(url: str, top_cause: str, name: str) -> Path:
    """Load ``url`` in Chromium; assert the top cause and the charts show; return the screenshot."""
    import html

    from PIL import Image

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    shot = ARTIFACTS / f"report-{name}.png"
    with tempfile.TemporaryDirectory(prefix="rca-chromium-") as profile:
        dom = _chromium(url, "--dump-dom", profile=Path(profile))
        assert f'id="top-cause">{html.escape(top_cause)}</div>' in dom, dom[:2000]
        assert dom.count('<img src="data:image/png;base64,') >= 2
        shot.unlink(missing_ok=True)
        _chromium(url, f"--screenshot={shot}", "--window-size=1280,2600", profile=Path(profile))
    assert shot.is_file() and shot.stat().st_size > 10_000
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (2600, 1280)
    # Charts are colourful; text, tables and broken-image icons are not.
    colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 40
    shades = len(np.unique(pixels[colourful], axis=0))
    assert colourful.mean() > 0.005 and shades > 500, (colourful.mean(), shades)
    return shot


# -- servers --------------------------------------------------------------------------


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """``python -m http.server`` on 127.0.0.1: (the folder it serves, its base URL)."""
    site = tmp_path / "site"
    site.mkdir()
    with static_site(site, tmp_path / "http.log") as base:
        yield site, base


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[str]:
    """The FastAPI app (with the report route) under uvicorn on 127.0.0.1: its base URL."""
    pytest.importorskip("rca.service.routes.report", reason="the HTTP API is not available")
    with api_service(tmp_path / "api-data", tmp_path / "uvicorn.log") as base:
        yield base


def _analyze_or_skip(case):  # type: ignore[no-untyped-def]
    import rca

    try:
        return rca.analyze(case.graph, case.metrics, case.incident, baseline=case.baseline)
    except NotImplementedError as exc:
        pytest.skip(f"rca.analyze is not implemented yet: {exc}")


# -- tests ----------------------------------------------------------------------------


def test_report_of_a_handmade_result_renders_in_chromium(make_case, static_server) -> None:
    folder, base = static_server
    result, graph, metrics = make_case("db")
    write_report(folder / "report.html", result, graph, metrics)
    _check_in_browser(f"{base}/report.html", "db", "handmade")


def test_report_page_served_by_the_api_renders_in_chromium(api_server: str) -> None:
    synthetic = pytest.importorskip("rca.evaluation.datasets.synthetic", reason="the synthetic dataset is not available")
    case = synthetic.demo_case() if hasattr(synthetic, "demo_case") else synthetic.generate_case("layered", 20, seed=3)
    metrics = case.metrics.assign(timestamp=case.metrics["timestamp"].map(lambda t: t.isoformat()))
    body = {
        "incident": case.incident.to_dict(),
        "topology": {"inline": case.graph.to_dict()},
        "metrics": json.loads(metrics.to_json(orient="records")),
    }
    with httpx.Client(base_url=api_server, timeout=120) as client:
        r = client.post("/v1/analyses", json=body)
        if r.status_code == 501 or (r.status_code >= 500 and "NotImplemented" in r.text):
            pytest.skip("rca.analyze is not implemented yet")
        assert r.status_code in (200, 201, 202), r.text
        analysis_id = r.json()["id"]
        deadline = time.monotonic() + 120
        while True:
            got = client.get(f"/v1/analyses/{analysis_id}").json()
            if got["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert got["status"] == "succeeded", got
        top = got["result"]["causes"][0]["service"]
        page = client.get(f"/v1/analyses/{analysis_id}/report")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        missing = client.get("/v1/analyses/nope/report")
        assert missing.status_code == 404 and missing.json()["error"] == "analysis_not_found"
    _check_in_browser(f"{api_server}/v1/analyses/{analysis_id}/report", top, "api-synthetic")


@pytest.mark.datasets
# The engine warns on all-missing PetShop series (its business, reported to its
# authors); this test is about the page.
@pytest.mark.filterwarnings("ignore:All-NaN slice encountered:RuntimeWarning")
def test_report_of_a_petshop_incident_renders_in_chromium(static_server) -> None:
    root = Path(os.environ.get("RCA_DATASETS", ROOT.parent / "shared" / "datasets")) / "petshop"
    if not root.is_dir():
        pytest.skip(f"PetShop data not found at {root} (set RCA_DATASETS)")
    from rca.evaluation.datasets.petshop import load_petshop

    case = next(c for c in load_petshop(root, scenarios=["low_traffic"], normal_windows=False))
    result = _analyze_or_skip(case)
    assert result.top is not None, result.reason
    folder, base = static_server
    write_report(folder / "petshop.html", result, case.graph, case.metrics)
    _check_in_browser(f"{base}/petshop.html", result.top.service, "petshop")
