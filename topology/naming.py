"""Map pod / instance names to service names.

Metrics and spans are reported per pod (``cartservice-579f59597d-wc2lz``), the
call graph and the answer are per service (``cartservice``).  The default rule
strips the suffixes Kubernetes generates for pods:

* Deployment: ``<name>-<pod-template-hash>-<5 random>`` (two segments);
* ReplicaSet / DaemonSet / Job / bare hash: ``<name>-<5 random>``;
* StatefulSet: ``<name>-<ordinal>`` (``redis-0``).

Kubernetes draws these suffixes from the alphabet ``bcdfghjklmnpqrstvwxz2456789``
(no vowels, no 0/1/3), so ordinary words such as ``dashboard`` are never
mistaken for a hash.  The rule is a regular expression the user can replace,
and an explicit mapping always wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from topology.errors import TopologyError
from topology.model import ServiceGraph

__all__ = ["DEFAULT_POD_PATTERN", "PodNameMapper", "pod_to_service"]

# The alphabet of k8s.io/apimachinery/pkg/util/rand.SafeEncodeString.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"

#: Default rule: the ``service`` group is the pod name without its generated suffix.
#: The pod-template-hash is a uint32 written in decimal and re-encoded
#: character by character, so it has at most 10 characters; 6 is the lower
#: bound used here to avoid eating short real name segments.
DEFAULT_POD_PATTERN = (
    rf"(?P<service>.+?)(?:-[{_SAFE}]{{6,10}}-[{_SAFE}]{{5}}|-[{_SAFE}]{{5}}|-[0-9]+)"
)


class PodNameMapper:
    """A callable that turns a pod (instance) name into its service name.

    Resolution order for a name ``n``:

    1. ``mapping[n]`` when ``n`` is a key of ``mapping`` (exact pod name);
    2. ``n`` itself when it is one of the mapping's target services, so the
       mapper is idempotent on its own output;
    3. ``s`` = the ``service`` group of ``pattern`` when the pattern matches the
       whole name, otherwise ``n``; then ``mapping[s]`` if ``s`` is a key,
       else ``s``.

    Parameters
    ----------
    pattern : str or re.Pattern, optional
        Regular expression applied with ``fullmatch``; it must define a named
        group ``service``.  Defaults to :data:`DEFAULT_POD_PATTERN`.
    mapping : mapping of str to str, optional
        Explicit overrides, keyed by pod name or by the stripped name.

    Raises
    ------
    TopologyError
        If ``pattern`` does not compile or has no ``service`` group, or a
        mapping key or value is not a non-empty string.

    Examples
    --------
    >>> to_service = PodNameMapper()
    >>> to_service("cartservice-579f59597d-wc2lz")
    'cartservice'
    >>> to_service("redis-0"), to_service("ts-ui-dashboard"), to_service("frontend")
    ('redis', 'ts-ui-dashboard', 'frontend')
    >>> PodNameMapper(mapping={"redis": "redis-cart"})("redis-0")
    'redis-cart'
    >>> PodNameMapper(pattern=r"(?P<service>.+)_\\d+")("worker_12")
    'worker'
    """

    def __init__(
        self,
        pattern: str | re.Pattern[str] = DEFAULT_POD_PATTERN,
        mapping: Mapping[str, str] | None = None,
    ) -> None:
        try:
            compiled = re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise TopologyError(
                f"the pod-name pattern does not compile: {exc}", field="pattern"
            ) from None
        if "service" not in compiled.groupindex:
            raise TopologyError(
                f"the pod-name pattern {compiled.pattern!r} needs a named group "
                "'service', e.g. r'(?P<service>.+)-[0-9]+'",
                field="pattern",
            )
        clean: dict[str, str] = {}
        for key, value in (mapping or {}).items():
            for what in (key, value):
                if not isinstance(what, str) or not what.strip():
                    raise TopologyError(
                        f"mapping keys and values must be non-empty strings, got {what!r}",
                        field=f"mapping[{key!r}]",
                    )
            clean[key] = value.strip()
        self.pattern: re.Pattern[str] = compiled
        self.mapping: dict[str, str] = clean
        self._targets = frozenset(clean.values())

    def __call__(self, name: str) -> str:
        """Return the service name of pod ``name`` (see the class docstring)."""
        if name in self.mapping:
            return self.mapping[name]
        if name in self._targets:
            return name
        match = self.pattern.fullmatch(name)
        base = match.group("service") if match and match.group("service") else name
        return self.mapping.get(base, base)

    def __repr__(self) -> str:
        return f"PodNameMapper(pattern={self.pattern.pattern!r}, mapping={self.mapping!r})"

    def mapping_for(self, names: Iterable[str]) -> dict[str, str]:
        """``{name: service}`` for each distinct name, e.g. for ``ServiceGraph.relabel``.

        Examples
        --------
        >>> PodNameMapper().mapping_for(["redis-0", "redis-1", "frontend"])
        {'redis-0': 'redis', 'redis-1': 'redis', 'frontend': 'frontend'}
        """
        return {n: self(n) for n in dict.fromkeys(names)}

    def relabel(self, graph: ServiceGraph) -> ServiceGraph:
        """A copy of ``graph`` with pod nodes renamed and merged into services.

        Calls between pods of one service become internal and are dropped;
        call counts of merged calls add up (see :meth:`ServiceGraph.relabel`).

        Examples
        --------
        >>> g = ServiceGraph(calls=[("frontend-579b9bff58-t2dbm", "redis-0")])
        >>> PodNameMapper().relabel(g).services
        ['frontend', 'redis']
        """
        return graph.relabel(self.mapping_for(graph.services))


_DEFAULT = PodNameMapper()


def pod_to_service(name: str) -> str:
    """The service of pod ``name`` under the default rule.

    Examples
    --------
    >>> pod_to_service("ts-contacts-service-866bd68c97-xcqfx")
    'ts-contacts-service'
    """
    return _DEFAULT(name)
