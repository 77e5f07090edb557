"""Token counts of corpora without waiting: the exact count when it is cached, else an estimate.

Counting every token of the built-in corpora (about 123 million characters) with the probe
network's tokenizer takes minutes on a small CPU (117 s on this project's 2-core machine), so a
listing never does it inline:

- the **exact** count is :func:`core.pipeline.corpus_stats` (every document tokenized, cached in the
  embedding store under :func:`core.fingerprint.stats_key`); it is computed by setup
  (:func:`count_corpora`, ``python -m core corpora count``) or by a background job of kind
  ``corpus_stats`` (:func:`submit_counts`; progress one unit per corpus);
- until then a corpus shows an **estimate**: its character count divided by a measured
  characters-per-token ratio of that corpus (:func:`estimate_counts`), stored in
  ``<cache>/corpus_counts/estimates.json`` under the same ``stats_key`` (content and tokenizer), so
  it is measured once per corpus version. Corpora of at most :data:`EXACT_BELOW_CHARS` characters are
  counted exactly at once instead (a fraction of a second).

The ratio is a ratio estimate over a simple random sample (seeded, without replacement) of
:data:`SAMPLE_WINDOWS` *chunks*, every document being cut into consecutive chunks of
:data:`WINDOW_CHARS` characters (its last chunk shorter): ``r = sum(tokens_i) / sum(chars_i)``
tokens per character (each chunk tokenized on its own), with relative standard error
``se(r) / r``, ``se(r)^2 = sum((t_i - r c_i)^2) / ((n - 1) n cbar^2)`` (the ratio estimator's
approximate variance, Cochran 1977, *Sampling Techniques*, 3rd ed., Sec. 6.3). The estimate is
``tokens ≈ characters * r``. Sampling chunks with equal probability keeps the estimate unbiased
for short and long documents alike (drawing documents by length and then taking a whole short
document would weight each by its length twice); chunk boundaries cut about one token in two per
chunk, so ``r`` runs high by about one token per chunk (0.3% at 1,024 characters).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from core.errors import AlignScopeError
from core.jobs import Job, JobContext, register_job_kind
from core.paths import atomic_write, cache_dir, file_lock
from core.probe import DEFAULT_MODEL

if TYPE_CHECKING:
    from core.corpora import Corpus
    from core.store import EmbeddingStore

#: The job kind counting tokens exactly in the background (params ``{"corpora": [...], "model": name}``).
STATS_KIND = "corpus_stats"
#: Sampled chunks per corpus, and characters per chunk (256 x 1,024: about 0.05 s per corpus; on the
#: built-in corpora the estimate was within the errors listed in docs/meeting.md).
SAMPLE_WINDOWS = 256
WINDOW_CHARS = 1024
#: Corpora with at most this many characters are counted exactly instead of estimated.
EXACT_BELOW_CHARS = 4 * SAMPLE_WINDOWS * WINDOW_CHARS
SEED = 0


def _estimates_file() -> Path:
    return cache_dir("corpus_counts") / "estimates.json"


def _read_estimates() -> dict:
    try:
        data = json.loads(_estimates_file().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _store_estimates(new: dict[str, dict]) -> None:
    """Merge ``{stats_key: estimate}`` into the estimates file (atomic, under a lock)."""
    path = _estimates_file()
    with file_lock(path.with_suffix(".lock"), what="token-count estimates"):
        data = _read_estimates()
        data.update(new)
        atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def measure_ratio(texts: list[str], tokenizer: Any, *, windows: int = SAMPLE_WINDOWS, window_chars: int = WINDOW_CHARS,
                  seed: int = SEED) -> dict:
    """Tokens per character of ``texts`` from a seeded sample of windows (see the module docstring).

    Args:
        texts: the corpus' documents (str).
        tokenizer: a Hugging Face tokenizer (called without special tokens).
        windows, window_chars: how many chunks to sample, of how many characters.
        seed: the sampling seed.

    Returns:
        ``{"tokens_per_char", "chars_per_token", "rel_se", "sample_chars", "sample_tokens", "windows"}``
        (floats and ints; ``rel_se`` is None with fewer than 2 windows).

    Raises:
        AlignScopeError: the texts hold no character.
    """
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    if int(lengths.sum()) <= 0:
        raise AlignScopeError("The corpus has no text, so no characters-per-token ratio can be measured.",
                              fix="check the corpus with python -m core corpora show NAME.")
    chunks = -(-lengths // window_chars)                 # chunks per document [n_docs] (ceil)
    rng = np.random.default_rng(seed)
    picks = rng.choice(int(chunks.sum()), size=windows, replace=int(chunks.sum()) < windows)
    ends = np.cumsum(chunks)                             # chunk k lies in the document whose end passes k
    pieces = []
    for k in np.sort(picks):
        d = int(np.searchsorted(ends, k, side="right"))
        j = int(k - (ends[d] - chunks[d]))
        pieces.append(texts[d][j * window_chars:(j + 1) * window_chars])
    enc = tokenizer(pieces, add_special_tokens=False)["input_ids"]
    t = np.array([len(e) for e in enc], dtype=np.float64)      # tokens per window [n]
    c = np.array([len(p) for p in pieces], dtype=np.float64)   # characters per window [n]
    r = float(t.sum() / c.sum())
    n = len(pieces)
    rel = None
    if n >= 2 and r > 0:
        se = math.sqrt(float(((t - r * c) ** 2).sum()) / ((n - 1) * n * float(c.mean()) ** 2))
        rel = se / r
    return {"tokens_per_char": r, "chars_per_token": 1.0 / r if r else None, "rel_se": rel,
            "sample_chars": int(c.sum()), "sample_tokens": int(t.sum()), "windows": n}


def _exact(corpus: "Corpus", probe, store: "EmbeddingStore") -> dict | None:
    from core.embedding import stats_key

    hit = store.get(stats_key(corpus, probe))
    return None if hit is None else {**hit[1], "estimate": False}


def estimate_counts(corpus: "str | Corpus", *, model: str = DEFAULT_MODEL, store: "EmbeddingStore | None" = None,
                    save: bool = True) -> dict:
    """The token count of a corpus without counting every token: the exact count when cached, else an estimate.

    Args:
        corpus: a registered corpus name or a corpus object.
        model: the probe network whose tokenizer counts (default smollm2-135m).
        store: the embedding store holding exact counts (default :class:`core.store.EmbeddingStore`).
        save: store a new estimate (and a small corpus' exact count) for the next call.

    Returns:
        ``{"documents", "characters", "tokens", "estimate"}``; an estimate also has
        ``"chars_per_token", "rel_se", "sample_chars", "measured"`` (when the ratio was measured, Unix s).
        A corpus of at most :data:`EXACT_BELOW_CHARS` characters is counted exactly (and cached).

    Raises:
        CorpusError: the corpus is not installed or cannot be read.
    """
    from core.embedding import resolve_corpus, stats_key
    from core.pipeline import corpus_stats
    from core.probe import load_probe
    from core.store import EmbeddingStore

    store = store or EmbeddingStore()
    corpus = resolve_corpus(corpus)
    probe = load_probe(model, progress=False)
    exact = _exact(corpus, probe, store)
    if exact is not None:
        return exact
    key = stats_key(corpus, probe)
    known = _read_estimates().get(key)
    if isinstance(known, dict) and isinstance(known.get("tokens"), int):
        return {**known, "estimate": True}
    texts = [d.text for d in corpus.documents()]
    chars = sum(len(t) for t in texts)
    if chars <= EXACT_BELOW_CHARS:
        return {**corpus_stats(corpus, model=model, store=store), "estimate": False}
    ratio = measure_ratio(texts, probe.tokenizer)
    est = {"documents": len(texts), "characters": int(chars), "tokens": int(round(chars * ratio["tokens_per_char"])),
           "chars_per_token": ratio["chars_per_token"], "rel_se": ratio["rel_se"],
           "sample_chars": ratio["sample_chars"], "measured": time.time()}
    if save:
        _store_estimates({key: est})
    return {**est, "estimate": True}


def known_counts(names: Iterable[str], *, model: str = DEFAULT_MODEL) -> dict[str, dict | None]:
    """Counts already known (the exact cached count, else a stored estimate), never computed.

    Returns:
        ``{name: {"documents", "characters", "tokens", "estimate"} | None}`` (None: neither is
        known, or the corpus is not installed).
    """
    from core.corpora import get_corpus
    from core.embedding import stats_key
    from core.probe import load_probe
    from core.store import EmbeddingStore

    names = list(names)
    try:
        probe = load_probe(model, progress=False)
    except AlignScopeError:
        return {n: None for n in names}
    store, estimates, out = EmbeddingStore(), _read_estimates(), {}
    for n in names:
        try:
            corpus = get_corpus(n)
            hit = _exact(corpus, probe, store)
            est = None if hit is not None else estimates.get(stats_key(corpus, probe))
        except (AlignScopeError, OSError):
            out[n] = None
            continue
        out[n] = hit if hit is not None else ({**est, "estimate": True} if isinstance(est, dict) else None)
    return out


def listing(names: Iterable[str] | None = None, *, model: str = DEFAULT_MODEL, tokens: bool = True,
            background: bool = True, progress: bool = False) -> tuple[list[dict], Job | None]:
    """Every registered corpus (or those in ``names``) with its size, never blocking on token counting.

    Args:
        names: the corpora to list (default: every registered one), in registry order.
        model: the probe network whose tokenizer counts.
        tokens: give documents and tokens (False: only the registry's fields, nothing read).
        background: start a ``corpus_stats`` job counting the estimated corpora exactly (it caches
            the counts; the next listing shows them).
        progress: print one line per corpus on stderr while estimating.

    Returns:
        ``(rows, job)``: rows ``{"name", "kind", "domain", "available", "documents", "tokens",
        "tokens_estimated" (bool), "tokens_rel_se" (relative standard error of an estimate), "characters",
        "chars_per_token", "source", "license", "install"}`` (``error`` when a corpus cannot be read;
        ``count_job``: the id of the job counting an estimated corpus exactly), and the background job (None when nothing is left
        to count or ``background`` is False).
    """
    import sys

    from core.corpora import list_corpora

    rows, todo = [], []
    wanted = None if names is None else set(names)
    for c in list_corpora():
        if wanted is not None and c.name not in wanted:
            continue
        avail = c.available()
        row = {"name": c.name, "kind": c.spec.kind, "domain": c.spec.domain, "available": avail, "documents": None,
               "tokens": None, "tokens_estimated": False, "tokens_rel_se": None, "characters": None,
               "chars_per_token": None,
               "source": c.spec.source, "license": c.spec.license, "install": None if avail else c.install_hint()}
        if avail and tokens:
            try:
                n = estimate_counts(c, model=model)
                row.update(documents=n.get("documents"), tokens=n.get("tokens"), characters=n.get("characters"),
                           tokens_estimated=bool(n.get("estimate")), chars_per_token=n.get("chars_per_token"),
                           tokens_rel_se=n.get("rel_se"))
                if n.get("estimate"):
                    todo.append(c.name)
                if progress:
                    print(f"{c.name}: {n.get('tokens'):,} tokens" + (" (estimate)" if n.get("estimate") else ""),
                          file=sys.stderr)
            except AlignScopeError as exc:
                row["error"] = str(exc)
        rows.append(row)
    job = submit_counts(todo, model=model) if background and todo else None
    if job is not None:
        for row in rows:
            if row["name"] in todo:
                row["count_job"] = job.job_id
    return rows, job


def format_tokens(row: dict) -> str:
    """``"16,081,792"`` for an exact count, ``"≈16.2M ±1%"`` for an estimate (with its relative
    standard error), ``""`` when unknown. ``row``: a :func:`listing` row or an :func:`estimate_counts` dict."""
    t = row.get("tokens")
    if t is None:
        return ""
    if not row.get("tokens_estimated") and not row.get("estimate"):
        return f"{t:,}"
    rel = row.get("tokens_rel_se", row.get("rel_se"))
    return ("≈" + (f"{t / 1e6:.1f}M" if t >= 1e6 else f"{t / 1e3:.0f}k" if t >= 1e4 else f"{t:,}")
            + (f" ±{max(1, round(100 * rel))}%" if rel else ""))


def submit_counts(names: list[str], *, model: str = DEFAULT_MODEL) -> Job:
    """Start (or find) the background job counting ``names`` exactly (kind ``corpus_stats``)."""
    from core.jobs import get_job, job_id_for, submit

    params = {"corpora": list(names), "model": model}
    old = get_job(job_id_for(STATS_KIND, params))
    restart = old is not None and old.status().get("state") in ("failed", "cancelled", "killed")
    return submit(STATS_KIND, params, restart=restart)


def count_corpora(names: list[str] | None = None, *, model: str = DEFAULT_MODEL, progress: bool = False) -> dict[str, dict]:
    """Count the tokens of ``names`` (default: every installed corpus) exactly, now, and cache them
    (what setup runs, so that no listing has to estimate the built-in corpora).

    Returns:
        ``{name: {"documents", "tokens", "characters"} | {"error": str}}``.
    """
    from core.corpora import list_corpora
    from core.pipeline import corpus_stats

    if names is None:
        names = [c.name for c in list_corpora() if c.available()]
    out: dict[str, dict] = {}
    for name in names:
        try:
            out[name] = corpus_stats(name, model=model, progress=progress)
        except AlignScopeError as exc:
            out[name] = {"error": str(exc)}
    return out


def job_total(params: dict) -> int:
    """Units of progress of a ``corpus_stats`` job: one per corpus (its first status shows this)."""
    return len(params.get("corpora") or [])


def count_job(params: dict, ctx: JobContext) -> dict:
    """Job target (kind ``corpus_stats``): exact token counts of ``params["corpora"]``, one unit of
    progress per corpus; a corpus that cannot be read is reported and the others go on."""
    from core.pipeline import corpus_stats

    names = list(params["corpora"])
    model = params.get("model") or DEFAULT_MODEL
    out: dict[str, dict] = {}
    for k, name in enumerate(names):
        if ctx.should_stop():
            raise InterruptedError(f"stopped after {k} corpora")
        ctx.progress(k, len(names), f"counting tokens of {name}")
        try:
            out[name] = corpus_stats(name, model=model)
            ctx.log(f"{name}: {out[name]}")
        except AlignScopeError as exc:  # one bad corpus does not stop the others
            out[name] = {"error": str(exc)}
            ctx.log(f"{name}: {exc}")
    ctx.progress(len(names), len(names), "done")
    return out


register_job_kind(STATS_KIND, "core.corpus_counts:count_job", total="core.corpus_counts:job_total",
                  description="exact token counts of corpora")
