"""Span and log files uploaded with an analysis: read from the multipart form, checked, kept, and handed back.

The parts ``spans``, ``logs``, ``baseline_spans`` and ``baseline_logs`` of ``POST /v1/analyses`` (multipart)
hold files in any format :func:`rca.analyze` reads (Nezha span or log CSV, gzipped or not; OTLP, Jaeger or
Zipkin JSON; JSON-lines or plain-text logs).  They are parsed once when the request comes in, so a bad file is a
422 naming the part and the field, then stored as uploaded (gzipped) with the analysis' other inputs, so a
re-queued or re-run job reads the same bytes.
"""

from __future__ import annotations

import base64
import gzip
import json
import tempfile
from pathlib import Path
from typing import Any

from rca.engine.errors import InvalidInputError

__all__ = ["EVIDENCE_PARTS", "check_evidence", "evidence_paths", "pack_evidence", "read_evidence_parts"]

#: the multipart parts that carry spans and logs
EVIDENCE_PARTS = ("spans", "logs", "baseline_spans", "baseline_logs")


async def read_evidence_parts(form: Any) -> dict[str, tuple[str, bytes]]:
    """``{part: (file name, bytes)}`` of the evidence parts present in ``form`` (a Starlette form)."""
    out: dict[str, tuple[str, bytes]] = {}
    for name in EVIDENCE_PARTS:
        part = form.get(name)
        if part is None:
            continue
        if not hasattr(part, "read"):
            raise InvalidInputError(f"the multipart part {name!r} must be a file upload", field=name)
        data = await part.read()
        if not data:
            raise InvalidInputError(f"the uploaded {name} file is empty", field=name)
        out[name] = (Path(part.filename or name).name or name, data)
    return out


def _write(parts: dict[str, tuple[str, bytes]], folder: Path) -> dict[str, Path]:
    paths = {}
    for name, (filename, data) in parts.items():
        path = folder / name / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths[name] = path
    return paths


class evidence_paths:  # noqa: N801 - a context manager used like a function
    """``with evidence_paths(blob) as kw: rca.analyze(..., **kw)``: the stored files in a temporary folder."""

    def __init__(self, blob: bytes | None) -> None:
        self._parts = unpack_evidence(blob)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> dict[str, Path]:
        if not self._parts:
            return {}
        self._tmp = tempfile.TemporaryDirectory(prefix="rca-evidence-")
        return _write(self._parts, Path(self._tmp.name))

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def check_evidence(parts: dict[str, tuple[str, bytes]]) -> None:
    """Parse the uploaded files as the engine will; a bad one raises :class:`InvalidInputError` naming its part."""
    if not parts:
        return
    from rca.engine.evidence.build import read_evidence

    with tempfile.TemporaryDirectory(prefix="rca-evidence-") as tmp:
        read_evidence(**_write(parts, Path(tmp)))


def pack_evidence(parts: dict[str, tuple[str, bytes]]) -> bytes | None:
    """The uploads as one gzipped JSON document (None when there are none)."""
    if not parts:
        return None
    doc = {name: [filename, base64.b64encode(data).decode()] for name, (filename, data) in parts.items()}
    return gzip.compress(json.dumps(doc).encode(), mtime=0)


def unpack_evidence(blob: bytes | None) -> dict[str, tuple[str, bytes]]:
    """The inverse of :func:`pack_evidence`."""
    if not blob:
        return {}
    doc = json.loads(gzip.decompress(blob))
    return {name: (filename, base64.b64decode(data)) for name, (filename, data) in doc.items()}
