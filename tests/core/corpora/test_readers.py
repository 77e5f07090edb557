"""Reading local files (kind "files") and HF datasets (kind "hf"): round trips and bad inputs."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.corpora import Corpus, CorpusSpec, Document
from core.corpora.readers import html_to_text
from core.errors import CorpusError

REPO = Path(__file__).resolve().parents[3]


def files(name: str, path, **kw) -> Corpus:
    return Corpus(CorpusSpec(name=name, kind="files", path=str(path), **kw))


def write_jsonl(path: Path, rows: list[dict], blank_after: int | None = None) -> None:
    lines = []
    for i, r in enumerate(rows):
        lines.append(json.dumps(r))
        if blank_after is not None and i == blank_after:
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


ROWS = [
    {"id": 1, "nl_statement": "Prove that 1 + 1 = 2.", "formal_statement": "theorem t1 : 1 + 1 = 2"},
    {"id": 2, "nl_statement": "Show that $\\sqrt 2$ is irrational.", "formal_statement": "theorem t2 : irrational (sqrt 2)"},
    {"id": 3, "nl_statement": "Every group of prime order is cyclic.", "formal_statement": "theorem t3 (G) : is_cyclic G"},
]


# ----------------------------------------------------------------------------------------------
# Round trips
# ----------------------------------------------------------------------------------------------
def test_txt_folder_round_trip(tmp_path, iso_cache):
    d = tmp_path / "corpus"
    (d / "sub").mkdir(parents=True)
    (d / "b.txt").write_text("second file\nwith two lines", encoding="utf-8")
    (d / "a.md").write_text("# Title\n\nfirst", encoding="utf-8")
    (d / "sub" / "c.v").write_text("Theorem plus_0 : forall n, n + 0 = n.", encoding="utf-8")
    (d / "sub" / "d.rst").write_text("Heading\n=======\n\ntext", encoding="utf-8")
    (d / "image.png").write_bytes(b"\x89PNG\x00\x00")  # unsupported extension: ignored in a folder
    (d / ".hidden.txt").write_text("hidden", encoding="utf-8")
    docs = files("txt", d).documents()
    assert [x.doc_id for x in docs] == ["a.md", "b.txt", "sub/c.v", "sub/d.rst"]
    assert docs[1] == Document("b.txt", "second file\nwith two lines")
    assert docs[2].text == "Theorem plus_0 : forall n, n + 0 = n."


def test_jsonl_with_field(tmp_path, iso_cache):
    f = tmp_path / "data.jsonl"
    write_jsonl(f, ROWS, blank_after=0)  # blank line 2: ids keep the real line numbers
    c = files("jl", f, field="nl_statement")
    docs = c.documents()
    assert [x.doc_id for x in docs] == ["data.jsonl:1", "data.jsonl:3", "data.jsonl:4"]
    assert [x.text for x in docs] == [r["nl_statement"] for r in ROWS]


def test_jsonl_with_template(tmp_path, iso_cache):
    f = tmp_path / "pairs.jsonl"
    write_jsonl(f, ROWS)
    tpl = "informal statement {nl_statement} formal statement {formal_statement}"
    docs = files("tpl", f, template=tpl).documents()
    assert len(docs) == 3
    assert docs[1].text == ("informal statement Show that $\\sqrt 2$ is irrational. "
                            "formal statement theorem t2 : irrational (sqrt 2)")


def test_csv_round_trip(tmp_path, iso_cache):
    f = tmp_path / "t.csv"
    f.write_text('id,text,other\n1,"hello, world",x\n2,007,y\n3,"two\nlines",z\n4,,w\n', encoding="utf-8")
    docs = files("csv", f, field="text").documents()
    # the empty 4th row is skipped; "007" stays a string; quoted commas/newlines survive
    assert [(x.doc_id, x.text) for x in docs] == [("t.csv:1", "hello, world"), ("t.csv:2", "007"),
                                                  ("t.csv:3", "two\nlines")]
    docs = files("csv2", f, template="{id}: {text}").documents()
    assert docs[0].text == "1: hello, world"


def test_parquet_round_trip(tmp_path, iso_cache):
    pd = pytest.importorskip("pandas")
    f = tmp_path / "t.parquet"
    pd.DataFrame({"nl_statement": [r["nl_statement"] for r in ROWS], "n": [1, 2, 3]}).to_parquet(f)
    docs = files("pq", f, field="nl_statement").documents()
    assert [x.doc_id for x in docs] == ["t.parquet:1", "t.parquet:2", "t.parquet:3"]
    assert docs[2].text == ROWS[2]["nl_statement"]
    assert files("pq2", f, template="{n}. {nl_statement}").documents()[0].text == "1. Prove that 1 + 1 = 2."


def test_json_array_gz_and_html(tmp_path, iso_cache):
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "arr.json").write_text(json.dumps([{"text": "alpha"}, {"text": "beta"}]), encoding="utf-8")
    with gzip.open(d / "lines.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write('{"text": "gamma"}\n{"text": "delta"}\n')
    docs = files("mixed", d, field="text").documents()
    assert [(x.doc_id, x.text) for x in docs] == [
        ("arr.json:1", "alpha"), ("arr.json:2", "beta"), ("lines.jsonl.gz:1", "gamma"), ("lines.jsonl.gz:2", "delta")]

    h = tmp_path / "page.html"
    h.write_text("<html><head><title>T</title><style>p{}</style></head><body><h1>Head</h1>"
                 "<p>Some <b>bold</b> text &amp; more.</p><script>var x=1;</script></body></html>", encoding="utf-8")
    assert files("html", h).documents()[0].text == "Head\n\nSome bold text & more."
    with gzip.open(tmp_path / "z.txt.gz", "wt", encoding="utf-8") as fh:
        fh.write("compressed text")
    assert files("gz", tmp_path / "z.txt.gz").documents()[0].text == "compressed text"


def test_html_main_only():
    page = ('<div class="nav">menu</div><div role="main"><h1>Title<a class="headerlink">¶</a></h1>'
            '<div><p>inner</p></div><pre>  code\n    indented</pre></div><div>footer</div>')
    assert html_to_text(page, main_only=True) == "Title\n\ninner\n\n  code\n    indented"
    assert "menu" in html_to_text(page) and "footer" in html_to_text(page)


def test_glob(tmp_path, iso_cache):
    (tmp_path / "g" / "x" / "y").mkdir(parents=True)
    (tmp_path / "g" / "top.txt").write_text("top", encoding="utf-8")
    (tmp_path / "g" / "x" / "mid.txt").write_text("mid", encoding="utf-8")
    (tmp_path / "g" / "x" / "y" / "deep.txt").write_text("deep", encoding="utf-8")
    (tmp_path / "g" / "x" / "skip.md").write_text("not matched", encoding="utf-8")
    docs = files("glob", f"{tmp_path}/g/**/*.txt").documents()
    assert [x.doc_id for x in docs] == ["top.txt", "x/mid.txt", "x/y/deep.txt"]
    docs = files("glob1", f"{tmp_path}/g/x/*.txt").documents()
    assert [x.doc_id for x in docs] == ["mid.txt"]  # ids are relative to the fixed prefix g/x


def test_relative_path_made_absolute(tmp_path, monkeypatch, iso_cache):
    (tmp_path / "rel.txt").write_text("relative", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    c = files("rel", "rel.txt")
    assert c.spec.path == str(tmp_path / "rel.txt")
    assert c.documents()[0].text == "relative"


def test_max_documents_is_first_n(tmp_path, iso_cache):
    f = tmp_path / "data.jsonl"
    write_jsonl(f, ROWS)
    docs = files("cap", f, field="nl_statement", max_documents=2).documents()
    assert [x.doc_id for x in docs] == ["data.jsonl:1", "data.jsonl:2"]


def test_deterministic_order_and_fingerprint(tmp_path, iso_cache):
    d = tmp_path / "det"
    d.mkdir()
    for name in ["zeta.txt", "Alpha.txt", "mid.txt", "10.txt", "9.txt"]:
        (d / name).write_text(f"text of {name}", encoding="utf-8")
    a, b = files("det", d), files("det-again", d)
    assert a.documents() == b.documents()
    assert [x.doc_id for x in a.documents()] == sorted(["zeta.txt", "Alpha.txt", "mid.txt", "10.txt", "9.txt"])
    fp = a.fingerprint()
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert fp == b.fingerprint()  # name is metadata, not content
    assert files("det", d, description="other words").fingerprint() == fp
    assert files("det", d, max_documents=2).fingerprint() != fp
    # same fingerprint in another process
    code = ("from core.corpora import Corpus, CorpusSpec; "
            f"print(Corpus(CorpusSpec(name='det', kind='files', path={str(d)!r})).fingerprint())")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == fp


def test_fingerprint_and_documents_follow_file_changes(tmp_path, iso_cache):
    d = tmp_path / "chg"
    d.mkdir()
    f = d / "a.txt"
    f.write_text("version one", encoding="utf-8")
    c = files("chg", d)
    fp1 = c.fingerprint()
    assert c.documents()[0].text == "version one"
    f.write_text("version two!", encoding="utf-8")
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    fp2 = c.fingerprint()
    assert fp2 != fp1
    assert c.documents()[0].text == "version two!"  # the in-memory cache is keyed by fingerprint
    (d / "b.txt").write_text("new file", encoding="utf-8")
    assert c.fingerprint() not in (fp1, fp2)


def test_hf_kind_reads_local_dataset_folder(tmp_path, iso_cache, offline_hub):
    d = tmp_path / "local_ds"
    d.mkdir()
    write_jsonl(d / "train.jsonl", ROWS)
    c = Corpus(CorpusSpec(name="hf-local", kind="hf", hf_id=str(d), split="train", field="formal_statement"))
    assert c.available()
    docs = c.documents()
    assert [x.text for x in docs] == [r["formal_statement"] for r in ROWS]
    assert docs[0].doc_id == "train:1"
    assert c.fingerprint() == Corpus(c.spec).fingerprint()


# ----------------------------------------------------------------------------------------------
# Bad inputs: CorpusError naming the file / field / line
# ----------------------------------------------------------------------------------------------
def test_empty_file(tmp_path, iso_cache):
    f = tmp_path / "empty.txt"
    f.write_text("", encoding="utf-8")
    with pytest.raises(CorpusError, match="empty.txt is empty"):
        files("e", f).documents()
    g = tmp_path / "blank.jsonl"
    g.write_text("\n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="blank.jsonl is empty"):
        files("e2", g, field="text").documents()


def test_binary_file(tmp_path, iso_cache):
    f = tmp_path / "blob.txt"
    f.write_bytes(b"abc\x00\x01\x02" * 10)
    with pytest.raises(CorpusError, match=r"blob.txt looks like a binary file") as e:
        files("b", f).documents()
    assert "UTF-8" in str(e.value) and "glob" in str(e.value)


def test_non_utf8_file(tmp_path, iso_cache):
    f = tmp_path / "latin.txt"
    f.write_bytes("café crème".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin.txt is not UTF-8 text \(invalid byte at offset 3\)"):
        files("l", f).documents()


def test_folder_skips_bad_files_with_warning_but_fails_if_all_bad(tmp_path, iso_cache):
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "good.txt").write_text("fine", encoding="utf-8")
    (d / "bad.txt").write_bytes(b"\x00\x00binary")
    (d / "latin.txt").write_bytes("é".encode("latin-1"))
    (d / "empty.txt").write_text("", encoding="utf-8")
    c = files("m", d)
    assert c.documents() == [Document("good.txt", "fine")]
    joined = " | ".join(c.warnings)
    assert "bad.txt" in joined and "latin.txt" in joined and "empty" in joined
    (d / "good.txt").unlink()
    with pytest.raises(CorpusError, match="unreadable as text: bad.txt, latin.txt"):
        files("m2", d).documents()


def test_missing_field(tmp_path, iso_cache):
    f = tmp_path / "data.jsonl"
    write_jsonl(f, ROWS)
    with pytest.raises(CorpusError) as e:
        files("mf", f, field="statement").documents()
    msg = str(e.value)
    assert "'statement'" in msg and "data.jsonl" in msg
    assert "Available fields: id, nl_statement, formal_statement" in msg
    with pytest.raises(CorpusError, match=r"Template field 'proof' not found in .*data.jsonl"):
        files("mt", f, template="{nl_statement} {proof}").documents()
    c = tmp_path / "t.csv"
    c.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"Field 'text' not found in .*t.csv\. Available fields: a, b"):
        files("mc", c, field="text").documents()
    with pytest.raises(CorpusError, match="sets neither field nor template. Available fields: id, nl_statement"):
        files("nf", f).documents()


def test_malformed_jsonl_line(tmp_path, iso_cache):
    f = tmp_path / "data.jsonl"
    f.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps(ROWS[1]) + "\n\n" + '{"id": 4, "nl_statement": "oops"\n'
                 + json.dumps(ROWS[2]) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"data.jsonl line 4 is not valid JSON: .*Fix: repair or delete that line"):
        files("mal", f, field="nl_statement").documents()
    g = tmp_path / "list.jsonl"
    g.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="list.jsonl line 1 is a JSON list, not an object"):
        files("lst", g, field="x").documents()


def test_nonexistent_path(tmp_path, iso_cache):
    c = files("nx", tmp_path / "nope" / "data.jsonl", field="text")
    assert not c.available()
    assert c.install_hint()
    with pytest.raises(CorpusError, match=r"Path .*nope/data.jsonl does not exist"):
        c.documents()
    with pytest.raises(CorpusError, match=r"Glob .*nope/\*\*/\*.txt matches no file"):
        files("nx2", f"{tmp_path}/nope/**/*.txt").documents()


def test_invalid_specs(tmp_path):
    with pytest.raises(CorpusError, match="both field"):
        files("both", tmp_path, field="a", template="{b}")
    with pytest.raises(CorpusError, match="is not valid"):
        files("bad name!", tmp_path)
    with pytest.raises(CorpusError, match="domain"):
        files("dom", tmp_path, domain="poetry")
    with pytest.raises(CorpusError, match="positional field"):
        files("pos", tmp_path, template="{} and {}")
    with pytest.raises(CorpusError, match="no path"):
        Corpus(CorpusSpec(name="np", kind="files"))
    with pytest.raises(CorpusError, match="no hf_id"):
        Corpus(CorpusSpec(name="nh", kind="hf"))
    with pytest.raises(CorpusError, match="kind 'web'"):
        Corpus(CorpusSpec(name="k", kind="web"))
    with pytest.raises(CorpusError, match="not a demo corpus"):
        Corpus(CorpusSpec(name="not-a-demo", kind="demo"))


def test_unreachable_hf_dataset_fails_fast(iso_cache, offline_hub):
    spec = CorpusSpec(name="hf-missing", kind="hf", hf_id="no-such-user/no-such-dataset-xyz", field="text")
    c = Corpus(spec)
    t0 = time.time()
    assert not c.available()
    with pytest.raises(CorpusError) as e:
        c.documents()
    assert time.time() - t0 < 20
    msg = str(e.value)
    assert "'no-such-user/no-such-dataset-xyz'" in msg and "unreachable" in msg
    assert "HF_DATASETS_OFFLINE=1" in msg and "local copy with path" in msg
    assert "HF_DATASETS_OFFLINE" in (c.install_hint() or "")


def test_hf_offline_mode_uncached_fails_fast(iso_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    c = Corpus(CorpusSpec(name="hf-off", kind="hf", hf_id="someone/uncached-dataset", split="test", field="x"))
    t0 = time.time()
    assert not c.available()
    with pytest.raises(CorpusError, match=r"'someone/uncached-dataset' cannot be loaded: offline mode is on"):
        c.documents()
    assert time.time() - t0 < 5


def test_none_metadata_means_default(tmp_path):
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    c = Corpus(CorpusSpec(name="n", kind="files", path=str(tmp_path), domain=None, license=None, description=None))
    assert (c.spec.domain, c.spec.license, c.spec.description) == ("custom", "unknown", "")
