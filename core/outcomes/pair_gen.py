"""``af-gen``: greedy generation of the completion from the condition, scored against the reference.

For each problem of the target's pair format (:mod:`core.outcomes.problems`), the model generates
greedily (HF ``generate``, ``do_sample=False``, batched with left padding) from the context
(ProofNet: ``"informal statement {nl} formal statement"``) until EOS, a stop string of the format
(ProofNet: ``:=``, the end of a Lean 3 formal statement, kept in the output) or the length cap
``ceil(1.5 * reference tokens) + 8`` new tokens (the reference = the completion text). The output,
cut after its first stop string, is compared with the reference after whitespace normalisation
(runs of whitespace -> one space, ends stripped) by:

- chrF (Popović 2015, character n-gram F-score, n=6, beta=2; ``sacrebleu.sentence_chrf`` per
  problem, ``sacrebleu.corpus_chrf`` over all), 0..100;
- BLEU (Papineni et al. 2002; ``sacrebleu.sentence_bleu`` with its default exponential smoothing
  per problem, ``sacrebleu.corpus_bleu`` over all), 0..100;
- exact match (1 when the normalised strings are equal).

The value is the mean sentence chrF (higher is better); the corpus scores, mean BLEU and the
exact-match rate (with bootstrap CIs over problems) are in ``extra``. **No Lean type-check runs
here** (no Lean toolchain installs offline on these machines): these are surface similarity scores
to the reference, not correctness of the formalization.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np

from core.bounds import bounded
from core.outcomes.base import Outcome, OutcomeResult, Statistic, chosen_problems, bootstrap_ci
from core.outcomes.batching import inference, padded_batches


def normalise(text: str) -> str:
    """Whitespace-normalised text: runs of whitespace become one space, ends stripped."""
    return " ".join(text.split())


def cut_at_stop(text: str, stop: Sequence[str], *, keep_stop: bool = True) -> str:
    """``text`` cut at the first occurrence of any ``stop`` string (kept when ``keep_stop``)."""
    best = None
    for s in stop:
        k = text.find(s)
        if k >= 0 and (best is None or k < best[0]):
            best = (k, s)
    if best is None:
        return text
    return text[:best[0] + (len(best[1]) if keep_stop else 0)]


@dataclass(frozen=True)
class SurfaceScores:
    """Per-problem surface scores of :func:`score_generations`: ``chrf``, ``bleu`` float64 ``[n]``
    (0..100), ``exact`` float64 ``[n]`` (0 or 1), and the corpus-level ``corpus_chrf``, ``corpus_bleu``."""

    chrf: np.ndarray
    bleu: np.ndarray
    exact: np.ndarray
    corpus_chrf: float
    corpus_bleu: float


def score_generations(hypotheses: Sequence[str], references: Sequence[str]) -> SurfaceScores:
    """chrF, BLEU (sacrebleu 2.6, sentence- and corpus-level) and exact match of whitespace-normalised
    ``hypotheses`` against ``references`` (one reference each).

    Raises:
        OutcomeError: different lengths or no pair.
    """
    import sacrebleu

    from core.outcomes.base import OutcomeError

    if len(hypotheses) != len(references) or not hypotheses:
        raise OutcomeError(f"Need one hypothesis per reference ({len(hypotheses)} vs {len(references)}).",
                           fix="pass equally long, non-empty lists.")
    hyp = [normalise(h) for h in hypotheses]
    ref = [normalise(r) for r in references]
    chrf = np.array([sacrebleu.sentence_chrf(h, [r]).score for h, r in zip(hyp, ref)], dtype=np.float64)
    bleu = np.array([sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(hyp, ref)], dtype=np.float64)
    exact = np.array([float(h == r) for h, r in zip(hyp, ref)], dtype=np.float64)
    return SurfaceScores(chrf=chrf, bleu=bleu, exact=exact, corpus_chrf=float(sacrebleu.corpus_chrf(hyp, [ref]).score),
                         corpus_bleu=float(sacrebleu.corpus_bleu(hyp, [ref]).score))


def length_cap(reference_tokens: int, *, factor: float, extra: int) -> int:
    """New-token cap of a generation: ``ceil(factor * reference_tokens) + extra``."""
    return int(math.ceil(factor * reference_tokens)) + int(extra)


class PairGeneration(Outcome):
    """``af-gen``: greedy generation scored by chrF / BLEU / exact match (surface scores, no type-check)."""

    name: ClassVar[str] = "af-gen"
    description: ClassVar[str] = (
        "Greedy generation (do_sample=False) of the completion from the condition, stopping at EOS, the pair "
        "format's stop string (ProofNet ':=') or ceil(1.5 x reference tokens) + 8 new tokens; mean sentence chrF "
        "(sacrebleu) against the reference after whitespace normalisation, with corpus chrF/BLEU and exact match. "
        "Surface scores only: no Lean type-check runs.")
    direction: ClassVar[str] = "higher"
    unit: ClassVar[str] = "chrF"

    @dataclass(frozen=True)
    class Config(Outcome.Config):
        cap_factor: float = bounded(1.5, low=0.1)
        cap_extra: int = bounded(8, low=0)

    def _measure(self, model, tokenizer, target, *, precision, batch_size, should_stop, progress, problem_ids
                 ) -> OutcomeResult:
        from core.outcomes.problems import encode_problem, problems_fingerprint

        fmt, chosen = chosen_problems(target, problem_ids)
        encoded = [encode_problem(tokenizer, fmt, p) for p in chosen]
        caps = [length_cap(len(c), factor=self.config.cap_factor, extra=self.config.cap_extra) for _, c in encoded]
        texts = _generate(model, tokenizer, [c for c, _ in encoded], caps, stop=fmt.stop, precision=precision,
                          batch_size=batch_size, should_stop=should_stop, progress=progress)
        hyps = [cut_at_stop(t, fmt.stop, keep_stop=fmt.keep_stop) for t in texts]
        s = score_generations(hyps, [fmt.completion_text(p) for p in chosen])
        return self._result(
            target, [p.problem_id for p in chosen], {"chrf": s.chrf, "bleu": s.bleu, "exact": s.exact},
            Statistic("mean", "chrf"),
            {"format": fmt.name, "problems_fingerprint": problems_fingerprint(fmt, chosen),
             "corpus_chrf": s.corpus_chrf, "corpus_bleu": s.corpus_bleu,
             "bleu": float(s.bleu.mean()), "bleu_ci": list(bootstrap_ci(Statistic("mean", "bleu"), (s.bleu,))),
             "exact_match": float(s.exact.mean()),
             "exact_match_ci": list(bootstrap_ci(Statistic("mean", "exact"), (s.exact,))),
             "length_cap": f"ceil({self.config.cap_factor} x reference tokens) + {self.config.cap_extra}",
             "type_checked": False, "generations": {p.problem_id: h for p, h in zip(chosen, hyps)}})


def _generate(model, tokenizer, contexts: list[list[int]], caps: list[int], *, stop: Sequence[str], precision: str,
              batch_size: int, should_stop, progress) -> list[str]:
    """Greedy continuations (decoded, special tokens skipped) of each context, at most ``caps[i]`` new tokens."""
    from transformers import StoppingCriteriaList

    from core.precision import autocast

    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    out: list[str] = [""] * len(contexts)
    with inference(model):
        for idx, ids, mask in padded_batches(contexts, batch_size=batch_size, pad_id=pad, left=True,
                                             sort_key=lambda i: (-caps[i], -len(contexts[i])), should_stop=should_stop,
                                             progress=progress, what="generating"):
            width = ids.shape[1]
            kw = {"stopping_criteria": StoppingCriteriaList([_StopText(tokenizer, stop, width)])} if stop else {}
            with autocast(precision, device):
                gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                     max_new_tokens=max(caps[i] for i in idx), pad_token_id=pad,
                                     eos_token_id=tokenizer.eos_token_id, num_beams=1, top_p=None, top_k=None,
                                     temperature=None, **kw)                     # [b, width + new]
            for r, i in enumerate(idx):
                out[i] = tokenizer.decode(gen[r, width:width + caps[i]].tolist(), skip_special_tokens=True)
    return out


class _StopText:
    """Stopping criterion: a row is done once its generated text (decoded from ``start``) holds a stop string.

    A plain ``StoppingCriteria`` (decodes each row's new tokens at every step: cheap for the short
    completions here), used instead of ``generate(stop_strings=...)``, whose set-up scans the whole vocabulary.
    """

    def __init__(self, tokenizer, stop: Sequence[str], start: int) -> None:
        self.tokenizer, self.stop, self.start = tokenizer, tuple(stop), start

    def __call__(self, input_ids, scores, **kwargs):                                    # input_ids [b, T]
        import torch

        done = [any(s in self.tokenizer.decode(row[self.start:], skip_special_tokens=True) for s in self.stop)
                for row in input_ids.tolist()]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
