"""``python -m core deck list|show|add|remove|export``: decks of saved dashboard views for a talk.

Uses the public API of :mod:`core.deck` (storage), :mod:`core.deck_slides` (what each view shows)
and :mod:`core.deck_export` (the HTML/PDF hand-out).
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from core.clikit.common import command_parser, emit, json_parent
from core.errors import AlignScopeError

EPILOG = """
  python -m core deck list
  python -m core deck add talk --url '/Alignment?target=proofnet&candidates=coq-stdlib,metamath,news,wikipedia'
  python -m core deck add talk --url '/Ranking?target=proofnet&candidates=coq-stdlib,news&model=gpt2' --title 'another probe'
  python -m core deck add talk --url '/Which_metric_predicts?lab_tab=Scatter+per+metric&metric=sbert'
  python -m core deck show talk                    # numbered slides, with any problem of each
  python -m core deck remove talk 2
  python -m core deck export talk --out talk.html --pdf
  # present it: open http://localhost:8501/?present=1&deck=talk (arrow keys step through the slides)
"""


def _need_name(args: argparse.Namespace) -> str:
    if not args.name:
        raise AlignScopeError(f"deck {args.action} needs a deck NAME.", fix="see the decks: python -m core deck list")
    return args.name


def _list(args: argparse.Namespace) -> int:
    from core.deck import list_decks, load_deck

    rows = []
    for name in list_decks():
        try:
            d = load_deck(name)
            rows.append({"name": name, "slides": len(d.views), "updated": d.updated})
        except AlignScopeError as exc:
            rows.append({"name": name, "slides": None, "updated": None, "error": exc.what})
    lines = [f"{r['name']:30s} {r['slides'] if r['slides'] is not None else '?':>4} slides  "
             + (time.strftime("%Y-%m-%d %H:%M", time.localtime(r["updated"])) if r.get("updated") else r.get("error", ""))
             for r in rows]
    emit(args, rows, "\n".join(lines) if rows else "no decks (add one: python -m core deck add NAME --url '/Ranking?...')")
    return 0


def _show(args: argparse.Namespace) -> int:
    from core.deck import load_deck
    from core.deck_slides import view_problems

    deck = load_deck(_need_name(args))
    rows = []
    for k, v in enumerate(deck.views, 1):
        problems = view_problems(v)
        rows.append({"number": k, "page": v.page_title, "url": v.url(), "title": v.title, "problems": problems})
    lines = [f"deck {deck.name}: {len(rows)} slides (present: /?present=1&deck={deck.name})"]
    for r in rows:
        lines.append(f"{r['number']:>3}. {r['page']:24s} {r['url']}" + (f"  — {r['title']}" if r["title"] else ""))
        lines += [f"       problem: {p}" for p in r["problems"]]
    emit(args, {"name": deck.name, "slides": rows}, "\n".join(lines))
    return 0


def _add(args: argparse.Namespace) -> int:
    from core.deck import add_url

    name = _need_name(args)
    if not args.url:
        raise AlignScopeError("deck add needs the view's --url.",
                              fix="copy the address bar of the page, e.g. --url '/Ranking?target=proofnet&candidates=a,b'.")
    deck = add_url(name, args.url, title=args.title or "")
    v = deck.views[-1]
    emit(args, {"name": name, "number": len(deck.views), "page": v.page_title, "url": v.url()},
         f"added slide {len(deck.views)} to deck {name}: {v.page_title} {v.url()}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from core.deck import remove_view

    name = _need_name(args)
    if args.number is None:
        raise AlignScopeError("deck remove needs the slide NUMBER.", fix=f"see them: python -m core deck show {name}")
    try:
        number = int(args.number)
    except ValueError:
        raise AlignScopeError(f"Slide number {args.number!r} is not an integer.",
                              fix=f"see the numbers: python -m core deck show {name}") from None
    deck = remove_view(name, number)
    emit(args, {"name": name, "removed": number, "slides": len(deck.views)},
         f"removed slide {number} of deck {name} ({len(deck.views)} left)")
    return 0


def _export(args: argparse.Namespace) -> int:
    from core.deck_export import export_deck

    from core.clikit.args import check_output

    name = _need_name(args)
    out = str(check_output(args.out if args.out is not None else f"{name}.html", option="--out"))
    res = export_deck(name, out, pdf=args.pdf)
    lines = [f"wrote {res['html']} ({res['slides']} slides)" + (f" and {res['pdf']}" if res["pdf"] else "")]
    lines += [f"  slide {n}: {p}" for n, p in res["problems"].items()]
    emit(args, res, "\n".join(lines))
    return 0


def cmd_deck(args: argparse.Namespace) -> int:
    """List decks, show one, add or remove a view, or export one; returns the exit code."""
    return {"list": _list, "show": _show, "add": _add, "remove": _remove, "export": _export}[args.action](args)


def add_commands(sub: Any) -> None:
    """Add ``deck`` to the ``python -m core`` parser."""
    p = command_parser(sub, "deck", help="decks of saved dashboard views for a talk: list / show / add / remove / export",
                       epilog=EPILOG, parents=[json_parent()])
    p.add_argument("action", nargs="?", choices=["list", "show", "add", "remove", "export"], default="list",
                   help="what to do (default list)")
    p.add_argument("name", nargs="?", help="the deck (letters, digits, '_' and '-')")
    p.add_argument("number", nargs="?", help="remove: the slide number (1 is the first; see deck show)")
    p.add_argument("--url", help="add: the view's URL as the address bar shows it ('/Ranking?target=...'; the host "
                                 "may be included)")
    p.add_argument("--title", help="add: a caption for the slide")
    p.add_argument("--out", help="export: the HTML file to write (default NAME.html)")
    p.add_argument("--pdf", action="store_true", help="export: also print it to PDF beside the HTML (needs Chromium)")
    p.set_defaults(func=cmd_deck)
