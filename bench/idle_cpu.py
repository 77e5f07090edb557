"""CPU used by an idle dashboard server with one browser tab open (issue 14's idle-CPU figure).

Starts the dashboard as ./run.sh does (``python -m ui.serve``) on a free port (extra ``--server.*`` options are passed through, e.g.
``--server.fileWatcherType auto`` to compare with the shipped ``none``), opens the Alignment page in
headless Chromium (Playwright, Debian's /usr/bin/chromium), waits for it to settle, then reads the
server process's CPU time (user + system, /proc) over ``--seconds``. Prints the share of one core and
saves JSON.

    .venv/bin/python bench/idle_cpu.py                                   # shipped config
    .venv/bin/python bench/idle_cpu.py --server.fileWatcherType auto     # with Streamlit's file watcher
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from ui.serve import start_dashboard, stop_dashboard  # noqa: E402


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="measurement window (s)")
    ap.add_argument("--settle", type=float, default=30.0, help="wait after the page opened (s)")
    ap.add_argument("--out", default="bench/idle_cpu.json", help="JSON results (appended per config)")
    args, extra = ap.parse_known_args()
    from playwright.sync_api import sync_playwright

    srv, base = start_dashboard(options=extra, timeout_s=180)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            deadline = time.time() + 120
            while True:
                try:
                    page.goto(f"{base}/Alignment", timeout=120000)
                    break
                except Exception:
                    if time.time() > deadline:
                        raise
                    time.sleep(2)
            time.sleep(args.settle)
            c0, t0 = _cpu_seconds(srv.pid), time.time()
            time.sleep(args.seconds)
            c1, t1 = _cpu_seconds(srv.pid), time.time()
            browser.close()
    finally:
        stop_dashboard(srv)
    share = 100 * (c1 - c0) / (t1 - t0)
    row = {"options": extra or ["(shipped config)"], "seconds": round(t1 - t0, 1), "percent_of_one_core": round(share, 2),
           "loadavg": os.getloadavg(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"idle server, one open tab, {' '.join(row['options'])}: {share:.2f}% of one core over {t1 - t0:.0f} s")
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.is_file() else []
    out.write_text(json.dumps(rows + [row], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
