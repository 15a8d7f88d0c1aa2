"""What every fitted preference model is: parameters, fitting, per-type views, profiles, saving.

A single model is the one-type case of the same machinery, so Bradley–Terry, the
policy-likelihood model and their mixtures share one code path (``_engine``) and one set of
methods, and a mixture with ``n_types=1`` gives the same numbers as the single model.
How parameters are estimated (optimisers, restarts, SVI, ensembles, minibatches, type
alignment) lives in :mod:`mixpref.models.inference`; prediction in ``_predict``.
"""

from __future__ import annotations

import inspect
import time

import numpy as np
import pandas as pd
import torch

from .._device import resolve_device, resolve_dtype
from ..errors import DataError, NotFittedError
from ..events import emit
from . import _engine as E
from . import inference as I
from ._predict import PredictionMixin
from ._problem import build_problem, check_data, check_features
from ._registry import register

def draw_indices(stored, n, random_state):
    """Which of ``stored`` posterior draws to use, ``n`` of them: the one rule every reader of the draws shares,
    so that draws read separately (rewards, type weights) with the same seed are the same draws."""
    return np.random.default_rng(random_state).choice(int(stored), size=int(n), replace=int(n) > int(stored))


def stack_samples(samples):
    """Posterior draws as one tensor per parameter (draws first, on the CPU); None without draws."""
    if not samples:
        return None
    return {k: torch.stack([s[k].detach().cpu() for s in samples]) for k in samples[0]}


class PreferenceModel(PredictionMixin):
    """Base class: ``fit``, ``rewards``, ``predict_proba``, ``log_likelihood``, ``score``, ``profile``, ``save``.

    Subclasses provide ``_spec(data, features)`` (the model structure), ``_options()`` and
    their constructor arguments; a concrete subclass is registered by name for
    :func:`mixpref.load_model`. ``_type_axis`` says whether per-type outputs keep the type
    axis: False for a single model (no type axis), True for a mixture (always, even with
    one type); :meth:`_by_type` applies it to every per-type output.
    """

    _type_axis = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        register(cls)

    def __getattr__(self, name):
        # only reached when normal lookup fails: a fitted attribute (``weights_``) before fit
        if name.endswith("_") and not name.startswith("__") and "params_" not in self.__dict__:
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(data, features) first")
        prop = inspect.getattr_static(type(self), name, None)
        if isinstance(prop, property):
            # a property that raised AttributeError lands here: raise its own message again
            return prop.fget(self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

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
    def fit(self, data, features, study=None, warm_start=None):
        """Fit to ``data`` (a PreferenceData) with response ``features`` (a Features); returns self.

        ``study``: a :class:`mixpref.Study` (or one of its runs) to log the parameters, the
        training objective, the type weights and the time to; None logs to the active study
        if there is one, False logs nowhere. Logging never affects the fit.

        ``warm_start``: a fitted model of the same kind (e.g. the previous round's fit when
        labels arrive in batches) whose parameters are one more start beside the restarts; the
        start with the best training objective wins, so the previous fit wins only by fitting
        the new data better. ``warm_start_`` says whether it won (False when its parameters do
        not match this fit's, or the fit is minibatched).
        """
        opts = self._options()
        if opts["inference"] not in I.METHODS:
            raise DataError(f"inference: got {opts['inference']!r}, expected one of {tuple(I.METHODS)}")
        check_data(data)
        if len(data) == 0:
            raise DataError("data: no comparisons or rankings to fit")
        device = resolve_device(opts["device"])
        dtype = resolve_dtype(opts["dtype"])
        spec = self._spec(data, features)
        t0 = time.perf_counter()
        problem = build_problem(data, features, level=spec.level, device=device, dtype=dtype,
                                stream_bytes=opts.get("memory_budget"), design_cache=opts.get("design_cache"))
        init = None if warm_start is None else I.warm_params(getattr(warm_start, "params_", None), spec, problem)
        fit = I.run(spec, problem, opts, init=init)
        if warm_start is not None:
            fit.attributes.setdefault("warm_start_", False)
        self.spec_ = spec
        self._set_fitted(spec, fit.params, problem, data, fit.samples)
        self._record_fit(fit, t0)
        # computation never logs: an active mp.Study (or mp.autolog) observes this event
        emit("fit", model=self, study=study)
        return self

    def _record_fit(self, fit, t0):
        """The fit's extra attributes, objective, trace and seconds since ``t0`` (one process or distributed)."""
        for name, value in fit.attributes.items():
            setattr(self, name, value)
        self.objective_ = float(fit.objective)
        self.fit_trace_ = fit.trace
        self.fit_seconds_ = time.perf_counter() - t0

    def _set_fitted(self, spec, params, problem, data, samples=None):
        n_ann = len(data.annotators)
        # annotators of the data's table that have observations here (a split keeps the whole table)
        counts = np.bincount(problem.annotator[problem.annotator >= 0], minlength=n_ann)[:n_ann]
        seen = counts > 0
        if spec.n_types > 1:
            resp = E.responsibilities(spec, params, problem).double().cpu().numpy()
            resp = resp[:n_ann][seen] if spec.level == "annotator" else resp
        else:
            resp = np.ones((int(seen.sum()), 1))
        self._restore(
            spec, params, n_features_in=int(problem.dim),
            annotators=pd.Index(data.annotators)[seen] if n_ann else pd.Index([]), responsibilities=resp,
            samples=stack_samples(samples),
        )

    def _restore(self, spec, params, *, n_features_in, annotators, responsibilities, samples=None, objective=None):
        """Set the fitted state (from a fit, or from a saved model: ``persistence`` calls this)."""
        self.spec_ = spec
        self.params_ = {k: v.detach().cpu() for k, v in params.items()}
        self.n_features_in_ = int(n_features_in)
        self.annotators_ = pd.Index(annotators)
        self._resp = np.asarray(responsibilities, dtype=np.float64)
        self.posterior_samples_ = samples or None
        lw = E.log_weights(spec, self.params_, self.params_.get("theta", torch.zeros(1)))
        self.weights_ = torch.exp(lw).double().numpy()
        self._restore_common(objective)

    def _restore_common(self, objective):
        """Fitted views every model derives the same way from ``params_`` (tie, alpha, objective)."""
        if "tie" in self.params_:
            self.tie_ = np.exp(self.params_["tie"].double().numpy())
        if "alpha" in self.params_:
            self.alpha_ = self.params_["alpha"].double().numpy()
        if objective is not None:
            self.objective_ = objective

    # ------------------------------------------------------------------ fitted views
    def _check_fitted(self):
        if "params_" not in self.__dict__:
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(data, features) first")

    def _by_type(self, values, axis=0):
        """The one place that decides per-type output shapes: a single model drops the type axis
        (``axis``) of ``values``; a mixture keeps it, even with one type."""
        return values if self._type_axis else np.take(values, 0, axis=axis)

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
        return self._by_type(self.params_["theta"].double().numpy())

    def assign(self) -> pd.Series:
        """Most probable type of each training annotator."""
        r = self.responsibilities_
        return pd.Series(np.argmax(r.to_numpy(), axis=1), index=r.index, name="type")

    def _device(self):
        return resolve_device(self._options()["device"])

    def _params_on(self, problem, params=None):
        params = self.params_ if params is None else params
        return {k: v.to(device=problem.device, dtype=problem.dtype) for k, v in params.items()}

    def _check_features(self, features):
        check_features(features)
        dim = getattr(features, "dim", None)
        if dim is not None and dim != self.n_features_in_:
            raise DataError(f"features: dimension {dim}, but the model was fitted on {self.n_features_in_}")
        # a policy-likelihood model that learned alpha (so was fitted with alpha * logp_ref in its
        # reward) cannot drop that term at prediction time: every reward difference would change
        if self.spec_.learns_alpha and getattr(features, "logp_ref", None) is None:
            raise DataError(
                "features: no logp_ref, but the model was fitted with a learned alpha * logp_ref term in its "
                "reward; expected features with the reference log-probabilities it was fitted with"
            )

    def _problem(self, data, features, level="annotator"):
        self._check_fitted()
        self._check_features(features)
        return build_problem(data, features, level=level, device=self._device(), dtype=resolve_dtype(self._options()["dtype"]))

    def _type_rewards(self, features, params=None) -> np.ndarray:
        """(K, n) rewards of the responses in ``features`` under ``params`` (default: the fitted ones)."""
        dev, dt = self._device(), resolve_dtype(self._options()["dtype"])
        phi = torch.as_tensor(features.embeddings, device=dev, dtype=dt)
        lp = None if features.logp_ref is None else torch.as_tensor(features.logp_ref, device=dev, dtype=dt)
        params = self.params_ if params is None else params
        with torch.no_grad():
            r = E.rewards(self.spec_, {k: v.to(dev, dt) for k, v in params.items()}, phi, lp)
        return r.T.double().cpu().numpy()

    def rewards(self, features) -> np.ndarray:
        """Rewards of the responses in ``features`` (in its order): (n,) single, (K, n) mixture.

        For the policy-likelihood model these are the unnormalised log-policy values
        ``f(phi)/beta + alpha * logp_ref``; subtract :meth:`log_normalizer` to get
        ``log pi(y|x)``.
        """
        self._check_fitted()
        self._check_features(features)
        return self._by_type(self._type_rewards(features))

    def _sample_type_rewards(self, n, features, random_state=0) -> np.ndarray:
        """(n, K, n_responses) posterior draws of the rewards."""
        self._check_fitted()
        if self.posterior_samples_ is None:
            draws = ", ".join(repr(m) for m in I.METHODS if m != "map")
            raise DataError(f"sample_rewards: the model was fitted with inference='map'; use one of {draws}")
        self._check_features(features)
        stored = next(iter(self.posterior_samples_.values())).shape[0]
        idx = draw_indices(stored, n, random_state)
        return np.stack([self._type_rewards(features, {k: v[i] for k, v in self.posterior_samples_.items()})
                         for i in idx])

    def sample_rewards(self, n, features, random_state=0) -> np.ndarray:
        """``n`` posterior draws of the rewards: (n, n_responses) single, (n, K, n_responses) mixture.

        Needs ``inference="svi"``, ``"ensemble"`` or ``"laplace"``; draws are taken (with replacement when
        ``n`` exceeds the stored draws) from the samples kept at fit time.
        """
        return self._by_type(self._sample_type_rewards(n, features, random_state), axis=1)

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
        self._check_fitted()
        self._check_features(features)
        pos = features.positions(cand["response_id"])
        r = self._type_rewards(features)  # (K, n)
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
            s = self._sample_type_rewards(next(iter(self.posterior_samples_.values())).shape[0], features)
            samples = np.zeros((s.shape[0], len(prompts), K, M))
            samples[:, pcode, :, slot] = np.moveaxis(s[:, :, pos], 2, 0)
        return Profile.from_rewards(rew, self.weights_, candidates=candidates, prompts=prompts, mask=mask,
                                    reward_samples=samples, texts=_candidate_texts(data_or_candidates, cand))

    # ------------------------------------------------------------------ adaptation
    def adapt(self, new_data, features):
        """A copy that also knows the annotators of ``new_data`` (population frozen; see :mod:`.adapt`)."""
        from .adapt import adapt

        return adapt(self, new_data, features)

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the fitted model to the folder ``path`` (safetensors + JSON; no pickle)."""
        from .persistence import save_model

        return save_model(self, path)


def _candidate_texts(source, cand):
    """response_id -> readable text (or item name), so that lotteries show names, not hashes."""
    responses = getattr(source, "responses", None)
    table = responses if isinstance(responses, pd.DataFrame) else cand
    if "text" not in table.columns:
        return None
    return dict(zip(table["response_id"], table["text"]))


def _rank_within(codes):
    """Position of each element among the earlier elements with the same code."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    out = np.empty(len(codes), dtype=np.int64)
    out[order] = np.arange(len(codes)) - run_start
    return out
