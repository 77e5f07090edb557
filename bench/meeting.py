"""Speed of the dashboard for a group meeting, measured in a real browser (issue 14's targets).

Starts the dashboard as ``./run.sh`` does (``python -m ui.serve``: the engine loaded before the
server takes requests) on a free port against the current cache (warm: run the pages once
beforehand), and side by side, in the same run and alternating:

- ``--baseline REV``: the dashboard of an earlier commit (a temporary ``git worktree``, same cache),
  so a before/after ratio is measured under the same load;
- the **framework floor**: a minimal Streamlit app whose page has only a title and one Plotly heatmap
  (written to a temporary folder), i.e. what any Streamlit + Plotly page costs in this browser on
  this machine (``--no-floor`` skips it).

With Playwright in Debian's Chromium (headless, software rendering):

- **fresh session to usable page**: a deep link (``/Alignment?...``) opened (a) in a new browser
  profile (empty HTTP cache: someone opening a shared link for the first time) and (b) in a new tab of
  a browser that has opened the dashboard before (a reload, a new tab, a colleague who used it); the
  time until the script run has finished and the page's chart is drawn (``--repeats`` times each;
  median and range). The first load of each server process is reported apart.
- **rerun after a widget change**: on the Alignment page, switch the heatmap order (a segmented
  control) and time until the rerun finished and the chart is redrawn.
- **presenter mode**: each page at 1280x720 with ``present=1``; the chart's bounding box must lie
  inside the viewport; screenshots into ``docs/screenshots/presenter-<page>.png`` (``--screenshots``).
- **report**: builds the one-click report of the view (:mod:`core.report`), opens it offline and
  screenshots its first page as printed (A4 landscape) into ``docs/screenshots/report-first-page.png``.

Prints the figures and saves JSON (``--out``, default ``bench/meeting.json``). Other work on the
machine slows every figure: the JSON records the load average.

    .venv/bin/python bench/meeting.py --repeats 5 --baseline c3c420a --screenshots
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench._result import save  # noqa: E402
from ui.navigation import page_infos  # noqa: E402  (every page of the navigation, new ones included)
from ui.serve import start_dashboard, stop_dashboard  # noqa: E402

PAGES = [p.url_path for p in page_infos()]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


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


FLOOR_APP = """import streamlit as st
st.set_page_config(layout="wide")
st.navigation([st.Page("floor_page.py", title="Alignment", url_path="Alignment", default=True)]).run()
"""
FLOOR_PAGE = """import numpy as np
import plotly.graph_objects as go
import streamlit as st
st.title("Alignment between corpora")
z = np.random.default_rng(0).random((8, 8))
st.plotly_chart(go.Figure(go.Heatmap(z=z, text=np.round(z, 2), texttemplate="%{text}")), theme=None)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5, help="fresh sessions per page and mode (default 5)")
    ap.add_argument("--query", default="", help="view query string (default: the default view)")
    ap.add_argument("--baseline", default="", help="also measure the dashboard of this git revision, side by side")
    ap.add_argument("--no-floor", action="store_true", help="skip the minimal Streamlit + Plotly app")
    ap.add_argument("--screenshots", action="store_true", help="write docs/screenshots/*.png")
    ap.add_argument("--out", default=str(REPO / "bench" / "meeting.json"), help="JSON results")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    q = ("?" + args.query) if args.query else "?"
    tmp = Path(tempfile.mkdtemp(prefix="meeting-bench-"))
    env = {**os.environ, "ALIGNSCOPE_CACHE": os.environ.get("ALIGNSCOPE_CACHE", str(REPO / "cache")),
           "ALIGNSCOPE_SHARED": os.environ.get("ALIGNSCOPE_SHARED", str(REPO.parent / "shared"))}
    folders = {"dashboard": REPO}
    if args.baseline:
        wt = tmp / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(wt), args.baseline], cwd=str(REPO), check=True,
                       capture_output=True)
        folders[f"baseline {args.baseline}"] = wt
    if not args.no_floor:
        floor = tmp / "floor"
        (floor / ".streamlit").mkdir(parents=True)
        (floor / ".streamlit" / "config.toml").write_text((REPO / ".streamlit" / "config.toml").read_text())
        (floor / "app.py").write_text(FLOOR_APP)
        (floor / "floor_page.py").write_text(FLOOR_PAGE)
        folders["floor (title + one Plotly heatmap)"] = floor
    servers = {}
    out: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg_start": os.getloadavg(),
                 "cpus": os.cpu_count(), "query": args.query, "browser": "Debian Chromium, headless, --disable-gpu",
                 "servers": {}}
    try:
        for name, folder in folders.items():
            proc, base = start_dashboard(folder=folder, env=env, timeout_s=180)
            servers[name] = (base, proc)
        pages = {name: (["Alignment"] if name.startswith("floor") else ["Alignment", "Ranking"]) for name in servers}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            warm = {}
            for name, (base, _) in servers.items():           # first load of each server; then its warm profile
                ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
                out["servers"][name] = {"first_load_of_server_s": round(_usable(ctx.new_page(), f"{base}/Alignment{q}"), 3)}
                warm[name] = ctx
            times = {name: {p: {"new_browser": [], "new_tab": []} for p in pages[name]} for name in servers}
            for k in range(args.repeats):                     # alternate servers and order: same load for all
                order = list(servers) if k % 2 == 0 else list(reversed(list(servers)))
                for name in order:
                    base = servers[name][0]
                    for page_name in pages[name]:
                        ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
                        try:
                            times[name][page_name]["new_browser"].append(_usable(ctx.new_page(), f"{base}/{page_name}{q}"))
                        finally:
                            ctx.close()
                        page = warm[name].new_page()
                        times[name][page_name]["new_tab"].append(_usable(page, f"{base}/{page_name}{q}"))
                        page.close()
            for name in servers:
                out["servers"][name]["fresh_session"] = {p: {mode: _summary(xs) for mode, xs in modes.items()}
                                                         for p, modes in times[name].items()}
                for p, modes in out["servers"][name]["fresh_session"].items():
                    print(f"{name}: fresh session -> usable {p}: new browser median {modes['new_browser']['median_s']:.2f} s, "
                          f"new tab median {modes['new_tab']['median_s']:.2f} s")
            for name in servers:
                warm[name].close()

            for name, (base, _) in servers.items():
                if name.startswith("floor"):
                    continue
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
                out["servers"][name]["rerun_after_widget_change"] = _summary(reruns)
                print(f"{name}: rerun after a widget change (heatmap order): median "
                      f"{out['servers'][name]['rerun_after_widget_change']['median_s']:.2f} s")

            base = servers["dashboard"][0]
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

            from urllib.parse import parse_qs

            from core.report import collect, render_html
            from core.views import view_from_params

            view = view_from_params({k: v for k, v in parse_qs(args.query).items()})
            t0 = time.perf_counter()
            html = render_html(collect(view.target, list(view.candidates), view.settings()))
            out["report_build_s"] = round(time.perf_counter() - t0, 2)
            path = tmp / "report.html"
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
        for base, proc in servers.values():
            stop_dashboard(proc)
        if args.baseline:
            subprocess.run(["git", "worktree", "remove", "--force", str(tmp / "baseline")], cwd=str(REPO),
                           capture_output=True)
    return save(out, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
