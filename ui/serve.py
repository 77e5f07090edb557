"""Start the dashboard with its heavy modules loaded once per server, before it takes requests.

``streamlit run app.py`` imports the engine (torch, transformers, scipy, plotly, the probe network's
tokenizer) in the first session that needs it, so the first page of every new server waited for
seconds of imports. ``python -m ui.serve [streamlit options]`` (what ``./run.sh`` runs) does that
work first, then starts Streamlit in the same process (``streamlit.web.cli``), so every session,
the first included, finds the modules in ``sys.modules`` and the tokenizer memoised.

It is synchronous on purpose: importing transformers from two threads at once is not safe, and a
page opened while a preload thread still imports would wait anyway. Nothing is computed and no
model weights are loaded (the probe network's weights load on first use of ``.model``).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from core.paths import REPO_ROOT


def preload(model: str | None = None) -> float:
    """Import the modules every page needs and read the probe network's tokenizer and config.

    Args:
        model: probe network name (default: the embedded ``smollm2-135m``).

    Returns:
        Seconds spent (wall clock). Errors are not raised: a missing or broken probe network is
        reported by the page that needs it, in that page's words.
    """
    t0 = time.perf_counter()
    import plotly.graph_objects  # noqa: F401
    import streamlit  # noqa: F401

    import core.charts  # noqa: F401
    import core.coefficients  # noqa: F401
    import core.pipeline  # noqa: F401   (not ui.*: st.cache_data functions must be created under the runtime)
    from core.probe import DEFAULT_MODEL, load_probe

    try:
        load_probe(model or DEFAULT_MODEL, progress=False)
    except Exception:  # noqa: BLE001 — the page that needs the probe shows the error
        pass
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """``python -m ui.serve [streamlit run options]``: preload, then ``streamlit run app.py``.

    Returns:
        Streamlit's exit code.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    print("AlignScope: loading the engine (torch, transformers, the probe network's tokenizer)...", flush=True)
    print(f"AlignScope: engine loaded in {preload():.1f} s; starting the dashboard", flush=True)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(REPO_ROOT / "app.py"), *args]
    return cli.main()


def free_port() -> int:
    """A free TCP port on localhost (the OS picks it; another process may take it before use)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dashboard(*, port: int | None = None, env: dict | None = None, log_path: Path | None = None,
                    folder: Path = REPO_ROOT, options: list[str] | tuple[str, ...] = (),
                    timeout_s: float = 120.0) -> tuple[subprocess.Popen, str]:
    """Start a dashboard server in its own process group and wait until ``/_stcore/health`` answers
    (what the browser tests and the benches under ``bench/`` do).

    Args:
        port: TCP port (default: a free one).
        env: the server's environment (default: this process's).
        log_path: file for the server's output (default: discarded).
        folder: the checkout to serve; one without ``ui/serve.py`` (an older commit) is served with
            ``streamlit run app.py``.
        options: more ``streamlit run`` options (e.g. ``["--server.fileWatcherType", "auto"]``).
        timeout_s: seconds to wait for the health check.

    Returns:
        ``(process, base URL)``; stop it with :func:`stop_dashboard`.

    Raises:
        RuntimeError: the server exited, or did not answer within ``timeout_s`` (with its log's tail).
    """
    port = port or free_port()
    launcher = ["-m", "ui.serve"] if (Path(folder) / "ui" / "serve.py").exists() else ["-m", "streamlit", "run", "app.py"]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen([sys.executable, *launcher, "--server.port", str(port), "--server.headless", "true",
                                 "--server.address", "localhost", "--browser.gatherUsageStats", "false", *options],
                                cwd=str(folder), env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        if log_path:
            log.close()
    url = f"http://localhost:{port}"

    def tail() -> str:
        return Path(log_path).read_text(errors="replace")[-3000:] if log_path else "(no log kept)"

    deadline = time.time() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the dashboard server exited with {proc.returncode}:\n{tail()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if time.time() > deadline:
            stop_dashboard(proc)
            raise RuntimeError(f"the dashboard server did not answer in {timeout_s:.0f} s:\n{tail()}")
        time.sleep(0.3)


def stop_dashboard(proc: subprocess.Popen, *, timeout_s: float = 15.0) -> None:
    """Stop a server started by :func:`start_dashboard` and its children (SIGTERM to its process
    group, SIGKILL after ``timeout_s`` seconds); a server already gone is fine."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout_s)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout_s)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


if __name__ == "__main__":
    raise SystemExit(main())
