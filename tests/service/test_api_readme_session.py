"""The README's curl session runs as written (on a free port, in a scratch directory)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from api_support import free_port

ROOT = Path(__file__).resolve().parents[2]


def _session() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("<!-- BEGIN api -->") : text.index("<!-- END api -->")]
    match = re.search(r"### Try it.*?```bash\n(.*?)```", section, re.S)
    assert match, "the README's API section lost its curl session"
    return match.group(1)


@pytest.mark.slow
def test_readme_curl_session(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    probe = subprocess.run([sys.executable, "-c", "import rca.cli"], capture_output=True, text=True)
    if probe.returncode != 0:  # a fresh process: other tests may have patched this one's modules
        pytest.skip(f"the rca CLI does not import yet: {probe.stderr.strip().splitlines()[-1]}")
    demo = tmp_path / "rca" / "data" / "demo"
    demo.mkdir(parents=True)
    for name in ("topology.yaml", "metrics.csv"):
        shutil.copy(ROOT / "rca" / "data" / "demo" / name, demo / name)
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + _session().replace(
        "8080", str(free_port())
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCA_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # Its own process group: on a timeout the background server goes down with the shell.
    proc = subprocess.Popen(
        ["bash", "-c", script], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert "succeeded payment" in stdout, stdout[-3000:] + stderr[-3000:]
    assert '"top_cause":"payment"' in stdout
