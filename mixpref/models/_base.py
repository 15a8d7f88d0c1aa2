"""What every preference model shares: data plumbing, fitting, prediction, profiles, saving.

A single model is the one-type case of the same machinery, so Bradley–Terry, the
policy-likelihood model and their mixtures share one code path (``_engine``) and one set of
methods, and a mixture with ``n_types=1`` gives the same numbers as the single model.
"""

from __future__ import annotations

import inspect
import time

import numpy as np
import pandas as pd
import torch

from .._device import resolve_device, resolve_dtype
from ..errors import DataError
from ..events import emit
from . import _engine as E
from . import inference as I

INFERENCE = ("map", "svi", "ensemble")


def _check_data(data, what="data"):
    if not (hasattr(data, "arrays") and hasattr(data, "responses")):
        raise DataError(f"{what}: expected a mixpref.PreferenceData, got {type(data).__name__}")


def _check_features(features):
    if not (hasattr(features, "embeddings") and hasattr(features, "align")):
        raise DataError(f"features: expected a mixpref.Features, got {type(features).__name__}")


def build_problem(data, features, *, level="annotator", device="cpu", dtype=torch.float32, use_logp_ref=True):
    """Tensors for ``data`` with the rows of ``features`` aligned to ``data.responses``."""
    _check_data(data)
    _check_features(features)
    feats = features.align(data)
    arr = data.arrays
    rank = data.ranking_arrays
    prompt_codes = pd.Index(data.prompts["prompt_id"]).get_indexer(data.responses["prompt_id"])
    return E.Problem(
        phi=feats.embeddings,
        logp_ref=feats.logp_ref if use_logp_ref else None,
        response_prompt=prompt_codes,
        a=arr.a, b=arr.b, y=arr.y, annotator=arr.annotator,
        rank_items=rank.items if len(rank) else None,
        rank_annotator=rank.annotator if len(rank) else np.zeros(0, dtype=np.int64),
        n_annotators=len(data.annotators),
        level=level, device=device, dtype=dtype,
    )


class PreferenceModel:
    """Base class: ``fit``, ``rewards``, ``predict_proba``, ``log_likelihood``, ``score``, ``profile``, ``save``.

    Subclasses provide ``_spec(data)`` (the model structure) and their constructor arguments.
    """

    _n_types = 1
    _level = "annotator"

    # ------------------------------------------------------------------ sklearn-style params
    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self" and sig.parameters[p].kind != inspect.Parameter.VAR_KEYWORD]

    def get_params(self, deep=False) -> dict:
        """Constructor arguments (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        for key, value in params.items():
            if key not in self._param_names():
                raise ValueError(f"{type(self).__name__}: unknown parameter {key!r}")
            setattr(self, key, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ options (subclasses)
    def _options(self) -> dict:
        """Inference options: inference, n_restarts, max_steps, lr, optimizer, device, dtype, ..."""
        raise NotImplementedError

    def _spec(self, data, features) -> E.Spec:
        raise NotImplementedError

    # ------------------------------------------------------------------ fit
    def fit(self, data, features, study=None):
        """Fit to ``data`` (a PreferenceData) with response ``features`` (a Features); returns self.

        ``study``: a :class:`mixpref.Study` (or one of its runs) to log the parameters, the
        training objective, the type weights and the time to; None logs to the active study
        if there is one, False logs nowhere. Logging never affects the fit.
        """
        opts = self._options()
        if opts["inference"] not in INFERENCE:
            raise DataError(f"inference: got {opts['inference']!r}, expected one of {INFERENCE}")
        _check_data(data)
        if len(data) == 0:
            raise DataError("data: no comparisons or rankings to fit")
        device = resolve_device(opts["device"])
        dtype = resolve_dtype(opts["dtype"])
        spec = self._spec(data, features)
        if spec.level == "annotator" and spec.n_types > 1 and opts.get("require_annotators", False) and not data.has_annotators:
            raise DataError("level='annotator': the data has no annotator column")
        t0 = time.perf_counter()
        problem = build_problem(data, features, level=spec.level, device=device, dtype=dtype)
        batch = self._batch_groups(problem, spec, opts)
        trace = I.FitTrace()
        params, objective = I.fit_map(
            spec, problem, n_restarts=opts["n_restarts"], max_steps=opts["max_steps"], optimizer=opts["optimizer"],
            lr=opts["lr"], random_state=opts["random_state"], progress=opts["progress"], batch_groups=batch, trace=trace,
        )
        params = I.order_types(spec, params)
        samples = None
        if opts["inference"] == "svi":
            guide, params_med, losses = I.fit_svi(
                spec, problem, params, guide=opts["guide"], steps=opts["svi_steps"], lr=opts["svi_lr"],
                progress=opts["progress"], random_state=opts["random_state"], jit=opts["jit"],
            )
            samples = I.guide_samples(spec, guide, opts["n_samples"], random_state=opts["random_state"])
            params = params_med
            self.svi_losses_ = np.asarray(losses)
        elif opts["inference"] == "ensemble":
            samples = self._bootstrap(spec, problem, params, opts, batch)
        self.spec_ = spec
        self._set_fitted(spec, params, problem, data, features, samples)
        self.objective_ = float(objective)
        self.fit_trace_ = trace
        self.fit_seconds_ = time.perf_counter() - t0
        # computation never logs: an active mp.Study (or mp.autolog) observes this event
        emit("fit", model=self, study=study)
        return self

    def _batch_groups(self, problem, spec, opts):
        """Annotators per minibatch when the full batch would exceed the memory budget, else None."""
        if opts.get("batch_size"):
            return int(opts["batch_size"])
        budget = opts.get("memory_budget")
        if not budget:
            return None
        bytes_per = 4 if problem.dtype == torch.float32 else 8
        # rough: ~16 live (n_obs, K) tensors in the forward and backward pass
        need = 16 * problem.n_obs * spec.n_types * bytes_per
        if need <= budget:
            return None
        n_batches = int(np.ceil(need / budget))
        return max(1, problem.n_groups // n_batches)

    def _bootstrap(self, spec, problem, params, opts, batch_groups=None):
        """Bootstrap over groups (annotators): one MAP fit per resample, started at the full fit,
        with the fit's own optimiser, learning rate and minibatches."""
        rng = np.random.default_rng(opts["random_state"])
        members = []
        it = range(opts["n_members"])
        if opts["progress"]:
            from tqdm.auto import tqdm

            it = tqdm(it, desc="ensemble", leave=False)
        for _ in it:
            groups = rng.integers(0, problem.n_groups, size=problem.n_groups)
            counts = np.bincount(groups, minlength=problem.n_groups)
            sub = _weighted_problem(problem, counts)
            p, _ = I.fit_map(spec, sub, max_steps=opts["max_steps"], optimizer=opts["optimizer"], lr=opts["lr"],
                             init=params, batch_groups=batch_groups)
            members.append(_align_types(spec, params, p))
        return members

    def _set_fitted(self, spec, params, problem, data, features, samples=None):
        self.params_ = {k: v.detach().cpu() for k, v in params.items()}
        self.n_features_in_ = int(problem.phi.shape[1])
        # annotators of the data's table that have observations here (a split keeps the whole table)
        n_ann = len(data.annotators)
        counts = np.bincount(problem.annotator[problem.annotator >= 0], minlength=n_ann)[:n_ann]
        seen = counts > 0
        self.annotators_ = pd.Index(data.annotators)[seen] if n_ann else pd.Index([])
        lw = E.log_weights(spec, self.params_, self.params_.get("theta", torch.zeros(1)))
        self.weights_ = torch.exp(lw).double().numpy()
        self.posterior_samples_ = (
            None if samples is None else {k: torch.stack([s[k].detach().cpu() for s in samples]) for k in samples[0]}
        )
        if spec.n_types > 1:
            resp = E.responsibilities(spec, params, problem).double().cpu().numpy()
            if spec.level == "annotator":
                self._resp = resp[:n_ann][seen]
            else:
                self._resp = resp
        else:
            self._resp = np.ones((len(self.annotators_), 1))
        if "tie" in self.params_:
            self.tie_ = np.exp(self.params_["tie"].double().numpy())
        if "alpha" in self.params_:
            self.alpha_ = self.params_["alpha"].double().numpy()

    # ------------------------------------------------------------------ fitted views
    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise DataError(f"{type(self).__name__} is not fitted yet; call fit(data, features) first")

    @property
    def n_types_(self) -> int:
        self._check_fitted()
        return self.spec_.n_types

    @property
    def responsibilities_(self) -> pd.DataFrame:
        """Posterior type probabilities of each training annotator (rows: original annotator ids).

        Only annotators with observations in the training data appear (observations without
        an annotator id are their own annotators and are left out). At
        ``level="observation"`` the rows are the training observations, in data order.
        """
        self._check_fitted()
        if self.spec_.level == "observation":
            return pd.DataFrame(self._resp, columns=range(self.spec_.n_types))
        return pd.DataFrame(self._resp, index=self.annotators_, columns=range(self.spec_.n_types))

    @property
    def coef_(self) -> np.ndarray:
        """Linear reward vectors θ: (d,) for a single model, (K, d) for a mixture."""
        self._check_fitted()
        if "theta" not in self.params_:
            raise AttributeError("coef_ exists only for reward='linear'")
        theta = self.params_["theta"].double().numpy()
        return theta[0] if self.spec_.n_types == 1 and not getattr(self, "_always_types", False) else theta

    def assign(self) -> pd.Series:
        """Most probable type of each training annotator."""
        r = self.responsibilities_
        return pd.Series(np.argmax(r.to_numpy(), axis=1), index=r.index, name="type")

    def _device(self):
        return resolve_device(self._options()["device"])

    def _params_on(self, problem, params=None):
        params = self.params_ if params is None else params
        return {k: v.to(device=problem.device, dtype=problem.dtype) for k, v in params.items()}

    def _check_logp_ref(self, features):
        # a policy-likelihood model that learned alpha (so was fitted with alpha * logp_ref in its
        # reward) cannot drop that term at prediction time: every reward difference would change
        spec = self.spec_
        if spec.learns_alpha and getattr(features, "logp_ref", None) is None:
            raise DataError(
                "features: no logp_ref, but the model was fitted with a learned alpha * logp_ref term in its "
                "reward; expected features with the reference log-probabilities it was fitted with"
            )

    def _problem(self, data, features, level="annotator"):
        self._check_fitted()
        feats_dim = features.dim if hasattr(features, "dim") else None
        if feats_dim is not None and feats_dim != self.n_features_in_:
            raise DataError(f"features: dimension {feats_dim}, but the model was fitted on {self.n_features_in_}")
        self._check_logp_ref(features)
        return build_problem(data, features, level=level, device=self._device(), dtype=resolve_dtype(self._options()["dtype"]))

    def rewards(self, features) -> np.ndarray:
        """Rewards of the responses in ``features`` (in its order): (n,) single, (K, n) mixture.

        For the policy-likelihood model these are the unnormalised log-policy values
        ``f(phi)/beta + alpha * logp_ref``; subtract :meth:`log_normalizer` to get
        ``log pi(y|x)``.
        """
        self._check_fitted()
        _check_features(features)
        if features.dim != self.n_features_in_:
            raise DataError(f"features: dimension {features.dim}, but the model was fitted on {self.n_features_in_}")
        self._check_logp_ref(features)
        dev, dt = self._device(), resolve_dtype(self._options()["dtype"])
        phi = torch.as_tensor(features.embeddings, device=dev, dtype=dt)
        lp = None if features.logp_ref is None else torch.as_tensor(features.logp_ref, device=dev, dtype=dt)
        with torch.no_grad():
            r = E.rewards(self.spec_, {k: v.to(dev, dt) for k, v in self.params_.items()}, phi, lp)
        r = r.T.double().cpu().numpy()
        return r[0] if self.spec_.n_types == 1 and not getattr(self, "_always_types", False) else r

    def sample_rewards(self, n, features, random_state=0) -> np.ndarray:
        """``n`` posterior draws of the rewards: (n, n_responses) single, (n, K, n_responses) mixture.

        Needs ``inference="svi"`` or ``"ensemble"``; draws are taken (with replacement when
        ``n`` exceeds the stored draws) from the samples kept at fit time.
        """
        self._check_fitted()
        if self.posterior_samples_ is None:
            raise DataError("sample_rewards: the model was fitted with inference='map'; use 'svi' or 'ensemble'")
        _check_features(features)
        if features.dim != self.n_features_in_:
            raise DataError(f"features: dimension {features.dim}, but the model was fitted on {self.n_features_in_}")
        self._check_logp_ref(features)
        stored = next(iter(self.posterior_samples_.values())).shape[0]
        rng = np.random.default_rng(random_state)
        idx = rng.choice(stored, size=int(n), replace=int(n) > stored)
        dev, dt = self._device(), resolve_dtype(self._options()["dtype"])
        phi = torch.as_tensor(features.embeddings, device=dev, dtype=dt)
        lp = None if features.logp_ref is None else torch.as_tensor(features.logp_ref, device=dev, dtype=dt)
        out = []
        with torch.no_grad():
            for i in idx:
                p = {k: v[i].to(dev, dt) for k, v in self.posterior_samples_.items()}
                out.append(E.rewards(self.spec_, p, phi, lp).T.double().cpu().numpy())
        out = np.stack(out)
        return out[:, 0] if self.spec_.n_types == 1 else out

    # ------------------------------------------------------------------ posteriors over types
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

    # ------------------------------------------------------------------ profiles
    def profile(self, data_or_candidates, features):
        """Per-type Bradley–Terry preference matrices over each prompt's candidates (a :class:`mixpref.Profile`).

        ``data_or_candidates`` is a PreferenceData (its ``candidates()``) or a DataFrame with
        ``prompt_id`` and ``response_id``. Models with posterior samples add ``samples``.
        """
        from ..aggregation.profile import Profile

        cand = data_or_candidates.candidates() if hasattr(data_or_candidates, "candidates") else data_or_candidates
        if not isinstance(cand, pd.DataFrame) or not {"prompt_id", "response_id"} <= set(cand.columns):
            raise DataError("profile: expected a PreferenceData or a DataFrame with columns 'prompt_id' and 'response_id'")
        pos = features.positions(cand["response_id"])
        r = self.rewards(features)
        r = r[None] if r.ndim == 1 else r  # (K, n)
        prompts = pd.Index(pd.unique(cand["prompt_id"]))
        pcode = prompts.get_indexer(cand["prompt_id"])
        counts = np.bincount(pcode, minlength=len(prompts))
        M = int(counts.max())
        slot = _rank_within(pcode)
        K = r.shape[0]
        rew = np.zeros((len(prompts), K, M))
        rew[pcode, :, slot] = r[:, pos].T
        mask = np.zeros((len(prompts), M), dtype=bool)
        mask[pcode, slot] = True
        candidates = np.full((len(prompts), M), None, dtype=object)
        candidates[pcode, slot] = cand["response_id"].to_numpy(dtype=object)
        samples = None
        if self.posterior_samples_ is not None:
            s = self.sample_rewards(next(iter(self.posterior_samples_.values())).shape[0], features)
            s = s[:, None] if s.ndim == 2 else s  # (S, K, n)
            samples = np.zeros((s.shape[0], len(prompts), K, M))
            samples[:, pcode, :, slot] = np.moveaxis(s[:, :, pos], 2, 0)
        return Profile.from_rewards(rew, self.weights_, candidates=candidates, prompts=prompts, mask=mask,
                                    reward_samples=samples)

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the fitted model to the folder ``path`` (safetensors + JSON; no pickle)."""
        from .persistence import save_model

        return save_model(self, path)


def _rank_within(codes):
    """Position of each element among the earlier elements with the same code."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    out = np.empty(len(codes), dtype=np.int64)
    out[order] = np.arange(len(codes)) - run_start
    return out


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


def _weighted_problem(problem, counts):
    """A copy of ``problem`` in which group g's observations count ``counts[g]`` times (bootstrap)."""
    sub = problem.subset_groups(np.flatnonzero(counts > 0))
    # repeat observations of groups drawn several times as separate groups
    reps = counts[sub.group_np]
    if (reps > 1).any():
        idx = np.repeat(np.arange(sub.n_obs), reps)
        copy_no = np.concatenate([np.arange(k) for k in reps])
        new_group = sub.group_np[idx] * (counts.max() + 1) + copy_no
        sub = sub.take(idx, new_group, renumber=True)
    else:
        sub = sub.take(np.arange(sub.n_obs), renumber=True)
    sub.level = "annotator"
    return sub


def _align_types(spec, reference, params):
    """Permute the types of ``params`` to best match ``reference`` (Hungarian on reward parameters)."""
    if spec.n_types == 1:
        return params
    from scipy.optimize import linear_sum_assignment

    name = "theta" if "theta" in params else "w2"
    a = reference[name].reshape(spec.n_types, -1).double().cpu().numpy()
    b = params[name].reshape(spec.n_types, -1).double().cpu().numpy()
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    _, perm = linear_sum_assignment(cost)
    perm_t = torch.as_tensor(perm, device=params[name].device)
    return {k: (v[perm_t] if v.ndim >= 1 and v.shape[0] == spec.n_types else v) for k, v in params.items()}
