"""Ready for a group meeting from a fresh clone, in a real browser (Debian Chromium, 1280x720):

- the Alignment vs perplexity page shows the committed lab (docs/results/validation.json) on a fresh
  cache: at least 15 labelled points for ProofNet, said to be the committed lab's;
- presenter mode steps through a 3-view deck with the arrow keys (two neighbouring views on the same
  page included), each slide showing its own view.

The server of this module has a cache of its own (only the converted model), so "fresh" holds
whatever the other browser tests put in theirs. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import os
import re

import pytest

from core.paths import REPO_ROOT
from tests.e2e.conftest import CHROMIUM, assert_no_exception, open_page, screenshot, wait_idle

LAB = "committed lab, 4k regime, 15 sources × 3 seeds"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """``(base URL, cache root)`` of a dashboard server started on a cache holding only the model."""
    from ui.serve import start_dashboard, stop_dashboard

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (install Debian's chromium: apt-get install -y chromium)")
    root = tmp_path_factory.mktemp("fresh_cache")
    models = REPO_ROOT / "cache" / "models"
    if models.is_dir():
        (root / "models").symlink_to(models, target_is_directory=True)
    env = {**os.environ, "ALIGNSCOPE_CACHE": str(root), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(REPO_ROOT)}
    env.pop("ALIGNSCOPE_VALIDATION_RESULTS", None)               # the committed file, as on a clone
    proc, url = start_dashboard(env=env, log_path=tmp_path_factory.mktemp("fresh_server") / "streamlit.log",
                                timeout_s=90)
    try:
        yield url, root
    finally:
        stop_dashboard(proc)


def _chart_text(page) -> str:
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.locator(".main-svg").first.wait_for(state="visible", timeout=60_000)
    return " ".join(chart.locator("text").all_text_contents())


def test_the_committed_lab_on_a_fresh_cache(fresh, browser_page):
    url, _ = fresh
    page = browser_page
    main = open_page(page, f"{url}/Alignment_vs_perplexity")
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.locator(".main-svg").first.wait_for(state="visible", timeout=60_000)
    labels = chart.locator("g.textpoint text").all_text_contents()
    assert len(labels) >= 15 and {"proofnet-valid", "coq-stdlib", "wikipedia"} <= set(labels), labels
    assert LAB in main.inner_text()
    assert "committed lab: mean over seeds" in _chart_text(page)
    screenshot(page, "alignment-vs-perplexity-committed-lab")


def test_presenter_steps_through_a_deck_with_the_arrow_keys(fresh, _browser, monkeypatch):
    from core import deck

    url, root = fresh
    monkeypatch.setenv("ALIGNSCOPE_CACHE", str(root))
    deck.add_view("talk", "Alignment_vs_perplexity", {"target": "proofnet", "avp_group": "lab:4k"})
    deck.add_view("talk", "Which_metric_predicts", {"lab_tab": "Scatter per metric", "metric": "sbert"})
    deck.add_view("talk", "Which_metric_predicts", {"regime": "long"})       # the same page, another view
    context = _browser.new_context(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{url}/?present=1&deck=talk")                                # opens the deck's first slide
        page.wait_for_url(re.compile(r"/Alignment_vs_perplexity\?.*slide=1"), timeout=60_000)
        wait_idle(page, timeout=120)
        assert_no_exception(page)
        assert "committed lab: mean over seeds" in _chart_text(page)
        assert "deck talk · slide 1/3" in page.locator(".st-key-present_footer").inner_text()
        screenshot(page, "deck-slide-1", full_page=False)
        steps = (("ArrowRight", r"/Which_metric_predicts\?.*slide=2", "sbert"),
                 ("ArrowRight", r"/Which_metric_predicts\?.*slide=3", "regime long"),
                 ("ArrowLeft", r"/Which_metric_predicts\?.*slide=2", "sbert"))
        for key, where, shown in steps:
            page.keyboard.press(key)
            page.wait_for_url(re.compile(where), timeout=30_000)
            wait_idle(page, timeout=60)
            assert_no_exception(page)
            page.get_by_text(re.compile(re.escape(shown))).first.wait_for(timeout=60_000)
            assert shown in _chart_text(page), (key, where)
            n = re.search(r"slide=(\d)", page.url).group(1)
            assert f"deck talk · slide {n}/3" in page.locator(".st-key-present_footer").inner_text()
            screenshot(page, f"deck-slide-{n}", full_page=False)
    finally:
        context.close()
