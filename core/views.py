"""Dashboard view state as plain data: URL query parameters <-> :class:`ViewState`, table rows.

Everything here is a pure function of its arguments (no streamlit, no disk, no model), so the
dashboard's state handling is testable without a browser. A *view* is what a link must reopen:
the target benchmark, the candidate corpora, the embedding settings (probe network, estimator,
batch shape, seed, device, precision), the heatmap order and the embedding job being watched.

Query parameters (all optional; bad values fall back to the defaults, never raise)::

    ?target=proofnet&candidates=coq-stdlib,metamath&model=smollm2-135m&estimator=closed_form_head
     &batch_size=16&seq_len=128&num_batches=5&seed=0&device=auto&precision=auto&order=clustered&job=embed-0123...

The 2-D embedding map (a computation) lives in :mod:`core.embedding_map`; its names stay importable from here.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from core.batches import BatchConfig
from core.deck import param_value
from core.embedding_map import (UMAP_MAX_POINTS, UMAP_MIN_POINTS, _import_umap, _pca_layout,  # noqa: F401
                                _umap_layout, embedding_map)
from core.estimators import DEFAULT_ESTIMATOR
from core.settings import EmbedSettings
from core.precision import PRECISIONS
from core.probe import DEFAULT_MODEL

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedTokenizerBase

    from core.coefficients import AlignmentMatrix

DEFAULT_TARGET = "proofnet"
#: Candidates preselected when the URL names none (those installed are used).
DEFAULT_CANDIDATES = ("coq-stdlib", "metamath", "hol-light", "python-docstrings", "python-stdlib", "wikipedia", "news")
ORDERS = ("clustered", "selection", "alphabetical")
DEVICES = ("auto", "cpu", "cuda")
#: (query parameter, minimum, maximum) of the integer settings; defaults come from BatchConfig.
INT_PARAMS = (("batch_size", 1, 512), ("seq_len", 2, 2048), ("num_batches", 1, 64), ("seed", 0, 10 ** 6))
VIEW_PARAMS = ("target", "candidates", "model", "estimator", *(p for p, _, _ in INT_PARAMS), "device", "precision",
               "order", "job", "present")
_JOB_RE = re.compile(r"^[a-z_]+-[0-9a-f]{16}$")


@dataclass(frozen=True)
class ViewState:
    """What the dashboard shows; round-trips through URL query parameters.

    Attributes:
        target: the target benchmark corpus.
        candidates: candidate source corpora, in the user's order (never contains ``target``).
        model, estimator, batch_size, seq_len, num_batches, seed, device, precision: embedding settings.
        order: heatmap order, one of :data:`ORDERS`.
        job: id of the embedding job being watched, or ``""``.
        present: presenter mode (``?present=1``): no controls, one chart per screen, never computes.
    """

    target: str = DEFAULT_TARGET
    candidates: tuple[str, ...] = ()
    model: str = DEFAULT_MODEL
    estimator: str = DEFAULT_ESTIMATOR
    batch_size: int = BatchConfig().batch_size
    seq_len: int = BatchConfig().seq_len
    num_batches: int = BatchConfig().num_batches
    seed: int = BatchConfig().seed
    device: str = "auto"
    precision: str = "auto"
    order: str = "clustered"
    job: str = ""
    present: bool = False
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def settings(self) -> EmbedSettings:
        """The :class:`EmbedSettings` this view embeds with."""
        return EmbedSettings(model=self.model, estimator=self.estimator,
                             batch=BatchConfig(batch_size=self.batch_size, seq_len=self.seq_len,
                                               num_batches=self.num_batches, seed=self.seed),
                             device=self.device, precision=self.precision)

    def corpora(self) -> list[str]:
        """Target first, then the candidates."""
        return [self.target, *self.candidates] if self.target else list(self.candidates)

    def with_settings(self, settings: EmbedSettings) -> "ViewState":
        """A copy whose embedding settings are those of ``settings``."""
        b = settings.batch
        return replace(self, model=settings.model, estimator=settings.estimator, batch_size=b.batch_size,
                       seq_len=b.seq_len, num_batches=b.num_batches, seed=b.seed, device=settings.device,
                       precision=settings.precision)


def split_names(value: str | Sequence[str] | None) -> list[str]:
    """``"a,b, c"`` (or a list of such strings) -> ``["a", "b", "c"]``, duplicates and blanks removed."""
    if value is None:
        return []
    parts = value if isinstance(value, (list, tuple)) else [value]
    out: list[str] = []
    for p in parts:
        out.extend(s.strip() for s in str(p).split(","))
    return list(dict.fromkeys(s for s in out if s))


def _int(value, default: int, lo: int, hi: int) -> int:
    try:
        v = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return min(max(v, lo), hi)


def view_from_params(params: Mapping, *, known: Iterable[str] | None = None, available: Iterable[str] | None = None,
                     estimators: Iterable[str] | None = None) -> ViewState:
    """Build a :class:`ViewState` from URL query parameters; never raises.

    Args:
        params: a mapping like ``st.query_params`` (values are strings or lists of strings).
        known: corpus names that exist; unknown target/candidates are dropped (None: keep all).
        available: installed corpus names, used to choose default candidates when the URL names
            none (None: all of :data:`DEFAULT_CANDIDATES`).
        estimators: valid estimator names (None: accept any non-empty name).

    Returns:
        The view; missing or invalid values are replaced by the defaults.
    """
    known_set = set(known) if known is not None else None
    d = ViewState()
    target = (param_value(params.get("target")) or "").strip() or d.target
    if known_set is not None and target not in known_set:
        target = d.target if d.target in known_set else ""
    if "candidates" in params:
        cands = split_names(params.get("candidates"))
    else:
        cands = default_candidates(available)
    cands = [c for c in cands if c != target and (known_set is None or c in known_set)]
    model = (param_value(params.get("model")) or "").strip() or d.model
    estimator = (param_value(params.get("estimator")) or "").strip() or d.estimator
    if estimators is not None and estimator not in set(estimators):
        estimator = d.estimator
    ints = {name: _int(param_value(params.get(name)), getattr(d, name), lo, hi) for name, lo, hi in INT_PARAMS}
    device = (param_value(params.get("device")) or d.device).strip()
    if device not in DEVICES and not re.fullmatch(r"cuda:\d+", device):
        device = d.device
    precision = (param_value(params.get("precision")) or d.precision).strip()
    precision = precision if precision in PRECISIONS else d.precision
    order = param_value(params.get("order")) or d.order
    order = order if order in ORDERS else d.order
    job = (param_value(params.get("job")) or "").strip()
    job = job if _JOB_RE.match(job) else ""
    present = (param_value(params.get("present")) or "").strip().lower() in ("1", "true", "yes", "on")
    extra = {k: params[k] for k in params if k not in VIEW_PARAMS}
    return ViewState(target=target, candidates=tuple(cands), model=model, estimator=estimator, device=device,
                     precision=precision, order=order, job=job, present=present, extra=extra, **ints)


def view_to_params(view: ViewState, *, include_defaults: bool = False) -> dict[str, str]:
    """Query parameters of a view (strings). Target and candidates are always included so that a
    link reopens exactly the same selection; other settings only when they differ from the defaults
    (or always with ``include_defaults``). ``job`` only when set."""
    d = ViewState()
    out = {"target": view.target, "candidates": ",".join(view.candidates)}
    for name in ("model", "estimator", *(p for p, _, _ in INT_PARAMS), "device", "precision", "order"):
        value = getattr(view, name)
        if include_defaults or value != getattr(d, name):
            out[name] = str(value)
    if view.job:
        out["job"] = view.job
    if view.present:
        out["present"] = "1"
    return out


def params_diff(current: Mapping, wanted: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """What to change in the URL: ``(to_set, to_delete)`` for the view's own keys only.

    Keys outside :data:`VIEW_PARAMS` (other pages' parameters) are never touched.
    """
    to_set = {k: v for k, v in wanted.items() if param_value(current.get(k)) != v}
    to_delete = [k for k in VIEW_PARAMS if k in current and k not in wanted]
    return to_set, to_delete


def default_candidates(available: Iterable[str] | None) -> list[str]:
    """:data:`DEFAULT_CANDIDATES` restricted to ``available`` (all when None)."""
    if available is None:
        return list(DEFAULT_CANDIDATES)
    avail = set(available)
    return [c for c in DEFAULT_CANDIDATES if c in avail]


def share_link(base_url: str, view: ViewState, page: str = "") -> str:
    """A URL reopening ``view`` on ``page`` (``""`` for the home page, e.g. ``"Alignment"``)."""
    from urllib.parse import urlencode

    base = base_url.rstrip("/") + ("/" + page if page else "/")
    return base + "?" + urlencode(view_to_params(view), safe=",")


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------
def human_count(n: float | None) -> str:
    """``1234567 -> "1.23 M"``; ``None`` -> ``""``."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return ""
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)}"


def corpus_rows(corpora: Iterable[Mapping], *, tokens: Mapping[str, int | None] | None = None,
                target: str = "", candidates: Iterable[str] = ()) -> list[dict]:
    """Rows of the corpus registry table.

    Args:
        corpora: one mapping per corpus with ``name, kind, domain, documents, available,
            install_hint, source, license`` (e.g. :meth:`Corpus.describe` plus ``documents``).
        tokens: corpus -> token count when known (missing or None: not counted yet).
        target, candidates: the current selection, shown in the ``role`` column.

    Returns:
        dicts with keys ``corpus, role, domain, kind, installed, documents, tokens, source,
        license, install`` (``install``: the command to run when not installed, else ``""``).
    """
    tokens = tokens or {}
    cands = set(candidates)
    rows = []
    for c in corpora:
        name = c["name"]
        role = "target" if name == target else ("candidate" if name in cands else "")
        rows.append({"corpus": name, "role": role, "domain": c.get("domain", ""), "kind": c.get("kind", ""),
                     "installed": bool(c.get("available")), "documents": c.get("documents"),
                     "tokens": tokens.get(name), "source": c.get("source", ""), "license": c.get("license", ""),
                     "install": "" if c.get("available") else (c.get("install_hint") or "")})
    return rows


def ranking_rows(ranking: list[dict], *, tokens: Mapping[str, int | None] | None = None,
                 domains: Mapping[str, str] | None = None, groups: Sequence[int] | None = None) -> list[dict]:
    """Rows of the ranking table from :func:`core.coefficients.rank_sources` output.

    Args:
        groups: one tie-group number per row (:func:`core.coefficients.tie_groups`): sources whose
            alignments are not significantly different share a group and a rank range.

    Returns:
        dicts ``rank, ranks, group, source, domain, alignment, ci_low, ci_high, diversity, tokens,
        batches`` (``ranks``: ``"2"`` or ``"2-4"`` for a group of tied sources; ``group``: its number,
        or None without ``groups``).
    """
    tokens = tokens or {}
    domains = domains or {}
    spans: dict[int, list[int]] = {}
    if groups is not None:
        for r, g in zip(ranking, groups):
            spans.setdefault(g, []).append(r["rank"])
    rows = []
    for k, r in enumerate(ranking):
        g = groups[k] if groups is not None else None
        span = spans.get(g, [r["rank"]])
        rows.append({"rank": r["rank"], "ranks": f"{min(span)}–{max(span)}" if len(span) > 1 else str(r["rank"]),
                     "group": g, "source": r["source"], "domain": domains.get(r["source"], ""),
                     "alignment": r["alignment"], "ci_low": r.get("ci_low"), "ci_high": r.get("ci_high"),
                     "diversity": r.get("diversity"), "tokens": tokens.get(r["source"]),
                     "batches": "x".join(str(n) for n in r.get("num_batches") or [])})
    return rows


def settings_caption(settings: EmbedSettings | Mapping) -> str:
    """One line naming what produced a figure: probe, estimator, batches, seed, device (and the
    precision when it is not the default ``auto``)."""
    s = settings.to_dict() if hasattr(settings, "to_dict") else dict(settings)
    b = s.get("batch") or {}
    params = s.get("estimator_params") or {}
    est = s.get("estimator", "")
    if params:
        est += "(" + ", ".join(f"{k}={v}" for k, v in sorted(dict(params).items())) + ")"
    return (f"probe {s.get('model')} · estimator {est} · {b.get('num_batches')} batches × "
            f"{b.get('batch_size')} seqs × {b.get('seq_len')} tokens · seed {b.get('seed')} · device {s.get('device')}"
            + (f" · precision {s['precision']}" if s.get("precision") else ""))


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~$])")


def md_escape(text: object) -> str:
    """Escape Markdown/HTML-significant characters so a message (paths, globs, corpus names,
    errors) renders literally in ``st.error``/``st.info``/``st.markdown``."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


# ----------------------------------------------------------------------------------------------
# Drill-down: the batch pairs behind one alignment coefficient
# ----------------------------------------------------------------------------------------------
def pair_drilldown(matrix: AlignmentMatrix, source: str, target: str, *, top: int = 2) -> dict:
    """The batch-pair Task2Vec distances behind ``align(source, target)`` (or ``div(source)`` when
    ``source == target``) and the source batches closest to / farthest from the target.

    Args:
        matrix: :class:`core.coefficients.AlignmentMatrix` (its distance matrix is reused).
        source, target: corpus names in ``matrix``.
        top: how many closest and farthest batches to return.

    Returns:
        ``{"distances": float64 [n_source * n_target] (off-diagonal pairs only when source == target),
        "mean": mean distance, "coefficient": 1 - mean for alignment / mean for diversity, "kind",
        "batch_mean": float64 [n_source] mean distance of each source batch to the target's batches,
        "closest": [batch indices], "farthest": [batch indices]}`` (indices into the source's batches,
        closest first / farthest first).

    Raises:
        ValueError: a name not in the matrix.
    """
    import numpy as np

    for n in (source, target):
        if n not in matrix.names:
            raise ValueError(f"{n!r} is not among {matrix.names}")
    i, j = matrix.names.index(source), matrix.names.index(target)
    block = np.asarray(matrix.distances[matrix.offsets[i]:matrix.offsets[i + 1],
                                        matrix.offsets[j]:matrix.offsets[j + 1]], dtype=np.float64)
    if source == target:
        mask = ~np.eye(len(block), dtype=bool)
        dists = block[mask]
        per = np.array([row[m].mean() if m.any() else np.nan for row, m in zip(block, mask)])
        kind, coef = "diversity", float(dists.mean()) if dists.size else float("nan")
    else:
        dists = block.ravel()
        per = block.mean(axis=1)
        kind, coef = "alignment", 1.0 - float(dists.mean())
    order = [int(k) for k in np.argsort(per, kind="stable")]
    top = max(1, min(top, len(order)))
    return {"distances": dists, "mean": float(dists.mean()) if dists.size else float("nan"), "coefficient": coef,
            "kind": kind, "batch_mean": per, "closest": order[:top], "farthest": order[::-1][:top]}


def window_text(tokenizer: PreTrainedTokenizerBase, input_ids: Sequence[int] | np.ndarray,
                attention_mask: Sequence[int] | np.ndarray, *, max_chars: int = 600) -> str:
    """The text of one token window (padding dropped), cut to ``max_chars`` characters; plain text,
    to be shown escaped (``st.text`` / ``st.code``), never as Markdown or HTML."""
    ids = [int(t) for t, m in zip(input_ids, attention_mask) if m]
    text = tokenizer.decode(ids, skip_special_tokens=True)
    return text if len(text) <= max_chars else text[:max_chars] + " …"


# ----------------------------------------------------------------------------------------------
# Mix feasibility: a source cannot give more tokens than it holds
# ----------------------------------------------------------------------------------------------
def mix_feasibility(weights: Mapping[str, float], budget: int, tokens: Mapping[str, int | None]) -> list[dict]:
    """Whether each source holds the tokens its share of the budget asks for (``w_s × budget ≤ tokens_s``).

    Args:
        weights: ``source -> weight`` (not necessarily normalised; non-negative).
        budget: total tokens of the mixture (probe tokenizer).
        tokens: ``source -> tokens the whole corpus holds`` (None or absent: not counted yet).

    Returns:
        one dict per source ``{"source", "share", "needed", "available", "max_share", "feasible"}``:
        ``share`` normalised, ``needed = share × budget`` (tokens), ``max_share = min(1, available /
        budget)``, ``feasible`` True/False, or None when the source's tokens are not counted yet.
    """
    total = sum(max(0.0, float(w)) for w in weights.values())
    out = []
    for s, w in weights.items():
        share = max(0.0, float(w)) / total if total > 0 else 0.0
        avail = tokens.get(s)
        max_share = None if avail is None else min(1.0, avail / budget) if budget > 0 else 1.0
        out.append({"source": s, "share": share, "needed": share * budget, "available": avail,
                    "max_share": max_share, "feasible": None if avail is None else share * budget <= avail + 1e-9})
    return out


def availability_caps(sources: Sequence[str], budget: int, tokens: Mapping[str, int | None], *,
                      cap: float | None = None, resolution: float = 0.0) -> dict[str, float]:
    """Per-source caps on the share for the optimiser: ``min(cap, tokens_s / budget)`` (1 where the
    tokens are not counted yet, ``cap`` None meaning no user cap). With ``resolution`` (e.g. 0.01,
    a slider's step) an availability cap is rounded down to a multiple of it, less a small margin,
    so that the weights still fit once rounded for display."""
    import math

    user = 1.0 if cap is None else float(cap)
    out = {}
    for s in sources:
        avail = 1.0 if tokens.get(s) is None or budget <= 0 else tokens[s] / budget
        if resolution and avail < 1.0:
            avail = max(0.0, math.floor((avail - resolution / 5) / resolution) * resolution)
        out[s] = min(user, avail)
    return out
