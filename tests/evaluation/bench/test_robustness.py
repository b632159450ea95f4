"""The robustness table sets presentations side by side and names the worst."""

from __future__ import annotations

from rca.evaluation.bench.report import build_report, render_markdown
from rca.evaluation.bench.results import CaseResult
from rca.evaluation.bench.robustness import split_dataset, summarize_robustness


def _row(dataset: str, case: str, right: bool) -> CaseResult:
    return CaseResult(
        dataset=dataset, group="g", case_id=case, method="engine", truth=("db",), fault_type=None,
        top=("db",) if right else ("api",), scores=(1.0,), n_ranked=1, truth_ranks=(1,) if right else (None,),
        seconds=0.01, error=None, confidence=0.9,
    )


def test_split_dataset():
    assert split_dataset("petshop[window=5]") == ("petshop", "window=5")
    assert split_dataset("petshop") == ("petshop", "as_given")


def test_worst_and_best_presentation_per_group():
    rows = [_row("toy", "a", True), _row("toy", "b", True), _row("toy[window=3]", "a", True),
            _row("toy[window=3]", "b", False), _row("toy[renamed]", "a", False), _row("toy[renamed]", "b", False)]
    (all_groups, g) = summarize_robustness(rows)
    assert all_groups.group == "(all)" and g.group == "g"
    assert (g.worst, g.worst_ac1, g.best, g.best_ac1) == ("renamed", 0.0, "as_given", 1.0)
    assert g.by_variation["window=3"]["ac1"] == 0.5 and g.spread == 1.0
    md = render_markdown(build_report(rows))
    assert "## Robustness to the presentation" in md and "| toy | g | engine | 2 | 1.00 | renamed | 0.00 |" in md


def test_no_table_without_variations():
    assert summarize_robustness([_row("toy", "a", True)]) == []
