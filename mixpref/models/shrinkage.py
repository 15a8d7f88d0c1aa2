"""Empirical Bayes for the shrinkage of a mixture's types towards the pooled model.

``MixtureBT(shrinkage="auto")`` gives each type's reward parameters a prior centred on
pooled parameters with deviation scale ``tau`` (:mod:`._shrinkage_prior`). Candidate scales
come from MacKay's evidence fixed point: at the MAP fit for the current ``tau``,
``tau^2 = |delta|^2 / gamma`` where ``delta`` are the types' deviations from their mean and
``gamma = sum h / (h + 1/tau^2)`` counts the deviation parameters the data determine
(``h``: the diagonal of the data's precision for each type's parameters). That fixed point
alone over-trusts the types when the signal is weak: the annotators' type assignments are
chosen to fit the noise, which inflates ``delta`` (measured: at logit sd 1 with no types it
settled at tau = 0.41 and predicted 0.013 nats worse than one model). So the scale is
chosen among the path's values and the pooled model (``tau`` -> 0) by the held-out
likelihood of two disjoint tenths of every annotator's comparisons (:func:`select_type_scale`);
the final fit uses all the data.

Examples
--------
>>> import mixpref as mp
>>> pop = mp.synthetic.population(n_types=2, n_annotators=40, comparisons_per_annotator=40, dim=8, logit_sd=3.0)
>>> m = mp.MixtureBT(n_types=2, shrinkage="auto").fit(pop.data, pop.features)
>>> bool(m.type_scale_ > 0.5)
True
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from ..errors import DataError
from . import _engine as E
from .inference import fit_map


def data_precision(spec: E.Spec, params: dict, problem) -> torch.Tensor:
    """(K, d): diagonal of each type's data precision for its linear reward, responsibility-weighted."""
    resp = E.responsibilities(spec, params, problem)  # (G, K)
    nc = problem.n_comparisons
    K, d = spec.n_types, problem.phi.shape[1]
    H = problem.phi.new_zeros((K, d))
    if nc == 0:
        return H
    phi = problem.phi / (spec.beta if spec.kind == "pl" else 1.0)
    with torch.no_grad():
        r = E.rewards(spec, params, problem.phi, problem.logp_ref)
        chunk = 20000
        for start in range(0, nc, chunk):
            sl = slice(start, min(start + chunk, nc))
            a, b = problem.a[sl], problem.b[sl]
            p = torch.sigmoid(r[a] - r[b])
            c = resp[problem.group[sl]] * p * (1 - p)  # (n, K)
            x = phi.index_select(0, a) - phi.index_select(0, b)
            H += c.T @ (x * x)
    return H


def evidence_type_scale(spec: E.Spec, problem, opts, max_iter=10, tol=0.02, keep=False):
    """MacKay's fixed point for the deviation scale; returns (tau, params at tau, path).

    ``path`` lists tau per iteration, or (tau, params) pairs with ``keep``.
    """
    if spec.reward != "linear":
        raise DataError(f"shrinkage='auto': needs reward='linear' (got {spec.reward!r}); pass a number instead")
    if spec.n_types < 2:
        return None, None, []
    s = float(spec.prior_scale) if spec.prior_scale is not None else 1.0
    tau = s
    fit_opts = dict(max_steps=opts["max_steps"], optimizer=opts["optimizer"], lr=opts["lr"])
    current = replace(spec, type_scale=tau)
    params, _ = fit_map(current, problem, n_restarts=opts["n_restarts"], random_state=opts["random_state"], **fit_opts)
    path = [(tau, params)]
    K = spec.n_types
    floor = 1e-4 * s
    for _ in range(int(max_iter)):
        with torch.no_grad():
            H = data_precision(current, params, problem).double()
            theta = params["theta"].double()
            delta2 = float(((theta - theta.mean(0)) ** 2).sum())
            gamma = (K - 1) / K * float((H / (H + 1.0 / tau**2)).sum())
        new = math.sqrt(delta2 / gamma) if gamma > 0 else tau
        new = max(new, floor)
        done = abs(new - tau) <= tol * tau or new <= floor
        tau = new
        current = replace(spec, type_scale=tau)
        params, _ = fit_map(current, problem, init=params, **fit_opts)
        path.append((tau, params))
        if done:
            break
    return tau, params, (path if keep else [t for t, _ in path])


def _heldout(spec, params, train, test):
    """Log-likelihood of each ``test`` observation given its group's type posterior from all of the
    group's other observations (training ones and the other held-out ones).

    Identifying an annotator's type from fewer comparisons than the final fit will see would
    bias the choice towards the pooled model exactly where types start to pay; only the type
    parameters are estimated without the held-out part.
    """
    with torch.no_grad():
        ll = E.obs_loglik(spec, params, test)
        if spec.n_types == 1:
            return ll[:, 0].double().cpu().numpy()
        gll = E.group_loglik(E.obs_loglik(spec, params, train), train)
        n_groups = max(train.n_groups, int(test.group.max()) + 1 if test.n_obs else 0)
        if gll.shape[0] < n_groups:
            gll = torch.cat([gll, gll.new_zeros((n_groups - gll.shape[0], gll.shape[1]))])
        gll = gll.index_add(0, test.group, ll)
        logw = E.log_weights(spec, params, gll)
        others = gll[test.group] - ll + logw  # the group's other observations
        post = others - torch.logsumexp(others, dim=1, keepdim=True)
        return torch.logsumexp(ll + post, dim=1).double().cpu().numpy()


def select_type_scale(spec: E.Spec, problem, opts, holdout=0.1, folds=2):
    """The deviation scale for ``shrinkage="auto"``: returns (tau, table of candidates and held-out scores).

    Candidates: the evidence path's scales, independent types (``tau`` None: the unshrunk
    mixture) and the pooled model (``tau`` near 0). ``folds`` disjoint held-out parts of ``holdout`` of every group's observations: on each,
    the evidence path is followed on the rest and every candidate scored on the part; the
    scores are pooled over parts. The candidate with the best held-out likelihood wins,
    unless its gain over the pooled model is within one standard error (paired over held-out
    observations): then the pooled model does, since a mixture that is not clearly better
    only adds variance. A small ``holdout`` keeps the fits close to the final fit's data
    size, which matters where types just start to be identifiable.
    """
    import numpy as np

    if spec.n_types < 2:
        return None, []
    rng = np.random.default_rng(int(opts["random_state"]))
    fold = np.full(problem.n_obs, -1)
    groups = problem.group_np
    for g in np.unique(groups):
        idx = rng.permutation(np.flatnonzero(groups == g))
        n_out = max(1, int(round(holdout * len(idx))))
        if len(idx) > folds * n_out:
            for f in range(folds):
                fold[idx[f * n_out:(f + 1) * n_out]] = f
    if (fold < 0).all():
        tau, _, path = evidence_type_scale(spec, problem, opts)
        return tau, [{"tau": t, "heldout": None, "gain_se": None} for t in path]
    single = replace(spec, n_types=1, type_scale=None)
    floor = 1e-3 * (float(spec.prior_scale) if spec.prior_scale is not None else 1.0)
    taus, scores, pooled = None, [], []
    for f in range(folds):
        train, test = problem.take(np.flatnonzero(fold != f)), problem.take(np.flatnonzero(fold == f))
        if taus is None:
            _, _, path = evidence_type_scale(spec, train, opts, keep=True)
            taus = [t for t, _ in path]
            fits = [p for _, p in path]
        else:  # the same candidates on the other part, each started from the first part's fit
            fits = [fit_map(replace(spec, type_scale=t), train, init=p, max_steps=opts["max_steps"],
                            optimizer=opts["optimizer"], lr=opts["lr"])[0] for t, p in zip(taus, fits)]
        scores.append([_heldout(replace(spec, type_scale=t), p, train, test) for t, p in zip(taus, fits)])
        # the unshrunk mixture (independent types), started from the path's first (loosest) fit
        p_free, _ = fit_map(spec, train, init=fits[0], max_steps=opts["max_steps"], optimizer=opts["optimizer"],
                            lr=opts["lr"])
        scores[-1].append(_heldout(spec, p_free, train, test))
        p1, _ = fit_map(single, train, max_steps=opts["max_steps"], optimizer=opts["optimizer"], lr=opts["lr"])
        pooled.append(_heldout(single, p1, train, test))
    pooled = np.concatenate(pooled)
    table = []
    for i, t in enumerate(taus + [None]):  # None: independent types (no shrinkage)
        v = np.concatenate([part[i] for part in scores])
        table.append({"tau": t, "heldout": float(v.mean()), "gain_se": float((v - pooled).std() / np.sqrt(len(v)))})
    table.append({"tau": floor, "heldout": float(pooled.mean()), "gain_se": 0.0})
    best = max(table[:-1], key=lambda row: row["heldout"])
    if best["heldout"] - table[-1]["heldout"] <= best["gain_se"]:
        best = table[-1]
    return best["tau"], table
