"""Errors raised by the topology package.

``TopologyError`` is a ``ValueError``: every loader raises it for bad input and
names where the problem is (``source`` file or document, ``line`` for text
formats, ``field`` for structured documents), so a user can go straight to it.
"""

from __future__ import annotations

__all__ = ["TopologyError"]


class TopologyError(ValueError):
    """Bad topology input: an unreadable file, a malformed document, an unknown node.

    Parameters
    ----------
    message : str
        What is wrong and, where possible, how to fix it.
    source : str, optional
        File name or description of the document.
    line : int, optional
        1-based line number in text formats (CSV).
    field : str, optional
        Dotted path of the offending field in structured documents
        (``"calls[3].callee"``).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field {self.field!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message
