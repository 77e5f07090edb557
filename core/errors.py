"""Error types of the AlignScope engine.

Every error raised for bad user input is an :class:`AlignScopeError` (a ``ValueError``) whose
message names the offending input and says how to fix it. The CLI turns them into one line on
stderr and exit code 2; the dashboard shows them in an error box.
"""
from __future__ import annotations

import json
import re
import shlex
from typing import Mapping

_OPTION = re.compile(r"\u27e6(\w+)(?:=(.*?))?\u27e7", re.S)
_NO_VALUE = object()


def opt(name: str, value: object = _NO_VALUE) -> str:
    """A placeholder naming an option (and a value) in an error's ``what`` or ``fix``.

    Each surface renders it in its own words (:meth:`AlignScopeError.render`): the CLI as a flag
    (``--field text``), the dashboard as a widget (``"Text field" = text``), the Python API as a
    keyword (``field='text'``, the default ``str(exc)``). ``name`` is the option's Python keyword
    (``field``, ``overwrite``...) or an action (``add_corpus``, ``list_corpora``); ``value`` must be
    JSON-able.
    """
    return f"\u27e6{name}\u27e7" if value is _NO_VALUE else f"\u27e6{name}={json.dumps(value)}\u27e7"


#: How the Python API names the actions that have no keyword.
API_WORDS = {
    "add_corpus": "register_corpus(CorpusSpec(name=..., kind='files', path='data/**/*.txt')) (or kind='hf' "
                  "with hf_id=...)",
    "list_corpora": "list_corpora()",
    "estimator_param": "the estimator's keyword parameters",
}


def render_options(text: str, surface: str = "api", names: Mapping[str, str] | None = None) -> str:
    """Replace the :func:`opt` placeholders of ``text`` with a surface's words.

    Args:
        surface: ``"api"`` (``name=value``), ``"cli"`` (``names[name]`` or ``--name``, then the
            value, shell-quoted; ``True`` adds nothing) or ``"ui"`` (``names[name]`` or the name,
            then `` = value``).
        names: the surface's words per option (CLI flags, widget labels).
    """
    names = names or {}

    def one(m: re.Match) -> str:
        name, raw = m.group(1), m.group(2)
        value = _NO_VALUE if raw is None else json.loads(raw)
        if surface == "cli":
            word = names.get(name, "--" + name.replace("_", "-"))
            return word if value is _NO_VALUE or value is True else f"{word} {shlex.quote(str(value))}"
        if surface == "ui":
            word = names.get(name, name.replace("_", " "))
            return word if value is _NO_VALUE or value is True else f"{word} = {value}"
        if value is _NO_VALUE:
            return names.get(name, API_WORDS.get(name, name))
        if name.endswith("_param"):              # a K=V pair: the keyword itself
            return str(value)
        return f"{name}={value!r}"

    return _OPTION.sub(one, text)


class AlignScopeError(ValueError):
    """Bad input or unusable environment, with a message that names the input and the fix.

    ``what`` and ``fix`` may name options with :func:`opt` placeholders; ``str(exc)`` renders them
    for the Python API, :meth:`render` for another surface (the CLI's flags, the dashboard's widgets).

    Args:
        what: what went wrong, naming the input (file, corpus, model, field...).
        fix: what the user should do about it (a command, an option, a path).
    """

    def __init__(self, what: str, *, fix: str = "") -> None:
        self.raw_what = what
        self.raw_fix = fix
        self.what = render_options(what)
        self.fix = render_options(fix)
        super().__init__(f"{self.what}" + (f" Fix: {self.fix}" if fix else ""))

    def render(self, surface: str = "api", names: Mapping[str, str] | None = None) -> str:
        """The message in the words of ``surface`` (see :func:`render_options`)."""
        what, fix = (render_options(t, surface, names) for t in (self.raw_what, self.raw_fix))
        return what + (f" Fix: {fix}" if fix else "")


class CorpusError(AlignScopeError):
    """A corpus cannot be read, is empty, malformed, unknown or too small."""


class ModelError(AlignScopeError):
    """A probe network cannot be loaded (unknown id, hub unreachable, bad folder)."""


class EstimatorError(AlignScopeError):
    """A Task2Vec estimator was misconfigured or produced an unusable FIM (NaN, all zeros)."""
