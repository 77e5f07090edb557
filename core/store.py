"""Disk cache of per-batch Task2Vec embeddings and token batches (``diskcache`` under ``cache/``).

Keys are built by :mod:`core.fingerprint` (sha256 of canonical JSON), in the spirit of HF datasets'
fingerprints: an embedding's key covers the probe network (weights hash or hub revision), the
tokenizer, the estimator name with every hyperparameter value, and the batch's token content, so
changing any of them changes the key and nothing else does (a default value is stored by value:
making it explicit does not change a key).

Values are raw arrays, never pickles: ``MAGIC | u32 header length | JSON header | raw bytes``, the
header giving dtype, shape, sha256 of the raw bytes and free metadata. A value that fails to parse
or whose checksum does not match (a corrupted or partial write) is deleted and reported as missing,
so it gets recomputed.
"""
from __future__ import annotations

import hashlib
import json
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from core.fingerprint import KEY_VERSION, embedding_key, fingerprint  # noqa: F401  (re-exported)
from core.paths import cache_dir, file_lock

MAGIC = b"A2V1"


def encode_arrays(arrays: dict[str, np.ndarray], meta: dict | None = None) -> bytes:
    """Serialise named arrays + metadata to bytes (no pickle)."""
    header = {"meta": meta or {}, "arrays": []}
    raws = []
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        raw = arr.tobytes()
        header["arrays"].append({"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape),
                                 "nbytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()})
        raws.append(raw)
    hb = json.dumps(header).encode()
    return MAGIC + struct.pack("<I", len(hb)) + hb + b"".join(raws)


def decode_arrays(blob: bytes) -> tuple[dict[str, np.ndarray], dict]:
    """Inverse of :func:`encode_arrays`. Raises ValueError on any corruption."""
    if not isinstance(blob, (bytes, bytearray)) or blob[:4] != MAGIC or len(blob) < 8:
        raise ValueError("not an AlignScope array blob")
    (hlen,) = struct.unpack("<I", blob[4:8])
    header = json.loads(bytes(blob[8:8 + hlen]))
    pos = 8 + hlen
    arrays = {}
    for a in header["arrays"]:
        raw = bytes(blob[pos:pos + a["nbytes"]])
        if len(raw) != a["nbytes"] or hashlib.sha256(raw).hexdigest() != a["sha256"]:
            raise ValueError(f"checksum mismatch in array {a['name']}")
        arrays[a["name"]] = np.frombuffer(raw, dtype=np.dtype(a["dtype"])).reshape(a["shape"]).copy()
        pos += a["nbytes"]
    if pos != len(blob):
        raise ValueError("trailing bytes")
    return arrays, header["meta"]


class EmbeddingStore:
    """Arrays in a ``diskcache.Cache`` (default folder ``cache/embeddings``), validated on read.

    Args:
        directory: cache folder (created on demand).
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        import diskcache

        self.directory = Path(directory) if directory else cache_dir("embeddings")
        self.cache = diskcache.Cache(str(self.directory), size_limit=2 ** 36, eviction_policy="none")

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        """Return ``(arrays, meta)`` or None when absent or corrupted (a corrupted entry is deleted)."""
        try:
            blob = self.cache.get(key, default=None, read=False)
        except Exception:  # unreadable file behind the entry
            blob = None
            self.cache.delete(key)
        if blob is None:
            return None
        try:
            return decode_arrays(blob)
        except (ValueError, KeyError, json.JSONDecodeError, struct.error):
            self.cache.delete(key)
            return None

    def put(self, key: str, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
        """Store arrays under ``key`` (atomic: diskcache commits a whole value or nothing)."""
        self.cache.set(key, encode_arrays(arrays, meta))

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Cross-process lock on ``key``: a file lock under ``<directory>/locks/`` (an OS ``flock``
        via :func:`core.paths.file_lock`), released by the kernel the moment its holder exits or is
        killed, so a crashed job never blocks the batch it was computing."""
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        with file_lock(self.directory / "locks" / f"{name}.lock"):
            yield

    def stats(self) -> dict:
        """``{"entries": int, "bytes": int, "directory": str}``."""
        return {"entries": len(self.cache), "bytes": int(self.cache.volume()), "directory": str(self.directory)}

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        return int(self.cache.clear())

    def close(self) -> None:
        """Close the underlying ``diskcache.Cache``."""
        self.cache.close()
