"""Plotly figures of the dashboard and their exports (PNG, SVG, HTML, CSV). No streamlit here.

This package only re-exports: the look (:mod:`.style`), the figures (:mod:`.figures`), the
exports (:mod:`.export`) and presenter mode (:mod:`.presenter`); the heatmap's ordering is maths
and lives in :mod:`core.ordering`. Every name keeps its old ``core.charts`` import path.
"""
from core.charts.export import (ensure_browser, figure_html, figure_image, frame_csv, rows_csv, save_figure,
                                static_export_available)
from core.charts.figures import (before_after_figure, corpora_figure, distance_histogram_figure,
                                 embedding_map_figure, heatmap_figure, leaderboard_figure, matrix_frame,
                                 matrix_records_frame, ranking_figure)
from core.charts.presenter import PRESENT_BG, PRESENT_COLOURS, PRESENT_FG, PRESENT_MIN_FONT, presenter_figure
from core.charts.style import (ACCENT, ALIGN_SCALE, BASE_FONT, DIAGONAL_COLOUR, DOMAIN_COLOURS, FONT_FAMILY,
                               base_layout, dashboard_style)
from core.ordering import cluster_order, order_names
# Private helpers that other modules and tests import from here.
from core.charts.export import _CHROMIUM  # noqa: F401
from core.charts.figures import _mark_tie_groups  # noqa: F401
from core.charts.presenter import _FONT_KEYS, _present_walk  # noqa: F401
from core.charts.style import _ci, _esc, _fmt  # noqa: F401

__all__ = ["ACCENT", "ALIGN_SCALE", "BASE_FONT", "DIAGONAL_COLOUR", "DOMAIN_COLOURS", "FONT_FAMILY", "PRESENT_BG",
           "PRESENT_COLOURS", "PRESENT_FG", "PRESENT_MIN_FONT", "base_layout", "before_after_figure",
           "cluster_order", "corpora_figure", "dashboard_style", "distance_histogram_figure", "embedding_map_figure",
           "ensure_browser", "figure_html", "figure_image", "frame_csv", "heatmap_figure", "leaderboard_figure",
           "matrix_frame", "matrix_records_frame", "order_names", "presenter_figure", "ranking_figure", "rows_csv",
           "save_figure", "static_export_available"]
