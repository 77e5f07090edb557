"""AlignScope dashboard: ``streamlit run app.py`` (or ./run.sh). The router: a "Home" page and every
script in ``app_pages/`` (:mod:`ui.navigation`); deep links such as ``/Alignment?target=...`` keep working.
In presenter mode (``?present=1``) the navigation is hidden and arrow keys move between pages."""
import streamlit as st

st.set_page_config(page_title="AlignScope", page_icon="🔭", layout="wide")

from ui.home import home  # noqa: E402
from ui.navigation import page_infos  # noqa: E402
from ui.state import get_view  # noqa: E402

pages, by_url = [], {}
for info in page_infos():
    page = (st.Page(home, title="Home", icon=info.icon, url_path="home", default=True) if info.path is None
            else st.Page(str(info.path), title=info.title, icon=info.icon, url_path=info.url_path))
    pages.append(page)
    by_url[info.url_path] = page
st.session_state["_pages"] = {"Home": by_url[""], **{k: v for k, v in by_url.items() if k}}
st.navigation(pages, position="hidden" if get_view().present else "sidebar").run()
