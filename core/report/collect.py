"""Everything a report holds, read from the caches (never computed): the alignment matrix and the
ranking from cached Task2Vec embeddings, the chosen mixture with its predicted alignment (and the
measured one when a ``mix_verify`` job verified it), the fine-tune runs and their
alignment-vs-perplexity fit, and the validation lab's leaderboard when its results file exists.
"""
from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from dataclasses import dataclass, field
from typing import Any

from core.errors import AlignScopeError
from core.settings import EmbedSettings


@dataclass
class ReportData:
    """What :func:`core.report.render_html` lays out.

    Attributes:
        target, candidates: the target benchmark and the candidate sources (names).
        settings: the :class:`EmbedSettings` of every coefficient in the report.
        provenance: ``{created (UTC ISO), commit, python, cache, corpora: {name: fingerprint}}``.
        missing: corpora without every batch embedding cached (left out of the figures).
        matrix: :class:`core.coefficients.AlignmentMatrix` of the cached corpora, or None.
        ranking: :func:`core.views.ranking_rows` rows with tie groups, or [].
        mixture: ``{name, weights, budget_tokens, predicted: {alignment, diversity}, verified | None}`` or None.
        runs: finished fine-tune runs of the target's latest comparable group; ``run_group``: its title.
        leaderboard: validation-lab leaderboard rows (one regime, all sources), ``lab``: its summary.
        lab_axes: the verdict of every other (condition, outcome) of the committed labs
            (:func:`core.validation.report.lab_axes`) on the report's target: ``[{"target", "condition", "outcome", "label", "path",
            "verdict"}]``.
        designs: the lab's other designs with committed results (:func:`core.report.designs.design_sections`:
            data kinds, budget curves, the pre-training grid).
        notes: sentences saying what is absent and how to get it.
    """

    target: str
    candidates: list[str]
    settings: EmbedSettings
    provenance: dict = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    matrix: Any = None
    ranking: list[dict] = field(default_factory=list)
    mixture: dict | None = None
    runs: list[dict] = field(default_factory=list)
    run_group: str = ""
    leaderboard: list[dict] = field(default_factory=list)
    lab: dict = field(default_factory=dict)
    lab_axes: list[dict] = field(default_factory=list)
    designs: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _commit() -> str:
    from core.paths import REPO_ROOT

    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _matrix(names: list[str], settings: EmbedSettings):
    from core.coefficients import cross_alignment
    from core.pipeline import cached_distances, cached_embeddings
    from core.store import EmbeddingStore

    store = EmbeddingStore()
    emb, missing, prints = {}, [], {}
    for n in names:
        try:
            look = cached_embeddings(n, settings, store=store, draw=False, progress=False)
        except AlignScopeError:
            missing.append(n)
            continue
        if look.complete and len(look.found):
            emb[n] = look.embeddings()
        else:
            missing.append(n)
    for n in names:
        try:
            from core.corpora import get_corpus

            prints[n] = get_corpus(n).fingerprint()
        except (AlignScopeError, OSError):
            prints[n] = None
    if len(emb) < 2:
        return None, missing, prints
    return cross_alignment(emb, block=cached_distances(emb, store=store)), missing, prints


def _verified(target: str, weights: dict[str, float]) -> dict | None:
    from core.jobs import list_jobs

    want = {s: round(w, 3) for s, w in weights.items() if w > 0}
    for job in list_jobs("mix_verify"):
        if job.status().get("state") != "done":
            continue
        res = job.result() or {}
        got = {s: round(w, 3) for s, w in (res.get("weights") or {}).items() if w > 0}
        if res.get("target") == target and got == want:
            return {"alignment": (res.get("measured") or {}).get("alignment"),
                    "diversity": (res.get("measured") or {}).get("diversity"), "job": job.job_id}
    return None


def _mixture(target: str, candidates: list[str], settings: EmbedSettings, name: str | None) -> tuple[dict | None, str]:
    from core.mixture import MissingEmbeddingsError, list_mixtures, load_mixture, load_source_set, predict_mixture

    from core.mixture import mixtures_dir

    chosen = None
    if name:
        chosen = load_mixture(name)
    else:                                           # the most recently saved mixture for this target
        def saved_at(n: str) -> float:
            try:
                return (mixtures_dir() / f"{n}.json").stat().st_mtime
            except OSError:
                return 0.0

        for n in sorted(list_mixtures(), key=saved_at, reverse=True):
            try:
                m = load_mixture(n)
            except AlignScopeError:
                continue
            if m.target == target:
                chosen = m
                break
    if chosen is None:
        return None, f"No saved mixture for {target}: save one on the Mix page (or python -m core mix save)."
    try:
        ss = load_source_set(target, list(chosen.weights), settings)
    except MissingEmbeddingsError as exc:
        return ({"name": chosen.name, "weights": dict(chosen.weights), "budget_tokens": chosen.budget_tokens,
                 "predicted": None, "verified": _verified(target, chosen.weights)},
                f"Mixture {chosen.name}: no prediction ({exc.what}).")
    pred = predict_mixture(ss, chosen.weights)
    return ({"name": chosen.name, "weights": dict(chosen.weights), "budget_tokens": chosen.budget_tokens,
             "predicted": {"alignment": pred.alignment.to_dict(), "diversity": pred.diversity.to_dict()},
             "verified": _verified(target, chosen.weights)}, "")


def collect(target: str, candidates: list[str], settings: EmbedSettings, *, mixture: str | None = None,
            lab: bool = True) -> ReportData:
    """Read everything the report shows from the caches; never embeds, trains or loads weights.

    Args:
        target: the target benchmark (a registered corpus name).
        candidates: candidate sources (names; the target is dropped if listed).
        settings: the embedding settings whose cached embeddings are read.
        mixture: a saved mixture's name (default: the newest saved mixture whose target is ``target``).
        lab: include the validation lab's leaderboard when its results file exists (about 1 s), and the
            sections of the other designs whose results are committed (about 1-3 s).

    Returns:
        :class:`ReportData`; what is absent is listed in ``notes``.

    Raises:
        AlignScopeError: no target, or a named mixture that does not exist.
    """
    from core.coefficients import rank_sources, tie_groups
    from core.paths import cache_root
    from core.views import ranking_rows

    if not target:
        raise AlignScopeError("No target benchmark given.", fix="name one, e.g. proofnet.")
    candidates = [c for c in dict.fromkeys(candidates) if c and c != target]
    data = ReportData(target=target, candidates=candidates, settings=settings)
    matrix, missing, prints = _matrix([target, *candidates], settings)
    data.matrix, data.missing = matrix, missing
    data.provenance = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                       "commit": _commit(), "python": platform.python_version(), "cache": str(cache_root()),
                       "corpora": prints}
    if missing:
        data.notes.append("Not in the figures (embeddings not cached with these settings): " + ", ".join(missing)
                          + ". Compute them on the Alignment page or with python -m core embed.")
    if matrix is not None and target in matrix.names:
        ranking = rank_sources(matrix, target)
        data.ranking = ranking_rows(ranking, groups=tie_groups(matrix, target, ranking))
    data.mixture, note = _mixture(target, candidates, settings, mixture)
    if note:
        data.notes.append(note)
    from core.finetune import results

    groups = results.groups(results.list_runs(target=target))
    if groups:
        data.runs = [r for r in results.list_runs(group_key=groups[0]["group_key"]) if r.get("status") == "done"]
        data.run_group = groups[0]["title"]
    else:
        data.notes.append(f"No fine-tune runs on {target} yet (Fine-tune page, or python -m core experiment).")
    if lab:
        from core.validation import report as vreport

        path = vreport.results_path()
        if path is not None:
            try:
                rep = vreport.report(vreport.load_results(path))
                regime = vreport.pick_regime(rep["leaderboard"])
                data.leaderboard = [r for r in rep["leaderboard"] if r["regime"] == regime and not r["exclude_derived"]]
                data.lab = {"path": str(path), "regime": regime, "verdict": rep.get("verdict", ""),
                            "summary": {k: rep["summary"].get(k) for k in ("target", "model", "n_runs_done",
                                                                            "n_runs_failed", "n_runs_nonfinite",
                                                                            "created")}}
                if rep["summary"].get("n_runs_nonfinite"):
                    data.notes.append(f"Validation results {path}: {rep['summary']['n_runs_nonfinite']} finished run(s) "
                                      "have a non-finite ppl_after and are left out of the leaderboard.")
            except (AlignScopeError, OSError) as exc:
                data.notes.append(f"Validation results {path} not readable: {exc}")
            data.lab_axes = _axis_verdicts(vreport, data.target)
        from core.report.designs import design_sections

        data.designs = design_sections()
    return data


def _axis_verdicts(vreport, target: str) -> list[dict]:
    """The verdict of each (condition, outcome) of the lab files on ``target`` (on the default target
    when no lab has ``target``), other than fine-tune /
    held-out perplexity on the default target, which the leaderboard above shows (af-ppl left out: it
    ranks sources as af-nll does)."""
    from core.validation.axes import VERDICT_SKIP, axis_label

    axes = vreport.lab_axes()
    if not any(a["target"] == target for a in axes):
        target = vreport.DEFAULT_LAB_TARGET          # no lab on this target: the default target's, as before
    out = []
    for a in axes:
        if a["target"] != target or a["outcome"] in VERDICT_SKIP or (
                (a["condition"], a["outcome"]) == ("finetune", "text-ppl") and target == vreport.DEFAULT_LAB_TARGET):
            continue
        try:
            text = vreport.verdict_for_file(a["path"], condition=a["condition"], outcome=a["outcome"])
        except (AlignScopeError, OSError) as exc:
            text = f"not readable: {exc}"
        out.append({**a, "path": str(a["path"]), "label": axis_label(a["condition"], a["outcome"], target=target),
                    "verdict": text})
    return out
