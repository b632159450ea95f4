"""The scale benchmark: seconds per stage and peak memory of one analysis, 300 to 30,000 services.

``python scripts/bench_scale.py`` (or ``python -m rca.evaluation.bench.scale``)
runs :func:`rca.analyze` on a layered incident of each size
(:func:`rca.evaluation.datasets.synthetic.scale.scale_case`: fan-out 2, three
metrics per service, 180 one-minute points, one deep root cause), handed over
as a wide ``(service, metric)`` frame and as a long frame, each size and shape
in a fresh Python process so one run's memory does not count in the next.

Per stage it reports the CPU seconds of the process (:func:`time.process_time`,
what the analysis cost whatever else the machine runs) and the wall seconds;
peak memory is the process' resident peak (``VmHWM``) during the analysis,
reset after the incident is generated, so it counts the interpreter, the input
frame and everything the analysis allocates.  Finally the growth exponent: the
slope of log(total seconds) against log(series), least squares.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["STAGES", "measure_one", "run_scale", "growth_exponent", "render_markdown", "main"]

STAGES = ("ingest", "align", "detect", "causal", "rank")
DEFAULT_SIZES = (300, 1_000, 3_000, 10_000, 30_000)


def _status_kb(key: str) -> int | None:
    """A ``VmHWM``/``VmRSS`` line of /proc/self/status, in kB (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process' resident peak (Linux: ``5`` to ``clear_refs``); False when not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure_one(n_services: int, shape: str, *, source: str = "frame", seed: int = 1) -> dict[str, Any]:
    """One analysis of a ``n_services`` incident given as ``shape`` (``wide``/``long``) from ``source``.

    ``source`` is ``frame`` (the DataFrame in memory), ``parquet`` or ``csv``
    (a file written before the clock starts, read by the analysis).  Meant to
    run in a fresh process (:func:`run_scale` does that).
    """
    import pandas as pd

    import rca
    from rca.evaluation.datasets.synthetic.scale import scale_case

    warm = scale_case(20, seed=0)  # imports and first-call costs off the clock
    rca.analyze(warm.graph, warm.wide if shape == "wide" else warm.long, warm.incident)
    case = scale_case(n_services, seed=seed)
    data: Any = case.wide if shape == "wide" else case.long
    graph, incident, root, n_series, points = case.graph, case.incident, case.root, case.n_series, case.wide.size
    del case
    tmp = None
    if source != "frame":
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / f"metrics.{source}"
        if source == "parquet":
            data.to_parquet(path)
        else:
            data.to_csv(path, index=shape == "wide")
        data = path
    gc.collect()
    reset = _reset_peak()
    rss_before = _status_kb("VmRSS")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = rca.analyze(graph, data, incident)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    peak = _status_kb("VmHWM") if reset else None
    if tmp is not None:
        tmp.cleanup()
    out: dict[str, Any] = {
        "services": n_services,
        "series": n_series,
        "points": points,
        "shape": shape,
        "source": source,
        "cpu_s": round(cpu, 4),
        "wall_s": round(wall, 4),
        "rss_before_mb": None if rss_before is None else round(rss_before / 1024, 1),
        "peak_rss_mb": None if peak is None else round(peak / 1024, 1),
        "top": result.top.service if result.causes else None,
        "right": bool(result.causes) and result.top.service == root,
        "pandas": pd.__version__,
    }
    for stage in STAGES:
        out[f"{stage}_cpu_s"] = round(result.timings.get(f"{stage}_cpu", math.nan), 4)
        out[f"{stage}_wall_s"] = round(result.timings.get(stage, math.nan), 4)
    return out


def _measure_in_child(n: int, shape: str, source: str, seed: int) -> dict[str, Any]:
    """:func:`measure_one` in a fresh interpreter; its JSON line back."""
    cmd = [sys.executable, "-m", "rca.evaluation.bench.scale", "--child", str(n), shape, source, str(seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the {n}-service {shape} run failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def growth_exponent(rows: Sequence[dict[str, Any]], key: str = "cpu_s") -> float:
    """Least-squares slope of log(``key``) against log(series) over ``rows``."""
    xs = [math.log(r["series"]) for r in rows]
    ys = [math.log(max(r[key], 1e-9)) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else math.nan


def run_scale(
    sizes: Sequence[int] = DEFAULT_SIZES,
    shapes: Sequence[str] = ("wide", "long"),
    *,
    source: str = "frame",
    seed: int = 1,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Measure every size and shape, each in its own process; rows in that order."""
    rows = []
    for n in sizes:
        for shape in shapes:
            row = _measure_in_child(n, shape, source, seed)
            if progress:
                print(f"  {n:>6} services {shape:<4}: {row['cpu_s']:.3f} s CPU, {row['wall_s']:.3f} s wall, "
                      f"peak {row['peak_rss_mb']} MB", file=sys.stderr, flush=True)
            rows.append(row)
    return rows


def render_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The table, the growth exponents and the wide/long ratios, as markdown."""
    head = ("| services (series) | input | " + " | ".join(f"{s} s" for s in STAGES)
            + " | total CPU s | total wall s | peak RSS MB | right |")
    lines = [head, "|" + "---|" * (len(STAGES) + 6)]
    for r in rows:
        stages = " | ".join(f"{r[f'{s}_cpu_s']:.3f}" for s in STAGES)
        lines.append(
            f"| {r['services']:,} ({r['series']:,}) | {r['shape']} {r['source']} | {stages} | "
            f"{r['cpu_s']:.3f} | {r['wall_s']:.3f} | {r['peak_rss_mb']} | {'yes' if r['right'] else 'no'} |"
        )
    lines.append("")
    shapes = list(dict.fromkeys(r["shape"] for r in rows))
    for shape in shapes:
        part = [r for r in rows if r["shape"] == shape]
        if len(part) >= 2:
            lines.append(f"- growth exponent, {shape}: {growth_exponent(part):.2f} (CPU), "
                         f"{growth_exponent(part, 'wall_s'):.2f} (wall)")
    if {"wide", "long"} <= set(shapes):
        long = {r["services"]: r for r in rows if r["shape"] == "long"}
        ratios = [r["cpu_s"] / long[r["services"]]["cpu_s"] for r in rows
                  if r["shape"] == "wide" and r["services"] in long]
        if ratios:
            lines.append(f"- wide / long total CPU: {min(ratios):.2f} to {max(ratios):.2f}")
    lines.append("- stage and total seconds are CPU seconds of the analysing process (time.process_time); "
                 "wall seconds include waiting for a shared CPU")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``--sizes 300,1000 --shapes wide,long --source frame --out scale.json``."""
    parser = argparse.ArgumentParser(prog="bench_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="services per incident, comma-separated")
    parser.add_argument("--shapes", default="wide,long", help="wide, long or both")
    parser.add_argument("--source", default="frame", choices=("frame", "parquet", "csv"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--child", nargs=4, metavar=("N", "SHAPE", "SOURCE", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        n, shape, source, seed = args.child
        print(json.dumps(measure_one(int(n), shape, source=source, seed=int(seed))))
        return 0
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be integers separated by commas, got {args.sizes!r}")
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    bad = [s for s in shapes if s not in ("wide", "long")]
    if bad or not shapes:
        parser.error(f"--shapes takes wide and/or long, got {args.shapes!r}")
    if any(n < 8 for n in sizes):
        parser.error("--sizes: every size must be at least 8 services")
    rows = run_scale(sizes, shapes, source=args.source, seed=args.seed)
    print(render_markdown(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
