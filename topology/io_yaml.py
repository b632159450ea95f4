"""Read and write the topology document as YAML.

Same document and rules as :mod:`topology.io_json` (``services`` and
``calls``; undeclared callees are added as services), parsed with
``yaml.safe_load`` so no Python objects can be constructed from the input.

Example document::

    services:
      - frontend
      - {name: cart-db, kind: database, tags: {team: payments}}
    calls:
      - {caller: frontend, callee: cart-db, weight: 0.5}
"""

from __future__ import annotations

import yaml

from topology.errors import TopologyError
from topology.io_json import PathOrFile, _graph_from_text, _read_text, _write_text
from topology.model import ServiceGraph

__all__ = ["read_yaml", "loads_yaml", "write_yaml", "dumps_yaml"]


def loads_yaml(text: str | bytes, *, source: str | None = None) -> ServiceGraph:
    """Parse a YAML topology document.

    Parameters
    ----------
    text : str or bytes
        The YAML text (bytes are decoded as UTF-8).
    source : str, optional
        Name used in error messages.

    Returns
    -------
    ServiceGraph

    Raises
    ------
    TopologyError
        Invalid YAML (with ``line`` when the parser reports one), an empty
        document, or an invalid document (with ``field``).

    Examples
    --------
    >>> g = loads_yaml('''
    ... services: [web, {name: db, kind: database}]
    ... calls: [{caller: web, callee: db}]
    ... ''')
    >>> [(n.name, n.kind.value) for n in g.nodes]
    [('web', 'service'), ('db', 'database')]
    >>> loads_yaml("calls: [")
    Traceback (most recent call last):
    ...
    topology.errors.TopologyError: line 1: invalid YAML: while parsing a flow node: expected the node content, but found '<stream end>'
    """
    return _graph_from_text(text, source, _parse_yaml)


def _parse_yaml(text: str, source: str | None) -> object:
    """The parsed YAML document; syntax errors and an empty document are :class:`TopologyError`."""
    try:
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = ": ".join(" ".join(str(p).split()) for p in (exc.context, exc.problem) if p)
        raise TopologyError(
            f"invalid YAML: {detail}",
            source=source,
            line=None if mark is None else mark.line + 1,
        ) from None
    except yaml.YAMLError as exc:
        raise TopologyError(f"invalid YAML: {exc}", source=source) from None
    if doc is None:
        raise TopologyError(
            "the YAML document is empty; expected a mapping with 'services' and 'calls'",
            source=source,
        )
    return doc


def read_yaml(path_or_file: PathOrFile) -> ServiceGraph:
    """Read a YAML topology document from a path or an open file.

    See :func:`loads_yaml`; errors name the file.

    Examples
    --------
    >>> import io
    >>> read_yaml(io.StringIO("services: [a, b]")).services
    ['a', 'b']
    """
    text, source = _read_text(path_or_file)
    return loads_yaml(text, source=source)


def dumps_yaml(graph: ServiceGraph) -> str:
    """The graph as a YAML document (``graph.to_dict()``).

    Examples
    --------
    >>> print(dumps_yaml(ServiceGraph(calls=[("a", "b")])), end="")
    services:
    - name: a
      kind: service
    - name: b
      kind: service
    calls:
    - caller: a
      callee: b
    """
    return yaml.safe_dump(
        graph.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def write_yaml(graph: ServiceGraph, path_or_file: PathOrFile) -> None:
    """Write the graph as a YAML document to a path (UTF-8) or an open text file.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> write_yaml(ServiceGraph(["a"]), buf)
    >>> loads_yaml(buf.getvalue()).services
    ['a']
    """
    _write_text(dumps_yaml(graph), path_or_file)
