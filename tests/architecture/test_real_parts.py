"""A missing real part skips on a developer's machine and fails under RCA_REQUIRE_REAL_PARTS=1 / CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("env", "outcome"),
    [({}, "1 skipped"), ({"RCA_REQUIRE_REAL_PARTS": "1"}, "1 failed"), ({"CI": "true"}, "1 failed")],
)
def test_missing_part_skips_or_fails(tmp_path: Path, env: dict[str, str], outcome: str) -> None:
    (tmp_path / "test_needs_a_part.py").write_text(
        "from real_parts import missing_part\n\ndef test_it():\n    missing_part('the widget binary is not installed')\n"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "RCA_REQUIRE_REAL_PARTS")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(tmp_path)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env={**base, **env, "PYTHONPATH": os.pathsep.join([str(TESTS), base.get("PYTHONPATH", "")])},
    )  # fmt: skip
    assert outcome in run.stdout, run.stdout
    assert "the widget binary is not installed" in run.stdout
