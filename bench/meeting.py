"""Speed of the dashboard for a group meeting, measured in a real browser (issue 14's targets).

Starts ``streamlit run app.py`` on a free port against the current cache (warm: run the pages once
beforehand, or pass ``--warmup``), then with Playwright in Debian's Chromium:

- **fresh session to usable page**: a new browser tab opens a deep link (``/Alignment?...``); the
  time until the script run has finished and the page's chart is drawn (``--repeats`` times per
  page; median and range). The first load of a server process is reported apart (imports).
- **rerun after a widget change**: on the Alignment page, switch the heatmap order (a segmented
  control) and time until the rerun finished and the chart is redrawn.
- **presenter mode**: each page at 1280x720 with ``present=1``; the chart's bounding box must lie
  inside the viewport; screenshots into ``docs/screenshots/presenter-<page>.png`` (``--screenshots``).
- **report**: builds the one-click report of the view (:mod:`core.report`), opens it offline and
  screenshots its first page as printed (A4 landscape) into ``docs/screenshots/report-first-page.png``.

Prints the figures and saves JSON (``--out``, default ``bench/meeting.json``). Other work on the
machine slows every figure: the JSON records the load average.

    nice -n 5 .venv/bin/python bench/meeting.py --repeats 5 --screenshots
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from ui.navigation import page_infos  # noqa: E402  (every page of the navigation, new ones included)

PAGES = [p.url_path for p in page_infos()]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_idle(page, timeout: float = 120.0, settle: float = 0.25) -> None:
    deadline, calm = time.time() + timeout, None
    while time.time() < deadline:
        state = page.get_attribute('[data-testid="stApp"]', "data-test-script-state", timeout=timeout * 1000)
        if state in ("running", "initial", "rerunRequested"):
            calm = None
        else:
            calm = calm or time.time()
            if time.time() - calm >= settle:
                return
        time.sleep(0.03)
    raise TimeoutError("the app kept running")


def _usable(page, url: str) -> float:
    """Seconds from navigation start to: script run finished and the first chart drawn."""
    t0 = time.perf_counter()
    page.goto(url)
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=120_000)
    _wait_idle(page)
    return time.perf_counter() - t0 - 0.25                      # minus the settle window of _wait_idle


def _summary(xs: list[float]) -> dict:
    return {"median_s": round(statistics.median(xs), 3), "min_s": round(min(xs), 3), "max_s": round(max(xs), 3),
            "n": len(xs), "all_s": [round(x, 3) for x in xs]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5, help="fresh sessions per page (default 5)")
    ap.add_argument("--query", default="", help="view query string (default: the default view)")
    ap.add_argument("--screenshots", action="store_true", help="write docs/screenshots/*.png")
    ap.add_argument("--out", default=str(REPO / "bench" / "meeting.json"), help="JSON results")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    port = _free_port()
    base = f"http://localhost:{port}"
    q = ("?" + args.query) if args.query else "?"
    srv = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                            "--server.headless", "true"], cwd=str(REPO), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    out: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg_start": os.getloadavg(),
                 "cpus": os.cpu_count(), "query": args.query}
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{base}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)

            def fresh(url: str) -> float:
                ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
                try:
                    return _usable(ctx.new_page(), url)
                finally:
                    ctx.close()

            out["first_load_of_server_s"] = round(fresh(f"{base}/Alignment{q}"), 3)
            out["fresh_session"] = {}
            for name in ("Alignment", "Ranking"):
                out["fresh_session"][name] = _summary([fresh(f"{base}/{name}{q}") for _ in range(args.repeats)])
                print(f"fresh session -> usable {name}: median {out['fresh_session'][name]['median_s']:.2f} s "
                      f"(range {out['fresh_session'][name]['min_s']:.2f}-{out['fresh_session'][name]['max_s']:.2f})")

            ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
            page = ctx.new_page()
            _usable(page, f"{base}/Alignment{q}")
            reruns = []
            for k in range(args.repeats * 2):
                label = ("alphabetical", "clustered (similar together)")[k % 2]
                t0 = time.perf_counter()
                page.get_by_role("radio", name=label, exact=False).first.click()
                _wait_idle(page)
                page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
                reruns.append(time.perf_counter() - t0 - 0.25)
            ctx.close()
            out["rerun_after_widget_change"] = _summary(reruns)
            print(f"rerun after a widget change (heatmap order): median {out['rerun_after_widget_change']['median_s']:.2f} s")

            ctx = browser.new_context(viewport={"width": 1280, "height": 720})
            page = ctx.new_page()
            out["presenter_1280x720"] = {}
            for name in PAGES:
                sep = "&" if args.query else ""
                t0 = time.perf_counter()
                page.goto(f"{base}/{name}{q}{sep}present=1")
                page.locator('[data-testid="stPlotlyChart"] .main-svg, .st-key-present_message').first.wait_for(
                    timeout=120_000)
                _wait_idle(page)
                time.sleep(0.8)                                        # plotly's resize to the viewport
                box = page.locator('[data-testid="stPlotlyChart"]').first.bounding_box() \
                    if page.locator('[data-testid="stPlotlyChart"]').count() else None
                inside = box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= 1280.5 \
                    and box["y"] + box["height"] <= 720.5
                out["presenter_1280x720"][name or "Home"] = {"seconds": round(time.perf_counter() - t0, 2),
                                                             "chart_box": box, "chart_inside_viewport": inside,
                                                             "slide": "chart" if box else "message (no chart)"}
                if args.screenshots:
                    page.screenshot(path=str(REPO / "docs" / "screenshots" / f"presenter-{name or 'Home'}.png"))
                print(f"presenter {name or 'Home'}: " + (f"chart inside 1280x720: {inside}" if box else "message slide"))
            ctx.close()

            from core.report import collect, render_html
            from core.views import view_from_params
            from urllib.parse import parse_qs

            view = view_from_params({k: v for k, v in parse_qs(args.query).items()})
            t0 = time.perf_counter()
            html = render_html(collect(view.target, list(view.candidates), view.settings()))
            out["report_build_s"] = round(time.perf_counter() - t0, 2)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "report.html"
                path.write_text(html, encoding="utf-8")
                ctx = browser.new_context(viewport={"width": 1123, "height": 794}, offline=True)
                page = ctx.new_page()
                page.goto(path.as_uri())
                n = page.locator(".figure").count()
                page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}")
                page.emulate_media(media="print")
                out["report_figures"] = page.locator(".figure").evaluate_all("els => els.map(e => e.dataset.figure)")
                if args.screenshots:
                    page.screenshot(path=str(REPO / "docs" / "screenshots" / "report-first-page.png"))
                ctx.close()
            print(f"report: {out['report_build_s']:.1f} s to build, figures {out['report_figures']}")
            browser.close()
    finally:
        try:
            os.killpg(srv.pid, 15)
            srv.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    out["loadavg_end"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
