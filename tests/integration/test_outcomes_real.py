"""Integration (issue 22): the outcomes on the real embedded probe network (SmolLM2-135M), 3 ProofNet problems.

Kept small (3 problems, fp32) so it runs in well under 30 s on 2 CPU cores."""
import math

import numpy as np
import pytest

from core.outcomes.base import get_outcome
from core.outcomes.measure import base_outcomes
from core.outcomes.problems import target_problems
from core.probe import load_probe
from tests.integration.test_real_corpora import need, real_corpora  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.integration


def test_real_model_outcomes_on_three_proofnet_problems():
    need("proofnet")
    probe = load_probe("smollm2-135m", device="cpu")
    ids = [p.problem_id for p in target_problems("proofnet")[1][:3]]
    res = base_outcomes(probe, "proofnet", ("text-ppl", "af-nll"), precision="fp32", batch_size=3, problem_ids=ids)
    nll = res["af-nll"]
    assert nll.problem_ids == ids and nll.n == 3
    # a trained 135M model finds Lean statements far likelier than uniform over its vocabulary
    assert 0.5 < nll.value < math.log(len(probe.tokenizer)) / 2
    assert nll.ci[0] <= nll.value <= nll.ci[1]
    assert 1.5 < res["text-ppl"].value < 200 and res["text-ppl"].n == 3
    d = nll.paired_difference(nll)
    assert d.difference == 0
    gen = get_outcome("af-gen", cap_factor=0.3, cap_extra=2).measure(probe.model, probe.tokenizer, "proofnet",
                                                                     problem_ids=ids[:1], batch_size=1)
    assert 0 <= gen.value <= 100 and np.isfinite(gen.extra["corpus_bleu"])
