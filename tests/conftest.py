"""Puts ``tests/`` on the import path, so every test folder can ``import real_parts``."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--load-seconds", type=float, default=10.0,
        help="how long tests/service/test_api_load.py posts analyses (the README's number comes from 60)",
    )  # fmt: skip
