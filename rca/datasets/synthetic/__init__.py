"""Seeded synthetic incidents: topology, metrics and known root causes.

The engine's test and demo data, and a benchmark dataset
(``rca bench --dataset synthetic:SPEC``).
"""

from rca.datasets.synthetic._faults import FAULTS
from rca.datasets.synthetic._generate import generate_case
from rca.datasets.synthetic._simulate import METRICS
from rca.datasets.synthetic._topology import FAMILIES

__all__ = ["FAMILIES", "FAULTS", "METRICS", "generate_case"]
