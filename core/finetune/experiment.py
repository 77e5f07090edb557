"""The experiment preset: one fine-tune per source with identical hyperparameters and budgets.

This reproduces the controlled experiment of Chawla, Miranda et al. ("Quantifying the Importance
of Data Alignment in Downstream Model Performance", Tables 1-2): every candidate source gets the
same token budget and optimisation settings, each fine-tuned model is evaluated on the target's
held-out split, and test perplexity is plotted against the source's alignment coefficient.

The runs of an experiment are done one after another by a single ``experiment`` job (2 CPU cores:
never two trainings at once); finished runs (same configuration and alignment settings) are reused,
not repeated, so re-running an experiment after a crash only does what is missing.
"""
from __future__ import annotations

import time
from typing import Callable

from core.errors import AlignScopeError
from core.finetune import results
from core.finetune.config import FinetuneConfig
from core.fingerprint import EmbedSettings

#: Candidate sources of the demo pack for the ProofNet experiment (formal maths, informal maths,
#: code, general prose), all disjoint from ProofNet's test split.
DEFAULT_SOURCES = ("proofnet-valid", "proofnet-informal", "coq-stdlib", "metamath", "hol-light", "humaneval",
                   "python-stdlib", "wikipedia", "news")


def candidate_sources(target: str) -> list[str]:
    """Installed corpora that may be trained on for ``target`` (not its held-out split, not benchmarks)."""
    from core.corpora import list_corpora
    from core.finetune.data import heldout_split

    held = heldout_split(target)
    out = []
    for c in list_corpora():
        if c.name in held.forbidden or c.name == target or c.spec.domain == "target benchmark":
            continue
        if c.available():
            out.append(c.name)
    return out


def benchmark_targets() -> list[str]:
    """Installed target benchmarks (a held-out split to evaluate on), ``proofnet`` first."""
    from core.corpora import list_corpora
    from core.finetune.data import BENCHMARKS

    names = []
    for c in list_corpora():
        if (c.name in BENCHMARKS or c.spec.domain == "target benchmark") and c.available():
            names.append(c.name)
    return sorted(names, key=lambda n: (n != "proofnet", n))


def default_sources(target: str) -> list[str]:
    """:data:`DEFAULT_SOURCES` that are installed (and allowed for ``target``)."""
    ok = set(candidate_sources(target))
    return [s for s in DEFAULT_SOURCES if s in ok]


def experiment_configs(target: str, sources: list[str],
                       base: FinetuneConfig | dict | None = None) -> list[FinetuneConfig]:
    """One :class:`FinetuneConfig` per source, identical except for the source.

    Raises:
        AlignScopeError: no source, duplicate sources.
    """
    sources = [s.strip() for s in sources if s and s.strip()]
    if not sources:
        raise AlignScopeError("An experiment needs at least one source.",
                              fix=f"pass --sources {','.join(DEFAULT_SOURCES[:3])},...")
    dup = sorted({s for s in sources if sources.count(s) > 1})
    if dup:
        raise AlignScopeError(f"Sources listed twice: {', '.join(dup)}.", fix="list each source once.")
    d = base.to_dict() if isinstance(base, FinetuneConfig) else dict(base or {})
    d.pop("mixture", None)
    d.pop("source", None)
    d["target"] = target
    return [FinetuneConfig(**{**d, "source": s}) for s in sources]


def experiment_params(target: str, sources: list[str], base: FinetuneConfig | dict | None,
                      settings: EmbedSettings) -> dict:
    """Job parameters (identity) of an experiment."""
    configs = experiment_configs(target, sources, base)
    cfg = configs[0].to_dict()
    cfg.pop("source")
    cfg.pop("mixture")
    return {"target": target, "sources": [c.source for c in configs], "config": cfg, "settings": settings.to_dict()}


def configs_from_params(params: dict) -> list[FinetuneConfig]:
    """The experiment's :class:`FinetuneConfig` per source, from :func:`experiment_params`' dict."""
    return [FinetuneConfig(**{**params["config"], "source": s, "target": params["target"]}) for s in params["sources"]]


def _wait_for_other_job(run_id: str, my_job: str, should_stop: Callable[[], bool], report) -> dict | None:
    """If another job is running this very run, wait for it to end; returns the final row (or None)."""
    while True:
        row = results.get_run(run_id)
        if not row or row["status"] not in ("queued", "running") or row.get("job_id") in (None, my_job):
            return row
        if should_stop():
            raise InterruptedError("cancelled while waiting for another job's run")
        report(f"waiting for job {row['job_id']} (same run)")
        time.sleep(2)


def run_experiment(params: dict, *, job_id: str, progress: Callable[[int, int, str], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Run the experiment's fine-tunes one after another (reusing finished ones).

    One failing source (bad input, NaN loss, out of memory) is recorded as ``failed`` and the next
    source goes on; a cancel request stops the experiment and marks the runs not started as
    ``cancelled``.

    Returns:
        ``{"runs": {source: {"run_id", "status", "error"}}, "done": n, "failed": n}``.
    """
    from core.finetune.runner import run_finetune, run_id_for

    stop = should_stop or (lambda: False)
    say = log or (lambda m: None)
    settings = EmbedSettings.from_dict(params.get("settings"))
    configs = configs_from_params(params)
    n = len(configs)
    out: dict[str, dict] = {}
    run_ids = [run_id_for(c, settings) for c in configs]

    def report(k, pct, msg):
        if progress:
            progress(k * 100 + int(pct), n * 100, f"[{k + 1}/{n}] {msg}")

    try:
        for k, (cfg, run_id) in enumerate(zip(configs, run_ids)):
            if stop():
                raise InterruptedError(f"stopped before {cfg.label}")
            row = _wait_for_other_job(run_id, job_id, stop, lambda m: report(k, 0, f"{cfg.label}: {m}"))
            if row and row["status"] == "done":
                say(f"[{k + 1}/{n}] {cfg.label}: already done (run {run_id}), reused")
                out[cfg.label] = {"run_id": run_id, "status": "done", "error": None, "reused": True}
                report(k, 100, f"{cfg.label}: reused")
                continue
            say(f"[{k + 1}/{n}] {cfg.label}: fine-tuning")
            try:
                run_finetune(cfg, settings, run_id=run_id, job_id=job_id, experiment_id=job_id,
                             progress=lambda d, t, m, k=k: report(k, 100 * d / max(t, 1), m),
                             should_stop=stop, log=say)
                out[cfg.label] = {"run_id": run_id, "status": "done", "error": None}
            except InterruptedError:
                raise
            except Exception as exc:   # recorded in the row by run_finetune; the next source goes on
                out[cfg.label] = {"run_id": run_id, "status": "failed", "error": str(exc)}
            report(k, 100, f"{cfg.label}: {out[cfg.label]['status']}")
    except InterruptedError as exc:
        for cfg, run_id in zip(configs, run_ids):
            row = results.get_run(run_id, reconcile_first=False)
            if row and row["status"] == "queued" and row.get("job_id") == job_id:
                results.update_run(run_id, status="cancelled", error=f"experiment cancelled ({exc})",
                                   finished=time.time())
        raise
    return {"runs": out, "done": sum(v["status"] == "done" for v in out.values()),
            "failed": sum(v["status"] != "done" for v in out.values())}
