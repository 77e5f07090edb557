"""The batching every outcome's forward passes share: inference mode, and padded batches of token ids.

Sequences are sorted (longest first by default) and cut into batches of ``batch_size``; each batch
is padded to its longest sequence (right padding for scoring, left padding for generation) with a
0/1 attention mask. ``should_stop()`` is asked before each batch (``InterruptedError`` when True)
and ``progress(done, total)`` is told after the caller has consumed it.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

if TYPE_CHECKING:
    import torch


@contextmanager
def inference(model: torch.nn.Module) -> Iterator[None]:
    """``model.eval()`` under ``torch.no_grad()`` for the block; the model's training mode is restored after."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training:
            model.train()


def padded_batches(seqs: Sequence[Sequence[int]], *, batch_size: int, pad_id: int, left: bool = False,
                   sort_key: Callable[[int], object] | None = None, should_stop: Callable[[], bool] | None = None,
                   progress: Callable[[int, int], None] | None = None, what: str = "measuring"
                   ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """Yield ``(idx, ids, mask)`` per batch: ``idx`` the batch's indices into ``seqs``, ``ids`` int64
    ``[B, T]`` (``T`` = the batch's longest sequence, ``pad_id`` elsewhere) and ``mask`` int64 ``[B, T]``
    (1 on tokens), on the CPU.

    Args:
        seqs: ``n`` token-id sequences.  batch_size: sequences per batch (>= 1).
        left: pad on the left (generation) instead of the right (scoring).
        sort_key: order of the sequences (default: longest first).
        what: the activity named in the ``InterruptedError`` message ("stopped while {what}").

    Raises:
        InterruptedError: ``should_stop()`` returned True before a batch.
    """
    import torch

    order = sorted(range(len(seqs)), key=sort_key or (lambda i: -len(seqs[i])))
    batches = [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
    for b, idx in enumerate(batches):
        if should_stop and should_stop():
            raise InterruptedError(f"stopped while {what}")
        width = max(len(seqs[i]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, i in enumerate(idx):
            span = slice(width - len(seqs[i]), width) if left else slice(0, len(seqs[i]))
            ids[r, span] = torch.tensor(list(seqs[i]), dtype=torch.long)
            mask[r, span] = 1
        yield idx, ids, mask
        if progress:
            progress(b + 1, len(batches))
