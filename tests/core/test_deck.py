"""Decks of saved views (core.deck): add / show / remove, names that cannot leave the decks folder,
URL parsing, only data stored (never executed), unreadable deck files named."""
import json

import pytest

from core import deck
from core.deck import DeckError


def test_add_show_remove_roundtrip():
    d = deck.add_url("talk", "/Ranking?target=proofnet&candidates=coq-stdlib,news&present=1&deck=x&slide=3"
                             "&job=embed-0123456789abcdef", title="first")
    assert [v.page for v in d.views] == ["Ranking"]
    v = d.views[0]
    assert v.params == {"target": "proofnet", "candidates": "coq-stdlib,news"}     # presenting params dropped
    assert v.title == "first" and v.page_title == "Ranking"
    deck.add_view("talk", "Alignment_vs_perplexity", {"target": "proofnet", "avp_tab": "Table"})
    deck.add_url("talk", "http://localhost:8501/?target=proofnet")                   # Home, full URL
    d = deck.load_deck("talk")
    assert [v.page for v in d.views] == ["Ranking", "Alignment_vs_perplexity", ""]
    assert d.views[2].page_title == "Home" and d.views[2].url() == "/?target=proofnet"
    assert d.views[0].url(present="1") == "/Ranking?target=proofnet&candidates=coq-stdlib,news&present=1"
    assert deck.list_decks() == ["talk"]
    d = deck.remove_view("talk", 1)
    assert [v.page for v in d.views] == ["Alignment_vs_perplexity", ""]
    with pytest.raises(DeckError, match="no slide 3"):
        deck.remove_view("talk", 3)
    with pytest.raises(DeckError, match="no slide 0"):
        deck.remove_view("talk", 0)
    assert deck.delete_deck("talk") and deck.list_decks() == []
    with pytest.raises(DeckError, match="no deck named 'talk'"):
        deck.load_deck("talk")


def test_repeated_parameters_are_kept():
    d = deck.add_url("t", "/Select?sel_pool=a&sel_pool=b&target=proofnet")
    assert d.views[0].params["sel_pool"] == ["a", "b"]
    assert deck.load_deck("t").views[0].url() == "/Select?sel_pool=a&sel_pool=b&target=proofnet"


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "a b", "x" * 65, "talk\n", "..", "a\\b", None])
def test_bad_deck_names_are_refused(name):
    with pytest.raises(DeckError, match="not valid"):
        deck.add_url(name, "/Ranking?target=proofnet")
    with pytest.raises(DeckError):
        deck.load_deck(name)


def test_a_name_never_leaves_the_decks_folder():
    for name in ("talk", "Group-Meeting_2", "9"):
        assert deck.deck_path(name).parent == deck.decks_dir()


@pytest.mark.parametrize("url, match", [("/Nope?target=x", "not a page"), ("javascript:alert(1)", "not a dashboard URL"),
                                        ("/Ranking?bad-key=1", "cannot be stored"),
                                        ("/Ranking?target=" + "x" * 5000, "too long")])
def test_bad_views_are_refused(url, match):
    with pytest.raises(DeckError, match=match):
        deck.add_url("talk", url)
    assert deck.list_decks() == []                                    # nothing written


def test_stored_as_plain_data_and_unreadable_files_named():
    deck.add_url("talk", "/Ranking?target=__import__('os')")
    raw = json.loads(deck.deck_path("talk").read_text())
    assert raw["views"][0]["params"] == {"target": "__import__('os')"}    # a string, never evaluated
    deck.deck_path("broken").write_text("{not json")
    with pytest.raises(DeckError, match="broken.json is not readable JSON"):
        deck.load_deck("broken")
    deck.deck_path("other").write_text('{"views": 3}')
    with pytest.raises(DeckError, match="not a deck"):
        deck.load_deck("other")


def test_page_names_follow_the_page_files():
    names = deck.page_names()
    assert names[0] == "" and "Ranking" in names and "Alignment_vs_perplexity" in names
    assert deck.check_page("/Ranking") == "Ranking" and deck.check_page("home") == ""
