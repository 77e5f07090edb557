"""A group meeting in a real browser (Debian Chromium): presenter mode at 1280x720 shows each chart
whole and the arrow keys change page; the report opens with the network cut and draws every figure;
every page reopens from its URL showing the same thing. Screenshots go to test-artifacts/."""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import assert_no_exception, fill, screenshot, wait_idle
from tests.e2e.test_dashboard_e2e import NAMES, e2e_view  # noqa: F401  (fixture)


@pytest.fixture
def embedded_view(e2e_view, tiny_model_dir):
    """The e2e view with every corpus embedded in the server's cache (as after a finished job)."""
    from core.batches import BatchConfig
    from core.pipeline import EmbedSettings, embed_corpora

    settings = EmbedSettings(model=tiny_model_dir, batch=BatchConfig(batch_size=4, seq_len=32, num_batches=3))
    embed_corpora(NAMES, settings, progress=False)
    return e2e_view, settings


def _inside(box, w: int, h: int) -> bool:
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= w + 0.5 \
        and box["y"] + box["height"] <= h + 0.5


def test_presenter_mode_fits_1280x720_and_arrow_keys_navigate(server_url, _browser, embedded_view):
    view, _ = embedded_view
    context = _browser.new_context(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{server_url}/Alignment?{view}&present=1")
        wait_idle(page, timeout=120)
        assert_no_exception(page)
        chart = page.locator('[data-testid="stPlotlyChart"]')
        chart.locator(".main-svg").first.wait_for()
        assert chart.count() == 1
        assert _inside(chart.bounding_box(), 1280, 720), chart.bounding_box()
        assert page.locator('[data-testid="stSidebar"]').is_hidden()
        assert page.locator('[data-testid="stSelectbox"], [data-testid="stMultiSelect"]').count() == 0
        sizes = [float(s) for s in re.findall(r"font-size:\s*([\d.]+)px",
                                              " ".join(chart.locator("text").evaluate_all(
                                                  "els => els.map(e => e.getAttribute('style') || '')")))]
        assert sizes and min(sizes) >= 18, sorted(sizes)[:5]
        screenshot(page, "presenter-alignment-1280x720", full_page=False)
        page.keyboard.press("ArrowRight")                         # what a clicker sends (or PageDown)
        page.wait_for_url(re.compile(r"/Ranking\?.*present=1"), timeout=30_000)
        wait_idle(page, timeout=60)
        chart = page.locator('[data-testid="stPlotlyChart"]')
        chart.locator(".main-svg").first.wait_for()
        assert _inside(chart.bounding_box(), 1280, 720), chart.bounding_box()
        screenshot(page, "presenter-ranking-1280x720", full_page=False)
        page.keyboard.press("ArrowLeft")
        page.wait_for_url(re.compile(r"/Alignment\?"), timeout=30_000)
        page.set_viewport_size({"width": 1920, "height": 1080})
        wait_idle(page)
        chart = page.locator('[data-testid="stPlotlyChart"]')
        chart.locator(".main-svg").first.wait_for()
        box = chart.bounding_box()
        assert _inside(box, 1920, 1080) and box["height"] > 0.75 * 1080, box    # grows with the screen
    finally:
        context.close()


def test_report_opens_offline_with_every_figure(_browser, embedded_view, tmp_path):
    from core.report import collect, render_html

    _, settings = embedded_view
    path = tmp_path / "report.html"
    path.write_text(render_html(collect(NAMES[0], NAMES[1:], settings, lab=True)), encoding="utf-8")
    context = _browser.new_context(viewport={"width": 1123, "height": 794}, offline=True)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(path.as_uri())
        n = page.locator(".figure").count()
        assert n >= 2                                              # heatmap and ranking at least
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}",
                               timeout=60_000)
        names = page.locator(".figure").evaluate_all("els => els.map(e => e.dataset.figure)")
        assert {"heatmap", "ranking"} <= set(names)
        assert all(u.startswith(("file:", "data:", "blob:")) for u in requests), requests
        screenshot(page, "report-first-page", full_page=False)
    finally:
        context.close()


#: Pages and what identifies their content: the page's title plus the chosen values of its selectors.
SIGNATURE_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const h1 = [...main.querySelectorAll('h1')].map(e => e.innerText.trim());
  const sel = [...main.querySelectorAll('[data-testid="stSelectbox"], [data-testid="stMultiSelect"], '
    + '[data-testid="stNumberInput"] input, button[role="radio"][aria-checked="true"], '
    + '[role="tab"][aria-selected="true"]')].map(e => (e.value !== undefined && e.tagName === 'INPUT') ? e.value : e.innerText.trim());
  const charts = main.querySelectorAll('[data-testid="stPlotlyChart"]').length;
  const tables = main.querySelectorAll('[data-testid="stDataFrame"]').length;
  return JSON.stringify({h1, sel, charts, tables});
}"""


def signature(page, *, timeout: float = 30.0) -> str:
    """What the page shows (:data:`SIGNATURE_JS`), once it stops changing: a widget's or a chart's
    code is fetched lazily after the script run ends, so the network must be idle and three reads
    0.7 s apart must agree."""
    import time

    deadline, last, same = time.time() + timeout, None, 0
    while time.time() < deadline:
        try:
            page.wait_for_load_state("networkidle", timeout=10_000)
        except Exception:                       # noqa: BLE001 - a busy page: the reads below still decide
            pass
        now = page.evaluate(SIGNATURE_JS)
        same = same + 1 if now == last else 0
        if same >= 2:
            return now
        last = now
        time.sleep(0.7)
    return last
PAGES = ["", "Corpora", "Alignment", "Ranking", "Mix", "Fine-tune", "Alignment_vs_perplexity", "Which_metric_predicts",
         "Select"]


def test_every_page_reopens_from_its_url(server_url, browser_page, embedded_view):
    view, _ = embedded_view
    page = browser_page
    for name in PAGES:
        page.goto(f"{server_url}/{name}?{view}&order=alphabetical")
        wait_idle(page, timeout=120)
        assert_no_exception(page)
        first_url, first = page.url, signature(page)
        page.reload()
        wait_idle(page, timeout=120)
        assert page.url == first_url, name
        assert signature(page) == first, name
        assert "target=e2e-target" in page.url


def _number(page, label: str, value) -> None:
    fill(page, page.locator('[data-testid="stMain"]').get_by_label(label, exact=True), value)


#: A control changed on each page (through the page itself, as a user would): page -> actions.
CHANGES = {
    "Alignment": [lambda p: p.get_by_role("tab", name="Pairs with 95% CI").click(),
                  lambda p: p.get_by_role("radio", name="alphabetical").click()],
    "Corpora": [lambda p: p.get_by_role("tab", name="Hugging Face dataset").click(),
                lambda p: _number(p, "Documents", 5)],
    "Fine-tune": [lambda p: p.get_by_text("Hyperparameters (identical for every run").click(),
                  lambda p: _number(p, "Token budget per source", 8000),
                  lambda p: _number(p, "Epochs", 2.5),
                  lambda p: p.get_by_role("tab", name="Single run").click()],
    "Select": [lambda p: _number(p, "Seed", 3), lambda p: _number(p, "Pool windows (cap)", 200)],
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_controls_changed_on_a_page_reopen_from_its_url_in_a_new_session(server_url, _browser, embedded_view, name):
    """Tabs and settings changed on the page go to the URL; a new browser session (a shared link)
    opened at that URL shows the same controls and the same number of charts."""
    view, _ = embedded_view
    context = _browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{server_url}/{name}?{view}")
        wait_idle(page, timeout=120)
        before = signature(page)
        for act in CHANGES[name]:
            act(page)
            wait_idle(page, timeout=60)
        assert_no_exception(page)
        url, shown = page.url, signature(page)
        assert shown != before, name                                  # the changes show
    finally:
        context.close()
    context = _browser.new_context(viewport={"width": 1600, "height": 1000})      # another person's browser
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(url)
        wait_idle(page, timeout=120)
        if name == "Fine-tune":
            page.get_by_text("Hyperparameters (identical for every run").click()
            wait_idle(page)
        assert_no_exception(page)
        assert signature(page) == shown, (name, url)
    finally:
        context.close()


def test_clicking_a_ranking_bar_shows_sample_windows(server_url, browser_page, embedded_view):
    view, _ = embedded_view
    page = browser_page
    page.goto(f"{server_url}/Ranking?{view}")
    wait_idle(page, timeout=120)
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.locator(".main-svg").first.wait_for()
    bar = chart.locator(".bars path").first.bounding_box()
    page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
    page.locator('[data-testid="stText"]').first.wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    assert page.locator('[data-testid="stText"]').count() >= 2
    assert page.get_by_text("closest to e2e-target").count() >= 1
    assert "pair=" in page.url
    screenshot(page, "drilldown-ranking", full_page=True)
