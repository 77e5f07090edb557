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

import sys
import time

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
    print(f"AlignScope: engine loaded in {preload():.1f} s; starting the dashboard", flush=True)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(REPO_ROOT / "app.py"), *args]
    return cli.main()


if __name__ == "__main__":
    raise SystemExit(main())
