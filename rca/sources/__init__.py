"""Where inputs come from, other than the caller: Prometheus metrics and call graphs.

* :mod:`rca.sources.catalog`: the metrics catalog (engine metric -> PromQL), validated.
* :mod:`rca.sources.prometheus`: a ``query_range`` client and :func:`~rca.sources.prometheus.fetch_metrics`.
* :mod:`rca.sources.prometheus_topology`: call edges from Istio or the OpenTelemetry servicegraph connector.
"""
