"""End to end in a real browser: the Select page selects windows from a pool, exports them as JSONL,
saves the selection as a corpus and fine-tunes it; its point appears on Alignment vs perplexity.

Uses the fixtures ``server_url``, ``server_cache`` and ``browser_page`` of tests/e2e/conftest.py (skipped
only when /usr/bin/chromium is absent); the tiny test model (URL ``model``) is the probe network and
the model fine-tuned; the method is ``unigram-cos`` (no forward pass for the selection itself).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import assert_no_exception, open_page, pick, screenshot, tiny_view, wait_idle

TIMEOUT_MS = 240_000
#: Lean-style theorems written here (ProofNet's valid split would trip the contamination guard: 7% of
#: its problems are near-duplicates of test problems).
LEAN = [f"theorem add_le_{i} (a b : Nat) (h : a ≤ b) : a + {i} ≤ b + {i} := by\n  exact Nat.add_le_add_right h {i}\n"
        f"lemma mul_pos_{i} (x : ℝ) (hx : 0 < x) : 0 < x * {i + 1} := by positivity" for i in range(60)]


@pytest.fixture
def sel_view(server_cache, monkeypatch, tmp_path_factory, maths_texts, prose_texts, tiny_model_dir):
    monkeypatch.setenv("ALIGNSCOPE_CACHE", str(server_cache))
    return tiny_view(tmp_path_factory.mktemp("sel_corpora"), (("sel-bench", maths_texts[:16], "target benchmark"),
                                                              ("sel-maths", LEAN, "formal maths"),
                                                              ("sel-prose", prose_texts[:60], "general prose")),
                     tiny_model_dir)


def test_select_export_save_and_finetune(server_url, browser_page, sel_view):
    page = browser_page
    main = open_page(page, f"{server_url}/Select?{sel_view}")
    pick(page, main, "Target benchmark", "sel-bench")
    for corpus in ("sel-maths", "sel-prose"):
        main.locator('[data-testid="stMultiSelect"]').filter(has_text="Pool corpora").click()
        page.get_by_role("option", name=corpus, exact=True).click()
        wait_idle(page)
    page.keyboard.press("Escape")
    wait_idle(page)
    pick(page, main, "Method", "unigram-cos")
    main.get_by_role("button", name="Select windows").click()
    page.get_by_text(re.compile(r"Done: \d+/\d+")).first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page)
    main.get_by_text("Source composition of the selection").first.wait_for()
    assert main.locator('[data-testid="stCode"]').count() >= 5                 # window texts, plain
    screenshot(page, "select-page")

    with page.expect_download(timeout=90_000) as dl:
        main.get_by_role("button", name=re.compile("Export JSONL")).click()
    rows = [json.loads(line) for line in Path(dl.value.path()).read_text().splitlines() if line.strip()]
    assert rows and all({"corpus", "doc_id", "offset", "tokens", "score", "text"} <= set(r) for r in rows)
    assert sum(r["tokens"] for r in rows) <= 4000 and {r["corpus"] for r in rows} <= {"sel-maths", "sel-prose"}

    main.get_by_role("button", name="Save and fine-tune").click()
    page.get_by_text(re.compile("fine-tune queued|Fix:")).first.wait_for(timeout=60_000)
    alerts = " ".join(page.locator('[data-testid="stAlert"]').all_text_contents())
    assert "fine-tune queued" in alerts, alerts
    page.get_by_text(re.compile(r"Done: \d+/\d+")).nth(1).wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    assert_no_exception(page)

    main = open_page(page, f"{server_url}/Alignment_vs_perplexity?{sel_view}")
    main.locator('[data-testid="stSelectbox"]').filter(has_text="Runs compared").click()
    page.get_by_role("option", name=re.compile("sel-bench")).first.click()   # the group of the selection's run
    wait_idle(page)
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.locator(".main-svg").first.wait_for(state="visible", timeout=60_000)
    assert "sel-unigram-cos-4000" in " ".join(chart.locator("text").all_text_contents())
    screenshot(page, "select-point-on-alignment-vs-perplexity")
