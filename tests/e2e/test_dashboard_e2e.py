"""The dashboard in a real browser: deep links on a cold server, an embedding job survives a reload,
heatmap and ranking render with the expected corpora, no exception box. Screenshots go to
test-artifacts/."""
from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.e2e.conftest import assert_no_exception, screenshot, wait_idle
from tests.app_pages.conftest import write_corpus

NAMES = ["e2e-target", "e2e-maths", "e2e-prose"]


@pytest.fixture
def e2e_view(server_cache, monkeypatch, tmp_path_factory, maths_texts, prose_texts, tiny_model_dir):
    """Register the test corpora in the server's cache; return the query string of the view."""
    from core.corpora import CorpusSpec, get_corpus, register_corpus
    from core.errors import CorpusError

    monkeypatch.setenv("ALIGNSCOPE_CACHE", str(server_cache))
    folder = tmp_path_factory.mktemp("e2e_corpora")
    texts = {"e2e-target": maths_texts[:40], "e2e-maths": maths_texts[40:80], "e2e-prose": prose_texts[:40]}
    for name, t in texts.items():
        try:
            get_corpus(name)
        except CorpusError:
            register_corpus(CorpusSpec(name=name, kind="files", path=str(write_corpus(folder, name, t)), field="text"))
    return urlencode({"target": NAMES[0], "candidates": ",".join(NAMES[1:]), "model": tiny_model_dir,
                      "batch_size": 4, "seq_len": 32, "num_batches": 3}, safe=",/")


def _chart_text(page, index: int = 0) -> str:
    chart = page.locator('[data-testid="stPlotlyChart"]').nth(index)
    chart.locator(".main-svg").first.wait_for(state="visible", timeout=60_000)
    return chart.inner_text() + " " + " ".join(chart.locator("text").all_text_contents())


def test_alignment_job_reload_heatmap_and_ranking(server_url, browser_page, e2e_view):
    page = browser_page
    page.goto(f"{server_url}/Alignment?{e2e_view}")                 # deep link on a cold server
    wait_idle(page, timeout=120)
    assert_no_exception(page)
    page.get_by_text("3 corpora need embeddings").wait_for()
    page.get_by_role("button", name="Compute missing embeddings").click()
    page.wait_for_url(re.compile(r"job=embed-[0-9a-f]{16}"), timeout=30_000)
    job_id = re.search(r"job=(embed-[0-9a-f]{16})", page.url).group(1)
    page.get_by_text(job_id).first.wait_for()
    screenshot(page, "e2e-alignment-job", full_page=False)
    from core.jobs import get_job                                   # e2e_view pointed the env at the server cache

    running = get_job(job_id).status()["state"] in ("queued", "running")
    page.reload()                                                   # a reload shows the same job
    chart = page.locator('[data-testid="stPlotlyChart"]')
    page.get_by_text(job_id).first.or_(chart.first).wait_for(timeout=90_000)
    if running and chart.count() == 0:
        assert page.get_by_text(job_id).count() >= 1
        assert page.get_by_role("button", name="Compute missing embeddings").count() == 0   # no duplicate job
    chart.first.wait_for(state="visible", timeout=150_000)          # job done -> heatmap
    wait_idle(page)
    text = _chart_text(page)
    for name in NAMES:
        assert name in text
    assert "div" in text
    assert_no_exception(page)
    assert "job=" not in page.url                                   # finished job no longer watched
    screenshot(page, "e2e-alignment")

    # a second deep link (another tab) to the ranking: cached, renders at once
    t0 = time.time()
    page.goto(f"{server_url}/Ranking?{e2e_view}")
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(state="visible")
    wait_idle(page)
    text = _chart_text(page)
    assert "e2e-maths" in text and "e2e-prose" in text and "e2e-target" in text   # target in the title
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    assert_no_exception(page)
    screenshot(page, "e2e-ranking")
    assert time.time() - t0 < 60
    # exports: PNG rendered on click by kaleido + Chromium, CSV of the table
    with page.expect_download(timeout=90_000) as dl:
        page.get_by_role("button", name="⬇ PNG").click()
    png = Path(dl.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and dl.value.suggested_filename == "ranking-e2e-target.png"
    with page.expect_download() as dl:
        page.get_by_role("button", name="⬇ CSV").click()
    assert Path(dl.value.path()).read_text().startswith("rank,ranks,group,source,domain,alignment")


def test_corpora_page_and_home(server_url, browser_page, e2e_view):
    page = browser_page
    page.goto(f"{server_url}/Corpora?{e2e_view}")
    wait_idle(page, timeout=120)
    assert_no_exception(page)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible")
    page.get_by_text("Target and candidates").wait_for()
    screenshot(page, "e2e-corpora")
    # a bad path in the add-corpus form shows an error, the page keeps working
    page.get_by_role("textbox", name="Name").first.fill("e2e-bad")
    page.get_by_role("textbox", name="Path, folder or glob").fill("/nonexistent/e2e/*.txt")
    page.get_by_role("button", name="Add corpus").click()
    page.locator('[data-testid="stAlert"]').filter(has_text="matches no file").wait_for()
    assert_no_exception(page)
    page.goto(f"{server_url}/?{e2e_view}")
    wait_idle(page)
    page.get_by_text("e2e-target").first.wait_for()
    assert_no_exception(page)
    screenshot(page, "e2e-home")
