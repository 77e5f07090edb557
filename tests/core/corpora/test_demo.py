"""The demo pack: ProofNet variants, extractors, installer machinery, and every real demo corpus."""
from __future__ import annotations

import io
import json

import pytest

from core.corpora import DOMAINS, Document, demo_names, get_corpus, install_demo_corpora, list_corpora
from core.corpora import demo as demo_mod
from core.corpora import extract
from core.errors import CorpusError
from core.paths import shared_data_dir

REQUIRED = {"proofnet", "proofnet-af", "proofnet-valid", "proofnet-informal", "champ", "coq-stdlib",
            "metamath", "hol-light", "agda-stdlib", "humaneval", "python-stdlib", "sympy", "python-docs",
            "linux-doc", "wikipedia", "news", "foldoc", "python-docstrings"}
PROOFNET = shared_data_dir() / "proofnet"


def _count_rows(split: str) -> int:
    """Rows of a ProofNet split counted independently (one JSON object per non-blank line)."""
    raw = (PROOFNET / f"{split}.jsonl").read_bytes().split(b"\n")
    return sum(1 for line in raw if line.strip() and json.loads(line))


needs_proofnet = pytest.mark.skipif(not (PROOFNET / "test.jsonl").is_file(),
                                    reason=f"ProofNet not found in {PROOFNET}")


# ----------------------------------------------------------------------------------------------
# ProofNet
# ----------------------------------------------------------------------------------------------
@needs_proofnet
def test_proofnet_test_pair_format():
    docs = get_corpus("proofnet").documents()
    # ProofNet has 371 problems: 185 valid + 186 test (test.jsonl has no final newline,
    # so `wc -l` reports 185 for it).
    assert len(docs) == _count_rows("test") == 186
    assert all(d.text.startswith("informal statement ") and " formal statement " in d.text for d in docs)
    assert len({d.doc_id for d in docs}) == len(docs)
    assert all(d.doc_id.startswith("test/") for d in docs)
    first = json.loads((PROOFNET / "test.jsonl").read_text(encoding="utf-8").split("\n")[0])
    assert docs[0] == Document(f"test/{first['id']}", "informal statement " + first["nl_statement"].strip()
                               + " formal statement " + first["formal_statement"].strip())
    c = get_corpus("proofnet")
    assert c.spec.domain == "target benchmark" and c.spec.license == "MIT"


@needs_proofnet
def test_proofnet_af_split_variant():
    docs = get_corpus("proofnet-af").documents()
    assert len(docs) == 2 * _count_rows("test") == 372
    assert [d.doc_id.rsplit(":", 1)[1] for d in docs[:4]] == ["informal", "formal", "informal", "formal"]
    pair = {d.doc_id: d.text for d in get_corpus("proofnet").documents()}
    base = docs[0].doc_id.rsplit(":", 1)[0]
    assert pair[base] == f"informal statement {docs[0].text} formal statement {docs[1].text}"


@needs_proofnet
def test_proofnet_valid_variants_never_use_test():
    valid = get_corpus("proofnet-valid").documents()
    informal = get_corpus("proofnet-informal").documents()
    assert len(valid) == len(informal) == _count_rows("valid") == 185
    assert all(d.doc_id.startswith("valid/") for d in valid + informal)
    assert all(d.text.startswith("informal statement ") for d in valid)
    assert not any("formal statement" in d.text for d in informal)
    test_ids = {d.doc_id.split("/", 1)[1] for d in get_corpus("proofnet").documents()}
    assert not test_ids & {d.doc_id.split("/", 1)[1] for d in valid}
    assert get_corpus("proofnet-informal").spec.domain == "informal maths"


@needs_proofnet
def test_demo_fingerprint_stable():
    a, b = get_corpus("proofnet"), get_corpus("proofnet")
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != get_corpus("proofnet-af").fingerprint()


# ----------------------------------------------------------------------------------------------
# Extractors on small inline inputs
# ----------------------------------------------------------------------------------------------
SET_MM = r"""
$( Header comment not followed by a statement $)
  $c ( ) -> wff |- $.
  $( Declare the primitive constant symbols. $)
  $v ph ps $.
  $( If ` ph ` and ` ps ` are wff's, so is ` ( ph -> ps ) ` .
     (Contributed by NM, 5-Aug-1993.) $)
  wi $a wff ( ph -> ps ) $.

  ${
    mp2.1 $e |- ph $.
    $( A double modus ponens inference.  (Contributed by NM, 5-Apr-1994.)
       (Proof shortened by Wolf Lammen, 23-Jul-2013.) $)
    mp2 $p |- ch $=
      ( mpi ax-mp ) ABDEGFH $.
  $}
  $( A comment separated from its statement by a hypothesis. $)
  idi.1 $e |- ph $.
  $( Principle of identity.  (New usage is discouraged.) $)
  id $p |- ( ph -> ph ) $= ( wi ax-1 mpd ) AAABZAAACAECD $.
"""


def test_metamath_pairs_inline():
    pairs = list(extract.parse_metamath_pairs(SET_MM))
    assert [(p[0], p[1]) for p in pairs] == [("wi", "$a"), ("mp2", "$p"), ("id", "$p")]
    docs = [extract.metamath_document(*p) for p in pairs]
    assert docs[0] == "If ` ph ` and ` ps ` are wff's, so is ` ( ph -> ps ) ` . wi $a wff ( ph -> ps )"
    assert docs[1] == "A double modus ponens inference. mp2 $p |- ch"
    assert docs[2] == "Principle of identity. id $p |- ( ph -> ph )"
    assert all("$=" not in d and "ABDEGFH" not in d for d in docs)  # proofs dropped


PY_MODULE = '''"""Module docstring."""
import os


def double(x):
    """Twice x.

    >>> double(2)
    4
    """
    y = 2 * x
    return y


def _private(x):
    """Left out: private."""
    return x


def single(x):
    "Left out: not triple-quoted."
    return x


def quoted(x):
    """Left out: its body holds triple quotes."""
    return """x"""


class Box:
    def size(self):
        \'\'\'The size.\'\'\'
        return 1

    def bare(self):
        return 0
'''


def test_python_docstring_pairs_inline():
    """HumanEval's layout: the prompt ends with the docstring's closing quotes and a newline, the body
    is the rest, dedented; private, non-triple-quoted and triple-quote bodies are left out."""
    pairs = list(extract.python_docstring_pairs(PY_MODULE))
    assert [q for q, _, _ in pairs] == ["double", "Box.size"]
    assert pairs[0][1] == 'def double(x):\n    """Twice x.\n\n    >>> double(2)\n    4\n    """\n'
    assert pairs[0][2] == "    y = 2 * x\n    return y\n"
    assert pairs[1][1] == "def size(self):\n    \'\'\'The size.\'\'\'\n" and pairs[1][2] == "    return 1\n"
    assert list(extract.python_docstring_pairs("def broken(:\n")) == []
    assert list(extract.python_docstring_pairs(PY_MODULE, max_lines=3)) == [p for p in pairs if p[0] == "Box.size"]


def test_python_docstrings_corpus_follows_humaneval_pair_format():
    """Every document of the real corpus splits by HumanEval's pair format into the function's own
    prompt and body (so it is a docstring -> code pair source in the target's layout)."""
    from core.outcomes.problems import HUMANEVAL_PYTHON

    docs = get_corpus("python-docstrings").documents()
    assert len(docs) > 1000 and len({d.doc_id for d in docs}) == len(docs)
    assert all("::" in d.doc_id and d.doc_id.split("::")[0].endswith(".py") for d in docs)
    for d in docs:
        prompt, body = HUMANEVAL_PYTHON.parse(d.text)
        assert prompt.startswith(("def ", "async def ")) and body.strip() and body.split("\n", 1)[0].strip()


def test_wiki_to_text_inline():
    markup = ("{{Infobox|name=x|{{nested}}}}'''Group theory''' is the study of [[group (mathematics)|groups]]"
              " and [[ring]]s.<ref>Some book</ref> A formula <math>a < b {{c}}</math> here."
              "\n[[File:Cayley.png|thumb|A [[Cayley graph]]]]\n== History ==\n{| class=wikitable\n|a||b\n|}"
              "\n* [http://example.org Early work] by Galois.<!-- comment -->\n[[Category:Algebra]]")
    text = extract.wiki_to_text(markup)
    assert text == ("Group theory is the study of groups and rings. A formula $a < b {{c}}$ here.\n"
                    "History\n- Early work by Galois.")


def test_wiki_articles_skip_redirects():
    xml = b"""<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">
    <page><title>A</title><ns>0</ns><revision><text>'''A''' is a letter.</text></revision></page>
    <page><title>B</title><ns>0</ns><redirect title="A"/><revision><text>#REDIRECT [[A]]</text></revision></page>
    <page><title>Talk:A</title><ns>1</ns><revision><text>chat</text></revision></page></mediawiki>"""
    assert list(extract.iter_wiki_articles(io.BytesIO(xml))) == [("A", "'''A''' is a letter.")]


def test_dictd_entries_inline():
    data = b"00-database-info\nabout\nalpha\n   first letter\nbeta\n   second letter\n"
    def enc(n):  # dictd base64 number
        digits = ""
        while True:
            digits = extract._B64[n % 64] + digits
            n //= 64
            if not n:
                return digits
    a, b = data.index(b"alpha"), data.index(b"beta")
    index = "\n".join([f"00-database-info\t{enc(0)}\t{enc(a)}", f"alpha\t{enc(a)}\t{enc(b - a)}",
                       f"Alpha\t{enc(a)}\t{enc(b - a)}", f"beta\t{enc(b)}\t{enc(len(data) - b)}"])
    assert extract.dictd_number(enc(123456)) == 123456
    assert list(extract.iter_dictd_entries(index, data)) == [
        ("alpha", "alpha\n   first letter"), ("beta", "beta\n   second letter")]


# ----------------------------------------------------------------------------------------------
# Installer machinery (offline: a fake fetcher, and a machine without apt)
# ----------------------------------------------------------------------------------------------
class FakeFetcher:
    def __init__(self):
        self.calls = 0

    def describe(self):
        return "fake"

    def fetch(self, name, raw, log):
        self.calls += 1
        (raw / "data").mkdir(parents=True)
        (raw / "data" / "one.txt").write_text("first document", encoding="utf-8")
        (raw / "data" / "two.txt").write_text("second document", encoding="utf-8")
        return {"fake-pkg": "1.0"}


def test_built_source_install_is_atomic_and_idempotent(iso_cache, monkeypatch, capsys):
    fetcher = FakeFetcher()
    src = demo_mod.BuiltSource(name="fake-demo", domain="custom", description="d", source="s", license="CC0-1.0",
                               fetcher=fetcher, builder=demo_mod._tree_builder("data", (".txt",)))
    monkeypatch.setitem(demo_mod.DEMO_SOURCES, "fake-demo", src)
    c = get_corpus("fake-demo")
    assert not c.available() and c.install_hint() == "python -m core.corpora.demo install fake-demo"
    with pytest.raises(CorpusError, match="not installed.*install fake-demo"):
        c.documents()
    assert install_demo_corpora(["fake-demo"], progress=True) == {"fake-demo": "installed"}
    assert "[1/1] fake-demo: installed (2 documents)" in capsys.readouterr().err
    folder = iso_cache / "corpora" / "fake-demo"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["documents"] == 2 and manifest["package_versions"] == {"fake-pkg": "1.0"}
    assert (folder / "raw" / "data" / "one.txt").is_file()
    assert not list((iso_cache / "corpora").glob(".tmp-*")) and not list((iso_cache / "corpora").glob(".downloads-*"))
    assert c.available() and c.install_hint() is None
    assert c.documents() == [Document("one.txt", "first document"), Document("two.txt", "second document")]
    fp = c.fingerprint()
    assert install_demo_corpora(["fake-demo"], progress=False) == {"fake-demo": "already installed"}
    assert fetcher.calls == 1 and get_corpus("fake-demo").fingerprint() == fp


def test_install_without_apt_reports_command(iso_cache, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    result = install_demo_corpora(["foldoc"], progress=False)
    assert result["foldoc"].startswith("not installed: apt-get/dpkg-deb not found")
    assert "; run: " in result["foldoc"] and "python -m core.corpora.demo install foldoc" in result["foldoc"]
    c = get_corpus("foldoc")
    assert not c.available()
    assert c.install_hint() == "python -m core.corpora.demo install foldoc"
    assert not list((iso_cache / "corpora").glob(".tmp-*"))
    # everything else keeps working
    assert get_corpus("python-stdlib").available()


def test_install_unknown_name_raises(iso_cache):
    with pytest.raises(CorpusError, match="'nope' is not a demo corpus. Demo corpora: agda-stdlib"):
        install_demo_corpora(["nope"], progress=False)


def test_cli_list_and_errors(capsys, real_cache):
    assert demo_mod.main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:5] == ["name", "domain", "available", "docs", "license"]
    for name in REQUIRED:
        assert f"\n{name} " in out
    assert demo_mod.main(["install", "nope"]) == 2
    assert "not a demo corpus" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Every demo corpus: metadata, and real documents when installed (skipped with the command if not)
# ----------------------------------------------------------------------------------------------
def test_demo_pack_metadata(real_cache):
    names = set(demo_names())
    assert REQUIRED <= names
    for c in list_corpora():
        if c.spec.kind != "demo":
            continue
        assert c.spec.domain in DOMAINS and c.spec.source and c.spec.license and c.spec.description
    assert get_corpus("coq-stdlib").spec.license == "LGPL-2.1"
    assert get_corpus("metamath").spec.license == "CC0-1.0"


@pytest.mark.parametrize("name", sorted(demo_mod.DEMO_SOURCES))
def test_demo_corpus_yields_real_documents(name, real_cache):
    c = get_corpus(name)
    if not c.available():
        pytest.skip(f"demo corpus {name!r} is not installed; run: {c.install_hint()}")
    docs = c.documents()
    assert len(docs) > 10
    assert all(isinstance(d, Document) and d.text.strip() for d in docs)
    assert len({d.doc_id for d in docs}) == len(docs), "doc ids must be unique"
    assert c.document_count() == len(docs)
    assert len(c.fingerprint()) == 64
