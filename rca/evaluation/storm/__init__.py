"""The alert-storm benchmark: storms synthesized from benchmark faults, replayed as webhooks against a running server.

``synth`` makes the storms (with the truth), ``score`` the pairwise grouping
scores, ``replay`` runs Prometheus, the server and a receiver as real
processes and measures; ``python -m rca.evaluation.storm --help``.
"""

from rca.evaluation.storm.score import PairScores, pairwise_scores
from rca.evaluation.storm.synth import Storm, StormAlert, StormEvent, make_storm

__all__ = ["PairScores", "Storm", "StormAlert", "StormEvent", "make_storm", "pairwise_scores"]
