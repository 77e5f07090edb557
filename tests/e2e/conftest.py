"""Browser end-to-end fixtures: a real dashboard server (``python -m ui.serve``, as ./run.sh) and a headless Chromium page.

Fixtures (other e2e test modules rely on these names):

- ``server_cache``: the server's cache root (``ALIGNSCOPE_CACHE``), a tmp folder whose ``models/``
  symlinks to the repository's ``cache/models``. Register corpora for the server with
  ``monkeypatch.setenv("ALIGNSCOPE_CACHE", str(server_cache))`` before calling ``register_corpus``.
- ``server_url``: base URL of the dashboard started on a free port with that cache (session scope;
  waits for ``/_stcore/health``; killed at the end).
- ``browser_page``: a fresh Playwright (sync API) page in Debian's ``/usr/bin/chromium``, headless,
  1600x1000 viewport.

Helpers: :func:`wait_idle` (script run finished), :func:`screenshot` (into ``test-artifacts/``).
Everything is skipped when ``/usr/bin/chromium`` is absent.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core.paths import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


def _require_browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (install Debian's chromium: apt-get install -y chromium)")


@pytest.fixture(scope="session")
def server_cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e_cache")
    models = REPO_ROOT / "cache" / "models"
    if models.is_dir():
        (root / "models").symlink_to(models, target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def server_url(server_cache, tmp_path_factory):
    from ui.serve import start_dashboard, stop_dashboard

    _require_browser()
    env = {**os.environ, "ALIGNSCOPE_CACHE": str(server_cache), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO_ROOT)}
    proc, url = start_dashboard(env=env, log_path=tmp_path_factory.mktemp("e2e_server") / "streamlit.log",
                                timeout_s=90)      # python -m ui.serve, as ./run.sh
    try:
        yield url
    finally:
        stop_dashboard(proc)


@pytest.fixture(scope="session")
def _browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture
def browser_page(_browser):
    context = _browser.new_context(viewport={"width": 1600, "height": 1000}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def wait_idle(page, timeout: float = 90.0, settle: float = 0.4) -> None:
    """Wait until the Streamlit script run has finished (app state ``notRunning``, no status widget)."""
    deadline = time.time() + timeout
    calm_since = None
    while time.time() < deadline:
        state = page.get_attribute('[data-testid="stApp"]', "data-test-script-state", timeout=timeout * 1000)
        running = state in ("running", "initial", "rerunRequested") or \
            page.locator('[data-testid="stStatusWidget"]:has-text("Running")').count() > 0
        if not running:
            calm_since = calm_since or time.time()
            if time.time() - calm_since >= settle:
                return
        else:
            calm_since = None
        time.sleep(0.1)
    raise AssertionError(f"the app was still running after {timeout} s")


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of the page under test-artifacts/ and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def assert_no_exception(page) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()


def open_page(page, url: str, *, timeout: float = 120.0):
    """Go to ``url``, wait for the script run, check there is no exception box; returns the main area."""
    page.goto(url)
    wait_idle(page, timeout=timeout)
    assert_no_exception(page)
    return page.locator('[data-testid="stMain"]')


def pick(page, container, label: str, option: str) -> None:
    """Choose ``option`` (a prefix of its text) in the selectbox ``label``; the click is repeated when
    a rerun closed the list."""
    import re

    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    wanted = page.get_by_role("option", name=re.compile("^" + re.escape(option))).first
    for _ in range(3):
        wait_idle(page)
        container.locator('[data-testid="stSelectbox"]').filter(has_text=label).click()
        try:
            wanted.wait_for(timeout=15_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    wanted.click()
    wait_idle(page)


def fill(page, locator, value) -> None:
    """Type ``value`` into a text or number input, commit it (Enter) and wait for the rerun."""
    locator.click()
    locator.fill(str(value))
    locator.press("Enter")
    wait_idle(page)


def tiny_view(folder, corpora, model_dir: str) -> str:
    """Register each ``(name, texts, domain)`` of ``corpora`` in the current cache (once: a name
    already registered is kept), and return the sidebar's query string for the tiny probe network."""
    from urllib.parse import urlencode

    from core.corpora import CorpusSpec, get_corpus, register_corpus
    from core.errors import CorpusError
    from tests.app_pages.conftest import write_corpus

    for name, texts, domain in corpora:
        try:
            get_corpus(name)
        except CorpusError:
            register_corpus(CorpusSpec(name=name, kind="files", path=str(write_corpus(folder, name, texts)),
                                       field="text", domain=domain))
    return urlencode({"model": model_dir, "batch_size": 4, "seq_len": 32, "num_batches": 2}, safe=",/")
