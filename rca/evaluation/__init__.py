"""Measuring the engine: benchmark datasets (:mod:`rca.evaluation.datasets`) and the benchmark itself (:mod:`rca.evaluation.bench`)."""
