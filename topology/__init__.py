"""Service topology: the call graph and its loaders.

An edge ``A -> B`` means A calls B; faults propagate against the arrows.
This package knows nothing about metrics.
"""

from topology.errors import TopologyError
from topology.model import Call, Node, NodeKind, ServiceGraph

__all__ = ["Call", "Node", "NodeKind", "ServiceGraph", "TopologyError"]
