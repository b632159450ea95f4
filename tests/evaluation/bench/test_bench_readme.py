"""The README's one command that reproduces the results table stays runnable (on one case per dataset)."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rca.cli import app

ROOT = Path(__file__).resolve().parents[3]


def _readme_bench_command() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Accuracy: `rca bench`"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the bench section has no bash block"
    args = shlex.split(block.group(1).replace("\\\n", " "))
    assert args[:2] == ["rca", "bench"], args
    return args[2:]


@pytest.mark.slow
@pytest.mark.datasets
def test_the_readme_bench_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = Path(os.environ.get("RCA_DATASETS", ROOT.parent / "shared" / "datasets"))
    if not (shared / "petshop").is_dir() or not (shared / "nezha").is_dir():
        pytest.skip(f"the development data is not at {shared}")
    args = _readme_bench_command()
    specs = [args[i + 1] for i, a in enumerate(args) if a in ("-d", "--dataset")]
    assert {s.split(":")[0] for s in specs} == {"petshop", "nezha", "inject", "synthetic"}
    out = tmp_path / "bench-out"
    args[args.index("--out") + 1] = str(out)
    monkeypatch.chdir(ROOT)  # the README's paths are relative to the project root
    result = CliRunner().invoke(app, ["bench", *args, "--limit", "1", "--method", "engine", "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["datasets"] == specs
    assert all(v["cases"] >= 1 for v in summary["meta"]["loaded"].values())
    assert {g["dataset"] for g in summary["groups"]} == {"petshop", "nezha", "inject", "synthetic"}
