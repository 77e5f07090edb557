"""Where AlignScope keeps its files.

The cache root is ``$ALIGNSCOPE_CACHE`` when set, else ``<repo>/cache``. It is git-ignored and
created on demand; everything under it can be rebuilt (model conversion, demo corpora,
embeddings), except user-registered corpora and results, which live in small files there too.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    """Return the cache root folder, creating it if needed."""
    root = Path(os.environ.get("ALIGNSCOPE_CACHE", REPO_ROOT / "cache")).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    """Return ``cache_root()/parts...``, creating the folder if needed."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_dir() -> Path:
    """Return the ``../shared/data`` folder beside the repository (may not exist)."""
    return Path(os.environ.get("ALIGNSCOPE_SHARED", REPO_ROOT.parent / "shared")) / "data"


def atomic_write(path: str | Path, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync'ed, then
    ``os.replace`` (readers see the old content or the new one, never a partial file).

    Returns:
        ``path`` as a :class:`~pathlib.Path` (parent folders are created).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode(encoding) if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def file_lock(path: str | Path, *, timeout: float = -1) -> Iterator[None]:
    """Cross-process exclusive lock on the file ``path`` (``filelock.FileLock``: an OS ``flock``,
    released by the kernel when its holder exits or dies, so a crashed worker never leaves a stale lock).

    Args:
        path: the lock file (created with its parent folders).
        timeout: seconds to wait (``-1``: forever).

    Raises:
        filelock.Timeout: the lock was not acquired within ``timeout`` seconds.
    """
    from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path), timeout=timeout):
        yield
