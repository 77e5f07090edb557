"""A design's results file -> a summary dict (values with 95% CIs), text lines and a plotly figure.

Kinds (:func:`kinds_summary`), per variant:

- alignment: every measured metric (value and its CI from the metric, ``core.metrics``), and the
  runner's own Task2Vec alignment column;
- fine-tuned outcomes (``text-ppl``: held-out perplexity, ``af-nll``: NLL of the formal statement given
  the informal one, nats/token): the seeds pooled problem by problem
  (:func:`core.designs.outcomes.pool_seeds`) with a 95% bootstrap CI over the target's problems, the
  per-seed values with their Student-t interval (:func:`core.validation.stats.seed_ci`), the base model's value;
- in-context ``af-nll`` (:mod:`core.icl`), pooled the same way, with the zero-shot value;
- ``paired - unpaired``: for each outcome, the difference of the pooled results with a **paired**
  bootstrap over problems (:meth:`core.outcomes.base.OutcomeResult.paired_difference`: each resample
  draws the same problems for both), the per-seed differences, and the relative difference
  ``(unpaired - paired) / paired`` beside the alignment paper's AF-split numbers (Chawla et al.: 21.7%
  lower alignment, 38.2% higher perplexity for the unpaired data).

Where a run has only its row's summary (no stored per-problem arrays), the pooled CI falls back to
the seeds' Student-t interval and the entry says ``"ci_from": "seeds"``.

Budget (:func:`budget_summary`): per source and outcome, the curve's cells (tokens, seed mean, seed CI,
pooled problem-bootstrap CI) and the answer of :func:`core.designs.budget_curves.match_tokens` for
every other source against the reference (the design's, else the source most aligned by ``t2v-head``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from core.errors import AlignScopeError

if TYPE_CHECKING:
    import plotly.graph_objects as go

#: The alignment paper's AF-split result (unpaired relative to paired), for the report.
PAPER_AF_SPLIT = {"alignment": -0.217, "perplexity": +0.382,
                  "source": "Chawla et al., 'Quantifying the Importance of Data Alignment in Downstream Model "
                            "Performance': AF-split had 21.7% lower alignment and 38.2% higher perplexity than AF"}
#: The paper's size-vs-alignment result.
PAPER_SIZE = ("Chawla et al.: a small aligned dataset (1.4k tokens) beat a larger misaligned one (4.1k tokens) by 53% "
              "in perplexity reduction")
DEFAULT_METRIC = "t2v-head"


def load_results(path: str | Path) -> dict:
    """A design results file.

    Raises:
        AlignScopeError: missing, not JSON, or not a design results file.
    """
    p = Path(path)
    try:
        res = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise AlignScopeError(f"Cannot read design results {str(p)!r}: {exc}.",
                              fix="give a file written by python -m core design run.") from None
    if not isinstance(res, dict) or res.get("design") not in ("kinds", "budget") or "runs" not in res:
        raise AlignScopeError(f"{str(p)!r} is not a design results file.", fix="give a file written by python -m core design run.")
    return res


def _finite(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _metric_table(res: Mapping) -> dict[str, dict[str, dict]]:
    """point -> metric -> {value, ci_low, ci_high}."""
    out: dict[str, dict[str, dict]] = {}
    for m in res.get("metrics") or []:
        out.setdefault(m["point"], {})[m["metric"]] = {"value": m["value"], "ci_low": m.get("ci_low"),
                                                       "ci_high": m.get("ci_high")}
    return out


def _outcome_entry(runs: list[dict], name: str) -> tuple[dict | None, object | None]:
    """The pooled entry of outcome ``name`` over ``runs`` (done runs of one point) and the pooled
    :class:`OutcomeResult` (None when a run lacks per-problem arrays)."""
    from core.designs.outcomes import pool_seeds
    from core.outcomes.base import OutcomeResult
    from core.validation.stats import seed_ci

    have = [r for r in runs if (r.get("outcomes") or {}).get(name)]
    if not have:
        return None, None
    per_seed = [float(r["outcomes"][name]["value"]) for r in have]
    mean, lo, hi = seed_ci(per_seed)
    entry = {"seeds": len(have), "per_seed": per_seed, "seed_mean": mean, "seed_ci": [lo, hi],
             "before": have[0]["outcomes"][name].get("before"), "unit": have[0]["outcomes"][name].get("unit")}
    pooled = None
    if all((r.get("per_problem") or {}).get(name) for r in have):
        pooled = pool_seeds([OutcomeResult.from_dict(r["per_problem"][name]) for r in have])
        entry.update(value=pooled.value, ci=list(pooled.ci), n=pooled.n, ci_from="problems")
    else:
        entry.update(value=mean, ci=[lo, hi], n=have[0]["outcomes"][name].get("n"), ci_from="seeds")
    return entry, pooled


def _difference(a, b, runs_a: list[dict], runs_b: list[dict], name: str, *, key=None) -> dict | None:
    """``a - b`` (pooled OutcomeResults, paired bootstrap over problems) with per-seed differences."""
    from core.validation.stats import seed_ci

    out: dict = {}
    if a is not None and b is not None:
        d = a.paired_difference(b)
        out.update(d.to_dict())
        out["relative"] = -d.difference / d.value_a if d.value_a else None     # (b - a) / a
    va = {r["seed"]: float(r["outcomes"][name]["value"]) for r in runs_a if (r.get("outcomes") or {}).get(name)}
    vb = {r["seed"]: float(r["outcomes"][name]["value"]) for r in runs_b if (r.get("outcomes") or {}).get(name)}
    seeds = sorted(set(va) & set(vb))
    if not seeds and not out:
        return None
    diffs = [va[s] - vb[s] for s in seeds]
    m, lo, hi = seed_ci(diffs)
    out.update(per_seed=diffs, seeds=seeds, seed_mean=m, seed_ci=[lo, hi])
    if "difference" not in out and seeds:
        mb = float(np.mean([vb[s] for s in seeds]))
        out.update(difference=m, ci=[lo, hi], ci_from="seeds", value_a=float(np.mean([va[s] for s in seeds])), value_b=mb,
                   relative=-m / out["value_a"] if out["value_a"] else None)
    elif "difference" in out:
        out["ci_from"] = "problems"
    return out


def kinds_summary(res: Mapping) -> dict:
    """The kinds design's summary (module docstring)."""
    from core.icl.result import IclResult

    plan = res["plan"]
    kinds = list(plan["kinds"])
    table = _metric_table(res)
    derived = res.get("derived") or {}
    variants: dict[str, dict] = {}
    pooled: dict[tuple[str, str], object] = {}
    runs_of: dict[str, list[dict]] = {}
    for kind in kinds:
        corpus = (derived.get("corpora") or {}).get(kind)
        runs = [r for r in res["runs"] if r["point"] == kind and r["status"] == "done"]
        runs_of[f"finetune/{kind}"] = runs
        v = {"corpus": corpus, "tokens": (derived.get("tokens") or {}).get(kind),
             "derived_from_target": (res.get("sources") or {}).get(corpus, {}).get("derived_from_target"),
             "alignment": table.get(kind, {}), "runs": len(runs),
             "runs_failed": len([r for r in res["runs"] if r["point"] == kind and r["status"] != "done"]),
             "runner_alignment": _finite(np.mean([r["alignment"] for r in runs if r.get("alignment") is not None]))
             if any(r.get("alignment") is not None for r in runs) else None,
             "finetune": {}, "icl": {}}
        for name in plan.get("outcomes") or []:
            e, p = _outcome_entry(runs, name)
            if e is not None:
                v["finetune"][name] = e
                pooled[(f"finetune/{name}", kind)] = p
        icl = [IclResult.from_dict(e["result"]) for e in res.get("icl") or [] if e["point"] == kind and e["status"] == "done"]
        if icl:
            from core.designs.outcomes import pool_seeds
            from core.validation.stats import seed_ci

            on, zero = pool_seeds([r.to_outcome() for r in icl]), pool_seeds([r.to_outcome("zero-shot") for r in icl])
            gain = zero.paired_difference(on)
            per_seed = [r.af_nll for r in icl]
            m, lo, hi = seed_ci(per_seed)
            v["icl"]["af-nll"] = {"value": on.value, "ci": list(on.ci), "n": on.n, "ci_from": "problems",
                                  "seeds": len(icl), "per_seed": per_seed, "seed_mean": m, "seed_ci": [lo, hi],
                                  "zero_shot": zero.value, "gain": gain.difference, "gain_ci": list(gain.ci),
                                  "unit": on.unit, "k": icl[0].k, "selector": icl[0].selector,
                                  "fitted_mean": float(np.mean([r.fitted.mean() for r in icl])), "pool_kind": icl[0].pool.get("kind")}
            pooled[("icl/af-nll", kind)] = on
            runs_of[f"icl/{kind}"] = [{"seed": r.seed, "outcomes": {"af-nll": {"value": r.af_nll}}} for r in icl]
        variants[kind] = v
    diff = {}
    if "paired" in variants and "unpaired" in variants:
        for axis in sorted({a for a, _ in pooled}):
            cond, name = axis.split("/")
            d = _difference(pooled.get((axis, "paired")), pooled.get((axis, "unpaired")),
                            runs_of.get(f"{cond}/paired", []), runs_of.get(f"{cond}/unpaired", []), name)
            if d is not None:
                diff[axis] = d
        for metric in sorted(set(table.get("paired", {})) & set(table.get("unpaired", {}))):
            a, b = table["paired"][metric]["value"], table["unpaired"][metric]["value"]
            diff[f"alignment/{metric}"] = {"value_a": a, "value_b": b, "difference": a - b,
                                          "relative": (b - a) / a if a else None,
                                          "ci_a": [table["paired"][metric]["ci_low"], table["paired"][metric]["ci_high"]],
                                          "ci_b": [table["unpaired"][metric]["ci_low"], table["unpaired"][metric]["ci_high"]]}
    return {"design": "kinds", "source": plan["source"], "target": res["target"], "model": res["model"],
            "budget_tokens": plan["regime"]["budget_tokens"], "seeds": list(plan["regime"]["seeds"]), "kinds": kinds,
            "variants": variants, "paired_minus_unpaired": diff, "paper": PAPER_AF_SPLIT,
            "notes": ["a = paired, b = unpaired; difference = a - b; relative = (b - a) / a (the paper's 'unpaired vs paired')",
                      "no Lean type-check: af-nll is a likelihood of the reference formal statement, not a proof check"]}


# -- budget -----------------------------------------------------------------------------------------
def _curves(res: Mapping, name: str, *, n_boot: int, seed: int) -> tuple[dict, bool]:
    """source -> :class:`~core.designs.budget_curves.Curve` of outcome ``name``; problem draws attached
    when every done run has per-problem arrays (then also True)."""
    from core.designs.budget_curves import Curve
    from core.designs.outcomes import problem_draws, problem_indices
    from core.outcomes.base import OutcomeResult

    plan = res["plan"]
    done = [r for r in res["runs"] if r["status"] == "done" and (r.get("outcomes") or {}).get(name)]
    full = bool(done) and all((r.get("per_problem") or {}).get(name) for r in done)
    draws: dict[str, np.ndarray] = {}
    direction = "lower"
    if done:
        direction = done[0]["outcomes"][name].get("direction") or "lower"
    if full and n_boot > 0:
        results = {r["run_id"]: OutcomeResult.from_dict(r["per_problem"][name]) for r in done}
        ids = [p for p in next(iter(results.values())).problem_ids if all(p in set(x.problem_ids) for x in results.values())]
        idx = problem_indices(len(ids), n_boot=n_boot, seed=seed)
        draws = {rid: problem_draws(x, idx, ids) for rid, x in results.items()}
    curves = {}
    for s in plan["sources"]:
        cells = {}
        for r in done:
            if r["point"] == s:
                cells.setdefault(int(r["budget_tokens"]), []).append(r)
        budgets = sorted(cells)
        if not budgets:
            continue
        seeds = [np.array([float(r["outcomes"][name]["value"]) for r in cells[b]]) for b in budgets]
        d = [np.stack([draws[r["run_id"]] for r in cells[b]]) for b in budgets] if draws else None
        curves[s] = Curve(s, np.array(budgets, dtype=float), seeds, direction=direction, draws=d)
    return curves, bool(draws)


def budget_summary(res: Mapping, *, reference: str | None = None, tokens: float | None = None,
                   others: list[str] | None = None, n_boot: int = 2000, seed: int = 0) -> dict:
    """The budget design's summary (module docstring).

    Args:
        reference: source A (default: the design's, else the most aligned by ``t2v-head``, else the first source).
        tokens: A's tokens N (default the design's ``reference_tokens``).  others: the B sources (default all others).
        n_boot: bootstrap resamples.  seed: their seed.

    Raises:
        AlignScopeError: a reference or other source that is not one of the design's sources.
    """
    from core.designs.budget_curves import curve_table, match_tokens

    plan = res["plan"]
    sources = list(plan["sources"])
    table = _metric_table(res)
    ref = reference or plan.get("reference") or _most_aligned(sources, table)
    for s in [ref, *(others or [])]:
        if s not in sources:
            raise AlignScopeError(f"Source {s!r} is not one of the design's sources ({', '.join(sources)}).",
                                  fix="name one of them.")
    n_tokens = float(tokens or plan.get("reference_tokens") or 4000)
    out_sources = {s: {"alignment": table.get(s, {}), "tokens": (res.get("sizes") or {}).get(s),
                       "derived_from_target": (res.get("sources") or {}).get(s, {}).get("derived_from_target"),
                       "curves": {}} for s in sources}
    matches: dict[str, list[dict]] = {}
    for name in plan.get("outcomes") or []:
        curves, problem = _curves(res, name, n_boot=n_boot, seed=seed)
        for s, c in curves.items():
            out_sources[s]["curves"][name] = curve_table(c)
        if ref not in curves:
            continue
        rows = []
        for b in others or [s for s in sources if s != ref]:
            if b in curves:
                rows.append(match_tokens(curves[ref], curves[b], tokens=n_tokens, n_boot=n_boot, seed=seed).to_dict())
        matches[name] = rows
    return {"design": "budget", "target": res["target"], "model": res["model"], "budgets": list(plan["budgets"]),
            "seeds": list(plan["regime"]["seeds"]), "reference": ref, "reference_tokens": n_tokens,
            "sources": out_sources, "matches": matches, "skipped": res.get("skipped") or [], "paper": PAPER_SIZE,
            "notes": ["curves piecewise linear in log2(tokens); answers outside the measured budgets are flagged "
                      "'extrapolated'", "no Lean type-check: af-nll is a likelihood, not a proof check"]}


def _most_aligned(sources: list[str], table: dict) -> str:
    vals = {s: table.get(s, {}).get(DEFAULT_METRIC, {}).get("value") for s in sources}
    known = {s: v for s, v in vals.items() if v is not None}
    return max(known, key=known.get) if known else sources[0]


def summary(res: Mapping, **kw: Any) -> dict:
    """:func:`kinds_summary` or :func:`budget_summary` by the results file's design."""
    return kinds_summary(res) if res["design"] == "kinds" else budget_summary(res, **kw)


# -- text ---------------------------------------------------------------------------------------------
def _ci(ci) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "[n/a]"
    return f"[{_num(ci[0])}, {_num(ci[1])}]"


def _num(v) -> str:
    if v is None:
        return "n/a"
    if v == "inf" or (isinstance(v, float) and math.isinf(v)):
        return "inf"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4f}"


def summary_lines(s: Mapping) -> list[str]:
    """Plain-text lines of a summary."""
    if s["design"] == "kinds":
        out = [f"kinds of {s['source']} -> {s['target']} ({s['budget_tokens']:,} tokens, seeds {s['seeds']})"]
        for k, v in s["variants"].items():
            al = v["alignment"].get(DEFAULT_METRIC)
            line = f"  {k:14s} {v['tokens'] or 0:>7,} tok  {DEFAULT_METRIC} " + (
                f"{al['value']:.4f} {_ci([al['ci_low'], al['ci_high']])}" if al else "n/a")
            for name, e in v["finetune"].items():
                line += f"  ft {name} {e['value']:.4f} {_ci(e['ci'])}"
            if v["icl"]:
                e = v["icl"]["af-nll"]
                line += f"  icl af-nll {e['value']:.4f} {_ci(e['ci'])}"
            out.append(line)
        for axis, d in s["paired_minus_unpaired"].items():
            rel = d.get("relative")
            out.append(f"  paired - unpaired {axis}: {d['difference']:+.4f} {_ci(d.get('ci') or [None, None])}"
                       + (f" (unpaired {100 * rel:+.1f}% vs paired)" if rel is not None else ""))
        out.append(f"  paper: {s['paper']['source']}")
        return out
    out = [f"budget curves -> {s['target']} (budgets {s['budgets']}, seeds {s['seeds']}; reference {s['reference']})"]
    for src, v in s["sources"].items():
        al = v["alignment"].get(DEFAULT_METRIC)
        out.append(f"  {src} ({v['tokens'] or 0:,} tokens; {DEFAULT_METRIC} {al['value']:.4f})" if al else f"  {src}")
        for name, rows in v["curves"].items():
            out.append(f"    {name}: " + ", ".join(f"{r['tokens']:,.0f}: {r['mean']:.4f}" for r in rows))
    for name, rows in s["matches"].items():
        for m in rows:
            out.append(f"  {name}: {m['note']}")
    for sk in s["skipped"]:
        out.append(f"  skipped {sk['source']} at {sk['budget']:,} tokens (it has {sk['tokens']:,})")
    return out


# -- figures ------------------------------------------------------------------------------------------
def kinds_figure(s: Mapping) -> go.Figure:
    """A plotly figure of a kinds summary: one panel per axis (alignment, each fine-tuned outcome,
    in-context af-nll), one bar per variant with its 95% CI."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    kinds = list(s["variants"])
    panels = [("alignment", DEFAULT_METRIC, f"alignment ({DEFAULT_METRIC}, higher = more aligned)")]
    names = sorted({n for v in s["variants"].values() for n in v["finetune"]})
    panels += [("finetune", n, f"fine-tuned {n} (lower is better)") for n in names]
    if any(v["icl"] for v in s["variants"].values()):
        panels.append(("icl", "af-nll", "in-context af-nll (lower is better)"))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[2] for p in panels])
    for c, (what, name, _) in enumerate(panels, start=1):
        ys, lo, hi = [], [], []
        for k in kinds:
            v = s["variants"][k]
            if what == "alignment":
                e = v["alignment"].get(name) or {}
                y, ci = e.get("value"), [e.get("ci_low"), e.get("ci_high")]
            else:
                e = v[what].get(name) or {}
                y, ci = e.get("value"), e.get("ci") or [None, None]
            ys.append(y)
            lo.append(None if y is None or ci[0] is None else y - ci[0])
            hi.append(None if y is None or ci[1] is None else ci[1] - y)
        fig.add_trace(go.Bar(x=kinds, y=ys, name=name, showlegend=False,
                             error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo)), row=1, col=c)
    fig.update_layout(title=f"Data kinds from {s['source']} ({s['budget_tokens']:,} tokens, {len(s['seeds'])} seeds): "
                            "95% CIs", bargap=0.3)
    return fig


def budget_figure(s: Mapping, outcome: str | None = None) -> go.Figure:
    """A plotly figure of a budget summary: ``outcome`` vs training tokens (log axis), one line per
    source with seed CIs, the reference level and each matched budget marked."""
    import plotly.graph_objects as go

    outcome = outcome or next(iter(s["matches"]), None) or "text-ppl"
    fig = go.Figure()
    for src, v in s["sources"].items():
        rows = v["curves"].get(outcome) or []
        if not rows:
            continue
        x = [r["tokens"] for r in rows]
        y = [r["mean"] for r in rows]
        lo = [None if r["ci_low"] is None else r["mean"] - r["ci_low"] for r in rows]
        hi = [None if r["ci_high"] is None else r["ci_high"] - r["mean"] for r in rows]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=src,
                                 error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo)))
    for m in s["matches"].get(outcome) or []:
        if isinstance(m["tokens"], float) and math.isfinite(m["tokens"]):
            fig.add_trace(go.Scatter(x=[m["tokens"]], y=[m["level"]], mode="markers", marker_symbol="x",
                                     marker_size=12, name=f"{m['other']} matching {m['reference_tokens']:,.0f} of "
                                                          f"{m['reference']}" + (" (extrapolated)" if m["extrapolated"] else "")))
        fig.add_hline(y=m["level"], line_dash="dot", opacity=0.4)
    fig.update_xaxes(type="log", title="training tokens")
    fig.update_yaxes(title=outcome)
    fig.update_layout(title=f"{outcome} vs training tokens per source (seed 95% CIs)")
    return fig


def figure(s: Mapping, **kw: Any) -> go.Figure:
    """:func:`kinds_figure` or :func:`budget_figure` by the summary's design."""
    return kinds_figure(s) if s["design"] == "kinds" else budget_figure(s, **kw)
