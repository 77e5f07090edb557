"""The lab's other designs from their results files: one section per design with finished runs, an
error (never a crash) for a file that cannot be read, and their place in the HTML report."""
import json

import pytest

from core.report.designs import DESIGN_FILES, DesignSection, design_sections, results_dir


def test_the_committed_results_give_their_sections():
    found = design_sections(n_boot=200)
    names = [d.name for d in found]
    assert "pretrain" in names                                  # docs/results/pretrain_grid_cpu.json
    assert names == [n for n, _, _ in DESIGN_FILES if n in names]  # the declared order
    for d in found:
        assert not d.error, d.error
        assert d.runs > 0 and d.lines and d.figure is not None and d.path.parent == results_dir()
    grid = next(d for d in found if d.name == "pretrain")
    assert grid.lines[0].startswith(f"{grid.runs} runs; paper r^2 = 0.8")
    assert any(line.startswith("t2v-head ") for line in grid.lines)   # the default metric has its r^2 row
    assert "t2v-head" in grid.figure.layout.title.text


def test_absent_empty_unreadable_and_foreign_files(tmp_path):
    from core.pretrain.grid import default_plan, empty_results

    assert design_sections(tmp_path) == []                                       # nothing committed
    (tmp_path / "pretrain_grid_cpu.json").write_text(json.dumps(empty_results(default_plan())))
    assert design_sections(tmp_path) == []                                       # no finished run yet
    (tmp_path / "design_kinds_cpu.json").write_text("{not json")
    (tmp_path / "design_budget_cpu.json").write_text(json.dumps({"design": "kinds", "runs": []}))
    kinds, budget = design_sections(tmp_path)
    assert kinds.name == "kinds" and "Cannot read design results" in kinds.error and not kinds.lines
    assert budget.name == "budget" and "holds the 'kinds' design" in budget.error
    (tmp_path / "design_budget_cpu.json").write_text(json.dumps({"design": "budget", "runs": [{"status": "done"}]}))
    budget = design_sections(tmp_path)[1]
    assert "does not have the layout of a budget results file" in budget.error    # right kind, wrong layout


def test_the_report_has_a_section_per_design_and_says_when_there_is_none(tmp_path):
    import plotly.graph_objects as go

    from core.report.html import _designs

    class Data:
        designs = []

    html = "".join(_designs(Data()))
    assert "No committed results of the data-kinds, budget or pre-training designs" in html
    Data.designs = [DesignSection("kinds", "Data kinds <&>", tmp_path / "k.json", runs=3, lines=["a < b"],
                                  figure=go.Figure(go.Bar(x=[1], y=[2]))),
                    DesignSection("budget", "Budget", tmp_path / "b.json", error="bad <file>")]
    html = "".join(_designs(Data()))
    assert "<h2>Data kinds &lt;&amp;&gt;</h2>" in html and "<pre>a &lt; b</pre>" in html
    assert "data-figure='design-kinds'" in html and "3 finished runs" in html
    assert "bad &lt;file&gt;" in html and "data-figure='design-budget'" not in html


@pytest.mark.parametrize("design", ["pretrain", "nosuch"])
def test_a_deck_slide_shows_one_design(design):
    from core.deck import DeckView
    from core.deck_slides import build_slide

    s = build_slide(DeckView(page="Which_metric_predicts", params={"lab_tab": "Other designs", "design": design}))
    if design == "pretrain":
        assert s.figure is not None and not s.problem and s.title.startswith("Pre-training grid")
    else:
        assert s.figure is None and "no committed results of the design 'nosuch'" in s.problem
