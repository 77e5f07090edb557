"""The pre-training grid: plan, resumable execution, and the metrics of every (training, evaluation) pair.

The design (Chawla et al., "Quantifying the Importance of Data Alignment in Downstream Model
Performance", pre-training on PubMed, USPTO and both, cross-entropy on many evaluation sets): train
the same small model from scratch on each **training corpus** (two sources and their 50/50
mixture ``"A+B"``) at an **equal token budget**, with several **seeds**; measure the held-out
cross-entropy (nats/token) on each **evaluation corpus**; and score the alignment of every
(training corpus, evaluation corpus) pair with every metric of :mod:`core.metrics`.

Execution is resumable: the results file (JSON) is rewritten atomically (:func:`core.paths.atomic_write`)
after each finished run and after each metric, and a run (named by :func:`core.pretrain.run.run_id`,
which hashes everything its numbers depend on) or a metric value already in the file is never
computed again. Interrupting a grid loses at most the run in progress.

What a metric is measured on: a pure training corpus is the registered corpus (its name, so its
cached Task2Vec embeddings are shared with the rest of the workbench); the mixture is the text its
first seed trains on (:func:`core.pretrain.data.training_rows`, training documents only), cut
into ``seq_len``-token pieces as the validation lab cuts its dose mixtures
(:func:`core.validation.lab.point_corpora`); an evaluation corpus is the registered corpus.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from core.errors import AlignScopeError
from core.pretrain.config import CONFIGS, PretrainConfig
from core.pretrain.data import EVAL_FRACTION, MIX_SEPARATOR, SPLIT_SEED, parse_training_corpus
from core.pretrain.run import run_id

#: Bumped when the results file's layout changes.
GRID_VERSION = 1
#: The paper's r^2 of alignment vs cross-entropy in the pre-training setting (Chawla et al.).
PAPER_R2 = 0.8

Say = Callable[[str], None]


@dataclass(frozen=True)
class GridPlan:
    """What the grid trains and measures (keyword-only).

    Attributes:
        sources: the two (or more) pure training corpora; the mixture of all of them is added.
        eval_corpora: the evaluation corpora (at least 2; the design asks for >= 8).
        seeds: seeds of every training corpus.
        config: the model/optimiser/budget of every run (equal token budget).
        metrics: alignment metrics to score (default: every registered metric).
        mixture: add the equal-share mixture of ``sources`` as a training corpus.
        eval_fraction, split_seed: the held-out split (:mod:`core.pretrain.data`).
    """

    sources: tuple[str, ...]
    eval_corpora: tuple[str, ...]
    seeds: tuple[int, ...] = (0, 1)
    config: PretrainConfig = field(default_factory=PretrainConfig)
    metrics: tuple[str, ...] = ()
    mixture: bool = True
    eval_fraction: float = EVAL_FRACTION
    split_seed: int = SPLIT_SEED

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "eval_corpora", tuple(self.eval_corpora))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        if not self.sources:
            raise AlignScopeError("The grid has no training sources.", fix="pass --sources A,B.")
        for name, values in (("sources", self.sources), ("eval_corpora", self.eval_corpora), ("seeds", self.seeds)):
            if len(set(values)) != len(values):
                raise AlignScopeError(f"The grid's {name} repeat an entry: {', '.join(map(str, values))}.",
                                      fix=f"list each of the {name} once.")
        if any(MIX_SEPARATOR in s for s in self.sources):
            raise AlignScopeError(f"A grid source is a pure corpus, not a mixture: {', '.join(self.sources)}.",
                                  fix="list the mixture's sources; the grid adds their mixture itself.")
        if self.mixture and len(self.sources) < 2:
            raise AlignScopeError("A mixture needs at least two sources.", fix="pass --sources A,B (or --no-mixture).")
        if len(self.eval_corpora) < 2:
            raise AlignScopeError(f"The grid needs at least 2 evaluation corpora, got {len(self.eval_corpora)}.",
                                  fix="pass --eval A,B,... (the design uses >= 8).")
        if not self.seeds or any(s < 0 for s in self.seeds):
            raise AlignScopeError(f"The grid needs non-negative seeds, got {self.seeds!r}.", fix="pass --seeds 0,1.")

    @property
    def training_corpora(self) -> list[str]:
        """The sources, then their mixture ``"A+B"`` (when :attr:`mixture`)."""
        return list(self.sources) + ([MIX_SEPARATOR.join(self.sources)] if self.mixture else [])

    def to_dict(self) -> dict:
        """JSON-able (the config as its dict)."""
        d = asdict(self)
        d["config"] = self.config.to_dict()
        for k in ("sources", "eval_corpora", "seeds", "metrics"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "GridPlan":
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["config"] = PretrainConfig.from_dict(d["config"]) if isinstance(d.get("config"), dict) else PretrainConfig()
        return cls(**d)


@dataclass(frozen=True)
class PlannedRun:
    """One cell: a training corpus and a seed, with its run id."""

    corpus: str
    seed: int
    run_id: str


def plan_runs(plan: GridPlan) -> list[PlannedRun]:
    """Every (training corpus, seed) of the plan, seed-major (all corpora of seed 0 first, so a grid cut
    short still has every training corpus once)."""
    out = []
    for seed in plan.seeds:
        for corpus in plan.training_corpora:
            rid = run_id(corpus=corpus, seed=seed, config=plan.config, eval_corpora=plan.eval_corpora,
                         eval_fraction=plan.eval_fraction, split_seed=plan.split_seed)
            out.append(PlannedRun(corpus=corpus, seed=seed, run_id=rid))
    return out


def metric_names(plan: GridPlan) -> list[str]:
    """The plan's metrics, or every registered metric in the leaderboard's order (cheapest first)."""
    from core.metrics import METRICS
    from core.metrics.base import DEFAULT_ORDER

    if plan.metrics:
        return [METRICS.canonical(m) for m in plan.metrics]
    cheap_first = ["gzip", "unigram-cos", "unigram-js", "dsir", "t2v-head", "t2v-head-cos", "sbert", "familiarity",
                   "t2v-blocks", "t2v-reference"]
    names = [n for n in cheap_first if n in METRICS] + [n for n in DEFAULT_ORDER if n in METRICS and n not in cheap_first]
    return names + [n for n in METRICS.names() if n not in names]


def check_plan(plan: GridPlan, *, corpora: Mapping[str, Any] | None = None) -> None:
    """Fail before any work: every corpus known and installed, every metric known.

    Raises:
        CorpusError: unknown or uninstalled corpus; RegistryError: unknown metric.
    """
    from core.pretrain.data import _corpus

    for name in list(plan.sources) + list(plan.eval_corpora):
        _corpus(name, corpora)
    metric_names(plan)


def estimate_seconds(plan: GridPlan, *, tokens_per_second: float, eval_tokens_per_second: float | None = None) -> dict:
    """Expected wall time of the runs: ``tokens / rate`` of training plus the evaluations (forward only,
    about 3x the training rate unless given: a backward pass costs about twice a forward, Kaplan et al. 2020
    sec. 2.1)."""
    runs = len(plan.training_corpora) * len(plan.seeds)
    ev_rate = eval_tokens_per_second or 3.0 * tokens_per_second
    per_run = (plan.config.tokens_trained / tokens_per_second
               + len(plan.eval_corpora) * plan.config.eval_windows * plan.config.seq_len / ev_rate)
    return {"runs": runs, "seconds_per_run": per_run, "seconds": runs * per_run}


# ----------------------------------------------------------------------------------------------
# The results file
# ----------------------------------------------------------------------------------------------
def empty_results(plan: GridPlan, *, command: str = "") -> dict:
    """A new results file's content: the plan, no runs, no metrics."""
    return {"version": GRID_VERSION, "design": "pretrain-grid", "paper_r2": PAPER_R2, "plan": plan.to_dict(),
            "command": command, "created": _now(), "updated": _now(), "runs": {}, "metrics": [], "metric_errors": {},
            "metric_corpora": {}}


def load_results(path: str | Path) -> dict:
    """The results file at ``path``.

    Raises:
        AlignScopeError: missing, unreadable or not a grid results file.
    """
    p = Path(path)
    if not p.is_file():
        raise AlignScopeError(f"No grid results at {p}.", fix="run python -m core pretrain grid run --out FILE first.")
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AlignScopeError(f"Grid results {p} are not readable JSON ({exc}).", fix="rerun the grid into a new --out file.") from exc
    if not isinstance(data, dict) or data.get("design") != "pretrain-grid":
        raise AlignScopeError(f"{p} is not a pre-training grid results file.", fix="pass the --out file of pretrain grid run.")
    return data


def save_results(path: str | Path, results: dict) -> Path:
    """Write ``results`` atomically (readers see the old file or the new one)."""
    from core.paths import atomic_write

    results["updated"] = _now()
    return atomic_write(path, json.dumps(results, indent=1, sort_keys=False, default=str) + "\n")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def open_results(path: str | Path, plan: GridPlan, *, command: str = "") -> dict:
    """The results file for ``plan``: read back when it exists (same plan: resume; the runs of another
    plan are kept, since their ids differ), else a new one."""
    p = Path(path)
    if not p.is_file():
        return empty_results(plan, command=command)
    data = load_results(p)
    if data.get("plan") != plan.to_dict():
        data["previous_plans"] = data.get("previous_plans", []) + [data.get("plan")]
        data["plan"] = plan.to_dict()
    if command:
        data["command"] = command
    return data


# ----------------------------------------------------------------------------------------------
# Execution
# ----------------------------------------------------------------------------------------------
def run_grid(plan: GridPlan, *, out: str | Path, device: str = "auto", corpora: Mapping[str, Any] | None = None,
             say: Say = print, metrics: bool = True, runs: bool = True, command: str = "",
             should_stop: Callable[[], bool] | None = None) -> dict:
    """Run what is missing of ``plan`` into ``out`` (module docstring): the runs, then the metrics.

    Args:
        out: the results file (JSON), rewritten atomically after each run and each metric.
        device: the training device (``auto``: CUDA when present).
        corpora: optional ``name -> corpus`` overrides (tests).
        metrics, runs: do that part (``--skip-metrics`` / ``--metrics-only``).

    Returns:
        ``{"computed_runs", "skipped_runs", "computed_metrics", "skipped_metrics", "seconds"}``.
    """
    t0 = time.perf_counter()
    check_plan(plan, corpora=corpora)
    results = open_results(out, plan, command=command)
    save_results(out, results)
    done = {rid for rid, r in results["runs"].items() if r.get("status") == "done"}
    todo = [r for r in plan_runs(plan) if r.run_id not in done]
    stats = {"computed_runs": 0, "skipped_runs": len(plan_runs(plan)) - len(todo), "computed_metrics": 0,
             "skipped_metrics": 0}
    if runs:
        from core.pretrain.run import pretrain
        from core.probe import load_probe

        tok = load_probe(plan.config.tokenizer, progress=False).tokenizer
        for k, r in enumerate(todo):
            say(f"run {k + 1}/{len(todo)}: {r.corpus} seed {r.seed} ({plan.config.tokens_trained:,} tokens, {r.run_id})")
            rec = pretrain(r.corpus, config=plan.config, seed=r.seed, eval_corpora=plan.eval_corpora, device=device,
                           eval_fraction=plan.eval_fraction, split_seed=plan.split_seed, corpora=corpora,
                           tokenizer=tok, say=say, should_stop=should_stop)
            results["runs"][r.run_id] = rec
            save_results(out, results)
            stats["computed_runs"] += 1
            say(f"  done in {rec['wall_seconds']:.0f} s ({rec['tokens_per_second']:.0f} tokens/s training)")
    if metrics:
        c, s = measure_metrics(plan, results, out=out, corpora=corpora, say=say, should_stop=should_stop)
        stats["computed_metrics"], stats["skipped_metrics"] = c, s
    stats["seconds"] = time.perf_counter() - t0
    return stats


def metric_corpora(plan: GridPlan, *, corpora: Mapping[str, Any] | None = None, tokenizer: Any = None) -> dict[str, Any]:
    """training corpus -> what its metrics are measured on (module docstring): a pure source's name (or
    its ``corpora`` override), the mixture's first-seed training text cut into ``seq_len``-token pieces."""
    from core.corpora.memory import InMemoryCorpus
    from core.pretrain.data import training_rows

    out: dict[str, Any] = {}
    for tc in plan.training_corpora:
        weights = parse_training_corpus(tc)
        if len(weights) == 1:
            out[tc] = corpora[tc] if corpora is not None and tc in corpora else tc
            continue
        if tokenizer is None:
            from core.probe import load_probe

            tokenizer = load_probe(plan.config.tokenizer, progress=False).tokenizer
        rows, _ = training_rows(tc, tokenizer=tokenizer, budget_tokens=plan.config.tokens_trained, seed=plan.seeds[0],
                                eval_fraction=plan.eval_fraction, split_seed=plan.split_seed, corpora=corpora)
        L = plan.config.seq_len
        pieces: list[str] = []
        for ids in tokenizer([str(r["text"]) for r in rows], add_special_tokens=False)["input_ids"]:
            pieces += [tokenizer.decode(ids[k:k + L]) for k in range(0, len(ids), L)]
        out[tc] = InMemoryCorpus(f"pretrain:{tc}", [p for p in pieces if p.strip()])
    return out


def _eval_ref(name: str, corpora: Mapping[str, Any] | None):
    return corpora[name] if corpora is not None and name in corpora else name


def measure_metrics(plan: GridPlan, results: dict, *, out: str | Path, corpora: Mapping[str, Any] | None = None,
                    say: Say = print, should_stop: Callable[[], bool] | None = None) -> tuple[int, int]:
    """Score every (training corpus, evaluation corpus) pair with every metric not yet in ``results``,
    metric by metric (cheapest first), saving after each metric. A metric failing on a pair is recorded
    in ``metric_errors`` and skipped; the others go on.

    Returns:
        ``(computed, skipped)`` metric values.
    """
    from core.metrics import score_all

    have = {(m["metric"], m["train"], m["eval"]) for m in results["metrics"]}
    names = metric_names(plan)
    computed = skipped = 0
    refs = None
    for name in names:
        pairs = [(t, e) for t in plan.training_corpora for e in plan.eval_corpora]
        missing = [(t, e) for t, e in pairs if (name, t, e) not in have]
        skipped += len(pairs) - len(missing)
        if not missing:
            continue
        refs = refs or metric_corpora(plan, corpora=corpora)
        results["metric_corpora"] = {t: (r if isinstance(r, str) else {"name": r.name, "documents": len(r.documents()),
                                                                          "fingerprint": r.fingerprint()})
                                     for t, r in refs.items()}
        t_metric = time.perf_counter()
        for t, e in missing:
            if should_stop and should_stop():
                raise InterruptedError("stopped while measuring metrics")
            v = score_all([name], refs[t], _eval_ref(e, corpora))[name]
            if isinstance(v, Exception):
                results["metric_errors"].setdefault(name, {})[f"{t}|{e}"] = str(v)
                say(f"  metric {name} unavailable on {t} -> {e}: {v}")
                continue
            d = v.to_dict()
            results["metrics"].append({"metric": name, "train": t, "eval": e,
                                       **{k: d.get(k) for k in ("value", "ci_low", "ci_high", "seconds", "cached")}})
            computed += 1
        save_results(out, results)
        say(f"metric {name}: {len(missing)} pairs in {time.perf_counter() - t_metric:.0f} s")
    return computed, skipped


def default_plan(*, config: str | PretrainConfig = "cpu-small", **kw: Any) -> GridPlan:
    """The CPU grid of ``docs/pretrain.md``: wikipedia, python-stdlib and their mixture; 8 evaluation corpora."""
    cfg = CONFIGS[config] if isinstance(config, str) else config
    kw.setdefault("sources", ("wikipedia", "python-stdlib"))
    kw.setdefault("eval_corpora", DEFAULT_EVAL)
    return GridPlan(config=cfg, **kw)


#: The default evaluation corpora: the two sources' own held-out documents, and six corpora of other
#: domains (general prose, technical prose, code, formal maths).
DEFAULT_EVAL = ("wikipedia", "python-stdlib", "news", "gcide", "linux-doc", "sympy", "coq-stdlib", "metamath")


def grid_table(results: Mapping) -> list[dict]:
    """Rows ``{train, eval, seeds, nats: [per seed]}`` of the finished runs of the results' plan."""
    plan = GridPlan.from_dict(results["plan"])
    by: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in plan_runs(plan):
        rec = results["runs"].get(r.run_id)
        if not rec or rec.get("status") != "done":
            continue
        for e in plan.eval_corpora:
            if e in rec.get("eval", {}):
                by.setdefault((r.corpus, e), []).append((r.seed, float(rec["eval"][e]["nats_per_token"])))
    return [{"train": t, "eval": e, "seeds": [s for s, _ in v], "nats": [x for _, x in v]} for (t, e), v in by.items()]


def metric_values(results: Mapping, metric: str) -> dict[tuple[str, str], float]:
    """``(train, eval) -> value`` of one metric in the results."""
    return {(m["train"], m["eval"]): float(m["value"]) for m in results.get("metrics", [])
            if m["metric"] == metric and m.get("value") is not None}


def measured_metrics(results: Mapping) -> list[str]:
    """The metrics with at least one value, in the plan's order."""
    seen = {m["metric"] for m in results.get("metrics", [])}
    try:
        order = metric_names(GridPlan.from_dict(results["plan"]))
    except Exception:     # a metric no longer registered: keep the file's order
        order = []
    return [m for m in order if m in seen] + sorted(seen - set(order))


def in_domain(train: str, eval_corpus: str) -> bool:
    """True when the evaluation corpus is one of the training corpus's sources (its own held-out documents)."""
    return eval_corpus in parse_training_corpus(train)
