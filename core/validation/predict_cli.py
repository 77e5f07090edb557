"""``python -m core predict``: the outcome the lab predicts for a source, with a calibrated interval
(:mod:`core.validation.predict`)."""
from __future__ import annotations

import argparse
from typing import Any

from core.clikit.common import command_parser, device_parent, emit, json_parent
from core.errors import AlignScopeError

PREDICT_EPILOG = """
  python -m core predict --target proofnet --source champ
  python -m core predict --target proofnet --source champ --metric t2v-head --json
  python -m core predict --target proofnet --source metamath --condition finetune --outcome af-nll
  python -m core predict --target proofnet --source my-notes --with-derived --results docs/results/validation.json
"""


def predict_source(source: str, *, target: str, results_path: str | None = None, condition: str = "finetune",
                   outcome: str = "text-ppl", metric: str | None = None, regime: str | None = None,
                   with_derived: bool = False, cached_only: bool = False) -> dict:
    """Score ``source`` with the chosen metric (cached) and predict its outcome from the lab.

    Returns:
        :meth:`core.validation.predict.Prediction.to_dict` plus ``source``, ``target``, ``results``
        (the lab file), ``measured`` (the lab's mean outcome when ``source`` is a lab source, which
        is then left out of the fit, else None), ``metric_ci`` and ``metric_cached``; with ``cached_only`` and no cached metric
        value, ``{"source", "metric", "value": None, "missing": True}``.

    Raises:
        AlignScopeError: no lab results, a lab for another target, the source is the target's test split,
            unknown condition/outcome/metric/regime (all checked before the metric is computed).
    """
    from core.corpora.benchmarks import BENCHMARKS
    from core.metrics import get_metric
    from core.validation.predict import fit_predictor
    from core.validation.report import PRODUCE_HINT, load_results, results_path as default_path

    path = results_path or default_path()
    if path is None:
        raise AlignScopeError("No validation lab results to predict from.", fix=PRODUCE_HINT)
    results = load_results(path)
    if results.get("target") not in (target, *BENCHMARKS.get(target, (target, ()))[1]):
        raise AlignScopeError(f"The lab results {path} are for target {results.get('target')!r}, not {target!r}.",
                              fix=f"pass --target {results.get('target')} or --results of a lab run for {target}.")
    forbidden = BENCHMARKS.get(target, (target, (target,)))[1]
    if source in forbidden:
        raise AlignScopeError(f"Source {source!r} holds the test split of target {target!r}.",
                              fix="predict for a source disjoint from the target's held-out split.")
    pred = fit_predictor(results, condition=condition, outcome=outcome, regime=regime, metric=metric,
                         exclude_derived=not with_derived, leave_out=source)
    value = get_metric(pred.metric).score(source, target, cached_only=cached_only)
    if value is None:
        return {"source": source, "metric": pred.metric, "value": None, "missing": True}
    out = pred.predict(value.value).to_dict()
    if pred.measured is not None:      # a lab source: predicted from the others, beside what the lab measured
        inside = out["low"] <= pred.measured <= out["high"]
        out["note"] = "; ".join(filter(None, [out.get("note"), (
            f"{source} is a lab source: left out of the fit; the lab measured {pred.measured:.4g} "
            f"({'inside' if inside else 'outside'} the interval)")]))
    return {**out, "source": source, "target": target, "results": str(path), "measured": pred.measured,
            "metric_ci": [value.ci_low, value.ci_high], "metric_cached": value.cached}


def ranking_predictions(sources: list[str], *, target: str, results_path: str | None = None,
                        condition: str = "finetune", outcome: str = "text-ppl", with_derived: bool = False,
                        metric: str | None = None) -> dict:
    """``{source: prediction dict | None}`` for a ranking table, from cached metric values only (no
    metric is computed: a source whose value is not cached gets None, as does every source when
    there are no lab results for ``target``). One metric for all rows: ``metric``, else the lab
    leaderboard's first (:func:`core.validation.predict.leaderboard_metric`); each lab source is left out of its own fit
    (:func:`predict_source`).
    """
    from core.validation.predict import fit_predictor
    from core.validation.report import load_results, results_path as default_path

    path = results_path or default_path()
    try:
        if path is None:
            return {s: None for s in sources}
        metric = fit_predictor(load_results(path), condition=condition, outcome=outcome, metric=metric,
                               exclude_derived=not with_derived).metric
    except AlignScopeError:
        return {s: None for s in sources}
    out: dict = {}
    for s in sources:
        try:
            p = predict_source(s, target=target, results_path=str(path), condition=condition, outcome=outcome,
                               metric=metric, with_derived=with_derived, cached_only=True)
        except AlignScopeError:                  # e.g. the target's own split, another target's lab
            p = None
        out[s] = None if p is None or p.get("missing") else p
    return out


def prediction_cell(p: dict | None) -> str:
    """A ranking table's cell: ``"28.1 [25.3, 30.9] (sbert)"``, ``"extrapolates"`` appended when the
    metric value is outside the lab's range, the interval alone when the point is refused, ``""`` for None."""
    if p is None:
        return ""
    ival = f"[{p['low']:.3g}, {p['high']:.3g}]"
    head = f"{p['value']:.3g} {ival}" if p["value"] is not None else f"no point estimate, {ival}"
    return f"{head} ({p['metric']})" + (", extrapolates" if p["extrapolates"] else "")


def prediction_text(p: dict) -> str:
    """One paragraph for the terminal."""
    unit = "nats/token" if p["outcome"].endswith("nll") else "perplexity"
    from core.validation.axes import CONDITION_WORDS

    head = (f"{p['source']}: {p['metric']} = {p['metric_value']:.4f}; predicted {p['outcome']} "
            f"{CONDITION_WORDS.get(p['condition'], p['condition'])} ({p['regime']}): ")
    head += (f"{p['value']:.2f}" if p["value"] is not None else "no point estimate (too far outside the lab's range)")
    head += f", {p['level']:.1%} interval [{p['low']:.2f}, {p['high']:.2f}] {unit}"
    fit = (f"\nfit on {p['n']} lab sources ({'target-derived excluded' if p['exclude_derived'] else 'all'}): "
           f"slope {p['slope']:.3g}, r² {p['r2']:.2f}; leave-one-source-out coverage "
           + (f"{p['coverage']:.0%}" if p["coverage"] is not None else "n/a"))
    return head + fit + (f"\nnote: {p['note']}" if p["note"] else "")


def cmd_predict(args: argparse.Namespace) -> int:
    """``predict``: prints the prediction (JSON with ``--json``); exit 2 on bad input."""
    p = predict_source(args.source, target=args.target, results_path=args.results, condition=args.condition,
                       outcome=args.outcome, metric=args.metric, regime=args.regime, with_derived=args.with_derived)
    emit(args, p, prediction_text(p))
    return 0


def add_commands(sub: Any) -> None:
    """Add ``predict`` to the ``python -m core`` parser."""
    from core.validation.axes import CONDITIONS, LAB_OUTCOMES

    p = command_parser(sub, "predict", epilog=PREDICT_EPILOG, parents=[device_parent(), json_parent()],
                       help="the outcome the validation lab predicts for a source, with a calibrated interval")
    p.add_argument("--source", required=True, help="the source corpus to predict for")
    p.add_argument("--target", default="proofnet", help="target benchmark (default proofnet)")
    p.add_argument("--condition", default="finetune", choices=CONDITIONS, help="fine-tuning or in-context (default finetune)")
    p.add_argument("--outcome", default="text-ppl", choices=LAB_OUTCOMES, help="outcome to predict (default text-ppl)")
    p.add_argument("--metric", default=None, help="alignment metric (default: the one the lab's leaderboard ranks first)")
    p.add_argument("--regime", default=None, help="lab regime (default 4k)")
    p.add_argument("--results", default=None, help="lab results file (default docs/results/validation.json)")
    p.add_argument("--with-derived", action="store_true",
                   help="fit on target-derived sources too (default: without them, as a new source is not derived)")
    p.set_defaults(func=cmd_predict)
