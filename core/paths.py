"""Where AlignScope keeps its files.

The cache root is ``$ALIGNSCOPE_CACHE`` when set, else ``<repo>/cache``. It is git-ignored and
created on demand; everything under it can be rebuilt (model conversion, demo corpora,
embeddings), except user-registered corpora and results, which live in small files there too.
"""
from __future__ import annotations

import os
from pathlib import Path

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
