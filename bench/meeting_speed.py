"""Issue 26's speed figures of the dashboard for a meeting, against the framework's floor, in one run.

    .venv/bin/python bench/meeting_speed.py --repeats 5 --out docs/results/meeting_speed_cpu.json

Starts the dashboard as ``./run.sh`` does (``python -m ui.serve``) on the current cache (warm it
first: the default view's embeddings, e.g. ``python -m core align --target proofnet --sources
coq-stdlib,metamath,hol-light,python-docstrings,python-stdlib,wikipedia,news``) and, beside it, the floor app of
``bench/meeting.py`` (a Streamlit page with a title and one Plotly heatmap). With Playwright in
Debian's Chromium (headless), alternating the two servers so they share the load:

- ``fresh_session``: a new browser context (empty HTTP cache, new session) opens ``/Alignment``,
  ``/Ranking`` and ``/Mix`` of the default view; seconds until the script run has finished and the
  page's first chart is drawn; the floor's ``/Alignment`` likewise; ratio of medians to the floor's;
- ``page_switch``: in one session, a click on the sidebar's link to the next page (Alignment ->
  Ranking -> Mix -> Alignment ...) until its chart is drawn and the run finished; median and p95;
- ``presenter_arrow``: in presenter mode (``?present=1``, 1280x720), ArrowRight / ArrowLeft between
  Alignment and Ranking until the next slide's chart is drawn and the run finished; median and p95;
- ``mix_slider``: on the Mix page, ArrowRight / ArrowLeft on the first weight slider until the rerun
  finished and the chart is drawn again; median and p95.

Times subtract ``bench/meeting.py``'s 0.25 s settle window. Targets (issue 26): fresh session <= 1.15x
the floor, page switch and presenter arrow p95 <= 0.5 s, slider <= 0.3 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
import meeting as M  # noqa: E402  (bench/meeting.py: the floor app, _wait_idle, _usable, the browser flags)

from ui.serve import start_dashboard, stop_dashboard  # noqa: E402

PAGES = ("Alignment", "Ranking", "Mix")
SETTLE = 0.25
CHART = '[data-testid="stPlotlyChart"] .main-svg'


def _stats(xs: list[float]) -> dict:
    import numpy as np

    return {"median_s": round(statistics.median(xs), 3), "p95_s": round(float(np.percentile(xs, 95)), 3),
            "min_s": round(min(xs), 3), "max_s": round(max(xs), 3), "n": len(xs), "all_s": [round(x, 3) for x in xs]}


def _after(page, act) -> float:
    """Seconds from ``act()`` to the rerun finished with a chart drawn."""
    t0 = time.perf_counter()
    act()
    time.sleep(0.05)                       # let the click or key start the rerun
    M._wait_idle(page)
    page.locator(CHART).first.wait_for(timeout=120_000)
    return time.perf_counter() - t0 - SETTLE


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "docs/results/meeting_speed_cpu.json"))
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="meeting-speed-"))
    floor = tmp / "floor"
    (floor / ".streamlit").mkdir(parents=True)
    (floor / ".streamlit" / "config.toml").write_text((REPO / ".streamlit" / "config.toml").read_text())
    (floor / "app.py").write_text(M.FLOOR_APP)
    (floor / "floor_page.py").write_text(M.FLOOR_PAGE)
    env = {**os.environ, "ALIGNSCOPE_CACHE": os.environ.get("ALIGNSCOPE_CACHE", str(REPO / "cache"))}
    out: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg_start": os.getloadavg(),
                 "cpus": os.cpu_count(), "repeats": args.repeats, "command": " ".join(sys.argv)}
    servers = {}
    try:
        for name, folder in (("dashboard", REPO), ("floor", floor)):
            servers[name] = start_dashboard(folder=folder, env=env, timeout_s=180)
        dash, flo = servers["dashboard"][1], servers["floor"][1]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=M.CHROMIUM, headless=True, args=M.ARGS)

            def fresh(url: str) -> float:
                ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
                try:
                    return M._usable(ctx.new_page(), url)
                finally:
                    ctx.close()

            fresh(f"{dash}/Alignment"), fresh(f"{flo}/Alignment")       # first load of each server: apart
            times = {p: [] for p in (*PAGES, "floor")}
            for k in range(args.repeats):
                order = [*PAGES, "floor"] if k % 2 == 0 else ["floor", *reversed(PAGES)]
                for p in order:
                    times[p].append(fresh(f"{flo}/Alignment" if p == "floor" else f"{dash}/{p}"))
            floor_med = statistics.median(times["floor"])
            out["fresh_session"] = {p: {**_stats(xs), "ratio_to_floor": round(statistics.median(xs) / floor_med, 3)}
                                    for p, xs in times.items()}
            for p, v in out["fresh_session"].items():
                print(f"fresh session {p}: median {v['median_s']:.2f} s, {v['ratio_to_floor']:.2f}x the floor", flush=True)

            ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
            page = ctx.new_page()
            M._usable(page, f"{dash}/Alignment")
            switches, current = [], 0
            for _ in range(args.repeats * len(PAGES)):
                nxt = PAGES[(current + 1) % len(PAGES)]
                link = page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=nxt).first
                switches.append(_after(page, link.click))
                current = (current + 1) % len(PAGES)
            out["page_switch"] = _stats(switches)
            print(f"sidebar page switch: median {out['page_switch']['median_s']:.2f} s, p95 {out['page_switch']['p95_s']:.2f} s",
                  flush=True)

            M._usable(page, f"{dash}/Mix")
            slider = page.locator('[data-testid="stSlider"] input[type="range"]').first
            moves = []
            for k in range(args.repeats * 2):
                slider.focus()
                moves.append(_after(page, lambda: page.keyboard.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")))
            out["mix_slider"] = _stats(moves)
            print(f"Mix slider change: median {out['mix_slider']['median_s']:.2f} s, p95 {out['mix_slider']['p95_s']:.2f} s",
                  flush=True)
            ctx.close()

            ctx = browser.new_context(viewport={"width": 1280, "height": 720})
            page = ctx.new_page()
            M._usable(page, f"{dash}/Alignment?present=1")
            arrows = []
            for k in range(args.repeats * 2):
                arrows.append(_after(page, lambda: page.keyboard.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")))
            out["presenter_arrow"] = _stats(arrows)
            print(f"presenter arrow key: median {out['presenter_arrow']['median_s']:.2f} s, "
                  f"p95 {out['presenter_arrow']['p95_s']:.2f} s", flush=True)
            ctx.close()
            browser.close()
    finally:
        for proc, _ in servers.values():
            stop_dashboard(proc)
    out["loadavg_end"] = os.getloadavg()
    out["targets"] = {"fresh_session_ratio": 1.15, "page_switch_p95_s": 0.5, "presenter_arrow_p95_s": 0.5,
                      "mix_slider_s": 0.3}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
