"""Real parts (PostgreSQL, Prometheus, headless Chromium) that some tests need: skip, or fail in CI.

On a developer's machine a missing part skips its tests with the reason.  With
``RCA_REQUIRE_REAL_PARTS=1`` (``.ci/run`` sets it) or ``CI=true`` a missing part
fails them instead, so a green CI run never hides tests that did not run.
"""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["chromium_binary", "missing_part", "real_parts_required"]


def real_parts_required() -> bool:
    return os.environ.get("RCA_REQUIRE_REAL_PARTS") == "1" or os.environ.get("CI", "").lower() == "true"


def missing_part(reason: str, *, allow_module_level: bool = False) -> None:
    """Skip with ``reason``; fail instead when real parts are required."""
    if real_parts_required():
        pytest.fail(f"{reason} -- real parts are required here (RCA_REQUIRE_REAL_PARTS=1 or CI=true)", pytrace=False)
    pytest.skip(reason, allow_module_level=allow_module_level)


def chromium_binary() -> str | None:
    """Full Chromium, or Debian's ``chromium-headless-shell`` where full Chromium does not install."""
    for name in ("chromium", "chromium-browser", "chromium-headless-shell"):
        found = shutil.which(name)
        if found:
            return found
    for path in ("/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium-headless-shell/chromium-headless-shell"):
        if os.access(path, os.X_OK):
            return path
    return None
