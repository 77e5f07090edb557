"""af-nll: only the formal statement's tokens are scored (against a hand computation on the full logits)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.outcomes.base import get_outcome
from core.outcomes.problems import target_problems


def test_af_nll_scores_only_the_formal_statement_tokens(tiny):
    model, tok = tiny
    fmt, problems = target_problems("proofnet")
    picks = problems[:3]
    res = get_outcome("af-nll").measure(model, tok, "proofnet", problem_ids=[p.problem_id for p in picks], batch_size=2)
    assert res.problem_ids == [p.problem_id for p in picks]
    for k, p in enumerate(picks):
        text = fmt.context_text(p) + fmt.completion_text(p)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        n_formal = len(tok(" " + p.completion, add_special_tokens=False)["input_ids"])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), -1)   # [T, V]
        start = len(ids) - n_formal                                    # first formal-statement token
        want = -sum(float(logp[t - 1, ids[t]]) for t in range(start, len(ids)))
        everything = -sum(float(logp[t - 1, ids[t]]) for t in range(1, len(ids)))
        assert res.arrays["tokens"][k] == n_formal
        assert res.arrays["nll"][k] == pytest.approx(want, rel=1e-5)
        assert res.arrays["nll"][k] < everything - 1                   # the informal part is not scored
    assert res.value == pytest.approx(res.arrays["nll"].sum() / res.arrays["tokens"].sum())
    assert res.extra["perplexity"] == pytest.approx(math.exp(res.value))
    assert res.ci[0] <= res.value <= res.ci[1] and res.direction == "lower"
    assert res.extra["precision"] == "fp32" and res.extra["seconds"] > 0


def test_unknown_problem_id_is_refused_before_scoring(tiny):
    from core.outcomes.base import OutcomeError

    model, tok = tiny
    with pytest.raises(OutcomeError, match="Unknown problem"):
        get_outcome("af-nll").measure(model, tok, "proofnet", problem_ids=["test/none"])
    with pytest.raises(OutcomeError, match="auto"):
        get_outcome("af-nll").measure(model, tok, "proofnet", precision="auto")
    assert np.isfinite(get_outcome("af-nll").measure(model, tok, "proofnet",
                                                     problem_ids=[target_problems("proofnet")[1][5].problem_id]).value)
