"""Print a report's HTML to PDF with Chromium (Playwright's sync API driving Debian's chromium, the
same browser :func:`core.charts.ensure_browser` finds for figure exports). Every request other than
the file itself is refused, so a PDF that prints proves the HTML needs no network."""
from __future__ import annotations

from pathlib import Path

from core.errors import AlignScopeError

#: Chromium flags for a headless print in a container.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def html_to_pdf(html_path: str | Path, pdf_path: str | Path, *, timeout_s: float = 120.0) -> Path:
    """Render ``html_path`` (a self-contained report) in headless Chromium and print it to
    ``pdf_path`` (A4 landscape, backgrounds kept), written atomically.

    Waits until every plotly figure of the page is drawn (``.js-plotly-plot .main-svg``).

    Raises:
        AlignScopeError: Playwright or Chromium missing, the HTML tries to reach the network, or the
            page did not finish drawing in ``timeout_s`` seconds.
    """
    from core.charts import ensure_browser
    from core.paths import atomic_write

    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path)
    browser_path = ensure_browser()
    if browser_path is None:
        raise AlignScopeError("No Chromium found to print the report to PDF.",
                              fix="apt-get install -y chromium (or set BROWSER_PATH); the HTML report needs no browser.")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise AlignScopeError("Playwright is not installed, so the report cannot be printed to PDF.",
                              fix="pip install playwright (uses the system Chromium; no browser download).") from exc
    blocked: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "about:", "blob:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=browser_path, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1123, "height": 794})
                page.route("**/*", route)
                page.goto(html_path.as_uri(), wait_until="load", timeout=timeout_s * 1000)
                n = page.locator(".figure").count()
                page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}",
                                       timeout=timeout_s * 1000)
                pdf = page.pdf(format="A4", landscape=True, print_background=True,
                               margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"})
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise AlignScopeError(f"Printing the report to PDF failed: {str(exc).splitlines()[0]}",
                              fix="check that Chromium starts (chromium --headless --version); the HTML report "
                                  "is complete without the PDF.") from exc
    if blocked:
        raise AlignScopeError(f"The report tried to reach the network ({blocked[0]}).",
                              fix="report a bug: the report must be self-contained.")
    return atomic_write(pdf_path, pdf)
