"""The house's import contracts (``[tool.importlinter]`` in pyproject.toml) hold, and they bite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_contracts_hold_on_the_tree() -> None:
    run = _lint(ROOT, ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "broken" in run.stdout and "0 broken" in run.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("rca/engine/_wrong_way.py", "import rca.service.app\n", "Every import points down a layer"),
        ("rca/store/_wrong_way.py", "import fastapi\n", "The store knows no web framework"),
        ("topology/_wrong_way.py", "import rca.engine.types\n", "topology depends on nothing of rca"),
    ],
)
def test_a_wrong_way_import_breaks_a_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    for pkg in ("rca", "topology"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / module).write_text(line, encoding="utf-8")
    run = _lint(tmp_path, tmp_path)
    assert run.returncode != 0
    out = run.stdout
    assert f"{contract} BROKEN" in out
    # the message names the offending chain, starting at the new module
    wrong = module.removesuffix(".py").replace("/", ".")
    assert wrong in out
