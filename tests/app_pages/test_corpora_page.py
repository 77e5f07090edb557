"""Corpora page (AppTest): registry table, selection in state and URL, adding corpora, bad input, preview."""
import json

import pytest

from tests.app_pages.conftest import texts_of, wait_job

PAGE = "app_pages/1_Corpora.py"


def _form(at, prefix, **values):
    for key, value in values.items():
        at.text_input(key=f"{prefix}_{key}").input(value)
    return at


def _submit(at, label):
    next(b for b in at.button if b.label == label).click().run()
    return at


def test_registry_table_and_selection_go_to_the_url(app, view_params):
    at = app(PAGE, view_params).run()
    assert not at.exception, texts_of(at.exception)
    table = at.dataframe[0].value
    assert {"corpus", "role", "domain", "kind", "installed", "documents", "tokens", "source", "license",
            "install"} <= set(table.columns)
    rows = table.set_index("corpus")
    assert rows.loc["tgt", "role"] == "target" and rows.loc["cand-maths", "role"] == "candidate"
    assert "proofnet" in rows.index                              # demo corpora are listed too
    assert at.selectbox(key="w_target").value == "tgt"
    at.multiselect(key="w_candidates").select("cand-code").run()
    assert at.query_params["candidates"] == "cand-maths,cand-prose,cand-code"
    at.selectbox(key="w_target").select("cand-prose").run()     # the new target leaves the candidates
    assert at.query_params["target"] == "cand-prose"
    assert at.multiselect(key="w_candidates").value == ["cand-maths", "cand-code"]
    # the selection survives a page switch within the session
    at.switch_page("app_pages/3_Ranking.py").run()
    assert "w_target" not in [w.key for w in at.selectbox]           # the selection box is closed (lazy)...
    at.session_state["w_picker"] = True                              # ...until the user opens it
    at.run()
    assert at.selectbox(key="w_target").value == "cand-prose"
    assert at.query_params["candidates"] == "cand-maths,cand-code"


def test_settings_come_from_the_url_and_go_back(app, view_params, tiny_model_dir):
    at = app(PAGE, view_params).run()
    summary = at.sidebar.expander[0].label                           # closed: a summary of the settings
    assert not at.sidebar.text_input and "tiny" in summary and "3 × 4 × 32 tokens" in summary
    at.session_state["sb_settings"] = True                           # the user opens the settings box
    at.run()
    assert at.sidebar.text_input(key="sb_model").value == tiny_model_dir
    assert at.sidebar.number_input(key="sb_num_batches").value == 3
    at.sidebar.number_input(key="sb_num_batches").set_value(4).run()      # invalidates embeddings: asks first
    at.sidebar.button(key="sb_apply").click().run()
    assert at.query_params["num_batches"] == "4" and at.query_params["model"] == tiny_model_dir


@pytest.mark.parametrize("path, field, template, expected", [
    ("/nonexistent/folder/*.txt", "", "", "matches no file"),
    ("/nonexistent/file.txt", "", "", "does not exist"),
    ("ROWS", "missing_field", "", "missing_field"),
    ("ROWS", "", "{title} {missing}", "missing"),
])
def test_bad_local_corpus_shows_an_error(app, view_params, tmp_path, path, field, template, expected):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps({"title": f"t{i}", "body": f"b{i}"}) for i in range(5)))
    at = app(PAGE, view_params).run()
    _form(at, "af", name="bad", path=str(rows) if path == "ROWS" else path, field=field, template=template)
    _submit(at, "Add corpus")
    assert not at.exception, texts_of(at.exception)
    errors = texts_of(at.error)
    assert errors and expected in errors[0] and "bad" in errors[0]
    assert at.dataframe[0].value["corpus"].tolist().count("bad") == 0   # nothing registered, page still works


def test_unreadable_file_shows_an_error(app, view_params, tmp_path):
    bad = tmp_path / "binary.txt"
    bad.write_bytes(b"\x00\xff\xfe" * 100)
    at = app(PAGE, view_params).run()
    _form(at, "af", name="binary", path=str(bad))
    _submit(at, "Add corpus")
    assert not at.exception and at.error


def test_unreachable_hub_dataset_shows_an_error(app, view_params, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = app(PAGE, {**view_params, "add_tab": "Hugging Face dataset"}).run()     # the tab, chosen by URL
    _form(at, "ah", name="hubby", id="nobody/no-such-dataset-xyz", field="text")
    _submit(at, "Add dataset")
    assert not at.exception, texts_of(at.exception)
    assert at.error and "nobody/no-such-dataset-xyz" in texts_of(at.error)[0]


def test_add_local_corpus_and_preview_as_plain_text(app, view_params, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(6):
        (folder / f"n{i}.md").write_text(f"# Note {i}\n<b>not bold</b> **not strong** <script>alert(1)</script>\n")
    at = app(PAGE, view_params).run()
    _form(at, "af", name="notes", path=str(folder / "*.md"))
    _submit(at, "Add corpus")
    assert not at.exception and not at.error, texts_of(at.error)
    assert any("Registered 'notes'" in s for s in texts_of(at.success))
    assert "notes" in at.multiselect(key="w_candidates").value        # added to the candidates
    at.run()
    assert "notes" in at.dataframe[0].value["corpus"].tolist()
    at.selectbox(key="pv_name").select("notes").run()
    codes = texts_of(at.code)
    assert any("<b>not bold</b> **not strong** <script>" in c for c in codes)     # raw, unrendered
    assert not any("not bold" in m for m in texts_of(at.markdown))


def test_token_counts_job(app, view_params):
    at = app(PAGE, view_params).run()
    table = at.dataframe[0].value.set_index("corpus")
    assert table["tokens"].isna()["tgt"]
    next(b for b in at.button if b.label.startswith("Count tokens of the 3 selected")).click().run()
    job_id = at.session_state["stats_job"]
    assert wait_job(job_id)["state"] == "done"
    at.run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("corpus")
    assert table.loc["tgt", "tokens"] > 0 and table.loc["cand-maths", "tokens"] > 0
