"""The CLI on small corpora with the tiny probe network, and its bad-input messages (exit code 2)."""
import json

import pytest

from core.cli import main


@pytest.fixture
def corpora(tmp_path, maths_texts, prose_texts):
    from core.corpora import CorpusSpec, register_corpus

    (tmp_path / "maths").mkdir(); (tmp_path / "prose").mkdir()
    for i, t in enumerate(maths_texts[:40]):
        (tmp_path / "maths" / f"{i}.txt").write_text(t)
    with open(tmp_path / "prose.jsonl", "w") as fh:
        for t in prose_texts[:40]:
            fh.write(json.dumps({"body": t}) + "\n")
    register_corpus(CorpusSpec(name="t-maths", kind="files", path=str(tmp_path / "maths")))
    register_corpus(CorpusSpec(name="t-prose", kind="files", path=str(tmp_path / "prose.jsonl"), field="body"))
    return tmp_path


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_align_json_ranks_and_second_call_is_cached(capsys, corpora, tiny_model_dir):
    opts = ["--model", tiny_model_dir, "--batch-size", "4", "--seq-len", "32", "--num-batches", "3", "--device", "cpu", "--json"]
    code, out, _ = run(capsys, "align", "--target", "proofnet", "--sources", "t-maths,t-prose", *opts)
    assert code == 0
    res = json.loads(out)
    assert [r["source"] for r in res["ranking"]] == ["t-maths", "t-prose"]
    for r in res["ranking"]:
        assert r["ci_low"] <= r["alignment"] <= r["ci_high"]
    assert res["computed_batches"] == 9 and res["cached_batches"] == 0
    code, out, _ = run(capsys, "align", "--target", "proofnet", "--sources", "t-maths,t-prose", *opts)
    again = json.loads(out)
    assert again["computed_batches"] == 0 and again["cached_batches"] == 9
    assert again["ranking"] == res["ranking"]
    code, out, _ = run(capsys, "diversity", "--corpus", "t-maths", *opts)
    assert code == 0 and 0 < json.loads(out)["diversity"]["t-maths"]["value"] < 1


@pytest.mark.parametrize("argv,pattern", [
    (["align", "--target", "proofnet", "--sources", "nope"], r"nope"),
    (["align", "--target", "proofnet", "--sources", "t-maths", "--batch-size", "500"], r"fewer than one batch.*--batch-size"),
    (["align", "--target", "proofnet", "--sources", "t-maths", "--model", "no-org/no-model"], r"no-org/no-model"),
    (["align", "--target", "proofnet", "--sources", "t-maths", "--estimator", "magic"], r"Unknown Task2Vec estimator 'magic'"),
    (["align", "--target", "proofnet", "--sources", "t-maths", "--num-batches", "0"], r"positive"),
    (["corpora", "add", "x", "--path", "/does/not/exist"], r"/does/not/exist"),
])
def test_bad_input_exits_2_with_one_clear_line(capsys, corpora, tiny_model_dir, argv, pattern):
    import re

    if argv[0] == "align" and "--model" not in argv:
        argv = argv + ["--model", tiny_model_dir, "--device", "cpu"]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and re.search(pattern, err, re.S) and "Traceback" not in err


def test_bad_files_leave_the_cache_intact(capsys, corpora, tiny_model_dir):
    from core.store import EmbeddingStore

    opts = ["--model", tiny_model_dir, "--batch-size", "4", "--seq-len", "32", "--num-batches", "2", "--device", "cpu", "--json"]
    assert run(capsys, "embed", "--corpus", "t-maths", *opts)[0] == 0
    before = EmbeddingStore().stats()["entries"]
    (corpora / "empty.txt").write_text("")
    (corpora / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    (corpora / "bad.jsonl").write_text('{"body": "ok"}\n{not json\n')
    for path, extra, pattern in [(corpora / "empty.txt", [], "empty"), (corpora / "bin.txt", [], "binary"),
                                 (corpora / "bad.jsonl", ["--field", "body"], "line 2"),
                                 (corpora / "prose.jsonl", ["--field", "text"], "'text'")]:
        code, _, err = run(capsys, "corpora", "add", "bad", "--path", str(path), *extra)
        assert code == 2 and pattern in err, err
    assert EmbeddingStore().stats()["entries"] == before
    assert run(capsys, "embed", "--corpus", "t-maths", *opts)[0] == 0


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for inner, p in _subparsers(sub):
                    yield f"{name} {inner}", p


def test_every_option_has_help_and_every_command_has_examples():
    import argparse

    from core.cli import build_parser

    commands = dict(_subparsers(build_parser()))
    assert {"corpora", "model", "embed", "diversity", "align", "cache", "finetune", "experiment", "perplexity",
            "results", "mix predict", "mix verify"} <= set(commands)
    for name, p in commands.items():
        if name.startswith("validate"):         # core.validation.cli is tested with the validation lab
            continue
        assert p.epilog and "python -m core" in p.epilog, f"{name}: no examples in --help"
        for action in p._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"{name}: {action.option_strings or action.dest} has no help text"


def test_computing_commands_take_precision(capsys):
    from core.cli import build_parser

    commands = dict(_subparsers(build_parser()))
    for name in ("embed", "diversity", "align", "mix predict", "mix suggest", "mix verify", "finetune", "experiment"):
        assert "--precision" in commands[name]._option_string_actions, name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["align", "--target", "a", "--sources", "b", "--precision", "fp8"])
    assert "fp8" in capsys.readouterr().err


def test_corpora_add_help_shows_help_for_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["corpora", "add", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    from core.cli import build_parser

    corpora = dict(_subparsers(build_parser()))["corpora"]
    for flag in ("--path", "--hf", "--config", "--split", "--field", "--template", "--domain", "--description",
                 "--license", "--overwrite", "--model", "--json"):
        helptext = " ".join(corpora._option_string_actions[flag].help.split())
        assert flag in out and helptext in out, flag
    assert "examples:" in out
