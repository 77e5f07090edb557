"""One-click report of an analysis: a self-contained HTML file (plotly.js inlined, no network) and a
PDF through Chromium's print. Pure engine (no streamlit): :func:`collect` reads caches only,
:func:`render_html` lays it out, :func:`html_to_pdf` prints it. CLI: ``python -m core report``.
"""
from core.report.collect import ReportData, collect
from core.report.html import render_html
from core.report.pdf import html_to_pdf

__all__ = ["ReportData", "collect", "render_html", "html_to_pdf"]
