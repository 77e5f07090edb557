"""The grid figure: alignment (x) vs held-out cross-entropy (y, nats/token), colour = evaluation corpus.

One marker per (training corpus, evaluation corpus) pair at the seed mean, with the seeds' range as
an error bar; the marker's symbol is the training corpus; the OLS line of all pairs; the title gives
r^2 with its nested-bootstrap 95% CI (:mod:`core.pretrain.stats`) beside the paper's 0.8.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    import plotly.graph_objects as go

SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x")


def grid_figure(results: Mapping, report: Mapping, *, metric: str | None = None) -> "go.Figure":
    """A ``plotly.graph_objects.Figure`` of one metric's grid (default ``t2v-head``, else the first measured)."""
    import numpy as np
    import plotly.graph_objects as go

    from core.charts import base_layout
    from core.errors import AlignScopeError
    from core.pretrain.grid import metric_values

    names = list(report["metrics"])
    if not names:
        raise AlignScopeError("The grid has no metric values yet.", fix="run python -m core pretrain grid run --metrics-only.")
    metric = metric or ("t2v-head" if "t2v-head" in names else names[0])
    if metric not in report["metrics"]:
        raise AlignScopeError(f"Metric {metric!r} was not measured on this grid.", fix=f"use one of: {', '.join(names)}.")
    vals = metric_values(results, metric)
    trains = list(dict.fromkeys(t["train"] for t in report["table"]))
    fig = go.Figure()
    for e in dict.fromkeys(t["eval"] for t in report["table"]):
        rows = [t for t in report["table"] if t["eval"] == e and (t["train"], e) in vals]
        fig.add_trace(go.Scatter(
            x=[vals[(t["train"], e)] for t in rows], y=[t["nats_mean"] for t in rows], mode="markers", name=e,
            marker=dict(size=14, symbol=[SYMBOLS[trains.index(t["train"]) % len(SYMBOLS)] for t in rows]),
            error_y=dict(type="data", symmetric=False, array=[max(t["nats"]) - t["nats_mean"] for t in rows],
                         arrayminus=[t["nats_mean"] - min(t["nats"]) for t in rows]),
            text=[f"train {t['train']}" for t in rows], hovertemplate="%{text}<br>eval " + e + "<br>x %{x:.3f}<br>%{y:.3f} nats/token"))
    row = report["metrics"][metric]["all"]
    if np.isfinite(row.get("slope", float("nan"))):
        xs = np.array([min(vals.values()), max(vals.values())])
        fig.add_trace(go.Scatter(x=xs, y=row["intercept"] + row["slope"] * xs, mode="lines", name="OLS fit",
                                 line=dict(color="#444", dash="dash")))
    ci = row.get("r2_ci")
    ci_text = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
    fig.update_layout(**base_layout(f"Pre-training grid: {metric} vs held-out cross-entropy: r² {row['r2']:.2f}{ci_text}"
                                    f" (paper: {report['paper_r2']})", height=600))
    fig.update_xaxes(title=f"alignment ({metric}) of training and evaluation corpus")
    fig.update_yaxes(title="held-out cross-entropy (nats/token)")
    return fig
