"""End to end in a real browser: launch a small fine-tune from the Fine-tune page, see its point on the
Alignment vs perplexity page.

Uses the fixtures ``server_url``, ``server_cache`` and ``browser_page`` of tests/e2e/conftest.py
(skipped only when /usr/bin/chromium is absent). The run uses the tiny test model (given in the URL
as the probe network, so it is also the model fine-tuned), a small registered benchmark as the
target and a maths source, with a 200-token budget and 32-token sequences: seconds of training.
The "Quick (live)" toggle is on by default on this GPU-less machine, so the run is a quick one (issue
26): the table and the figure mark it.
"""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import assert_no_exception, fill, open_page, pick, screenshot, tiny_view, wait_idle

TIMEOUT_MS = 240_000


@pytest.fixture
def ft_view(server_cache, monkeypatch, tmp_path_factory, maths_texts, prose_texts, tiny_model_dir):
    """Register a small benchmark and a source in the server's cache; return the sidebar's query string."""
    monkeypatch.setenv("ALIGNSCOPE_CACHE", str(server_cache))
    return tiny_view(tmp_path_factory.mktemp("ft_corpora"), (("ft-bench", maths_texts[:16], "target benchmark"),
                                                             ("ft-maths", maths_texts[60:100], "formal maths")),
                     tiny_model_dir)


def test_launch_a_small_run_and_see_its_point(server_url, browser_page, ft_view):
    page = browser_page
    main = open_page(page, f"{server_url}/Fine-tune?{ft_view}")
    pick(page, main, "Target benchmark", "ft-bench")
    quick = main.get_by_role("switch", name="Quick (live)")
    assert quick.is_checked()                                        # on by default where no GPU is present

    main.get_by_text("Hyperparameters (identical").click()
    for label, value in (("Token budget per source", 200), ("Epochs", 1), ("Sequence length", 32),
                         ("Training batch size", 4)):
        fill(page, main.get_by_label(label, exact=True), value)

    main.get_by_role("tab", name="Single run").click()
    pick(page, main, "Source", "ft-maths")
    main.get_by_role("button", name="Launch fine-tune").click()

    # the job panel follows the run until it is done, then the runs table shows it
    page.get_by_text(re.compile(r"Done: \d+/\d+")).wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page)
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    screenshot(page, "finetune-page")

    page.goto(f"{server_url}/Alignment_vs_perplexity?{ft_view}")
    wait_idle(page, timeout=120)
    assert_no_exception(page)
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.locator(".main-svg").first.wait_for(state="visible", timeout=60_000)
    labels = " ".join(chart.locator("text").all_text_contents())
    assert "ft-maths" in labels                                      # the run's point, labelled by its source
    assert "quick runs" in labels                                    # the legend and the title mark a quick group
    group = page.get_by_role("combobox", name="Runs compared (same target, model and hyperparameters)")
    assert group.input_value().startswith("quick · ft-bench")        # the group selector too
    assert "base model" in labels                                    # the dashed baseline
    assert page.get_by_text("The fit appears once two runs").count() == 1
    assert page.get_by_role("button", name=re.compile("HTML")).count() >= 1
    screenshot(page, "alignment-vs-perplexity-page")
