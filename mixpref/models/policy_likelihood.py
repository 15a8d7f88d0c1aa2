"""The policy-likelihood (density-estimation) view of preferences.

The reward of a response is its log-probability under a policy over the prompt's responses,
``r(x, y) = log π_θ(y|x)``, ``π_θ(y|x) ∝ π_ref(y|x)^α · exp(f_θ(φ)/β)``. In any pairwise
probability the normaliser ``Z(x)`` cancels: the data never move the reward of a response
they do not contain, only the normaliser does (the "curse" of this view, which
:meth:`PolicyLikelihood.log_normalizer` and :meth:`PolicyLikelihood.policy` make visible).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from . import _engine as E
from ._base import PreferenceModel
from ._options import resolve, resolve_ties


class PolicyMethods:
    """The normaliser and the implied policy (for models whose base is the policy-likelihood model)."""

    def _candidate_rewards(self, data_or_candidates, features):
        self._check_fitted()
        if self.spec_.kind != "pl":
            raise DataError("log_normalizer/policy: only for policy-likelihood models (PolicyLikelihood, MixturePL)")
        cand = data_or_candidates.candidates() if hasattr(data_or_candidates, "candidates") else data_or_candidates
        if not isinstance(cand, pd.DataFrame) or not {"prompt_id", "response_id"} <= set(cand.columns):
            raise DataError("expected a PreferenceData or a DataFrame with columns 'prompt_id' and 'response_id'")
        self._check_features(features)
        r = self._type_rewards(features)  # (K, n)
        pos = features.positions(cand["response_id"])
        return cand.reset_index(drop=True), r[:, pos]

    def log_normalizer(self, data_or_candidates, features):
        """``log Z(x)`` of each prompt over its candidate responses: Series (single model) or DataFrame
        (a mixture: one column per type, even with one type)."""
        cand, r = self._candidate_rewards(data_or_candidates, features)
        prompts = pd.Index(pd.unique(cand["prompt_id"]))
        codes = torch.as_tensor(prompts.get_indexer(cand["prompt_id"]))
        logz = E.segment_logsumexp(torch.as_tensor(r.T), codes, len(prompts)).numpy()
        if not self._type_axis:
            return pd.Series(logz[:, 0], index=prompts, name="log_normalizer")
        return pd.DataFrame(logz, index=prompts, columns=range(logz.shape[1]))

    def policy(self, data_or_candidates, features) -> pd.DataFrame:
        """The implied distribution over each prompt's responses: [prompt_id, response_id, prob] (prob_k per type)."""
        cand, r = self._candidate_rewards(data_or_candidates, features)
        logz = self.log_normalizer(cand, features)
        z = np.asarray(logz.loc[cand["prompt_id"]]).reshape(len(cand), -1).T  # (K, n)
        probs = np.exp(r - z)
        out = cand[["prompt_id", "response_id"]].copy()
        if not self._type_axis:
            out["prob"] = probs[0]
        else:
            for k in range(probs.shape[0]):
                out[f"prob_{k}"] = probs[k]
        return out


class PolicyLikelihood(PolicyMethods, PreferenceModel):
    """Policy-likelihood preference model: ``r(x,y) = log π_θ(y|x)``.

    Parameters
    ----------
    beta : float
        Temperature: ``π_θ ∝ π_ref^α exp(f_θ(φ)/β)``.
    alpha : "learn" or float
        Weight of the reference policy's log-probability (``Features.logp_ref``); learned
        (flat prior) by default. Without ``logp_ref`` in the features, α plays no role.
    reward, hidden, prior_scale, ties, inference, ... :
        As in :class:`mixpref.BradleyTerry`.

    Notes
    -----
    :meth:`rewards` returns the unnormalised ``f_θ(φ)/β + α·logp_ref``; the normalised
    ``log π_θ(y|x)`` is that minus :meth:`log_normalizer` of the response's prompt.

    Examples
    --------
    >>> import mixpref as mp
    >>> pop = mp.synthetic.population(n_types=1, n_annotators=20, comparisons_per_annotator=30, dim=8)
    >>> pl = mp.PolicyLikelihood().fit(pop.data, pop.features)
    >>> pol = pl.policy(pop.data, pop.features)
    >>> round(float(pol.groupby("prompt_id")["prob"].sum().iloc[0]), 6)
    1.0
    """

    def __init__(self, beta=1.0, alpha="learn", reward="linear", hidden=64, prior_scale=1.0, ties="auto", *,
                 inference="map", optimizer="lbfgs", n_restarts=1, max_steps=None, lr=0.05, guide="normal",
                 svi_steps=1000, svi_lr=0.01, jit=False, n_samples=200, n_members=10, batch_size=None,
                 memory_budget=4e9, design_cache="auto",
                 dtype="float32", device="auto", progress=False, random_state=0):
        self.beta = beta
        self.alpha = alpha
        self.reward = reward
        self.hidden = hidden
        self.prior_scale = prior_scale
        self.ties = ties
        self.inference = inference
        self.optimizer = optimizer
        self.n_restarts = n_restarts
        self.max_steps = max_steps
        self.lr = lr
        self.guide = guide
        self.svi_steps = svi_steps
        self.svi_lr = svi_lr
        self.jit = jit
        self.n_samples = n_samples
        self.n_members = n_members
        self.batch_size = batch_size
        self.memory_budget = memory_budget
        self.design_cache = design_cache
        self.dtype = dtype
        self.device = device
        self.progress = progress
        self.random_state = random_state

    def _options(self):
        return resolve(self)

    def _base_spec(self, data, features) -> E.Spec:
        if not (isinstance(self.beta, (int, float)) and self.beta > 0):
            raise DataError(f"beta: got {self.beta!r}, expected a positive number")
        if self.alpha == "learn":
            alpha = "learn" if getattr(features, "logp_ref", None) is not None else 0.0
        else:
            try:
                alpha = float(self.alpha)
            except (TypeError, ValueError):
                raise DataError(f"alpha: got {self.alpha!r}, expected 'learn' or a number") from None
        return E.Spec(kind="pl", reward=self.reward, hidden=int(self.hidden),
                      prior_scale=None if self.prior_scale is None else float(self.prior_scale),
                      ties=resolve_ties(self.ties, data), beta=float(self.beta), alpha=alpha)

    def _spec(self, data, features) -> E.Spec:
        return self._base_spec(data, features)
