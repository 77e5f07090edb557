"""Time of the embedding map (issue 14, item 6): UMAP (umap-learn) against PCA (classical MDS) on the
real cached Task2Vec embeddings, in fresh processes so the costs a new dashboard server pays are in:
``import umap`` (numba, pynndescent) and the numba compilation of the first layout.

Measured:
- ``real``: the dashboard's default view (target + default candidates, default settings) and every
  corpus whose embeddings are complete, read from the cache only (nothing is computed): import, first
  UMAP layout (compilation included), second layout, PCA; and the same first layout when umap-learn
  finds the neighbours itself (no ``precomputed_knn``), with the largest coordinate difference.
- ``scale``: synthetic distance matrices of growing size (warm process): UMAP and PCA seconds, which
  set :data:`core.views.UMAP_MAX_POINTS`.

    nice -n 5 .venv/bin/python bench/embedding_map.py          # prints a table, writes bench/embedding_map.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _matrix(names: list[str]):
    from core.coefficients import cross_alignment
    from core.pipeline import EmbedSettings, cached_embeddings

    settings = EmbedSettings()
    emb = {}
    for n in names:
        try:
            look = cached_embeddings(n, settings, draw=False, progress=False)
        except Exception:  # not installed: left out, as the dashboard does
            continue
        if look.complete:
            emb[n] = look.embeddings()
    return cross_alignment(emb)


def _child_real(view: str, plain: bool) -> dict:
    """One fresh process: the layouts of one real matrix."""
    import numpy as np

    from core.corpora import list_corpora
    from core.views import DEFAULT_CANDIDATES, DEFAULT_TARGET, _umap_layout, embedding_map

    names = [DEFAULT_TARGET, *DEFAULT_CANDIDATES] if view == "default" else [c.name for c in list_corpora()]
    m = _matrix(names)
    out = {"view": view, "corpora": list(m.names), "batches": int(len(m.distances))}
    t = time.perf_counter()
    import umap
    out["import_umap_s"] = time.perf_counter() - t
    if plain:                                  # umap-learn's own neighbour search (what we skip)
        import warnings

        d = np.clip((m.distances + m.distances.T) / 2, 0, None)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y_plain = umap.UMAP(metric="precomputed", n_neighbors=min(15, len(d) - 1), random_state=0).fit_transform(d)
        out["umap_plain_first_s"] = time.perf_counter() - t
        ours, _ = _umap_layout(umap, np.where(np.eye(len(d), dtype=bool), 0.0, d), n_neighbors=15, seed=0)
        out["max_abs_difference_vs_ours"] = float(np.abs(ours - y_plain).max())
        return out
    for label in ("umap_first_s", "umap_second_s"):
        e = embedding_map(m, method="umap")
        out[label] = e["seconds"]
    out["auto_method"] = embedding_map(m)["method"]
    out["pca_s"] = embedding_map(m, method="pca")["seconds"]
    return out


def _child_scale(sizes: list[int]) -> list[dict]:
    """Warm process: UMAP and PCA seconds on synthetic matrices of growing size."""
    from types import SimpleNamespace

    import numpy as np
    from scipy.spatial.distance import cdist

    from core.views import embedding_map

    rng = np.random.default_rng(0)
    warm = rng.normal(size=(40, 8))
    embedding_map(SimpleNamespace(names=["w"], offsets=[0, 40], distances=cdist(warm, warm)), method="umap")
    rows = []
    for n in sizes:
        x = rng.normal(size=(n, 16)) + rng.integers(0, 8, size=(n, 1))       # 8 loose clusters
        m = SimpleNamespace(names=["s"], offsets=[0, n], distances=cdist(x, x))
        rows.append({"batches": n, "umap_s": embedding_map(m, method="umap")["seconds"],
                     "pca_s": embedding_map(m, method="pca")["seconds"]})
    return rows


def _spawn(*args: str) -> dict | list:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=REPO)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="85,500,1000,2000,3000,4000", help="batches of the synthetic matrices")
    ap.add_argument("--out", default=str(REPO / "bench" / "embedding_map.json"))
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        res = _child_scale([int(s) for s in rest]) if kind == "scale" else _child_real(rest[0], kind == "plain")
        print(json.dumps(res))
        return 0
    import platform
    import os

    out = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
           "python": platform.python_version(), "loadavg_before": list(os.getloadavg()), "real": [], "plain": []}
    for view in ("default", "all"):
        r = _spawn("real", view)
        out["real"].append(r)
        print(f"{view}: {r['batches']} batches of {len(r['corpora'])} corpora · import umap {r['import_umap_s']:.1f} s · "
              f"first UMAP {r['umap_first_s']:.2f} s · second {r['umap_second_s']:.3f} s · PCA {r['pca_s']:.4f} s · "
              f"auto picks {r['auto_method']}")
        p = _spawn("plain", view)
        out["plain"].append(p)
        print(f"{view}: first UMAP with umap-learn's own neighbour search {p['umap_plain_first_s']:.2f} s "
              f"(max coordinate difference to ours {p['max_abs_difference_vs_ours']:.2g})")
    out["scale"] = _spawn("scale", *args.sizes.split(","))
    for r in out["scale"]:
        print(f"{r['batches']:>5} batches: UMAP {r['umap_s']:.2f} s · PCA {r['pca_s']:.3f} s · "
              f"ratio {r['umap_s'] / max(r['pca_s'], 1e-9):.0f}x")
    out["loadavg_after"] = list(os.getloadavg())
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
