"""The dashboard's "Execution engine" sidebar setting: exported to job workers, bad addresses named in
the widget's words, nothing started."""
from __future__ import annotations

import os


def _sidebar_script():
    from ui.sidebar import settings_sidebar

    settings_sidebar()


def test_sidebar_engine_setting_is_exported_and_a_bad_address_is_named(isolated_cache):
    from streamlit.testing.v1 import AppTest

    from core.engine import current_engine

    at = AppTest.from_function(_sidebar_script, default_timeout=60)
    at.session_state["sb_engine_open"] = True                        # the user opens "Execution engine"
    at.run()
    assert not at.exception and at.selectbox(key="sb_engine").value == "local"
    at.selectbox(key="sb_engine").select("ray").run()
    assert not at.exception and not at.error
    assert os.environ["ALIGNSCOPE_ENGINE"] == "ray" and os.environ["ALIGNSCOPE_RAY_ADDRESS"] == "local"
    assert current_engine().name == "ray"
    at.text_input(key="sb_ray_address").input("127.0.0.1:9").run()       # nothing listens on port 9
    assert any("Ray address = 127.0.0.1:9 cannot be reached" in e.value for e in at.error)
    assert os.environ["ALIGNSCOPE_RAY_ADDRESS"] == "local"              # the bad address is not exported
    at.text_input(key="sb_ray_address").input("not an address").run()
    assert any("is not a Ray address" in e.value and "Ray address = auto" in e.value for e in at.error)
    at.selectbox(key="sb_engine").select("local").run()
    assert not at.error and os.environ["ALIGNSCOPE_ENGINE"] == "local"
