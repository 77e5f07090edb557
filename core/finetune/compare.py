"""Head-to-head: selection methods on the same pool and budget, each selection fine-tuned and evaluated.

Design (``python -m core select compare``):

- One pool (:class:`CompareConfig`: 14 demo corpora, ProofNet-derived corpora excluded, 1,600
  windows of 128 tokens) and one token budget for every method.
- Seeds: seed ``s`` lets a method see a seeded 80% of the pool (:func:`core.selection.select.allowed_rows`),
  seeds its own randomness (random order, DSIR's Gumbel noise), and is the fine-tune's seed. So the
  spread across seeds covers both which windows were available and the training order.
- Each selection is saved as a corpus (``sel-<method>-s<seed>-<hash>``, :mod:`core.selection.export`)
  and fine-tuned through the product's launcher (:func:`core.finetune.runner.run_finetune`, rows in
  the results database) in the regime the validation lab found to separate sources (``4k``: 4,000
  tokens, 2 epochs, lr 1e-4, batch 8, 128-token sequences; docs/validation.md "Which alignment metric predicts
  fine-tuning?"). The outcome is the perplexity on ProofNet's test split.
- Resumable: a saved selection is reused, a ``done`` run is skipped; the results file is rewritten
  atomically after every run. One compare at a time per cache (a file lock).
- Summary per method (:func:`summarise`): mean fine-tuned perplexity with a t 95% CI over seeds
  (``scipy.stats.t``), the paired difference to ``random`` (same seeds) with its t CI, mean
  alignment of the selections, token composition, selection seconds.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from core.errors import AlignScopeError

if TYPE_CHECKING:
    from core.finetune.config import FinetuneConfig
    from core.settings import EmbedSettings
    from core.selection.base import SelectionContext
    from core.selection.pool import PoolConfig

#: The pool of the committed experiment: every demo corpus but the target's splits (the two
#: ProofNet-valid corpora are listed and excluded as derived from the target, as a user's pool would).
DEFAULT_POOL = ("agda-stdlib", "champ", "coq-stdlib", "foldoc", "gcide", "hol-light", "linux-doc",
                "metamath", "news", "python-docs", "python-docstrings", "python-stdlib", "sympy", "wikipedia", "proofnet-valid",
                "proofnet-informal")
#: Methods in execution order within a seed (model-free ones first, so an early stop has them).
DEFAULT_METHODS = ("random", "dsir", "zip-fit", "t2v-greedy", "unigram-cos", "best-single", "t2v-topk")
RESULTS_VERSION = 1

Say = Callable[[str], None]


@dataclass(frozen=True)
class CompareConfig:
    """The head-to-head experiment.

    Attributes:
        target: target benchmark.  pool: pool corpora.  max_windows: pool cap.  budget: tokens per selection.
        methods: selection methods.  seeds: one selection + fine-tune per (method, seed).
        share: fraction of the pool each seed may use.  epochs, learning_rate, batch_size, seq_len:
        the fine-tune regime (the lab's ``4k``).  align_batches: Task2Vec batches of the runner's own
        alignment column (2: a cheap check next to the selection's per-window alignment).
    """

    target: str = "proofnet"
    pool: tuple[str, ...] = DEFAULT_POOL
    max_windows: int = 1600
    budget: int = 4000
    methods: tuple[str, ...] = DEFAULT_METHODS
    seeds: tuple[int, ...] = (0, 1, 2)
    share: float = 0.8
    epochs: float = 2.0
    learning_rate: float = 1e-4
    batch_size: int = 8
    seq_len: int = 128
    align_batches: int = 2
    model: str = "smollm2-135m"

    def to_dict(self) -> dict:
        return asdict(self)

    def pool_config(self) -> PoolConfig:
        from core.selection.pool import PoolConfig

        return PoolConfig(corpora=tuple(self.pool), target=self.target, max_windows=self.max_windows, seq_len=self.seq_len)


def selection_name(cfg: CompareConfig, pool_fp: str, method: str, seed: int) -> str:
    """Corpus name of a compare selection: ``sel-<method>-s<seed>-<8 hex of its inputs>``."""
    from core.fingerprint import fingerprint

    h = fingerprint({"pool": pool_fp, "method": method, "seed": seed, "budget": cfg.budget, "share": cfg.share})[:8]
    return f"sel-{method}-s{seed}-{h}"


def finetune_config(cfg: CompareConfig, source: str, seed: int) -> FinetuneConfig:
    """The run's :class:`core.finetune.config.FinetuneConfig` (the lab's 4k regime)."""
    from core.finetune.config import FinetuneConfig

    return FinetuneConfig(source=source, target=cfg.target, model=cfg.model, budget_tokens=cfg.budget,
                          epochs=cfg.epochs, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size,
                          seq_len=cfg.seq_len, seed=seed, save_adapter=False)


def align_settings(cfg: CompareConfig) -> EmbedSettings:
    """Task2Vec settings of the runs' alignment column (default settings, ``align_batches`` batches)."""
    from core.batches import BatchConfig
    from core.settings import EmbedSettings

    return EmbedSettings(model=cfg.model, batch=BatchConfig(num_batches=cfg.align_batches))


def validate_compare(cfg: CompareConfig) -> None:
    """Fast checks (no tokenising).

    Raises:
        AlignScopeError: fewer than 2 methods or no seed, unknown method, bad pool (see
            :func:`core.selection.select.validate_request`).
    """
    from core.selection.select import validate_request

    if len(cfg.methods) < 2 or not cfg.seeds:
        raise AlignScopeError("A comparison needs at least 2 methods and one seed.",
                              fix="pass e.g. --methods random,dsir,t2v-greedy --seeds 0,1,2.")
    for m in cfg.methods:
        validate_request(method=m, budget=cfg.budget, pool_config=cfg.pool_config())


def run_compare(cfg: CompareConfig, *, out: Path, say: Say = print, limit: int | None = None,
                should_stop: Callable[[], bool] | None = None, select_only: bool = False) -> dict:
    """Select, save and fine-tune every (seed, method) not done yet; write ``out`` after each run.

    ``select_only``: make and save every selection (alignment, composition, selection time) without
    fine-tuning. It takes no lock: it may run beside a fine-tuning comparison (selections are written
    atomically under names fixed by their inputs, and the results file is rebuilt from the saved
    selections and the results database by whoever writes it last).

    Returns:
        The results dict (:func:`summarise` included).

    Raises:
        AlignScopeError: bad configuration, another compare running on this cache.
    """
    from core.finetune import results as db
    from core.finetune.identity import run_id_for
    from core.paths import cache_dir, exclusive_run
    from core.probe import load_probe
    from core.selection.base import SelectionContext
    from core.selection.export import selections_dir
    from core.selection.pool import load_pool

    validate_compare(cfg)
    lock = cache_dir("selection") / ("compare-select.lock" if select_only else "compare.lock")
    with exclusive_run(lock, busy="Another selection comparison is running on this cache.",
                       fix="wait for it (it resumes where it stops), or stop it first."):
        stop = should_stop or (lambda: False)
        from core.settings import EmbedSettings

        probe = load_probe(cfg.model, progress=False)
        say(f"pool: {len(cfg.pool)} corpora, up to {cfg.max_windows} windows")
        pool = load_pool(cfg.pool_config(), probe)
        ctx = SelectionContext(pool=pool, tokenizer=probe.tokenizer, target=cfg.target,
                               settings=EmbedSettings(model=cfg.model), should_stop=stop,
                               progress=lambda d, n, m: say(f"  per-window embeddings {d}/{n}: {m}"))
        settings = align_settings(cfg)
        runs = _planned(cfg, pool.fingerprint, settings)
        t0 = time.time()
        done_now = 0
        from core.execution import RunRequest, current_engine

        distributed, pending = current_engine().distributed, []   # --engine ray: one Ray task per fine-tune
        for k, r in enumerate(runs):
            row = (db.get_run(r["run_id"]) if r["run_id"] else None) or {}
            saved = (selections_dir() / f"{r['selection']}.json").exists()
            if saved and (select_only or row.get("status") == "done"):
                continue
            if limit is not None and done_now >= limit:
                break
            if stop():
                raise InterruptedError("stopped by request")
            say(f"[{k + 1}/{len(runs)}] {r['method']} seed {r['seed']}: selecting")
            _select(cfg, r, ctx, pool, probe, stop=stop, say=say)
            r["run_id"] = r["run_id"] or run_id_for(finetune_config(cfg, r["selection"], r["seed"]), settings)
            if select_only:
                write_results(cfg, runs, out, wall=time.time() - t0, ctx=ctx)
                continue
            if distributed:          # selected here; fine-tuned below on the cluster, all at once
                pending.append(RunRequest(finetune_config(cfg, r["selection"], r["seed"]), settings, r["run_id"],
                                          label=f"{r['method']} seed {r['seed']}"))
                done_now += 1
                continue
            _finetune(cfg, r, settings, stop=stop, say=say)
            done_now += 1
            write_results(cfg, runs, out, wall=time.time() - t0, ctx=ctx)
        for _ in current_engine().run_finetunes(pending, should_stop=stop, log=say):   # rows recorded here
            write_results(cfg, runs, out, wall=time.time() - t0, ctx=ctx)
        res = write_results(cfg, runs, out, wall=time.time() - t0, ctx=ctx)
        say(f"selection comparison: results written to {out}")
        return res


def _planned(cfg: CompareConfig, pool_fingerprint: str, settings) -> list[dict]:
    """One ``{"method", "seed", "selection", "run_id"}`` per (seed, method); the run id is known only
    once its selection is saved (a run's id follows its packed data), else None."""
    from core.finetune.identity import run_id_for
    from core.selection.export import selections_dir

    runs = []
    for seed in cfg.seeds:
        for method in cfg.methods:
            name = selection_name(cfg, pool_fingerprint, method, seed)
            known = (selections_dir() / f"{name}.json").exists()
            runs.append({"method": method, "seed": seed, "selection": name,
                         "run_id": run_id_for(finetune_config(cfg, name, seed), settings) if known else None})
    return runs


def _select(cfg: CompareConfig, r: dict, ctx, pool, probe, *, stop: Callable[[], bool], say: Say) -> None:
    """Make and save run ``r``'s selection unless it is saved already (then check that it loads)."""
    from core.selection.export import load_selection, save_selection, selections_dir
    from core.selection.select import run_selection, with_texts

    if (selections_dir() / f"{r['selection']}.json").exists():
        load_selection(r["selection"])
        return
    res = run_selection(method=r["method"], target=cfg.target, pool_config=cfg.pool_config(), budget=cfg.budget,
                        seed=r["seed"], share=cfg.share, context=ctx, should_stop=stop)
    save_selection(with_texts(res, pool, probe.tokenizer), r["selection"])
    say(f"  {len(res.windows)} windows, {res.tokens} tokens, alignment {res.alignment['value']:.4f}, "
        f"{res.seconds:.1f} s; sources {_top(res.composition)}")


def _finetune(cfg: CompareConfig, r: dict, settings, *, stop: Callable[[], bool], say: Say) -> None:
    """Fine-tune on run ``r``'s selection here; a failure is recorded in its row and said, not raised."""
    from core.finetune.runner import run_finetune

    t1 = time.time()
    try:
        row = run_finetune(finetune_config(cfg, r["selection"], r["seed"]), settings, run_id=r["run_id"],
                           should_stop=stop)
        say(f"  perplexity {row['ppl_before']:.3f} -> {row['ppl_after']:.3f} in {time.time() - t1:.0f} s")
    except InterruptedError:
        raise
    except Exception as exc:     # recorded as failed in its row; the comparison goes on
        say(f"  FAILED: {exc}")


def _top(comp: dict, n: int = 3) -> str:
    tot = sum(comp.values()) or 1
    return ", ".join(f"{c} {100 * v / tot:.0f}%" for c, v in sorted(comp.items(), key=lambda kv: -kv[1])[:n])


def write_results(cfg: CompareConfig, runs: list[dict], out: Path, *, wall: float = 0.0,
                  ctx: SelectionContext | None = None) -> dict:
    """Gather each run's selection summary and results-database row; write ``out`` atomically."""
    from core.finetune import results as db
    from core.paths import atomic_write
    from core.selection.export import selections_dir

    runs, methods, seeds = _with_earlier_runs(cfg, runs, Path(out))
    rows = []
    for r in runs:
        meta_path = selections_dir() / f"{r['selection']}.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
        row = (db.get_run(r["run_id"]) if r.get("run_id") else None) or {}
        rows.append({**r, "status": row.get("status") or ("selected" if meta else "missing"),
                     "ppl_before": row.get("ppl_before"), "ppl_after": row.get("ppl_after"),
                     "wall_seconds": row.get("wall_seconds"), "tokens_trained": row.get("tokens_trained"),
                     "runner_alignment": row.get("alignment"),
                     "alignment": (meta or {}).get("alignment"), "composition": (meta or {}).get("composition"),
                     "selection_seconds": (meta or {}).get("seconds"), "windows": len((meta or {}).get("windows") or []),
                     "tokens": (meta or {}).get("tokens"), "details": _short_details((meta or {}).get("details") or {}),
                     "error": row.get("error")})
    res = {"version": RESULTS_VERSION, "config": {**cfg.to_dict(), "methods": methods, "seeds": seeds}, "runs": rows,
           "summary": summarise(rows, methods),
           "wall_seconds": wall, "embedding": _embedding_cost(ctx)}
    atomic_write(Path(out), json.dumps(res, indent=1, default=str))
    return res


def _with_earlier_runs(cfg: CompareConfig, runs: list[dict], out: Path) -> tuple[list[dict], list[str], list[int]]:
    """``runs`` plus the runs of ``out`` written by earlier calls of the same comparison (same config but
    for ``methods``/``seeds``), so a call naming a few methods never drops the others' results.

    Returns:
        (runs, methods, seeds): earlier runs first, then ``runs``; methods and seeds in first-seen order.
    """
    try:
        prev = json.loads(out.read_text())
    except (OSError, ValueError):
        return runs, list(cfg.methods), list(cfg.seeds)
    same = lambda c: json.loads(json.dumps({k: v for k, v in c.items() if k not in ("methods", "seeds")}, default=str))
    if not isinstance(prev, dict) or same(prev.get("config") or {}) != same(cfg.to_dict()):
        return runs, list(cfg.methods), list(cfg.seeds)
    mine = {(r["method"], r["seed"]) for r in runs}
    keep = ("method", "seed", "selection", "run_id")
    earlier = [{k: r[k] for k in keep} for r in prev.get("runs") or []
               if all(k in r for k in keep) and (r["method"], r["seed"]) not in mine]
    merged = earlier + runs
    methods = list(dict.fromkeys([*(prev["config"].get("methods") or []), *cfg.methods]))
    seeds = list(dict.fromkeys([*(prev["config"].get("seeds") or []), *cfg.seeds]))
    return merged, methods, seeds


def _short_details(d: dict) -> dict:
    out = dict(d)
    if isinstance(out.get("trace"), list):
        tr = out["trace"]
        out["trace"] = {"first": tr[0] if tr else None, "last": tr[-1] if tr else None, "steps": len(tr)}
    return out


def _embedding_cost(ctx) -> dict | None:
    """Seconds the pool's per-window embeddings took when computed (sum of each window's stored share)."""
    if ctx is None:
        return None
    if not ctx.has("emb"):
        try:
            from core.selection.embed import embed_windows

            ctx.memo("emb", lambda: embed_windows(ctx.pool, ctx.settings, compute=False))
        except AlignScopeError:          # the pool was never embedded (no Task2Vec method ran)
            return None
    from core.store import EmbeddingStore

    store = EmbeddingStore()
    secs, n = 0.0, 0
    for key in ctx.window_embeddings().keys:
        hit = store.get(key)
        if hit is not None:
            secs += float(hit[1].get("seconds") or 0.0)
            n += 1
    return {"windows": n, "seconds": secs, "tokens": int(ctx.pool.tokens.sum()),
            "tokens_per_second": (int(ctx.pool.tokens.sum()) / secs) if secs else None}


def t_interval(values: list[float]) -> tuple[float | None, float | None]:
    """95% t interval of the mean (``scipy.stats.t``); ``(None, None)`` with fewer than 2 values."""
    from scipy import stats

    if len(values) < 2:
        return None, None
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))
    h = stats.t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values))
    return m - h, m + h


def summarise(rows: list[dict], methods: Sequence[str]) -> list[dict]:
    """One row per method: ``n``, ``ppl_after`` mean and t CI, ``delta_vs_random`` (paired by seed) and
    its t CI, mean selection ``alignment``, mean ``selection_seconds``, pooled ``composition`` shares."""
    done = [r for r in rows if r["status"] == "done" and r["ppl_after"] is not None]
    rand = {r["seed"]: r["ppl_after"] for r in done if r["method"] == "random"}
    out = []
    for m in methods:
        mine = [r for r in done if r["method"] == m]
        sel = [r for r in rows if r["method"] == m and r.get("alignment")]
        ppl = [r["ppl_after"] for r in mine]
        lo, hi = t_interval(ppl)
        diffs = [r["ppl_after"] - rand[r["seed"]] for r in mine if r["seed"] in rand]
        dlo, dhi = t_interval(diffs) if m != "random" else (None, None)
        comp: dict[str, float] = {}
        for r in sel:
            tot = sum((r.get("composition") or {}).values()) or 1
            for c, v in (r.get("composition") or {}).items():
                comp[c] = comp.get(c, 0.0) + v / tot / len(sel)
        al = [r["alignment"]["value"] for r in sel if r["alignment"].get("value") is not None]
        secs = [r["selection_seconds"] for r in sel if r.get("selection_seconds") is not None]
        out.append({"method": m, "n": len(mine), "ppl_after": (sum(ppl) / len(ppl)) if ppl else None,
                    "ppl_ci_low": lo, "ppl_ci_high": hi,
                    "delta_vs_random": (sum(diffs) / len(diffs)) if diffs and m != "random" else None,
                    "delta_ci_low": dlo, "delta_ci_high": dhi,
                    "alignment": (sum(al) / len(al)) if al else None,
                    "alignment_ci": t_interval(al) if len(al) > 1 else (None, None),
                    "selection_seconds": (sum(secs) / len(secs)) if secs else None,
                    "composition": dict(sorted(comp.items(), key=lambda kv: -kv[1]))})
    return out


def load_results(path: Path) -> dict:
    """A compare results file.

    Raises:
        AlignScopeError: missing or unreadable file.
    """
    p = Path(path)
    if not p.exists():
        raise AlignScopeError(f"No comparison results at {str(p)!r}.", fix="run python -m core select compare first.")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError:
        raise AlignScopeError(f"{str(p)!r} is not a JSON results file.", fix="run python -m core select compare again.") from None
