"""``python -m ui.serve`` (what ./run.sh runs): the engine is loaded before Streamlit starts, in the
same process; the e2e tests' server is started this way too (tests/e2e/conftest.py)."""
import sys


def test_preload_reads_the_probe_tokenizer_and_imports_the_engine(tiny_model_dir):
    import core.probe
    from ui.serve import preload

    core.probe._LOADED.clear()
    seconds = preload(tiny_model_dir)
    assert seconds > 0 and "core.pipeline" in sys.modules and "plotly.graph_objects" in sys.modules
    probes = [p for (name, _, _), p in core.probe._LOADED.items() if name == tiny_model_dir]
    assert probes and not probes[0].loaded                           # tokenizer and config only, no weights


def test_preload_never_raises_on_a_bad_probe_network():
    from ui.serve import preload

    assert preload("/no/such/model/folder") > 0


def test_main_runs_streamlit_on_app_py_with_the_given_options(monkeypatch):
    import streamlit.web.cli as cli

    import ui.serve
    from core.paths import REPO_ROOT

    seen = {}
    monkeypatch.setattr(ui.serve, "preload", lambda model=None: 0.0)
    monkeypatch.setattr(cli, "main", lambda: seen.setdefault("argv", list(sys.argv)) and 0)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert ui.serve.main(["--server.port", "8999"]) == 0
    assert seen["argv"] == ["streamlit", "run", str(REPO_ROOT / "app.py"), "--server.port", "8999"]


def test_start_dashboard_names_a_server_that_exits(tmp_path):
    """A checkout without app.py: the server exits at once; the error carries its log's tail."""
    import pytest

    from ui.serve import start_dashboard

    with pytest.raises(RuntimeError, match="exited") as info:
        start_dashboard(folder=tmp_path, log_path=tmp_path / "server.log", timeout_s=60)
    assert "app.py" in str(info.value)
