"""Root-cause analysis over service topology.

>>> import rca
>>> result = rca.analyze(graph, metrics, rca.Incident("checkout", "latency", "2024-05-01T12:00Z"))  # doctest: +SKIP
>>> result.to_frame()  # doctest: +SKIP

Data flows one way: ingest -> align -> detect -> causal -> rank -> explain,
in :mod:`rca.engine.pipeline`.
"""

from rca.engine.batch import AnalysisTask, analyze_many
from rca.engine.config import (
    AlignConfig,
    DetectConfig,
    GrangerConfig,
    RankConfig,
    RCAConfig,
)
from rca.engine.errors import (
    AnalysisError,
    InvalidConfigError,
    InvalidIncidentError,
    InvalidInputError,
    InvalidMetricsError,
    InvalidTopologyError,
    RCAError,
)
from rca.engine.pipeline import analyze
from rca.engine.types import (
    Cause,
    DataIssue,
    Evidence,
    GrangerTest,
    Incident,
    RCAResult,
    SeriesAnomaly,
)
from rca.engine.version import __version__

__all__ = [
    "__version__",
    "analyze",
    "analyze_many",
    "AnalysisTask",
    "Incident",
    "RCAConfig",
    "AlignConfig",
    "DetectConfig",
    "GrangerConfig",
    "RankConfig",
    "RCAResult",
    "Cause",
    "Evidence",
    "GrangerTest",
    "SeriesAnomaly",
    "DataIssue",
    "RCAError",
    "InvalidInputError",
    "InvalidTopologyError",
    "InvalidMetricsError",
    "InvalidIncidentError",
    "InvalidConfigError",
    "AnalysisError",
]
