"""Surface-specific wording of errors (core.errors.opt / AlignScopeError.render)."""
from core.clikit.common import CLI_WORDS, render_error
from core.errors import AlignScopeError, CorpusError, opt, render_options


def test_placeholders_render_per_surface():
    exc = CorpusError(f"Corpus 'x' sets both {opt('field', 'text')} and {opt('template', '{a} {b}')}.",
                      fix=f"choose another name, or replace it with {opt('overwrite', True)}; see {opt('list_corpora')}.")
    api = str(exc)
    assert "field='text'" in api and "template='{a} {b}'" in api and "overwrite=True" in api and "list_corpora()" in api
    cli = render_error(exc)
    assert "--field text" in cli and "--template '{a} {b}'" in cli and "--overwrite" in cli
    assert "overwrite=True" not in cli and "python -m core corpora list" in cli
    ui = exc.render("ui", {"field": "'Text field'", "overwrite": "another Name"})
    assert "'Text field' = text" in ui and "another Name" in ui and "--" not in ui
    assert exc.what.startswith("Corpus 'x' sets both field='text'")           # what/fix stay readable strings


def test_unknown_options_fall_back_and_values_are_quoted():
    assert render_options(opt("seq_len", 100000), "cli") == "--seq-len 100000"
    assert render_options(opt("align_seq_len", 5), "cli") == "--align-seq-len 5"
    assert render_options(opt("estimator_param", "k=2"), "cli", CLI_WORDS) == "--estimator-param k=2"
    assert render_options(opt("estimator_param", "k=2"), "api") == "k=2"
    assert render_options(opt("path", "a b/*.txt"), "cli") == "--path 'a b/*.txt'"
    assert render_options("no placeholder {x}", "cli") == "no placeholder {x}"


def test_errors_from_core_speak_cli_on_the_command_line(tmp_path):
    """The Python fixes found in core/ (issue 12 failure 8) now render as flags on the CLI."""
    from core.corpora import CorpusSpec, register_corpus, unregister_corpus

    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    register_corpus(CorpusSpec(name="dup", kind="files", path=str(tmp_path / "a.jsonl"), field="text"))
    msgs = []
    for call in (lambda: register_corpus(CorpusSpec(name="dup", kind="files", path=str(tmp_path / "a.jsonl"),
                                                    field="text")),
                 lambda: register_corpus(CorpusSpec(name="nf", kind="files", path=str(tmp_path / "a.jsonl"))),
                 lambda: unregister_corpus("nosuch")):
        try:
            call()
        except AlignScopeError as exc:
            msgs.append((str(exc), render_error(exc)))
    assert len(msgs) == 3
    assert "overwrite=True" in msgs[0][0] and "--overwrite" in msgs[0][1] and "=True" not in msgs[0][1]
    assert "field='text'" in msgs[1][0] and "--field text" in msgs[1][1]
    assert "list_corpora()" in msgs[2][0] and "python -m core corpora list" in msgs[2][1]
