"""Fine-tune launcher, perplexity and familiarity, alignment-vs-perplexity fit (issue 4).

Reproduces the controlled experiment of Chawla, Miranda et al., "Quantifying the Importance of Data
Alignment in Downstream Model Performance": small fine-tunes of a causal LM (default the embedded
SmolLM2-135M) on candidate sources with identical token budgets, perplexity of each fine-tuned
model on the target benchmark's held-out split, and the OLS fit of that perplexity against the
source's Task2Vec alignment coefficient (with r^2). Familiarity (Ren et al., arXiv 2402.11192) is
the base model's perplexity on the source.

Modules (none imports streamlit; torch/transformers are imported only where needed):

- :mod:`~core.finetune.config`: :class:`FinetuneConfig` (what defines a run) and defaults.
- :mod:`~core.finetune.data`: training texts within a token budget; held-out split rules.
- :mod:`~core.finetune.train`: ``transformers.Trainer`` fine-tuning (full or peft LoRA).
- :mod:`~core.finetune.perplexity`: token-weighted perplexity (eq. 2 of the alignment paper).
- :mod:`~core.finetune.results`: the SQLite results store (SQLAlchemy) under ``cache/results``.
- :mod:`~core.finetune.runner`: one run, phase by phase, recorded as it goes.
- :mod:`~core.finetune.experiment`: the preset (one run per source, one after another).
- :mod:`~core.finetune.jobs`: ``core.jobs`` kinds ``finetune`` and ``experiment`` + submission helpers.
- :mod:`~core.finetune.fit`: OLS, r^2, slope CI, 95% band.  :mod:`~core.finetune.plots`: figures.
- :mod:`~core.finetune.cli`: ``python -m core finetune|experiment|perplexity|results``.
"""
from core.finetune.config import FinetuneConfig

__all__ = ["FinetuneConfig"]
