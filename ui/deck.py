"""Decks in the dashboard: "Add this view to a deck" (every page, from the shared sidebar) and
stepping through a deck in presenter mode (``?present=1&deck=NAME``, arrow keys).

A view is the page and its full URL state: the view's parameters with every setting written out
(:func:`core.views.view_to_params` with ``include_defaults``, so a later change of a default does not
change the slide) plus every other parameter the page keeps in the URL (its tabs and controls bound
with ``bind="query-params"``). Decks are stored by :mod:`core.deck`; a slide is drawn from the caches
by :func:`core.deck_slides.build_slide` (the same as the deck's HTML/PDF export), so presenter mode and
the hand-out show the same thing. In deck mode the URL of every slide is that slide's page and view
(plus ``present=1&deck=NAME&slide=K``), so a reload or a shared link reopens the same slide.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.deck import DECK_PARAMS, DeckError, add_view, list_decks, load_deck
from core.views import md_escape, view_to_params

DECK_PARAM, SLIDE_PARAM = "deck", "slide"
DEFAULT_DECK = "talk"


def page_of(filename: str | Path) -> str:
    """The URL path of the page whose script is ``filename`` (``""`` for Home, whose function lives in ui/)."""
    from ui.navigation import PAGES_DIR, url_of

    path = Path(filename).resolve()
    return url_of(path) if path.parent == PAGES_DIR.resolve() else ""


def current_params() -> dict:
    """The page's full URL state: every query parameter, the view's settings written out, without the
    presenter/deck parameters and the watched job."""
    from ui.state import get_view

    try:
        params = {k: (v if len(v := st.query_params.get_all(k)) > 1 else v[0]) for k in st.query_params.keys()}
    except Exception:                       # a bare script run without a browser session
        params = {}
    params.update(view_to_params(get_view(), include_defaults=True))
    return {k: v for k, v in params.items() if k not in (*DECK_PARAMS, "job")}


def _add(page: str) -> None:
    name = (st.session_state.get("deck_name") or "").strip()
    try:
        deck = add_view(name, page, current_params(), title=st.session_state.get("deck_title") or "")
    except DeckError as exc:
        st.session_state["deck_error"] = str(exc)
        return
    st.session_state.pop("deck_error", None)
    st.session_state["deck_added"] = (name, len(deck.views))
    st.session_state["deck_title"] = ""


def deck_control(where, *, page: str) -> None:
    """"Add this view to a deck": a lazy sidebar box with the deck's name, an optional caption and
    the button; after adding, a link presenting the deck from its first slide."""
    box = where.expander("Deck for a talk", key="sb_deck", on_change="rerun")
    if not box.open:                  # lazy: nothing is read while the box is closed
        return
    with box:
        decks = list_decks()
        st.session_state.setdefault("deck_name", decks[0] if decks else DEFAULT_DECK)
        st.text_input("Deck name", key="deck_name", help="Letters, digits, '_' and '-'. Existing decks: "
                      + (", ".join(decks) if decks else "none yet"))
        st.text_input("Caption (optional)", key="deck_title", placeholder="what this slide shows")
        st.button("Add this view to the deck", key="deck_add", on_click=_add, args=(page,), icon=":material/add:",
                  help="Stores this page and everything in its URL (corpora, settings, tabs, choices) as the "
                       "deck's next slide", width="stretch")
        if st.session_state.get("deck_error"):
            st.error(md_escape(st.session_state["deck_error"]))
        added = st.session_state.get("deck_added")
        if added:
            st.caption(md_escape(f"Added as slide {added[1]} of deck {added[0]}."))
        name = (st.session_state.get("deck_name") or "").strip()
        if name in decks or (added and added[0] == name):
            st.page_link(st.session_state["_pages"]["Home"], label=f"Present deck {name}",
                         icon=":material/present_to_all:", query_params={"present": "1", DECK_PARAM: name})
            st.caption(md_escape(f"Hand-out: python -m core deck export {name} --out {name}.html --pdf"))


def deck_requested() -> str | None:
    """The deck named by the URL in presenter mode (``?present=1&deck=NAME``), else None."""
    from ui.state import get_view

    if not get_view().present:
        return None
    try:
        return st.query_params.get(DECK_PARAM) or None
    except Exception:
        return None


def _slide_number(n_views: int) -> int:
    try:
        k = int(st.query_params.get(SLIDE_PARAM) or 1)
    except ValueError:
        k = 1
    return min(max(k, 1), max(n_views, 1))


def _page_target(page: str):
    """What ``st.page_link`` / ``st.switch_page`` take for the page at URL path ``page`` (None: no such page)."""
    from ui.navigation import page_infos
    from ui.present import PAGES_ROOT

    for info in page_infos():
        if info.url_path == page:
            return st.session_state.get("_pages", {}).get("Home") if info.path is None else \
                str(info.path.relative_to(PAGES_ROOT))
    return None


def slide_params(deck_name: str, params: dict, number: int) -> dict:
    """The URL parameters of slide ``number`` of a deck: its view's, plus presenter mode and the deck."""
    return {**params, "present": "1", DECK_PARAM: deck_name, SLIDE_PARAM: str(number)}


def _use_view(params: dict) -> None:
    """Make the slide's view the session's view (so Esc leaves to exactly that view)."""
    from core.estimators import REGISTRY
    from core.views import view_from_params
    from ui.state import VIEW_KEY, catalog_names

    view = view_from_params({**params, "present": "1"}, known=catalog_names(),
                            available=catalog_names(available_only=True), estimators=REGISTRY)
    st.session_state[VIEW_KEY] = view


def _sync_url(wanted: dict) -> None:
    """Make the address bar hold exactly the slide's parameters. Written on every run: a link to the
    same page with other parameters reruns the page with them but leaves the browser's URL as it was,
    while the server's copy of the parameters already matches (so a comparison would skip the write)."""
    try:
        st.query_params.from_dict(wanted)
    except Exception:  # a bare script run without a browser session
        pass


def present_deck(name: str, page: str) -> None:
    """Draw slide ``?slide=K`` of deck ``name`` (presenter mode) and its footer, stepping through the
    deck's views; switches to the slide's page first when the URL is on another page."""
    from core.deck_slides import build_slide
    from ui import present

    try:
        deck = load_deck(name)
    except DeckError as exc:
        present.title("Deck")
        present.message(md_escape(str(exc)), heading="No such deck")
        present.footer("")
        return
    if not deck.views:
        present.title(f"Deck {name}")
        present.message("This deck has no slide yet: press Esc and use **Add this view to a deck** in the sidebar.",
                        heading="Empty deck")
        present.footer("")
        return
    k = _slide_number(len(deck.views))
    view = deck.views[k - 1]
    target = _page_target(view.page)
    if view.page != page and target is not None:
        st.switch_page(target, query_params=slide_params(name, view.params, k))
    _use_view(view.params)
    _sync_url(slide_params(name, view.params, k))
    slide = build_slide(view, number=k)
    present.title(slide.title)
    if slide.problem:
        present.message(md_escape(f"Slide {k}: {slide.problem}."), heading="This view cannot be shown")
    else:
        present.slide(slide.figure, key=f"deck_{k}")
    links = {}
    for j, label in ((k - 1, "← {k}/{n} {page}"), (k + 1, "{page} {k}/{n} →")):
        if 1 <= j <= len(deck.views):
            v = deck.views[j - 1]
            t = _page_target(v.page)
            if t is not None:
                links["prev" if j < k else "next"] = (t, label.format(k=j, n=len(deck.views), page=v.page_title),
                                                      slide_params(name, v.params, j))
    note = f"deck {name} · slide {k}/{len(deck.views)}" + (f" · {slide.note}" if slide.note else "") \
        + (f" · {slide.caption}" if slide.caption else "")
    present.footer(note, links=links, number=(k, len(deck.views)))
