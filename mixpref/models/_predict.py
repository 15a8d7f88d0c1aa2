"""Prediction from a fitted model: log-likelihoods, win/tie probabilities, type posteriors.

A mixture predicts an annotator seen in training with their posterior over types, a new
annotator sequentially (each observation given their earlier ones) or with the type weights.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from . import _engine as E


class PredictionMixin:
    """``log_likelihood``, ``score``, ``predict_proba``, ``predict_tie_proba``, ``type_posterior``."""

    def _posterior_log(self, data, problem):
        """(n_obs, K) log posterior type probabilities each observation is predicted with, and a mask
        of observations whose annotator is new (None for single models)."""
        K = self.spec_.n_types
        lw = np.log(np.clip(self.weights_, 1e-300, None))
        n = problem.n_obs
        logpost = np.tile(lw, (n, 1))
        new = np.zeros(n, dtype=bool)
        if K == 1 or self.spec_.level == "observation":
            return logpost, new
        ann = problem.annotator
        known = ann >= 0
        ids = np.asarray(data.annotators, dtype=object)
        train_pos = self.annotators_.get_indexer(ids) if len(ids) else np.zeros(0, dtype=np.int64)
        pos = np.full(n, -1)
        pos[known] = train_pos[ann[known]]
        seen = pos >= 0
        logpost[seen] = np.log(np.clip(self._resp[pos[seen]], 1e-300, None))
        new = known & ~seen
        return logpost, new

    def _obs_loglik(self, problem):
        with torch.no_grad():
            return E.obs_loglik(self.spec_, self._params_on(problem), problem).double().cpu().numpy()

    def log_likelihood(self, data, features, new_annotators="sequential") -> np.ndarray:
        """Log-likelihood of each observation (comparisons, then rankings).

        For a mixture, an observation of an annotator seen in training is predicted with that
        annotator's posterior over types. For an annotator not seen in training,
        ``new_annotators="sequential"`` predicts each observation from the posterior given
        that annotator's earlier observations in ``data`` (so the sum over an annotator is
        their exact marginal likelihood, and the mixture is credited for recognising a new
        annotator's type), ``"prior"`` uses the type weights. Observations without an
        annotator use the weights.
        """
        if new_annotators not in ("sequential", "prior"):
            raise DataError(f"new_annotators: got {new_annotators!r}, expected 'sequential' or 'prior'")
        problem = self._problem(data, features)
        ll = self._obs_loglik(problem)
        if self.spec_.n_types == 1:
            return ll[:, 0]
        logpost, new = self._posterior_log(data, problem)
        out = _logsumexp(logpost + ll, axis=1)
        if new_annotators == "sequential" and new.any():
            out[new] = _sequential(ll[new], problem.annotator[new], np.log(np.clip(self.weights_, 1e-300, None)))
        return out

    def score(self, data, features, new_annotators="sequential") -> float:
        """Mean log-likelihood per observation (see :meth:`log_likelihood`)."""
        return float(np.mean(self.log_likelihood(data, features, new_annotators=new_annotators)))

    def predict_proba(self, data, features) -> np.ndarray:
        """P(response_a preferred to response_b) for each comparison of ``data``.

        Mixtures average over the annotator's posterior type when the annotator was seen in
        training and over the type weights otherwise. With the Davidson tie model this is
        the probability that a wins outright (a tie has its own probability, :meth:`predict_tie_proba`).
        """
        p_a, _ = self._win_tie(data, features)
        return p_a

    def predict_tie_proba(self, data, features) -> np.ndarray:
        """P(tie) for each comparison (zero unless the model has a tie parameter)."""
        return self._win_tie(data, features)[1]

    def _win_tie(self, data, features):
        problem = self._problem(data, features)
        params = self._params_on(problem)
        with torch.no_grad():
            r = E.rewards(self.spec_, params, problem.phi, problem.logp_ref)
            d = (r[problem.a] - r[problem.b]).double()
            if self.spec_.ties == "davidson":
                log_nu = params["tie"].double().expand_as(d)
                half = 0.5 * d
                denom = torch.logsumexp(torch.stack([half, -half, log_nu]), dim=0)
                pa, pt = torch.exp(half - denom), torch.exp(log_nu - denom)
            else:
                pa, pt = torch.sigmoid(d), torch.zeros_like(d)
        logpost, _ = self._posterior_log(data, problem)
        post = np.exp(logpost[: problem.n_comparisons])
        return (post * pa.cpu().numpy()).sum(1), (post * pt.cpu().numpy()).sum(1)

    def type_posterior(self, new_data, features) -> pd.DataFrame:
        """Posterior over types of each annotator of ``new_data`` from their observations there.

        Rows: ``new_data.annotators`` (original ids); columns: types. Annotators with no
        observation in ``new_data`` get the type weights.
        """
        self._check_fitted()
        problem = self._problem(new_data, features)
        ll = self._obs_loglik(problem)
        n_ann = len(new_data.annotators)
        known = problem.annotator >= 0
        gll = np.zeros((n_ann, ll.shape[1]))
        np.add.at(gll, problem.annotator[known], ll[known])
        logp = gll + np.log(np.clip(self.weights_, 1e-300, None))
        post = np.exp(logp - _logsumexp(logp, axis=1)[:, None])
        return pd.DataFrame(post, index=pd.Index(new_data.annotators), columns=range(ll.shape[1]))


def _logsumexp(x, axis):
    from scipy.special import logsumexp

    return logsumexp(x, axis=axis)


def _sequential(ll, group, log_w):
    """Prequential log-likelihood: each observation given the same group's earlier ones (in order)."""
    order = np.argsort(group, kind="stable")
    g = group[order]
    x = ll[order]
    cum = np.cumsum(x, axis=0)
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    before = np.where(run_start[:, None] > 0, cum[np.maximum(run_start - 1, 0)], 0.0)
    incl = cum - before
    excl = incl - x
    terms = _logsumexp(log_w + incl, axis=1) - _logsumexp(log_w + excl, axis=1)
    out = np.empty(len(g))
    out[order] = terms
    return out
