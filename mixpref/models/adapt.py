"""Few-shot adaptation: a copy of a fitted model that knows new annotators, population frozen.

A new annotator's type posterior (mixtures) or weight posterior (low-rank persons) given
their comparisons is closed-form: the population's types, or the low-rank model's weight
atoms, reweighted by the likelihood of those comparisons. Nothing is re-fitted, so many
annotators are adapted in one batched call in milliseconds. Bradley–Terry has no person
parameters: adapting it only records the annotators.

Examples
--------
>>> import mixpref as mp
>>> from mixpref.models.adapt import adapt
>>> pop = mp.synthetic.population(n_types=2, n_annotators=40, comparisons_per_annotator=40, dim=8)
>>> train = pop.data.select(annotators=[f"a{i}" for i in range(30)])
>>> new = pop.data.select(annotators=["a30", "a31"])
>>> m = mp.MixtureBT(n_types=2).fit(train, pop.features)
>>> adapted = adapt(m, new, pop.features)
>>> adapted.responsibilities_.shape
(32, 2)
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from ..errors import DataError
from ._problem import check_data


def adapt(model, new_data, features, annotators=None):
    """A copy of ``model`` that also knows the annotators of ``new_data`` (or only ``annotators``).

    Annotators the model already knows keep what it knows; each other annotator with
    observations in ``new_data`` gets their posterior given those observations (population
    parameters frozen). Naming, in ``annotators``, one with no observation in ``new_data`` is
    a :class:`DataError`.
    """
    model._check_fitted()
    check_data(new_data, "new_data")
    model._check_features(features)
    if len(new_data) == 0:
        raise DataError("new_data: no comparisons or rankings to adapt to")
    if not new_data.has_annotators:
        raise DataError("new_data: no annotator column; adaptation needs to know whose comparisons these are")
    problem = model._problem(new_data, features)
    ann = problem.annotator
    ids = pd.Index(new_data.annotators)
    counts = np.bincount(ann[ann >= 0], minlength=len(ids))[: len(ids)]
    if annotators is not None:
        wanted = ids.get_indexer(pd.Index(list(annotators)))
        for name, code in zip(list(annotators), wanted):
            if code < 0 or counts[code] == 0:
                raise DataError(f"annotators: {name!r} has no comparisons in new_data; expected annotators with at "
                                "least one comparison or ranking")
        chosen = np.zeros(len(ids), dtype=bool)
        chosen[wanted] = True
    else:
        chosen = counts > 0
    codes = np.flatnonzero(chosen)
    if len(model.annotators_) and len(codes):
        codes = codes[model.annotators_.get_indexer(ids[codes]) < 0]  # already known: kept as they are
    out = copy.copy(model)
    if not len(codes) or model.spec_.level == "observation":
        return out
    if hasattr(model, "lowrank_spec_"):
        from ._lowrank_predict import atom_log_posterior

        logpost = atom_log_posterior(model, problem, len(ids))[codes]
        rows = np.exp(logpost) @ model.params_["atoms"].double().numpy()
        import torch

        out.params_ = dict(model.params_)
        out.params_["adapted_logpost"] = torch.cat(
            [model.params_["adapted_logpost"], torch.as_tensor(logpost, dtype=model.params_["atoms"].dtype)])
    elif model.spec_.n_types > 1:
        rows = model.type_posterior(new_data, features).to_numpy()[codes]
    else:
        rows = np.ones((len(codes), 1))
    out.annotators_ = model.annotators_.append(ids[codes])
    out._resp = np.vstack([model._resp, rows])
    return out
