"""Scale benchmark: seconds per stage and peak memory of one analysis, 300 to 30,000 services.

Each size and input shape (wide ``(service, metric)`` frame, long frame) runs in
a fresh Python process; stage and total seconds are CPU seconds of that process
(``time.process_time``), wall seconds are printed beside them. See
``rca/evaluation/bench/scale.py`` and docs/benchmark.md#scale.

Usage::

    python scripts/bench_scale.py                                   # 300 .. 30,000 services, wide and long
    python scripts/bench_scale.py --sizes 1000,10000 --shapes wide --source parquet --out scale.json
"""

from rca.evaluation.bench.scale import main

if __name__ == "__main__":
    raise SystemExit(main())
