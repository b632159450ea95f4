"""``python -m rca.evaluation.storm``: the alert-storm benchmark (see docs/integrations/incidents.md).

For each family, storms of ``--faults`` simultaneous faults are synthesized
from its cases and replayed twice against fresh servers: with incidents (one
analysis and one note per incident) and without (today's one analysis and
one note per alert, the naive baseline).  Prints one JSON object per run and
writes them all to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from rca.evaluation.datasets import load_cases
from rca.evaluation.datasets.synthetic import generate_case
from rca.evaluation.storm.replay import replay, score_run
from rca.evaluation.storm.synth import Storm, make_storm

ANCHOR = pd.Timestamp("2024-06-01T00:00:00Z")
FAMILIES = ("synthetic", "petshop", "nezha")


def _cases(family: str, data: Path, n: int, seed: int) -> list:
    if family == "synthetic":
        return [generate_case("layered", 30, fault="latency_step", magnitude=10.0, seed=seed + k) for k in range(n)]
    if family == "petshop":
        cases = load_cases(f"petshop:{data / 'petshop'}")
    elif family == "nezha":
        cases = load_cases(f"nezha:{data / 'nezha'}")
    else:
        raise SystemExit(f"Error: unknown family {family!r}; use {', '.join(FAMILIES)}")
    faults = [c for c in cases if not c.is_normal and c.root_causes[0] in c.graph]
    rng = np.random.default_rng(seed)
    return [faults[i] for i in rng.permutation(len(faults))[:n]]


def storms_of(family: str, data: Path, *, storms: int, faults: int, seed: int, noise: int, flapping: int,
              unknown: int) -> list[Storm]:  # fmt: skip
    cases = _cases(family, data, storms * faults, seed)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(min(storms, len(cases) // faults)):
        chunk = cases[i * faults:(i + 1) * faults]
        out.append(make_storm(i, chunk, ANCHOR + pd.Timedelta(hours=12 * i), rng=rng, noise=noise, flapping=flapping,
                              unknown=unknown))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rca.evaluation.storm", description=__doc__.split("\n\n")[0])
    p.add_argument("--family", action="append", choices=FAMILIES, help="repeatable; default: synthetic")
    p.add_argument("--data", type=Path, default=Path("../shared/datasets"), help="folder with petshop/ and nezha/")
    p.add_argument("--storms", type=int, default=4)
    p.add_argument("--faults", type=int, default=3, help="simultaneous faults per storm")
    p.add_argument("--noise", type=int, default=2, help="noise alerts per storm")
    p.add_argument("--flapping", type=int, default=1, help="alerts per storm that resolve and fire again")
    p.add_argument("--unknown", type=int, default=1, help="alerts per fault on a service outside the topology")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--database", help="PostgreSQL URL (default: a fresh SQLite file per run)")
    p.add_argument("--servers", type=int, default=1, help="server processes on the one database, each sent every alert")
    p.add_argument("--rate", type=float, help="alerts per second (default: as fast as answered)")
    p.add_argument("--link", choices=("roots", "undirected"), default="roots", help="RCA_INCIDENT_LINK")
    p.add_argument("--hops", type=int, default=5, help="RCA_INCIDENT_HOPS")
    p.add_argument("--no-baseline", action="store_true", help="skip the per-alert (naive) run")
    p.add_argument("--workdir", type=Path, help="keep logs and databases here")
    p.add_argument("--out", type=Path, help="write the results (JSON) here")
    args = p.parse_args(argv)
    results = []
    work = args.workdir or Path(tempfile.mkdtemp(prefix="rca-storm-"))
    for family in args.family or ["synthetic"]:
        storms = storms_of(family, args.data, storms=args.storms, faults=args.faults, seed=args.seed, noise=args.noise,
                           flapping=args.flapping, unknown=args.unknown)  # fmt: skip
        if not storms:
            print(f"Error: {family}: not enough cases for one storm of {args.faults} faults", file=sys.stderr)
            return 2
        step = max(case_step_of(st) for st in storms)
        modes = [True] if args.no_baseline else [True, False]
        for incidents in modes:
            env = {"RCA_INCIDENT_LINK": args.link, "RCA_INCIDENT_HOPS": str(args.hops)}
            run = replay(storms, work / f"{family}-{'incidents' if incidents else 'per-alert'}", step=step,
                         incidents=incidents, database_url=args.database, rate=args.rate, servers=args.servers,
                         extra_env=env)  # fmt: skip
            reasons = {a["id"]: a["reason"] for d in run.incidents.values() for a in d["alert_list"]}
            (work / f"{family}-{run.mode}" / "alerts.json").write_text(json.dumps([
                {"alert": aid, "truth": t, "kind": k, "service": svc, "incident": run.incident_of.get(aid),
                 "reason": reasons.get(aid)} for aid, t, k, svc in run.items], indent=1))  # fmt: skip
            figures = {"family": family, "storms": len(storms), "link": args.link, "hops": args.hops,
                       "servers": args.servers, **score_run(run, storms)}  # fmt: skip
            print(json.dumps(figures), flush=True)
            results.append(figures)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


def case_step_of(storm: Storm) -> pd.Timedelta:
    ts = pd.Series(sorted(set(storm.metrics["timestamp"])))
    return pd.Timedelta(ts.diff().dropna().min())


if __name__ == "__main__":
    raise SystemExit(main())
