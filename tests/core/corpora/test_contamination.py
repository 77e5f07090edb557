"""Contamination guard by content (core.corpora.contamination) on the real ProofNet test split."""
from __future__ import annotations

import json

import pytest

from core.corpora import CorpusSpec, get_corpus, register_corpus
from core.errors import AlignScopeError, CorpusError
from core.paths import REPO_ROOT

PROOFNET = REPO_ROOT.parent / "shared" / "data" / "proofnet"
pytestmark = pytest.mark.skipif(not (PROOFNET / "test.jsonl").is_file(), reason="ProofNet data folder missing")


def _rows(split="test"):
    return [json.loads(line) for line in (PROOFNET / f"{split}.jsonl").read_text().splitlines() if line.strip()]


def _proofnet(overlaps):
    """ProofNet's overlap among a report's overlaps (objects or their dicts): one per benchmark, ProofNet
    and HumanEval (the docstring -> code target), and the corpora of these tests never reproduce HumanEval."""
    get = (lambda o, k: o[k]) if overlaps and isinstance(overlaps[0], dict) else getattr
    assert sorted(get(o, "benchmark") for o in overlaps) == ["humaneval", "proofnet"]
    assert not any(get(o, "contaminated") for o in overlaps if get(o, "benchmark") == "humaneval")
    return next(o for o in overlaps if get(o, "benchmark") == "proofnet")


def test_humaneval_is_a_target_benchmark_and_never_a_training_source():
    """HumanEval's test split (the ``humaneval`` corpus) is refused as a training source for any target,
    by name for its own target and by content for ProofNet; the stdlib docstring pairs pass."""
    from core.corpora.contamination import check_sources
    from core.finetune.data import check_training_sources

    assert check_training_sources(["python-docstrings"], "humaneval").corpus == "humaneval"
    with pytest.raises(AlignScopeError, match="held-out split"):
        check_training_sources(["humaneval"], "humaneval")
    for source, target in (("humaneval", "proofnet"), ("proofnet", "humaneval"), ("proofnet-af", "humaneval")):
        with pytest.raises(AlignScopeError, match=f"'{source}' is the held-out \\(test\\) split of a target benchmark"):
            check_training_sources([source], target)
    assert len(check_sources(["python-docstrings"])) == 1


def _register(tmp_path, name, texts, **kw):
    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in texts) + "\n")
    return register_corpus(CorpusSpec(name=name, kind="files", path=str(path), field="text", **kw))


def test_normalisation_and_words():
    from core.corpora.normalise import normalise, text_hash, words

    assert normalise("  Let  $G$\n be a GROUP. ") == "let $g$ be a group."
    assert text_hash("A  b") == text_hash("a b\n") != text_hash("a c")
    assert words("(x : ℝ) → x") == ["(", "x", ":", "r", ")", "→", "x"]     # NFKC: ℝ is R
    assert normalise("ﬁ") == "fi"                                       # NFKC


def test_a_renamed_copy_of_the_test_split_is_refused(tmp_path):
    """Issue 12 failure 3: `corpora add pn-test-copy --path .../test.jsonl --field formal_statement`."""
    from core.corpora.contamination import check_sources, contamination_report
    from core.finetune.data import check_training_sources

    register_corpus(CorpusSpec(name="pn-test-copy", kind="files", path=str(PROOFNET / "test.jsonl"),
                               field="formal_statement"))
    r = contamination_report("pn-test-copy")
    o = _proofnet(r.overlaps)
    assert o.benchmark == "proofnet" and o.contaminated and o.exact == o.documents
    assert o.reproduced >= len(_rows())                                 # every formal statement, at least
    assert r.derived_from == ["proofnet"]
    with pytest.raises(CorpusError, match="pn-test-copy.*proofnet"):
        check_sources(["pn-test-copy"])
    with pytest.raises(CorpusError, match="held-out split"):
        check_training_sources(["pn-test-copy"], "proofnet")


def test_reformatted_and_partial_copies_are_refused(tmp_path):
    """A template (informal then formal, other separators) defeats exact hashes but not 13-grams; so does a
    copy of 20 test problems hidden among 300 unrelated documents."""
    from core.corpora.contamination import MAX_FRACTION, contamination_report

    rows = _rows()
    _register(tmp_path, "pn-reformatted", [f"Problem: {r['nl_statement']}\n\nLean:\n{r['formal_statement']}" for r in rows])
    o = _proofnet(contamination_report("pn-reformatted").overlaps)
    assert o.exact == 0 and o.contaminated and o.heldout_fraction > 0.3
    filler = [f"Unrelated note number {i} about gardening, tomatoes and the weather in spring {i * 7}." for i in range(300)]
    _register(tmp_path, "pn-hidden", filler[:150] + [r["nl_statement"] for r in rows[:20]] + filler[150:])
    o = _proofnet(contamination_report("pn-hidden").overlaps)
    assert o.contaminated and o.heldout_fraction > MAX_FRACTION and o.source_fraction < 0.1


def test_valid_split_and_unrelated_corpora_pass(tmp_path, maths_texts, prose_texts):
    """ProofNet valid (the demo corpus, and the same rows registered under another name: the maths_texts
    fixture) shares Lean boilerplate 13-grams with test, so it is derived from the target, but reproduces
    almost none of it; unrelated prose and code share nothing."""
    from core.corpora.contamination import MAX_FRACTION, check_sources, contamination_report

    _register(tmp_path, "valid-renamed", maths_texts)
    for name in ("proofnet-valid", "valid-renamed"):
        o = _proofnet(contamination_report(name).overlaps)
        assert not o.contaminated and o.heldout_fraction <= MAX_FRACTION and o.derived, o.summary()
    _register(tmp_path, "prose", prose_texts)
    _register(tmp_path, "code", [f"def f{i}(x):\n    return sum(range(x)) * {i}\n" for i in range(50)])
    for name in ("prose", "code"):
        o = _proofnet(contamination_report(name).overlaps)
        assert (o.reproduced, o.near_duplicates, o.contaminated, o.derived) == (0, 0, False, False)
    assert len(check_sources(["proofnet-valid", "valid-renamed", "prose", "code"])) == 4


def test_derived_from_feeds_the_lab_without_changing_fingerprints(tmp_path):
    """A copy of ProofNet's valid split registered without --derived-from is marked derived by content."""
    from core.corpora.contamination import derived_from
    from core.validation.lab import derived_from_target

    c = register_corpus(CorpusSpec(name="valid-copy", kind="files", path=str(PROOFNET / "valid.jsonl"),
                                   template="{nl_statement} {formal_statement}"))
    fp = c.fingerprint()
    assert c.spec.derived_from is None and derived_from("valid-copy") == {"proofnet"}
    assert derived_from_target("valid-copy", "proofnet")
    assert get_corpus("valid-copy").fingerprint() == fp
    _register(tmp_path, "plain", [f"plain text number {i} with nothing in common" for i in range(30)])
    assert not derived_from_target("plain", "proofnet")


def test_reports_are_cached_by_content(tmp_path):
    from core.corpora.contamination import contamination_report
    from core.paths import cache_dir

    _register(tmp_path, "small", [f"document {i} of a small corpus" for i in range(10)])
    first = contamination_report("small")
    assert not first.cached and len(list(cache_dir("contamination").glob("*.json"))) == 1
    again = contamination_report("small")
    assert again.cached and again.to_dict()["overlaps"] == first.to_dict()["overlaps"]
    # a changed file is a new corpus fingerprint, so a new report
    path = tmp_path / "small.jsonl"
    path.write_text(path.read_text() + json.dumps({"text": _rows()[0]["formal_statement"]}) + "\n")
    assert not contamination_report("small").cached
    # a damaged entry is recomputed, never trusted
    for f in cache_dir("contamination").glob("*.json"):
        f.write_text("{not json")
    assert not contamination_report("small").cached


def test_mixtures_refuse_contaminated_sources(tmp_path, prose_texts):
    from core.mixture.model import Mixture, save_mixture

    register_corpus(CorpusSpec(name="pn-copy", kind="files", path=str(PROOFNET / "test.jsonl"), field="nl_statement"))
    _register(tmp_path, "maths", prose_texts)
    with pytest.raises(CorpusError, match="Mixture source 'pn-copy'"):
        save_mixture(Mixture("leaky", {"maths": 0.5, "pn-copy": 0.5}, 1000))
    assert save_mixture(Mixture("clean", {"maths": 1.0}, 1000)).is_file()


def test_hub_registration_of_the_test_split(monkeypatch):
    """`corpora add x --hf hoskinson-center/proofnet --split test`: refused unless registered as a target
    benchmark; the content check also flags it by dataset id and split."""
    from core.corpora.contamination import check_registration, contamination_report

    spec = CorpusSpec(name="pn-hub", kind="hf", hf_id="Hoskinson-Center/ProofNet", split="test", field="nl_statement")
    with pytest.raises(CorpusError, match="held-out split of target benchmark 'proofnet'"):
        register_corpus(spec)
    check_registration(CorpusSpec(name="pn-hub", kind="hf", hf_id="hoskinson-center/proofnet", split="test",
                                  field="nl_statement", domain="target benchmark"))          # allowed
    check_registration(CorpusSpec(name="pn-hub", kind="hf", hf_id="hoskinson-center/proofnet", split="validation",
                                  field="nl_statement"))                                    # another split
    from core.corpora import Corpus

    offline = Corpus(spec)
    offline.available = lambda: False                               # offline: judged by id and split alone
    o = _proofnet(contamination_report(offline).overlaps)
    assert o.hub_split and o.contaminated


def test_corpora_show_reports_the_overlap(tmp_path, capsys):
    from core.cli import main

    register_corpus(CorpusSpec(name="pn-test-copy", kind="files", path=str(PROOFNET / "test.jsonl"),
                               field="formal_statement"))
    assert main(["corpora", "show", "pn-test-copy", "--samples", "1"]) == 0
    out = capsys.readouterr().out
    assert "CONTAMINATED proofnet" in out and "186/186 source documents" in out
    assert main(["corpora", "show", "proofnet-valid", "--samples", "0", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    o = _proofnet(data["contamination"]["overlaps"])
    assert o["derived"] and not o["contaminated"]
