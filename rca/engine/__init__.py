"""The analysis engine: ingest -> align -> detect -> causal -> rank -> explain, run in that order by :mod:`rca.engine.pipeline`.

Imports nothing of the layers above it (store, service, integrations, evaluation, views, cli).
"""
