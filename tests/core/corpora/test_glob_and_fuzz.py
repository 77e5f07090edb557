"""Readers under stress: globs through symlink loops and duplicate paths (issue 12 failure 5), and
property-based fuzzing (hypothesis, bounded) of every reader: any bytes give documents or a
CorpusError naming the file, never another exception."""
from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.corpora import Corpus, CorpusSpec
from core.corpora.readers.files import resolve_files
from core.errors import CorpusError


@pytest.fixture
def looped(tmp_path):
    """d/a.txt, d/sub/b.txt, d/alias.txt -> a.txt, and two symlink loops (sub/up -> .., sub/top -> ../..)."""
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("first document")
    (d / "sub" / "b.txt").write_text("second document")
    os.symlink("a.txt", d / "alias.txt")
    os.symlink("..", d / "sub" / "up")
    os.symlink("../..", d / "sub" / "top")
    return d


@pytest.mark.parametrize("pattern", ["**/*.txt", "**", "**/*", "sub/../**/*.txt"])
def test_symlink_loops_do_not_recurse_and_files_are_unique(looped, pattern):
    """Before the fix a `**` glob through a loop registered 81 documents from 2 files."""
    t0 = time.perf_counter()
    base, files, warnings = resolve_files(str(looped / pattern))
    assert time.perf_counter() - t0 < 5
    real = sorted(os.path.realpath(f) for f in files)
    assert real == sorted({os.path.realpath(looped / "a.txt"), os.path.realpath(looped / "sub" / "b.txt")})
    assert any("duplicate" in w for w in warnings)


def test_registered_glob_counts_each_file_once(looped):
    docs = Corpus(CorpusSpec(name="looped", kind="files", path=str(looped / "**" / "*.txt"))).documents()
    assert sorted(d.text for d in docs) == ["first document", "second document"]


def test_folder_and_plain_glob_deduplicate_symlinked_files(looped):
    for path in (str(looped), str(looped / "*.txt")):
        _, files, _ = resolve_files(path)
        assert len({os.path.realpath(f) for f in files}) == len(files)


def test_glob_semantics_kept(tmp_path):
    """The walk matches as glob does: `*` stays inside a folder, hidden names need an explicit dot,
    `**` matches zero or more folders, character classes work."""
    for rel in ("x.md", "a/y.md", "a/b/z.md", "a/.hidden/h.md", ".top.md", "a/b/w.txt", "c1.md", "c2.md"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)

    def names(pattern):
        return sorted(f.relative_to(tmp_path).as_posix() for f in resolve_files(str(tmp_path / pattern))[1])

    assert names("**/*.md") == ["a/b/z.md", "a/y.md", "c1.md", "c2.md", "x.md"]
    assert names("a/**/*.md") == ["a/b/z.md", "a/y.md"]
    assert names("**/b/*") == ["a/b/w.txt", "a/b/z.md"]
    assert names("c[12].md") == ["c1.md", "c2.md"]
    assert names("**/c[!1].md") == ["c2.md"]


# -- fuzzing -----------------------------------------------------------------------------------------
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


def _read(tmp_path, name, data: bytes, **kw):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        docs = Corpus(CorpusSpec(name="fz", kind="files", path=str(path), **kw)).documents()
    except CorpusError as exc:
        assert exc.fix and (name in str(exc) or "fz" in str(exc)), str(exc)   # names the file or corpus
        return None
    assert docs and all(d.text.strip() for d in docs)
    return docs


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_text_reader(tmp_path, data):
    from core.corpora import clear_document_cache

    clear_document_cache()
    _read(tmp_path, "f.txt", data)


@FUZZ
@given(lines=st.lists(st.one_of(st.text(max_size=40), st.builds(json.dumps, st.dictionaries(
    st.sampled_from(["text", "body", "x"]), st.one_of(st.text(max_size=20), st.integers(), st.none(),
                                                     st.lists(st.integers(), max_size=3)), max_size=3))),
    max_size=8))
def test_fuzz_jsonl_reader(tmp_path, lines):
    from core.corpora import clear_document_cache

    clear_document_cache()
    _read(tmp_path, "f.jsonl", "\n".join(lines).encode(), field="text")


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list('ab,"\n\r;x\t ')), max_size=120),
       field=st.sampled_from(["a", "text", "b"]))
def test_fuzz_csv_reader(tmp_path, text, field):
    from core.corpora import clear_document_cache

    clear_document_cache()
    _read(tmp_path, "f.csv", ("a,b\n" + text).encode(), field=field)


@FUZZ
@given(data=st.one_of(st.binary(max_size=200), st.builds(lambda v: json.dumps(v).encode(), st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.sampled_from(["text", "k"]),
                                                                                children, max_size=3)),
    max_leaves=10))))
def test_fuzz_json_reader(tmp_path, data):
    from core.corpora import clear_document_cache

    clear_document_cache()
    _read(tmp_path, "f.json", data, field="text")


@FUZZ
@given(data=st.binary(max_size=300), ext=st.sampled_from([".txt.gz", ".parquet", ".html", ".md"]))
def test_fuzz_binary_formats(tmp_path, data, ext):
    from core.corpora import clear_document_cache

    clear_document_cache()
    kw = {"field": "text"} if ext == ".parquet" else {}
    _read(tmp_path, "f" + ext, data, **kw)


@FUZZ
@given(template=st.text(alphabet=st.sampled_from(list("{}abtex:!r0 ")), max_size=16))
def test_fuzz_templates(tmp_path, template):
    from core.corpora import clear_document_cache

    clear_document_cache()
    _read(tmp_path, "t.jsonl", b'{"text": "hello", "a": 1}\n{"text": "world", "a": 2}\n', template=template)
