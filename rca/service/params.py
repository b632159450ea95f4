"""Query and path parameter types whose schema says exactly what the server accepts.

* :data:`Since` — an RFC 3339 date-time *with* a zone (``2024-05-01T12:00:00Z``);
  pydantic alone would also take unix numbers such as ``0.5``, which the
  schema's ``format: date-time`` does not allow.
* :data:`DB_INT_MAX` — the largest integer a database id or version column
  holds (PostgreSQL ``integer``); larger ids cannot exist, so the schema caps them.
* :func:`check_pattern` — a documented ``pattern`` enforced with the route's own
  error code (``invalid_cursor``...).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

from rca.service.errors import ApiError

__all__ = ["DB_INT_MAX", "RFC3339", "Since", "check_pattern"]

DB_INT_MAX = 2**31 - 1
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def _rfc3339(value: Any) -> Any:
    """Refuse anything but an RFC 3339 date-time string before pydantic's lax parsing sees it."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with a zone, e.g. 2024-05-01T12:00:00Z")
    return value


Since = Annotated[datetime, BeforeValidator(_rfc3339)]


def check_pattern(value: str | None, pattern: str, *, status: int, code: str, detail: str, field: str) -> None:
    """Raise :class:`ApiError` when ``value`` is given and does not match ``pattern``."""
    if value is not None and not re.fullmatch(pattern, value):
        raise ApiError(status, code, detail, field=field)
