"""Resource limits: what one request or one file may cost before AlignScope refuses it.

Every cap is read from the environment on each call (so a test or a session can change it) and
falls back to a default sized for a laptop; docs/limits.md lists them. A request over a cap is an
:class:`~core.errors.AlignScopeError` naming the input, the cap and the variable that raises it.

==================================  =============================================  =====================
variable                            what it caps                                   default
==================================  =============================================  =====================
``ALIGNSCOPE_MAX_DOC_BYTES``        one document (a whole-file text, one row's     32 MiB
                                    rendered text)
``ALIGNSCOPE_MAX_FILE_BYTES``       one corpus file as read (after decompression)  1 GiB
``ALIGNSCOPE_MAX_DECOMPRESSED_BYTES`` one ``.gz`` file once inflated               1 GiB
``ALIGNSCOPE_MAX_GZIP_RATIO``       inflated / compressed size of a ``.gz`` file   200
                                    (checked past 16 MiB inflated)
``ALIGNSCOPE_MAX_TEMPLATE_WIDTH``   width and precision in a template's format     1000
                                    spec (``{text:>N}``)
``ALIGNSCOPE_MAX_REQUEST_BYTES``    memory an embedding request's batches may      half the available
                                    take (token ids, masks, embeddings)            memory, at most 8 GiB
==================================  =============================================  =====================
"""
from __future__ import annotations

import os

from core.errors import AlignScopeError

MiB = 1 << 20
GiB = 1 << 30

#: variable -> default (bytes, a ratio, or characters).
DEFAULTS: dict[str, int] = {
    "ALIGNSCOPE_MAX_DOC_BYTES": 32 * MiB,
    "ALIGNSCOPE_MAX_FILE_BYTES": 1 * GiB,
    "ALIGNSCOPE_MAX_DECOMPRESSED_BYTES": 1 * GiB,
    "ALIGNSCOPE_MAX_GZIP_RATIO": 200,
    "ALIGNSCOPE_MAX_TEMPLATE_WIDTH": 1000,
}
#: Inflated bytes below which a ``.gz`` file's ratio is not checked (small files compress oddly).
RATIO_GRACE_BYTES = 16 * MiB
#: Bytes a drawn batch keeps per token (int64 id and int64 mask, twice for the tokenizer's lists).
BYTES_PER_TOKEN = 32
#: Bytes a batch embedding keeps per dimension (float32), and the dimensions assumed when unknown.
BYTES_PER_DIM, DEFAULT_DIM = 4, 1 << 16


def limit(name: str) -> int:
    """The cap ``name`` (a key of :data:`DEFAULTS`, or ``ALIGNSCOPE_MAX_REQUEST_BYTES``): the
    environment's value when it is a positive integer, else the default.

    Raises:
        AlignScopeError: the variable is set but is not a positive integer.
    """
    raw = os.environ.get(name, "").strip().replace("_", "")
    if not raw:
        return request_budget_default() if name == "ALIGNSCOPE_MAX_REQUEST_BYTES" else DEFAULTS[name]
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise AlignScopeError(f"${name}={os.environ.get(name)!r} is not a positive integer.",
                              fix=f"unset it (default {DEFAULTS.get(name, 'half the available memory')}) or set a "
                                  "positive integer.")
    return value


def available_memory() -> int:
    """Bytes of memory available to this process (``MemAvailable`` of /proc/meminfo; 4 GiB when unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4 * GiB


def request_budget_default() -> int:
    """Default of ``ALIGNSCOPE_MAX_REQUEST_BYTES``: half the available memory, at most 8 GiB."""
    return max(64 * MiB, min(available_memory() // 2, 8 * GiB))


def human(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def embedding_request_bytes(*, batch_size: int, seq_len: int, num_batches: int, dim: int | None = None) -> int:
    """Estimated resident bytes of an embedding request's drawn batches and embeddings, per corpus:
    ``num_batches * (batch_size * seq_len * BYTES_PER_TOKEN + dim * BYTES_PER_DIM)``."""
    per_batch = batch_size * seq_len * BYTES_PER_TOKEN + (dim or DEFAULT_DIM) * BYTES_PER_DIM
    return num_batches * per_batch


def check_embedding_request(*, batch_size: int, seq_len: int, num_batches: int, corpora: int = 1,
                            dim: int | None = None, prefix: str = "") -> None:
    """Refuse an embedding request whose batches cannot fit the memory budget, before any work.

    Args:
        corpora: corpora embedded in the request (their batches are held one corpus at a time, so
            the check is per corpus).
        dim: the embedding's dimension when known (default :data:`DEFAULT_DIM`).
        prefix: the flags' prefix (``"align-"`` for ``--align-num-batches``).

    Raises:
        AlignScopeError: naming ``--num-batches`` (or the prefixed flag), the estimate, the budget and
            the largest ``--num-batches`` that fits.
    """
    need = embedding_request_bytes(batch_size=batch_size, seq_len=seq_len, num_batches=num_batches, dim=dim)
    budget = limit("ALIGNSCOPE_MAX_REQUEST_BYTES")
    if need <= budget:
        return
    per_batch = need // num_batches
    largest = max(1, budget // per_batch)
    flag = f"--{prefix}num-batches"
    raise AlignScopeError(
        f"{flag} {num_batches} of {batch_size} x {seq_len} tokens would hold about {human(need)} in memory, over "
        f"the {human(budget)} budget ($ALIGNSCOPE_MAX_REQUEST_BYTES).",
        fix=f"pass {flag} {largest} or less (the largest that fits), smaller --{prefix}batch-size/--{prefix}seq-len, "
            "or raise $ALIGNSCOPE_MAX_REQUEST_BYTES.")
