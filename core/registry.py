"""One generic, lazy registry: name (or alias) -> ``"module:object"``, imported on first use.

Modelled on lm-evaluation-harness's ``lm_eval/api/registry.py``: a registry maps names to objects
that are imported only when asked for, so listing the names of every estimator, metric, job kind,
CLI command, selection method or execution engine never imports torch. Each kind of thing has one
:class:`Registry` instance next to its interface (e.g. ``core.estimators.base.ESTIMATORS``).

Example::

    METRICS = Registry("alignment metric")
    METRICS.register("gzip", "core.metrics.gzip:GzipAlign", aliases=("gzip-align",))
    cls = METRICS.get("gzip-align")      # imports core.metrics.gzip, returns GzipAlign
"""
from __future__ import annotations

import importlib
import threading
from collections.abc import MutableMapping
from typing import Any, Callable, Iterator

from core.errors import AlignScopeError, opt


class RegistryError(AlignScopeError):
    """An unknown name, or a name registered twice with different targets."""


class Registry:
    """Names and aliases mapped to lazily imported objects.

    Args:
        kind: what the registry holds, in the user's words (``"Task2Vec estimator"``); used in
            error messages.
        fix_hint: optional text appended to the fix of an unknown-name error (e.g. the CLI flag).
    """

    def __init__(self, kind: str, *, fix_hint: str = "") -> None:
        self.kind = kind
        self.fix_hint = fix_hint
        self._targets: dict[str, str | Any] = {}     # canonical name -> "module:object" or the object
        self._aliases: dict[str, str] = {}           # alias -> canonical name
        self._meta: dict[str, dict] = {}
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- registration -----------------------------------------------------------------------------
    def register(self, name: str, target: str | Any, *, aliases: tuple[str, ...] = (), **meta: Any) -> None:
        """Register ``name`` -> ``target`` (``"package.module:attr"`` imported lazily, or an object).

        Registering the same name again with the same target is a no-op (modules may be imported
        twice, e.g. in worker processes); with another target it is an error.

        Raises:
            RegistryError: ``name`` or an alias is taken by another target.
        """
        with self._lock:
            old = self._targets.get(name)
            if old is not None and old != target and not _same_object(old, target):
                raise RegistryError(f"{self.kind.capitalize()} {name!r} is registered twice "
                                    f"({_describe(old)} and {_describe(target)}).",
                                    fix="give the new one another name.")
            self._targets[name] = target
            self._meta[name] = dict(meta)
            for a in aliases:
                if self._aliases.get(a, name) != name or (a in self._targets and a != name):
                    raise RegistryError(f"Alias {a!r} of {self.kind} {name!r} is already taken.",
                                        fix="choose another alias.")
                self._aliases[a] = name

    def decorator(self, name: str | None = None, **kw: Any) -> Callable[[Any], Any]:
        """``@REG.decorator("name")``: register the decorated class or function (eagerly)."""
        def wrap(obj: Any) -> Any:
            self.register(name or getattr(obj, "name", obj.__name__), obj, **kw)
            return obj
        return wrap

    # -- lookup -----------------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        """The canonical name of ``name`` or of an alias.

        Raises:
            RegistryError: unknown name; the message lists the known names.
        """
        if name in self._targets:
            return name
        if name in self._aliases:
            return self._aliases[name]
        known = ", ".join(self.names())
        raise RegistryError(f"Unknown {self.kind} {name!r}.",
                            fix=f"use one of: {known}." + (f" {self.fix_hint}" if self.fix_hint else ""))

    def get(self, name: str) -> Any:
        """The object registered as ``name`` (or an alias), importing its module on first use.

        Raises:
            RegistryError: unknown name, or its module/attribute cannot be imported.
        """
        key = self.canonical(name)
        if key in self._loaded:
            return self._loaded[key]
        target = self._targets[key]
        obj = _load(target) if isinstance(target, str) else target
        self._loaded[key] = obj
        return obj

    def build(self, name: str, **params: Any) -> Any:
        """``get(name)(**params)``: an instance of the class registered as ``name`` (or an alias).

        Raises:
            RegistryError: unknown name. Whatever the class raises on bad ``params``.
        """
        return self.get(name)(**params)

    def describe(self, *attributes: str) -> list[dict]:
        """``[{"name", "aliases", <attribute>: value...}]`` of every entry, sorted by name; each
        attribute is read off the loaded object (so this imports every entry)."""
        return [{"name": n, "aliases": self.aliases(n), **{a: getattr(self.get(n), a) for a in attributes}}
                for n in self.names()]

    def meta(self, name: str) -> dict:
        """Metadata given at registration (``cost``, ``description``...)."""
        return dict(self._meta[self.canonical(name)])

    def target(self, name: str) -> str | Any:
        """The registered ``"module:object"`` string (or object) of ``name``, without importing it."""
        return self._targets[self.canonical(name)]

    def names(self) -> list[str]:
        """Canonical names, sorted."""
        return sorted(self._targets)

    def aliases(self, name: str) -> list[str]:
        """The aliases of ``name``, sorted."""
        key = self.canonical(name)
        return sorted(a for a, n in self._aliases.items() if n == key)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (canonical) with its aliases and metadata (tests, plugins being reloaded).

        Raises:
            RegistryError: unknown name.
        """
        key = self.canonical(name)
        with self._lock:
            self._targets.pop(key, None)
            self._meta.pop(key, None)
            self._loaded.pop(key, None)
            for a in [a for a, n in self._aliases.items() if n == key]:
                del self._aliases[a]

    def items(self) -> list[tuple[str, str | Any]]:
        """``(name, target)`` pairs, sorted by name (targets as registered: strings are not imported)."""
        return [(n, self._targets[n]) for n in self.names()]

    @property
    def targets(self) -> "TargetView":
        """A live ``{name: target}`` mutable mapping view (where a plain dict of targets stood)."""
        return TargetView(self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._targets or name in self._aliases)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._targets)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


class TargetView(MutableMapping):
    """``{canonical name: target}`` view of a :class:`Registry`; setting an item replaces a target
    on purpose (e.g. a test's stand-in), deleting one unregisters it."""

    def __init__(self, registry: Registry) -> None:
        self._reg = registry

    def __getitem__(self, name: str) -> str | Any:
        if name not in self._reg._targets:
            raise KeyError(name)
        return self._reg._targets[name]

    def __setitem__(self, name: str, target: str | Any) -> None:
        reg = self._reg
        with reg._lock:
            reg._loaded.pop(name, None)
            reg._targets[name] = target
            reg._meta.setdefault(name, {})

    def __delitem__(self, name: str) -> None:
        if name not in self._reg._targets:
            raise KeyError(name)
        self._reg.unregister(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._reg.names())

    def __len__(self) -> int:
        return len(self._reg)


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}
_TYPE_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}


def build_config(config_cls: type, params: dict, *, kind: str, name: str, error: type[AlignScopeError] = AlignScopeError,
                 fix: str = "check the parameters.", option: str | None = None) -> Any:
    """The frozen hyperparameter dataclass ``config_cls(**params)`` of a registered component, validated.

    Every value is first checked against its field's annotated type (``int``, ``float``, ``str``,
    ``bool``; a bool is not an int), then ``__post_init__`` checks the ranges.

    Args:
        config_cls: a dataclass whose ``__post_init__`` may raise ``ValueError``/``TypeError``.
        params: keyword parameters given by the user. kind, name: the component, for messages
            (``"Estimator"``, ``"closed_form_head"``). error: the error class to raise. fix: the
            fix of a bad value, with :func:`core.errors.opt` placeholders for the surface's words.
            option: the :func:`core.errors.opt` name of the surface option taking ``K=V``
                (``"estimator_param"``), for the example in the fix of a badly typed value.

    Raises:
        ``error``: an unknown parameter (the message lists the known ones), a value of the wrong
            type (naming the parameter and the expected type) or out of range.
    """
    import dataclasses

    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = set(params) - set(fields)
    if unknown:
        raise error(f"{kind} {name!r} has no parameter(s) {sorted(unknown)}.", fix=f"use some of: {sorted(fields)}.")
    for key, value in params.items():
        want = str(fields[key].type).replace("typing.", "")
        types = _TYPES.get(want)
        if types and (not isinstance(value, types) or (isinstance(value, bool) and want != "bool")):
            example = f"{key}={fields[key].default}"
            raise error(f"{kind} {name!r}: parameter {key}={value!r} is not {_TYPE_WORDS[want]}.",
                        fix=f"give {key} {_TYPE_WORDS[want]}, e.g. {opt(option, example) if option else example}.")
    try:
        return config_cls(**params)
    except (TypeError, ValueError) as exc:
        raise error(f"Bad parameter for {kind.lower()} {name!r}: {exc}", fix=fix) from exc


def _same_object(a: Any, b: Any) -> bool:
    """Same target given once as a string and once as the imported object (or vice versa)."""
    if isinstance(a, str) == isinstance(b, str):
        return False
    s, o = (a, b) if isinstance(a, str) else (b, a)
    mod, _, attr = s.partition(":")
    return getattr(o, "__module__", None) == mod and getattr(o, "__qualname__", None) == attr


def _describe(target: str | Any) -> str:
    return target if isinstance(target, str) else f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', target)}"


def _load(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise RegistryError(f"Registry target {spec!r} is not of the form 'package.module:object'.",
                            fix="register 'module:attribute'.")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise RegistryError(f"Could not import {spec!r}: {exc}",
                            fix="install the missing package, or fix the registration.") from exc
    return obj
