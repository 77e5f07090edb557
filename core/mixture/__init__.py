"""Fine-tuning data mixtures: predict, optimise, verify and export a weighted mix of source corpora.

Public API::

    Mixture(name, weights, budget_tokens, seed=0, target=None)   # weights normalised, validated
    save_mixture(m) -> Path / load_mixture(name) / list_mixtures() / delete_mixture(name)
    materialize(m, *, tokenizer) -> [{"source", "doc_id", "text"}]   # ~budget_tokens tokens
    export_jsonl(m, path, *, tokenizer) -> Path / read_jsonl(path)
    load_source_set(target, sources, settings) -> SourceSet          # cached embeddings only
    predict_mixture(source_set, weights) -> MixturePrediction        # alignment + diversity, 95% CI
    suggest_mix(source_set, min_diversity=None, cap=None) -> Suggestion
    verify_mixture(weights, target, settings) -> dict                # measured vs predicted
    MissingEmbeddingsError (.missing, .unavailable)

The background job kind ``mix_verify`` (:func:`core.mixture.jobs.verify_job`) is declared in :data:`core.jobs.JOBS`.
The model behind the predictions is derived in ``docs/mixture_prediction.md``.
"""
from core.mixture.model import (Mixture, apportion, delete_mixture, list_mixtures, load_mixture, mixtures_dir,
                                parse_weights, save_mixture)
from core.mixture.optimise import Suggestion, suggest_mix
from core.mixture.predict import (DEFAULT_NOISE, MissingEmbeddingsError, MixturePrediction, SourceSet,
                                  load_source_set, missing_embeddings, predict_embeddings, predict_mixture,
                                  single_source_alignments)
from core.mixture.sampling import (MaterializeReport, export_jsonl, materialize, materialize_with_report,
                                   mixed_batches, read_jsonl)
from core.mixture.verify import verify_mixture

__all__ = ["DEFAULT_NOISE", "MaterializeReport", "MissingEmbeddingsError", "Mixture", "MixturePrediction", "SourceSet",
           "Suggestion", "apportion", "delete_mixture", "export_jsonl", "list_mixtures", "load_mixture",
           "load_source_set", "materialize", "materialize_with_report", "missing_embeddings", "mixed_batches",
           "mixtures_dir", "parse_weights", "predict_embeddings", "predict_mixture", "read_jsonl", "save_mixture",
           "single_source_alignments", "suggest_mix", "verify_mixture"]
