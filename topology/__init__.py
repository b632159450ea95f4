"""Service topology: the call graph and its loaders.

An edge ``A -> B`` means A calls B; faults propagate against the arrows.
This package knows nothing about metrics.

Read any supported format with :func:`load` (files) or :func:`loads` (text,
e.g. an HTTP body); :data:`FORMATS` lists the format names.  Each format also
has its own ``read_*`` / ``loads_*`` / ``write_*`` / ``dumps_*`` functions.
"""

from topology.errors import TopologyError
from topology.io_csv import (
    dumps_adjacency_csv,
    dumps_edge_csv,
    is_ip_address,
    loads_adjacency_csv,
    loads_edge_csv,
    read_adjacency_csv,
    read_edge_csv,
    write_adjacency_csv,
    write_edge_csv,
)
from topology.io_json import (
    dumps_json,
    graph_from_dict,
    loads_json,
    read_json,
    write_json,
)
from topology.io_servicenow import CALL_TYPES, NON_CALL_TYPES, graph_from_cmdb, loads_cmdb_csv, loads_cmdb_json
from topology.io_spans import (
    SPAN_COLUMNS,
    graph_from_spans,
    normalize_spans_csv,
    read_spans_csv,
)
from topology.io_trace_json import (
    JSON_SPAN_COLUMNS,
    graph_from_jaeger,
    graph_from_otlp,
    graph_from_zipkin,
    spans_from_json,
)
from topology.io_traces import TRACE_FORMATS, loads_traces, read_traces
from topology.io_yaml import dumps_yaml, loads_yaml, read_yaml, write_yaml
from topology.load import FORMATS, load, loads, sniff_format
from topology.model import (
    EDGE_MEANINGS,
    Call,
    Node,
    NodeKind,
    ServiceGraph,
    check_edges,
)
from topology.naming import DEFAULT_POD_PATTERN, PodNameMapper, pod_to_service

__all__ = [
    # model and errors
    "Call",
    "Node",
    "NodeKind",
    "ServiceGraph",
    "TopologyError",
    "EDGE_MEANINGS",
    "check_edges",
    # any format
    "FORMATS",
    "load",
    "loads",
    "sniff_format",
    # JSON / YAML documents
    "graph_from_dict",
    "read_json",
    "loads_json",
    "write_json",
    "dumps_json",
    "read_yaml",
    "loads_yaml",
    "write_yaml",
    "dumps_yaml",
    # CSV
    "read_edge_csv",
    "loads_edge_csv",
    "write_edge_csv",
    "dumps_edge_csv",
    "read_adjacency_csv",
    "loads_adjacency_csv",
    "write_adjacency_csv",
    "dumps_adjacency_csv",
    "is_ip_address",
    # traces
    "SPAN_COLUMNS",
    "TRACE_FORMATS",
    "normalize_spans_csv",
    "graph_from_spans",
    "read_spans_csv",
    "graph_from_otlp",
    "graph_from_jaeger",
    "graph_from_zipkin",
    "JSON_SPAN_COLUMNS",
    "spans_from_json",
    "read_traces",
    "loads_traces",
    # ServiceNow CMDB
    "CALL_TYPES",
    "NON_CALL_TYPES",
    "graph_from_cmdb",
    "loads_cmdb_json",
    "loads_cmdb_csv",
    # naming
    "DEFAULT_POD_PATTERN",
    "PodNameMapper",
    "pod_to_service",
]
