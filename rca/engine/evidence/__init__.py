"""Evidence from spans and logs: series per service, operation, edge and log template, tested event by event.

Modules: :mod:`~rca.engine.evidence.spans` (span events and minute series), :mod:`~rca.engine.evidence.logs`
(reading logs, drain3 templates, log events), :mod:`~rca.engine.evidence.inputs` (frames and files of every
format), :mod:`~rca.engine.evidence.significance` (exact binomial tests), :mod:`~rca.engine.evidence.scoring`
(the tests over all series), :mod:`~rca.engine.evidence.build` (one analysis' evidence and its merge into
detection), :mod:`~rca.engine.evidence.stage` (where :func:`rca.analyze` calls them).
"""

from rca.engine.evidence.build import EvidenceInputs, SpanLogEvidence, build_evidence, merge_scores, read_evidence
from rca.engine.evidence.logs import LogTable, log_events, mine_templates, read_logs
from rca.engine.evidence.spans import link_parents, span_events, span_series

__all__ = [
    "EvidenceInputs",
    "LogTable",
    "SpanLogEvidence",
    "build_evidence",
    "link_parents",
    "log_events",
    "merge_scores",
    "mine_templates",
    "read_evidence",
    "read_logs",
    "span_events",
    "span_series",
]
