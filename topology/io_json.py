"""Read and write the topology document as JSON.

The document form is exactly :meth:`ServiceGraph.to_dict`::

    {"services": ["frontend", {"name": "db", "kind": "database", "tags": {"tier": "data"}}],
     "calls": [{"caller": "frontend", "callee": "db", "weight": 0.5, "calls": 120}]}

Rules (shared with the YAML loader, which parses into the same structure):

* The top level is a mapping with the optional keys ``services`` and ``calls``
  (both lists); any other key is an error, so a typo such as ``call`` is not
  silently ignored.
* A service is a non-empty string or a mapping with ``name`` (required),
  ``kind`` (``service``, ``database``, ``queue``, ``external``, ``host``;
  default ``service``) and ``tags`` (mapping of string to string).  A name
  declared twice is an error.
* A call is a mapping with ``caller`` and ``callee`` (required), ``weight``
  (a finite number) and ``calls`` (an integer >= 0); ``null`` means absent.
  The same caller/callee pair listed twice is an error.
* **A call may name a service that ``services`` does not declare: it is added
  as a plain ``service``.**  A document can therefore be just a list of calls.
* Names are stripped of surrounding whitespace (as :class:`ServiceGraph` does).

Every error is a :class:`TopologyError` whose ``field`` is the path of the
offending value (``calls[3].callee``) and, for syntax errors, whose ``line`` is
the parser's line number.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Union, cast

from topology.errors import TopologyError
from topology.model import NodeKind, ServiceGraph

__all__ = ["graph_from_dict", "read_json", "loads_json", "write_json", "dumps_json"]

PathOrFile = Union[str, "os.PathLike[str]", IO[str], IO[bytes]]

_TOP_KEYS = ("services", "calls")
_SERVICE_KEYS = ("name", "kind", "tags")
_CALL_KEYS = ("caller", "callee", "weight", "calls")


# -- shared I/O helpers (used by every text loader in this package) -----------
def _source_of(path_or_file: object) -> str:
    """A printable name for a path or an open file."""
    if hasattr(path_or_file, "read") or hasattr(path_or_file, "write"):
        return str(getattr(path_or_file, "name", "<stream>"))
    return os.fspath(cast("str | os.PathLike[str]", path_or_file))


def _decode(data: str | bytes, source: str | None) -> str:
    """Text from ``data``; bytes are UTF-8 (a BOM is dropped)."""
    if isinstance(data, str):
        return data[1:] if data.startswith("\ufeff") else data
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TopologyError(
            f"expected text or bytes, got {type(data).__name__}", source=source
        )
    raw = bytes(data)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TopologyError(
            f"not valid UTF-8 ({exc.reason} at byte {exc.start}); save the file as UTF-8",
            source=source,
            line=line,
        ) from None


def _read_bytes(path: str | os.PathLike[str], source: str) -> bytes:
    """The bytes of the file at ``path``; an OS error names ``source``."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TopologyError(f"cannot read the file: {exc.strerror}", source=source) from None


def _read_text(path_or_file: PathOrFile) -> tuple[str, str]:
    """``(text, source)`` from a path or an open text/binary file."""
    source = _source_of(path_or_file)
    if hasattr(path_or_file, "read"):
        data = cast("IO[str] | IO[bytes]", path_or_file).read()
    else:
        data = _read_bytes(cast("str | os.PathLike[str]", path_or_file), source)
    return _decode(data, source), source


def _invalid_json(
    exc: json.JSONDecodeError, source: str | None, *, what: str = "invalid JSON", line: int | None = None
) -> TopologyError:
    """The error for a JSON syntax error: message with the column, ``line`` (default the parser's)."""
    return TopologyError(
        f"{what}: {exc.msg} (column {exc.colno})",
        source=source,
        line=exc.lineno if line is None else line,
    )


def _parse_json(text: str, source: str | None) -> object:
    """The parsed JSON document; a syntax error is a :class:`TopologyError` with its line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid_json(exc, source) from None


def _graph_from_text(
    data: str | bytes, source: str | None, parse: Callable[[str, str | None], object]
) -> ServiceGraph:
    """Decode ``data``, ``parse`` it into a topology document and build the graph."""
    text = _decode(data, source)
    return graph_from_dict(parse(text, source), source=source)


def _write_text(text: str, path_or_file: PathOrFile) -> None:
    """Write ``text`` to a path (UTF-8) or to an open text file."""
    if hasattr(path_or_file, "write"):
        cast(IO[str], path_or_file).write(text)
        return
    Path(path_or_file).write_text(text, encoding="utf-8")


def _reraise(err: TopologyError, source: str | None) -> TopologyError:
    """``err`` with ``source`` filled in (model errors do not know the file)."""
    return TopologyError(err.message, source=source, line=err.line, field=err.field)


# -- document validation ------------------------------------------------------
def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _name(value: object, field: str, source: str | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TopologyError(
            f"expected a non-empty string, got {_type_name(value)} {value!r}",
            source=source,
            field=field,
        )
    return value.strip()


def _check_keys(item: Mapping[Any, Any], allowed: tuple[str, ...], path: str, source: str | None) -> None:
    for key in item:
        if key not in allowed:
            raise TopologyError(
                f"unknown key {key!r}; allowed keys are {', '.join(allowed)}",
                source=source,
                field=f"{path}.{key}" if path else str(key),
            )


def _parse_service(item: object, path: str, source: str | None) -> tuple[str, NodeKind, dict[str, str]]:
    if isinstance(item, str):
        return _name(item, path, source), NodeKind.SERVICE, {}
    if not isinstance(item, Mapping):
        raise TopologyError(
            f"a service is a name or a mapping with 'name', got {_type_name(item)}",
            source=source,
            field=path,
        )
    _check_keys(item, _SERVICE_KEYS, path, source)
    if "name" not in item:
        raise TopologyError("missing required key 'name'", source=source, field=f"{path}.name")
    name = _name(item["name"], f"{path}.name", source)
    kind_value = item.get("kind")
    kind = NodeKind.SERVICE
    if kind_value is not None:
        if not isinstance(kind_value, str):
            raise TopologyError(
                f"expected a string, got {_type_name(kind_value)} {kind_value!r}",
                source=source,
                field=f"{path}.kind",
            )
        try:
            kind = NodeKind.parse(kind_value, field=f"{path}.kind")
        except TopologyError as err:
            raise _reraise(err, source) from None
    tags_value = item.get("tags")
    tags: dict[str, str] = {}
    if tags_value is not None:
        if not isinstance(tags_value, Mapping):
            raise TopologyError(
                f"tags must be a mapping of string to string, got {_type_name(tags_value)}",
                source=source,
                field=f"{path}.tags",
            )
        for key, value in tags_value.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TopologyError(
                    f"tag keys and values must be strings, got {key!r}: {value!r} "
                    "(quote numbers and booleans in YAML)",
                    source=source,
                    field=f"{path}.tags.{key}",
                )
            tags[key] = value
    return name, kind, tags


def _parse_weight(value: object, field: str, source: str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TopologyError(
            f"expected a number, got {_type_name(value)} {value!r}", source=source, field=field
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise TopologyError(f"expected a finite number, got {value!r}", source=source, field=field)
    return number


def _parse_count(value: object, field: str, source: str | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TopologyError(
            f"expected an integer >= 0, got {_type_name(value)} {value!r}",
            source=source,
            field=field,
        )
    if value < 0:
        raise TopologyError(f"expected an integer >= 0, got {value}", source=source, field=field)
    return value


def graph_from_dict(doc: object, *, source: str | None = None) -> ServiceGraph:
    """Build a graph from the document form, validating every field.

    Parameters
    ----------
    doc : mapping
        ``{"services": [...], "calls": [...]}`` as produced by
        :meth:`ServiceGraph.to_dict` (rules in the module docstring).
    source : str, optional
        Name of the document, used in error messages.

    Returns
    -------
    ServiceGraph

    Raises
    ------
    TopologyError
        With ``field`` set to the path of the bad value.

    Examples
    --------
    >>> g = graph_from_dict({"services": ["a", {"name": "db", "kind": "database"}],
    ...                      "calls": [{"caller": "a", "callee": "db", "calls": 3}]})
    >>> g.kind("db").value, g.calls[0].calls
    ('database', 3)
    >>> graph_from_dict({"calls": [{"caller": "a"}]})
    Traceback (most recent call last):
    ...
    topology.errors.TopologyError: field 'calls[0].callee': missing required key 'callee'
    """
    if not isinstance(doc, Mapping):
        raise TopologyError(
            "the document must be a mapping with 'services' and 'calls', "
            f"got {_type_name(doc)}",
            source=source,
        )
    _check_keys(doc, _TOP_KEYS, "", source)
    graph = ServiceGraph()
    services = doc.get("services")
    if services is None:
        services = []
    if not isinstance(services, list):
        raise TopologyError(
            f"expected a list, got {_type_name(services)}", source=source, field="services"
        )
    first_seen: dict[str, str] = {}
    for i, item in enumerate(services):
        path = f"services[{i}]"
        name, kind, tags = _parse_service(item, path, source)
        if name in first_seen:
            raise TopologyError(
                f"service {name!r} is declared twice (first at {first_seen[name]}); "
                "keep one entry",
                source=source,
                field=path,
            )
        first_seen[name] = path
        graph.add_service(name, kind=kind, tags=tags)
    calls = doc.get("calls")
    if calls is None:
        calls = []
    if not isinstance(calls, list):
        raise TopologyError(f"expected a list, got {_type_name(calls)}", source=source, field="calls")
    seen_calls: dict[tuple[str, str], str] = {}
    for i, item in enumerate(calls):
        path = f"calls[{i}]"
        if not isinstance(item, Mapping):
            raise TopologyError(
                f"a call is a mapping with 'caller' and 'callee', got {_type_name(item)}",
                source=source,
                field=path,
            )
        _check_keys(item, _CALL_KEYS, path, source)
        for key in ("caller", "callee"):
            if key not in item:
                raise TopologyError(
                    f"missing required key {key!r}", source=source, field=f"{path}.{key}"
                )
        caller = _name(item["caller"], f"{path}.caller", source)
        callee = _name(item["callee"], f"{path}.callee", source)
        weight = _parse_weight(item.get("weight"), f"{path}.weight", source)
        count = _parse_count(item.get("calls"), f"{path}.calls", source)
        if (caller, callee) in seen_calls:
            raise TopologyError(
                f"call {caller} -> {callee} is listed twice (first at "
                f"{seen_calls[caller, callee]}); merge the entries",
                source=source,
                field=path,
            )
        seen_calls[caller, callee] = path
        graph.add_call(caller, callee, weight=weight, calls=count)
    return graph


# -- JSON ---------------------------------------------------------------------
def loads_json(text: str | bytes, *, source: str | None = None) -> ServiceGraph:
    """Parse a JSON topology document.

    Parameters
    ----------
    text : str or bytes
        The JSON text (bytes are decoded as UTF-8).
    source : str, optional
        Name used in error messages.

    Returns
    -------
    ServiceGraph

    Raises
    ------
    TopologyError
        Invalid JSON (with ``line``) or an invalid document (with ``field``).

    Examples
    --------
    >>> g = loads_json('{"calls": [{"caller": "web", "callee": "db"}]}')
    >>> g.services
    ['web', 'db']
    >>> loads_json('{"calls": [}')
    Traceback (most recent call last):
    ...
    topology.errors.TopologyError: line 1: invalid JSON: Expecting value (column 12)
    """
    return _graph_from_text(text, source, _parse_json)


def read_json(path_or_file: PathOrFile) -> ServiceGraph:
    """Read a JSON topology document from a path or an open file.

    See :func:`loads_json`; errors name the file.

    Examples
    --------
    >>> import io
    >>> read_json(io.StringIO('{"services": ["a"]}')).services
    ['a']
    """
    text, source = _read_text(path_or_file)
    return loads_json(text, source=source)


def dumps_json(graph: ServiceGraph, *, indent: int | None = 2) -> str:
    """The graph as a JSON document (``graph.to_dict()``), newline-terminated.

    Raises
    ------
    TopologyError
        If a weight is NaN or infinite (not representable in JSON).

    Examples
    --------
    >>> g = ServiceGraph(calls=[("a", "b")])
    >>> loads_json(dumps_json(g)) == g
    True
    >>> print(dumps_json(g, indent=None), end="")
    {"services": [{"name": "a", "kind": "service"}, {"name": "b", "kind": "service"}], "calls": [{"caller": "a", "callee": "b"}]}
    """
    try:
        return json.dumps(graph.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as exc:
        raise TopologyError(f"cannot write JSON: {exc}; weights must be finite") from None


def write_json(graph: ServiceGraph, path_or_file: PathOrFile, *, indent: int | None = 2) -> None:
    """Write the graph as a JSON document to a path (UTF-8) or an open text file.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> write_json(ServiceGraph(["a"]), buf)
    >>> read_json(io.StringIO(buf.getvalue())).services
    ['a']
    """
    _write_text(dumps_json(graph, indent=indent), path_or_file)
