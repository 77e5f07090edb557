"""A named fine-tuning mixture: per-source token shares, a token budget and a seed (saved as JSON).

``Mixture`` is the hand-off format between the Mix page / ``python -m core mix`` and the fine-tune
launcher: ``weights`` are **token shares** (source ``s`` contributes ``weights[s] * budget_tokens``
tokens of the exported dataset), normalised to sum to 1 on creation; sources with weight 0 are
dropped. Saved mixtures live in ``cache/mixtures/<name>.json`` (written atomically).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from core.errors import AlignScopeError
from core.paths import atomic_write, cache_dir

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
FORMAT_VERSION = 1


def known_sources() -> list[str]:
    """Names of every corpus the registry knows (demo pack, installed or not, plus user corpora)."""
    from core.corpora import list_corpora

    return [c.name for c in list_corpora()]


def check_sources(names: Iterable[str], *, what: str = "source", known: list[str] | None = None) -> None:
    """Raise :class:`AlignScopeError` naming any corpus in ``names`` the registry does not know."""
    known = known_sources() if known is None else known
    unknown = [n for n in names if n not in known]
    if unknown:
        import difflib

        close = sorted({m for n in unknown for m in difflib.get_close_matches(str(n), known, n=2)})
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise AlignScopeError(f"Unknown {what} corpus {', '.join(map(repr, unknown))}.{hint}",
                              fix=f"use registered corpora (python -m core corpora): {', '.join(known)}.")


@dataclass
class Mixture:
    """A fine-tuning data mixture.

    Attributes:
        name: file-safe name (letters, digits, ``.``, ``_``, ``-``; at most 100 characters).
        weights: ``source corpus -> token share``; normalised to sum 1 on creation, zeros dropped.
        budget_tokens: total tokens of the materialised dataset (tokenizer, no special tokens).
        seed: document sampling seed (same mixture + seed -> same rows).
        target: the benchmark the mixture was designed for (informational), or None.

    Raises (on creation):
        AlignScopeError: bad name, empty weights, a negative / non-finite weight, all weights zero,
            an unknown source or target corpus, a non-positive budget or a negative seed.
    """

    name: str
    weights: dict[str, float]
    budget_tokens: int
    seed: int = 0
    target: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise AlignScopeError(f"Invalid mixture name {self.name!r}.",
                                  fix="use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit.")
        if not isinstance(self.weights, dict) or not self.weights:
            raise AlignScopeError(f"Mixture {self.name!r} has no source weights.",
                                  fix="give at least one source with a positive weight, e.g. {'coq-stdlib': 1.0}.")
        clean: dict[str, float] = {}
        for src, w in self.weights.items():
            try:
                w = float(w)
            except (TypeError, ValueError):
                raise AlignScopeError(f"Weight of source {src!r} in mixture {self.name!r} is not a number: {w!r}.",
                                      fix="use non-negative numbers.") from None
            if not math.isfinite(w) or w < 0:
                raise AlignScopeError(f"Weight of source {src!r} in mixture {self.name!r} is {w}: weights must be "
                                      "finite and non-negative.", fix="set it to 0 or a positive share.")
            clean[str(src)] = w
        total = sum(clean.values())
        if total <= 0:
            raise AlignScopeError(f"All weights of mixture {self.name!r} are zero ({', '.join(clean)}).",
                                  fix="give at least one source a positive weight.")
        known = known_sources()
        check_sources(list(clean), known=known)
        if self.target is not None:
            check_sources([self.target], what="target", known=known)
        self.weights = {s: w / total for s, w in clean.items() if w > 0}
        if isinstance(self.budget_tokens, bool) or not isinstance(self.budget_tokens, (int, float)) \
                or not math.isfinite(self.budget_tokens) or int(self.budget_tokens) < 1:
            raise AlignScopeError(f"Token budget of mixture {self.name!r} must be a positive integer, got "
                                  f"{self.budget_tokens!r}.", fix="pass e.g. --budget 1000000.")
        self.budget_tokens = int(self.budget_tokens)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise AlignScopeError(f"Seed of mixture {self.name!r} must be a non-negative integer, got {self.seed!r}.",
                                  fix="pass e.g. --seed 0.")

    def token_budgets(self) -> dict[str, int]:
        """Tokens each source contributes: ``round(weight * budget)`` (largest remainder, sums to budget)."""
        return apportion(self.weights, self.budget_tokens)

    def to_dict(self) -> dict:
        """JSON-able dict (name, weights, budget_tokens, seed, target)."""
        d = asdict(self)
        d["format_version"] = FORMAT_VERSION
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "Mixture":
        """Inverse of :meth:`to_dict` (validated like the constructor)."""
        if not isinstance(data, dict):
            raise AlignScopeError("A mixture must be a JSON object.", fix="save it with python -m core mix save.")
        keys = {"name", "weights", "budget_tokens", "seed", "target"}
        missing = [k for k in ("name", "weights", "budget_tokens") if k not in data]
        if missing:
            raise AlignScopeError(f"Mixture {data.get('name', '?')!r} lacks {', '.join(missing)}.",
                                  fix="re-save it with python -m core mix save.")
        return cls(**{k: v for k, v in data.items() if k in keys})


def apportion(weights: dict[str, float], total: int) -> dict[str, int]:
    """Integers proportional to ``weights`` that sum to ``total`` (largest-remainder rounding)."""
    s = sum(weights.values())
    if s <= 0:
        return {k: 0 for k in weights}
    exact = {k: w / s * total for k, w in weights.items()}
    out = {k: int(math.floor(v)) for k, v in exact.items()}
    rest = total - sum(out.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))[:rest]:
        out[k] += 1
    return out


def mixtures_dir() -> Path:
    """``cache/mixtures`` (created on demand)."""
    return cache_dir("mixtures")


def save_mixture(m: Mixture) -> Path:
    """Write ``m`` to ``cache/mixtures/<name>.json`` atomically (:func:`core.paths.atomic_write`); overwrites.

    Raises:
        CorpusError: a source with a positive weight reproduces a benchmark's held-out split by content
            (:func:`core.corpora.contamination.check_sources`); nothing is written then.
    """
    import time

    from core.corpora.contamination import check_sources

    check_sources([s for s, w in m.weights.items() if w > 0], what="mixture source")

    return atomic_write(mixtures_dir() / f"{m.name}.json",
                        json.dumps({**m.to_dict(), "saved": time.time()}, indent=1, sort_keys=True))


def list_mixtures() -> list[str]:
    """Names of the saved mixtures, sorted."""
    return sorted(p.stem for p in mixtures_dir().glob("*.json") if not p.name.startswith("."))


def load_mixture(name: str) -> Mixture:
    """Read a saved mixture.

    Raises:
        AlignScopeError: no mixture of that name (the message lists the saved ones), or its file is
            not valid JSON / not a valid mixture.
    """
    path = mixtures_dir() / f"{name}.json"
    if not isinstance(name, str) or not _NAME.match(name) or not path.is_file():
        saved = list_mixtures()
        raise AlignScopeError(f"No saved mixture named {name!r}. Saved mixtures: {', '.join(saved) or '(none)'}.",
                              fix="save one on the Mix page or with: python -m core mix save NAME --weights a=0.5,b=0.5")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AlignScopeError(f"Mixture file {path} cannot be read: {exc}.",
                              fix=f"delete it and save the mixture {name!r} again.") from exc
    return Mixture.from_dict(data)


def delete_mixture(name: str) -> None:
    """Remove a saved mixture (error listing the saved ones if it does not exist)."""
    load_mixture(name)
    (mixtures_dir() / f"{name}.json").unlink()


def parse_weights(text: str) -> dict[str, float]:
    """Parse ``"a=0.5,b=0.3"`` (or ``a:0.5``) into a dict; a bare name gets weight 1.

    Raises:
        AlignScopeError: an entry whose weight is not a number, or a source named twice
            (``news=1,news=2``: refused rather than the last value winning).
    """
    out: dict[str, float] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.replace(":", "=").partition("=")
        name = name.strip()
        if name in out:
            raise AlignScopeError(f"Source {name!r} is given twice in the weights {text!r}.",
                                  fix="name each source once, e.g. --weights coq-stdlib=0.6,metamath=0.4")
        try:
            out[name] = float(value) if sep else 1.0
        except ValueError:
            raise AlignScopeError(f"Weight {part!r} is not NAME=NUMBER.", fix="write e.g. --weights coq-stdlib=0.6,metamath=0.4") from None
    return out
