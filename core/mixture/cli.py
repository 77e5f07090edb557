"""``python -m core mix ...``: predict, suggest, save, list, show, export and verify mixtures.

Examples::

    python -m core mix predict --target proofnet --weights coq-stdlib=0.5,metamath=0.3,wikipedia=0.2
    python -m core mix suggest --target proofnet --sources proofnet-valid,coq-stdlib,metamath,python-docstrings,wikipedia \\
        --cap 0.6 --save best-proofnet --budget 2000000
    python -m core mix save lean-heavy --weights proofnet-valid=0.7,coq-stdlib=0.3 --budget 1000000 --target proofnet
    python -m core mix export best-proofnet --out data/best-proofnet.jsonl
    python -m core mix verify best-proofnet            # or --weights ... --target ...
"""
from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import Any

from core.clikit.args import check_output, seed
from core.clikit.common import (command_parser, embedding_parents, emit as _emit, fmt_coefficient, json_parent,
                             model_parent, settings_from_args as _settings, split as _split)

_fmt = partial(fmt_coefficient, no_ci="[n/a]")


def _parse_weights(text: str) -> dict[str, float]:
    """``--weights a=0.5,b=0.5`` -> ``{"a": 0.5, "b": 0.5}``: the one list parser first
    (:func:`core.clikit.args.parse_list`: no empty item), then each source named once (``news=1,news=2``
    is refused, not the last value winning), then :func:`core.mixture.model.parse_weights`.

    Raises:
        AlignScopeError: naming ``--weights``.
    """
    from core.clikit.args import check_unique, parse_list
    from core.mixture.model import parse_weights

    items = parse_list(text, option="--weights", unique=False, allow_none=False, example="coq-stdlib=0.6,metamath=0.4")
    check_unique([i.replace(":", "=").partition("=")[0].strip() for i in items], option="--weights", value=text)
    return parse_weights(text)


def _check_roles(weights: dict, target: str | None) -> None:
    """Refuse, at save time, a source that is a target benchmark's held-out split (domain ``target
    benchmark``, e.g. ``proofnet``) and a target that is also one of the sources.

    Raises:
        AlignScopeError: naming the source and the fix.
    """
    from core.corpora import get_corpus
    from core.errors import AlignScopeError

    if target and target in weights:
        raise AlignScopeError(f"--target {target!r} is also a source of the mixture: it would be trained on the "
                              "benchmark it is evaluated on.", fix=f"remove {target} from --weights, or pick another --target.")
    for name in weights:
        spec = get_corpus(name).spec
        if spec.domain == "target benchmark":
            raise AlignScopeError(f"--weights source {name!r} is a target benchmark's held-out split (domain 'target "
                                  "benchmark'): a mixture trains on its sources.",
                                  fix="use a disjoint split as the source (e.g. proofnet-valid), not the test split.")


def _weights_and_target(args):
    from core.errors import AlignScopeError
    from core.mixture.model import load_mixture

    if getattr(args, "name", None):
        m = load_mixture(args.name)
        return m.weights, args.target or m.target, m
    if not args.weights:
        raise AlignScopeError("No mixture given.", fix="pass a saved mixture NAME or --weights a=0.5,b=0.5.")
    return _parse_weights(args.weights), args.target, None


def _need_target(target):
    from core.errors import AlignScopeError

    if not target:
        raise AlignScopeError("No target benchmark given.", fix="pass --target proofnet (or save the mixture with --target).")
    return target


def _load(target, sources, settings, args):
    """load_source_set, embedding what is missing first when ``--compute-missing`` is given."""
    from core.mixture.predict import MissingEmbeddingsError, load_source_set

    try:
        return load_source_set(target, sources, settings)
    except MissingEmbeddingsError as exc:
        if not args.compute_missing or exc.unavailable:
            raise
        from core.pipeline import embed_corpora

        embed_corpora(exc.missing, settings, progress=not args.json)
        return load_source_set(target, sources, settings)


def cmd_predict(args: argparse.Namespace) -> int:
    """``mix predict``: predicted alignment and diversity of a mix; returns the exit code."""
    from core.mixture.model import Mixture
    from core.mixture.predict import predict_mixture, single_source_alignments

    weights, target, _ = _weights_and_target(args)
    target = _need_target(target)
    Mixture("check", weights, 1, target=target)  # validates names and weights
    settings = _settings(args)
    ss = _load(target, [s for s, w in weights.items() if w > 0], settings, args)
    p = predict_mixture(ss, weights, noise=args.noise)
    best = single_source_alignments(ss)[0]
    payload = {"target": target, **p.to_dict(), "best_single_source": best, "settings": settings.to_dict()}
    lines = [f"mixture {', '.join(f'{s} {w:.1%}' for s, w in p.weights.items())}",
             f"predicted alignment with {target}: {_fmt(p.alignment.to_dict())}",
             f"predicted diversity:            {_fmt(p.diversity.to_dict())}"]
    if p.bracket:
        lines.append(f"sub-batch bracket (M3): alignment >= {p.bracket['alignment']:.4f}, "
                     f"diversity <= {p.bracket['diversity']:.4f}")
    lines.append(f"best single source: {best['source']} alignment {_fmt({'value': best['alignment'], 'ci_low': best['ci_low'], 'ci_high': best['ci_high']})}")
    _emit(args, payload, "\n".join(lines))
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    """``mix suggest``: the weights maximising predicted alignment (optionally saved); returns the exit code."""
    from core.mixture.model import Mixture, save_mixture
    from core.mixture.optimise import suggest_mix

    target = _need_target(args.target)
    sources = _split(args.sources, "--sources")
    if target in sources:
        from core.errors import AlignScopeError

        raise AlignScopeError(f"--sources names the target {target!r}.", fix="leave the target out of --sources.")
    if args.save:
        from core.mixture.model import Mixture as _M

        _M(args.save, {s: 1.0 for s in sources} or {"": 1.0}, max(1, args.budget), target=target)   # the name, first
    Mixture("check", {s: 1.0 for s in sources} or {"": 1.0}, 1, target=target)
    settings = _settings(args)
    ss = _load(target, sources, settings, args)
    sug = suggest_mix(ss, min_diversity=args.min_diversity, cap=args.cap, restarts=args.restarts, noise=args.noise)
    payload = {"target": target, **sug.to_dict()}
    lines = [sug.message,
             f"predicted alignment {_fmt(sug.prediction.alignment.to_dict())}, diversity {_fmt(sug.prediction.diversity.to_dict())}"]
    if args.save:
        m = Mixture(args.save, {s: w for s, w in sug.weights.items() if w > 0}, args.budget, seed=args.mix_seed, target=target)
        path = save_mixture(m)
        payload["saved"] = str(path)
        lines.append(f"saved mixture {m.name!r} ({m.budget_tokens:,} tokens) to {path}")
    _emit(args, payload, "\n".join(lines))
    return 0


def feasibility_warnings(weights: dict[str, float], budget: int) -> list[str]:
    """The Mix page's budget check for the command line: one sentence per source whose share of
    ``budget`` (tokens) exceeds the tokens it holds (``w_s × budget > tokens_s``,
    :func:`core.views.mix_feasibility`), and one naming the sources whose token count is not cached
    yet (so not checked). Reads cached counts only; never counts."""
    from core.corpora import get_corpus
    from core.embedding import stats_key
    from core.errors import AlignScopeError
    from core.probe import DEFAULT_MODEL, load_probe
    from core.store import EmbeddingStore
    from core.views import mix_feasibility

    tokens: dict[str, int | None] = {s: None for s in weights}
    try:
        probe, store = load_probe(DEFAULT_MODEL, progress=False), EmbeddingStore()
        for s in weights:
            hit = store.get(stats_key(get_corpus(s), probe))
            tokens[s] = int(hit[1]["tokens"]) if hit is not None else None
    except AlignScopeError:
        pass
    rows = mix_feasibility(weights, budget, tokens)
    out = [f"infeasible at --budget {budget:,}: {r['source']} needs {r['needed']:,.0f} tokens but holds "
           f"{r['available']:,} (at most {r['max_share']:.1%} of the budget); lower its weight or the budget"
           for r in rows if r["feasible"] is False and r["share"] > 0]
    unknown = [r["source"] for r in rows if r["feasible"] is None and r["share"] > 0]
    if unknown:
        out.append(f"token counts not cached yet, so the budget is not checked for: {', '.join(unknown)} "
                   "(python -m core corpora count)")
    return out


def cmd_save(args: argparse.Namespace) -> int:
    """``mix save``: save a named mixture; returns the exit code. A budget that a source cannot fill
    is saved with a warning on stderr (and ``"warnings"`` in ``--json``), as the Mix page warns."""
    from core.mixture.model import Mixture, save_mixture

    weights = _parse_weights(args.weights)
    m = Mixture(args.name, weights, args.budget, seed=args.mix_seed, target=args.target)
    _check_roles(m.weights, m.target)
    path = save_mixture(m)              # refuses contaminated sources first: a refusal touches no cache
    warnings = feasibility_warnings(m.weights, m.budget_tokens)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    _emit(args, {"saved": str(path), **m.to_dict(), "warnings": warnings},
          f"saved mixture {m.name!r}: {', '.join(f'{s} {w:.1%}' for s, w in m.weights.items())}, "
          f"{m.budget_tokens:,} tokens, seed {m.seed} -> {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``mix list``: saved mixtures; returns the exit code."""
    from core.mixture.model import list_mixtures, load_mixture

    rows = []
    for n in list_mixtures():
        try:
            rows.append(load_mixture(n).to_dict())
        except Exception as exc:  # a damaged file should not hide the others
            rows.append({"name": n, "error": str(exc)})
    text = "\n".join(f"{r['name']:24s} " + (r.get("error") or f"{r['budget_tokens']:>12,} tokens  target {r.get('target')}  "
                     + ", ".join(f"{s} {w:.1%}" for s, w in r["weights"].items())) for r in rows) or "(no saved mixtures)"
    _emit(args, rows, text)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """``mix show``: one saved mixture with per-source token budgets; returns the exit code."""
    from core.mixture.model import load_mixture

    m = load_mixture(args.name)
    budgets = m.token_budgets()
    _emit(args, {**m.to_dict(), "token_budgets": budgets},
          f"{m.name}: target {m.target}, budget {m.budget_tokens:,} tokens, seed {m.seed}\n"
          + "\n".join(f"  {s:20s} {w:7.2%} {budgets[s]:>12,} tokens" for s, w in m.weights.items()))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``mix export``: materialise a saved mixture as JSONL with provenance; returns the exit code."""
    from core.mixture.model import load_mixture
    from core.mixture.sampling import materialize_with_report
    from core.probe import load_probe

    m = load_mixture(args.name)
    check_output(args.out if args.out is not None else f"{m.name}.jsonl", option="--out")   # before sampling
    tok = load_probe(args.model).tokenizer
    rep = materialize_with_report(m, tokenizer=tok, on_short="use_all" if args.allow_short else "error")
    from core.mixture.sampling import write_jsonl

    out = write_jsonl(rep.rows, args.out or f"{m.name}.jsonl")
    for w in rep.warnings:
        print(f"warning: {w}", file=sys.stderr)
    _emit(args, {"path": str(out), "rows": len(rep.rows), "tokens": rep.tokens, "total_tokens": rep.total_tokens,
                 "warnings": rep.warnings},
          f"wrote {len(rep.rows):,} rows, {rep.total_tokens:,} tokens to {out} ("
          + ", ".join(f"{s} {t:,}" for s, t in rep.tokens.items()) + ")")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """``mix verify``: embed real mixed batches and compare with the prediction; returns the exit code."""
    from core.mixture.verify import verify_mixture

    weights, target, _ = _weights_and_target(args)
    target = _need_target(target)
    settings = _settings(args)

    def progress(done, total, msg):
        if not args.json:
            print(f"  {done}/{total} {msg}", file=sys.stderr, flush=True)

    r = verify_mixture(weights, target, settings, seed=args.verify_seed, noise=args.noise, progress=progress)
    lines = [f"mixture {', '.join(f'{s} {w:.1%}' for s, w in r['weights'].items())} "
             f"(realised {', '.join(f'{s} {w:.1%}' for s, w in r['realised_weights'].items())}; "
             f"sequences/batch {r['sequences']})"]
    for what in ("alignment", "diversity"):
        if r["measured"].get(what):
            a = r["agreement"][what]
            lines.append(f"{what:9s} predicted {_fmt(r['predicted'][what])}  measured {_fmt(r['measured'][what])}  "
                         f"CIs overlap: {a['overlap']}  (sub-batch model {r['predicted_subbatch'][what]['value']:.4f})")
    lines.append(f"({r['computed']} mixed batches embedded, {r['cached']} cached, {r['seconds']:.1f} s)")
    _emit(args, r, "\n".join(lines))
    return 0


EPILOGS = {
    "predict": "  python -m core mix predict --target proofnet --weights coq-stdlib=0.5,metamath=0.3,wikipedia=0.2\n"
               "  python -m core mix predict best-proofnet --noise subbatch --json",
    "suggest": "  python -m core mix suggest --target proofnet --sources coq-stdlib,metamath,wikipedia --cap 0.6\n"
               "  python -m core mix suggest --target proofnet --sources coq-stdlib,metamath --save best --budget 2000000",
    "save": "  python -m core mix save lean-heavy --weights proofnet-valid=0.7,coq-stdlib=0.3 --budget 1000000 --target proofnet",
    "list": "  python -m core mix list --json",
    "show": "  python -m core mix show lean-heavy",
    "export": "  python -m core mix export best-proofnet --out data/best-proofnet.jsonl\n"
              "  python -m core mix export best-proofnet --allow-short",
    "verify": "  python -m core mix verify best-proofnet\n"
              "  python -m core mix verify --weights coq-stdlib=0.5,metamath=0.5 --target proofnet --json",
}


def add_commands(subparsers: Any) -> None:
    """Add ``mix`` with its subcommands to the core CLI."""
    from core.mixture.predict import DEFAULT_NOISE, NOISE_MODES

    p = command_parser(subparsers, "mix", help="fine-tuning mixtures: predict, suggest, save, export, verify",
                       epilog="\n".join(EPILOGS.values()))
    sub = p.add_subparsers(dest="mix_command", required=True)

    prediction = argparse.ArgumentParser(add_help=False)
    g = prediction.add_argument_group("prediction")
    g.add_argument("--noise", default=DEFAULT_NOISE, choices=NOISE_MODES,
                   help="prediction model: linear (M2, default) or subbatch (M3), see docs/mixture_prediction.md")
    g.add_argument("--compute-missing", action="store_true",
                   help="embed sources/target whose embeddings are not cached yet (else: error naming them)")
    computing = [*embedding_parents(), prediction, json_parent()]

    def command(name: str, helptext: str, parents: list) -> argparse.ArgumentParser:
        return command_parser(sub, name, help=helptext, epilog=EPILOGS[name], parents=parents)

    q = command("predict", "predicted alignment and diversity of a mix (cached embeddings only)", computing)
    q.add_argument("name", nargs="?", help="a saved mixture (or use --weights)")
    q.add_argument("--weights", help="source=share,... (normalised)")
    q.add_argument("--target", help="target benchmark (default: the saved mixture's)")
    q.set_defaults(func=cmd_predict)

    q = command("suggest", "weights maximising predicted alignment with the target", computing)
    q.add_argument("--target", required=True, help="target benchmark corpus (e.g. proofnet)")
    q.add_argument("--sources", required=True, help="comma-separated candidate sources")
    q.add_argument("--min-diversity", type=float, default=None, help="floor on predicted diversity")
    q.add_argument("--cap", type=float, default=None, help="max share of any one source (0-1)")
    q.add_argument("--restarts", type=int, default=4, help="random SLSQP restarts")
    q.add_argument("--save", metavar="NAME", help="save the suggested mix under this name")
    q.add_argument("--budget", type=int, default=1_000_000, help="token budget of the saved mix")
    q.add_argument("--mix-seed", type=seed, default=0, help="document sampling seed of the saved mix")
    q.set_defaults(func=cmd_suggest)

    q = command("save", "save a named mixture (weights, budget, seed) for export / fine-tuning", [json_parent()])
    q.add_argument("name", help="name of the mixture")
    q.add_argument("--weights", required=True, help="source=share,... (normalised)")
    q.add_argument("--budget", type=int, required=True, help="total tokens of the dataset")
    q.add_argument("--mix-seed", "--seed", dest="mix_seed", type=seed, default=0, help="document sampling seed")
    q.add_argument("--target", default=None, help="target benchmark the mixture is meant for")
    q.set_defaults(func=cmd_save)

    q = command("list", "saved mixtures", [json_parent()])
    q.set_defaults(func=cmd_list)

    q = command("show", "one saved mixture with per-source token budgets", [json_parent()])
    q.add_argument("name", help="name of a saved mixture")
    q.set_defaults(func=cmd_show)

    q = command("export", "materialise a saved mixture as JSONL with provenance",
                [model_parent(help="probe network whose tokenizer counts the tokens"), json_parent()])
    q.add_argument("name", help="name of a saved mixture")
    q.add_argument("--out", help="output .jsonl (default NAME.jsonl)")
    q.add_argument("--allow-short", action="store_true",
                   help="use all of a source that has fewer tokens than its share (warn) instead of failing")
    q.set_defaults(func=cmd_export)

    q = command("verify", "embed real mixed batches and compare measured with predicted", computing)
    q.add_argument("name", nargs="?", help="a saved mixture (or use --weights)")
    q.add_argument("--weights", help="source=share,... (normalised)")
    q.add_argument("--target", help="target benchmark (default: the saved mixture's)")
    q.add_argument("--verify-seed", type=int, default=0, help="seed of the mixed batches")
    q.set_defaults(func=cmd_verify)
