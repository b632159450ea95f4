"""The error hierarchy of the engine.

::

    RCAError                                  root of everything the engine raises
    ├── InvalidInputError (ValueError)        bad input; .field names the offending field
    │   ├── InvalidTopologyError              (also a topology.TopologyError)
    │   ├── InvalidMetricsError
    │   ├── InvalidIncidentError
    │   └── InvalidConfigError
    └── AnalysisError (RuntimeError)          the method itself failed

The HTTP API maps ``InvalidInputError`` (and ``topology.TopologyError``) to a 4xx
response ``{error, detail, field}``; the CLI prints the message on one line.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from topology.errors import TopologyError

__all__ = [
    "RCAError",
    "InvalidInputError",
    "InvalidTopologyError",
    "InvalidMetricsError",
    "InvalidIncidentError",
    "InvalidConfigError",
    "AnalysisError",
    "did_you_mean",
]


class RCAError(Exception):
    """Root of all engine errors."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(message)


class InvalidInputError(RCAError, ValueError):
    """The caller passed something the engine cannot use; ``field`` says what."""


class InvalidTopologyError(InvalidInputError, TopologyError):
    """The graph does not fit the analysis (e.g. the symptom is not in it)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        # Both parents' __init__ set these attributes; set them once, here.
        Exception.__init__(self, message)
        self.message = message
        self.field = field
        self.source = None
        self.line = None


class InvalidMetricsError(InvalidInputError):
    """Metrics are malformed: wrong columns, no usable values, bad timestamps."""


class InvalidIncidentError(InvalidInputError):
    """The incident names an unknown service/metric or an impossible window."""


class InvalidConfigError(InvalidInputError):
    """A configuration parameter is out of its documented range."""


class AnalysisError(RCAError, RuntimeError):
    """The analysis could not be carried out on otherwise valid input."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'a', 'b'?"`` for the closest of ``candidates`` (difflib), or ``""`` when none is close."""
    close = difflib.get_close_matches(name, sorted({str(c) for c in candidates}), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
