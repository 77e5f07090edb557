"""One validation layer for the command line: lists, numeric ranges, output paths and model files.

Everything here runs before any heavy work (embedding, training, writing a report):

- :func:`parse_list`    the one parser of comma-separated flag values (``--corpus a,b``,
                        ``--sources``, ``--seeds``, ``--weights``...): empty items and duplicates
                        are refused, naming the flag.
- :func:`int_range` / :func:`float_range`  argparse ``type=`` of a numeric flag with a declared
                        range (``--seed`` in ``[0, 2**32-1]``...); a value outside is a one-line
                        usage error (exit 2) naming the flag and the range.
- :func:`threads`       ``--threads``: at least 1, clamped to the cores this process may use (with a
                        note on stderr).
- :func:`check_output`  an output file (``--out``, ``--export``, ``--plot``...) is writable: not
                        empty, its folder exists (never created silently) and is writable, and it
                        is not a folder or a special file.
- :func:`check_model_file`  a ``--model`` folder whose weights are a pickle that torch refuses to
                        load safely is refused up front (one line, not an ``UnpicklingError``).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Callable, Iterable

from core.errors import AlignScopeError, ModelError

#: numpy's seeds are unsigned 32-bit integers (``np.random.default_rng`` refuses negatives).
SEED_MAX = 2 ** 32 - 1
#: Declared ranges of the batch flags (the probe network's positions and the memory budget,
#: :func:`core.limits.check_embedding_request`, bound them further).
BATCH_SIZE_MAX = 1 << 16
SEQ_LEN_MAX = 1 << 24
NUM_BATCHES_MAX = 1 << 48


def parse_list(value: str | None, *, option: str, unique: bool = True, allow_none: bool = True,
               example: str = "a,b") -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``: the items of a comma-separated flag value.

    Args:
        value: the flag's value; None (the flag not given) gives ``[]`` when ``allow_none``.
        option: the flag, for messages (``"--sources"``).
        unique: refuse an item given twice (``news=1,news=2`` counts ``news`` twice when the
            caller passes the keys).
        example: a valid value, for the fix.

    Raises:
        AlignScopeError: an empty value (``''``), an empty item (``'a,,b'``, ``',,,'``), or a
            duplicate, naming ``option``.
    """
    if value is None:
        if allow_none:
            return []
        raise AlignScopeError(f"{option} is required.", fix=f"pass {option} {example}.")
    items = [s.strip() for s in str(value).split(",")]
    if not any(items):
        raise AlignScopeError(f"{option} {value!r} names nothing.", fix=f"pass {option} {example} (comma-separated).")
    empty = [k for k, s in enumerate(items, 1) if not s]
    if empty:
        raise AlignScopeError(f"{option} {value!r} has an empty item (position {empty[0]}).",
                              fix=f"remove the stray comma: {option} {','.join(s for s in items if s)}.")
    if unique:
        seen: set[str] = set()
        for s in items:
            if s in seen:
                raise AlignScopeError(f"{option} {value!r} names {s!r} twice.", fix=f"give each item once, e.g. {option} "
                                      f"{','.join(dict.fromkeys(items))}.")
            seen.add(s)
    return items


def check_unique(keys: Iterable[str], *, option: str, value: str) -> None:
    """Refuse a key given twice in ``value`` (e.g. ``news`` in ``--weights news=1,news=2``).

    Raises:
        AlignScopeError: naming ``option`` and the key.
    """
    seen: set[str] = set()
    for k in keys:
        if k in seen:
            raise AlignScopeError(f"{option} {value!r} gives {k!r} twice (the last value would win silently).",
                                  fix=f"give each {k!r} once.")
        seen.add(k)


def int_range(lo: int | None = None, hi: int | None = None, *, what: str = "an integer") -> Callable[[str], int]:
    """An argparse ``type=`` accepting integers in ``[lo, hi]`` (None: unbounded on that side).

    The callable raises ``argparse.ArgumentTypeError`` (argparse then exits 2 with one line naming
    the flag) for a non-integer or an out-of-range value.
    """
    if what == "an integer" and lo is not None and lo >= 1:
        what = "a positive integer"

    def parse(text: str) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {what} in {_range(lo, hi)}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def float_range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                what: str = "a number") -> Callable[[str], float]:
    """An argparse ``type=`` accepting finite floats in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    import math

    def parse(text: str) -> float:
        try:
            value = float(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        bad = not math.isfinite(value) or (lo is not None and (value <= lo if lo_open else value < lo)) \
            or (hi is not None and value > hi)
        if bad:
            left = "(" if lo_open else "["
            raise argparse.ArgumentTypeError(f"must be {what} in {left}{_range(lo, hi)[1:]}, got {text}")
        return value

    parse.__name__ = "float"
    return parse


def _range(lo, hi) -> str:
    return f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"


#: ``--seed`` and the other sampling seeds.
seed = int_range(0, SEED_MAX, what="an integer seed")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Clamped(int):
    """An int that was clamped, with the ``note`` saying so (printed once the command line parsed)."""

    note: str = ""


def threads(text: str) -> int:
    """argparse ``type=`` of ``--threads``: an integer >= 1; above the usable cores it is clamped to
    them (more threads than cores only slow torch down): the result is a :class:`Clamped` whose
    ``note`` :func:`core.clikit.common.apply_engine` prints on stderr once the whole command line parsed.

    Raises:
        argparse.ArgumentTypeError: not an integer, or below 1.
    """
    try:
        value = int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    cores = usable_cores()
    if value > cores:
        out = Clamped(cores)
        out.note = f"note: --threads {value} is more than the {cores} core(s) this process may use; using {cores}"
        return out
    return value


def check_output(path: str | os.PathLike | None, *, option: str, suffixes: tuple[str, ...] = ()) -> Path:
    """Check, before any work, that the output file ``path`` can be written.

    Args:
        option: the flag naming the file (``"--out"``), for messages.
        suffixes: accepted extensions (lower case, e.g. ``(".html", ".htm")``); empty: any.

    Returns:
        The path (``~`` expanded).

    Raises:
        AlignScopeError: an empty path, a wrong extension, a folder or special file at the path, a
            missing parent folder (never created silently), a parent that is not a folder, or no
            write permission; naming ``option`` and the path.
    """
    if path is None or not str(path).strip():
        raise AlignScopeError(f"{option} {str(path or '')!r} is empty.", fix=f"pass {option} FILE (a file name).")
    p = Path(str(path)).expanduser()
    if p.is_dir() or str(path).endswith(os.sep):
        raise AlignScopeError(f"{option} {path} is a folder, not a file.",
                              fix=f"pass {option} {p / ('out' + (suffixes[0] if suffixes else ''))}.")
    if suffixes and p.suffix.lower() not in suffixes:
        raise AlignScopeError(f"{option} {path} does not end in {' or '.join(suffixes)}.",
                              fix=f"pass {option} out{suffixes[0]}.")
    parent = p.parent if str(p.parent) else Path(".")
    # a parent that is a file (/etc/passwd/x.html) or does not exist: stop at the first missing part
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe != parent:
        if probe.exists() and not probe.is_dir():
            raise AlignScopeError(f"{option} {path}: {probe} is a file, not a folder.", fix=f"pass {option} with a path in a folder.")
        raise AlignScopeError(f"{option} {path}: folder {parent} does not exist (it is not created for you).",
                              fix=f"create it first (mkdir -p {parent}), or pass {option} in an existing folder.")
    if not parent.is_dir():
        raise AlignScopeError(f"{option} {path}: {parent} is not a folder.", fix=f"pass {option} with a path in a folder.")
    if p.exists():
        if not p.is_file():
            raise AlignScopeError(f"{option} {path} exists and is not a regular file.", fix=f"pass another {option}.")
        if not os.access(p, os.W_OK):
            raise AlignScopeError(f"{option} {path} is not writable.", fix=f"check its permissions, or pass another {option}.")
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise AlignScopeError(f"{option} {path}: folder {parent} is not writable.",
                              fix=f"pass {option} in a folder you can write to.")
    return p


def check_model_file(model: str | None, *, option: str = "--model") -> None:
    """Refuse, before any weights load, a ``--model`` folder whose only weights are a
    ``pytorch_model.bin`` that torch cannot load safely (a legacy pickle or a damaged file).

    Checked with ``torch.load(weights_only=True, mmap=True)`` on the meta device: the tensors are
    not read. A hub id or a folder with ``*.safetensors`` weights is left to the loader.

    Raises:
        ModelError: naming the file and the fix.
    """
    if not model:
        return
    folder = Path(str(model)).expanduser()
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    for f in sorted(folder.glob("pytorch_model*.bin")):
        import pickle

        import torch

        import warnings

        try:
            with warnings.catch_warnings():        # torch's notes on pickle protocols: not for the user
                warnings.simplefilter("ignore")
                try:
                    torch.load(str(f), map_location="meta", weights_only=True, mmap=True)
                except RuntimeError as exc:        # a legacy (non-zip) torch.save: no mmap, still weights only
                    if "mmap" not in str(exc):
                        raise
                    torch.load(str(f), map_location="meta", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError,
                ImportError, TypeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise ModelError(f"{option} {model}: {f.name} cannot be loaded safely ({type(exc).__name__}: {first}).",
                             fix="save the model with safetensors (model.save_pretrained(folder)); pickled weights "
                                 "are never unpickled.") from None
