"""A deck as a hand-out: one self-contained HTML file, one view per page, and its PDF.

Every view of the deck becomes one page: its slide (:func:`core.deck_slides.build_slide`: the figure
the page shows for that view, read from the caches), the slide's title, the speaker's note, the
caption naming what produced the figure and the view's URL. A view that cannot be drawn any more (a
corpus or setting that no longer exists, embeddings not cached) shows its problem in one line; the
other slides are unaffected. The HTML uses the report's stylesheet and figure sizes
(:mod:`core.report.html`), inlines plotly.js once (no request leaves the file) and prints to PDF
through :func:`core.report.html_to_pdf` (Chromium, A4 landscape, one slide per page).
"""
from __future__ import annotations

import html
from pathlib import Path

from core.deck import Deck, load_deck
from core.deck_slides import Slide, build_slides

#: Extra rules: a slide per printed page, the problem line.
DECK_CSS = """
section.slide { break-after: page; page-break-after: always; min-height: 90vh; }
section.slide:last-child { break-after: auto; page-break-after: auto; }
.problem { color: #8a1c1c; background: #fdecec; border-left: 4px solid #c62828; padding: 8px 12px; font-size: 18px; }
.url { color: #555; font-size: 13px; word-break: break-all; }
.number { color: #1f4e79; font-weight: 600; }
"""


def _e(v: object) -> str:
    return html.escape(str(v), quote=True)


def _figure_div(fig, name: str) -> str:
    from core.report.html import FIGURE_HEIGHT, FIGURE_WIDTH

    fig.update_layout(width=FIGURE_WIDTH, height=min(int(fig.layout.height or FIGURE_HEIGHT), FIGURE_HEIGHT))
    div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{name}",
                      config={"displaylogo": False, "responsive": False})
    return f"<div class='figure' data-figure='{_e(name)}'>{div}</div>"


def _slide_html(slide: Slide, total: int) -> str:
    head = (f"<h2><span class='number'>{slide.number}/{total}</span> · {_e(slide.title)}</h2>"
            f"<p class='caption'>{_e(slide.page_title)} page" + (f" · {_e(slide.note)}" if slide.note else "") + "</p>")
    if slide.problem:
        body = f"<p class='problem' data-problem='{slide.number}'>Slide {slide.number}: {_e(slide.problem)}.</p>"
    else:
        body = _figure_div(slide.figure, f"slide-{slide.number}")
        if slide.caption:
            body += f"<p class='caption'>{_e(slide.caption)}</p>"
    return (f"<section class='slide' data-slide='{slide.number}'>{head}{body}"
            f"<p class='url'>view: {_e(slide.url)}</p></section>")


def render_deck_html(deck: Deck, *, slides: list[Slide] | None = None) -> str:
    """The deck as one HTML document (str): a slide per page, each view as it looks (see the module
    docstring); ``slides`` defaults to :func:`core.deck_slides.build_slides` of its views."""
    import plotly.offline

    from core.report.html import CSS

    slides = build_slides(deck.views) if slides is None else slides
    title = f"AlignScope deck · {deck.name}"
    parts = [_slide_html(s, len(slides)) for s in slides] or ["<p class='note'>This deck has no slide.</p>"]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_e(title)}</title><style>{CSS}{DECK_CSS}</style>"
            f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script></head>"
            f"<body><h1>{_e(title)}</h1>{''.join(parts)}</body></html>")


def export_deck(name: str, out: str | Path, *, pdf: bool = False) -> dict:
    """Write deck ``name`` as HTML to ``out`` (atomically), and as PDF beside it with ``pdf``.

    Returns:
        ``{"html": path, "pdf": path | None, "slides": n, "problems": {number: line}}``.

    Raises:
        DeckError: no such deck or an unreadable deck file. AlignScopeError: the PDF cannot be printed
            (no Chromium or Playwright; the HTML is written first and stays).
    """
    from core.paths import atomic_write

    deck = load_deck(name)
    slides = build_slides(deck.views)
    out = Path(out)
    atomic_write(out, render_deck_html(deck, slides=slides))
    pdf_path = None
    if pdf:
        from core.report import html_to_pdf

        pdf_path = html_to_pdf(out, out.with_suffix(".pdf"))
    return {"html": str(out), "pdf": str(pdf_path) if pdf_path else None, "slides": len(slides),
            "problems": {s.number: s.problem for s in slides if s.problem}}
