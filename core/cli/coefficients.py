"""``python -m core embed|diversity|align``: Task2Vec embeddings and the coefficients built on them."""
from __future__ import annotations

import argparse
import time
from typing import Any

from core.clikit.common import command_parser, embedding_parents, emit, fmt_coefficient, json_parent, \
    settings_from_args, split

EMBED_EPILOG = """
  python -m core embed --corpus proofnet,wikipedia
  python -m core embed --corpus proofnet --num-batches 10 --batch-size 32 --precision fp32
"""
DIVERSITY_EPILOG = """
  python -m core diversity --corpus proofnet,wikipedia
  python -m core diversity --corpus metamath --estimator reference --estimator-param epochs=3 --json
"""
ALIGN_EPILOG = """
  python -m core align --target proofnet --sources metamath,wikipedia
  python -m core align --target proofnet --sources coq-stdlib,metamath --num-batches 10 --json
"""


def cmd_embed(args: argparse.Namespace) -> int:
    """Compute (or read from the cache) the batch embeddings of ``--corpus``; returns the exit code."""
    from core.pipeline import embed_corpora

    settings = settings_from_args(args)
    res = embed_corpora(split(args.corpus, "--corpus"), settings, progress=not args.json)
    payload = {n: {"batches": len(e.batch_indices), "dim": int(e.embeddings.shape[1]), "computed": e.computed,
                   "cached": e.cached, "computed_by_other": e.computed_by_other, "seconds": round(e.seconds, 3),
                   "tokens": e.tokens, "precision": e.precision}
               for n, e in res.items()}
    emit(args, {"settings": settings.to_dict(), "corpora": payload},
         "\n".join(f"{n}: {p['batches']} batches x {p['dim']} (computed {p['computed']}, cached {p['cached']}, "
                   f"computed by another process {p['computed_by_other']}, {p['seconds']} s)"
                   for n, p in payload.items()))
    return 0


def cmd_diversity(args: argparse.Namespace) -> int:
    """Diversity coefficient (95% CI) of each ``--corpus``; returns the exit code."""
    from core.coefficients import diversity_coefficient
    from core.errors import AlignScopeError
    from core.pipeline import embed_corpora

    settings = settings_from_args(args)
    res = embed_corpora(split(args.corpus, "--corpus"), settings, progress=not args.json)
    out = {}
    for n, e in res.items():
        if len(e.embeddings) < 2:
            raise AlignScopeError(f"Diversity of {n!r} needs at least 2 batches.", fix="pass --num-batches 3 or more.")
        out[n] = diversity_coefficient(e.embeddings).to_dict()
    precision = next(iter(res.values())).precision if res else None
    emit(args, {"settings": settings.to_dict(), "precision": precision, "diversity": out},
         "\n".join(f"{n:20s} diversity {fmt_coefficient(c)}" for n, c in out.items()))
    return 0


def cmd_align(args: argparse.Namespace) -> int:
    """Alignment of each ``--sources`` corpus with ``--target``, ranked; returns the exit code."""
    from core.pipeline import align

    settings = settings_from_args(args)
    t0 = time.perf_counter()
    res = align(args.target, split(args.sources, "--sources"), settings, progress=not args.json)
    seconds = time.perf_counter() - t0
    emb = res["embedded"]
    payload = {"target": res["target"], "settings": res["settings"], "precision": res["precision"],
               "seconds": round(seconds, 3), "ranking": res["ranking"],
               "diversity": {n: res["matrix"].diversity[n].to_dict() for n in res["matrix"].names},
               "computed_batches": sum(e.computed for e in emb.values()),
               "cached_batches": sum(e.cached for e in emb.values()),
               "computed_by_other_batches": sum(e.computed_by_other for e in emb.values())}
    lines = [f"alignment with target {res['target']} ({settings.estimator}, {settings.model}, "
             f"{settings.batch.num_batches} x {settings.batch.batch_size} x {settings.batch.seq_len} tokens):"]
    for r in res["ranking"]:
        lines.append(f"{r['rank']:2d}. {r['source']:20s} "
                     f"{fmt_coefficient({'value': r['alignment'], 'ci_low': r['ci_low'], 'ci_high': r['ci_high']})}"
                     f"  diversity {r['diversity'] if r['diversity'] is None else round(r['diversity'], 4)}")
    lines.append(f"({payload['computed_batches']} batch embeddings computed, {payload['cached_batches']} from cache, "
                 f"{payload['computed_by_other_batches']} computed by another process meanwhile, {seconds:.1f} s)")
    emit(args, payload, "\n".join(lines))
    return 0


def add_commands(sub: Any) -> None:
    """Add ``embed``, ``diversity`` and ``align`` to the ``python -m core`` parser."""
    for name, func, helptext, epilog in (("embed", cmd_embed, "compute or read cached batch embeddings", EMBED_EPILOG),
                                         ("diversity", cmd_diversity, "diversity coefficient of corpora",
                                          DIVERSITY_EPILOG)):
        p = command_parser(sub, name, help=helptext, epilog=epilog, parents=[*embedding_parents(), json_parent()])
        p.add_argument("--corpus", required=True, help="comma-separated corpus names")
        p.set_defaults(func=func)

    p = command_parser(sub, "align", help="alignment of sources with a target benchmark, ranked", epilog=ALIGN_EPILOG,
                       parents=[*embedding_parents(), json_parent()])
    p.add_argument("--target", required=True, help="target benchmark corpus (e.g. proofnet)")
    p.add_argument("--sources", required=True, help="comma-separated corpus names")
    p.set_defaults(func=cmd_align)
