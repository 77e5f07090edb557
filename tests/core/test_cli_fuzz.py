"""Property-based fuzzing (hypothesis, bounded) of the command line's parsing and validation: any argv
gives parsed settings, an argparse error (exit 2, one line) or an AlignScopeError; never another
exception. Nothing here loads weights: validation reads only the probe network's config.json."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import AlignScopeError

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])
NUMBERS = st.one_of(st.integers(-10 ** 6, 10 ** 6).map(str), st.sampled_from(["", "abc", "1.5", "nan", "-0", "1e9", " 3"]))
PARAMS = st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["minibatch", "vocab_chunk", "k", "epochs", "lr", "mc_draws",
                                                            "autocast", "seed", "nosuch", ""]),
                   st.one_of(NUMBERS, st.sampled_from(["true", "none", "bf16", "x=y"])))


@pytest.fixture
def parser():
    from core.cli import build_parser

    return build_parser()


def _flags(model):
    return st.lists(st.one_of(
        st.tuples(st.sampled_from(["--seq-len", "--batch-size", "--num-batches", "--seed", "--threads"]), NUMBERS),
        st.tuples(st.just("--estimator-param"), st.one_of(PARAMS, st.text(max_size=8))),
        st.tuples(st.just("--estimator"), st.sampled_from(["closed_form_head", "closed_form_blocks", "reference", "x"])),
        st.tuples(st.just("--precision"), st.sampled_from(["auto", "fp32", "bf16", "fp8"])),
        st.tuples(st.just("--model"), st.sampled_from([model, "", "nobody/none"])),
    ), max_size=6).map(lambda pairs: [x for p in pairs for x in p])


@FUZZ
@given(data=st.data())
def test_fuzz_embedding_flags(parser, tiny_model_dir, capsys, data):
    from core.clikit.common import settings_from_args

    argv = ["embed", "--corpus", "c", "--device", "cpu", *data.draw(_flags(tiny_model_dir))]
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error:"), err
        return
    try:
        s = settings_from_args(args)
    except AlignScopeError as exc:
        assert exc.fix, str(exc)
        return
    assert 2 <= s.batch.seq_len <= 256 and s.batch.batch_size >= 1      # the tiny model's 256 positions


@FUZZ
@given(pairs=st.lists(st.one_of(PARAMS, st.text(max_size=12)), max_size=4),
       name=st.sampled_from(["closed_form_head", "closed_form_blocks", "reference"]))
def test_fuzz_estimator_params(pairs, name):
    from core.clikit.common import key_values
    from core.estimators import get_estimator

    try:
        est = get_estimator(name, **key_values(pairs, option="--estimator-param", example="epochs=3"))
    except AlignScopeError as exc:
        assert exc.fix
        return
    cfg = est.config
    for f in ("minibatch", "mc_draws", "k", "vocab_chunk"):
        assert getattr(cfg, f, 1) >= 1


@FUZZ
@given(head=st.sampled_from([["corpora", "add"], ["corpora", "show"], ["corpora", "remove"], ["jobs"], ["jobs", "log"],
                             ["jobs", "cancel"], ["mix", "save"], ["mix", "show"], ["results"], ["cache", "stats"]]),
       tail=st.lists(st.sampled_from(["x", "proofnet", "--path", "--hf", "--field", "--weights", "a=1", "--budget", "0",
                                      "--json", "--tail", "-1", "--run", "--store", "nope", "--split", "test"]),
                     max_size=6))
def test_fuzz_command_words(head, tail, capsys):
    """Random command lines of cheap commands: exit 0, 1 or 2, never a traceback."""
    from core.cli import main

    argv = head + tail

    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    assert rc in (0, 1, 2) and "Traceback" not in err, (argv, err)
