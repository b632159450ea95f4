"""The documentation builds, and its runnable examples run (issue #16).

* ``mkdocs build --strict`` (broken links, anchors and API references fail it);
  skipped when mkdocs is not installed, unless ``CI`` is set.
* Every ```` ```python ```` block of ``README.md`` and ``docs/**/*.md`` whose
  first line is ``# runnable`` runs in its own Python process, in a scratch
  working directory (the convention is documented in ``docs/index.md``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = "# runnable"
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def _doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def runnable_blocks() -> list[tuple[str, str]]:
    """(``file:line``, code) of every python block marked runnable."""
    blocks = []
    for path in _doc_files():
        text = path.read_text(encoding="utf-8")
        for m in _FENCE.finditer(text):
            code = m.group(1)
            if code.lstrip().startswith(MARKER):
                line = text.count("\n", 0, m.start()) + 1
                blocks.append((f"{path.relative_to(ROOT)}:{line}", code))
    return blocks


BLOCKS = runnable_blocks()


def test_the_promised_examples_are_runnable() -> None:
    where = {name.split(":")[0] for name, _ in BLOCKS}
    assert {"README.md", "docs/python-api.md"} <= where, where


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_runnable_example(where: str, code: str, tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{where} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        if os.environ.get("CI"):
            pytest.fail("mkdocs is not installed, and CI is set: install mkdocs, mkdocs-material, mkdocstrings[python]")
        pytest.skip("mkdocs is not installed (pip install mkdocs mkdocs-material 'mkdocstrings[python]')")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert (tmp_path / "site" / "index.html").is_file()
    api = (tmp_path / "site" / "python-api" / "index.html").read_text(encoding="utf-8")
    assert "rca.analyze" in api or "analyze" in api


def _documented(path: Path) -> set[str]:
    return set(re.findall(r"`(RCA_[A-Z0-9_]+)`", path.read_text(encoding="utf-8")))


def test_the_settings_tables_of_the_docs_are_complete() -> None:
    """The README lists the setting names; the docs' tables give their defaults and must not lag behind."""
    from rca.integrations.alerts.settings import AlertSettings
    from rca.service.settings import Settings

    service = {f"RCA_{name.upper()}" for name in Settings.model_fields} | {"RCA_CONFIG_FILE"}
    alerts = {f"RCA_{name.upper()}" for name in AlertSettings.model_fields}
    assert service - _documented(ROOT / "docs" / "http-service.md") == set()
    assert alerts - _documented(ROOT / "docs" / "integrations" / "alertmanager-grafana.md") == set()
