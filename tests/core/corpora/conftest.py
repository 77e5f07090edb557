"""Shared fixtures of the corpus tests."""
from __future__ import annotations

import os

import pytest

from core import paths

from core.corpora import clear_document_cache
from core.corpora import readers


# The cache root the user configured, read before any fixture isolates the cache: the demo
# corpora installed by ``python -m core.corpora.demo install`` live there.
_USER_CACHE = os.environ.get("ALIGNSCOPE_CACHE") or str(paths.REPO_ROOT / "cache")


@pytest.fixture
def real_cache(monkeypatch):
    """Point ALIGNSCOPE_CACHE at the user's real cache (read-only use: installed demo corpora)."""
    monkeypatch.setenv("ALIGNSCOPE_CACHE", _USER_CACHE)
    clear_document_cache()
    yield paths.cache_root()
    clear_document_cache()


@pytest.fixture
def iso_cache(tmp_path, monkeypatch):
    """A private, empty ALIGNSCOPE_CACHE (cache_root() reads the variable on every call)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ALIGNSCOPE_CACHE", str(root))
    clear_document_cache()
    yield root
    clear_document_cache()


@pytest.fixture
def offline_hub(monkeypatch):
    """Make the HF hub unreachable deterministically (a closed local port), whatever the network."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    readers._PROBE_CACHE.clear()
    yield
    readers._PROBE_CACHE.clear()
