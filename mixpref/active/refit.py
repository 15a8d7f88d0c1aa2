"""Refit between rounds of elicitation, warm-started from the previous round's fit.

A mixture refitted from scratch after every batch of labels lands in a different local
optimum from round to round (its k-means starts change with the data), so a learning curve
jumps by more than the labels explain. :func:`refit` keeps the model's own restarts and adds
the previous round's parameters as one more start; the start with the best training
objective (the exact MAP objective on all labels so far) wins. The previous fit can only
win by fitting the new data better, so nothing is biased towards it, and the curve stops
paying for the restarts' luck each round.

Single models (a concave objective: one optimum) are simply refitted. The warm start is the
models' own ``fit(..., warm_start=previous)``.

Examples
--------
>>> import mixpref as mp
>>> from mixpref.active.refit import refit
>>> pop = mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=20, dim=6)
>>> first = refit(mp.MixtureBT(n_types=2, n_restarts=1), pop.data, pop.features)
>>> again = refit(first, pop.data, pop.features, previous=first)
>>> bool(again.objective_ >= first.objective_ - 1e-9), type(again.warm_start_).__name__
(True, 'bool')
"""

from __future__ import annotations


def _fresh(model):
    return type(model)(**model.get_params())


def refit(model, data, features, previous=None):
    """A fresh copy of ``model`` (its constructor arguments) fitted to ``data``, with ``previous`` as an extra start.

    The returned model has ``warm_start_``: whether the previous round's start won (False for
    single models, which have one optimum and are simply refitted, and for LowRankBT, which
    always starts from its own mixture corner).
    """
    fresh = _fresh(model)
    spec_prev = getattr(previous, "spec_", None)
    warm = previous is not None and spec_prev is not None and spec_prev.n_types > 1
    fresh.fit(data, features, study=False, warm_start=previous if warm else None)
    fresh.warm_start_ = bool(getattr(fresh, "warm_start_", False))
    return fresh
