"""AlignScope command line: ``python -m core <command>``.

Commands:
  corpora [list|install|add|remove|show]   the corpus registry (availability, documents, tokens, license)
  model prepare|info                       convert the embedded probe network / show its identity
  embed --corpus A,B                       compute (or read from cache) Task2Vec batch embeddings
  diversity --corpus A,B                   diversity coefficient of each corpus, with 95% CI
  align --target T --sources A,B,...       alignment coefficients with the target benchmark, ranked
  cache stats|clear                        the embedding cache under cache/

Every command takes ``--json``. Bad input exits with code 2 and one line naming the input and the fix.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

from core.errors import AlignScopeError

#: Modules exposing ``add_commands(subparsers)``; each subcommand sets ``func(args) -> int``.
CLI_EXTENSIONS = ("core.finetune.cli", "core.mixture.cli")


def _batch_args(p: argparse.ArgumentParser) -> None:
    from core.batches import BatchConfig
    from core.estimators import DEFAULT_ESTIMATOR
    from core.probe import DEFAULT_MODEL

    d = BatchConfig()
    g = p.add_argument_group("probe network, estimator and batches")
    g.add_argument("--model", default=DEFAULT_MODEL, help=f"probe network: {DEFAULT_MODEL} (embedded), hub id or folder")
    g.add_argument("--estimator", default=DEFAULT_ESTIMATOR, help="Task2Vec estimator (reference, closed_form_head, closed_form_blocks)")
    g.add_argument("--estimator-param", action="append", default=[], metavar="K=V", help="estimator hyperparameter, repeatable")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help=f"sequences per batch (default {d.batch_size}; reference 512)")
    g.add_argument("--seq-len", type=int, default=d.seq_len, help=f"tokens per sequence (default {d.seq_len})")
    g.add_argument("--num-batches", type=int, default=d.num_batches, help=f"batches per corpus (default {d.num_batches})")
    g.add_argument("--seed", type=int, default=d.seed, help="batch sampling seed")
    g.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")


def _settings(args):
    from core.batches import BatchConfig
    from core.estimators import parse_params
    from core.pipeline import EmbedSettings

    try:
        batch = BatchConfig(batch_size=args.batch_size, seq_len=args.seq_len, num_batches=args.num_batches, seed=args.seed)
    except ValueError as exc:
        raise AlignScopeError(str(exc), fix="pass positive --batch-size, --seq-len (>= 2) and --num-batches.") from exc
    params = tuple(sorted(parse_params(args.estimator_param).items()))
    return EmbedSettings(model=args.model, estimator=args.estimator, estimator_params=params, batch=batch, device=args.device)


def _split(value: str | None) -> list[str]:
    return [s.strip() for s in (value or "").split(",") if s.strip()]


def _emit(args, payload, text: str) -> None:
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(text)


def _fmt(c: dict) -> str:
    lo, hi = c.get("ci_low"), c.get("ci_high")
    ci = f"[{lo:.4f}, {hi:.4f}]" if lo is not None and hi is not None else "[n/a: too few batches]"
    return f"{c['value']:.4f} {ci}"


# -- commands ------------------------------------------------------------------------------------

def cmd_corpora(args) -> int:
    from core.corpora import CorpusSpec, get_corpus, install_demo_corpora, list_corpora, register_corpus, unregister_corpus

    action = args.action or "list"
    if action == "install":
        result = install_demo_corpora(args.names or None, progress=not args.json)
        _emit(args, result, "\n".join(f"{k:20s} {v}" for k, v in result.items()))
        return 0 if all(not v.startswith("not installed") for v in result.values()) or args.allow_missing else 1
    if action == "add":
        if not args.names:
            raise AlignScopeError("corpora add needs a NAME.", fix="python -m core corpora add NAME --path 'data/*.txt'")
        if bool(args.path) == bool(args.hf):
            raise AlignScopeError("corpora add needs exactly one of --path or --hf.",
                                  fix="give a local file/folder/glob with --path, or a dataset id with --hf.")
        spec = CorpusSpec(name=args.names[0], kind="files" if args.path else "hf", path=args.path, field=args.field,
                          template=args.template, hf_id=args.hf, hf_config=args.config, split=args.split,
                          domain=args.domain, description=args.description or "", license=args.license or "unknown",
                          source=args.path or args.hf)
        c = register_corpus(spec, overwrite=args.overwrite)
        _emit(args, {"added": c.name, "documents": len(c.documents())}, f"added {c.name}: {len(c.documents())} documents")
        return 0
    if action == "remove":
        for n in args.names:
            unregister_corpus(n)
        _emit(args, {"removed": args.names}, "removed " + ", ".join(args.names))
        return 0
    if action == "show":
        if not args.names:
            raise AlignScopeError("corpora show needs a NAME.", fix="python -m core corpora show proofnet")
        c = get_corpus(args.names[0])
        docs = c.documents()[: args.samples]
        _emit(args, [{"doc_id": d.doc_id, "text": d.text[:1000]} for d in docs],
              "\n\n".join(f"--- {d.doc_id}\n{d.text[:600]}" for d in docs))
        return 0
    from core.pipeline import corpus_stats

    rows = []
    for c in list_corpora():
        row = {"name": c.name, "kind": c.spec.kind, "domain": c.spec.domain, "available": c.available(),
               "documents": None, "tokens": None, "source": c.spec.source, "license": c.spec.license,
               "install": None if c.available() else c.install_hint()}
        if c.available() and not args.no_tokens:
            try:
                row.update(corpus_stats(c, model=args.model, progress=not args.json))
            except AlignScopeError as exc:
                row["error"] = str(exc)
        rows.append(row)
    lines = [f"{'name':20s} {'domain':16s} {'avail':5s} {'docs':>7s} {'tokens':>10s}  license / source"]
    for r in rows:
        size = (f"{r['documents'] or '':>7} {r['tokens'] or '':>10}" if r["available"] else f"{'-':>7} {'-':>10}")
        extra = f"{r['license']} / {r['source']}" if r["available"] else f"NOT INSTALLED: {r['install']}"
        lines.append(f"{r['name']:20s} {r['domain'][:16]:16s} {'yes' if r['available'] else 'no':5s} {size}  {extra}")
    _emit(args, rows, "\n".join(lines))
    return 0


def cmd_model(args) -> int:
    from core.probe import embedded_model_dir, load_probe

    if args.action == "prepare":
        folder = embedded_model_dir()
        _emit(args, {"folder": str(folder)}, f"embedded probe network ready in {folder}")
        return 0
    p = load_probe(args.model, device=args.device)
    info = {"name": p.name, "source": p.source_path, "fingerprint": p.fingerprint,
            "tokenizer_fingerprint": p.tokenizer_fingerprint, "device": str(p.device), **p.info}
    _emit(args, info, "\n".join(f"{k}: {v}" for k, v in info.items()))
    return 0


def cmd_embed(args) -> int:
    from core.pipeline import embed_corpora

    settings = _settings(args)
    res = embed_corpora(_split(args.corpus), settings, progress=not args.json)
    payload = {n: {"batches": len(e.batch_indices), "dim": int(e.embeddings.shape[1]), "computed": e.computed,
                   "cached": e.cached, "seconds": round(e.seconds, 3), "tokens": e.tokens} for n, e in res.items()}
    _emit(args, {"settings": settings.to_dict(), "corpora": payload},
          "\n".join(f"{n}: {p['batches']} batches x {p['dim']} (computed {p['computed']}, cached {p['cached']}, "
                    f"{p['seconds']} s)" for n, p in payload.items()))
    return 0


def cmd_diversity(args) -> int:
    from core.coefficients import diversity_coefficient
    from core.pipeline import embed_corpora

    settings = _settings(args)
    res = embed_corpora(_split(args.corpus), settings, progress=not args.json)
    out = {}
    for n, e in res.items():
        if len(e.embeddings) < 2:
            raise AlignScopeError(f"Diversity of {n!r} needs at least 2 batches.", fix="pass --num-batches 3 or more.")
        out[n] = diversity_coefficient(e.embeddings).to_dict()
    _emit(args, {"settings": settings.to_dict(), "diversity": out},
          "\n".join(f"{n:20s} diversity {_fmt(c)}" for n, c in out.items()))
    return 0


def cmd_align(args) -> int:
    from core.pipeline import align

    settings = _settings(args)
    t0 = time.perf_counter()
    res = align(args.target, _split(args.sources), settings, progress=not args.json)
    seconds = time.perf_counter() - t0
    emb = res["embedded"]
    payload = {"target": res["target"], "settings": res["settings"], "seconds": round(seconds, 3),
               "ranking": res["ranking"],
               "diversity": {n: res["matrix"].diversity[n].to_dict() for n in res["matrix"].names},
               "computed_batches": sum(e.computed for e in emb.values()),
               "cached_batches": sum(e.cached for e in emb.values())}
    lines = [f"alignment with target {res['target']} ({settings.estimator}, {settings.model}, "
             f"{settings.batch.num_batches} x {settings.batch.batch_size} x {settings.batch.seq_len} tokens):"]
    for r in res["ranking"]:
        lines.append(f"{r['rank']:2d}. {r['source']:20s} {_fmt({'value': r['alignment'], 'ci_low': r['ci_low'], 'ci_high': r['ci_high']})}"
                     f"  diversity {r['diversity'] if r['diversity'] is None else round(r['diversity'], 4)}")
    lines.append(f"({payload['computed_batches']} batch embeddings computed, {payload['cached_batches']} from cache, {seconds:.1f} s)")
    _emit(args, payload, "\n".join(lines))
    return 0


def cmd_cache(args) -> int:
    from core.store import EmbeddingStore

    store = EmbeddingStore()
    if args.action == "clear":
        n = store.clear()
        _emit(args, {"cleared": n}, f"cleared {n} entries")
    else:
        s = store.stats()
        _emit(args, s, f"{s['entries']} entries, {s['bytes'] / 2**20:.1f} MiB in {s['directory']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="AlignScope: Task2Vec diversity and alignment of corpora.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("corpora", help="list / install / add / remove / show corpora")
    p.add_argument("action", nargs="?", choices=["list", "install", "add", "remove", "show"], default="list")
    p.add_argument("names", nargs="*")
    p.add_argument("--path"); p.add_argument("--hf"); p.add_argument("--config"); p.add_argument("--split")
    p.add_argument("--field"); p.add_argument("--template"); p.add_argument("--domain", default="custom")
    p.add_argument("--description"); p.add_argument("--license"); p.add_argument("--overwrite", action="store_true")
    p.add_argument("--samples", type=int, default=3)
    p.add_argument("--no-tokens", action="store_true", help="skip token counting in the listing")
    p.add_argument("--allow-missing", action="store_true", help="install: exit 0 even if some corpora could not be installed")
    p.add_argument("--model", default="smollm2-135m", help="tokenizer used to count tokens")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_corpora)

    p = sub.add_parser("model", help="prepare or describe the probe network")
    p.add_argument("action", nargs="?", choices=["prepare", "info"], default="info")
    p.add_argument("--model", default="smollm2-135m"); p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_model)

    for name, func, helptext in (("embed", cmd_embed, "compute or read cached batch embeddings"),
                                 ("diversity", cmd_diversity, "diversity coefficient of corpora")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--corpus", required=True, help="comma-separated corpus names")
        _batch_args(p)
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("align", help="alignment of sources with a target benchmark, ranked")
    p.add_argument("--target", required=True)
    p.add_argument("--sources", required=True, help="comma-separated corpus names")
    _batch_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("cache", help="embedding cache statistics or clearing")
    p.add_argument("action", nargs="?", choices=["stats", "clear"], default="stats")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cache)

    for module_name in CLI_EXTENSIONS:  # feature packages add their own subcommands
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name not in (module_name, module_name.rsplit(".", 1)[0]):
                raise
            continue
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except AlignScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished batch embeddings are kept in the cache", file=sys.stderr)
        return 130
