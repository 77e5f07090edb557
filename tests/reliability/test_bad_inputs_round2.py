"""Bad inputs, second round (issue 24): every flag and file validated before work, a contamination guard
that invisible characters and homoglyphs cannot pass, no file outside a corpus read by accident, memory
bounded, non-finite lab outcomes named.

Same style as tests/reliability/test_bad_inputs.py (whose ``env`` fixture and cache digest are reused):
CLI cases run in-process (``core.cli.main(argv)``) and must give exit code 2 and one ``error:`` line
naming the input, never a traceback, and leave the cache byte-identical. Hypothesis generates more of
the same classes: numeric flags at and beyond their bounds, field types, guard evasions.
"""
from __future__ import annotations

import gzip
import json
import os
import pickle
import random
import subprocess
import sys
import time
import unicodedata
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.paths import REPO_ROOT
from tests.reliability.test_bad_inputs import PROOFNET_TEST, cache_digest, env  # noqa: F401  (fixture)

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])
PROOFNET_VALID = PROOFNET_TEST.parent / "valid.jsonl"


class _Evil:
    """A pickle that would run a command when unpickled without ``weights_only``."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.fixture
def env2(env, tmp_path):
    """``env`` plus the round-2 damaged files: deep nesting, non-text fields, ragged CSV, special files,
    symlinks out of the folder, a gzip bomb, a pickled model."""
    import pandas as pd

    d = env["data"]
    (d / "deep.json").write_text("[" * 100_000)
    (d / "deep.jsonl").write_text("[" * 100_000 + "\n")
    (d / "deepobj.jsonl").write_text('{"text": ' * 50_000 + '"x"' + "}" * 50_000 + "\n")
    for name, value in (("num", 0), ("float", 1.5), ("list", ["a", "b"]), ("dict", {"a": 1}), ("bool", True)):
        (d / f"{name}.jsonl").write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"text": value}) + "\n")
    (d / "arrnum.json").write_text(json.dumps([{"text": "fine"}, {"text": 7}]))
    pd.DataFrame({"text": [1, 2, 3]}).to_parquet(d / "ints.parquet")
    pd.DataFrame({"text": [b"\xff\xfe", b"ab", b"cd"]}).to_parquet(d / "bytes.parquet")
    pd.DataFrame({"text": [["a"], ["b"], ["c"]]}).to_parquet(d / "lists.parquet")
    (d / "ragged.csv").write_text("text,b\na,1\nb,2,3\n")
    (d / "short.csv").write_text("text,b\na,1\nb\n")
    (d / "quote.csv").write_text('text,b\n"never closed,1\nc,2\nd,3\n')
    os.mkfifo(d / "fifo.txt")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("a secret outside the corpus folder " * 4)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "own.txt").write_text("a document inside the folder " * 4)
    (linked / "escape.txt").symlink_to(outside / "secret.txt")
    (linked / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    (linked / "fifo-link.txt").symlink_to(d / "fifo.txt")
    (d / "zero-link.txt").symlink_to("/dev/zero")
    # a gzip bomb: 64 MiB of zeros in ~64 KiB (ratio ~1000, over the default 200)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(d / "bomb.txt.gz", "wb") as fh:
        block = b"\0" * (1 << 20)
        for _ in range(64):
            fh.write(comp.compress(block))
        fh.write(comp.flush())
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for f in os.listdir(env["model"]):
        if not f.endswith(".safetensors"):
            os.symlink(os.path.join(env["model"], f), pickled / f)
    (pickled / "pytorch_model.bin").write_bytes(pickle.dumps({"w": _Evil()}))
    nonfinite = tmp_path / "nonfinite.json"
    _write_nonfinite_results(nonfinite)
    return {**env, "pickled": str(pickled), "linked": str(linked), "outside": str(outside), "nonfinite": str(nonfinite)}


def _fill(argv, env):
    return [a.format(data=env["data"], model=env["model"], pickled=env.get("pickled", ""), pn=PROOFNET_TEST,
                     linked=env.get("linked", "")) for a in argv]


def _run_cli(argv):
    from core.cli import main

    try:
        return main(argv)
    except SystemExit as exc:                       # argparse's own errors
        return exc.code


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and err.rstrip().splitlines()[-1] == lines[0], err
    return lines[0]


M = ["--model", "{model}"]
E = ["embed", "--corpus", "good", *M, "--device", "cpu"]
ADD = ["corpora", "add", "x", "--path"]
CLI_CASES = [
    # seeds and numeric flags with declared ranges
    (E + ["--seed", "-1"], "--seed"),
    (E + ["--seed", "4294967296"], "--seed"),
    (E + ["--seed", "abc"], "--seed"),
    (E + ["--seed", "1.5"], "--seed"),
    (E + ["--batch-size", "65537"], "--batch-size"),
    (E + ["--num-batches", "-1"], "--num-batches"),
    (E + ["--num-batches", str(2 ** 48 + 1)], "--num-batches"),
    (E + ["--threads", "1000000000000", "--seq-len", "100000"], "--seq-len 100000"),   # clamped, then the next error
    (E + ["--threads", "-5"], "--threads"),
    # the memory estimate: refused at once, naming the flag and the largest value that fits
    (E + ["--batch-size", "2", "--seq-len", "32", "--num-batches", "1000000000"], "--num-batches"),
    (E + ["--batch-size", "512", "--seq-len", "256", "--num-batches", "1000000"], "or less (the largest that fits)"),
    # lists: one parser, empty items and duplicates refused
    (["embed", "--corpus", "", *M, "--device", "cpu"], "--corpus"),
    (["embed", "--corpus", ",,,", *M, "--device", "cpu"], "--corpus"),
    (["embed", "--corpus", "good,,prose", *M, "--device", "cpu"], "empty item"),
    (["embed", "--corpus", "good,good", *M, "--device", "cpu"], "twice"),
    (["diversity", "--corpus", " , ", *M, "--device", "cpu"], "--corpus"),
    (["align", "--target", "good", "--sources", "", *M, "--device", "cpu"], "--sources"),
    (["align", "--target", "good", "--sources", "prose,prose", *M, "--device", "cpu"], "twice"),
    (["experiment", "--sources", "", "--device", "cpu"], "--sources"),
    (["experiment", "--sources", ",,", "--device", "cpu"], "--sources"),
    (["experiment", "--sources", "good,,prose", "--device", "cpu"], "empty item"),
    (["select", "compare", "--seeds", "a,b"], "--seeds"),
    (["select", "compare", "--seeds", "-1"], "--seeds"),
    (["select", "compare", "--seeds", ""], "--seeds"),
    (["select", "compare", "--seeds", "0,0"], "twice"),
    (["select", "compare", "--seeds", "0", "--methods", ""], "--methods"),
    (["select", "compare", "--seeds", "0", "--pool", "good,,prose"], "--pool"),
    (["select", "run", "--pool", "", "--budget", "100"], "--pool"),
    (["select", "run", "--pool", "good", "--budget", "100", "--seed", "-1"], "--seed"),
    (["select", "run", "--pool", "good", "--budget", "100", "--pool-seed", "x"], "--pool-seed"),
    (["validate", "plan", "--sources", ""], "--sources"),
    (["validate", "plan", "--sources", "good,,prose"], "--sources"),
    (["validate", "plan", "--metrics", "nosuch"], "nosuch"),
    (["validate", "plan", "--metrics", ""], "--metrics"),
    (["validate", "plan", "--metrics", "gzip,gzip"], "twice"),
    (["validate", "plan", "--metrics", "gzip,gzip-align"], "twice"),
    (["validate", "plan", "--dose-seeds", "a"], "--dose-seeds"),
    (["validate", "plan", "--dose-seeds", ""], "--dose-seeds"),
    (["validate", "plan", "--target", "good", "--sources", "good,prose"], "target"),
    (["metrics", "score", "--sources", "", "--target", "good"], "--sources"),
    (["metrics", "score", "--sources", "prose", "--target", "good", "--metrics", ",,"], "--metrics"),
    # fine-tunes
    (["finetune", "--source", "good", "--method", "lora", "--lora-alpha", "-1", "--device", "cpu"], "--lora-alpha"),
    (["finetune", "--source", "good", "--method", "lora", "--lora-alpha", "0", "--device", "cpu"], "--lora-alpha"),
    (["finetune", "--source", "good", "--method", "lora", "--lora-r", "0", "--device", "cpu"], "--lora-r"),
    (["finetune", "--source", "good", "--seed", "-1", "--detach", "--device", "cpu"], "--seed"),
    (["finetune", "--source", "good", "--seed", "99999999999", "--device", "cpu"], "--seed"),
    (["finetune", "--source", "good", "--align-seed", "-1", "--device", "cpu"], "--align-seed"),
    (["finetune", "--source", "good", "--threads", "0", "--device", "cpu"], "--threads"),
    (["perplexity", "--corpus", "good", "--seed", "-1", *M], "--seed"),
    # a pickled pytorch_model.bin: one line, never an UnpicklingError traceback
    (["embed", "--corpus", "good", "--model", "{pickled}", "--device", "cpu"], "pytorch_model.bin"),
    (["finetune", "--source", "good", "--model", "{pickled}", "--device", "cpu"], "pytorch_model.bin"),
    (["perplexity", "--corpus", "good", "--model", "{pickled}"], "pytorch_model.bin"),
    (["align", "--target", "good", "--sources", "prose", "--model", "{pickled}", "--device", "cpu"], "cannot be loaded safely"),
    # outputs checked up front: no silent folder creation, no empty path
    (["report", "--target", "good", "--sources", "prose", *M, "--out", "/etc/passwd/x.html"], "/etc/passwd"),
    (["report", "--target", "good", "--sources", "prose", *M, "--out", "/nonexistent/dir/x.html"], "does not exist"),
    (["report", "--target", "good", "--sources", "prose", *M, "--out", ""], "--out"),
    (["report", "--target", "good", "--sources", "prose", *M, "--out", "{data}"], "folder"),
    (["report", "--target", "good", "--sources", "prose", *M, "--out", "{data}/x.txt"], ".html"),
    (["report", "--target", "proofnet", "--sources", "proofnet", *M], "target"),
    (["report", "--target", "good", "--sources", "prose,good", *M], "target"),
    (["report", "--target", "good", "--sources", "", *M], "--sources"),
    (["select", "run", "--pool", "good", "--budget", "100", "--export", "/etc/passwd/x.jsonl"], "--export"),
    (["select", "run", "--pool", "good", "--budget", "100", "--export", ""], "--export"),
    (["select", "compare", "--seeds", "0", "--out", "/nonexistent/dir/c.json"], "--out"),
    (["select", "compare", "--seeds", "0", "--figure", "/nonexistent/dir/c.png"], "--figure"),
    (["experiment", "--sources", "good", "--plot", "/nonexistent/dir/f.png", "--device", "cpu"], "--plot"),
    (["experiment", "--sources", "good", "--plot", "{data}/f.txt", "--device", "cpu"], "--plot"),
    (["results", "export", "--out", "/nonexistent/dir/runs.csv"], "--out"),
    (["results", "export", "--out", ""], "--out"),
    (["results", "plot", "--out", "/etc/passwd/f.png"], "--out"),
    (["validate", "run", "--sources", "good", "--out", "/nonexistent/dir/v.json"], "--out"),
    (["validate", "export", "--sources", "good", "--out", "/etc/passwd/p.json"], "--out"),
    (["validate", "report", "--results", "{data}/good.jsonl", "--figures", "/nonexistent/a/b"], "--figures"),
    (["mix", "export", "okmix", "--out", "/nonexistent/dir/m.jsonl", *M], "--out"),
    (["mix", "export", "okmix", "--out", "", *M], "--out"),
    (["deck", "export", "somedeck", "--out", "/nonexistent/dir/d.html"], "--out"),
    # mixtures: duplicates, the test split, the target as a source
    (["mix", "save", "m", "--weights", "good=1,good=2", "--budget", "500"], "twice"),
    (["mix", "save", "m", "--weights", "good=1,good:2", "--budget", "500"], "twice"),
    (["mix", "save", "m", "--weights", "proofnet=1", "--budget", "500"], "proofnet"),
    (["mix", "save", "m", "--weights", "good=0.5,proofnet=0.5", "--budget", "500"], "target benchmark"),
    (["mix", "save", "m", "--weights", "good=1,prose=1", "--target", "good", "--budget", "500"], "--target"),
    (["mix", "save", "m", "--weights", "", "--budget", "500"], "--weights"),
    (["mix", "save", "m", "--weights", "good=1,,prose=1", "--budget", "500"], "empty item"),
    (["mix", "save", "m", "--weights", "good=1", "--budget", "500", "--seed", "-1"], "--seed"),
    (["mix", "predict", "--target", "good", "--weights", "prose=1,prose=1", *M], "twice"),
    (["mix", "suggest", "--target", "good", "--sources", "good,prose", *M], "target"),
    (["mix", "suggest", "--target", "good", "--sources", "", *M], "--sources"),
    # corpora
    (["corpora", "show", "good", "--samples", "-1"], "--samples"),
    (["corpora", "show", "good", "--samples", "abc"], "--samples"),
    (ADD + ["{data}/good.jsonl", "--field", "text", "--derived-from", "nosuchbench"], "nosuchbench"),
    (ADD + ["{data}/deep.json", "--field", "text"], "deep.json"),
    (ADD + ["{data}/deep.jsonl", "--field", "text"], "deep.jsonl line 1"),
    (ADD + ["{data}/deepobj.jsonl", "--field", "text"], "deepobj.jsonl line 1"),
    (ADD + ["{data}/num.jsonl", "--field", "text"], "num.jsonl line 2"),
    (ADD + ["{data}/float.jsonl", "--field", "text"], "is a number"),
    (ADD + ["{data}/list.jsonl", "--field", "text"], "is a list"),
    (ADD + ["{data}/dict.jsonl", "--field", "text"], "is an object"),
    (ADD + ["{data}/bool.jsonl", "--field", "text"], "is a boolean"),
    (ADD + ["{data}/list.jsonl", "--template", "{{text}}!"], "is a list"),
    (ADD + ["{data}/arrnum.json", "--field", "text"], "arrnum.json item 2"),
    (ADD + ["{data}/ints.parquet", "--field", "text"], "ints.parquet row 1"),
    (ADD + ["{data}/bytes.parquet", "--field", "text"], "binary"),
    (ADD + ["{data}/lists.parquet", "--field", "text"], "list"),
    (ADD + ["{data}/ragged.csv", "--field", "text"], "ragged.csv line 3"),
    (ADD + ["{data}/short.csv", "--field", "text"], "short.csv line 3"),
    (ADD + ["{data}/quote.csv", "--field", "text"], "quote.csv line 2 has a quote that is never closed"),
    (ADD + ["{data}/fifo.txt"], "not a regular file"),
    (ADD + ["/dev/zero"], "not a regular file"),
    (ADD + ["{data}/zero-link.txt"], "not a regular file"),
    (ADD + ["{data}/bomb.txt.gz"], "decompression bomb"),
    (ADD + ["{data}/good.jsonl", "--template", "{{text.__class__.__mro__}}"], "attribute or index access"),
    (ADD + ["{data}/good.jsonl", "--template", "{{text[0]}}"], "attribute or index access"),
    (ADD + ["{data}/good.jsonl", "--template", "{{text:>5000000}}"], "5,000,000 characters"),
    (ADD + ["{data}/good.jsonl", "--template", "{{text:.2000}}"], "$ALIGNSCOPE_MAX_TEMPLATE_WIDTH"),
    (ADD + ["{data}/good.jsonl", "--template", "{{text:{{w}}}}"], "format spec"),
    (ADD + ["{data}/good.jsonl", "--template", "{{text!a}}"], "conversion"),
]


@pytest.mark.parametrize("argv, expected", CLI_CASES, ids=[" ".join(a)[:80] for a, _ in CLI_CASES])
def test_cli_bad_input_round2(env2, capsys, argv, expected):
    before = cache_digest(env2["root"])
    t0 = time.perf_counter()
    rc = _run_cli(_fill(argv, env2))
    seconds = time.perf_counter() - t0
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    assert rc == 2, (rc, err, out)
    line = _one_error_line(err)
    assert expected in line, line
    assert seconds < 30, f"refused only after {seconds:.0f} s"
    assert cache_digest(env2["root"]) == before, "the cache changed"


# -- the readers through the engine API ------------------------------------------------------------
def _docs(path, **kw):
    from core.corpora import Corpus, CorpusSpec

    c = Corpus(CorpusSpec(name="r", kind="files", path=str(path), **kw))
    return c.documents(), c.warnings


def test_symlinks_followed_only_to_regular_files_and_named_when_outside(env2, capsys):
    docs, warnings = _docs(env2["linked"])
    texts = {d.doc_id for d in docs}
    assert texts == {"own.txt", "escape.txt"}                        # the FIFO and the dangling link are skipped
    assert any("not regular files" in w for w in warnings), warnings
    assert any("resolve outside" in w and "escape.txt" in w and "secret.txt" in w for w in warnings), warnings
    rc = _run_cli(["corpora", "add", "linked", "--path", env2["linked"]])
    err = capsys.readouterr().err
    assert rc == 0 and "resolve outside" in err and "escape.txt" in err, err


def test_a_fifo_in_a_glob_is_skipped_not_read(env2):
    docs, _ = _docs(f"{env2['data']}/*.txt")                         # fifo.txt would block forever if read
    assert docs and all(not d.doc_id.startswith("fifo") for d in docs)


def test_a_document_over_the_cap_is_refused(env2, monkeypatch):
    from core.errors import CorpusError

    monkeypatch.setenv("ALIGNSCOPE_MAX_DOC_BYTES", "1000")
    big = env2["data"] / "big.txt"
    big.write_text("word " * 1000)
    with pytest.raises(CorpusError, match=r"ALIGNSCOPE_MAX_DOC_BYTES"):
        _docs(big)
    rows = env2["data"] / "bigrow.jsonl"
    rows.write_text(json.dumps({"text": "short"}) + "\n" + json.dumps({"text": "w " * 1000}) + "\n")
    with pytest.raises(CorpusError, match=r"bigrow.jsonl line 2"):
        _docs(rows, field="text")


def test_the_decompressed_size_cap(env2, monkeypatch):
    from core.errors import CorpusError

    f = env2["data"] / "many.txt.gz"
    with gzip.open(f, "wb") as fh:
        fh.write(os.urandom(1 << 20).hex().encode())                 # 2 MiB of text, ratio ~2
    monkeypatch.setenv("ALIGNSCOPE_MAX_DECOMPRESSED_BYTES", str(1 << 20))
    with pytest.raises(CorpusError, match=r"inflates to more than 1\.0 MiB"):
        _docs(f)
    monkeypatch.setenv("ALIGNSCOPE_MAX_DECOMPRESSED_BYTES", str(8 << 20))
    assert len(_docs(f)[0]) == 1


def test_a_bad_cap_variable_is_named(env2, monkeypatch):
    from core.errors import AlignScopeError

    f = env2["data"] / "fresh.txt"
    f.write_text("a fresh document")
    monkeypatch.setenv("ALIGNSCOPE_MAX_DOC_BYTES", "lots")
    with pytest.raises(AlignScopeError, match="ALIGNSCOPE_MAX_DOC_BYTES"):
        _docs(f)


def test_template_numbers_still_format_but_plain_references_only(env2):
    from core.corpora.spec import template_fields
    from core.errors import CorpusError

    f = env2["data"] / "numbered.jsonl"
    f.write_text(json.dumps({"n": 3, "s": "Prove it."}) + "\n")
    assert _docs(f, template="{n:>3}. {s}")[0][0].text == "  3. Prove it."
    assert template_fields("{a} {b!r} {c:<10}") == ["a", "b", "c"]
    for bad in ("{a.b}", "{a[0]}", "{a[x]}", "{a.__class__.__mro__}", "{a:{b}}", "{a!a}", "{a:>1001}", "{a:^,.9999f}"):
        with pytest.raises(CorpusError):
            template_fields(bad)


def test_template_fields_lives_in_the_spec_and_no_import_circle():
    import ast

    from core.corpora import readers
    from core.corpora import spec
    from core.corpora.readers import template

    assert readers.template_fields is spec.template_fields is template.template_fields
    tree = ast.parse((REPO_ROOT / "core" / "corpora" / "spec.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(m.startswith("core.corpora.readers") for m in imported), imported


# -- memory: the worst requests exit 2 at once, bounded ---------------------------------------------
def test_worst_embedding_request_exits_fast_and_small(env2):
    """The command's own peak resident memory: a fresh wrapper process runs it as its only child and
    reports RUSAGE_CHILDREN (this test process's own children, from earlier tests, never count)."""
    import json as _json

    cmd = [sys.executable, "-m", "core", "embed", "--corpus", "good", "--batch-size", "2", "--seq-len", "32",
           "--num-batches", "1000000000", "--model", env2["model"], "--device", "cpu"]
    wrapper = ("import json, resource, subprocess, sys, time; t = time.perf_counter(); "
               "p = subprocess.run(json.loads(sys.argv[1]), capture_output=True, text=True, timeout=120); "
               "print(json.dumps({'rc': p.returncode, 'stderr': p.stderr, 'seconds': time.perf_counter() - t, "
               "'peak_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
    out = subprocess.run([sys.executable, "-c", wrapper, _json.dumps(cmd)], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=150, env={**os.environ, "ALIGNSCOPE_CACHE": str(env2["root"])})
    res = _json.loads(out.stdout)
    assert res["rc"] == 2, res["stderr"]
    lines = [ln for ln in res["stderr"].splitlines() if ln.strip()]
    assert len(lines) == 1 and "--num-batches" in lines[0] and "or less" in lines[0], res["stderr"]
    assert res["peak_kib"] < 2 * 1024 * 1024, f"{res['peak_kib'] / 1024:.0f} MiB resident"
    assert res["seconds"] < 60, res["seconds"]      # the interpreter's start on a loaded 2-core machine included


def test_the_request_budget_is_configurable(monkeypatch):
    from core.errors import AlignScopeError
    from core.limits import check_embedding_request, embedding_request_bytes

    need = embedding_request_bytes(batch_size=4, seq_len=32, num_batches=10)
    monkeypatch.setenv("ALIGNSCOPE_MAX_REQUEST_BYTES", str(need))
    check_embedding_request(batch_size=4, seq_len=32, num_batches=10)
    with pytest.raises(AlignScopeError, match=r"--num-batches 10 or less"):
        check_embedding_request(batch_size=4, seq_len=32, num_batches=11)
    with pytest.raises(AlignScopeError, match=r"--align-num-batches"):
        check_embedding_request(batch_size=4, seq_len=32, num_batches=11, prefix="align-")


def test_threads_are_clamped_to_the_cores_with_a_note(capsys):
    from core.cli import build_parser
    from core.clikit.args import usable_cores
    from core.clikit.common import apply_engine

    args = build_parser().parse_args(["embed", "--corpus", "c", "--threads", "100000"])
    assert args.threads == usable_cores()
    apply_engine(args)
    assert f"using {usable_cores()}" in capsys.readouterr().err
    args = build_parser().parse_args(["embed", "--corpus", "c", "--threads", "1"])
    assert args.threads == 1
    apply_engine(args)
    assert capsys.readouterr().err == ""


# -- the lab report: non-finite outcomes named and counted ------------------------------------------
def _write_nonfinite_results(path):
    from core.validation import stats

    sources = {s: {"derived_from_target": False} for s in ("a", "b", "c", "d")}
    runs, metrics = [], []
    for k, s in enumerate(sources):
        for seed in (0, 1):
            runs.append({"run_id": f"r-{s}-{seed}", "regime": "4k", "point": s, "source": s, "seed": seed,
                         "status": "done", "ppl_after": float("nan") if s == "d" else 10.0 + k + 0.1 * seed})
        metrics.append({"metric": stats.DEFAULT_METRIC, "point": s, "value": 0.1 * k})
    path.write_text(json.dumps({"version": 1, "target": "proofnet", "model": "m", "sources": sources, "runs": runs,
                                "metrics": metrics, "regimes": {"4k": {"budget": 4000}}}))


def test_validate_report_names_non_finite_runs(env2, capsys):
    from core.validation.report import SUPPORTED_VERSIONS

    data = json.loads(open(env2["nonfinite"]).read())
    data["version"] = SUPPORTED_VERSIONS[-1]
    open(env2["nonfinite"], "w").write(json.dumps(data))
    rc = _run_cli(["validate", "report", "--results", env2["nonfinite"]])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "Traceback" not in out + err
    assert "2 finished with a non-finite ppl_after" in out, out
    assert "r-d-0" in out and "r-d-1" in out, out
    assert "6 runs done" in out, out
    rc = _run_cli(["validate", "report", "--results", env2["nonfinite"], "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert rep["summary"]["n_runs_nonfinite"] == 2
    assert {r["run_id"] for r in rep["summary"]["nonfinite_runs"]} == {"r-d-0", "r-d-1"}


# -- the dashboard: error details off in the browser ------------------------------------------------
def test_dashboard_shows_no_traceback_in_the_browser():
    import tomllib

    cfg = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["client"]["showErrorDetails"] in ("type", "none")


# -- the contamination guard: an adversarial set of the ProofNet test split --------------------------
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u034f", "\ufe0f", "\u2061",
              "\u2062", "\u2063", "\u2064", "\U000e0020"]
SPACES = ["\u00a0", "\u2002", "\u2003", "\u2009", "\u202f", "\u3000", "\t", "  ", "\n", "\u2028"]


def _homoglyphs(letters: str = "abcdeghijklmnopqrstuvwxyz") -> dict[str, list[str]]:
    """Latin letter -> look-alikes from other scripts (from the confusables data the guard uses).
    Lower-case letters by default: an upper-case look-alike (Greek capital iota for ``I``) folds to
    the prototype of ``l``, which the n-gram measure still catches (the corpus-level tests)."""
    from confusable_homoglyphs.confusables import confusables_data

    out: dict[str, list[str]] = {}
    for ch in letters:
        alts = [g["c"] for g in confusables_data.get(ch, []) if len(g["c"]) == 1 and not g["c"].isascii()
                and unicodedata.category(g["c"]) == ("Lu" if ch.isupper() else "Ll")
                and unicodedata.name(g["c"], "").startswith(("CYRILLIC", "GREEK", "ARMENIAN", "LATIN"))]
        if alts:
            out[ch] = alts
    return out


def _variant(text: str, kind: str, rng: random.Random) -> str:
    if kind == "zwsp-after-space":
        return text.replace(" ", " \u200b")
    if kind == "zero-width-everywhere":
        return "".join(c + rng.choice(ZERO_WIDTH) for c in text)
    if kind == "soft-hyphens":
        return "".join(c + ("\u00ad" if c.isalpha() and rng.random() < 0.5 else "") for c in text)
    if kind == "bidi-marks":
        return text.replace(" ", " \u200e\u202a\u202c")
    if kind == "cyrillic-greek-homoglyphs":
        table = _homoglyphs()
        return "".join(rng.choice(table[c]) if c in table else c for c in text)
    if kind == "homoglyphs-any-case":
        table = _homoglyphs("abcdeghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        return "".join(rng.choice(table[c]) if c in table else c for c in text)
    if kind == "fullwidth":
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    if kind == "mathematical-alphanumerics":
        return "".join(chr(0x1D41A + ord(c) - 97) if "a" <= c <= "z" else c for c in text)
    if kind == "unicode-spaces":
        return "".join(rng.choice(SPACES) if c == " " else c for c in text)
    if kind == "html-markup":
        return "<p>" + " ".join(f"<span>{w}</span>" if rng.random() < 0.5 else w for w in text.split(" ")) + "</p>"
    if kind == "html-entities":
        return text.replace(" ", "&nbsp;").replace("<", "&lt;").replace(">", "&gt;")
    if kind == "markdown-code":
        return "```lean\n" + " ".join(f"`{w}`" if rng.random() < 0.3 else w for w in text.split(" ")) + "\n```"
    if kind == "mixed":
        return _variant(_variant(_variant(text, "cyrillic-greek-homoglyphs", rng), "zwsp-after-space", rng),
                        "unicode-spaces", rng)
    raise ValueError(kind)


VARIANTS = ["zwsp-after-space", "zero-width-everywhere", "soft-hyphens", "bidi-marks", "cyrillic-greek-homoglyphs",
            "fullwidth", "mathematical-alphanumerics", "unicode-spaces", "html-markup", "html-entities",
            "markdown-code", "mixed"]


def _test_rows():
    return [json.loads(line) for line in PROOFNET_TEST.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("kind", VARIANTS)
def test_every_variant_of_the_test_split_normalises_to_the_same_text(kind):
    from core.corpora.normalise import normalise

    rng = random.Random(kind)
    for r in _test_rows()[:40]:
        for field in ("nl_statement", "formal_statement"):
            original = r[field]
            assert normalise(_variant(original, kind, rng)) == normalise(original), (kind, original[:60])


@pytest.mark.parametrize("kind", VARIANTS + ["homoglyphs-any-case"])
def test_every_variant_of_the_test_split_is_refused(env2, tmp_path, kind):
    """Each variant of the whole test split registers as a corpus and is refused as a training source."""
    from core.corpora import CorpusSpec, register_corpus
    from core.corpora.contamination import check_sources
    from core.errors import CorpusError

    rng = random.Random(kind)
    f = tmp_path / f"{kind}.jsonl"
    f.write_text("\n".join(json.dumps({"text": _variant(r["formal_statement"], kind, rng)}) for r in _test_rows()) + "\n")
    register_corpus(CorpusSpec(name=f"adv-{kind}", kind="files", path=str(f), field="text"))
    with pytest.raises(CorpusError, match="overlaps the held-out split"):
        check_sources([f"adv-{kind}"])


@pytest.mark.parametrize("kind", ["zwsp-after-space", "cyrillic-greek-homoglyphs", "html-markup"])
def test_a_variant_mixture_is_refused_at_save(env2, tmp_path, capsys, kind):
    """The issue's path: the variant registers, but mix save refuses it (it never reaches fine-tuning)."""
    rng = random.Random(kind)
    f = tmp_path / f"m-{kind}.jsonl"
    f.write_text("\n".join(json.dumps({"text": _variant(f"{r['nl_statement']} {r['formal_statement']}", kind, rng)})
                           for r in _test_rows()) + "\n")
    assert _run_cli(["corpora", "add", "adv", "--path", str(f), "--field", "text"]) == 0
    capsys.readouterr()
    rc = _run_cli(["mix", "save", "advmix", "--weights", "adv=1,good=1", "--budget", "500"])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and "adv" in line and "held-out split" in line, line


def test_proofnet_valid_still_registers_and_passes(env2):
    """Text that merely shares Lean boilerplate with the test split stays usable."""
    from core.corpora import CorpusSpec, register_corpus
    from core.corpora.contamination import check_sources, contamination_report

    register_corpus(CorpusSpec(name="pn-valid-copy", kind="files", path=str(PROOFNET_VALID), field="formal_statement"))
    register_corpus(CorpusSpec(name="pn-valid-pairs", kind="files", path=str(PROOFNET_VALID),
                               template="{nl_statement} {formal_statement}"))
    check_sources(["pn-valid-copy", "pn-valid-pairs"])
    for name in ("pn-valid-copy", "pn-valid-pairs"):
        r = contamination_report(name)
        assert not r.contaminated, r.note()


def test_the_contamination_key_version_was_bumped():
    from core.corpora import contamination

    assert contamination.VERSION == 3


# -- hypothesis: numeric flags at and beyond their bounds ----------------------------------------------
#: flag, (argv head), lowest valid, highest valid (None: unbounded), the attribute
BOUNDED = [
    ("--seed", ["embed", "--corpus", "c"], 0, 2 ** 32 - 1, "seed"),
    ("--batch-size", ["embed", "--corpus", "c"], 1, 1 << 16, "batch_size"),
    ("--num-batches", ["embed", "--corpus", "c"], 1, 1 << 48, "num_batches"),
    ("--seq-len", ["embed", "--corpus", "c"], 2, 1 << 24, "seq_len"),
    ("--align-seed", ["finetune", "--source", "c"], 0, 2 ** 32 - 1, "align_seed"),
    ("--seed", ["finetune", "--source", "c"], 0, 2 ** 32 - 1, "seed"),
    ("--lora-alpha", ["finetune", "--source", "c"], 1, 1 << 20, "lora_alpha"),
    ("--lora-r", ["finetune", "--source", "c"], 1, 4096, "lora_r"),
    ("--samples", ["corpora", "show", "c"], 0, 10_000, "samples"),
    ("--seed", ["select", "run", "--pool", "c", "--budget", "1"], 0, 2 ** 32 - 1, "seed"),
    ("--mix-seed", ["mix", "save", "m", "--weights", "a=1", "--budget", "1"], 0, 2 ** 32 - 1, "mix_seed"),
]


def _near(lo, hi):
    edges = [lo - 1, lo, lo + 1] + ([hi - 1, hi, hi + 1] if hi is not None else [])
    return st.one_of(st.sampled_from(edges), st.integers(lo - 10 ** 13, (hi or 10 ** 12) + 10 ** 13))


@pytest.fixture(scope="module")
def parser():
    from core.cli import build_parser

    return build_parser()


@pytest.mark.parametrize("flag, head, lo, hi, attr", BOUNDED, ids=[f"{h[0]} {f}" for f, h, *_ in BOUNDED])
@FUZZ
@given(data=st.data())
def test_numeric_flags_at_and_beyond_their_bounds(parser, capsys, flag, head, lo, hi, attr, data):
    value = data.draw(_near(lo, hi))
    try:
        args = parser.parse_args([*head, flag, str(value)])
    except SystemExit as exc:
        err = capsys.readouterr().err
        assert exc.code == 2 and err.count("\n") == 1 and flag in err and "Traceback" not in err, err
        assert value < lo or (hi is not None and value > hi), (value, err)
        return
    assert lo <= value and (hi is None or value <= hi)
    assert getattr(args, attr) == value


@FUZZ
@given(value=st.one_of(st.integers(-10 ** 15, 10 ** 15), st.text(max_size=6)))
def test_threads_flag_any_value(parser, capsys, value):
    from core.clikit.args import usable_cores

    try:
        args = parser.parse_args(["embed", "--corpus", "c", "--threads", str(value)])
    except SystemExit as exc:
        err = capsys.readouterr().err
        assert exc.code == 2 and err.count("\n") == 1 and "--threads" in err
        return
    assert 1 <= args.threads <= usable_cores()


@FUZZ
@given(items=st.lists(st.sampled_from(["good", "prose", "", " ", "good ", "x-1"]), min_size=1, max_size=5))
def test_one_list_parser(items):
    from core.clikit.args import parse_list
    from core.errors import AlignScopeError

    value = ",".join(items)
    stripped = [s.strip() for s in items]
    try:
        out = parse_list(value, option="--sources")
    except AlignScopeError as exc:
        assert "--sources" in str(exc)
        assert "" in stripped or len(set(stripped)) < len(stripped)
        return
    assert out == stripped and "" not in out and len(set(out)) == len(out)


@FUZZ
@given(n=st.integers(1, 1 << 40), b=st.integers(1, 1 << 16), t=st.integers(2, 4096))
def test_memory_estimate_names_a_value_that_fits(n, b, t):
    from core.errors import AlignScopeError
    from core.limits import check_embedding_request, limit

    try:
        check_embedding_request(batch_size=b, seq_len=t, num_batches=n)
    except AlignScopeError as exc:
        import re

        largest = int(re.search(r"--num-batches (\d+) or less", str(exc)).group(1))
        if largest >= 1:
            try:
                check_embedding_request(batch_size=b, seq_len=t, num_batches=largest)
            except AlignScopeError:
                assert largest == 1                   # even one batch is over the budget
        assert largest < n
        return
    assert n * b * t <= limit("ALIGNSCOPE_MAX_REQUEST_BYTES")


# -- hypothesis: field types --------------------------------------------------------------------------
JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10 ** 6, 10 ** 6),
                                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                           max_leaves=6)


@FUZZ
@given(values=st.lists(JSON_VALUES, min_size=1, max_size=5), template=st.booleans())
def test_jsonl_field_types(tmp_path_factory, values, template):
    """A field is read as its exact text, or the read is refused naming the field and the line:
    never a number, list or object turned into text."""
    from core.errors import CorpusError

    f = tmp_path_factory.mktemp("types") / "t.jsonl"
    f.write_text("\n".join(json.dumps({"text": v}) for v in values) + "\n")
    kw = {"template": "{text}"} if template else {"field": "text"}
    try:
        docs, _ = _docs(f, **kw)
    except CorpusError as exc:
        msg = str(exc)
        bad = [k for k, v in enumerate(values, 1) if not (v is None or isinstance(v, str)
               or (template and isinstance(v, (int, float)) and not isinstance(v, bool)))]
        assert bad and "'text'" in msg and f"line {bad[0]}" in msg or "no non-empty document" in msg \
            or "is empty" in msg, msg
        return
    expect = [v if isinstance(v, str) else format(v) for v in values if v is not None and (not isinstance(v, str)
              or v.strip())]
    assert all(isinstance(v, str) or template for v in values if v is not None)
    assert [d.text for d in docs] == [e for e in expect if e.strip()]


@FUZZ
@given(values=st.lists(st.one_of(st.integers(-5, 5), st.binary(max_size=6), st.text(max_size=8),
                                 st.lists(st.text(max_size=3), max_size=2)), min_size=3, max_size=3).filter(
    lambda vs: len({type(v) for v in vs}) == 1))
def test_parquet_field_types(tmp_path_factory, values):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from core.errors import CorpusError

    f = tmp_path_factory.mktemp("pq") / "t.parquet"
    pq.write_table(pa.table({"text": values}), f)
    try:
        docs, _ = _docs(f, field="text")
    except CorpusError as exc:
        assert isinstance(values[0], (int, bytes, list)) or all(not v.strip() for v in values), str(exc)
        return
    assert isinstance(values[0], str)
    assert [d.text for d in docs] == [v for v in values if v.strip()]


@FUZZ
@given(rows=st.lists(st.lists(st.sampled_from(["a", "b c", '"q"', '"un', ""]), min_size=1, max_size=4),
                     min_size=1, max_size=5))
def test_csv_records_match_the_header_or_name_the_line(tmp_path_factory, rows):
    from core.errors import CorpusError

    f = tmp_path_factory.mktemp("csv") / "t.csv"
    f.write_text("text,b\n" + "\n".join(",".join(r) for r in rows) + "\n")
    try:
        docs, _ = _docs(f, field="text")
    except CorpusError as exc:
        assert " line " in str(exc) or "no non-empty document" in str(exc) or "is empty" in str(exc), str(exc)
        return
    assert all(len(d.text) < 50 for d in docs)           # never the rest of the file as one document


# -- hypothesis: guard evasions -----------------------------------------------------------------------
@FUZZ
@given(data=st.data())
def test_guard_evasions_normalise_away(data):
    """Random insertions of invisible characters, homoglyph substitutions and whitespace changes in a
    test statement leave its normalised text, the guard's identity, unchanged."""
    from core.corpora.normalise import normalise, text_hash

    rows = _test_rows()
    text = rows[data.draw(st.integers(0, len(rows) - 1))][data.draw(st.sampled_from(["nl_statement", "formal_statement"]))]
    table = _homoglyphs()
    chars = list(text)
    for _ in range(data.draw(st.integers(1, 30))):
        k = data.draw(st.integers(0, len(chars) - 1))
        op = data.draw(st.sampled_from(["insert", "homoglyph", "space"]))
        if op == "insert":
            chars[k] = chars[k] + data.draw(st.sampled_from(ZERO_WIDTH))
        elif op == "homoglyph" and chars[k] in table:
            chars[k] = data.draw(st.sampled_from(table[chars[k]]))
        elif op == "space" and chars[k] == " ":
            chars[k] = data.draw(st.sampled_from(SPACES))
    variant = "".join(chars)
    assert normalise(variant) == normalise(text)
    assert text_hash(variant) == text_hash(text)


def test_at_least_150_new_cases():
    hypothesis_cases = 40 * (len(BOUNDED) + 7)
    table = len(CLI_CASES) + 2 * len(VARIANTS) + 3 + 16
    assert table >= 150 and table + hypothesis_cases >= 150


def test_mix_save_warns_of_a_budget_its_sources_cannot_fill(env2, capsys):
    """``mix save --budget 1e12`` is saved with the Mix page's warning: which source cannot fill its
    share, and which sources are not counted yet (so not checked)."""
    from core.corpus_counts import count_corpora
    from core.mixture import load_mixture

    assert _run_cli(["mix", "save", "m0", "--weights", "good=1,prose=1", "--budget", "500", "--json"]) == 0
    out = capsys.readouterr()
    assert "not cached yet" in out.err and "good, prose" in out.err
    assert json.loads(out.out)["warnings"] and load_mixture("m0").budget_tokens == 500
    counts = count_corpora(["good", "prose"])
    assert _run_cli(["mix", "save", "big", "--weights", "good=1,prose=3", "--budget", str(10 ** 12)]) == 0
    err = capsys.readouterr().err
    want = f"good needs 250,000,000,000 tokens but holds {counts['good']['tokens']:,}"
    assert "warning: infeasible at --budget 1,000,000,000,000" in err and want in err, err
    assert "prose needs 750,000,000,000" in err and load_mixture("big").budget_tokens == 10 ** 12
    fits = min(counts["good"]["tokens"], counts["prose"]["tokens"])            # each needs half of it
    assert _run_cli(["mix", "save", "fits", "--weights", "good=1,prose=1", "--budget", str(fits)]) == 0
    assert "warning" not in capsys.readouterr().err
