"""The data: a seeded held-out split of each corpus, the packed training windows and the evaluation windows.

Held-out split (:func:`split_corpus`): a corpus's documents are put in a seeded permutation
(``numpy.random.default_rng([split_seed, crc32(corpus name), 2718])``); the first
``max(1, round(eval_fraction * n))`` documents are **held out** and the rest are training documents.
The split depends only on the corpus, ``eval_fraction`` and ``split_seed`` (never on the run's seed),
so every run of a grid trains on the same training documents and every evaluation reads windows
of held-out documents only: an evaluation window is never a window trained on, nor a window of a
document trained on. A corpus needs at least 2 documents.

Training windows (:func:`training_windows`): the training text of a training corpus (one source, or
an equal-share mixture ``"A+B"``, the paper's PubMed + USPTO) is drawn with the workbench's mixture
sampler, :func:`core.mixture.materialize` (documents in a seeded permutation per source, token
shares by largest remainder, the last document cut at a token boundary, sources interleaved), over
the *training documents only* (its ``corpora`` override maps each source to its training part).
The rows are tokenised (no special tokens), joined with the EOS token between documents into one
stream and cut into ``floor(budget / T)`` windows of ``T`` tokens (nanoGPT's packing; Radford et al.
2019 pack GPT-2's WebText the same way), so every run trains on exactly ``tokens_trained`` tokens.

Evaluation windows (:func:`eval_windows`): the held-out documents, in the split's order, tokenised
and packed the same way, give the first ``eval_windows`` windows of ``T`` tokens (fewer when the
held-out documents hold fewer tokens; at least one is required).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from core.errors import AlignScopeError, CorpusError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from core.pretrain.config import PretrainConfig

#: Default share of each corpus's documents held out for evaluation.
EVAL_FRACTION = 0.1
#: Default seed of the held-out split (independent of the runs' seeds).
SPLIT_SEED = 0
#: A training corpus name that mixes sources: ``"A+B"`` (equal token shares).
MIX_SEPARATOR = "+"


@dataclass(frozen=True)
class HeldOutSplit:
    """A corpus's documents split into training and held-out (evaluation) documents.

    Attributes:
        corpus: the corpus name.  n_documents: its documents.
        eval_indices: indices of held-out documents, in the split's seeded order.
        train_indices: indices of training documents, ascending.
        eval_fraction, split_seed: how the split was drawn.
    """

    corpus: str
    n_documents: int
    eval_indices: tuple[int, ...]
    train_indices: tuple[int, ...]
    eval_fraction: float
    split_seed: int

    def describe(self) -> dict:
        """``{corpus, n_documents, n_eval_documents, n_train_documents, eval_fraction, split_seed}``."""
        return {"corpus": self.corpus, "n_documents": self.n_documents, "n_eval_documents": len(self.eval_indices),
                "n_train_documents": len(self.train_indices), "eval_fraction": self.eval_fraction,
                "split_seed": self.split_seed}


def _corpus(name_or_corpus: Any, corpora: Mapping[str, Any] | None = None):
    if not isinstance(name_or_corpus, str):
        return name_or_corpus
    if corpora is not None and name_or_corpus in corpora:
        return corpora[name_or_corpus]
    from core.corpora import get_corpus

    c = get_corpus(name_or_corpus)
    if hasattr(c, "available") and not c.available():
        raise CorpusError(f"Corpus {name_or_corpus!r} is registered but not installed.",
                          fix=f"run: python -m core corpora install {name_or_corpus}")
    return c


def split_corpus(corpus: Any, *, eval_fraction: float = EVAL_FRACTION, split_seed: int = SPLIT_SEED,
                 corpora: Mapping[str, Any] | None = None) -> HeldOutSplit:
    """The held-out split of ``corpus`` (module docstring).

    Args:
        corpus: a registry name or a corpus object (``name`` and ``documents()``).
        eval_fraction: share of documents held out, in (0, 1).
        corpora: optional ``name -> corpus`` overrides (tests).

    Raises:
        CorpusError: unknown corpus, or fewer than 2 documents.
        AlignScopeError: ``eval_fraction`` outside (0, 1).
    """
    if not (isinstance(eval_fraction, (int, float)) and 0 < eval_fraction < 1):
        raise AlignScopeError(f"eval_fraction must be in (0, 1), got {eval_fraction!r}.", fix="use e.g. 0.1.")
    c = _corpus(corpus, corpora)
    n = len(c.documents())
    if n < 2:
        raise CorpusError(f"Corpus {c.name!r} has {n} document(s); a held-out split needs at least 2.",
                          fix="pick a corpus with more documents, or split its file into several documents.")
    order = np.random.default_rng([int(split_seed), zlib.crc32(c.name.encode()), 2718]).permutation(n)
    n_eval = min(n - 1, max(1, int(round(eval_fraction * n))))
    return HeldOutSplit(corpus=c.name, n_documents=n, eval_indices=tuple(int(i) for i in order[:n_eval]),
                        train_indices=tuple(sorted(int(i) for i in order[n_eval:])),
                        eval_fraction=float(eval_fraction), split_seed=int(split_seed))


def parse_training_corpus(name: str) -> dict[str, float]:
    """``"A"`` -> ``{"A": 1.0}``; ``"A+B"`` -> ``{"A": 0.5, "B": 0.5}`` (equal token shares).

    Raises:
        AlignScopeError: an empty name, an empty part or a repeated source.
    """
    if not isinstance(name, str) or not name.strip():
        raise AlignScopeError("No training corpus given.", fix="pass --corpus NAME (or A+B for a 50/50 mixture).")
    parts = [p.strip() for p in name.split(MIX_SEPARATOR)]
    if any(not p for p in parts) or len(set(parts)) != len(parts):
        raise AlignScopeError(f"Training corpus {name!r} is not NAME or A+B with distinct, non-empty sources.",
                              fix="pass e.g. --corpus wikipedia or --corpus wikipedia+python-stdlib.")
    return {p: 1.0 / len(parts) for p in parts}


class _Part:
    """The training (or held-out) documents of a corpus as an in-memory corpus, same name."""

    def __init__(self, corpus: Any, indices: tuple[int, ...], role: str) -> None:
        docs = corpus.documents()
        self.name = corpus.name
        self._docs = [docs[i] for i in indices]
        self.role = role
        self._parent = corpus

    def documents(self) -> list:
        return self._docs

    def available(self) -> bool:
        return True

    def fingerprint(self) -> str:
        import hashlib

        h = hashlib.sha256(f"{self.role}\x00".encode())
        for d in self._docs:
            h.update(d.text.encode())
            h.update(b"\x00")
        return h.hexdigest()


@dataclass
class TrainData:
    """The packed training windows of a run.

    Attributes:
        input_ids: int64 array [N, T]: ``N = floor(budget / T)`` windows of ``T`` tokens.
        source_tokens: tokens of each source in the windows (the mixture's realised shares).
        documents: documents (or document cuts) the windows draw from.
        splits: the held-out split of each source (``HeldOutSplit.describe()``).
    """

    input_ids: np.ndarray
    source_tokens: dict[str, int] = field(default_factory=dict)
    documents: int = 0
    splits: dict[str, dict] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        """Tokens in the windows: ``N * T``."""
        return int(self.input_ids.size)


def _pack(encoded: list[list[int]], *, eos: int, seq_len: int, max_windows: int,
          sources: list[str] | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """Documents' token lists joined with ``eos`` after each, cut into at most ``max_windows`` windows [N, T]."""
    stream: list[int] = []
    owner: list[str] = []
    want = max_windows * seq_len
    for k, ids in enumerate(encoded):
        piece = list(ids) + [eos]
        stream += piece
        if sources is not None:
            owner += [sources[k]] * len(piece)
        if len(stream) >= want:
            break
    n = min(max_windows, len(stream) // seq_len)
    arr = np.asarray(stream[:n * seq_len], dtype=np.int64).reshape(n, seq_len)
    counts: dict[str, int] = {}
    if sources is not None:
        for s in owner[:n * seq_len]:
            counts[s] = counts.get(s, 0) + 1
    return arr, counts


def training_rows(training_corpus: str, *, tokenizer: PreTrainedTokenizerBase, budget_tokens: int, seed: int,
                  eval_fraction: float = EVAL_FRACTION, split_seed: int = SPLIT_SEED,
                  corpora: Mapping[str, Any] | None = None) -> tuple[list[dict], dict[str, dict]]:
    """The training text of ``training_corpus``: rows ``{"source", "doc_id", "text"}`` of its training documents.

    Drawn by :func:`core.mixture.materialize` with the mixture's weights (:func:`parse_training_corpus`),
    ``budget_tokens`` in all and ``seed`` as the mixture seed.

    Returns:
        ``(rows, splits)``: the rows, and the held-out split of every source.

    Raises:
        AlignScopeError: a source's training documents hold fewer tokens than its share (the fix names
            the largest budget that fits); CorpusError: an unknown or uninstalled source.
    """
    from core.mixture import Mixture, materialize

    weights = parse_training_corpus(training_corpus)
    parts, splits = {}, {}
    for src in weights:
        c = _corpus(src, corpora)
        sp = split_corpus(c, eval_fraction=eval_fraction, split_seed=split_seed)
        parts[src] = _Part(c, sp.train_indices, "train")
        splits[src] = sp.describe()
    mixture = Mixture(name="pretrain-" + "-".join(f"{zlib.crc32(s.encode()):08x}" for s in weights),
                      weights=weights, budget_tokens=int(budget_tokens), seed=int(seed))
    return materialize(mixture, tokenizer=tokenizer, corpora=parts), splits


def training_windows(training_corpus: str, *, config: PretrainConfig, tokenizer: PreTrainedTokenizerBase, seed: int,
                     eval_fraction: float = EVAL_FRACTION, split_seed: int = SPLIT_SEED,
                     corpora: Mapping[str, Any] | None = None) -> TrainData:
    """The packed training windows of a run (module docstring): int64 [floor(budget / T), T].

    The mixture sampler is asked for the budget plus a 2% margin (the EOS separators and re-encoded
    cuts change counts by a few tokens a document), and the stream is cut to the budget exactly.

    Raises:
        AlignScopeError: too little training text for the budget (names the largest budget that fits).
    """
    T = config.seq_len
    ask = int(config.tokens_trained * 1.02) + T
    try:
        rows, splits = training_rows(training_corpus, tokenizer=tokenizer, budget_tokens=ask, seed=seed,
                                     eval_fraction=eval_fraction, split_seed=split_seed, corpora=corpora)
    except CorpusError:
        raise
    except AlignScopeError as exc:
        raise AlignScopeError(f"Training corpus {training_corpus!r}: {exc.raw_what}",
                              fix=f"lower {_budget_opt()} (the training documents are {1 - eval_fraction:.0%} of "
                                  f"each corpus; {exc.raw_fix})") from exc
    encoded = tokenizer([r["text"] for r in rows], add_special_tokens=False)["input_ids"]
    ids, counts = _pack(encoded, eos=_eos(tokenizer), seq_len=T, max_windows=config.train_windows,
                        sources=[r["source"] for r in rows])
    if ids.shape[0] < config.train_windows:
        raise AlignScopeError(f"Training corpus {training_corpus!r} gave {ids.shape[0] * T:,} tokens, fewer than the "
                              f"budget of {config.tokens_trained:,}.",
                              fix=f"lower {_budget_opt()} to at most {ids.shape[0] * T:,}.")
    return TrainData(input_ids=ids, source_tokens=counts, documents=len(rows), splits=splits)


@dataclass
class EvalData:
    """Held-out evaluation windows of a corpus: ``input_ids`` int64 [N, T], with the split they come from."""

    corpus: str
    input_ids: np.ndarray
    documents: int
    split: dict

    @property
    def tokens(self) -> int:
        """Tokens in the windows (``N * T``); ``N * (T - 1)`` of them are predicted."""
        return int(self.input_ids.size)


def eval_windows(corpus: Any, *, config: PretrainConfig, tokenizer: PreTrainedTokenizerBase,
                 eval_fraction: float = EVAL_FRACTION, split_seed: int = SPLIT_SEED,
                 corpora: Mapping[str, Any] | None = None, chunk: int = 64) -> EvalData:
    """The first ``config.eval_windows`` packed windows of ``corpus``'s held-out documents (module docstring).

    Raises:
        CorpusError: unknown corpus, fewer than 2 documents, or held-out documents shorter than one window.
    """
    c = _corpus(corpus, corpora)
    sp = split_corpus(c, eval_fraction=eval_fraction, split_seed=split_seed)
    docs = c.documents()
    T, want = config.seq_len, config.eval_windows * config.seq_len
    encoded: list[list[int]] = []
    total = 0
    for start in range(0, len(sp.eval_indices), chunk):
        idx = sp.eval_indices[start:start + chunk]
        for ids in tokenizer([docs[i].text for i in idx], add_special_tokens=False)["input_ids"]:
            encoded.append(list(ids))
            total += len(ids) + 1
        if total >= want:
            break
    ids, _ = _pack(encoded, eos=_eos(tokenizer), seq_len=T, max_windows=config.eval_windows)
    if ids.shape[0] == 0:
        raise CorpusError(f"The held-out documents of corpus {c.name!r} hold {total} tokens, less than one "
                          f"evaluation window of {T}.", fix="raise --eval-fraction or pick a larger corpus.")
    return EvalData(corpus=c.name, input_ids=ids, documents=len(encoded), split=sp.describe())


def _eos(tokenizer) -> int:
    eos = tokenizer.eos_token_id
    return int(eos if eos is not None else tokenizer.pad_token_id)


def _budget_opt() -> str:
    from core.errors import opt

    return opt("budget_tokens")
