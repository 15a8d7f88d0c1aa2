"""Features: text embeddings (:class:`TextEncoder`) and causal-LM log-probabilities (:class:`SequenceScorer`).

Importing this package imports neither torch nor transformers; they load when a model does.
"""

from importlib import import_module

_EXPORTS = {
    "TextEncoder": "mixpref.features.text_encoder",
    "SequenceScorer": "mixpref.features.sequence_scorer",
    "LogProbs": "mixpref.features.sequence_scorer",
    "Truncation": "mixpref.features.token_batches",
}

__all__ = list(sorted(_EXPORTS))


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mixpref.features' has no attribute {name!r}")
