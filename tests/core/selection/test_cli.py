import json

import pytest

from core.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_methods_are_listed(capsys):
    code, out, _ = _run(capsys, "select", "methods", "--json")
    names = {r["name"] for r in json.loads(out)}
    assert code == 0 and {"t2v-topk", "t2v-greedy", "dsir", "zip-fit", "random", "best-single", "unigram-cos"} <= names


def test_run_json_export_save_and_finetune_flag(capsys, sel_corpora, sharp_model_dir, tmp_path):
    code, out, err = _run(capsys, "select", "run", "--target", "bench", "--pool", "prose,needles", "--budget", "200",
                          "--method", "t2v-topk", "--max-windows", "40", "--seq-len", "32", "--model", sharp_model_dir,
                          "--save", "cli-sel", "--export", str(tmp_path / "s.jsonl"), "--json")
    assert code == 0, err
    res = json.loads(out)
    w = res["windows"][0]
    assert {"corpus", "doc_id", "offset", "tokens", "score"} <= set(w) and w["corpus"] == "needles"
    assert {"value", "ci_low", "ci_high"} <= set(res["alignment"]) and res["saved"] == "cli-sel"
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == len(res["windows"])
    code, out, _ = _run(capsys, "select", "list", "--json")
    assert code == 0 and "cli-sel" in {r["name"] for r in json.loads(out)}


@pytest.mark.parametrize("argv, message", [
    (["--pool", "prose", "--budget", "10000000"], "--budget 10000000 tokens is larger than the pool can be"),
    (["--pool", ",", "--budget", "100"], "names nothing"),
    (["--pool", "prose,bench", "--budget", "100"], "contains the target 'bench'"),
    (["--pool", "prose", "--budget", "100", "--method", "nope"], "nope"),
    (["--pool", "prose", "--budget", "0"], "--budget 0 is not a positive number of tokens"),
    (["--pool", "prose", "--budget", "100", "--save", "bad name!"], "bad name!"),
])
def test_bad_input_exits_2_with_a_clear_message(capsys, sel_corpora, sharp_model_dir, argv, message):
    code, _, err = _run(capsys, "select", "run", "--target", "bench", "--model", sharp_model_dir, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_budget_larger_than_the_sampled_pool(capsys, sel_corpora, sharp_model_dir):
    code, _, err = _run(capsys, "select", "run", "--target", "bench", "--pool", "needles", "--budget", "5000",
                        "--max-windows", "200", "--seq-len", "32", "--model", sharp_model_dir)
    assert code == 2 and "is larger than the pool (" in err and "lower --budget" in err


def test_finetune_selection_flag_names_unknown_selections(capsys, sel_corpora):
    code, _, err = _run(capsys, "finetune", "--selection", "nope", "--target", "bench")
    assert code == 2 and "No saved selection named 'nope'" in err
