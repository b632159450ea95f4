"""20 concurrent clients posting analyses to a real server for a while: no error, and the p95 latency printed.

The load is ``scripts/load_analyses.py`` (the bundled demo analysis, multipart
CSV, waiting for each result); ``--load-seconds`` sets how long (10 s by
default, the README's number comes from ``--load-seconds 60``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from api_support import make_key

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "load_analyses.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("load_analyses", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_20_concurrent_clients_get_no_error(start_server: Callable[..., Any], db_url: str, request: pytest.FixtureRequest) -> None:
    seconds = float(request.config.getoption("--load-seconds"))
    key = make_key(db_url)
    server = start_server(db_url)  # the defaults of `rca serve`: 2 workers, each analysis in a child process
    out = asyncio.run(_load_script().run(server.url, key, clients=20, duration=seconds))
    backend = db_url.split(":", 1)[0].split("+", 1)[0]
    print(f"\n{backend}: {json.dumps(out)}")
    assert out["errors"] == 0, out["first_errors"]
    assert out["requests"] >= 20 and out["status"] == {"201": out["requests"]}
