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

The store can never unpickle (issue 12, failure 2): :class:`SafeDisk`, the ``diskcache.Disk`` of
every AlignScope cache, accepts only ``str``/``bytes`` keys and ``bytes`` values on write, and on read
refuses any row whose key or value is not raw bytes (a pickle-mode or text-mode row can only come from
tampering). A refused row is reported on stderr naming the file, deleted, and recomputed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import struct
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import diskcache
import numpy as np
from diskcache.core import MODE_BINARY, MODE_RAW, UNKNOWN

from core.errors import AlignScopeError
from core.fingerprint import KEY_VERSION, embedding_key, fingerprint  # noqa: F401  (re-exported)
from core.paths import cache_dir, file_lock

MAGIC = b"A2V1"
LOG = logging.getLogger("alignscope.store")
_MODE_NAMES = {0: "none", 1: "raw", 2: "binary", 3: "text", 4: "pickle"}


class CacheTamperError(AlignScopeError):
    """A cache row that AlignScope never writes (pickled key or value, text value): refused unread."""


class SafeDisk(diskcache.Disk):
    """A ``diskcache.Disk`` that never pickles or unpickles.

    Writes: keys must be ``str`` or ``bytes`` and values ``bytes`` (``TypeError`` otherwise).
    Reads: a row whose key is not raw or whose value mode is not raw/binary bytes raises
    :class:`CacheTamperError` naming the file, before anything is decoded, so a pickle payload
    planted in ``cache.db`` or a ``.val`` file is never executed.
    """

    def put(self, key: str | bytes) -> tuple[str | bytes, bool]:
        if type(key) not in (str, bytes):
            raise TypeError(f"AlignScope cache keys are str or bytes, not {type(key).__name__}")
        return super().put(key)

    def get(self, key: str | bytes, raw: bool) -> str | bytes:
        if not raw:
            raise CacheTamperError(f"A cache row in {Path(self._directory) / 'cache.db'} has a pickled key, "
                                   "which AlignScope never writes (tampered cache).",
                                   fix="it is refused unread; run: python -m core cache verify")
        return super().get(key, raw)

    def store(self, value: bytes, read: bool, key: object = UNKNOWN) -> tuple[int, int, str | None, bytes | None]:
        if type(value) is not bytes:
            raise TypeError(f"AlignScope cache values are bytes, not {type(value).__name__} (no pickles)")
        return super().store(value, read, key)

    def fetch(self, mode: int, filename: str | None, value: bytes | None, read: bool) -> bytes:
        where = Path(self._directory) / (filename or "cache.db")
        if mode not in (MODE_RAW, MODE_BINARY) or (mode == MODE_RAW and not isinstance(value, (bytes, sqlite3.Binary))):
            raise CacheTamperError(f"A cache row in {where} is in {_MODE_NAMES.get(mode, str(mode))} mode, which "
                                   "AlignScope never writes (tampered cache); it was refused unread.",
                                   fix="the value is recomputed; run: python -m core cache verify")
        return super().fetch(mode, filename, value, False)


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
    """Inverse of :func:`encode_arrays` (never unpickles: object dtypes are refused).

    Raises:
        ValueError: any corruption (bad magic, header, dtype, shape, checksum, truncation, trailing bytes).
    """
    if not isinstance(blob, (bytes, bytearray)) or blob[:4] != MAGIC or len(blob) < 8:
        raise ValueError("not an AlignScope array blob")
    try:
        (hlen,) = struct.unpack("<I", blob[4:8])
        header = json.loads(bytes(blob[8:8 + hlen]))
        pos = 8 + hlen
        arrays = {}
        for a in header["arrays"]:
            dtype = np.dtype(a["dtype"])
            if dtype.hasobject:
                raise ValueError(f"object dtype in array {a['name']}")
            raw = bytes(blob[pos:pos + a["nbytes"]])
            if len(raw) != a["nbytes"] or hashlib.sha256(raw).hexdigest() != a["sha256"]:
                raise ValueError(f"checksum mismatch in array {a['name']} (truncated or altered)")
            arrays[a["name"]] = np.frombuffer(raw, dtype=dtype).reshape(a["shape"]).copy()
            pos += a["nbytes"]
        meta = header["meta"]
    except ValueError:
        raise
    except (KeyError, TypeError, struct.error, AttributeError) as exc:
        raise ValueError(f"bad header: {exc}") from None
    if pos != len(blob):
        raise ValueError("trailing bytes")
    return arrays, meta


@dataclass
class VerifyReport:
    """What :meth:`EmbeddingStore.verify` found.

    Attributes:
        directory: the cache folder.  checked: rows examined.
        bad: ``[{"key", "file", "reason"}]`` rows that failed a check (deleted when ``removed``).
        removed: whether bad rows were deleted.
    """

    directory: str
    checked: int = 0
    bad: list[dict] = field(default_factory=list)
    removed: bool = False

    def to_dict(self) -> dict:
        return {"directory": self.directory, "checked": self.checked, "bad": len(self.bad),
                "removed": self.removed, "problems": self.bad}


def check_entry(key: str, arrays: dict[str, np.ndarray], meta: dict) -> str | None:
    """Why a decoded entry is unusable, or None when it is fine.

    Checks by key kind: ``emb:`` one float32 vector [D] (D > 0), finite; ``batches:`` integer
    ``input_ids`` and ``attention_mask`` of one shape [n, B, T]; ``dist:`` a finite float matrix
    [n_a, n_b]; any other entry: every float array finite.
    """
    for name, arr in arrays.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            return f"array {name!r} has NaN or infinite values"
    if key.startswith("emb:"):
        vec = arrays.get("embedding")
        if vec is None or vec.dtype != np.float32 or vec.ndim != 1 or vec.size == 0:
            return "embedding is not a non-empty float32 vector [D]"
    elif key.startswith("batches:"):
        ids, mask = arrays.get("input_ids"), arrays.get("attention_mask")
        if ids is None or mask is None or ids.shape != mask.shape or ids.ndim != 3 or ids.dtype.kind not in "iu":
            return "token batches are not integer input_ids/attention_mask of one shape [n, B, T]"
        if len(meta.get("indices", ())) != len(ids):
            return "token batches and their indices disagree"
    elif key.startswith("dist:"):
        d = arrays.get("d")
        if d is None or d.ndim != 2 or d.dtype.kind != "f":
            return "distance block is not a float matrix [n_a, n_b]"
    return None


class EmbeddingStore:
    """Arrays in a ``diskcache.Cache`` (default folder ``cache/embeddings``), validated on read.

    Every AlignScope diskcache goes through this class (embeddings, token batches, corpus statistics,
    distance blocks, and the metric cache ``cache/metrics``), always with :class:`SafeDisk`.

    Args:
        directory: cache folder (created on demand).

    Raises:
        AlignScopeError: the folder is a file, or its ``cache.db`` is not a database (naming the fix).
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else cache_dir("embeddings")
        if self.directory.exists() and not self.directory.is_dir():
            raise AlignScopeError(f"The cache folder {self.directory} is a file, not a folder.",
                                  fix=f"move it aside (mv {self.directory} {self.directory}.bak); "
                                      "the cache is rebuilt on the next run.")
        try:
            self.cache = diskcache.Cache(str(self.directory), size_limit=2 ** 36, eviction_policy="none",
                                         disk=SafeDisk)
        except sqlite3.DatabaseError as exc:
            db = self.directory / "cache.db"
            raise AlignScopeError(f"The cache index {db} cannot be opened ({exc}).",
                                  fix=f"move it aside (mv {db} {db}.broken) and rerun; the cached values are "
                                      "recomputed (python -m core cache clear --yes then removes the old files)."
                                  ) from None
        except OSError as exc:
            raise AlignScopeError(f"The cache folder {self.directory} cannot be used ({exc.strerror or exc}).",
                                  fix="make it a writable folder or set ALIGNSCOPE_CACHE to another one.") from None
        self.refused: list[dict] = []

    def _entry_file(self, key: str) -> Path:
        row = self.cache._sql("SELECT filename FROM Cache WHERE key = ? AND raw = 1", (key,)).fetchone()
        return self.directory / (row[0] if row and row[0] else "cache.db")

    def _refuse(self, key: str, reason: str, where: Path | None = None) -> None:
        where = where or self._entry_file(key)
        self.refused.append({"key": key, "file": str(where), "reason": reason})
        LOG.warning("refused cache entry %s in %s: %s (deleted; it is recomputed when needed)",
                    key[:40], where, reason.rstrip("."))
        self.cache.delete(key)

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        """Return ``(arrays, meta)`` or None when absent, corrupted or tampered with.

        A refused entry (pickle/text mode row, truncated or altered value) is logged on stderr naming
        its file, recorded in :attr:`refused`, deleted, and reported as missing so it is recomputed.
        """
        try:
            blob = self.cache.get(key, default=None, read=False)
        except CacheTamperError as exc:
            self._refuse(key, exc.what)
            return None
        except (OSError, sqlite3.DatabaseError) as exc:   # unreadable file behind the entry
            self._refuse(key, f"unreadable ({exc})")
            return None
        if blob is None:
            return None
        try:
            return decode_arrays(blob)
        except ValueError as exc:
            self._refuse(key, f"corrupted value ({exc})")
            return None
    def get_many(self, keys: Sequence[str], *, array: str = "embedding") -> dict[int, np.ndarray]:
        """The stored ``array`` of each key that is present: ``{position in keys: array}``.

        The one look-up of many cached embeddings (a corpus's batches in :mod:`core.embedding`, a
        pool's windows in :mod:`core.selection.embed`); absent, corrupted or refused entries are left
        out (see :meth:`get`), so the caller computes them.

        Args:
            keys: store keys, in the caller's row order.
            array: which stored array to return (``embedding``: float32 [D]).
        """
        found: dict[int, np.ndarray] = {}
        for k, key in enumerate(keys):
            hit = self.get(key)
            if hit is not None:
                found[k] = hit[0][array]
        return found

    def put(self, key: str, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
        """Store arrays under ``key`` (atomic: diskcache commits a whole value or nothing)."""
        self.cache.set(key, encode_arrays(arrays, meta))

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    @contextmanager
    def lock(self, key: str, *, what: str = "", on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Cross-process lock on ``key``: a file lock under ``<directory>/locks/`` (an OS ``flock``
        via :func:`core.paths.file_lock`), released by the kernel the moment its holder exits or is
        killed, so a crashed job never blocks the batch it was computing.

        Args:
            what: what the key holds, in words (``"batch 3 of 'sympy'"``); a caller that has to wait
                reports it with the holder's pid (``on_wait(message)``, default: stderr).
        """
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        label = f"{what} [{key[:16]}...]" if what else f"cache key {key[:16]}..."
        with file_lock(self.directory / "locks" / f"{name}.lock", what=label, on_wait=on_wait):
            yield

    def stats(self, *, orphans: bool = False) -> dict:
        """``{"entries": int, "bytes": int, "directory": str}``, plus ``"orphans"`` (files) and
        ``"orphan_bytes"`` when ``orphans`` (walks the folder, so off by default)."""
        out = {"entries": len(self.cache), "bytes": int(self.cache.volume()), "directory": str(self.directory)}
        if orphans:
            found = self.orphans()
            out.update(orphans=len(found), orphan_bytes=int(sum(_size(p) for p in found)))
        return out

    def orphans(self) -> list[Path]:
        """Value files (``*.val``) under the folder that no row of ``cache.db`` refers to (left behind
        when ``cache.db`` was deleted or a process died between writing a file and its row)."""
        known = {row[0] for row in self.cache._sql("SELECT filename FROM Cache WHERE filename IS NOT NULL")}
        return sorted(p for p in self.directory.rglob("*.val")
                      if p.is_file() and os.path.relpath(p, self.directory) not in known)

    def remove_orphans(self) -> int:
        """Delete :meth:`orphans` (and the empty sub-folders they leave); returns how many files."""
        n = 0
        for path in self.orphans():
            try:
                path.unlink()
                n += 1
            except FileNotFoundError:
                continue
            for parent in (path.parent, path.parent.parent):
                try:
                    parent.rmdir()
                except OSError:
                    break
        return n

    def verify(self, *, remove: bool = True, check: Callable[[str, dict, dict], str | None] = check_entry
               ) -> VerifyReport:
        """Check every row: raw key, raw/binary value, decodable with matching checksums, and
        :func:`check_entry` (shape, dtype, finite). Bad rows are deleted when ``remove``.

        Rows are read straight from SQLite, so a tampered (pickled) key or value is reported, never loaded.
        """
        report = VerifyReport(str(self.directory), removed=remove)
        rows = self.cache._sql("SELECT rowid, key, raw, mode, filename, value FROM Cache").fetchall()
        for rowid, key, raw, mode, filename, value in rows:
            report.checked += 1
            where = self.directory / (filename or "cache.db")
            shown = key if raw and isinstance(key, str) else f"<rowid {rowid}>"
            try:
                if not raw:
                    raise CacheTamperError("pickled key (tampered cache)")
                blob = self.cache.disk.fetch(mode, filename, value, False)
                arrays, meta = decode_arrays(blob)
                reason = check(str(key), arrays, meta)
            except CacheTamperError as exc:
                reason = exc.what
            except (ValueError, OSError) as exc:
                reason = f"corrupted value ({exc})"
            if reason is None:
                continue
            report.bad.append({"key": shown, "file": str(where), "reason": reason})
            if remove:
                with self.cache.transact():
                    self.cache._sql("DELETE FROM Cache WHERE rowid = ?", (rowid,))
                if filename:
                    self.cache.disk.remove(filename)
        return report

    def clear(self) -> int:
        """Delete every entry and every orphaned value file; returns how many entries were removed.

        Only this store's folder is touched (never registered corpora, mixtures or results)."""
        n = int(self.cache.clear())
        self.remove_orphans()
        return n

    def close(self) -> None:
        """Close the underlying ``diskcache.Cache``."""
        self.cache.close()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
