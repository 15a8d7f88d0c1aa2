"""Prediction from a fitted low-rank person model.

A person seen in training is predicted with their own weights; an adapted person with their
posterior over the population's weight atoms; a new person with the atoms' weights
(``"prior"``) or sequentially, each observation given their earlier ones (the posterior over
atoms updated exactly, as a mixture does with its types).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from . import _lowrank_engine as L
from ._predict import _logsumexp, _sequential


class LowRankPrediction:
    """``log_likelihood``, ``predict_proba``, ``predict_tie_proba``, ``type_posterior`` for LowRankBT."""

    def _roles(self, data, problem):
        """Position of each observation's annotator among the known ones (-1: new) and the split point."""
        n = problem.n_obs
        pos = np.full(n, -1)
        ann = problem.annotator
        known = ann >= 0
        if self.spec_.level == "annotator" and known.any() and len(self.annotators_):
            ids = pd.Index(np.asarray(data.annotators, dtype=object))
            idx = self.annotators_.get_indexer(ids)
            pos[known] = idx[ann[known]]
        return pos, int(self.params_["person_weights"].shape[0])

    def log_likelihood(self, data, features, new_annotators="sequential") -> np.ndarray:
        """Log-likelihood of each observation (comparisons, then rankings).

        Annotators seen in training use their own weights; adapted ones their posterior over
        the population atoms; new ones the atoms given their earlier observations in ``data``
        (``new_annotators="sequential"``) or the atoms' weights (``"prior"``).
        """
        if new_annotators not in ("sequential", "prior"):
            raise DataError(f"new_annotators: got {new_annotators!r}, expected 'sequential' or 'prior'")
        problem = self._problem(data, features)
        lr, params = self.lowrank_spec_, self._params_on(problem)
        pos, n_train = self._roles(data, problem)
        own = (pos >= 0) & (pos < n_train)
        out = np.empty(problem.n_obs)
        with torch.no_grad():
            if own.any():
                W = torch.zeros((problem.n_obs, lr.rank), dtype=problem.dtype, device=problem.device)
                W[torch.as_tensor(own)] = params["person_weights"][torch.as_tensor(pos[own])]
                out[own] = L.obs_loglik_weights(lr, params, problem, W).double().cpu().numpy()[own]
            rest = np.flatnonzero(~own)
            if len(rest):
                la = L.obs_loglik_atoms(lr, params, problem.take(rest), params["atoms"]).double().cpu().numpy()
                logw = params["atom_logw"].double().cpu().numpy()
                p = pos[rest]
                adapted = p >= n_train
                if adapted.any():
                    post = params["adapted_logpost"].double().cpu().numpy()[p[adapted] - n_train]
                    out[rest[adapted]] = _logsumexp(post + la[adapted], axis=1)
                new = ~adapted
                grp = problem.annotator[rest]
                seq = new & (grp >= 0) if new_annotators == "sequential" and self.spec_.level == "annotator" else np.zeros_like(new)
                if seq.any():
                    out[rest[seq]] = _sequential(la[seq], grp[seq], logw)
                plain = new & ~seq
                if plain.any():
                    out[rest[plain]] = _logsumexp(logw + la[plain], axis=1)
        return out

    def _win_tie(self, data, features):
        problem = self._problem(data, features)
        lr, params = self.lowrank_spec_, self._params_on(problem)
        pos, n_train = self._roles(data, problem)
        pos = pos[: problem.n_comparisons]
        with torch.no_grad():
            r = L.basis_rewards(lr, params, problem.phi, problem.logp_ref)
            D = (r[problem.a] - r[problem.b]).double()
            atoms = params["atoms"].double()
            # weights over "voters": own weights (one column) or the atoms
            dm = D @ atoms.T
            logw = params["atom_logw"].double().expand_as(dm).clone()
            own = (pos >= 0) & (pos < n_train)
            adapted = pos >= n_train
            if adapted.any():
                logw[torch.as_tensor(adapted)] = params["adapted_logpost"].double()[torch.as_tensor(pos[adapted] - n_train)]
            pa, pt = _probs(lr, params, dm)
            post = torch.softmax(logw, dim=1)
            p_a, p_t = (post * pa).sum(1), (post * pt).sum(1)
            if own.any():
                W = params["person_weights"].double()[torch.as_tensor(pos[own])]
                oa, ot = _probs(lr, params, (D[torch.as_tensor(own)] * W).sum(1, keepdim=True))
                p_a[torch.as_tensor(own)], p_t[torch.as_tensor(own)] = oa[:, 0], ot[:, 0]
        return p_a.cpu().numpy(), p_t.cpu().numpy()

    def type_posterior(self, new_data, features) -> pd.DataFrame:
        """Posterior mean weights of each annotator of ``new_data`` given their observations there
        (the population atoms reweighted; annotators without observations get the population)."""
        self._check_fitted()
        problem = self._problem(new_data, features)
        logpost = atom_log_posterior(self, problem, len(new_data.annotators))
        mean = np.exp(logpost) @ self.params_["atoms"].double().numpy()
        return pd.DataFrame(mean, index=pd.Index(new_data.annotators), columns=range(self.spec_.n_types))


def atom_log_posterior(model, problem, n_annotators) -> np.ndarray:
    """(n_annotators, M) log posterior over the population atoms of each annotator code of ``problem``."""
    lr, params = model.lowrank_spec_, model._params_on(problem)
    with torch.no_grad():
        la = L.obs_loglik_atoms(lr, params, problem, params["atoms"]).double()
        known = torch.as_tensor(problem.annotator >= 0, device=la.device)
        gll = la.new_zeros((n_annotators, la.shape[1]))
        gll.index_add_(0, torch.as_tensor(problem.annotator, device=la.device)[known], la[known])
        return torch.log_softmax(gll + params["atom_logw"].double(), dim=1).cpu().numpy()


def _probs(lr, params, d):
    if lr.basis.ties == "davidson":
        log_nu = params["tie"].double().expand_as(d)
        half = 0.5 * d
        denom = torch.logsumexp(torch.stack([half, -half, log_nu]), dim=0)
        return torch.exp(half - denom), torch.exp(log_nu - denom)
    return torch.sigmoid(d), torch.zeros_like(d)
