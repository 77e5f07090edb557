"""The import graph of core/: no module imports a module that imports it back, and core never
imports the UI (streamlit, ui/, app_pages/).

Every ``import``/``from ... import`` statement counts, at module level or inside a function (a lazy
import is still a dependency). ``from core.a import b`` counts as importing ``core.a.b`` when that
is a module, else ``core.a``. Imports of a package's own ``__init__`` that Python performs
implicitly (importing ``core.a.b`` runs ``core/a/__init__.py``) are not edges, nor are imports under
``if TYPE_CHECKING:`` (never executed).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / "core").rglob("*.py"))}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of import nodes under ``if TYPE_CHECKING:`` (never executed)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def _imports(path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    own = _module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if sub in known else base)
    return {m for m in out if m in known and m != own}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(p, set(mods)) for m, p in mods.items()}


def test_no_module_of_core_imports_one_that_imports_it_back():
    graph = _graph()
    pairs = sorted({tuple(sorted((a, b))) for a, deps in graph.items() for b in deps if a in graph.get(b, ())})
    assert not pairs, f"modules importing each other: {pairs}"


def test_core_never_imports_the_ui():
    for m, p in _modules().items():
        tree = ast.parse(p.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        bad = {x for x in names if x.split(".")[0] in ("streamlit", "ui", "app_pages")}
        assert not bad, f"{m} imports {bad}"


@pytest.mark.parametrize("module", ["core.settings", "core.store", "core.pipeline", "core.cli"])
def test_the_graph_sees_known_edges(module):
    """The walker itself works: known dependencies are found (so an empty cycle list means something)."""
    expected = {"core.settings": "core.precision", "core.store": "core.fingerprint",
                "core.pipeline": "core.store", "core.cli": "core.registry"}[module]
    assert expected in _graph()[module]


# -- the declared layer order (core/layers.py) ---------------------------------------------------------
#
# A *room* is a top-level module of core/ (``core.pipeline``), a top-level package of core/ with
# everything under it (``core.corpora``), or the UI (``ui``), as farm-studio draws them. Every import
# between two rooms must run down the order declared in :data:`core.layers.LAYERS`: module-level, lazy
# (inside a function) and ``if TYPE_CHECKING:`` imports alike (an annotation is a dependency a reader
# follows too), with a name re-exported by a package's ``__init__`` traced to the module that defines it.

def _room(module: str) -> str:
    parts = module.split(".")
    return "ui" if parts[0] == "ui" else ".".join(parts[:2])


def _all_modules() -> dict[str, Path]:
    return {_module_name(p): p for d in ("core", "ui") for p in sorted((ROOT / d).rglob("*.py"))}


def _raw_imports(module: str, path: Path) -> list[tuple[str, str | None]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            out += [(base, a.name) for a in node.names]
    return out


def _full_graph() -> dict[str, set[str]]:
    mods = _all_modules()
    raw = {m: _raw_imports(m, p) for m, p in mods.items()}
    reexported = {(m, name): base for m, p in mods.items() if p.name == "__init__.py"
                  for base, name in raw[m] if name and base in mods}

    def resolve(base: str, name: str | None, depth: int = 0) -> str:
        if name and f"{base}.{name}" in mods:
            return f"{base}.{name}"
        if name and (base, name) in reexported and depth < 8:
            return resolve(reexported[(base, name)], name, depth + 1)
        return base

    return {m: {t for base, name in raw[m] if (t := resolve(base, name)) in mods and t != m} for m in mods}


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in graph:
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return out


def test_no_import_circle_among_the_files_of_core_and_ui():
    """No files import each other in a loop, counting lazy, TYPE_CHECKING and re-exported imports."""
    assert not _strongly_connected(_full_graph())


def test_every_room_is_declared_in_one_layer():
    from core.layers import LAYERS

    declared = [room for layer in LAYERS for room in layer]
    assert len(declared) == len(set(declared)), "a room is declared twice in core/layers.py"
    rooms = {_room(m) for m in _all_modules()}
    assert not rooms - set(declared), f"declare these rooms in core/layers.py: {sorted(rooms - set(declared))}"
    assert not set(declared) - rooms, f"core/layers.py names rooms that do not exist: {sorted(set(declared) - rooms)}"


def test_every_import_between_rooms_runs_down_the_declared_layers():
    from core.layers import LAYERS

    level = {room: k for k, layer in enumerate(LAYERS) for room in layer}
    mods = _all_modules()
    graph = _full_graph()
    for m, p in mods.items():      # a name taken from a package's __init__ is also an import of that package
        graph[m] |= {base for base, _ in _raw_imports(m, p) if base in mods and mods[base].name == "__init__.py"
                     and _room(base) != _room(m)}
    upward = sorted(f"{a} -> {b} ({_room(a)} on layer {level[_room(a)]}, {_room(b)} on layer {level[_room(b)]})"
                    for a, deps in graph.items() for b in deps
                    if _room(a) != _room(b) and level.get(_room(b), 0) >= level.get(_room(a), 0))
    assert not upward, "imports that do not run down core/layers.py:\n" + "\n".join(upward)


def test_the_full_graph_sees_lazy_type_checking_and_reexported_imports():
    """The walker behind the layer test works, so an empty list means something: a lazy import
    (core.corpora.contamination -> registry), a TYPE_CHECKING one (core.execution -> core.store) and a
    name re-exported by a package's __init__ (core.cli.corpora: ``from core.corpora import
    register_corpus`` -> core.corpora.register) are all edges."""
    graph = _full_graph()
    assert "core.corpora.registry" in graph["core.corpora.contamination"]
    assert "core.store" in graph["core.execution"]
    assert "core.corpora.register" in graph["core.cli.corpora"]
