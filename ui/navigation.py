"""The dashboard's pages for ``st.navigation``: a "Home" page plus every script in ``app_pages/``.

Pages are discovered at every run (a page file added by another feature appears at once) and keep
the URL paths of Streamlit's numbered-pages convention (``app_pages/2_Alignment.py`` -> ``/Alignment``),
so existing deep links keep working. The same order drives presenter mode's next/previous page.

The folder is ``app_pages/``, not ``pages/``: with a ``pages/`` folder beside ``app.py``, Streamlit
falls back to its v1 multipage mode until some session opens Home, so a fresh server's deep link
ran the page script without ``app.py`` (no Home, "app" in the navigation, no presenter routing).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.paths import REPO_ROOT

PAGES_DIR = REPO_ROOT / "app_pages"
#: Material icons of the known pages (a new page gets the default).
ICONS = {"Home": ":material/home:", "Corpora": ":material/library_books:", "Alignment": ":material/grid_on:",
         "Ranking": ":material/bar_chart:", "Mix": ":material/tune:", "Fine-tune": ":material/model_training:",
         "Alignment_vs_perplexity": ":material/scatter_plot:", "Which_metric_predicts": ":material/leaderboard:",
         "Select": ":material/checklist:"}
DEFAULT_ICON = ":material/article:"
_NUMBERED = re.compile(r"^(\d+)[_ -]*(.*)$")


@dataclass(frozen=True)
class PageInfo:
    """One page: ``path`` (script, None for Home), ``url_path`` ("" for Home), ``title``, ``icon``."""

    path: Path | None
    url_path: str
    title: str
    icon: str


def _sort_key(path: Path) -> tuple:
    m = _NUMBERED.match(path.stem)
    return (int(m.group(1)), m.group(2)) if m else (10 ** 6, path.stem)


def url_of(path: str | Path) -> str:
    """The URL path of page script ``path`` (``app_pages/2_Alignment.py`` -> ``"Alignment"``)."""
    stem = Path(path).stem
    m = _NUMBERED.match(stem)
    return (m.group(2) if m else stem) or stem


def page_infos(pages_dir: Path = PAGES_DIR) -> list[PageInfo]:
    """Home, then every ``app_pages/*.py`` in the order of its number prefix (then name)."""
    out = [PageInfo(None, "", "Home", ICONS["Home"])]
    for path in sorted(pages_dir.glob("*.py"), key=_sort_key):
        if path.name.startswith("_"):
            continue
        url = url_of(path)
        out.append(PageInfo(path, url, url.replace("_", " "), ICONS.get(url, DEFAULT_ICON)))
    return out


def neighbours(url_path: str, infos: list[PageInfo] | None = None) -> tuple[PageInfo | None, PageInfo | None]:
    """The pages before and after ``url_path`` (None at either end or when unknown)."""
    infos = infos if infos is not None else page_infos()
    urls = [p.url_path for p in infos]
    if url_path not in urls:
        return None, None
    i = urls.index(url_path)
    return (infos[i - 1] if i > 0 else None), (infos[i + 1] if i + 1 < len(infos) else None)
