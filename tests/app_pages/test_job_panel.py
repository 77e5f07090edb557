"""The job panel's first progress line (ui.jobs.job_panel): the real total from submission on, before
any worker has reported (was "0/0 · ETA about 1–5 min" until the first poll)."""
from streamlit.testing.v1 import AppTest

from tests.app_pages.conftest import texts_of


def _panel(tmp_path, job_id: str) -> AppTest:
    script = tmp_path / "panel.py"
    script.write_text(f"from ui.jobs import job_panel\njob_panel({job_id!r}, key='k', title='Embeddings')\n")
    return AppTest.from_file(str(script), default_timeout=60).run()


def test_first_line_shows_the_real_total(tmp_path, monkeypatch):
    import core.jobs as jobs
    from core.batches import BatchConfig
    from core.settings import EmbedSettings

    monkeypatch.setattr(jobs, "_spawn_worker", lambda folder: type("P", (), {"pid": 0})())   # no worker yet
    settings = EmbedSettings(batch=BatchConfig(num_batches=3))
    job = jobs.submit("embed", {"corpora": ["a", "b"], "settings": settings.to_dict()})
    at = _panel(tmp_path, job.job_id)
    assert not at.exception, texts_of(at.exception)
    text = at.get("progress")[0].proto.text
    assert text.startswith("0/6 · ETA ") and "0/0" not in text, text
    other = jobs.submit("mix_verify", {"x": 1})                   # a kind without a declared total
    text = _panel(tmp_path, other.job_id).get("progress")[0].proto.text
    assert text.startswith("queued · ETA") and "0/0" not in text, text
