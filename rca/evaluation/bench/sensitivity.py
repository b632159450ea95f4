"""Does each default earn its place?  Sensitivity and leave-one-system-out choice.

``rca bench --sensitivity`` runs the engine once with the defaults and once
with each parameter of :data:`PARAMETERS` halved and doubled (clipped to its
valid range), and reports AC@1 (and specificity where a dataset has normal
windows) per dataset.  From the same runs it makes the leave-one-system-out
table: for each dataset in turn, every parameter takes the value among
half / default / double that scores best on the *other* datasets, all those
choices together are run on the held-out dataset, and its score is set
beside the defaults'.  A default fitted to one dataset shows up as a choice
that the others would not make, or as a held-out score the defaults beat.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rca.engine.config import RCAConfig
from rca.evaluation.bench.metrics import ac_at_k, specificity
from rca.evaluation.bench.results import CaseResult
from rca.evaluation.bench.robustness import split_dataset

__all__ = ["PARAMETERS", "Sweep", "run_sweep", "sweep_configs", "objective", "leave_one_system_out", "render_sensitivity"]

#: The defaults under test, as ``section.name``.
PARAMETERS: tuple[str, ...] = (
    "detect.threshold", "detect.symptom_threshold", "detect.quiet_symptom_factor", "detect.baseline_incident_z",
    "detect.min_norm", "detect.single_point", "detect.level_margin", "detect.false_alarm", "detect.horizon",
    "granger.alpha", "granger.context",
    "rank.restart", "rank.null_log_score", "rank.quiet_null_log_score", "rank.sharpness", "rank.baseline_cap",
    "rank.beyond_cap", "rank.corroboration", "rank.other_kind", "rank.noise", "rank.propagate", "rank.walk_back",
    "rank.walk_weight", "rank.granger_weight",
)

Runner = Callable[[dict[str, Any] | None, str | None], list[CaseResult]]  # (config, only this dataset)


def _rules(section: str, name: str) -> tuple:
    cls = RCAConfig._SECTIONS[section]
    return cls._RULES.get(name, ())


def _scaled(section: str, name: str, factor: float) -> Any:
    default = getattr(RCAConfig._SECTIONS[section](), name)
    rule = _rules(section, name)
    if rule and rule[0] == "optional":
        rule = rule[1:]
    value = default * factor
    if rule and rule[0] in ("int", "float"):
        value = min(max(value, rule[1]), rule[2])
    if rule and rule[0] == "int":
        value = int(round(value))
    return value


def sweep_configs(parameters: Sequence[str] = PARAMETERS) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """``(parameter, "half"|"double", value, config dict)`` for every parameter whose default is a number."""
    out = []
    for p in parameters:
        section, name = p.split(".")
        default = getattr(RCAConfig._SECTIONS[section](), name)
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            continue
        for label, factor in (("half", 0.5), ("double", 2.0)):
            value = _scaled(section, name, factor)
            if value != default:
                out.append((p, label, value, {section: {name: value}}))
    return out


def per_dataset(results: Sequence[CaseResult]) -> dict[str, dict[str, float | None]]:
    """AC@1 and specificity per base dataset (presentation suffixes folded in)."""
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        groups.setdefault(split_dataset(r.dataset)[0], []).append(r)
    return {d: {"ac1": ac_at_k(rows, 1), "specificity": specificity(rows)} for d, rows in groups.items()}


def objective(stats: dict[str, float | None]) -> float:
    """One number per dataset: AC@1, averaged with specificity where the dataset has normal windows."""
    parts = [v for v in (stats.get("ac1"), stats.get("specificity")) if v is not None]
    return sum(parts) / len(parts) if parts else 0.0


@dataclass
class Sweep:
    """Every run of the sweep: the defaults', and each parameter's halved and doubled."""

    default: dict[str, dict[str, float | None]]
    runs: list[tuple[str, str, Any, dict[str, dict[str, float | None]]]] = dataclasses.field(default_factory=list)
    loso: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def run_sweep(run: Runner, base: dict[str, Any] | None = None, parameters: Sequence[str] = PARAMETERS) -> Sweep:
    """The defaults' run, every halved and doubled parameter's, and the leave-one-system-out runs."""
    base_cfg = RCAConfig.from_dict(dict(base or {}))
    sweep = Sweep(default=per_dataset(run(base_cfg.to_dict(), None)))
    for p, label, value, change in sweep_configs(parameters):
        sweep.runs.append((p, label, value, per_dataset(run(base_cfg.replace(**change).to_dict(), None))))
    sweep.loso = leave_one_system_out(sweep, run, base)
    return sweep


def leave_one_system_out(sweep: Sweep, run: Runner, base: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """For each dataset: choose every parameter on the others, run the choices on it, compare with the defaults."""
    datasets = sorted(sweep.default)
    rows = []
    for held in datasets:
        others = [d for d in datasets if d != held]
        if not others:
            continue
        chosen: dict[str, dict[str, Any]] = {}
        changed: list[str] = []
        by_param: dict[str, list[tuple[str, Any, dict]]] = {}
        for p, label, value, stats in sweep.runs:
            by_param.setdefault(p, []).append((label, value, stats))
        for p, options in by_param.items():
            best_label, best_value = "default", None
            best = sum(objective(sweep.default[d]) for d in others)
            for label, value, stats in options:
                score = sum(objective(stats.get(d, {})) for d in others)
                if score > best + 1e-9:
                    best, best_label, best_value = score, label, value
            if best_label != "default":
                section, name = p.split(".")
                chosen.setdefault(section, {})[name] = best_value
                changed.append(f"{p}={best_value:g} ({best_label})")
        if chosen:
            merged = RCAConfig.from_dict(dict(base or {})).replace(**chosen).to_dict()
            held_stats = per_dataset(run(merged, held)).get(held, {})
        else:
            held_stats = sweep.default[held]
        rows.append({
            "held_out": held,
            "chosen_on": others,
            "changes": changed,
            "default": sweep.default[held],
            "chosen": held_stats,
        })
    return rows


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def render_sensitivity(sweep: Sweep) -> str:
    """Markdown: the sensitivity table, then the leave-one-system-out table."""
    datasets = sorted(sweep.default)

    def cells(stats: dict[str, dict[str, float | None]]) -> list[str]:
        out = []
        for d in datasets:
            s = stats.get(d, {})
            out.append(_f(s.get("ac1")) + ("" if s.get("specificity") is None else f" / {_f(s.get('specificity'))}"))
        return out

    head = ["parameter", "value"] + [f"{d} AC@1{' / spec' if sweep.default[d].get('specificity') is not None else ''}" for d in datasets]
    lines = [
        "## Sensitivity of the defaults",
        "",
        "AC@1 (and specificity) per dataset with each default halved and doubled, the rest unchanged "
        "(`rca bench --sensitivity`).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        "| (defaults) | | " + " | ".join(cells(sweep.default)) + " |",
    ]
    for p, label, value, stats in sweep.runs:
        lines.append(f"| {p} | {value:g} ({label}) | " + " | ".join(cells(stats)) + " |")
    if sweep.loso:
        lines += [
            "",
            "## Leave one system out",
            "",
            "Each parameter set to the value (half, default or double) that scores best on the other datasets, "
            "then measured on the one left out. Equal or lower held-out scores mean the defaults are not fitted "
            "to it.",
            "",
            "| held out | chosen on | changes chosen there | defaults AC@1 / spec | chosen AC@1 / spec |",
            "|---|---|---|---|---|",
        ]
        for row in sweep.loso:
            d, c = row["default"], row["chosen"]
            lines.append(
                f"| {row['held_out']} | {', '.join(row['chosen_on'])} | {'; '.join(row['changes']) or 'none (defaults)'} | "
                f"{_f(d.get('ac1'))} / {_f(d.get('specificity'))} | {_f(c.get('ac1'))} / {_f(c.get('specificity'))} |"
            )
    return "\n".join(lines) + "\n"
