"""Target benchmarks and their held-out evaluation splits.

ProofNet's ``test`` split (corpus ``proofnet``, pair format) is the evaluation set of both ``proofnet``
and ``proofnet-af``; the test-split corpora (``proofnet``, ``proofnet-af``) can never be training
sources then. ProofNet-derived training sources must come from the ``valid`` split
(``proofnet-valid``, ``proofnet-informal``). Any other corpus whose domain is ``target benchmark`` is
its own held-out split (it must not be trained on); a corpus of another domain has no held-out split
and is refused as a target.

This module sits with the corpora (below fine-tuning, outcomes, selection and the lab, which all
read it).
"""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import CorpusError

#: Known benchmarks: target name -> (evaluation corpus, corpora that hold the evaluation split).
BENCHMARKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "proofnet": ("proofnet", ("proofnet", "proofnet-af")),
    "proofnet-af": ("proofnet", ("proofnet", "proofnet-af")),
}


@dataclass(frozen=True)
class HeldOut:
    """The evaluation split of a target: ``corpus`` is evaluated, ``forbidden`` may not be trained on."""

    target: str
    corpus: str
    forbidden: tuple[str, ...]


def heldout_split(target: str) -> HeldOut:
    """The held-out evaluation split of ``target``.

    Raises:
        CorpusError: the target is unknown or not installed, or it is not a benchmark (no held-out split).
    """
    from core.corpora import get_corpus

    if target in BENCHMARKS:
        corpus, forbidden = BENCHMARKS[target]
    else:
        c = get_corpus(target)
        if c.spec.domain != "target benchmark":
            raise CorpusError(
                f"Target {target!r} has no held-out split: it is a {c.spec.domain!r} corpus, not a benchmark.",
                fix="evaluate on proofnet, or register the benchmark's test split as a corpus with "
                    "domain 'target benchmark' (python -m core corpora add NAME --path ... --domain 'target benchmark').")
        corpus, forbidden = target, (target,)
    c = get_corpus(corpus)
    if not c.available():
        raise CorpusError(f"The held-out split of target {target!r} (corpus {corpus!r}) is not installed.",
                          fix=f"run: {c.install_hint() or 'install it'}")
    return HeldOut(target=target, corpus=corpus, forbidden=forbidden)
