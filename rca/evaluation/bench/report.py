"""Write what a bench run found: ``cases.csv``, ``summary.json``, ``summary.md``.

- ``cases.csv``: one row per method × case.  List-valued cells (``truth``,
  ``top5``, ``scores``) are JSON arrays; ``rank`` (best rank of a true cause)
  is empty when no true cause was ranked.
- ``summary.json``: ``{"meta": ..., "groups": [...], "fault_types": [...],
  "calibration": [...]}``, rows as in :class:`~rca.evaluation.bench.metrics.GroupMetrics`,
  :class:`~rca.evaluation.bench.metrics.FaultTypeMetrics` and
  :class:`~rca.evaluation.bench.metrics.CalibrationMetrics`.
- ``summary.md``: the same as Markdown tables, ready for the README.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from rca.evaluation.bench.metrics import (
    ALL_GROUPS,
    CalibrationMetrics,
    FaultTypeMetrics,
    GroupMetrics,
    summarize_calibration,
    summarize_fault_types,
    summarize_groups,
)
from rca.evaluation.bench.confidence_fit import HeldOut, leave_one_system_out, samples_from_results
from rca.evaluation.bench.reliability_plot import write_reliability_diagram
from rca.evaluation.bench.results import CaseResult
from rca.evaluation.bench.robustness import (
    AS_GIVEN,
    RobustnessRow,
    summarize_robustness,
)

__all__ = ["CASE_COLUMNS", "BenchReport", "build_report", "write_report", "render_table", "render_markdown"]

CASE_COLUMNS = [
    "dataset",
    "group",
    "case_id",
    "method",
    "fault_type",
    "truth",
    "rank",
    "top5",
    "scores",
    "n_ranked",
    "seconds",
    "error",
    "confidence",
    "no_cause",
    "features",
]


@dataclass(frozen=True)
class BenchReport:
    """The summary of a run: group rows, fault-type rows and run metadata."""

    groups: tuple[GroupMetrics, ...]
    fault_types: tuple[FaultTypeMetrics, ...]
    meta: Mapping[str, Any]
    calibration: tuple[CalibrationMetrics, ...] = ()
    robustness: tuple[RobustnessRow, ...] = ()
    held_out: tuple[HeldOut, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "meta": dict(self.meta),
            "groups": [g.to_dict() for g in self.groups],
            "fault_types": [f.to_dict() for f in self.fault_types],
            "calibration": [c.to_dict() for c in self.calibration],
            "calibration_held_out": [h.to_dict() for h in self.held_out],
            "robustness": [r.to_dict() for r in self.robustness],
        }


def build_report(results: Sequence[CaseResult], meta: Mapping[str, Any] | None = None) -> BenchReport:
    """Summarize ``results`` (see :mod:`rca.evaluation.bench.metrics` for the definitions)."""
    return BenchReport(
        groups=tuple(summarize_groups(results)),
        fault_types=tuple(summarize_fault_types(results)),
        meta=dict(meta or {}),
        calibration=tuple(summarize_calibration(results)),
        robustness=tuple(summarize_robustness(results)),
        held_out=tuple(_held_out(results)),
    )


def _held_out(results: Sequence[CaseResult]) -> list[HeldOut]:
    """The engine's confidence, fitted on every system but one and measured on it (two systems at least)."""
    samples = samples_from_results(results)
    if len({s.system for s in samples}) < 2:
        return []
    return leave_one_system_out(samples)


def _json_safe(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


def _case_row(r: CaseResult) -> dict[str, Any]:
    return {
        "dataset": r.dataset,
        "group": r.group,
        "case_id": r.case_id,
        "method": r.method,
        "fault_type": r.fault_type or "",
        "truth": json.dumps(list(r.truth)),
        "rank": "" if r.rank is None else r.rank,
        "top5": json.dumps(list(r.top[:5])),
        "scores": json.dumps(_json_safe([None if s is None else round(s, 6) for s in r.scores[:5]])),
        "n_ranked": r.n_ranked,
        "seconds": "" if r.seconds is None else f"{r.seconds:.6f}",
        "error": r.error or "",
        "confidence": "" if r.confidence is None else f"{r.confidence:.4f}",
        "no_cause": "" if r.no_cause is None else f"{r.no_cause:.4f}",
        "features": "" if r.features is None else json.dumps({k: round(v, 6) for k, v in r.features.items()}),
    }


def _fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.3f}" if x >= 0.01 else f"{x:.2g}"


_GROUP_HEAD = ["dataset", "group", "method", "n", "normal", "AC@1", "AC@3", "AC@5", "Avg@5", "specificity", "errors", "median s", "p95 s"]


def _group_cells(g: GroupMetrics) -> list[str]:
    return [
        g.dataset,
        g.group,
        g.method,
        str(g.n),
        str(g.n_normal),
        _fmt(g.ac1),
        _fmt(g.ac3),
        _fmt(g.ac5),
        _fmt(g.avg5),
        _fmt(g.specificity),
        str(g.errors),
        _fmt_s(g.median_s),
        _fmt_s(g.p95_s),
    ]


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    def esc(c: str) -> str:
        return c.replace("|", "\\|")

    aligns = ["---" if i < 3 else "---:" for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(report: BenchReport) -> str:
    """The Markdown summary: accuracy/specificity/speed per group, recall, fault types."""
    meta = report.meta
    lines = ["# rca bench", ""]
    if meta:
        for key in ("created", "datasets", "methods", "jobs", "seed", "limit", "config", "engine_version"):
            if key in meta and meta[key] not in (None, [], "", {}):
                value = meta[key]
                if isinstance(value, list):
                    shown = ", ".join(f"`{v}`" for v in value)
                elif isinstance(value, dict):
                    shown = f"`{json.dumps(value, sort_keys=True)}`"
                else:
                    shown = f"`{value}`"
                lines.append(f"- {key}: {shown}")
        lines.append("")
    lines += [
        "## Accuracy, specificity and speed",
        "",
        "n = fault cases (AC@k), normal = normal windows (specificity: share answered with no root cause); "
        "seconds per case exclude data loading.",
        "",
    ]
    lines += _md_table(_GROUP_HEAD, [_group_cells(g) for g in report.groups])
    lines += ["", "## Top-k recall (PetShop protocol)", ""]
    lines += _md_table(
        ["dataset", "group", "method", "n", "top-1 recall", "top-3 recall"],
        [[g.dataset, g.group, g.method, str(g.n), _fmt(g.recall1), _fmt(g.recall3)] for g in report.groups if g.n],
    )
    lines += ["", "## Per fault type", ""]
    if report.fault_types:
        lines += _md_table(
            ["dataset", "fault type", "method", "n", "AC@1", "AC@3", "AC@5", "Avg@5"],
            [
                [f.dataset, f.fault_type, f.method, str(f.n), _fmt(f.ac1), _fmt(f.ac3), _fmt(f.ac5), _fmt(f.avg5)]
                for f in report.fault_types
            ],
        )
    else:
        lines.append("No case has a fault type.")
    if report.calibration:
        lines += [
            "",
            "## Calibration of the top-1 confidence",
            "",
            "Over the cases where the method named a cause: its mean confidence in the first answer against how "
            "often that answer was a true cause (naming any cause on a normal window is wrong). ECE: the gap per "
            "confidence bin, weighted by the bin's share.",
            "",
        ]
        lines += _md_table(
            ["dataset", "method", "n", "confidence", "right", "ECE", "per bin: confidence → right (n)"],
            [
                [c.dataset, c.method, str(c.n), _fmt(c.mean_confidence), _fmt(c.accuracy), _fmt(c.ece, 3),
                 "; ".join(f"{b['confidence']:.2f} → {b['accuracy']:.2f} ({b['n']})" for b in c.bins)]
                for c in report.calibration
            ],
        )
    if report.held_out:
        lines += _held_out_lines(report.held_out)
    if report.robustness:
        lines += _robustness_lines(report.robustness)
    return "\n".join(lines) + "\n"


def _held_out_lines(held: Sequence[HeldOut]) -> list[str]:
    lines = [
        "",
        "## Calibration on a system the fit never saw (leave one system out)",
        "",
        "The engine's first-cause confidence, with the calibration map fitted on every other system "
        "(`rca.evaluation.bench.confidence_fit`), against how often that first cause was right; raw = the "
        "ranking's own posterior. ECE over ten equal bins; Brier = mean squared error. No-cause: "
        "`no_cause_probability` against \"this is a normal window\", on the same cases. "
        "Diagram: `reliability.png`.",
        "",
    ]
    rows = []
    for h in held:
        r, c, nr, nc = h.raw, h.calibrated, h.no_cause_raw, h.no_cause_calibrated
        rows.append([h.system, h.cases, str(h.n), _fmt(r["accuracy"]), _fmt(r["confidence"]), _fmt(r["ece"], 3),
                     _fmt(r["brier"], 3), _fmt(c["confidence"]), _fmt(c["ece"], 3), _fmt(c["mce"], 3),
                     _fmt(c["brier"], 3), f"{_fmt(nr['brier'], 3)} → {_fmt(nc['brier'], 3)}"])
    lines += _md_table(["system", "cases", "named a cause", "right", "raw confidence", "raw ECE", "raw Brier",
                        "held-out confidence", "held-out ECE", "held-out MCE", "held-out Brier",
                        "no-cause Brier raw → held-out"], rows)
    return lines


def _robustness_lines(rows: Sequence[RobustnessRow]) -> list[str]:
    """The worst and best presentation per dataset × group, then every presentation of each dataset."""
    lines = [
        "",
        "## Robustness to the presentation",
        "",
        "The same cases handed over in other ways (`rca bench --robustness`; see "
        "`rca.evaluation.datasets.represent`): AC@1 as the loader gives them, in the worst and in the best presentation.",
        "",
    ]

    def v_ac1(r: RobustnessRow, v: str | None) -> str:
        return _fmt(r.by_variation.get(v or "", {}).get("ac1"))

    lines += _md_table(
        ["dataset", "group", "method", "n", "as given", "worst", "worst AC@1", "best", "best AC@1", "spread"],
        [
            [r.dataset, r.group, r.method, str(r.n), v_ac1(r, AS_GIVEN), r.worst or "", _fmt(r.worst_ac1),
             r.best or "", _fmt(r.best_ac1), _fmt(r.spread)]
            for r in rows if r.n
        ],
    )
    for r in rows:
        if r.group != ALL_GROUPS and any(o.dataset == r.dataset and o.group == ALL_GROUPS for o in rows):
            continue
        lines += ["", f"### {r.dataset} ({r.group}), {r.method}", ""]
        lines += _md_table(
            ["presentation", "AC@1", "AC@3", "specificity"],
            [[v, _fmt(s["ac1"]), _fmt(s["ac3"]), _fmt(s["specificity"])] for v, s in r.by_variation.items()],
        )
    return lines


_TERMINAL_HEAD = ["dataset/group", "method", "n", "norm", "AC@1", "AC@3", "AC@5", "Avg@5", "spec", "err", "med s", "p95 s"]
# Shown when the terminal is narrow: what fits in 80 columns.
_COMPACT_HEAD = ["dataset/group", "method", "n", "AC@1", "AC@3", "Avg@5", "spec", "med s"]


def render_table(report: BenchReport, width: int | None = None) -> Table:
    """The group summary as a rich table; below 120 columns, a compact one."""
    head = _COMPACT_HEAD if width is not None and width < 120 else _TERMINAL_HEAD
    table = Table(title="rca bench", show_lines=False)
    table.add_column(head[0], overflow="fold", ratio=2)
    table.add_column(head[1], no_wrap=True)
    for name in head[2:]:
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    previous: tuple[str, str] | None = None
    for g in report.groups:
        if previous is not None and (g.dataset, g.group) != previous:
            table.add_section()
        previous = (g.dataset, g.group)
        cells = dict(zip(_GROUP_HEAD, _group_cells(g)))
        cells.update({"dataset/group": f"{g.dataset}/{g.group}", "norm": cells["normal"], "spec": cells["specificity"], "err": cells["errors"], "med s": cells["median s"]})
        table.add_row(*(cells[name] for name in head))
    return table


def write_report(results: Sequence[CaseResult], out_dir: str | Path, meta: Mapping[str, Any] | None = None) -> BenchReport:
    """Write ``cases.csv``, ``summary.json`` and ``summary.md`` into ``out_dir`` (created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(results, meta)
    with open(out / "cases.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CASE_COLUMNS)
        writer.writeheader()
        writer.writerows(_case_row(r) for r in results)
    (out / "summary.json").write_text(json.dumps(_json_safe(report.to_dict()), indent=2) + "\n", encoding="utf-8")
    (out / "summary.md").write_text(render_markdown(report), encoding="utf-8")
    if report.held_out:
        write_reliability_diagram(report.held_out, out / "reliability.png")
    return report
