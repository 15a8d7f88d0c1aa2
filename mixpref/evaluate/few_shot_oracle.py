"""The Bayes oracle of few-shot adaptation: the generating model, a new person's exact posterior.

Where the data are synthetic the truth is known: the population's reward functions and the
prior over persons (discrete types and their weights, or a Dirichlet over basis rewards).
An oracle that knows it and sees ``s`` comparisons of a new person predicts the rest with the
exact posterior predictive, ``p(y | D_s) = sum_m p(m | D_s) p(y | m)`` over the prior's atoms
(the types; or, for a continuous prior, a large Monte Carlo sample of it, reweighted by the
likelihood of the ``s`` comparisons: self-normalised importance sampling from the prior).
No method can do better in expectation, so ``oracle(all shots) - oracle(s shots)`` is the part
of a few-shot gap that ``s`` answers cannot close, and ``true weights - oracle(s)`` what
knowing the person exactly would add.

Examples
--------
>>> import mixpref as mp
>>> from mixpref.evaluate.few_shot_oracle import Oracle
>>> from mixpref.evaluate.personalization import personalization
>>> pop = mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=30, dim=8, logit_sd=3.0)
>>> oracle = Oracle.from_truth(pop.truth, pop.data)
>>> t = personalization({"bt": mp.BradleyTerry}, pop.data, pop.features, shots=(0, 10), oracle=oracle)
>>> o = t[t.model == "Bayes oracle"].set_index(["split", "shots"]).log_likelihood
>>> bool(o["unseen annotators, few-shot", 10] > o["unseen annotators, few-shot", 0])
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_expit, logsumexp

from ..errors import DataError
from .personalization import ADAPTED_ALL, FEW_SHOT, summary_row

TRUE_WEIGHTS = "unseen annotators, true weights"
NAME = "Bayes oracle"


@dataclass
class Oracle:
    """A prior over persons as ``atom_rewards`` (M, n_responses) with log weights ``atom_logw`` (M,),
    and each annotator's true rewards ``person_rewards`` (A, n_responses), rows in the order of
    the data's annotator codes. Bradley–Terry comparisons (no ties)."""

    atom_rewards: np.ndarray
    atom_logw: np.ndarray
    person_rewards: np.ndarray

    @classmethod
    def from_truth(cls, truth, data, n_atoms=20000, random_state=0) -> "Oracle":
        """From the truth of :func:`mixpref.synthetic.population` (types) or of
        :func:`mixpref.data.synthetic_persons.persons` (Dirichlet weights over a basis)."""
        ids = list(data.annotators)
        if hasattr(truth, "annotator_types"):
            types = truth.annotator_types.reindex(ids).to_numpy()
            if np.isnan(types.astype(float)).any():
                raise DataError("oracle: an annotator of data has no true type in truth")
            R = np.asarray(truth.rewards, dtype=np.float64)
            with np.errstate(divide="ignore"):
                logw = np.log(np.asarray(truth.weights, dtype=np.float64))
            return cls(R, logw, R[types.astype(int)])
        if hasattr(truth, "annotator_weights"):
            U = truth.annotator_weights.reindex(ids).to_numpy()
            if np.isnan(U).any():
                raise DataError("oracle: an annotator of data has no true weights in truth")
            K = U.shape[1]
            atoms = np.random.default_rng(random_state).dirichlet(np.full(K, float(truth.concentration)), size=n_atoms)
            R = np.asarray(truth.rewards, dtype=np.float64)
            return cls(atoms @ R, np.full(n_atoms, -np.log(n_atoms)), U @ R)
        raise DataError(f"oracle: truth of type {type(truth).__name__}; expected a synthetic population's truth "
                        "(annotator_types or annotator_weights)")

    def _differences(self, arr, idx):
        """(M, len(idx)) reward differences of comparisons ``idx`` under each atom; Bradley–Terry labels only."""
        y = arr.y[idx]
        if np.any((y != 0) & (y != 1)):
            raise DataError("oracle: ties in the data; the oracle knows Bradley-Terry comparisons only")
        return self.atom_rewards[:, arr.a[idx]] - self.atom_rewards[:, arr.b[idx]]

    @staticmethod
    def _loglik(d, y):
        """(n, M) log-likelihood of labels ``y`` (n,) from differences ``d`` (M, n)."""
        return np.where(y == 1, log_expit(d), log_expit(-d)).T

    def predict(self, data, evaluation, adaptation):
        """Per comparison of ``evaluation``: log predictive and P(first wins), given each annotator's
        comparisons in ``adaptation`` (indices into ``data``'s comparisons)."""
        return self.predict_many(data, evaluation, [adaptation])[0]

    def predict_many(self, data, evaluation, adaptations):
        """:meth:`predict` for each of several ``adaptations``; the evaluation side is computed once."""
        arr = data.arrays
        ann = arr.annotator
        out = [(np.empty(len(evaluation)), np.empty(len(evaluation))) for _ in adaptations]
        for a in np.unique(ann[evaluation]):
            ev = np.flatnonzero(ann[evaluation] == a)
            d = self._differences(arr, evaluation[ev])  # (M, n_ev)
            le = self._loglik(d, arr.y[evaluation[ev]])  # (n_ev, M)
            win = 1.0 / (1.0 + np.exp(-d))
            for (out_ll, out_p), adaptation in zip(out, adaptations):
                ad = adaptation[ann[adaptation] == a]
                logpost = self.atom_logw + (self._loglik(self._differences(arr, ad), arr.y[ad]).sum(0)
                                            if len(ad) else 0.0)
                logpost = logpost - logsumexp(logpost)
                out_ll[ev] = logsumexp(le + logpost, axis=1)
                out_p[ev] = np.exp(logpost) @ win
        return out

    def known(self, data, evaluation):
        """Per comparison of ``evaluation``: log-likelihood and P(first wins) under the annotator's true rewards."""
        arr = data.arrays
        R = self.person_rewards
        d = R[arr.annotator[evaluation], arr.a[evaluation]] - R[arr.annotator[evaluation], arr.b[evaluation]]
        y = arr.y[evaluation]
        return np.where(y == 1, log_expit(d), log_expit(-d)), 1.0 / (1.0 + np.exp(-d))

    def rows(self, data, split, shots, n_all) -> list:
        """Rows for :func:`mixpref.evaluate.personalization`'s table: few-shot at each of ``shots``,
        adapted on all, and the true weights."""
        ev = split.evaluation
        arr = data.arrays

        def row(part, s, ll, p):  # the oracle's data have no ties (checked by predict)
            return summary_row(NAME, part, s, ll, p, arr.y[ev], arr.annotator[ev])

        *few, every = self.predict_many(data, ev, [split.adaptation(s) for s in shots] + [split.adaptation()])
        out = [row(FEW_SHOT, s, *pred) for s, pred in zip(shots, few)]
        out.append(row(ADAPTED_ALL, n_all, *every))
        out.append(row(TRUE_WEIGHTS, n_all, *self.known(data, ev)))
        return out
