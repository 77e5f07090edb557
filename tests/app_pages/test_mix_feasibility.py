"""Mix feasibility (AppTest): a share of the budget above a source's tokens is shown at once, the
optimiser respects w × budget ≤ tokens, a target-derived source carries a contamination note, Mix and
Fine-tune start from one budget; the Fine-tune page starts from the candidates chosen on Corpora."""
import pytest

from tests.app_pages.conftest import texts_of, write_corpus

MIX = "app_pages/4_Mix.py"


@pytest.fixture
def counted(settings, small_corpora):
    from core.pipeline import corpus_stats, embed_corpora

    embed_corpora(["tgt", "cand-maths", "cand-prose"], settings, progress=False)
    return {n: corpus_stats(n)["tokens"] for n in ("cand-maths", "cand-prose")}


def test_infeasible_share_is_shown_at_once(app, view_params, counted):
    from core.finetune.config import DEFAULT_BUDGET

    at = app(MIX, view_params).run()
    assert not at.exception, texts_of(at.exception)
    assert at.number_input(key="mix_budget").value == DEFAULT_BUDGET          # the Fine-tune page's default
    small = min(counted.values())
    at.number_input(key="mix_budget").set_value(small * 3).run()             # half of it is more than a source holds
    errors = " ".join(texts_of(at.error))
    assert "Infeasible at this budget" in errors and "holds" in errors
    at.number_input(key="mix_budget").set_value(1000).run()
    assert not any("Infeasible" in e for e in texts_of(at.error))


def test_suggestion_respects_the_tokens_each_source_holds(app, view_params, counted):
    budget = int(1.5 * max(counted.values()))
    at = app(MIX, view_params).run()
    at.number_input(key="mix_budget").set_value(budget).run()
    at.button(key="mix_suggest").click().run()
    assert not at.exception, texts_of(at.exception)
    w = {s: at.slider(key=f"mix_w_{s}").value for s in counted}
    total = sum(w.values())
    for s, tokens in counted.items():
        assert w[s] / total * budget <= tokens * 1.01 + 1, (s, w, tokens, budget)
    assert not any("Infeasible" in e for e in texts_of(at.error))
    at.number_input(key="mix_budget").set_value(10 * sum(counted.values())).run()
    at.button(key="mix_suggest").click().run()
    assert any("cannot fill the mix" in e for e in texts_of(at.error))


def test_derived_source_carries_a_contamination_note(app, view_params, tmp_path, settings, maths_texts, counted):
    from core.corpora import CorpusSpec, register_corpus
    from core.pipeline import embed_corpora

    register_corpus(CorpusSpec(name="tgt-copy", kind="files", field="text", derived_from="tgt",
                               path=str(write_corpus(tmp_path, "tgt-copy", maths_texts[:40]))))
    embed_corpora(["tgt-copy"], settings, progress=False)
    at = app(MIX, {**view_params, "candidates": "cand-maths,tgt-copy"}).run()
    assert not at.exception, texts_of(at.exception)
    notes = " ".join(texts_of(at.warning))
    assert "Contamination" in notes and "tgt-copy" in notes and "(the target)" in notes


def test_finetune_starts_from_the_chosen_candidates_with_an_estimate(app, tmp_path, maths_texts, prose_texts,
                                                                    tiny_model_dir):
    from core.corpora import CorpusSpec, register_corpus

    for name, texts, domain in (("bench", maths_texts[:20], "target benchmark"), ("maths", maths_texts[40:80], "formal maths"),
                                ("prose", prose_texts[:30], "general prose")):
        register_corpus(CorpusSpec(name=name, kind="files", path=str(write_corpus(tmp_path, name, texts)),
                                   field="text", domain=domain))
    at = app("app_pages/5_Fine-tune.py", {"model": tiny_model_dir, "target": "bench", "candidates": "prose"}).run()
    at.selectbox(key="ft_target").set_value("bench").run()
    assert not at.exception, texts_of(at.exception)
    assert at.multiselect(key="ft_exp_sources").value == ["prose"]
    assert any(c.startswith("Estimate before launch: about") for c in texts_of(at.caption))
    at = app("app_pages/5_Fine-tune.py", {"model": tiny_model_dir, "target": "bench", "candidates": "prose",
                                          "ft_tab": "Single run"}).run()
    assert not at.exception, texts_of(at.exception)
    assert at.selectbox(key="ft_source").value == "prose"


def test_mix_weights_and_budget_round_trip_through_the_url(app, view_params, counted):
    at = app(MIX, view_params).run()
    at.slider(key="mix_w_cand-prose").set_value(0.2).run()
    at.number_input(key="mix_budget").set_value(2500).run()
    assert at.query_params["budget"] in ("2500", ["2500"])
    link = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    again = app(MIX, link).run()                                  # a shared link / reload
    assert not again.exception, texts_of(again.exception)
    assert again.slider(key="mix_w_cand-prose").value == pytest.approx(0.2)
    assert again.slider(key="mix_w_cand-maths").value == at.slider(key="mix_w_cand-maths").value
    assert again.number_input(key="mix_budget").value == 2500
    bad = app(MIX, {**view_params, "mix": "cand-prose:oops,ghost:0.3", "budget": "-5"}).run()
    assert not bad.exception and bad.number_input(key="mix_budget").value == 4000
