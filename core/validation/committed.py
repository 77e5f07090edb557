"""The committed validation lab as groups of fine-tune points for the live pages.

A fresh clone has no fine-tune run in its results database (``cache/results/finetune.sqlite``), but
the repository carries a finished lab (``docs/results/validation.json``: every source fine-tuned with
several seeds, each regime's runs and every metric's value). :func:`lab_groups` turns each source
regime of that file (``4k``, ``long``; not the dose mixtures) into one *group* shaped like a group of
live runs (:func:`core.finetune.results.groups`), so that the Alignment vs perplexity page and the
Fine-tune slide can plot it with :mod:`core.finetune.plots` when the results database has nothing for
the target. A lab group is never merged with live runs: its key (``"lab:4k"``) is not a live group key.

One point per source of the regime:

- ``ppl_after``: the mean over the source's successful seeds of the post-fine-tune perplexity on the
  target's held-out split; ``ppl_low`` / ``ppl_high``: the **minimum and maximum over those seeds**
  (the error bars; with 3 seeds a range says more than a standard error);
- ``alignment`` with ``align_ci_low`` / ``align_ci_high``: the lab's value of the metric (default
  ``t2v-head``, the product default: Task2Vec alignment coefficient, Chawla et al. eq. 1, closed-form
  LM-head FIM) and its 95% CI (delete-one-batch jackknife), from the file's ``metrics`` rows;
- ``familiarity``: the base probe network's perplexity on the source, ``exp(-value)`` of the lab's
  ``familiarity`` metric (which is ``-NLL`` in nats per token, Ren et al. arXiv 2402.11192);
- ``ppl_before``: the file's base-model perplexity (``base.perplexity``);
- ``derived``: the file's ``sources[source]["derived_from_target"]`` (text taken from the target
  benchmark itself: a high-leverage point, marked in the figure).

The file is read once per version (path, modification time, size) and checked with
:func:`core.validation.report.load_results`.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

from core.errors import AlignScopeError
from core.validation import report, stats

#: Key prefix of a committed-lab group (never a live group key: those are JSON objects).
LAB_PREFIX = "lab:"
#: The metric whose values are the points' alignment (the product default).
DEFAULT_METRIC = stats.DEFAULT_METRIC
#: The lab metric measuring familiarity (``-NLL`` nats/token of the base probe on the source).
FAMILIARITY_METRIC = "familiarity"

_CACHE: dict[tuple[str, int, int], dict] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class LabGroup:
    """One source regime of the committed lab, as a group of plot points.

    Attributes:
        key: ``"lab:<regime>"`` (the Alignment vs perplexity page's ``avp_group`` value).
        regime: the lab's regime name (``"4k"``, ``"long"``).
        target, model, created, device, precision: the file's own fields (``created`` is its ISO time).
        metric: the metric whose values are the points' alignment.
        hparams: the regime's settings (``budget_tokens, epochs, learning_rate, batch_size, seq_len, seeds``).
        rows: one dict per plotted source (see the module docstring; the keys of a results-database row
            that :mod:`core.finetune.plots` reads, plus ``ppl_low, ppl_high, ppl_seeds, seeds, n_seeds,
            derived, lab``).
        skipped: ``(source, why)`` of sources of the regime that are not plotted (no successful seed,
            or no value of ``metric``).
        path: the results file read.
        base_ppl: the base model's perplexity on the held-out split (None when the file has none).
        n_seeds: the most successful seeds of any plotted source.
    """

    key: str
    regime: str
    target: str
    model: str
    created: str
    device: str
    precision: str
    metric: str
    hparams: dict
    rows: tuple[dict, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    path: str = ""
    base_ppl: float | None = None
    n_seeds: int = 0

    @property
    def date(self) -> str:
        """The date part of ``created`` (``"2026-11-26"``), or ``""``."""
        return (self.created or "")[:10]

    @property
    def label(self) -> str:
        """``"committed lab, 4k regime, 15 sources × 3 seeds, 2026-11-26, probe smollm2-135m"``."""
        n_src = len(self.rows)
        seeds = self.n_seeds
        parts = [f"committed lab, {self.regime} regime", f"{n_src} source{'s' if n_src != 1 else ''} × {seeds} "
                 f"seed{'s' if seeds != 1 else ''}"]
        if self.date:
            parts.append(self.date)
        parts.append(f"probe {self.model}")
        return ", ".join(parts)

    @property
    def title(self) -> str:
        """The group's line in a group selector: :attr:`label` and its budget and learning rate."""
        h = self.hparams
        return (f"{self.label} · {h.get('budget_tokens')} tokens · {h.get('epochs')} ep · lr {h.get('learning_rate')} "
                f"· seq {h.get('seq_len')} ({len(self.rows)} points)")

    @property
    def caption(self) -> str:
        """One sentence saying what the points, error bars and x values are."""
        derived = [r["label"] for r in self.rows if r.get("derived")]
        return (f"Read from {Path(self.path).name} ({self.device or 'device not recorded'}). Each point: one source, "
                f"mean perplexity over its seeds; vertical bars: min–max over seeds; horizontal bars: 95% CI of the "
                f"{self.metric} alignment (delete-one-batch jackknife)."
                + (f" Derived from the target benchmark (diamonds): {', '.join(derived)}." if derived else "")
                + " Never combined with live runs.")


def _version(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_mtime_ns, st.st_size


def load_committed(path: str | Path | None = None) -> tuple[dict, Path] | None:
    """The committed lab results and their path, read once per file version.

    Args:
        path: a results file (default :func:`core.validation.report.results_path`: the file named by
            ``$ALIGNSCOPE_VALIDATION_RESULTS``, else ``docs/results/validation.json``, else the lab's output).

    Returns:
        ``(results dict, path)``, or None when there is no results file.

    Raises:
        core.validation.report.ResultsError: the file is missing (when named), not JSON or malformed
            (the message names the file and the field).
    """
    p = Path(path).expanduser() if path is not None else report.results_path()
    if p is None:
        return None
    try:
        version = _version(p)
    except OSError:
        report.load_results(p)          # raises the ResultsError naming the missing file
        raise
    with _LOCK:
        hit = _CACHE.get(version)
    if hit is None:
        hit = report.load_results(p)
        with _LOCK:
            if len(_CACHE) >= 4:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[version] = hit
    return hit, p


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _group(results: dict, path: Path, regime: str, metric: str) -> LabGroup:
    table = stats.metric_table(results)
    values = table.get(metric, {})
    fam = table.get(FAMILIARITY_METRIC, {})
    base = (results.get("base") or {}).get("perplexity")
    base = float(base) if _finite(base) else None
    info = dict((results.get("regimes") or {}).get(regime) or {})
    hparams = {k: info.get(k) for k in ("budget_tokens", "epochs", "learning_rate", "batch_size", "seq_len", "seeds")}
    key = LAB_PREFIX + regime
    rows, skipped = [], []
    for p in stats.regime_points(results, regime):
        if not p.ppl:
            skipped.append((p.name, f"no successful seed ({p.n_failed} failed, {p.n_pending} pending)"))
            continue
        m = values.get(p.metric_point)
        if m is None:
            skipped.append((p.name, f"no {metric} value in the file"))
            continue
        lo, hi = m.get("ci_low"), m.get("ci_high")
        f = fam.get(p.metric_point)
        rows.append({
            "group_key": key, "run_id": f"{regime}:{p.name} ({len(p.ppl)} runs)", "label": p.name, "source": p.name,
            "target": results["target"], "model": results.get("model"), "method": "full", "status": "done",
            "alignment": float(m["value"]), "align_ci_low": float(lo) if _finite(lo) else None,
            "align_ci_high": float(hi) if _finite(hi) else None,
            "ppl_after": float(sum(p.ppl) / len(p.ppl)), "ppl_low": float(min(p.ppl)), "ppl_high": float(max(p.ppl)),
            "ppl_seeds": list(p.ppl), "seeds": list(p.seeds), "n_seeds": len(p.ppl), "n_failed": p.n_failed,
            "ppl_before": base, "familiarity": math.exp(-float(f["value"])) if f is not None else None,
            "tokens_trained": info.get("budget_tokens"), "derived": bool(p.derived), "lab": True,
            "align_settings": {"metric": metric, "model": results.get("model")}})
    return LabGroup(key=key, regime=regime, target=str(results["target"]), model=str(results.get("model") or ""),
                    created=str(results.get("created") or ""), device=str(results.get("device") or ""),
                    precision=str(results.get("precision") or ""), metric=metric, hparams=hparams, rows=tuple(rows),
                    skipped=tuple(skipped), path=str(path), base_ppl=base,
                    n_seeds=max((r["n_seeds"] for r in rows), default=0))


def lab_groups(target: str | None = None, *, metric: str = DEFAULT_METRIC,
               path: str | Path | None = None) -> list[LabGroup]:
    """The committed lab's source regimes as plot groups (4k first, then the file's order; no dose).

    Args:
        target: keep the groups of this target benchmark only (None: the file's target, whatever it is).
        metric: the metric whose values are the points' alignment (default ``t2v-head``).
        path: the results file (default :func:`core.validation.report.results_path`).

    Returns:
        One :class:`LabGroup` per regime with at least one plotted point; ``[]`` without a results file
        or when the file's target is not ``target``.

    Raises:
        core.validation.report.ResultsError: a malformed results file.
        AlignScopeError: ``metric`` has no value in the file.
    """
    loaded = load_committed(path)
    if loaded is None:
        return []
    results, p = loaded
    if target is not None and results["target"] != target:
        return []
    names = stats.metric_names(results)
    if results.get("metrics") and metric not in names:
        raise AlignScopeError(f"Metric {metric!r} has no value in the lab results {p}.",
                              fix=f"choose one of {', '.join(names)}.")
    regimes = [r for r in stats.regime_names(results) if r != stats.DOSE_REGIME]
    regimes.sort(key=lambda r: r != stats.DOSE_BASE_REGIME)
    out = [_group(results, p, r, metric) for r in regimes]
    return [g for g in out if g.rows]


def lab_group(key: str, *, target: str | None = None, metric: str = DEFAULT_METRIC,
              path: str | Path | None = None) -> LabGroup | None:
    """The lab group whose :attr:`LabGroup.key` is ``key`` (``"lab:4k"``), or None when there is none.

    Raises:
        core.validation.report.ResultsError: a malformed results file.
    """
    if not is_lab_key(key):
        return None
    return next((g for g in lab_groups(target, metric=metric, path=path) if g.key == key), None)


def is_lab_key(key: str | None) -> bool:
    """Whether ``key`` names a committed-lab group (``"lab:<regime>"``) rather than a live one."""
    return isinstance(key, str) and key.startswith(LAB_PREFIX)


def clear_cache() -> None:
    """Forget the files read (tests; a file's new version is read anyway)."""
    with _LOCK:
        _CACHE.clear()


@dataclass(frozen=True)
class PlotGroup:
    """One entry of the Alignment vs perplexity page's group selector: live runs or a committed-lab regime.

    Attributes:
        key: the live group's ``group_key`` (:meth:`core.finetune.config.FinetuneConfig.group_key`) or
            the lab group's ``"lab:<regime>"``.
        title: its line in the selector.
        target: the target benchmark.
        lab: the :class:`LabGroup` (None for live runs).
        live: whether some run of the group is queued or running (the page then refreshes).
    """

    key: str
    title: str
    target: str
    lab: LabGroup | None = None
    live: bool = False

    def rows(self) -> list[dict]:
        """The group's rows: the lab's points, or the live runs (every status, newest first)."""
        if self.lab is not None:
            return list(self.lab.rows)
        from core.finetune import results

        return results.list_runs(group_key=self.key)


def plot_groups(target: str | None = None, *, metric: str = DEFAULT_METRIC,
                path: str | Path | None = None) -> tuple[list[PlotGroup], str]:
    """Every group the Alignment vs perplexity page can show, the default first.

    Live groups (:func:`core.finetune.results.groups`, most recently updated first) and the committed
    lab's source regimes (:func:`lab_groups`, after them). The default is the newest live group when the
    results database has a run (as without a lab), else the lab's first regime (4k) on ``target``, else
    the lab's first regime; a lab group is never merged with live runs (a live run with the lab's
    settings is in its own live group, as every live run).

    Args:
        target: the view's target benchmark (None: no preference).
        metric, path: see :func:`lab_groups`.

    Returns:
        ``(groups, note)``: ``note`` says why the lab is absent when its file cannot be read (else ``""``).
    """
    from core.finetune import results

    rows = results.list_runs()
    live = []
    for g in results.groups(rows):
        busy = any(r.get("status") in ("queued", "running") for r in rows if (r.get("group_key") or "") == g["group_key"])
        live.append(PlotGroup(key=g["group_key"], title=g["title"], target=str(g.get("target") or ""), live=busy))
    note = ""
    try:
        labs = [PlotGroup(key=g.key, title=f"{g.target} · {g.title}", target=g.target, lab=g)
                for g in lab_groups(None, metric=metric, path=path)]
    except AlignScopeError as exc:
        labs, note = [], f"The committed lab is not shown: {exc}"
    first = live[:1] or [g for g in labs if g.target == target][:1] or labs[:1]
    ordered = first + [g for g in live + labs if g not in first]
    return ordered, note


def find_group(groups: list[PlotGroup], key: str | None) -> PlotGroup | None:
    """The group of ``groups`` whose key is ``key`` (None when absent or ``key`` is empty)."""
    return next((g for g in groups if key and g.key == key), None)
