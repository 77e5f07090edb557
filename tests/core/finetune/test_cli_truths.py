"""What the fine-tune CLI says is what it does (issue 20): ``--explain``, progress on stderr under
``--json``, and ``--threads`` help that matches the runner."""
from __future__ import annotations

import json

from core.cli import build_parser, main


def test_explain_prints_the_packed_documents_and_the_run_identity(corpora, tiny_config, tiny_settings, tiny_model_dir,
                                                                  capsys):
    from core.finetune.data import build_training_data
    from core.finetune.identity import data_identity
    from core.probe import load_probe

    args = ["finetune", "--source", "maths", "--target", "bench", "--model", tiny_model_dir, "--probe", tiny_model_dir,
            "--device", "cpu", "--budget", "256", "--seq-len", "32", "--batch-size", "4", "--seed", "1", "--explain"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    cfg = tiny_config(seed=1, learning_rate=1e-4)
    data = build_training_data(cfg, load_probe(tiny_model_dir, device="cpu").tokenizer)
    assert out["train_data_fp"] == data.fingerprint() == data_identity(cfg)["train"]
    assert [(p["source"], p["doc_id"], p["tokens"]) for p in out["packed"]] == [tuple(p) for p in data.packed]
    assert out["tokens"] == 256 and out["run_id"].startswith("finetune-")
    assert main(args) == 0
    text = capsys.readouterr().out
    assert out["run_id"] in text and data.packed[0][1] in text
    from core.finetune import results

    assert results.get_run(out["run_id"]) is None            # nothing was queued


def test_json_keeps_stdout_json_and_progress_goes_to_stderr(corpora, tiny_model_dir, capsys):
    args = ["finetune", "--source", "maths", "--target", "bench", "--model", tiny_model_dir, "--probe", tiny_model_dir,
            "--device", "cpu", "--budget", "64", "--seq-len", "32", "--batch-size", "4", "--align-batch-size", "4",
            "--align-seq-len", "32", "--align-num-batches", "2", "--json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    row = json.loads(captured.out)                              # stdout: only the JSON row
    assert row["status"] == "done" and row["train_data_fp"]
    assert "[done]" in captured.err or "[running]" in captured.err   # progress lines on stderr


def test_threads_help_says_what_each_command_does():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices

    def threads_help(cmd):
        return next(a.help for a in sub[cmd]._actions if "--threads" in a.option_strings)

    assert "idle cores" in threads_help("finetune") and "load average" in threads_help("finetune")
    assert "all cores" not in threads_help("embed") and "torch's own" in threads_help("embed")
