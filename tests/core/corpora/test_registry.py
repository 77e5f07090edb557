"""Registering, persisting, listing and unregistering corpora (in a temporary ALIGNSCOPE_CACHE)."""
from __future__ import annotations

import json

import pytest

from core.corpora import (CorpusSpec, clear_document_cache, demo_names, get_corpus, list_corpora,
                          register_corpus, registry_path, unregister_corpus)
from core.errors import CorpusError


def make_folder(tmp_path, name="notes"):
    d = tmp_path / name
    d.mkdir()
    (d / "a.txt").write_text("Let G be a group.", encoding="utf-8")
    (d / "b.txt").write_text("Then G has an identity.", encoding="utf-8")
    return d


def test_register_persist_get_unregister(tmp_path, monkeypatch, iso_cache):
    make_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec = CorpusSpec(name="my-notes", kind="files", path="notes", domain="informal maths",
                      description="two notes", license="CC0-1.0")
    c = register_corpus(spec)
    assert c.spec.path == str(tmp_path / "notes")  # stored absolute
    assert registry_path() == iso_cache / "corpora" / "registry.json"
    data = json.loads(registry_path().read_text(encoding="utf-8"))
    assert data["corpora"]["my-notes"]["path"] == str(tmp_path / "notes")
    assert data["corpora"]["my-notes"]["domain"] == "informal maths"
    assert not [p for p in registry_path().parent.iterdir() if p.name.startswith(".registry-")]  # no temp left

    clear_document_cache()
    monkeypatch.chdir(iso_cache)  # the stored absolute path does not depend on cwd
    got = get_corpus("my-notes")
    assert got.spec == c.spec
    assert [d.text for d in got.documents()] == ["Let G be a group.", "Then G has an identity."]
    assert got.fingerprint() == c.fingerprint()

    names = [x.name for x in list_corpora()]
    assert names == sorted(names)
    assert "my-notes" in names and set(demo_names()) <= set(names)

    with pytest.raises(CorpusError, match="already registered") as e:
        register_corpus(spec)
    assert "overwrite=True" in str(e.value)
    c2 = register_corpus(CorpusSpec(name="my-notes", kind="files", path=str(tmp_path / "notes" / "a.txt")),
                         overwrite=True)
    assert len(get_corpus("my-notes").documents()) == 1 and c2.spec.domain == "custom"

    unregister_corpus("my-notes")
    assert "my-notes" not in json.loads(registry_path().read_text(encoding="utf-8"))["corpora"]
    with pytest.raises(CorpusError, match="Unknown corpus 'my-notes'"):
        get_corpus("my-notes")
    with pytest.raises(CorpusError, match="No registered corpus is named 'my-notes'"):
        unregister_corpus("my-notes")


def test_registry_follows_alignscope_cache(tmp_path, monkeypatch, iso_cache):
    make_folder(tmp_path)
    register_corpus(CorpusSpec(name="here", kind="files", path=str(tmp_path / "notes")))
    monkeypatch.setenv("ALIGNSCOPE_CACHE", str(tmp_path / "other-cache"))
    with pytest.raises(CorpusError, match="Unknown corpus 'here'"):
        get_corpus("here")
    monkeypatch.setenv("ALIGNSCOPE_CACHE", str(iso_cache))
    assert get_corpus("here").name == "here"


def test_register_validates_by_reading(tmp_path, iso_cache):
    (tmp_path / "empty.txt").write_text("   \n", encoding="utf-8")
    with pytest.raises(CorpusError, match="empty.txt is empty"):
        register_corpus(CorpusSpec(name="empty", kind="files", path=str(tmp_path / "empty.txt")))
    with pytest.raises(CorpusError, match="does not exist"):
        register_corpus(CorpusSpec(name="ghost", kind="files", path=str(tmp_path / "ghost")))
    assert not registry_path().exists() or "empty" not in registry_path().read_text()


def test_register_rejects_demo_names_and_kind(tmp_path, iso_cache):
    d = make_folder(tmp_path)
    with pytest.raises(CorpusError, match="reserved by the demo pack"):
        register_corpus(CorpusSpec(name="proofnet", kind="files", path=str(d)))
    with pytest.raises(CorpusError, match="kind 'demo' is reserved"):
        register_corpus(CorpusSpec(name="mine", kind="demo"))
    with pytest.raises(CorpusError, match="is a demo corpus"):
        unregister_corpus("proofnet")


def test_unknown_corpus_name_lists_known_and_how_to_add(iso_cache):
    with pytest.raises(CorpusError) as e:
        get_corpus("proofnet-tset")
    msg = str(e.value)
    assert "Unknown corpus 'proofnet-tset'" in msg
    assert "Did you mean proofnet" in msg
    assert "Known corpora: " in msg and "coq-stdlib" in msg and "wikipedia" in msg
    assert "register_corpus(" in msg


def test_damaged_registry_is_named(iso_cache):
    registry_path().write_text("{not json", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"registry.json is damaged"):
        get_corpus("anything")
    with pytest.raises(CorpusError, match=r"registry.json is damaged"):
        list_corpora()


def test_spec_dict_round_trip():
    spec = CorpusSpec(name="x", kind="hf", hf_id="owner/ds", hf_config="c", split="test",
                      template="{a} {b}", domain="code", max_documents=5)
    assert CorpusSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(CorpusError, match="unknown keys: colour"):
        CorpusSpec.from_dict({"name": "x", "kind": "files", "colour": "red"})
    with pytest.raises(CorpusError, match="missing kind"):
        CorpusSpec.from_dict({"name": "x"})
