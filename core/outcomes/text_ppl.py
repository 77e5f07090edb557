"""``text-ppl``: token-weighted perplexity of a target's held-out text (the alignment paper's eq. 2),
kept per held-out document.

``perplexity = exp( sum of NLL over all evaluated tokens / number of evaluated tokens )``: a
token-weighted mean, so long documents weigh in proportion to their length, never a mean of
per-document perplexities. Padding is excluded (its labels are masked).

Windows: every document is tokenised without special tokens and split into consecutive,
non-overlapping windows of ``seq_len`` tokens (the last one shorter); each window is evaluated on
its own (no context carried over from the previous window), so a window of ``L`` tokens contributes
``L - 1`` predicted tokens (the first token of a window has no context and is not scored). Windows
of a single token contribute nothing. Per problem (= held-out document) the outcome stores the sum
of NLL (nats) and of scored tokens over its windows; the aggregate ``exp(sum nll / sum tokens)`` is
the value :func:`perplexity` gives on the same windows (``core.finetune.perplexity`` re-exports the
functions of this module for its callers).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar

import numpy as np

from core.bounds import bounded
from core.outcomes.base import Outcome, OutcomeResult, Statistic, select_problems
from core.outcomes.batching import inference, padded_batches

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from core.corpora.memory import InMemoryCorpus
    from core.corpora.registry import Corpus

    CorpusObject = Corpus | InMemoryCorpus


@dataclass
class Perplexity:
    """Result of :func:`perplexity`.

    Attributes:
        perplexity: ``exp(nll)``.  nll: token-weighted mean negative log-likelihood (nats/token).
        tokens: evaluated (predicted) tokens.  windows: windows evaluated.
    """

    perplexity: float
    nll: float
    tokens: int
    windows: int

    def to_dict(self) -> dict:
        return {"perplexity": self.perplexity, "nll": self.nll, "tokens": self.tokens, "windows": self.windows}


def document_windows_owned(texts: list[str], tokenizer: PreTrainedTokenizerBase, seq_len: int
                           ) -> tuple[list[list[int]], list[int]]:
    """Consecutive non-overlapping ``seq_len``-token windows of every text (no special tokens) with
    the index of the text each comes from; windows of fewer than 2 tokens are dropped.

    Returns:
        ``(windows, owner)``: ``windows[k]`` token ids, ``owner[k]`` index into ``texts``.
    """
    out, owner = [], []
    for i in range(0, len(texts), 256):
        for j, ids in enumerate(tokenizer(texts[i:i + 256], add_special_tokens=False)["input_ids"]):
            for k in range(0, len(ids), seq_len):
                if len(ids[k:k + seq_len]) >= 2:
                    out.append(ids[k:k + seq_len])
                    owner.append(i + j)
    return out, owner


def document_windows(texts: list[str], tokenizer: PreTrainedTokenizerBase, seq_len: int) -> list[list[int]]:
    """Consecutive non-overlapping ``seq_len``-token windows of every text (no special tokens)."""
    return document_windows_owned(texts, tokenizer, seq_len)[0]


_WINDOWS: dict[tuple[str, str, int], tuple[list[list[int]], str, list[int], list[str]]] = {}


def _corpus_windows(corpus, tokenizer, seq_len, tokenizer_fingerprint):
    from core.corpora import get_corpus

    c = get_corpus(corpus) if isinstance(corpus, str) else corpus
    if tokenizer_fingerprint is None:
        from core.probe import _tokenizer_fingerprint

        tokenizer_fingerprint = _tokenizer_fingerprint(tokenizer)
    key = (c.fingerprint(), tokenizer_fingerprint, int(seq_len))
    hit = _WINDOWS.get(key)
    if hit is None:
        docs = c.documents()
        windows, owner = document_windows_owned([d.text for d in docs], tokenizer, seq_len)
        hit = _WINDOWS[key] = (windows, windows_fingerprint(windows), owner, [d.doc_id for d in docs])
    return hit


def corpus_windows(corpus: str | CorpusObject, tokenizer: PreTrainedTokenizerBase, seq_len: int, *, tokenizer_fingerprint: str | None = None
                   ) -> tuple[list[list[int]], str]:
    """:func:`document_windows` of a registry corpus, tokenised once per process.

    Memoised by (corpus fingerprint, tokenizer fingerprint, ``seq_len``): the corpus fingerprint
    changes when its documents do, so a stale memo is never served.

    Args:
        corpus: registry name or corpus object.
        tokenizer_fingerprint: the probe's ``tokenizer_fingerprint`` (computed from the tokenizer
            when not given).

    Returns:
        ``(windows, fingerprint)``: the windows (shared: do not modify) and
        :func:`windows_fingerprint` of them.

    Raises:
        CorpusError: unknown or uninstalled corpus.
    """
    windows, fp, _, _ = _corpus_windows(corpus, tokenizer, seq_len, tokenizer_fingerprint)
    return windows, fp


def corpus_document_windows(corpus: str | CorpusObject, tokenizer: PreTrainedTokenizerBase, seq_len: int, *,
                            tokenizer_fingerprint: str | None = None) -> tuple[list[list[int]], list[int], list[str]]:
    """The windows of :func:`corpus_windows` (same memo) with their owners: ``(windows, owner, doc_ids)``,
    ``owner[k]`` indexing ``doc_ids`` (every document of the corpus, in corpus order).

    Raises:
        CorpusError: unknown or uninstalled corpus.
    """
    windows, _, owner, ids = _corpus_windows(corpus, tokenizer, seq_len, tokenizer_fingerprint)
    return windows, owner, ids


def windows_fingerprint(windows: list[list[int]]) -> str:
    """sha256 hex of the windows' token ids (int64 bytes, ``|``-separated)."""
    h = hashlib.sha256()
    for w in windows:
        h.update(np.asarray(w, dtype=np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()


@dataclass
class WindowScores:
    """Per-window sums of :func:`window_nll`: ``nll`` float64 ``[w]`` (nats), ``tokens`` int64 ``[w]``
    (``len(window) - 1``), and ``total_nll`` (the float64 sum accumulated batch by batch, in batch order)."""

    nll: np.ndarray
    tokens: np.ndarray
    total_nll: float


def window_nll(model: torch.nn.Module, windows: list[list[int]], *, batch_size: int = 16, pad_id: int = 0,
               precision: str = "fp32", progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> WindowScores:
    """Summed NLL (nats) of every window, each evaluated alone (token ``t`` from tokens ``< t``).

    Windows are sorted by length and batched (right-padded, padding masked). ``progress(done,
    total)`` is called after each batch; ``should_stop()`` raises ``InterruptedError`` between batches.
    Only the logits of scored positions are widened and passed to the cross-entropy.

    Args:
        windows: ``w`` lists of token ids, each of 2 tokens or more.
        precision: resolved precision, ``fp32`` or ``bf16``: ``bf16`` runs the forward pass under
            bf16 autocast (bf16 logits); the log-softmax (cross-entropy) and the sums are float32 /
            float64 in both cases.

    Raises:
        ValueError: no window, or a window of fewer than 2 tokens.
    """
    import torch

    from core.precision import autocast

    if not windows or any(len(w) < 2 for w in windows):
        raise ValueError("every window needs at least 2 tokens to evaluate")
    device = next(model.parameters()).device
    per_nll = np.zeros(len(windows), dtype=np.float64)
    per_tok = np.array([len(w) - 1 for w in windows], dtype=np.int64)
    total_nll = 0.0
    with inference(model):
        for idx, ids, mask in padded_batches(windows, batch_size=batch_size, pad_id=pad_id, should_stop=should_stop,
                                             progress=progress, what="measuring perplexity"):
            ids, mask = ids.to(device), mask.to(device)
            with autocast(precision, device):
                logits = model(input_ids=ids, attention_mask=mask).logits               # [b, T, V]
            keep = mask[:, 1:].bool()                                                   # [b, T-1]
            scored = logits[:, :-1][keep].float()                                       # [n, V], float32
            del logits
            nll = torch.nn.functional.cross_entropy(scored, ids[:, 1:][keep], reduction="none")  # [n]
            nll64 = nll.double()
            total_nll += float(nll64.sum())
            row = torch.arange(len(idx), device=keep.device).unsqueeze(1).expand_as(keep)[keep]  # [n] batch row
            sums = torch.zeros(len(idx), dtype=torch.float64, device=nll64.device).index_add_(0, row, nll64)
            per_nll[np.asarray(idx)] = sums.cpu().numpy()
    return WindowScores(nll=per_nll, tokens=per_tok, total_nll=total_nll)


def perplexity(model: torch.nn.Module, windows: list[list[int]], *, batch_size: int = 16, pad_id: int = 0,
               precision: str = "fp32", progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> Perplexity:
    """Token-weighted perplexity of ``model`` over ``windows`` (lists of token ids, each evaluated alone).

    ``exp(sum NLL / tokens)`` (the alignment paper's eq. 2) over the windows of 2 tokens or more,
    computed by :func:`window_nll` (its arguments).

    Raises:
        ValueError: no window has two tokens or more (nothing to score).
    """
    windows = [w for w in windows if len(w) >= 2]
    if not windows:
        raise ValueError("no window with at least 2 tokens to evaluate")
    s = window_nll(model, windows, batch_size=batch_size, pad_id=pad_id, precision=precision, progress=progress,
                   should_stop=should_stop)
    total_tokens = int(s.tokens.sum())
    mean = s.total_nll / total_tokens
    return Perplexity(perplexity=math.exp(mean) if mean < 700 else math.inf, nll=mean, tokens=total_tokens,
                      windows=len(windows))


class TextPerplexity(Outcome):
    """``text-ppl``: token-weighted perplexity of the target's held-out text (eq. 2), per document."""

    name: ClassVar[str] = "text-ppl"
    description: ClassVar[str] = (
        "Perplexity exp(sum NLL / tokens) of the target's held-out documents, in non-overlapping seq_len-token "
        "windows each evaluated alone (the alignment paper's eq. 2, token-weighted); per problem = per document "
        "(sums over its windows). For ProofNet: the whole pair text 'informal statement ... formal statement ...'.")
    direction: ClassVar[str] = "lower"
    unit: ClassVar[str] = "perplexity"
    uses_pair_format: ClassVar[bool] = False

    @dataclass(frozen=True)
    class Config(Outcome.Config):
        seq_len: int = bounded(128, low=2)

    def content_key(self, tokenizer: PreTrainedTokenizerBase, target: str) -> str:
        """sha256 hex of the held-out windows' token ids and their document ids (:func:`corpus_document_windows`)."""
        from core.corpora.benchmarks import heldout_split
        from core.fingerprint import fingerprint

        windows, owner, ids = corpus_document_windows(heldout_split(target).corpus, tokenizer, self.config.seq_len)
        return fingerprint({"windows": windows_fingerprint(windows), "owner": owner, "ids": ids})

    def _measure(self, model, tokenizer, target, *, precision, batch_size, should_stop, progress, problem_ids
                 ) -> OutcomeResult:
        from core.corpora.benchmarks import heldout_split

        corpus = heldout_split(target).corpus
        windows, owner, doc_ids = corpus_document_windows(corpus, tokenizer, self.config.seq_len)
        scored = sorted(set(owner))
        ids = [doc_ids[d] for d in scored]
        keep = set(select_problems(ids, ids, problem_ids, what=f"target {target!r}"))
        chosen = {scored[i] for i in keep}
        sel = [k for k, o in enumerate(owner) if o in chosen]
        s = window_nll(model, [windows[k] for k in sel], batch_size=batch_size,
                       pad_id=tokenizer.pad_token_id or 0, precision=precision, progress=progress,
                       should_stop=should_stop)
        slot = {d: j for j, d in enumerate(sorted(chosen))}
        nll = np.zeros(len(chosen), dtype=np.float64)
        tok = np.zeros(len(chosen), dtype=np.int64)
        np.add.at(nll, [slot[owner[k]] for k in sel], s.nll)
        np.add.at(tok, [slot[owner[k]] for k in sel], s.tokens)
        res = self._result(target, [doc_ids[d] for d in sorted(chosen)], {"nll": nll, "tokens": tok},
                           Statistic("ratio", "nll", "tokens", transform="exp"),
                           {"corpus": corpus, "seq_len": self.config.seq_len, "windows": len(sel),
                            "tokens": int(tok.sum()), "skipped_documents": len(doc_ids) - len(scored)})
        res.extra["nll"] = float(nll.sum() / tok.sum())
        res.extra["nll_ci"] = [math.log(c) for c in res.ci]
        return res
