"""One pre-training run: data -> a model from scratch -> one pass of training -> held-out cross-entropy -> a record.

:func:`pretrain` is what ``python -m core pretrain run`` and every cell of the grid call. Its record
(a JSON-able dict, :func:`run_id` names it) holds the config, the seed, the tokens trained and each
source's share of them, every step's training loss, the held-out cross-entropy (nats/token) on each
evaluation corpus, the held-out splits, the parameter counts, the wall times (seconds) and the
machine (torch/transformers versions, threads, device).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from core.pretrain.config import PretrainConfig
from core.pretrain.data import EVAL_FRACTION, SPLIT_SEED, eval_windows, parse_training_corpus, training_windows

if TYPE_CHECKING:
    pass

#: Bumped when a run's data, training or record changes (enters :func:`run_id`).
RUN_VERSION = 1

Say = Callable[[str], None]


def run_id(*, corpus: str, seed: int, config: PretrainConfig, eval_corpora: Sequence[str],
           eval_fraction: float = EVAL_FRACTION, split_seed: int = SPLIT_SEED) -> str:
    """``"pretrain-<16 hex>"``: sha256 of everything a run's numbers depend on (version, training corpus,
    seed, config, evaluation corpora, split)."""
    blob = json.dumps({"v": RUN_VERSION, "corpus": corpus, "seed": int(seed), "config": config.to_dict(),
                       "eval": list(eval_corpora), "eval_fraction": float(eval_fraction), "split_seed": int(split_seed)},
                      sort_keys=True, separators=(",", ":"))
    return "pretrain-" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def machine() -> dict:
    """``{"host", "platform", "python", "torch", "transformers", "cpus", "threads"}`` of this process."""
    import torch
    import transformers

    return {"host": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__, "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(), "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _device(device: str):
    from core.probe import resolve_device

    return resolve_device(device)


def pretrain(corpus: str, *, config: PretrainConfig, seed: int = 0, eval_corpora: Sequence[str] = (),
             device: str = "auto", eval_fraction: float = EVAL_FRACTION, split_seed: int = SPLIT_SEED,
             corpora: Mapping[str, Any] | None = None, tokenizer: Any = None, say: Say | None = None,
             should_stop: Callable[[], bool] | None = None, save_dir: str | None = None) -> dict:
    """Pre-train a model of ``config`` on ``corpus`` from random initialisation and evaluate it.

    Args:
        corpus: a registered corpus, or ``"A+B"`` (equal token shares of A and B).
        config: model shape, optimiser and token budget.
        seed: initialisation and data seed (weights, the mixture sampler's documents, the window order).
        eval_corpora: corpora to measure held-out cross-entropy on (their held-out documents only);
            default: the training corpus's own sources.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.
        eval_fraction, split_seed: the held-out split (:func:`core.pretrain.data.split_corpus`).
        corpora: optional ``name -> corpus`` overrides (tests, in-memory corpora).
        tokenizer: the tokenizer to use (default: the probe network ``config.tokenizer``'s).
        say: progress lines (a step line every tenth of the run).
        save_dir: save the trained model and tokenizer there (``save_pretrained``), if given.

    Returns:
        The run record (module docstring); ``eval[name]`` is ``{"nats_per_token", "ppl",
        "predicted_tokens", "windows", "documents"}``.

    Raises:
        AlignScopeError: a bad corpus name, too little training text for the budget, an evaluation
            corpus without a held-out window; PretrainError: a NaN loss; InterruptedError: stopped.
    """
    from core.pretrain.model import build_model, parameter_counts
    from core.pretrain.train import cross_entropy, train

    t_start = time.perf_counter()
    weights = parse_training_corpus(corpus)
    evals = list(dict.fromkeys(eval_corpora or list(weights)))
    if tokenizer is None:
        from core.probe import load_probe

        tokenizer = load_probe(config.tokenizer, progress=False).tokenizer
    dev = _device(device)
    # evaluation windows first: a corpus without held-out text fails before any training
    held = {e: eval_windows(e, config=config, tokenizer=tokenizer, eval_fraction=eval_fraction,
                            split_seed=split_seed, corpora=corpora) for e in evals}
    data = training_windows(corpus, config=config, tokenizer=tokenizer, seed=seed, eval_fraction=eval_fraction,
                            split_seed=split_seed, corpora=corpora)
    t_data = time.perf_counter() - t_start
    model = build_model(config, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, seed=seed)
    every = max(1, config.steps // 10)

    def progress(step: int, total: int, loss: float) -> None:
        if say is not None and (step % every == 0 or step == total):
            say(f"  {corpus} seed {seed}: step {step}/{total} loss {loss:.3f} nats/token")

    result = train(model, data.input_ids, config=config, seed=seed, device=dev, progress=progress,
                   should_stop=should_stop)
    t_eval = time.perf_counter()
    ev = {}
    for e, w in held.items():
        ce = cross_entropy(model, w.input_ids, batch_size=config.eval_batch_size, device=dev)
        ev[e] = {k: ce[k] for k in ("nats_per_token", "ppl", "predicted_tokens", "windows")} | {"documents": w.documents}
        if say is not None:
            say(f"  {corpus} seed {seed}: {e} {ce['nats_per_token']:.4f} nats/token (ppl {ce['ppl']:.1f})")
    t_eval = time.perf_counter() - t_eval
    if save_dir:
        model.save_pretrained(save_dir)
        tokenizer.save_pretrained(save_dir)
    return {"version": RUN_VERSION,
            "run_id": run_id(corpus=corpus, seed=seed, config=config, eval_corpora=evals, eval_fraction=eval_fraction,
                             split_seed=split_seed),
            "corpus": corpus, "weights": weights, "seed": int(seed), "config": config.to_dict(),
            "tokens_trained": result.tokens_trained, "budget_tokens": config.budget_tokens,
            "source_tokens": data.source_tokens, "documents": data.documents,
            "params": parameter_counts(model), "steps": result.steps,
            "loss": result.loss_summary(), "losses": [round(x, 5) for x in result.losses],
            "eval": ev, "eval_fraction": float(eval_fraction), "split_seed": int(split_seed),
            "splits": {**data.splits, **{e: w.split for e, w in held.items()}},
            "data_seconds": t_data, "train_seconds": result.seconds, "eval_seconds": t_eval,
            "wall_seconds": time.perf_counter() - t_start, "tokens_per_second": result.tokens_trained / max(result.seconds, 1e-9),
            "device": str(dev), "machine": machine(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "status": "done", "saved": save_dir}
