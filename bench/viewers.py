"""A meeting's worth of viewers (issue 12): 10 fresh browser sessions open the shared Alignment URL of a
warm-cache dashboard at the same time.

Usage:
    nice -n 5 .venv/bin/python bench/viewers.py [--viewers 10] [--out docs/results/viewers.json]

Setup: a fresh cache folder with three registered corpora (ProofNet validation statements as the
target benchmark, more of them and English prose as sources), the tiny probe network of the tests
(2-layer Llama, d=32) and every batch embedding already computed (warm cache), then ``streamlit run
app.py`` on a free port (as ``tests/e2e/conftest.py`` starts it). One headless Chromium
(``/usr/bin/chromium``) opens ``--viewers`` fresh contexts (no shared cookies or session) that all
load ``/Alignment?target=...&candidates=...`` at once (Playwright's async API), after a first viewer (the
presenter) opened it on the fresh server, and followed by one late viewer alone (the single-viewer
baseline, measured in the same run).

Per viewer: seconds from ``goto`` to a usable page (the heatmap's SVG drawn, the script run finished,
measured in the browser process); the page's own server time (its "page N s (server)" caption); whether
an exception box or an error appeared. For the server:
``/_stcore/health`` round trips polled every 0.25 s during the storm (max and p95 latency), the jobs
submitted (the warm cache needs none; a job id submitted twice would be one folder reused, so the
count of job folders created is reported) and a late viewer's load time after the storm. Writes
the JSON summary (p50/p95/max time to a usable page and the checks).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from ui.serve import start_dashboard, stop_dashboard  # noqa: E402  (one server start/stop for tests and benches)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
NAMES = ["viewers-target", "viewers-maths", "viewers-prose"]
BATCH = {"batch_size": 4, "seq_len": 32, "num_batches": 3}


def prepare(work: Path) -> tuple[Path, str]:
    """Cache folder with the corpora registered and every embedding computed; returns (cache, query)."""
    cache = work / "cache"
    cache.mkdir(parents=True)
    models = ROOT / "cache" / "models"
    if models.is_dir():
        (cache / "models").symlink_to(models, target_is_directory=True)
    os.environ["ALIGNSCOPE_CACHE"] = str(cache)
    from core.batches import BatchConfig
    from core.corpora import CorpusSpec, register_corpus
    from core.pipeline import EmbedSettings, embed_corpus
    from tests.conftest import _make_tiny, proofnet_valid_texts, village_prose

    model = _make_tiny(work / "tiny", tied=True)
    maths, prose = proofnet_valid_texts(), village_prose(40)
    texts = {NAMES[0]: maths[:40], NAMES[1]: maths[40:80], NAMES[2]: prose}
    settings = EmbedSettings(model=model, device="cpu", batch=BatchConfig(**BATCH))
    for name, t in texts.items():
        path = work / f"{name}.jsonl"
        path.write_text("\n".join(json.dumps({"text": x}) for x in t) + "\n")
        register_corpus(CorpusSpec(name=name, kind="files", path=str(path), field="text", domain="custom"))
        embed_corpus(name, settings, progress=False)
    query = urlencode({"target": NAMES[0], "candidates": ",".join(NAMES[1:]), "model": model, **BATCH}, safe=",/")
    return cache, query


def start_server(cache: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "ALIGNSCOPE_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(ROOT)}
    return start_dashboard(env=env, log_path=log_path, timeout_s=120)


class HealthProbe(threading.Thread):
    """Polls ``/_stcore/health`` every ``every`` seconds; keeps each round trip's latency (s)."""

    def __init__(self, url: str, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.url, self.every, self.latencies, self.failures = url, every, [], 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=10) as r:
                    r.read()
                self.latencies.append(time.perf_counter() - t)
            except OSError:
                self.failures += 1
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join(15)


async def _viewer(browser, url: str, index: int, timeout_s: float) -> dict:
    context = await browser.new_context(viewport={"width": 1600, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(timeout_s * 1000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    t0 = time.perf_counter()
    out = {"viewer": index}
    try:
        await page.goto(url)
        await page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(state="visible")
        while await page.get_attribute('[data-testid="stApp"]', "data-test-script-state") in (
                "running", "initial", "rerunRequested"):
            await asyncio.sleep(0.05)
        out["usable_s"] = round(time.perf_counter() - t0, 3)
        out["exceptions"] = await page.locator('[data-testid="stException"]').count()
        out["errors"] = await page.locator('[data-testid="stAlertContentError"]').count()
        text = await page.locator('[data-testid="stPlotlyChart"]').first.inner_text()
        out["heatmap_names"] = all(n in text for n in NAMES)
        caption = " ".join(await page.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
        found = re.search(r"page ([0-9.]+) s \(server\)", caption)
        out["server_s"] = float(found.group(1)) if found else None
    except Exception as exc:                       # a viewer that never got a usable page
        out["failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    out["browser_errors"] = errors
    await context.close()
    return out


async def storm(url: str, viewers: int, timeout_s: float) -> tuple[list[dict], dict, dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        first = await _viewer(browser, url, -1, timeout_s)             # the presenter, on the cold server
        results = await asyncio.gather(*(_viewer(browser, url, i, timeout_s) for i in range(viewers)))
        late = await _viewer(browser, url, viewers, timeout_s)          # one more viewer after the storm
        await browser.close()
    return list(results), first, late


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--viewers", type=int, default=10, help="concurrent browser sessions (default 10)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds a viewer may take (default 300)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "viewers.json"), help="JSON summary")
    args = ap.parse_args()
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is absent (apt-get install -y chromium)")
    work = Path(tempfile.mkdtemp(prefix="alignscope-viewers-"))
    proc = None
    try:
        t = time.perf_counter()
        cache, query = prepare(work)
        warm_s = time.perf_counter() - t
        jobs_before = sorted(p.name for p in (cache / "jobs").iterdir()) if (cache / "jobs").is_dir() else []
        load_before = round(os.getloadavg()[0], 2)
        proc, base = start_server(cache, work / "streamlit.log")
        url = f"{base}/Alignment?{query}"
        probe = HealthProbe(base)
        probe.start()
        t = time.perf_counter()
        results, first, late = asyncio.run(storm(url, args.viewers, args.timeout))
        storm_s = time.perf_counter() - t
        probe.stop()
        jobs_after = sorted(p.name for p in (cache / "jobs").iterdir()) if (cache / "jobs").is_dir() else []
        alive = proc.poll() is None
    finally:
        if proc is not None:
            stop_dashboard(proc)
    times = [r["usable_s"] for r in results if "usable_s" in r]
    new_jobs = [j for j in jobs_after if j not in jobs_before]
    summary = {
        "viewers": args.viewers, "url_path": "/Alignment?" + query.split("&model=")[0] + "&model=<tiny>&...",
        "usable": len(times), "p50_s": _pct(times, 0.5), "p95_s": _pct(times, 0.95),
        "max_s": round(max(times), 3) if times else None, "min_s": round(min(times), 3) if times else None,
        "exceptions": sum(r.get("exceptions", 0) for r in results),
        "error_boxes": sum(r.get("errors", 0) for r in results),
        "browser_errors": sum(len(r["browser_errors"]) for r in results),
        "heatmaps_complete": sum(bool(r.get("heatmap_names")) for r in results),
        "failed": [r for r in results if "failed" in r],
        "jobs_submitted": len(new_jobs), "job_ids": new_jobs,
        "health_polls": len(probe.latencies), "health_failures": probe.failures,
        "health_latency_p95_s": _pct(probe.latencies, 0.95),
        "health_latency_max_s": round(max(probe.latencies), 3) if probe.latencies else None,
        "server_s_p50": _pct([r["server_s"] for r in results if r.get("server_s") is not None], 0.5),
        "server_s_p95": _pct([r["server_s"] for r in results if r.get("server_s") is not None], 0.95),
        "first_viewer_cold_server_usable_s": first.get("usable_s"), "first_viewer_server_s": first.get("server_s"),
        "late_viewer_usable_s": late.get("usable_s"), "late_viewer_server_s": late.get("server_s"),
        "p50_over_single_viewer": round(_pct(times, 0.5) / late["usable_s"], 2) if times and late.get("usable_s")
        else None,
        "server_alive_after": alive,
        "storm_wall_s": round(storm_s, 2), "warm_cache_setup_s": round(warm_s, 1),
        "cpus": os.cpu_count(), "load_avg_1m_before": load_before, "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "per_viewer": results,
        "command": f"bench/viewers.py --viewers {args.viewers}",
    }
    summary["ok"] = (len(times) == args.viewers and summary["exceptions"] == 0 and summary["error_boxes"] == 0
                     and summary["heatmaps_complete"] == args.viewers and summary["jobs_submitted"] == 0
                     and summary["health_failures"] == 0 and alive and late.get("usable_s") is not None)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(f"{summary['usable']}/{args.viewers} viewers usable: p50 {summary['p50_s']} s, p95 {summary['p95_s']} s, "
          f"max {summary['max_s']} s; exceptions {summary['exceptions']}, jobs submitted {summary['jobs_submitted']}, "
          f"health p95 {summary['health_latency_p95_s']} s (max {summary['health_latency_max_s']} s, failures "
          f"{summary['health_failures']}), single viewer before/after {summary['first_viewer_cold_server_usable_s']}"
          f"/{summary['late_viewer_usable_s']} s, server time p50 {summary['server_s_p50']} s -> "
          f"{'ok' if summary['ok'] else 'NOT OK'}; wrote {args.out}")


if __name__ == "__main__":
    main()
