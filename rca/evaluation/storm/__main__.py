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
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from rca.evaluation.datasets import load_cases
from rca.evaluation.datasets.synthetic import generate_case
from rca.evaluation.storm.replay import RunResult, replay, score_run
from rca.evaluation.storm.score import pairwise_scores
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


def _top_of(run: RunResult, aid: int) -> str | None:
    """The top cause of the analysis that covered alert ``aid`` (its incident's, or its own)."""
    inc = run.incident_of.get(aid)
    analysis = (run.incidents.get(inc) or {}).get("analysis") if inc is not None else (run.alerts.get(aid) or {}).get("analysis")
    causes = ((analysis or {}).get("result") or {}).get("causes") or []
    return causes[0].get("service") if causes else None


def _partition(run: RunResult) -> dict[int, int]:
    """Event position -> incident, comparable between runs (alert ids differ)."""
    return {pos: run.incident_of.get(aid, -1 - pos) for pos, (aid, *_) in enumerate(run.items)}


def main(argv: list[str] | None = None, *, database: Callable[[str], str] | None = None) -> int:
    """Run the benchmark; ``database(run_name)`` gives each run a fresh database URL (``rca storm`` makes
    PostgreSQL schemas), else each run gets a fresh SQLite file."""
    p = argparse.ArgumentParser(prog="python -m rca.evaluation.storm", description=__doc__.split("\n\n")[0])
    p.add_argument("--family", action="append", choices=FAMILIES, help="repeatable; default: synthetic")
    p.add_argument("--data", type=Path, default=Path("../shared/datasets"), help="folder with petshop/ and nezha/")
    p.add_argument("--storms", type=int, default=4)
    p.add_argument("--faults", type=int, default=3, help="simultaneous faults per storm")
    p.add_argument("--noise", type=int, default=2, help="noise alerts per storm")
    p.add_argument("--flapping", type=int, default=1, help="alerts per storm that resolve and fire again")
    p.add_argument("--unknown", type=int, default=1, help="alerts per fault on a service outside the topology")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--database", help="PostgreSQL URL, a fresh schema per run (rca storm only; default: SQLite files)")
    p.add_argument("--servers", default="1", help="server processes on one database, each sent every alert; "
                   "a list (1,2) runs each and compares their incidents")
    p.add_argument("--rate", type=float, help="alerts per second (default: as fast as answered)")
    p.add_argument("--workers", type=int, default=2, help="analysis workers per server (RCA_WORKERS)")
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
        counts = [int(x) for x in str(args.servers).split(",")]
        modes = [(True, n) for n in counts] + ([] if args.no_baseline else [(False, 1)])
        partitions: dict[int, dict[int, int]] = {}
        for incidents, servers in modes:
            env = {"RCA_INCIDENT_LINK": args.link, "RCA_INCIDENT_HOPS": str(args.hops)}
            name = f"{family}-{'incidents' if incidents else 'per-alert'}-{servers}"
            url = database(name) if (database and args.database) else None
            run = replay(storms, work / name, step=step, incidents=incidents, database_url=url, rate=args.rate,
                         servers=servers, extra_env=env, workers=args.workers)  # fmt: skip
            reasons = {a["id"]: a["reason"] for d in run.incidents.values() for a in d["alert_list"]}
            (work / name / "alerts.json").write_text(json.dumps([
                {"alert": aid, "truth": t, "kind": k, "service": svc, "incident": run.incident_of.get(aid),
                 "reason": reasons.get(aid), "top": _top_of(run, aid)} for aid, t, k, svc in run.items], indent=1))  # fmt: skip
            figures = {"family": family, "storms": len(storms), "link": args.link, "hops": args.hops, "servers": servers,
                       "workers": args.workers,
                       "database": "postgresql" if url else "sqlite", **score_run(run, storms)}  # fmt: skip
            if incidents:
                partitions[servers] = _partition(run)
                if servers != counts[0]:  # the same storm, more processes: the same incidents?
                    same = pairwise_scores(partitions[counts[0]], partitions[servers])
                    figures["agreement_with_first"] = same.to_dict()
                    figures["same_incidents_as_first"] = same.both == same.true_pairs == same.predicted_pairs
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
