"""Presenter mode (``?present=1``): for a projector in a group meeting.

- The sidebar, header, toolbar and every control are hidden (CSS), and each page shows one chart
  that fills the viewport (:func:`slide`: a keyed container of ``100vh`` minus a title and a footer
  line, the chart at ``height="stretch"``), so 1280x720 and 1920x1080 both show it whole.
- High contrast: black background, white text, bright colours, chart fonts >= 20 px
  (:func:`core.charts.presenter_figure`).
- Next / previous page with the arrow keys, PageDown/PageUp (what presentation clickers send) or
  space; Esc leaves presenter mode (:func:`footer`: hidden page links clicked by a small key
  listener in a ``components.html`` frame).
- Never computes: slides read the cache only (:mod:`ui.slides`) and say what is missing.
- Decks (``?present=1&deck=NAME``): the arrow keys step through the deck's saved views instead of the
  pages (:mod:`ui.deck`), each shown as the deck's export shows it.
"""
from __future__ import annotations

import json

import streamlit as st

from core.paths import REPO_ROOT
from core.views import md_escape, view_to_params

#: Folder page paths are relative to (the main script's).
PAGES_ROOT = REPO_ROOT

#: Pixels of the viewport's height left to the title line and the footer line.
CHROME_PX = 130

STYLE = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stStatusWidget"],
[data-testid="stSidebarNav"] { display: none !important; }
[data-testid="stApp"], [data-testid="stAppViewContainer"], [data-testid="stMain"] { background: #000 !important; }
[data-testid="stApp"] * { color: #fff; }
[data-testid="stMainBlockContainer"] { padding: 0.5rem 1.2rem 0 1.2rem !important; max-width: 100% !important; }
[data-testid="stMainBlockContainer"] > div > [data-testid="stVerticalBlock"] { gap: 0.35rem !important; }
.st-key-present_slide { height: calc(100vh - CHROME_PXpx) !important; flex: 0 0 auto !important; }
.st-key-present_title h1 { font-size: 34px !important; padding: 0 !important; line-height: 1.2 !important; }
.st-key-present_footer p, .st-key-present_footer a, .st-key-present_footer span { font-size: 20px !important; }
.st-key-present_footer [data-testid="stCaptionContainer"] p { white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; font-size: 18px !important; color: #ccc !important; }
.st-key-present_footer [data-testid="stPageLink"] p { white-space: nowrap; }
.st-key-present_footer [data-testid="stHorizontalBlock"] { align-items: center; }
.st-key-present_message p, .st-key-present_message li { font-size: 30px !important; line-height: 1.45 !important; }
.st-key-present_message h1 { font-size: 48px !important; }
.st-key-present_exit button { background: #222 !important; border-color: #888 !important; }
iframe[title="st.iframe"], .st-key-present_keys { height: 0 !important; min-height: 0 !important; }
</style>""".replace("CHROME_PX", str(CHROME_PX))

#: Key listener, installed once per browser tab in the dashboard's own window (a script element
#: added to the parent document, so it outlives the component frame that installs it): clicks the
#: footer's previous / next page links and the exit button.
KEYS_JS = """<script>
(function () {
  const doc = window.parent.document;
  if (doc.getElementById('alignscope-keys')) return;
  const s = doc.createElement('script');
  s.id = 'alignscope-keys';
  s.textContent = `(function () {
    const keys = KEYS;
    document.addEventListener('keydown', function (e) {
      if (e.target && /INPUT|TEXTAREA|SELECT/.test(e.target.tagName)) return;
      let sel = null;
      if (keys.next.includes(e.key)) sel = '.st-key-present_next a';
      else if (keys.prev.includes(e.key)) sel = '.st-key-present_prev a';
      else if (e.key === 'Escape') sel = '.st-key-present_exit button';
      if (!sel) return;
      const el = document.querySelector(sel);
      if (el) { e.preventDefault(); el.click(); }
    });
  })();`;
  doc.head.appendChild(s);
})();
</script>"""
NEXT_KEYS = ["ArrowRight", "ArrowDown", "PageDown", " ", "Enter"]
PREV_KEYS = ["ArrowLeft", "ArrowUp", "PageUp", "Backspace"]


def style() -> None:
    """Inject the presenter stylesheet (hidden chrome, black background, a viewport-sized slide)."""
    st.html(STYLE)


def _exit() -> None:
    from ui.state import set_view

    for k in ("deck", "slide"):                # leaving a deck: the page keeps the slide's view only
        try:
            if k in st.query_params:
                del st.query_params[k]
        except Exception:  # a bare script run without a browser session
            pass
    set_view(present=False)


def title(text: str) -> None:
    """The slide's one title line (escaped)."""
    with st.container(key="present_title"):
        st.title(md_escape(text), anchor=False)


def slide(fig, *, key: str) -> None:
    """Draw ``fig`` restyled for the projector (:func:`core.charts.presenter_figure`), filling the
    viewport below the title and above the footer."""
    from core.charts import presenter_figure

    with st.container(key="present_slide"):
        st.plotly_chart(presenter_figure(fig), theme=None, width="stretch", height="stretch", key=f"present_{key}",
                        config={"displayModeBar": False, "responsive": True})


def message(text: str, *, heading: str = "") -> None:
    """A large message instead of a chart (what is missing and how to get it; nothing is computed)."""
    with st.container(key="present_slide"):
        with st.container(key="present_message"):
            if heading:
                st.title(md_escape(heading), anchor=False)
            st.markdown(text)


def footer(note: str = "", *, links: dict | None = None, number: tuple[int, int] | None = None) -> None:
    """The footer line: previous / next page links (also behind the arrow keys), the page number,
    an optional note (e.g. the settings that produced the chart), and the Esc button.

    Args:
        note: the footer's text after the number.
        links: in a deck (:func:`ui.deck.present_deck`): ``{"prev"|"next": (page, label, query_params)}``
            instead of the neighbouring pages (a missing key: no link that way).
        number: ``(k, n)`` shown as ``k/n`` instead of the page's place among the pages.
    """
    import streamlit.components.v1 as components

    from ui.navigation import neighbours, page_infos
    from ui.state import get_view

    if links is None:
        infos = page_infos()
        current = st.session_state.get("present_page", "")
        prev, nxt = neighbours(current, infos)
        pages = st.session_state.get("_pages", {})
        qp = view_to_params(get_view())
        links = {}
        for name, info, label in (("prev", prev, "← {}"), ("next", nxt, "{} →")):
            if info is not None:
                target = pages.get("Home") if info.path is None else str(info.path.relative_to(PAGES_ROOT))
                links[name] = (target, label.format(info.title), qp)
        number = number or (next((k for k, p in enumerate(infos, 1) if p.url_path == current), 0), len(infos))
    with st.container(key="present_footer"):
        c = st.columns([2.4, 3, 6.2, 1.4], vertical_alignment="center")
        for col, name in ((c[0], "prev"), (c[1], "next")):
            with col.container(key=f"present_{name}"):
                if links.get(name) and links[name][0] is not None:
                    target, label, params = links[name]
                    st.page_link(target, label=label, query_params=params)
        k, n = number or (0, 0)
        c[2].caption(f"{k}/{n} · " + md_escape(note))
        with c[3].container(key="present_exit"):
            st.button("Esc: exit", key="present_exit_btn", on_click=_exit, help="Leave presenter mode")
    with st.container(key="present_keys"):
        components.html(KEYS_JS.replace("KEYS", json.dumps({"next": NEXT_KEYS, "prev": PREV_KEYS})), height=0)
