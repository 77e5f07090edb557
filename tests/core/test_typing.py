"""Every public function and method of ``core`` has type hints for its parameters and its return.

Walks the ``core`` package with :mod:`pkgutil` and :mod:`inspect`: module-level functions and the
methods (and properties) of module-level classes, including nested classes such as a metric's
``Config``, defined in that module, whose names do not start with ``_`` (``__init__`` counts as
public; it needs no return annotation). ``self``/``cls`` need none.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import core


def _modules() -> list:
    names = [core.__name__] + [m.name for m in pkgutil.walk_packages(core.__path__, prefix="core.")]
    return [importlib.import_module(n) for n in sorted(names) if not n.endswith("__main__")]


def _callables(module) -> list[tuple[str, object]]:
    """(qualified name, function) of the public functions and methods defined in ``module``."""
    out = []

    def visit_class(cls: type, prefix: str) -> None:
        for name, attr in vars(cls).items():
            if isinstance(attr, (staticmethod, classmethod)):
                attr = attr.__func__
            if isinstance(attr, property):
                attr = attr.fget
            if inspect.isclass(attr) and attr.__module__ == module.__name__ and not name.startswith("_"):
                visit_class(attr, f"{prefix}{name}.")
            elif inspect.isfunction(attr) and attr.__module__ == module.__name__ and attr.__name__ != "<lambda>" and (
                    not name.startswith("_") or name == "__init__"):     # a lambda is a field's default value
                out.append((f"{prefix}{name}", attr))

    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            out.append((name, obj))
        elif inspect.isclass(obj):
            visit_class(obj, f"{name}.")
    return out


def _missing(qualname: str, fn) -> list[str]:
    """What ``fn`` lacks: unannotated parameters (``self``/``cls`` excepted) and the return."""
    sig = inspect.signature(fn)          # a decorated function (contextmanager...): its own signature
    params = list(sig.parameters.values())
    is_method = "." in qualname and params and params[0].name in ("self", "cls")
    lacks = [p.name for p in params[1 if is_method else 0:] if p.annotation is inspect.Parameter.empty]
    if sig.return_annotation is inspect.Signature.empty and not qualname.endswith("__init__"):
        lacks.append("return")
    return lacks


def test_every_public_function_of_core_has_type_hints():
    problems = []
    for module in _modules():
        for qualname, fn in _callables(module):
            if dataclass_generated(fn):
                continue
            lacks = _missing(qualname, fn)
            if lacks:
                problems.append(f"{module.__name__}.{qualname}: {', '.join(lacks)}")
    assert not problems, f"{len(problems)} public functions of core lack type hints:\n" + "\n".join(problems)


def dataclass_generated(fn) -> bool:
    """``__init__`` and friends written by ``dataclasses`` (annotated from the fields already)."""
    return fn.__qualname__.endswith(("__init__", "__eq__", "__repr__")) and fn.__code__.co_filename == "<string>"


def test_the_check_finds_a_function_without_hints():
    def untyped(a, b: int):
        return a

    def typed(a: int, *, b: str = "") -> int:
        return a

    assert _missing("untyped", untyped) == ["a", "return"]
    assert _missing("typed", typed) == []
    assert _missing("Cls.method", lambda self, x: x) == ["x", "return"]
