"""The report as one self-contained HTML file: plotly.js inlined once (about 4.6 MB), every figure an
interactive plotly div, every table plain HTML, every name escaped. Opens offline, prints to PDF
(:mod:`core.report.pdf`); a print stylesheet keeps figures whole on a page.
"""
from __future__ import annotations

import html
import math

from core.report.collect import ReportData

#: Width (CSS px) figures are drawn at: fits an A4 landscape page printed by Chromium.
FIGURE_WIDTH = 1000

CSS = """
body { font-family: Inter, 'Source Sans Pro', 'Helvetica Neue', Arial, sans-serif; color: #1a1a1a; margin: 24px auto;
       max-width: 1060px; font-size: 16px; line-height: 1.45; }
h1 { font-size: 30px; margin-bottom: 4px; } h2 { font-size: 22px; border-bottom: 2px solid #1f4e79; padding-bottom: 3px;
     margin-top: 34px; } h3 { font-size: 18px; }
table { border-collapse: collapse; margin: 8px 0 14px 0; font-size: 14px; }
th, td { border: 1px solid #ccd4e0; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #e9eef5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #7a4b00; background: #fff6e0; border-left: 4px solid #e0a000; padding: 6px 10px; margin: 6px 0; }
.caption { color: #555; font-size: 14px; } .figure { margin: 10px 0 18px 0; break-inside: avoid; page-break-inside: avoid; }
pre { font-size: 13px; white-space: pre-wrap; background: #f5f7fa; padding: 6px 10px; }
section { break-inside: auto; } .cover { break-after: page; page-break-after: always; }
@media print { body { margin: 0 auto; } h2 { break-after: avoid; page-break-after: avoid; } }
"""


def _e(v) -> str:
    return html.escape(str(v), quote=True)


def _num(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}" if isinstance(v, float) else _e(v)


def _table(headers: list[str], rows: list[list], *, numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td class='num'>{_num(c)}</td>" if k in numeric else f"<td>{_e(c)}</td>"
                                    for k, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: Tallest figure (CSS px): fits one A4 landscape page with its heading.
FIGURE_HEIGHT = 620


def _figure(fig, name: str, *, width: int = FIGURE_WIDTH, height: int = FIGURE_HEIGHT) -> str:
    if not (fig.layout.width and fig.layout.width <= width):
        fig.update_layout(width=width)
    if not fig.layout.height or fig.layout.height > height:
        fig.update_layout(height=height)
    div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{name}",
                      config={"displaylogo": False, "responsive": False})
    return f"<div class='figure' data-figure='{_e(name)}'>{div}</div>"


def _ci(c: dict | None) -> str:
    if not c:
        return "n/a"
    if c.get("ci_low") is None or c.get("ci_high") is None:
        return f"{_num(c.get('value'))} (95% CI n/a)"
    return f"{_num(c.get('value'))} (95% CI {_num(c['ci_low'])}–{_num(c['ci_high'])})"


def render_html(data: ReportData, *, title: str | None = None) -> str:
    """The report of ``data`` as one HTML document (str), self-contained: no request leaves the file.

    Sections: cover (target, candidates, settings, provenance, notes), heatmap, ranking (figure and
    table with tie groups), chosen mixture (predicted and verified alignment), alignment vs
    perplexity (fit and before -> after), validation-lab leaderboard, then one section per other
    design with committed results (data kinds, budget curves, pre-training grid). A section whose data
    is absent says so. Figures carry ``data-figure`` attributes (heatmap, ranking, mixture, avp,
    before_after, leaderboard, design-kinds, design-budget, design-pretrain) so tests and readers can
    find them.
    """
    import plotly.offline

    t = title or f"AlignScope report · target {data.target}"
    parts = [*_cover(data, t), *_heatmap_and_ranking(data), *_mixture(data), *_finetune(data), *_lab(data), *_designs(data)]
    js = plotly.offline.get_plotlyjs()
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_e(t)}</title><style>{CSS}</style><script type='text/javascript'>{js}</script></head>"
            f"<body>{''.join(parts)}</body></html>")


def _cover(data: ReportData, t: str) -> list[str]:
    """The cover: target, candidates, settings, provenance, notes."""
    from core.views import settings_caption

    s = data.settings.to_dict()
    parts = [f"<div class='cover'><h1>{_e(t)}</h1>",
             f"<p><b>Target benchmark:</b> {_e(data.target)}<br><b>Candidates ({len(data.candidates)}):</b> "
             f"{_e(', '.join(data.candidates) or '(none)')}</p>",
             "<h3>Settings</h3>", f"<p>{_e(settings_caption(data.settings))}</p>",
             _table(["setting", "value"], [[k, v] for k, v in s.items()]),
             "<h3>Provenance</h3>",
             _table(["item", "value"], [["created (UTC)", data.provenance.get("created")],
                                        ["code commit", data.provenance.get("commit")],
                                        ["python", data.provenance.get("python")],
                                        ["cache", data.provenance.get("cache")]]),
             _table(["corpus", "content fingerprint"],
                    [[n, f or "(unavailable)"] for n, f in (data.provenance.get("corpora") or {}).items()]),
             "<p class='caption'>Alignment coefficient = 1 − mean Task2Vec distance over all batch pairs (Chawla, "
             "Miranda et al., eq. 1); diversity coefficient = mean distance between a corpus' own batches (Lee, "
             "Miranda et al. 2023). 95% CIs: delete-one-batch jackknife, t interval.</p>"]
    parts += [f"<p class='note'>{_e(n)}</p>" for n in data.notes]
    parts.append("</div>")
    return parts


def _section(title: str, body: list[str] | None, *, empty: str) -> list[str]:
    """One ``<section>``: its heading, then ``body``, or the note ``empty`` where there is no body."""
    return [f"<section><h2>{_e(title)}</h2>", *(body or [f"<p class='note'>{_e(empty)}</p>"]), "</section>"]


def _heatmap_and_ranking(data: ReportData) -> list[str]:
    """The heatmap section and the ranking section (figure and table with tie groups)."""
    from core import charts
    from core.views import settings_caption

    heatmap = ranking = None
    if data.matrix is not None:
        heatmap = [_figure(charts.heatmap_figure(data.matrix, target=data.target,
                                                 subtitle=settings_caption(data.settings)), "heatmap")]
    if data.ranking:
        ranking = [_figure(charts.ranking_figure(data.ranking, target=data.target,
                                                 subtitle=settings_caption(data.settings)), "ranking"),
                   _table(["rank", "source", "alignment", "95% CI low", "95% CI high", "diversity", "batches"],
                          [[r["ranks"], r["source"], r["alignment"], r["ci_low"], r["ci_high"], r["diversity"],
                            r["batches"]] for r in data.ranking], numeric={2, 3, 4, 5}),
                   "<p class='caption'>Sources sharing a rank range (e.g. 2–3) are not significantly different: "
                   "paired delete-one-batch jackknife of the difference of their alignments with the target, "
                   "two-sided 5%.</p>"]
    return [*_section("Alignment heatmap", heatmap,
                      empty="No heatmap: fewer than two corpora have cached embeddings."),
            *_section("Ranking", ranking, empty="No ranking: the target's embeddings are not cached.")]


def _mixture(data: ReportData) -> list[str]:
    """The chosen mixture: predicted and verified coefficients, token contributions."""
    body, m = None, data.mixture
    if m:
        from core.mixture.charts import contribution_figure

        single = {r["source"]: r["alignment"] for r in data.ranking}
        pred, ver = m.get("predicted") or {}, m.get("verified") or {}
        body = [f"<p><b>{_e(m['name'])}</b>, budget {m['budget_tokens']:,} tokens.</p>",
                _table(["coefficient", "predicted (95% CI)", "verified on real mixed batches (95% CI)"],
                       [[k, _ci(pred.get(k)), _ci(ver.get(k)) if ver else "not verified yet"]
                        for k in ("alignment", "diversity")]),
                _figure(contribution_figure(m["weights"], m["budget_tokens"], alignment=single), "mixture")]
    return _section("Chosen mixture", body, empty="No saved mixture for this target.")


def _finetune(data: ReportData) -> list[str]:
    """Alignment vs perplexity after fine-tuning (fit, before -> after)."""
    body = None
    if data.runs:
        from core import charts
        from core.finetune import plots

        body = [f"<p class='caption'>{_e(data.run_group)}</p>",
                _figure(plots.alignment_figure_styled(data.runs, target=data.target), "avp"),
                _figure(charts.before_after_figure(data.runs, target=data.target), "before_after")]
    return _section("Alignment vs perplexity after fine-tuning", body,
                    empty="No finished fine-tune runs on this target.")


def _lab(data: ReportData) -> list[str]:
    """The validation lab's leaderboard, its verdict, and one verdict line per (condition, outcome)."""
    body = None
    if data.leaderboard:
        from core import charts
        from core.validation.figures import leaderboard_table

        df = leaderboard_table(data.leaderboard)
        body = [f"<p><b>{_e(data.lab.get('verdict', ''))}</b></p>",
                _figure(charts.leaderboard_figure(data.leaderboard,
                                                  title=f"r² with perplexity after fine-tuning · regime "
                                                        f"{_e(data.lab.get('regime'))}"), "leaderboard"),
                _table(list(df.columns), df.values.tolist()),
                f"<p class='caption'>From {_e(data.lab.get('path'))}.</p>"]
        body += [f"<p><b>{_e(a['label'])}:</b> {_e(a['verdict'])} "
                 f"<span class='caption'>({_e(a['path'].rsplit('/', 1)[-1])})</span></p>" for a in data.lab_axes]
    return _section("Which metric predicts fine-tuning? (validation lab)", body,
                    empty="No validation-lab results file (python -m core validate run).")


def _designs(data: ReportData) -> list[str]:
    """One section per design with committed results: its summary lines (CIs, the paper's number) and figure."""
    if not data.designs:
        return _section("The lab's other designs", None,
                        empty="No committed results of the data-kinds, budget or pre-training designs "
                              "(python -m core design run, python -m core pretrain grid run).")
    parts: list[str] = []
    for d in data.designs:
        body = [f"<p class='note'>{_e(d.error)}</p>"] if d.error else [
            f"<pre>{_e(chr(10).join(d.lines))}</pre>",
            *([_figure(d.figure, f"design-{d.name}")] if d.figure is not None else []),
            *([f"<p class='note'>{_e(d.note)}</p>"] if d.note else []),
            f"<p class='caption'>From {_e(d.path.name)} ({d.runs} finished runs).</p>"]
        parts += _section(d.title, body, empty="")
    return parts
