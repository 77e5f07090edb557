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
