"""Bad-input table (issue 12): every bad input through the CLI, the readers, mixtures, fine-tunes and
the dashboard's forms gives exit code 2 (or a clear error box) naming the input, never a traceback,
and leaves the cache byte-identical.

CLI cases run in-process (``core.cli.main(argv)``, stderr captured); a few run as subprocesses to
check the real exit code and that nothing reaches stderr but one line. Property-based fuzzing
(hypothesis, bounded) of the readers and the argument parsing is in
tests/core/corpora/test_fuzz_readers.py and tests/core/test_cli_fuzz.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from core.paths import REPO_ROOT

PROOFNET_TEST = REPO_ROOT.parent / "shared" / "data" / "proofnet" / "test.jsonl"


#: Not cache content: lock files, and SQLite's write-ahead log and shared-memory index (a reader
#: creates them; checkpointed content lives in the .db file).
_NOT_CONTENT = (".lock", "-wal", "-shm")


def _file_digest(path: str) -> bytes:
    """The bytes of a file; for an SQLite database (diskcache's ``cache.db``, the results store) its
    logical content (SQL dump, read-only): opening a store rewrites SQLite's header change counter."""
    with open(path, "rb") as fh:
        head = fh.read(16)
        if head != b"SQLite format 3\x00":
            return head + fh.read()
    import sqlite3

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(con.iterdump()).encode()
    finally:
        con.close()


def cache_digest(root) -> str:
    """sha256 over (relative path, bytes) of every file of the cache (lock files and SQLite journals
    aside), following the layout, not symlinks into the shared model folder."""
    h = hashlib.sha256()
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(dirpath, d)))
        for n in sorted(names):
            p = os.path.join(dirpath, n)
            if n.endswith(_NOT_CONTENT) or os.path.islink(p):
                continue
            h.update(os.path.relpath(p, root).encode() + b"\0" + _file_digest(p))
    return h.hexdigest()


def cache_files(root) -> dict:
    """{relative path: sha256} of the cache's files (as :func:`cache_digest`), to name what changed."""
    out = {}
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(dirpath, d))]
        for n in names:
            p = os.path.join(dirpath, n)
            if not n.endswith(_NOT_CONTENT) and not os.path.islink(p):
                out[os.path.relpath(p, root)] = hashlib.sha256(_file_digest(p)).hexdigest()
    return out


@pytest.fixture
def env(tmp_path, tiny_model_dir, maths_texts, prose_texts, isolated_cache):
    """Registered corpora (a clean one, the ProofNet test copy), a saved mixture, data files of
    every kind of damage, and the cache warmed so that refusing an input writes nothing."""
    from core.corpora import CorpusSpec, register_corpus
    from core.corpora.contamination import contamination_report
    from core.mixture.model import Mixture, save_mixture

    data = tmp_path / "data"
    data.mkdir()
    (data / "good.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in maths_texts[:30]) + "\n")
    (data / "prose.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in prose_texts[:30]) + "\n")
    (data / "empty.txt").write_text("")
    (data / "blank.txt").write_text("   \n\n  ")
    (data / "binary.txt").write_bytes(b"\x00\xff\xfe\x00" * 64)
    (data / "latin1.txt").write_bytes("caf\xe9 na\xefve".encode("latin-1") * 20)
    (data / "broken.jsonl").write_text('{"text": "ok"}\n{"text": \n')
    (data / "notobj.jsonl").write_text('[1, 2, 3]\n"just a string"\n')
    (data / "rows.csv").write_text("title,body\na,b\nc,d\n")
    (data / "bad.parquet").write_bytes(b"PAR1 not really parquet")
    (data / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)
    (data / "arr.json").write_text('[{"text": "a"}, 3]')
    (data / "bad.gz.txt").write_text("x")
    (data / "corrupt.txt.gz").write_bytes(b"\x1f\x8b not gzip at all")
    register_corpus(CorpusSpec(name="good", kind="files", path=str(data / "good.jsonl"), field="text"))
    register_corpus(CorpusSpec(name="prose", kind="files", path=str(data / "prose.jsonl"), field="text"))
    register_corpus(CorpusSpec(name="pn-test-copy", kind="files", path=str(PROOFNET_TEST), field="formal_statement"))
    save_mixture(Mixture("okmix", {"good": 0.5, "prose": 0.5}, 500))
    for name in ("good", "prose", "pn-test-copy"):
        contamination_report(name)                 # warm: a refusal must not be the first to write it
    from core.finetune import results

    results.list_runs()                            # the results store exists, as in any used cache
    bad_model = tmp_path / "badmodel"
    bad_model.mkdir()
    for f in os.listdir(tiny_model_dir):
        if not f.endswith(".safetensors"):
            os.symlink(os.path.join(tiny_model_dir, f), bad_model / f)
    (bad_model / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage" + b"\0" * 64)
    (tmp_path / "nocfg").mkdir()
    return {"data": data, "model": tiny_model_dir, "bad_model": str(bad_model), "nocfg": str(tmp_path / "nocfg"),
            "root": isolated_cache}


def _fill(argv, env):
    return [a.format(data=env["data"], model=env["model"], bad_model=env["bad_model"], nocfg=env["nocfg"],
                     pn=PROOFNET_TEST) for a in argv]


# -- the CLI table: (argv, text the single error line must contain) --------------------------------
M = ["--model", "{model}"]
CPU = ["--device", "cpu"]
E = ["embed", "--corpus", "good", *M, *CPU]
CLI_CASES = [
    # batch and model limits (before weights load)
    (E + ["--seq-len", "100000"], "--seq-len 100000"),
    (E + ["--seq-len", "257"], "exceeds the 256 positions"),
    (E + ["--seq-len", "1"], "--seq-len"),
    (E + ["--seq-len", "0"], "--seq-len"),
    (E + ["--seq-len", "-5"], "--seq-len"),
    (E + ["--batch-size", "0"], "--batch-size"),
    (E + ["--batch-size", "-3"], "--batch-size"),
    (E + ["--num-batches", "0"], "--num-batches"),
    (E + ["--seq-len", "abc"], "--seq-len"),
    (E + ["--batch-size", "1.5"], "--batch-size"),
    (E + ["--threads", "-1"], "--threads"),
    (E + ["--threads", "0"], "--threads"),
    (E + ["--threads", "many"], "--threads"),
    (E + ["--precision", "fp8"], "--precision"),
    (E + ["--device", "cuda:99"], "cuda"),
    (E + ["--device", "tpu"], "tpu"),
    # estimator parameters (validated when parsed)
    (E + ["--estimator-param", "minibatch=0"], "minibatch"),
    (E + ["--estimator-param", "minibatch=-4"], "minibatch"),
    (E + ["--estimator-param", "vocab_chunk=-1"], "vocab_chunk"),
    (E + ["--estimator-param", "vocab_chunk=0"], "vocab_chunk"),
    (E + ["--estimator-param", "autocast=fp64"], "autocast"),
    (E + ["--estimator-param", "minibatch=abc"], "minibatch='abc'"),
    (E + ["--estimator-param", "minibatch=2.5"], "minibatch=2.5"),
    (E + ["--estimator-param", "minibatch=true"], "minibatch=True"),
    (E + ["--estimator-param", "nosuch=1"], "nosuch"),
    (E + ["--estimator-param", "novalue"], "novalue"),
    (E + ["--estimator", "reference", "--estimator-param", "epochs=abc"], "epochs='abc'"),
    (E + ["--estimator", "reference", "--estimator-param", "epochs=-1"], "epochs"),
    (E + ["--estimator", "reference", "--estimator-param", "mc_draws=0"], "mc_draws"),
    (E + ["--estimator", "reference", "--estimator-param", "lr=-1"], "lr"),
    (E + ["--estimator", "reference", "--estimator-param", "lr=nan"], "lr"),
    (E + ["--estimator", "reference", "--estimator-param", "lr=inf"], "lr"),
    (E + ["--estimator", "closed_form_blocks", "--estimator-param", "k=-3"], "k must be >= 1"),
    (E + ["--estimator", "closed_form_blocks", "--estimator-param", "k=0"], "k must be >= 1"),
    (E + ["--estimator", "closed_form_blocks", "--estimator-param", "k=3"], "k=3 exceeds the 2"),
    (E + ["--estimator", "closed_form_blocks", "--estimator-param", "mc_draws=0"], "mc_draws"),
    (E + ["--estimator", "nosuch"], "nosuch"),
    # models
    (["embed", "--corpus", "good", "--model", "{bad_model}", *CPU], "model.safetensors"),
    (["embed", "--corpus", "good", "--model", "{nocfg}", *CPU], "config.json"),
    (["embed", "--corpus", "good", "--model", "nobody/no-such-model-xyz", *CPU], "no-such-model-xyz"),
    (["embed", "--corpus", "good", "--model", " ", *CPU], "--model"),
    (["model", "info", "--model", "{bad_model}"], "model.safetensors"),   # the header is checked at once
    # corpora
    (E[:2] + ["nosuchcorpus"] + E[3:], "nosuchcorpus"),
    (["align", "--target", "good", "--sources", "nosuch", *M], "nosuch"),
    (["corpora", "add"], "NAME"),
    (["corpora", "add", "x"], "--path or --hf"),
    (["corpora", "add", "x", "--path", "{data}/good.jsonl", "--hf", "a/b"], "--path or --hf"),
    (["corpora", "add", "bad name!", "--path", "{data}/good.jsonl", "--field", "text"], "bad name!"),
    (["corpora", "add", "x", "--path", "/no/such/file.txt"], "/no/such/file.txt"),
    (["corpora", "add", "x", "--path", "/no/such/*.txt"], "/no/such/*.txt"),
    (["corpora", "add", "x", "--path", "{data}/*.nomatch"], "matches no file"),
    (["corpora", "add", "x", "--path", "{data}/good.jsonl"], "--field"),
    (["corpora", "add", "x", "--path", "{data}/good.jsonl", "--field", "nope"], "nope"),
    (["corpora", "add", "x", "--path", "{data}/good.jsonl", "--field", "text", "--template", "{{text}}"], "--field"),
    (["corpora", "add", "x", "--path", "{data}/good.jsonl", "--template", "{{}}"], "positional field"),
    (["corpora", "add", "x", "--path", "{data}/good.jsonl", "--template", "{{text"], "Template"),
    (["corpora", "add", "x", "--path", "{data}/empty.txt"], "empty.txt"),
    (["corpora", "add", "x", "--path", "{data}/blank.txt"], "blank.txt"),
    (["corpora", "add", "x", "--path", "{data}/binary.txt"], "binary.txt"),
    (["corpora", "add", "x", "--path", "{data}/broken.jsonl", "--field", "text"], "broken.jsonl"),
    (["corpora", "add", "x", "--path", "{data}/notobj.jsonl", "--field", "text"], "notobj.jsonl"),
    (["corpora", "add", "x", "--path", "{data}/rows.csv", "--field", "text"], "text"),
    (["corpora", "add", "x", "--path", "{data}/bad.parquet", "--field", "text"], "bad.parquet"),
    (["corpora", "add", "x", "--path", "{data}/image.png"], "image.png"),
    (["corpora", "add", "x", "--path", "{data}/arr.json", "--field", "text"], "arr.json"),
    (["corpora", "add", "x", "--path", "{data}/corrupt.txt.gz"], "corrupt.txt.gz"),
    (["corpora", "add", "x", "--path", "{data}/good.jsonl", "--field", "text", "--domain", "poetry"], "poetry"),
    (["corpora", "add", "good", "--path", "{data}/prose.jsonl", "--field", "text"], "--overwrite"),
    (["corpora", "add", "proofnet", "--path", "{data}/prose.jsonl", "--field", "text"], "reserved"),
    (["corpora", "add", "x", "--hf", "hoskinson-center/proofnet", "--split", "test", "--field", "nl_statement"],
     "held-out split"),
    (["corpora", "add", "x", "--hf", "nobody/no-such-dataset-xyz", "--field", "text"], "no-such-dataset-xyz"),
    (["corpora", "remove", "nosuch"], "nosuch"),
    (["corpora", "remove", "proofnet"], "demo corpus"),
    (["corpora", "show"], "NAME"),
    (["corpora", "show", "nosuch"], "nosuch"),
    (["corpora", "frobnicate"], "frobnicate"),
    # fine-tunes
    (["finetune", "--source", "pn-test-copy", "--budget", "256", *CPU], "pn-test-copy"),
    (["finetune", "--source", "proofnet", "--budget", "256", *CPU], "proofnet"),
    (["finetune", "--source", "good", "--budget", "1000000000000", *CPU], "--yes"),
    (["finetune", "--source", "good", "--budget", "0", *CPU], "budget_tokens=0"),
    (["finetune", "--source", "good", "--epochs", "0", *CPU], "epochs=0"),
    (["finetune", "--source", "good", "--lr", "5", *CPU], "5"),
    (["finetune", "--source", "good", "--seq-len", "100000", *M, *CPU], "--seq-len 100000"),
    (["finetune", "--source", "good", "--batch-size", "0", *CPU], "batch_size=0"),
    (["finetune", "--source", "good", "--mixture", "okmix", *CPU], "--source or --mixture"),
    (["finetune", *CPU], "--source or --mixture"),
    (["finetune", "--source", "nosuch", *CPU], "nosuch"),
    (["finetune", "--mixture", "nosuchmix", *CPU], "nosuchmix"),
    (["finetune", "--source", "good", "--target", "good", *CPU], "held-out split"),
    (["finetune", "--source", "good", "--method", "qlora"], "qlora"),
    (["experiment", "--sources", "good,pn-test-copy", *CPU], "pn-test-copy"),
    (["experiment", "--sources", "good", "--budget", "1000000000", *CPU], "--yes"),
    (["experiment", "--sources", "good,good", *CPU], "good"),
    (["perplexity", "--corpus", "good", "--seq-len", "100000", *M], "--seq-len 100000"),
    (["perplexity", "--corpus", "good", "--batch-size", "0", *M], "--batch-size"),
    (["perplexity", *M], "--corpus or --target"),
    # mixtures
    (["mix", "save", "m1", "--weights", "pn-test-copy=0.5,good=0.5", "--budget", "500"], "pn-test-copy"),
    (["mix", "save", "m1", "--weights", "good=-1,prose=1", "--budget", "500"], "good"),
    (["mix", "save", "m1", "--weights", "good=abc", "--budget", "500"], "good=abc"),
    (["mix", "save", "m1", "--weights", "good=0,prose=0", "--budget", "500"], "zero"),
    (["mix", "save", "m1", "--weights", "nosuch=1", "--budget", "500"], "nosuch"),
    (["mix", "save", "m1", "--weights", "good=1", "--budget", "0"], "budget"),
    (["mix", "save", "bad/name", "--weights", "good=1", "--budget", "500"], "bad/name"),
    (["mix", "show", "nosuchmix"], "nosuchmix"),
    (["mix", "export", "nosuchmix", *M], "nosuchmix"),
    # jobs, cache, results
    (["jobs", "log", "nosuchjob"], "nosuchjob"),
    (["jobs", "cancel", "nosuchjob"], "nosuchjob"),
    (["jobs", "cancel"], "job id"),
    (["jobs", "log", "x", "--tail", "0"], "--tail"),
    (["results", "show"], "--run"),
    (["results", "show", "--run", "nosuchrun"], "nosuchrun"),
    (["nosuchcommand"], "nosuchcommand"),
]


@pytest.mark.parametrize("argv, expected", CLI_CASES, ids=[" ".join(a)[:70] for a, _ in CLI_CASES])
def test_cli_bad_input(env, capsys, argv, expected):
    from core.cli import main

    before = cache_digest(env["root"])
    try:
        rc = main(_fill(argv, env))
    except SystemExit as exc:                       # argparse's own errors
        rc = exc.code
    out, err = capsys.readouterr()
    after = cache_digest(env["root"])
    assert "Traceback" not in err + out
    if expected is None:
        assert rc == 0, err
    else:
        assert rc == 2, (rc, err, out)
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and err.rstrip().splitlines()[-1] == lines[0], err    # one error line, last
        assert expected in lines[0], lines[0]
        assert "overwrite=True" not in lines[0] and "register_corpus(" not in lines[0], lines[0]   # CLI words
    assert before == after, "the cache changed"


@pytest.mark.parametrize("argv, expected", [
    (["embed", "--corpus", "good", "--seq-len", "100000", *CPU], "--seq-len 100000"),
    (["finetune", "--source", "pn-test-copy", "--budget", "256", *CPU], "pn-test-copy"),
    (["embed", "--corpus", "good", "--threads", "-1"], "--threads"),
])
def test_cli_bad_input_subprocess(env, argv, expected):
    """The real process: exit code 2, one line on stderr, nothing cached."""
    before = cache_digest(env["root"])
    proc = subprocess.run([sys.executable, "-m", "core", *argv], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "ALIGNSCOPE_CACHE": str(env["root"])})
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert cache_digest(env["root"]) == before


# -- the engine API (readers, mixtures, fine-tune configs): AlignScopeError naming the input ------
def _reader_case(path, **kw):
    def run(env):
        from core.corpora import Corpus, CorpusSpec

        return Corpus(CorpusSpec(name="r", kind="files", path=str(env["data"] / path), **kw)).documents()
    return run


def _mixture(weights, budget=500, name="m2", **kw):
    def run(env):
        from core.mixture.model import Mixture, save_mixture

        return save_mixture(Mixture(name, weights, budget, **kw))
    return run


def _finetune(**kw):
    def run(env):
        from core.finetune.config import FinetuneConfig
        from core.finetune.estimate import check_finetune
        from core.finetune.identity import validate

        cfg = FinetuneConfig(**{"source": "good", "model": env["model"], "device": "cpu", **kw})
        check_finetune(cfg)
        return validate(cfg)
    return run


def _materialize(weights):
    def run(env):
        from core.mixture.model import Mixture
        from core.mixture.sampling import materialize
        from core.probe import load_probe

        return materialize(Mixture("m3", weights, 200), tokenizer=load_probe(env["model"], device="cpu").tokenizer)
    return run


API_CASES = [
    ("reader empty", _reader_case("empty.txt"), "empty.txt"),
    ("reader binary", _reader_case("binary.txt"), "binary.txt"),
    ("reader broken jsonl", _reader_case("broken.jsonl", field="text"), "broken.jsonl"),
    ("reader csv field", _reader_case("rows.csv", field="text"), "text"),
    ("reader parquet", _reader_case("bad.parquet", field="text"), "bad.parquet"),
    ("reader gz", _reader_case("corrupt.txt.gz"), "corrupt.txt.gz"),
    ("reader max_documents", _reader_case("good.jsonl", field="text", max_documents=0), "max_documents"),
    ("mixture contaminated", _mixture({"pn-test-copy": 1.0}), "pn-test-copy"),
    ("mixture nan weight", _mixture({"good": float("nan")}), "good"),
    ("mixture negative seed", _mixture({"good": 1.0}, seed=-1), "seed"),
    ("materialize contaminated", _materialize({"pn-test-copy": 0.5, "good": 0.5}), "pn-test-copy"),
    ("finetune contaminated", _finetune(source="pn-test-copy", budget_tokens=256), "pn-test-copy"),
    ("finetune seq_len", _finetune(seq_len=300), "seq_len=300"),
    ("finetune over source", _finetune(budget_tokens=10 ** 9), "yes"),
    ("finetune budget bool", _finetune(budget_tokens=True), "budget_tokens"),
]


@pytest.mark.parametrize("name, run, expected", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_bad_input(env, name, run, expected):
    from core.errors import AlignScopeError

    before = cache_digest(env["root"])
    with pytest.raises(AlignScopeError) as info:
        run(env)
    assert expected in str(info.value), str(info.value)
    assert cache_digest(env["root"]) == before


# -- the dashboard's forms (AppTest): an error box naming the input, no exception -----------------
def _corpora_form(prefix, **values):
    def fill(at):
        for key, value in values.items():
            at.text_input(key=f"{prefix}_{key}").input(value)
        label = "Add corpus" if prefix == "af" else "Add dataset"
        next(b for b in at.button if b.label == label).click().run()
    return fill


FORM_CASES = [
    ("no path", _corpora_form("af", name="x", path=""), "'Path, folder or glob'"),
    ("bad name", _corpora_form("af", name="bad name!", path="{data}/good.jsonl", field="text"), "bad name!"),
    ("missing file", _corpora_form("af", name="x", path="/no/such/file.txt"), "/no/such/file.txt"),
    ("no field", _corpora_form("af", name="x", path="{data}/good.jsonl"), "'Text field'"),
    ("field and template", _corpora_form("af", name="x", path="{data}/good.jsonl", field="text", template="{text}"),
     "'or template over fields'"),
    ("binary", _corpora_form("af", name="x", path="{data}/binary.txt"), "binary.txt"),
    ("taken name", _corpora_form("af", name="good", path="{data}/prose.jsonl", field="text"), "'good'"),
    ("hub test split", _corpora_form("ah", name="x", id="hoskinson-center/proofnet", split="test", field="nl_statement"),
     "'Domain' = target benchmark"),
]


@pytest.mark.parametrize("name, fill, expected", FORM_CASES, ids=[c[0] for c in FORM_CASES])
def test_dashboard_form_bad_input(env, name, fill, expected):
    from streamlit.testing.v1 import AppTest

    from tests.app_pages.conftest import texts_of

    def filled(at):
        class Proxy:                                 # format the data folder into the form values
            def __getattr__(self, attr):
                return getattr(at, attr)

            def text_input(self, key):
                w = at.text_input(key=key)
                orig = w.input
                w.input = lambda v: orig(v.format(data=env["data"]) if "{data}" in v else v)
                return w
        return Proxy()

    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=90)
    at.query_params.update({"target": "good", "candidates": "prose", "model": env["model"],
                            "add_tab": "Hugging Face dataset" if name.startswith("hub") else "Local file or folder"})
    at.switch_page("app_pages/1_Corpora.py")
    at.run()
    at.run()                                         # warm: the sidebar opens the stores once
    before = cache_files(env["root"])
    fill(filled(at))
    assert not at.exception, texts_of(at.exception)
    errors = texts_of(at.error)
    assert errors and expected in errors[0], errors
    assert "=True" not in errors[0] and "--" not in errors[0].replace("---", ""), errors[0]   # widget words
    after = cache_files(env["root"])
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}


def test_table_has_at_least_80_bad_inputs():
    assert len(CLI_CASES) + 3 + len(API_CASES) + len(FORM_CASES) + 2 >= 80


def test_finetune_page_needs_a_confirmation_above_the_source(env):
    """The Fine-tune page: a budget above the source shows the estimate and asks for the confirmation box;
    a source copying the test split is refused with an error box; nothing is queued or cached."""
    from streamlit.testing.v1 import AppTest

    from core.corpora import CorpusSpec, register_corpus
    from core.jobs import list_jobs
    from tests.app_pages.conftest import texts_of

    from core.corpora.contamination import contamination_report

    register_corpus(CorpusSpec(name="bench", kind="files", path=str(env["data"] / "prose.jsonl"), field="text",
                               domain="target benchmark"))
    for name in ("good", "pn-test-copy"):          # a new benchmark: warm the reports against it
        contamination_report(name)
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=90)
    at.query_params.update({"model": env["model"], "ft_tab": "Single run"})
    at.switch_page("app_pages/5_Fine-tune.py")
    at.run()
    at.selectbox(key="ft_target").set_value("bench").run()
    at.number_input(key="ft_budget").set_value(10_000_000).run()
    at.selectbox(key="ft_source").set_value("good").run()
    at.run()
    before = cache_files(env["root"])
    at.button(key="ft_go").click().run()
    assert not at.exception, texts_of(at.exception)
    warnings = texts_of(at.warning)
    assert any("exceeds source 'good'" in w and "Start even if" in w and "--" not in w for w in warnings), warnings
    at.number_input(key="ft_budget").set_value(200).run()
    at.selectbox(key="ft_source").set_value("pn-test-copy").run()
    at.button(key="ft_go").click().run()
    assert any("pn-test-copy" in e and "'Source'" in e for e in texts_of(at.error)), texts_of(at.error)
    assert not [j for j in list_jobs("finetune")]
    after = cache_files(env["root"])
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}
