"""Benchmark of the window index (core.selection.index): recall on the real pool, and build time, query
time and memory at 1e4, 1e5 and 1e6 windows.

Part 1, real pool (the committed comparison's pool: 16 demo corpora, ProofNet-derived ones left out,
1,600 windows of 128 tokens, per-window closed-form head embeddings, D = 49,152): recall@100 of the
indexed search (faiss candidates at several depths, re-ranked by the exact Task2Vec score) against
the exact ranking of every window by that score, for the PCA reduction at 64/128/256/511 dims and a
seeded Gaussian random projection (JL) at 256 dims. Needs the pool's embeddings in the cache
(``python -m core select embed --pool ... --max-windows 1600`` or a finished ``select compare``).

Part 2, synthetic (real dimensionality beyond the real pool): vectors of the reduced dimensionality
(256) drawn from a Gaussian with the real pool's reduced mean and per-component variances (so the
spread of distances is the real one), N = 1e4, 1e5, 1e6. For each N and index kind (``flat`` =
``IndexFlatIP`` over the augmented vectors; ``ivf``; ``hnsw`` up to ``--hnsw-max``): build seconds,
query seconds p50/p99 over 200 single-vector queries of depth 400, index bytes (serialised), and
recall@100 of the approximate kinds against the flat (exact) search on the same vectors.

Run: ``nice -n 5 .venv/bin/python bench/index.py`` (about 10 minutes on 2 shared CPU cores; the 1e6
HNSW build is skipped unless ``--hnsw-max 1000000``). Prints a table and writes bench/index.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = Path(__file__).with_name("index.json")


def real_pool_recall(dims_list=(64, 128, 256, 511), depths=(100, 200, 400, 800)) -> dict:
    """Part 1 (module docstring)."""
    from core.settings import EmbedSettings
    from core.pipeline import embed_corpus
    from core.probe import load_probe
    from core.finetune.compare import CompareConfig
    from core.selection.embed import embed_windows
    from core.selection.index import build_faiss, fit_reduction, log_features, WindowIndex
    from core.selection.pool import load_pool
    from core.selection.score import window_scores

    cfg = CompareConfig()
    probe = load_probe(cfg.model, progress=False)
    pool = load_pool(cfg.pool_config(), probe)
    t = time.perf_counter()
    emb = embed_windows(pool, EmbedSettings(model=cfg.model), compute=False).embeddings
    load_s = time.perf_counter() - t
    targets = embed_corpus(cfg.target, EmbedSettings(model=cfg.model), progress=False).embeddings
    t = time.perf_counter()
    exact = window_scores(emb, targets)
    exact_s = time.perf_counter() - t
    truth = set(np.argsort(-exact, kind="stable")[:100].tolist())
    out = {"windows": len(pool), "dims_full": int(emb.shape[1]), "exact_scoring_seconds": exact_s,
           "load_seconds": load_s, "reductions": []}

    def recall(w: WindowIndex) -> dict:
        res = {}
        for depth in depths:
            cand = w.query(targets, depth)
            top = cand[np.argsort(-exact[cand], kind="stable")][:100]       # exact re-rank of the candidates
            res[str(depth)] = len(truth & set(top.tolist())) / 100
        return res

    for dims in dims_list:
        t = time.perf_counter()
        mean, comps = fit_reduction(emb, dims=dims, seed=0)
        w = WindowIndex(None, mean, comps, "bench", "flat")
        w.index = build_faiss(w.reduce(emb), "flat")
        out["reductions"].append({"reduction": "pca", "dims": int(comps.shape[0]), "bytes_per_window": w.bytes_per_window,
                                  "build_seconds": time.perf_counter() - t, "recall_at_100": recall(w)})
        print(f"  real pool, PCA {comps.shape[0]:>3} dims: recall@100 by depth {out['reductions'][-1]['recall_at_100']}")
    u = log_features(emb)
    rp = np.random.default_rng(0).standard_normal((256, u.shape[1])).astype(np.float32) / np.sqrt(256)
    w = WindowIndex(None, u.mean(0).astype(np.float32), rp, "bench", "flat")
    w.index = build_faiss(w.reduce(emb), "flat")
    out["reductions"].append({"reduction": "gaussian random projection", "dims": 256, "bytes_per_window": w.bytes_per_window,
                              "recall_at_100": recall(w)})
    print(f"  real pool, random projection 256 dims: recall@100 by depth {out['reductions'][-1]['recall_at_100']}")
    out["_reduced_stats"] = _reduced_stats(emb)
    return out


def _pool_stats() -> dict:
    """:func:`_reduced_stats` of the committed comparison's pool (cached embeddings only)."""
    from core.settings import EmbedSettings
    from core.probe import load_probe
    from core.finetune.compare import CompareConfig
    from core.selection.embed import embed_windows
    from core.selection.pool import load_pool

    cfg = CompareConfig()
    pool = load_pool(cfg.pool_config(), load_probe(cfg.model, progress=False))
    return _reduced_stats(embed_windows(pool, EmbedSettings(model=cfg.model), compute=False).embeddings)


def _reduced_stats(emb: np.ndarray, dims: int = 256) -> dict:
    from core.selection.index import fit_reduction, log_features

    mean, comps = fit_reduction(emb, dims=dims, seed=0)
    x = (log_features(emb) - mean) @ comps.T
    return {"mean": x.mean(0).tolist(), "std": x.std(0).tolist()}


def synthetic(stats: dict, sizes=(10_000, 100_000, 1_000_000), kinds=("flat", "ivf", "hnsw"), hnsw_max: int = 100_000,
              queries: int = 200, depth: int = 400) -> list[dict]:
    """Part 2 (module docstring)."""
    import faiss

    from core.selection.index import build_faiss

    mu, sd = np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32)
    rng = np.random.default_rng(1)
    rows = []
    for n in sizes:
        x = (rng.standard_normal((n, mu.size), dtype=np.float32) * sd + mu).astype(np.float32)
        q = (rng.standard_normal((queries, mu.size), dtype=np.float32) * sd + mu).astype(np.float32)
        exact_ids = None
        for kind in kinds:
            if kind == "hnsw" and n > hnsw_max:
                rows.append({"windows": n, "kind": kind, "skipped": f"HNSW build above {hnsw_max:,} windows (--hnsw-max)"})
                continue
            t = time.perf_counter()
            index = build_faiss(x, kind)
            build = time.perf_counter() - t
            qq = np.hstack([q, np.ones((queries, 1), np.float32)]) if kind == "flat" else q
            times, ids, reranked = [], [], []
            for i in range(queries):
                t = time.perf_counter()
                _, found = index.search(np.ascontiguousarray(qq[i:i + 1]), depth)
                times.append(time.perf_counter() - t)
                ids.append(found[0])
                cand = found[0][found[0] >= 0]                      # the pipeline re-ranks the candidates exactly
                reranked.append(cand[np.argsort(((x[cand] - q[i]) ** 2).sum(1), kind="stable")])
            size = len(faiss.serialize_index(index))
            row = {"windows": n, "kind": kind, "dims": int(mu.size), "build_seconds": build,
                   "query_ms_p50": 1e3 * float(np.percentile(times, 50)), "query_ms_p99": 1e3 * float(np.percentile(times, 99)),
                   "index_bytes": size, "bytes_per_window": size / n}
            if kind == "flat":
                exact_ids = ids
            elif exact_ids is not None:
                row["recall_at_100_vs_flat"] = float(np.mean([len(set(a[:100]) & set(b[:100])) / 100
                                                              for a, b in zip(ids, exact_ids)]))
                row[f"recall_at_100_after_exact_rerank_of_{depth}"] = float(np.mean(
                    [len(set(a[:100].tolist()) & set(b[:100].tolist())) / 100 for a, b in zip(reranked, exact_ids)]))
            rows.append(row)
            print(f"  synthetic {n:>9,} {kind:<5} build {build:7.2f} s  query p50 {row['query_ms_p50']:7.2f} ms "
                  f"p99 {row['query_ms_p99']:7.2f} ms  {size / 2**20:8.1f} MiB  recall {row.get('recall_at_100_vs_flat', '-')}"
                  f" (after re-rank {row.get(f'recall_at_100_after_exact_rerank_of_{depth}', '-')})")
            del index
        del x
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hnsw-max", type=int, default=100_000, help="largest N for which HNSW is built (default 1e5)")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--synthetic-only", action="store_true",
                    help="reuse the real-pool part of an existing --out file (only the synthetic part is measured)")
    args = ap.parse_args()
    import faiss
    import os

    print(f"faiss {faiss.__version__}, {os.cpu_count()} CPU cores, load {os.getloadavg()[0]:.1f}")
    if args.synthetic_only:
        old = json.loads(Path(args.out).read_text())
        real, stats = old["real_pool"], old.get("reduced_stats") or _pool_stats()
    else:
        real = real_pool_recall()
        stats = real.pop("_reduced_stats")
    syn = synthetic(stats, sizes=tuple(int(s) for s in args.sizes.split(",")), hnsw_max=args.hnsw_max)
    res = {"faiss": faiss.__version__, "cpu_cores": os.cpu_count(), "load_average": os.getloadavg()[0],
           "real_pool": real, "synthetic": syn, "reduced_stats": stats}
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
