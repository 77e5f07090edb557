"""Deterministic, seeded batches of token windows drawn from a corpus.

A batch is ``batch_size`` sequences of at most ``seq_len`` tokens. Each sequence is a window of
``seq_len`` consecutive tokens taken at a seeded random offset inside one document (documents
shorter than ``seq_len`` are used whole and right-padded). Batch ``i`` draws documents
``perm[i*B:(i+1)*B]`` of a seeded permutation of the corpus, so batches are disjoint while the corpus
has enough documents, and batch ``i`` does not depend on ``num_batches`` (asking for more batches
keeps the first ones, and their cached embeddings). When the corpus has fewer than
``num_batches * batch_size`` documents, further passes use new permutations and new offsets, so
batches still differ (the reference implementation drew one fixed-seed shuffle and so the same
batch every time; we do not).

Few long documents: a corpus with fewer documents than ``batch_size`` (two long ``.lean`` files of
240 theorems, about 55k tokens) is cut into non-overlapping windows of ``seq_len`` tokens at a seeded
random shift per document, and batches draw those windows (:func:`_window_units`) instead of documents,
with the same pass/permutation scheme. Corpora with at least ``batch_size`` documents take the
document path unchanged, so their batches, and the cache keys of their embeddings, are the same as
before this option existed.

Reference defaults (Lee, Miranda et al., arXiv 2306.13840, Sec. 3): 512 sequences x 128 tokens. Our
CPU default is 16 x 128 x 5 batches: one forward pass of SmolLM2-135M over 16 x 128 tokens takes
about 2.5 s on 2 CPU threads.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from core.errors import CorpusError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


class DocumentSource(Protocol):
    """What batching needs of a corpus: its ``name`` and its ``documents()`` (each with ``.text``).

    :class:`core.corpora.Corpus` is one; batching never imports the registry (it sits below it).
    """

    name: str

    def documents(self) -> Sequence: ...


@dataclass(frozen=True)
class BatchConfig:
    """How batches are drawn from a corpus.

    Attributes:
        batch_size: sequences per batch (reference: 512; default 16 for CPUs).
        seq_len: tokens per sequence, the window length (reference and default: 128).
        num_batches: batches per corpus (default 5; at least 2 for a confidence interval).
        seed: sampling seed; the same seed, corpus and tokenizer give identical batches.
    """

    batch_size: int = 16
    seq_len: int = 128
    num_batches: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "seq_len", "num_batches"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"BatchConfig.{name} must be a positive integer, got {value!r}.")
        if self.seq_len < 2:
            raise ValueError("BatchConfig.seq_len must be at least 2 tokens.")

    def to_dict(self) -> dict:
        """``{batch_size, seq_len, num_batches, seed}``."""
        return asdict(self)


@dataclass(frozen=True)
class TokenBatch:
    """One batch of token windows.

    Attributes:
        corpus: name of the corpus it was drawn from.
        index: batch number within the corpus (0-based).
        input_ids: int64 array [batch_size, seq_len], right-padded with the tokenizer's pad id.
        attention_mask: int64 array [batch_size, seq_len], 1 on real tokens, 0 on padding.
        doc_ids: the ``Document.doc_id`` of each row.
        offsets: token offset of each window inside its document.
    """

    corpus: str
    index: int
    input_ids: np.ndarray
    attention_mask: np.ndarray
    doc_ids: tuple[str, ...]
    offsets: tuple[int, ...]

    @property
    def num_tokens(self) -> int:
        """Real (non-padding) tokens in the batch."""
        return int(self.attention_mask.sum())

    def content_hash(self) -> str:
        """sha256 hex of the token ids and mask (what the probe network sees), shape included."""
        h = hashlib.sha256()
        h.update(str(self.input_ids.shape).encode())
        h.update(np.ascontiguousarray(self.input_ids, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(self.attention_mask, dtype=np.int64).tobytes())
        return h.hexdigest()

    def to_torch(self, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(input_ids, attention_mask)`` as int64 torch tensors [B, T] on ``device``."""
        import torch

        return (torch.as_tensor(self.input_ids, device=device),
                torch.as_tensor(self.attention_mask, device=device))


def _draws(n_units: int, config: BatchConfig, indices, *, salt: tuple[int, ...] = ()):
    """``(batch index, pass, unit rows)`` of each wanted batch: batch ``i`` takes rows ``perm[slot*B:
    (slot+1)*B]`` of pass ``i // per_pass``'s seeded permutation (``default_rng([seed, pass, 7919,
    *salt])``) of the ``n_units`` sampling units (documents, or windows of few long documents)."""
    bsz = config.batch_size
    per_pass = n_units // bsz  # disjoint batches available in one pass over a permutation
    wanted = list(range(config.num_batches)) if indices is None else list(indices)
    perms: dict[int, np.ndarray] = {}
    for index in wanted:
        pass_no, slot = divmod(index, per_pass)
        if pass_no not in perms:
            perms[pass_no] = np.random.default_rng([config.seed, pass_no, 7919, *salt]).permutation(n_units)
        yield index, pass_no, perms[pass_no][slot * bsz:(slot + 1) * bsz]


def _window(ids: list[int], seq_len: int, rng: np.random.Generator) -> tuple[list[int], int]:
    if len(ids) <= seq_len:
        return ids, 0
    offset = int(rng.integers(0, len(ids) - seq_len + 1))
    return ids[offset:offset + seq_len], offset


def sample_batches(corpus: DocumentSource, tokenizer: PreTrainedTokenizerBase, config: BatchConfig, *,
                   indices: list[int] | None = None) -> list[TokenBatch]:
    """Draw the batches of ``corpus`` described by ``config``.

    Args:
        corpus: a :class:`core.corpora.Corpus` (anything with ``name`` and ``documents()``).
        tokenizer: a Hugging Face tokenizer with ``pad_token_id`` set.
        config: batch shape and seed.
        indices: which batch numbers to build (default ``range(config.num_batches)``).

    Returns:
        ``TokenBatch`` objects, int64 arrays [batch_size, seq_len]. Only the documents that are
        sampled get tokenised (no special tokens are added).

    Raises:
        CorpusError: the corpus has fewer documents than ``batch_size`` and its documents hold
            fewer than ``batch_size`` windows of ``seq_len`` tokens (fix: lower ``--batch-size`` or
            add documents), or every sampled window is empty after tokenisation.
    """
    docs = corpus.documents()
    n_docs = len(docs)
    bsz, seq_len = config.batch_size, config.seq_len
    if n_docs < bsz:
        return _sample_long_documents(corpus, docs, tokenizer, config, indices)
    pad_id = tokenizer.pad_token_id
    out: list[TokenBatch] = []
    for index, pass_no, rows in _draws(n_docs, config, indices):
        texts = [docs[int(r)].text for r in rows]
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
        ids = np.full((bsz, seq_len), pad_id, dtype=np.int64)
        mask = np.zeros((bsz, seq_len), dtype=np.int64)
        offsets = []
        for k, (row, toks) in enumerate(zip(rows, encoded)):
            rng = np.random.default_rng([config.seed, pass_no, int(row), 104729])
            window, offset = _window(list(toks), seq_len, rng)
            ids[k, :len(window)] = window
            mask[k, :len(window)] = 1
            offsets.append(offset)
        if mask.sum() == 0:
            raise CorpusError(f"Batch {index} of corpus {corpus.name!r} has no tokens after tokenisation.",
                              fix="check that the corpus documents contain text.")
        out.append(TokenBatch(corpus=corpus.name, index=index, input_ids=ids, attention_mask=mask,
                              doc_ids=tuple(docs[int(r)].doc_id for r in rows), offsets=tuple(offsets)))
    return out


def _window_units(docs, tokenizer, seq_len: int, seed: int) -> list[tuple[int, int, list[int]]]:
    """Every document cut into non-overlapping windows of ``seq_len`` tokens: ``(doc index, token
    offset, ids)``. Each document starts at a seeded random shift in ``[0, seq_len)`` (so windows do
    not always begin at a file's first line); a document of at most ``seq_len`` tokens is one window.
    Windows of fewer than 2 tokens are dropped."""
    encoded = tokenizer([d.text for d in docs], add_special_tokens=False)["input_ids"]
    units: list[tuple[int, int, list[int]]] = []
    for i, toks in enumerate(encoded):
        toks = list(toks)
        if len(toks) <= seq_len:
            if len(toks) >= 2:
                units.append((i, 0, toks))
            continue
        shift = int(np.random.default_rng([seed, i, 15485863]).integers(0, min(seq_len, len(toks) - seq_len + 1)))
        for off in range(shift, len(toks) - 1, seq_len):
            piece = toks[off:off + seq_len]
            if len(piece) >= 2:
                units.append((i, off, piece))
    return units


def _sample_long_documents(corpus, docs, tokenizer, config: BatchConfig, indices) -> list[TokenBatch]:
    """Batches of a corpus with fewer documents than ``batch_size``: the documents' windows
    (:func:`_window_units`) are the sampling units, drawn like documents are (seeded permutation per
    pass, batch ``i`` independent of ``num_batches``).

    Raises:
        CorpusError: fewer windows than one batch (the documents are too short as well as too few).
    """
    bsz, seq_len = config.batch_size, config.seq_len
    units = _window_units(docs, tokenizer, seq_len, config.seed) if docs else []
    if len(units) < bsz:
        raise CorpusError(
            f"Corpus {corpus.name!r} has {len(docs)} documents, fewer than one batch of {bsz} sequences, "
            f"and they hold only {len(units)} windows of {seq_len} tokens.",
            fix=f"lower --batch-size to {max(1, len(units))} or less, or add documents to the corpus.")
    pad_id = tokenizer.pad_token_id
    out: list[TokenBatch] = []
    for index, _, picked in _draws(len(units), config, indices, salt=(1,)):
        rows = [units[int(r)] for r in picked]
        ids = np.full((bsz, seq_len), pad_id, dtype=np.int64)
        mask = np.zeros((bsz, seq_len), dtype=np.int64)
        for k, (_, _, piece) in enumerate(rows):
            ids[k, :len(piece)] = piece
            mask[k, :len(piece)] = 1
        out.append(TokenBatch(corpus=corpus.name, index=index, input_ids=ids, attention_mask=mask,
                              doc_ids=tuple(docs[d].doc_id for d, _, _ in rows),
                              offsets=tuple(off for _, off, _ in rows)))
    return out
