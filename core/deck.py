"""Decks: named sequences of saved dashboard views, for a talk.

A *view* is a page of the dashboard and its full URL state (the query parameters: target,
candidates, embedding settings, and every page control bound to the URL, e.g. ``avp_group``,
``regime``), exactly what the address bar of the page holds. A deck is a list of views in the
speaker's order, stored as JSON under ``<cache>/decks/<name>.json`` (written atomically with
:func:`core.paths.atomic_write`, read-modify-write under :func:`core.paths.file_lock`, so two tabs
adding at once lose nothing).

Stored views are data, never code: a view's page must be one of the dashboard's pages
(:func:`page_names`), its parameter names are identifiers, its values short strings, and nothing in
a deck is evaluated; the pages themselves validate the values when they show them (an unknown corpus
or setting becomes a one-line problem of that slide, :mod:`core.deck_slides`). Deck names are
``[A-Za-z0-9][A-Za-z0-9_-]*`` (at most 64 characters), so a name can never leave the decks folder.

Presenter mode steps through a deck with ``?present=1&deck=NAME`` (``ui.present``); the CLI is
``python -m core deck list|show|add|remove|export`` (:mod:`core.cli.deck`); the export renders every
view as one page of an HTML file (and PDF) through :mod:`core.deck_export`.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qs, urlencode, urlsplit

from core.errors import AlignScopeError
from core.paths import REPO_ROOT, atomic_write, cache_dir, file_lock

#: Valid deck names (also what keeps a name inside the decks folder).
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: Valid URL parameter names of a stored view.
PARAM_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
#: Longest stored parameter value (characters) and most values per parameter.
MAX_VALUE_CHARS = 4000
MAX_VALUES = 64
#: Most views in one deck.
MAX_VIEWS = 200
#: URL parameters that belong to presenting, not to a view: never stored.
DECK_PARAMS = ("present", "deck", "slide")
#: Also dropped from a stored view: the embedding job a page was watching (not part of a talk).
DROPPED_PARAMS = (*DECK_PARAMS, "job")
#: Folder of the dashboard's page scripts (``app_pages/2_Alignment.py`` -> URL path ``Alignment``).
PAGES_DIR = REPO_ROOT / "app_pages"
_NUMBERED = re.compile(r"^(\d+)[_ -]*(.*)$")
#: What the Home page's URL path may be written as (``/``, ``/home``).
HOME_ALIASES = ("", "home")
VERSION = 1


def param_value(value: object) -> str | None:
    """One URL query parameter's value as a string: the last of a repeated parameter (a list or
    tuple, as Streamlit's query params give it), None where it is absent (None or an empty list)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return str(value[-1]) if value else None
    return str(value)


class DeckError(AlignScopeError):
    """A deck name, view or file is invalid, or the deck does not exist."""


@dataclass(frozen=True)
class DeckView:
    """One slide of a deck.

    Attributes:
        page: the page's URL path (``"Ranking"``; ``""`` for Home).
        params: the page's URL query parameters, ``{name: value}`` (a value is a string, or a list of
            strings for a repeated parameter).
        title: an optional caption given by the speaker.
        added: when it was added (Unix seconds).
    """

    page: str
    params: dict = field(default_factory=dict)
    title: str = ""
    added: float = 0.0

    @property
    def page_title(self) -> str:
        """The page's name as the navigation shows it (``"Alignment vs perplexity"``, ``"Home"``)."""
        return self.page.replace("_", " ") if self.page else "Home"

    def url(self, **extra: str) -> str:
        """The view's relative URL (``/Ranking?target=proofnet&candidates=a,b``), with ``extra`` parameters."""
        query = urlencode({**self.params, **extra}, doseq=True, safe=",:")
        return "/" + self.page + ("?" + query if query else "")

    def to_dict(self) -> dict:
        """JSON-able form (what the deck file holds)."""
        return {"page": self.page, "params": dict(self.params), "title": self.title, "added": self.added}


@dataclass
class Deck:
    """A named list of :class:`DeckView` (``views[0]`` is slide 1)."""

    name: str
    views: list[DeckView] = field(default_factory=list)
    created: float = 0.0
    updated: float = 0.0

    def to_dict(self) -> dict:
        """JSON-able form (what the deck file holds)."""
        return {"version": VERSION, "name": self.name, "created": self.created, "updated": self.updated,
                "views": [v.to_dict() for v in self.views]}


def page_names(pages_dir: Path = PAGES_DIR) -> list[str]:
    """URL paths of the dashboard's pages: ``""`` (Home), then every ``app_pages/*.py`` in number order
    (the same rule as ``ui.navigation``: ``2_Alignment.py`` -> ``Alignment``)."""
    def key(p: Path):
        m = _NUMBERED.match(p.stem)
        return (int(m.group(1)), m.group(2)) if m else (10 ** 6, p.stem)

    out = [""]
    for p in sorted(pages_dir.glob("*.py"), key=key):
        if p.name.startswith("_"):
            continue
        m = _NUMBERED.match(p.stem)
        out.append((m.group(2) if m else p.stem) or p.stem)
    return out


def check_name(name: str) -> str:
    """``name`` when it is a valid deck name.

    Raises:
        DeckError: empty, too long, or with characters other than letters, digits, ``_`` and ``-``
            (a ``/``, ``..`` or a leading dot included).
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise DeckError(f"Deck name {name!r} is not valid.",
                        fix="use 1-64 letters, digits, '_' or '-', starting with a letter or digit (e.g. group-meeting).")
    return name


def check_page(page: str) -> str:
    """The canonical URL path of ``page`` (``"/Ranking"`` -> ``"Ranking"``, ``"home"`` -> ``""``).

    Raises:
        DeckError: not one of the dashboard's pages (:func:`page_names`).
    """
    p = str(page or "").strip().strip("/")
    if p.lower() in HOME_ALIASES:
        return ""
    names = page_names()
    if p not in names:
        raise DeckError(f"Page {page!r} is not a page of the dashboard.",
                        fix="use one of: " + ", ".join(f"/{n}" for n in names) + ".")
    return p


def clean_params(params: Mapping) -> dict:
    """The storable part of a page's URL parameters: presenter/deck parameters and ``job`` dropped,
    single values as strings, repeated ones as lists of strings.

    Raises:
        DeckError: a parameter name that is not an identifier, or a value too long (the message names it).
    """
    out: dict[str, str | list[str]] = {}
    for k, v in dict(params).items():
        if not isinstance(k, str) or not PARAM_RE.fullmatch(k):
            raise DeckError(f"URL parameter {k!r} cannot be stored in a deck.",
                            fix="parameter names are letters, digits and '_' (as the dashboard writes them).")
        if k in DROPPED_PARAMS:
            continue
        values = [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)]
        if len(values) > MAX_VALUES or any(len(x) > MAX_VALUE_CHARS for x in values):
            raise DeckError(f"URL parameter {k!r} is too long to store in a deck.",
                            fix=f"at most {MAX_VALUES} values of {MAX_VALUE_CHARS} characters.")
        out[k] = values[0] if len(values) == 1 else values
    return out


def parse_view_url(url: str) -> tuple[str, dict]:
    """``(page, params)`` of a dashboard URL: ``/Ranking?target=proofnet&candidates=a,b`` or a full
    ``http://host:8501/Ranking?...`` (the scheme and host are ignored).

    Raises:
        DeckError: not a page of the dashboard, or parameters that cannot be stored (:func:`clean_params`).
    """
    parts = urlsplit(str(url or "").strip())
    if parts.scheme and parts.scheme not in ("http", "https"):
        raise DeckError(f"{url!r} is not a dashboard URL.", fix="give a path such as '/Ranking?target=proofnet'.")
    params = {k: (v[0] if len(v) == 1 else v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return check_page(parts.path), clean_params(params)


def decks_dir() -> Path:
    """``<cache>/decks`` (created)."""
    return cache_dir("decks")


def deck_path(name: str) -> Path:
    """Where deck ``name`` is stored (the name is checked first, so the path stays in :func:`decks_dir`).

    Raises:
        DeckError: invalid name.
    """
    return decks_dir() / f"{check_name(name)}.json"


def list_decks() -> list[str]:
    """Names of the stored decks, alphabetical."""
    return sorted(p.stem for p in decks_dir().glob("*.json") if NAME_RE.fullmatch(p.stem))


def _view_from(d: object, where: str) -> DeckView:
    if not isinstance(d, dict):
        raise DeckError(f"{where} is not an object.", fix="remove the deck file or that slide.")
    params = d.get("params") or {}
    if not isinstance(params, dict):
        raise DeckError(f"{where}.params is not an object.", fix="remove that slide (python -m core deck remove).")
    title = d.get("title") or ""
    added = d.get("added") or 0.0
    return DeckView(page=str(d.get("page") or ""), params=clean_params(params), title=str(title)[:200],
                    added=float(added) if isinstance(added, (int, float)) else 0.0)


def load_deck(name: str) -> Deck:
    """Read deck ``name``.

    A view whose page no longer exists is kept as it is (its slide reports the problem); the file
    itself must be a deck.

    Raises:
        DeckError: invalid name, no such deck, or a file that is not a deck (the message names it).
    """
    path = deck_path(name)
    if not path.is_file():
        have = list_decks()
        raise DeckError(f"There is no deck named {name!r}.",
                        fix=("existing decks: " + ", ".join(have) + "." if have else
                             "add a view first: python -m core deck add NAME --url '/Ranking?target=proofnet'."))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DeckError(f"Deck file {path} is not readable JSON ({exc}).", fix=f"delete it: rm {path}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("views"), list):
        raise DeckError(f"Deck file {path} is not a deck (no list of views).", fix=f"delete it: rm {path}")
    views = [_view_from(v, f"{path.name} views[{i}]") for i, v in enumerate(data["views"])]
    return Deck(name=name, views=views, created=float(data.get("created") or 0.0),
                updated=float(data.get("updated") or 0.0))


def save_deck(deck: Deck) -> Path:
    """Write ``deck`` atomically; returns its path.

    Raises:
        DeckError: invalid name or more than :data:`MAX_VIEWS` views.
    """
    if len(deck.views) > MAX_VIEWS:
        raise DeckError(f"Deck {deck.name!r} would have {len(deck.views)} slides.",
                        fix=f"at most {MAX_VIEWS}: remove some (python -m core deck remove {deck.name} N).")
    path = deck_path(deck.name)
    return atomic_write(path, json.dumps(deck.to_dict(), indent=1) + "\n")     # parameter order kept (the URL's)


def _update(name: str, change) -> Deck:
    path = deck_path(name)
    with file_lock(decks_dir() / ".locks" / f"{name}.lock", what=f"deck {name}"):
        deck = load_deck(name) if path.is_file() else Deck(name=name, created=time.time())
        change(deck)
        deck.updated = time.time()
        save_deck(deck)
    return deck


def add_view(name: str, page: str, params: Mapping, *, title: str = "") -> Deck:
    """Append a view to deck ``name`` (created when absent); returns the deck.

    Args:
        name: the deck (:func:`check_name`).
        page: the page's URL path (``"Ranking"``, ``"/Ranking"``, ``""`` or ``"home"`` for Home).
        params: the page's URL query parameters (:func:`clean_params` keeps the storable part).
        title: an optional caption of the slide (at most 200 characters).

    Raises:
        DeckError: invalid name, unknown page, unstorable parameters, or a full deck.
    """
    check_name(name)
    view = DeckView(page=check_page(page), params=clean_params(params), title=str(title or "")[:200],
                    added=time.time())
    return _update(name, lambda d: d.views.append(view))


def add_url(name: str, url: str, *, title: str = "") -> Deck:
    """:func:`add_view` from a dashboard URL (:func:`parse_view_url`).

    Raises:
        DeckError: see :func:`add_view` and :func:`parse_view_url`.
    """
    check_name(name)
    page, params = parse_view_url(url)
    return add_view(name, page, params, title=title)


def remove_view(name: str, number: int) -> Deck:
    """Remove slide ``number`` (1-based, as :func:`load_deck` order and ``deck show`` number them).

    Raises:
        DeckError: no such deck, or ``number`` outside 1..len(deck).
    """
    load_deck(name)

    def change(deck: Deck) -> None:
        if not isinstance(number, int) or not 1 <= number <= len(deck.views):
            raise DeckError(f"Deck {name!r} has no slide {number}.",
                            fix=f"give a number from 1 to {len(deck.views)} (python -m core deck show {name}).")
        deck.views.pop(number - 1)

    return _update(name, change)


def delete_deck(name: str) -> bool:
    """Delete deck ``name``; True when it existed.

    Raises:
        DeckError: invalid name.
    """
    path = deck_path(name)
    existed = path.is_file()
    path.unlink(missing_ok=True)
    return existed
