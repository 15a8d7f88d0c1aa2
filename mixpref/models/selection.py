"""Choosing the number of annotator types from data."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError

CRITERIA = ("heldout", "bic")


@dataclass
class SelectionResult:
    """Outcome of :func:`select_n_types`.

    Attributes
    ----------
    k : int
        The chosen number of types.
    table : DataFrame
        One row per candidate K: ``k``, ``criterion`` (held-out log-likelihood per
        observation, or BIC), ``train_ll`` and ``heldout_ll`` (per observation), ``se`` (the
        standard error of the held-out difference to the best K, clustered by annotator),
        ``n_params``, ``seconds``.
    criterion : str
    model : fitted model with ``k`` types (refitted on all the data), or None
    """

    k: int
    table: pd.DataFrame
    criterion: str
    model: object = None
    models: dict = field(default_factory=dict, repr=False)

    def __repr__(self):
        return f"SelectionResult(k={self.k}, criterion={self.criterion!r})\n{self.table.to_string(index=False)}"


def n_parameters(model) -> int:
    """Free parameters of a fitted model (the K weights have K-1)."""
    n = sum(int(v.numel()) for v in model.params_.values())
    return n - (1 if "logits" in model.params_ else 0)


def select_n_types(data, features, base=None, ks=range(1, 9), criterion="heldout", level="annotator", split="observation",
                   test_size=0.2, n_se=2.0, n_restarts=4, refit=True, progress=False, random_state=0) -> SelectionResult:
    """Fit mixtures with each K in ``ks`` and choose K.

    ``criterion="heldout"`` holds out ``test_size`` of the observations (``split="observation"``:
    observations at random, so each annotator keeps most of theirs and held-out labels are
    predicted from their inferred type; ``split="annotator"``: whole annotators, whose
    labels are predicted sequentially, each from the type posterior given their earlier
    ones). It picks the smallest K whose mean held-out log-likelihood is within ``n_se``
    standard errors of the best K's (the error of the paired difference, clustered by
    annotator), so more types must beat fewer by more than noise: at near coin-flip labels
    it answers 1. The default ``n_se=2`` rather than the classic one: when an extra type
    only fits one annotator better, its held-out gain equals exactly one paired standard
    error, so a one-SE rule would accept it half the time; with two, a new type has to
    improve the predictions of several annotators.
    ``criterion="bic"`` fits on all the data and minimises ``-2 LL + p log n``.

    Parameters
    ----------
    data : PreferenceData
    features : Features
    base : BradleyTerry or PolicyLikelihood, optional
        The per-type model (default ``BradleyTerry()``).
    ks : iterable of int
    criterion : {"heldout", "bic"}
    level : {"annotator", "observation"}
    split : {"observation", "annotator"}
    test_size : float
    n_se : float
        Standard errors within which a smaller K is preferred (held-out criterion).
    n_restarts : int
        Restarts of each mixture fit.
    refit : bool
        Refit the chosen K on all the data (``result.model``).
    random_state : int

    Examples
    --------
    >>> import mixpref as mp
    >>> pop = mp.synthetic.population(n_types=2, n_annotators=40, comparisons_per_annotator=50, dim=8)
    >>> res = mp.select_n_types(pop.data, pop.features, ks=[1, 2, 3], n_restarts=1)
    >>> res.k
    2
    """
    from .bradley_terry import BradleyTerry
    from .mixture import Mixture

    if criterion not in CRITERIA:
        raise DataError(f"criterion: got {criterion!r}, expected one of {CRITERIA}")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise DataError(f"ks: got {ks!r}, expected positive integers")
    base = base if base is not None else BradleyTerry()

    def make(k):
        return Mixture(base, n_types=k, level=level, n_restarts=n_restarts, random_state=random_state, progress=progress)

    rows, models, per_group = [], {}, {}
    if criterion == "heldout":
        if split not in ("observation", "annotator"):
            raise DataError(f"split: got {split!r}, expected 'observation' or 'annotator'")
        train, test = data.split(test_size=test_size, by=split, random_state=random_state)
        groups = _groups(test)
        for k in ks:
            t0 = time.perf_counter()
            m = make(k).fit(train, features, study=False)
            ll_test = m.log_likelihood(test, features)
            secs = time.perf_counter() - t0
            per_group[k] = np.bincount(groups, weights=ll_test, minlength=groups.max() + 1 if len(groups) else 0)
            rows.append({"k": k, "criterion": float(ll_test.mean()), "train_ll": float(m.score(train, features)),
                         "heldout_ll": float(ll_test.mean()), "n_params": n_parameters(m), "seconds": secs})
            models[k] = m
        table = pd.DataFrame(rows)
        n_test = len(test)
        best = int(table.loc[table["criterion"].idxmax(), "k"])
        # clusters are the annotators (or lone observations) of the test set; the data's
        # table also lists annotators with no test observation, which are not clusters here
        present = np.bincount(groups) > 0 if len(groups) else np.zeros(0, dtype=bool)
        se = []
        for k in ks:
            diff = (per_group[best] - per_group[k])[present]
            se.append(float(np.sqrt(len(diff)) * diff.std(ddof=1) / n_test) if len(diff) > 1 else 0.0)
        table["se"] = se
        gap = float(table["criterion"].max()) - table["criterion"]
        chosen = int(table.loc[gap <= n_se * table["se"] + 1e-12, "k"].min())
    else:
        n = len(data)
        for k in ks:
            t0 = time.perf_counter()
            m = make(k).fit(data, features, study=False)
            ll = m.log_likelihood(data, features)
            secs = time.perf_counter() - t0
            p = n_parameters(m)
            rows.append({"k": k, "criterion": float(-2 * _marginal_ll(m, data, features) + p * np.log(n)),
                         "train_ll": float(ll.mean()), "heldout_ll": np.nan, "n_params": p, "seconds": secs})
            models[k] = m
        table = pd.DataFrame(rows)
        table["se"] = np.nan
        chosen = int(table.loc[table["criterion"].idxmin(), "k"])
    table = table[["k", "criterion", "train_ll", "heldout_ll", "se", "n_params", "seconds"]]
    model = None
    if refit:
        model = models[chosen] if criterion == "bic" else make(chosen).fit(data, features, study=False)
    return SelectionResult(k=chosen, table=table, criterion=criterion, model=model, models=models)


def _groups(data):
    """Cluster of each observation for the standard error: its annotator, or itself when unknown."""
    ann = np.concatenate([data.arrays.annotator, data.ranking_arrays.annotator]).astype(np.int64)
    out = ann.copy()
    unknown = out < 0
    out[unknown] = len(data.annotators) + np.arange(int(unknown.sum()))
    return out


def _marginal_ll(model, data, features):
    """The exact marginal log-likelihood of the training data (types summed out per annotator)."""
    import torch

    from . import _engine as E

    problem = model._problem(data, features, level=model.spec_.level)
    params = model._params_on(problem)
    with torch.no_grad():
        gll = E.group_loglik(E.obs_loglik(model.spec_, params, problem), problem)
        return float(torch.logsumexp(gll + E.log_weights(model.spec_, params, gll), dim=1).sum())
