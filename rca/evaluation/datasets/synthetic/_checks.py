"""Argument checks shared by the synthetic generators: one message style, the field named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rca.engine.errors import InvalidConfigError


@dataclass(frozen=True)
class Checker:
    """Validators whose errors name ``function`` and the offending ``synthetic.<field>``."""

    function: str

    def bad(self, name: str, rule: str, value: Any) -> InvalidConfigError:
        return InvalidConfigError(
            f"The {name!r} parameter of {self.function} must be {rule}. Got {value!r} instead.",
            field=f"synthetic.{name}",
        )

    def int(self, name: str, value: Any, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
            raise self.bad(name, f"an int in [{lo}, {hi}]", value)
        return int(value)

    def float(self, name: str, value: Any, lo: float, hi: float) -> float:
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not ok or not lo <= float(value) <= hi:
            raise self.bad(name, f"a number in [{lo}, {hi}]", value)
        return float(value)
