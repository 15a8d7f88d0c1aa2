"""``suggest``: which comparisons to ask next (and of whom), best first.

Examples
--------
>>> import mixpref as mp
>>> from mixpref import active
>>> pop = mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=30, dim=8)
>>> model = mp.MixtureBT(n_types=2).fit(pop.data, pop.features)
>>> table = active.suggest(model, pop.data, pop.features, n=3, objective="type", annotator="newcomer")
>>> table.columns[:4].tolist(), len(table), bool(table["new_annotator"].all())
(['prompt_id', 'response_a', 'response_b', 'annotator'], 3, True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .batch import select
from .belief import belief_of
from .objectives import NEEDS_DRAWS, OBJECTIVES, score_pool
from .outcomes import outcome_codes
from .pool import make_pool


def suggest(model, pool, features, n=10, objective="uncertainty", annotator=None, batch="greedy", random_state=0,
            n_draws=64, decay=0.5, duplicate_cosine=0.98, exclude=None):
    """The ``n`` most useful comparisons of ``pool`` to ask next, best first.

    Parameters
    ----------
    model : fitted preference model
        BradleyTerry, a mixture (MixtureBT/MixturePL) or LowRankBT. A model adapted to a new
        annotator (``model.adapt(answers, features)``) carries that annotator's posterior.
    pool : PreferenceData or DataFrame
        Candidate comparisons (labels ignored): a PreferenceData, or a frame with
        ``prompt_id``, ``response_a``, ``response_b`` (response ids) and optionally
        ``annotator`` (whom each candidate would be asked).
    features : Features
        Features of every response of the pool.
    n : int
        How many to return; more than the pool holds is a :class:`DataError`.
    objective : {"type", "reward", "decision", "prediction", "uncertainty", "random"}
        ``"type"``: expected information gain about the annotator's type (mixtures) or weight
        atom (LowRankBT); ``"reward"``: BALD, mutual information between the answer and the
        reward parameters (needs posterior draws: inference "svi", "ensemble" or "laplace");
        ``"decision"``: mutual information between the answer and the aggregate's outcome on
        the pair's prompt (the Smith set of the population's majority margins in each draw,
        a cheap proxy of the maximal lottery's support, see :mod:`mixpref.active.outcomes`;
        needs draws); ``"prediction"``: expected predictive information gain (EPIG), mutual
        information between the answer and answers to comparisons sampled from the pool
        (what the model will be asked to predict; needs draws, :mod:`mixpref.active.prediction`);
        ``"uncertainty"``: predictive entropy; ``"random"``.
    annotator : str, optional
        Whom to ask: every candidate is asked of this annotator (overrides the pool's
        ``annotator`` column). One the model has not seen is a new annotator with the
        population prior; the ``new_annotator`` column says so.
    batch : {"greedy", "top"}
        ``"greedy"``: diminishing returns per prompt and no near-duplicate pairs
        (:mod:`mixpref.active.batch`); ``"top"``: the top-n single scores.
    random_state : int
        Seed of the posterior draws and of ``"random"``.
    n_draws : int
        Posterior draws used by "reward", "decision", "prediction" and "uncertainty" when the model has them.
    decay, duplicate_cosine : float
        Greedy batch: discount per pair already taken on a prompt; |cosine| of ``phi_a - phi_b``
        at or above which two pairs (same annotator) count as duplicates.
    exclude : array of int, optional
        Pool rows never to suggest (e.g. those already asked).

    Returns
    -------
    DataFrame
        ``prompt_id, response_a, response_b`` (ids), ``annotator`` and ``new_annotator`` when an
        annotator is known, ``score``, ``rank``, readable ``prompt, text_a, text_b`` and
        ``pool_index`` (the row of the pool), best first. ``attrs`` records the objective and
        whether the annotator is new to the model.
    """
    if objective not in OBJECTIVES:
        raise DataError(f"objective: got {objective!r}, expected one of {OBJECTIVES}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"n: got {n!r}, expected a positive integer")
    pl = make_pool(pool, features)
    available = np.ones(len(pl), dtype=bool)
    if exclude is not None and len(exclude):
        available[np.asarray(exclude, dtype=np.int64)] = False
    if n > int(available.sum()):
        raise DataError(f"n: got {n}, but the pool holds only {int(available.sum())} candidate comparisons "
                        f"(of {len(pl)}, after exclusions); expected n <= the pool size")
    if annotator is not None:
        pl.frame["annotator"] = annotator
    row_ann = pl.frame["annotator"].tolist() if "annotator" in pl.frame.columns else [None] * len(pl)
    belief = belief_of(model, features, row_ann, n_draws=n_draws, random_state=random_state,
                       need_draws=objective in NEEDS_DRAWS, objective=objective)
    codes = outcome_codes(belief, pl)[0] if objective == "decision" else None
    ann_codes = pd.factorize(pd.Series(row_ann, dtype=object), use_na_sentinel=False)[0]
    persistent = pd.factorize(pd.Series(row_ann, dtype=object))[0]  # -1: no annotator, nobody's type to share
    scores = score_pool(objective, belief, pl, codes, random_state=random_state, annotator_codes=persistent)
    scores = np.where(available, scores, -np.inf)
    chosen = select(scores, pl, features, int(n), batch=batch, annotator_codes=ann_codes, decay=decay,
                    duplicate_cosine=duplicate_cosine, diminish=objective != "random")
    chosen = chosen[np.isfinite(scores[chosen])]
    if len(chosen) < n:
        # the duplicate rule left too few: fill with the best remaining candidates
        rest = np.setdiff1d(np.flatnonzero(available), chosen)
        chosen = np.r_[chosen, rest[np.argsort(-scores[rest], kind="stable")][: n - len(chosen)]]
    out = pl.frame.iloc[chosen].copy()
    cols = ["prompt_id", "response_a", "response_b"]
    if "annotator" in out.columns:
        out["new_annotator"] = belief.new_annotator[chosen]
        cols += ["annotator", "new_annotator"]
    out["score"] = scores[chosen]
    out["rank"] = np.arange(1, len(out) + 1)
    out["pool_index"] = chosen
    out = out[cols + ["score", "rank", "prompt", "text_a", "text_b", "pool_index"]].reset_index(drop=True)
    out.attrs["objective"] = objective
    out.attrs["batch"] = batch
    if annotator is not None:
        out.attrs["new_annotator"] = bool(belief.new_annotator[0])
        if out.attrs["new_annotator"]:
            out.attrs["note"] = (f"annotator {annotator!r} is not known to the model: a new annotator with the "
                                 "population prior (adapt the model to their answers to update it)")
    return out
