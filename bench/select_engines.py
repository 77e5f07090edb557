"""Per-window pool embeddings (``select run/embed``): the local engine vs Ray with 1 actor, on the same windows.

Usage:
    .venv/bin/python bench/select_engines.py [--max-windows 48] [--pool coq-stdlib,wikipedia]

One SmolLM2-135M selection pool (fixed seed, 128-token windows) is embedded per window by each engine
into its own fresh embedding store (so each computes every window), one after another in one process
and one in-process Ray (this machine's CPUs); the local engine runs again at the end to show how
much the machine's load drifted. Reported per engine:

- ``window_s``: mean seconds per window inside the compute (the ``embed_rows`` forward pass shared
  out over its windows, as stored in each entry's metadata);
- ``wall_s``: end to end (for Ray including the actor's start: torch import and model load; the
  in-process Ray's own start is ``ray_start_s``);
- ``rerun_s`` / ``rerun_computed``: a second Ray run over the same store (nothing is sent);
- ``max_abs_diff``: largest difference from the local engine's embeddings (must be <= 1e-5).

Writes ``bench/select_engines.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.engine import EngineConfig, clear_engine, use_engine  # noqa: E402
from core.settings import EmbedSettings
from core.probe import load_probe  # noqa: E402
from core.selection.embed import embed_windows  # noqa: E402
from core.selection.pool import PoolConfig, load_pool  # noqa: E402
from core.store import EmbeddingStore  # noqa: E402

OUT = Path(__file__).with_suffix(".json")


def _run(pool, settings, store: EmbeddingStore) -> tuple[dict, np.ndarray]:
    t = time.perf_counter()
    we = embed_windows(pool, settings, store=store)
    wall = time.perf_counter() - t
    secs = [store.get(k)[1]["seconds"] for k in we.keys]
    return {"wall_s": wall, "window_s": float(np.mean(secs)), "computed": we.computed,
            "tokens_per_s": float(pool.tokens.sum()) / wall}, we.embeddings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-windows", type=int, default=48)
    ap.add_argument("--pool", default="coq-stdlib,wikipedia")
    args = ap.parse_args()
    settings = EmbedSettings(device="cpu")
    probe = load_probe(settings.model, device="cpu", progress=False)
    pool = load_pool(PoolConfig(corpora=tuple(args.pool.split(",")), target="proofnet", max_windows=args.max_windows,
                                seq_len=128, seed=4242), probe)
    tmp = Path(tempfile.mkdtemp(prefix="select-engines-"))
    local, ref = _run(pool, settings, EmbeddingStore(tmp / "local"))
    t = time.perf_counter()
    eng = use_engine(EngineConfig("ray", "local", actors=1), export=False)
    ray_start = time.perf_counter() - t
    ray1, emb = _run(pool, settings, EmbeddingStore(tmp / "ray1"))
    t = time.perf_counter()
    again = embed_windows(pool, settings, store=EmbeddingStore(tmp / "ray1"))
    rerun = time.perf_counter() - t
    eng.close()
    clear_engine()
    local_again, _ = _run(pool, settings, EmbeddingStore(tmp / "local-again"))
    out = {"model": settings.model, "pool": args.pool, "windows": len(pool), "tokens": int(pool.tokens.sum()),
           "batch_size": settings.batch.batch_size, "local": local, "ray_1_actor": ray1, "local_again": local_again,
           "ray_start_s": ray_start, "rerun_s": rerun, "rerun_computed": again.computed,
           "max_abs_diff": float(np.abs(emb - ref).max()),
           "ratio_window_s_ray_over_local": ray1["window_s"] / local["window_s"],
           "ratio_wall_ray_over_local": ray1["wall_s"] / local["wall_s"]}
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
