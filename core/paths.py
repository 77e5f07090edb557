"""Where AlignScope keeps its files.

The cache root is ``$ALIGNSCOPE_CACHE`` when set, else ``<repo>/cache``. It is git-ignored and
created on demand; everything under it can be rebuilt (model conversion, demo corpora,
embeddings), except user-registered corpora and results, which live in small files there too.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent


def _make_folder(path: Path) -> Path:
    """``mkdir -p path``; a file (or other non-folder) in the way is an :class:`AlignScopeError` naming it."""
    from core.errors import AlignScopeError

    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
        raise AlignScopeError(f"The cache folder {path} cannot be created: {blocker} is a file, not a folder.",
                              fix=f"move it aside (mv {blocker} {blocker}.bak) or set ALIGNSCOPE_CACHE to "
                                  "another folder.") from None
    except PermissionError:
        raise AlignScopeError(f"The cache folder {path} cannot be created (permission denied).",
                              fix="make it writable or set ALIGNSCOPE_CACHE to a folder you can write.") from None
    return path


def cache_root() -> Path:
    """Return the cache root folder, creating it if needed.

    Raises:
        AlignScopeError: a file stands where the folder should be, or it cannot be created.
    """
    root = Path(os.environ.get("ALIGNSCOPE_CACHE", REPO_ROOT / "cache")).expanduser().resolve()
    return _make_folder(root)


def cache_dir(*parts: str) -> Path:
    """Return ``cache_root()/parts...``, creating the folder if needed.

    Raises:
        AlignScopeError: a file stands where the folder (or a parent) should be, naming it and the fix.
    """
    return _make_folder(cache_root().joinpath(*parts))


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


def json_default(value: object) -> object:
    """``json.dumps(default=)`` for results files: numpy scalars as Python numbers, tuples as lists.

    Raises:
        TypeError: any other type (``json.dumps`` reports it).
    """
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _print_wait(message: str) -> None:
    print(f"AlignScope: {message}", file=sys.stderr, flush=True)


def lock_holder(path: str | Path) -> int | None:
    """PID of the live process holding the lock file ``path`` (from its ``.owner`` note), else None."""
    note = Path(str(path) + ".owner")
    try:
        pid = int(note.read_text().split(maxsplit=1)[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def _wait_for(lock: object, timeout: float, should_stop: Callable[[], bool] | None, poll: float, what: str) -> None:
    """Acquire ``lock`` within ``timeout`` seconds (-1: forever), polling ``should_stop`` every ``poll`` s."""
    from filelock import Timeout

    if should_stop is None:
        lock.acquire(timeout=timeout)
        return
    deadline = None if timeout < 0 else time.monotonic() + timeout
    while True:
        if should_stop():
            raise InterruptedError(f"cancelled while waiting for {what}")
        step = poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic()))
        try:
            lock.acquire(timeout=step)
            return
        except Timeout:
            if deadline is not None and time.monotonic() >= deadline:
                raise


@contextlib.contextmanager
def file_lock(path: str | Path, *, timeout: float = -1, what: str = "",
              on_wait: Callable[[str], None] | None = None, should_stop: Callable[[], bool] | None = None,
              poll: float = 1.0) -> Iterator[None]:
    """Cross-process exclusive lock on the file ``path`` (``filelock.FileLock``: an OS ``flock``,
    released by the kernel when its holder exits or dies, so a crashed worker never leaves a stale lock).

    The holder writes ``<pid> <what>`` to ``<path>.owner``; a caller that has to wait reports once what
    it waits for and which process holds it (``on_wait(message)``, default: a line on stderr).

    Args:
        path: the lock file (created with its parent folders).
        timeout: seconds to wait (``-1``: forever).
        what: what the lock protects, in words ("batch 3 of 'sympy'"), for the waiting message.
        on_wait: called once with the message when the lock is busy (default: print to stderr).
        should_stop: while waiting, polled every ``poll`` seconds; when it returns True the wait ends
            with ``InterruptedError`` (a cancelled job stops waiting).

    Raises:
        filelock.Timeout: the lock was not acquired within ``timeout`` seconds.
        InterruptedError: ``should_stop()`` became true while waiting.
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=timeout)
    note = Path(str(path) + ".owner")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if timeout == 0:
            raise
        pid = lock_holder(path)
        (on_wait or _print_wait)(f"waiting for {what or path.name} (lock {path}, held by "
                                 f"{f'pid {pid}' if pid else 'another process'})")
        _wait_for(lock, timeout, should_stop, poll, what or path.name)
    try:
        with contextlib.suppress(OSError):
            note.write_text(f"{os.getpid()} {what}")
        yield
    finally:
        with contextlib.suppress(OSError):
            note.unlink()
        lock.release()


@contextlib.contextmanager
def exclusive_run(path: str | Path, *, busy: str, fix: str) -> Iterator[None]:
    """Hold the lock file ``path`` for the block, or fail at once when another process holds it: one
    validation lab, design or selection comparison at a time per cache (``filelock.FileLock``, released
    by the kernel if the holder dies).

    Raises:
        AlignScopeError: ``busy`` (with ``fix``), the lock is held by another process.
    """
    from filelock import FileLock, Timeout

    from core.errors import AlignScopeError

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise AlignScopeError(busy, fix=fix) from None
    try:
        yield
    finally:
        lock.release()
