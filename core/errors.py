"""Error types of the AlignScope engine.

Every error raised for bad user input is an :class:`AlignScopeError` (a ``ValueError``) whose
message names the offending input and says how to fix it. The CLI turns them into one line on
stderr and exit code 2; the dashboard shows them in an error box.
"""
from __future__ import annotations


class AlignScopeError(ValueError):
    """Bad input or unusable environment, with a message that names the input and the fix.

    Args:
        what: what went wrong, naming the input (file, corpus, model, field...).
        fix: what the user should do about it (a command, an option, a path).
    """

    def __init__(self, what: str, *, fix: str = "") -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what}" + (f" Fix: {fix}" if fix else ""))


class CorpusError(AlignScopeError):
    """A corpus cannot be read, is empty, malformed, unknown or too small."""


class ModelError(AlignScopeError):
    """A probe network cannot be loaded (unknown id, hub unreachable, bad folder)."""


class EstimatorError(AlignScopeError):
    """A Task2Vec estimator was misconfigured or produced an unusable FIM (NaN, all zeros)."""
