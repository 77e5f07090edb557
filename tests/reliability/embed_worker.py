"""A worker process of the concurrency and fault-injection tests: embeds one registered corpus with the
tiny probe network and writes its counts and embeddings.

Usage: python -m tests.reliability.embed_worker MODEL CORPUS OUT_PREFIX [--start FILE] [--delay S]
(``--start``: write OUT_PREFIX.ready once loaded, then wait until FILE exists, so several workers start
together; ``--delay``: seconds added to
each computed batch, so workers overlap; every computed batch's key is appended to OUT_PREFIX.computed).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("--start", default=None)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--num-batches", type=int, default=6)
    args = ap.parse_args()

    from core.batches import BatchConfig
    from core.estimators import get_estimator
    from core.pipeline import EmbedSettings, embed_corpus
    from core.probe import load_probe
    from core.store import EmbeddingStore

    settings = EmbedSettings(model=args.model, device="cpu",
                             batch=BatchConfig(batch_size=4, seq_len=32, num_batches=args.num_batches))
    load_probe(args.model, device="cpu", progress=False).model            # weights loaded before the start
    est_cls = type(get_estimator(settings.estimator))
    real_embed = est_cls.embed
    put = EmbeddingStore.put

    def slow_embed(self, probe, batch, **kw):
        time.sleep(args.delay)
        return real_embed(self, probe, batch, **kw)

    def logged_put(self, key, arrays, meta=None):
        put(self, key, arrays, meta)
        if key.startswith("emb:"):
            with open(args.out + ".computed", "a") as fh:                 # O_APPEND: one line per write
                fh.write(f"{os.getpid()} {key}\n")

    est_cls.embed = slow_embed
    EmbeddingStore.put = logged_put
    open(args.out + ".ready", "w").close()
    while args.start and not os.path.exists(args.start):
        time.sleep(0.02)
    r = embed_corpus(args.corpus, settings, progress=False)
    np.save(args.out + ".npy", r.embeddings)
    with open(args.out + ".json", "w") as fh:
        json.dump({"computed": r.computed, "cached": r.cached, "computed_by_other": r.computed_by_other,
                   "batches": len(r.batch_indices)}, fh)


if __name__ == "__main__":
    main()
