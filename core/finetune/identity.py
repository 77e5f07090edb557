"""A fine-tune run's identity and its cached evaluations' keys, and the checks before it is queued.

- :func:`data_identity`: what a run is trained and evaluated on (sha256 of the packed training token ids,
  and of the evaluation windows: the whole held-out split, or a quick run's subsample);
- :func:`run_params` / :func:`run_id_for`: a run's job parameters and id (same work on the same data ->
  same id);
- :func:`base_key` / :func:`familiarity_key`: the results store's cache keys of the base model's
  perplexity on the held-out windows and on the training sequences;
- :func:`validate`: the fast checks of bad input before anything is queued.

Split out of :mod:`core.finetune.runner` (which performs a run) so that the launcher, the lab and the
designs can name runs without the runner's steps.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import AlignScopeError
from core.finetune import results
from core.finetune.config import FinetuneConfig

if TYPE_CHECKING:
    from core.finetune.data import HeldOut
    from core.probe import ProbeNetwork
    from core.settings import EmbedSettings


def data_identity(config: FinetuneConfig, *, mixture: object | None = None) -> dict:
    """What a run is trained and evaluated on, exactly: ``{"train": sha256 of the packed training token
    ids (:meth:`core.finetune.data.TrainingData.fingerprint`), "eval": sha256 of the held-out split's
    evaluation windows (:func:`core.finetune.perplexity.windows_fingerprint`)}``.

    Packing needs the tokenizer only (no model weights). The packed fingerprint is memoised in the
    results store's measurement cache, keyed by every input of the packing: the packing procedure's
    version (:data:`core.finetune.data.PACKING_VERSION`), the tokenizer, the source corpus's content
    fingerprint (a mixture: its definition and its sources' fingerprints), seed, budget and
    ``seq_len``; so a lab plan of a hundred runs does not pack a hundred times. A change of the
    packing, of the source's documents or of the held-out split changes this identity, so a run made on
    other data gets another id.

    Args:
        mixture: the run's ``core.mixture.Mixture`` when it is not saved yet (the lab's dose points).

    Raises:
        AlignScopeError (CorpusError, ModelError): unknown target, source, mixture or model.
    """
    from dataclasses import asdict

    from core.corpora import get_corpus
    from core.corpora.benchmarks import heldout_split
    from core.finetune.data import PACKING_VERSION, build_training_data, load_mixture_module
    from core.probe import load_probe

    probe = load_probe(config.model, device=config.device, progress=False)
    eval_fp = eval_set(config, probe, heldout_split(config.target).corpus)[1]
    if config.mixture:
        mix = mixture if mixture is not None else load_mixture_module().load_mixture(config.mixture)
        what = {"mixture": asdict(mix), "sources": {s: get_corpus(s).fingerprint() for s in sorted(mix.weights)}}
    else:
        what = {"source": get_corpus(config.source).fingerprint()}
    key = {"what": "packed training data", "packing": PACKING_VERSION, "tok": probe.tokenizer_fingerprint,
           "seed": config.seed, "budget": config.budget_tokens, "seq_len": config.seq_len, **what}
    hit = results.cache_get(key)
    if hit is None:
        hit = {"train": build_training_data(config, probe.tokenizer, mixture=mixture).fingerprint()}
        results.cache_put(key, hit)
    return {"train": hit["train"], "eval": eval_fp}


def eval_set(config: FinetuneConfig, probe: ProbeNetwork, corpus: str) -> tuple[list[list[int]], str, list[str] | None]:
    """The run's evaluation windows, their fingerprint and (quick runs) the subsample's document ids:
    every window of the held-out split (memoised per process), or :func:`core.finetune.quick.eval_subsample`'s."""
    from core.finetune.perplexity import corpus_windows, windows_fingerprint

    if config.quick:
        from core.finetune.quick import eval_subsample

        ids, windows = eval_subsample(corpus, probe.tokenizer, config.seq_len, config.eval_subsample_tokens,
                                      tokenizer_fingerprint=probe.tokenizer_fingerprint)
        return windows, windows_fingerprint(windows), ids
    windows, fp = corpus_windows(corpus, probe.tokenizer, config.seq_len, tokenizer_fingerprint=probe.tokenizer_fingerprint)
    return windows, fp, None


def run_params(config: FinetuneConfig, settings: EmbedSettings, *, data: dict | None = None,
               mixture: object | None = None) -> dict:
    """Job parameters (and identity) of a run: its configuration (:meth:`FinetuneConfig.identity_dict`:
    the precision resolved, and left out when ``fp32``), the alignment's embedding settings, and the
    data it is trained and evaluated on (:func:`data_identity`; pass ``data`` when already known).

    Since issue 20 the data is part of the identity: the same settings on differently packed data
    (another packing procedure, a changed corpus) are another run, never a silent overwrite. Rows
    recorded before that keep their ids and have no ``train_data_fp`` (their packing is unknown).

    Raises:
        AlignScopeError: unknown precision, target, source or model.  ModelError: the config's device
            does not exist here.
    """
    return {"config": config.identity_dict(), "settings": settings.to_dict(),
            "data": dict(data) if data is not None else data_identity(config, mixture=mixture)}


def run_id_for(config: FinetuneConfig, settings: EmbedSettings, *, data: dict | None = None,
               mixture: object | None = None) -> str:
    """The run id: the id of the ``finetune`` job with :func:`run_params` (same work on the same data ->
    same id)."""
    from core.jobs import job_id_for

    return job_id_for("finetune", run_params(config, settings, data=data, mixture=mixture))


def validate(config: FinetuneConfig) -> HeldOut:
    """Fast checks before anything is queued (clear errors for bad input).

    Returns the target's :class:`~core.finetune.data.HeldOut`.

    Raises:
        AlignScopeError (CorpusError, ModelError): no held-out split, a source on the test split,
            an unknown/uninstalled source or mixture, an unknown model.
    """
    from core.corpora import get_corpus
    from core.finetune.data import check_training_sources, mixture_sources
    from core.probe import load_probe

    sources = mixture_sources(config.mixture) if config.mixture else [config.source]
    held = check_training_sources(sources, config.target)
    if config.source:
        c = get_corpus(config.source)
        if not c.available():
            raise AlignScopeError(f"Training source {config.source!r} is not installed.",
                                  fix=f"run: {c.install_hint() or 'install it'}")
    if config.outcomes:
        from core.outcomes.base import get_outcome

        for name in config.outcomes:
            get_outcome(name).check(config.target)
    load_probe(config.model, device=config.device, progress=False)
    return held


def base_key(probe: ProbeNetwork, config: FinetuneConfig, split: str, windows_fp: str, precision: str) -> dict:
    """Cache key of the base model's perplexity on a target's held-out split.

    Model weights, target, split (evaluation corpus), tokenizer, ``seq_len``, the exact windows'
    fingerprint and the precision (only when not ``fp32``): every input of the figure.
    """
    key = {"what": "target", "model": probe.fingerprint, "target": config.target, "split": split,
           "tok": probe.tokenizer_fingerprint, "seq_len": config.seq_len, "windows": windows_fp}
    if precision != "fp32":
        key["precision"] = precision
    return key


def familiarity_key(probe: ProbeNetwork, config: FinetuneConfig, windows_fp: str, precision: str) -> dict:
    """Cache key of the base model's perplexity on a run's training sequences (familiarity)."""
    key = {"what": "familiarity", "model": probe.fingerprint, "source": config.label,
           "tok": probe.tokenizer_fingerprint, "seq_len": config.seq_len, "windows": windows_fp}
    if precision != "fp32":
        key["precision"] = precision
    return key
