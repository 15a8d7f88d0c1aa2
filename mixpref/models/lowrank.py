"""Low-rank persons: K shared basis rewards, each annotator a weight vector over them.

``LowRankBT(rank=K, weights="simplex")`` is mixed membership (PAL-style; a discrete mixture
is the corner of the simplex, single Bradley–Terry is rank 1); ``weights="free"`` gives each
person ``u_a ~ N(mu, s^2 I)`` around a learned population mean (LoRe-style). A person seen in
training is predicted with their own weights; a new person with the population, represented
by up to ``n_atoms`` weight vectors (the training persons' weights, or a sample of them), which is
also the prior :meth:`adapt` updates in closed form from a few of their comparisons.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import pandas as pd
import torch

from .._device import resolve_device, resolve_dtype
from ..errors import DataError
from ..events import emit
from . import _engine as E
from . import _lowrank_engine as L
from ._base import PreferenceModel
from ._options import resolve
from ._problem import build_problem, check_data, check_design_cache
from .bradley_terry import BradleyTerry
from .policy_likelihood import PolicyLikelihood
from ._lowrank_predict import LowRankPrediction

LEVELS = ("annotator", "observation")
INFERENCE = ("map", "svi")


class LowRankBT(LowRankPrediction, PreferenceModel):
    """Each annotator's reward is ``sum_k u_ak r_k`` over K basis rewards shared by everyone.

    Parameters
    ----------
    rank : int
        Number of basis reward functions K (linear or MLP on the features, as BradleyTerry).
    weights : {"simplex", "free"}
        ``"simplex"``: ``u_a`` on the simplex with a symmetric Dirichlet(``concentration``)
        prior (mixed membership); ``"free"``: ``u_a ~ N(mu, weight_scale^2 I)`` with ``mu``
        learned.
    level : {"annotator", "observation"}
        Whose weights: one vector per annotator, or per observation.
    concentration : float
        Dirichlet concentration of the simplex weights (MAP needs >= 1). The default 1.5
        keeps every person's MAP inside the simplex: with 1 (flat) a person whose data favour
        a face drives their logits to infinity, and the fit crawls (at N = 200k, 2k
        annotators: 240 LBFGS iterations at 1.0, 52 at 1.5, equal held-out likelihood).
    weight_scale : "auto" or float
        Prior standard deviation of free weights around the population mean; ``"auto"``:
        set by empirical Bayes (MacKay's fixed point; fitted value ``weight_scale_``), so
        that with no structure the persons fall back towards one model.
    n_atoms : int
        The population (the prior of a new person) is the training persons' weights, or a
        random sample of this many of them.
    **bt_options
        Options of the basis model (``reward``, ``hidden``, ``prior_scale``, ``ties`` and the
        inference options of :class:`mixpref.BradleyTerry`; ``inference`` is "map" or "svi").

    Attributes
    ----------
    basis_ : dict of tensors (the basis parameters)
    annotator_weights_ : DataFrame (annotators x K), original ids
    population_weights_ : ndarray (K,) (simplex: mean person; free: ``mu``)

    Examples
    --------
    >>> import mixpref as mp
    >>> from mixpref.models.lowrank import LowRankBT
    >>> pop = mp.synthetic.population(n_types=2, n_annotators=40, comparisons_per_annotator=40, dim=8)
    >>> m = LowRankBT(rank=2).fit(pop.data, pop.features)
    >>> m.rewards(pop.features).shape, m.annotator_weights_.shape
    ((2, 1000), (40, 2))
    >>> m.personal_rewards(pop.features, annotators=["a0", "a1"]).shape
    (2, 1000)
    """

    _base_class = BradleyTerry
    _type_axis = True

    def __init__(self, rank=2, weights="simplex", level="annotator", concentration=1.5, weight_scale="auto", n_atoms=256,
                 **bt_options):
        self.rank = rank
        self.weights = weights
        self.level = level
        self.concentration = concentration
        self.weight_scale = weight_scale
        self.n_atoms = n_atoms
        self.base_options = dict(bt_options)

    _own = ("rank", "weights", "level", "concentration", "weight_scale", "n_atoms")

    def get_params(self, deep=False):
        return {**{k: getattr(self, k) for k in self._own}, **self.base_options}

    def set_params(self, **params):
        base_names = set(self._base_class._param_names())
        for key, value in params.items():
            if key in self._own:
                setattr(self, key, value)
            elif key in base_names:
                self.base_options[key] = value
            else:
                raise ValueError(f"{type(self).__name__}: unknown parameter {key!r}")
        return self

    def _base_model(self):
        return self._base_class(**self.base_options)

    def _options(self):
        return resolve(self._base_model())

    def _lowrank_spec(self, basis: E.Spec, weight_scale=None) -> L.LowRankSpec:
        if weight_scale is None:
            weight_scale = 1.0 if self.weight_scale == "auto" else float(self.weight_scale)
        return L.LowRankSpec(basis=basis, weights=self.weights, concentration=float(self.concentration),
                             weight_scale=float(weight_scale))

    def _spec(self, data, features) -> L.LowRankSpec:
        if isinstance(self.rank, bool) or not isinstance(self.rank, (int, np.integer)) or self.rank < 1:
            raise DataError(f"rank: got {self.rank!r}, expected a positive integer")
        if self.weights not in L.WEIGHTS:
            raise DataError(f"weights: got {self.weights!r}, expected one of {L.WEIGHTS}")
        if self.level not in LEVELS:
            raise DataError(f"level: got {self.level!r}, expected one of {LEVELS}")
        if not (self.concentration >= 1):
            raise DataError(f"concentration: got {self.concentration!r}, expected a number >= 1 (the MAP of a "
                            "Dirichlet below 1 sits on the simplex's faces)")
        if self.weight_scale != "auto" and (isinstance(self.weight_scale, (bool, str)) or not self.weight_scale > 0):
            raise DataError(f"weight_scale: got {self.weight_scale!r}, expected 'auto' or a positive number")
        if isinstance(self.n_atoms, bool) or not isinstance(self.n_atoms, (int, np.integer)) or self.n_atoms < 1:
            raise DataError(f"n_atoms: got {self.n_atoms!r}, expected a positive integer")
        basis = self._base_model()._base_spec(data, features)
        basis.n_types = int(self.rank)
        basis.level = self.level
        return self._lowrank_spec(basis)

    # ------------------------------------------------------------------ fit
    def fit(self, data, features, study=None, warm_start=None):
        """Fit to ``data`` with response ``features``; returns self (see :meth:`PreferenceModel.fit`).

        ``warm_start`` is accepted as by every model, but the fit always starts from its own
        mixture corner (the persons' weights of an earlier fit belong to other annotators'
        data): with one, ``warm_start_`` is False.
        """
        opts = self._options()
        if opts["inference"] not in INFERENCE:
            raise DataError(f"inference: got {opts['inference']!r}, expected one of {INFERENCE} for {type(self).__name__}")
        if opts["batch_size"] is not None:
            # each person's weights are a local latent of their own: a minibatch step would have to
            # update (MAP) or amortise (SVI) them for its annotators only, which this fit does not do
            raise DataError(f"batch_size: got {opts['batch_size']!r}; {type(self).__name__} fits every annotator at "
                            "every step (per-person weights), expected batch_size=None")
        # checked like every model's; the low-rank fit keeps its design matrix resident (as it
        # ignores memory_budget): its engine indexes the response rewards directly
        check_design_cache(opts["design_cache"])
        check_data(data)
        if len(data) == 0:
            raise DataError("data: no comparisons or rankings to fit")
        lr = self._spec(data, features)
        device, dtype = resolve_device(opts["device"]), resolve_dtype(opts["dtype"])
        t0 = time.perf_counter()
        problem = build_problem(data, features, level=lr.basis.level, device=device, dtype=dtype)
        n_with_obs = int((problem.group_size > 0).sum())
        if lr.rank > n_with_obs:
            what = "annotators" if lr.basis.level == "annotator" else "observations"
            raise DataError(f"rank: got {lr.rank}, more basis functions than {what} with observations ({n_with_obs})")
        from ._lowrank_fit import fit_lowrank

        lr, params, objective, trace, samples, attributes = fit_lowrank(lr, problem, opts,
                                                                        auto_scale=self.weight_scale == "auto")
        person = L.group_weights(lr, params).detach()
        n_ann = len(data.annotators)
        if lr.basis.level == "annotator":
            counts = np.bincount(problem.annotator[problem.annotator >= 0], minlength=n_ann)[:n_ann]
            seen = np.flatnonzero(counts > 0)
            annotators = pd.Index(data.annotators)[seen]
            known = person[torch.as_tensor(seen, device=person.device)]
        else:
            annotators, known = pd.Index([]), person[:0]
        fitted = {k: v.detach() for k, v in params.items() if k not in ("eta", "u")}
        fitted["person_weights"] = known
        fitted.update(_atoms(person, int(self.n_atoms), opts["random_state"]))
        if lr.basis.level == "annotator":
            from ._lowrank_population import group_atom_loglik, npmle_log_weights

            gll = group_atom_loglik(lr, params, problem, fitted["atoms"].to(problem.device))
            has_obs = problem.group_size > 0
            # the LBFGS fit's stopping rule, 1e-7 nats per observation, as a change per group
            tol = 1e-7 * problem.n_obs / max(int(has_obs.sum()), 1)
            fitted["atom_logw"] = npmle_log_weights(gll[has_obs], tol=tol).to(fitted["atoms"].dtype).cpu()
        fitted["adapted_logpost"] = person.new_zeros((0, fitted["atoms"].shape[0]))
        fitted["weight_scale"] = torch.as_tensor(lr.weight_scale, dtype=person.dtype)
        self._restore(lr.basis, fitted, n_features_in=int(problem.phi.shape[1]), annotators=annotators,
                      responsibilities=known.double().cpu().numpy(), samples=samples)
        for name, value in attributes.items():
            setattr(self, name, value)
        self.objective_ = float(objective)
        self.fit_trace_ = trace
        self.fit_seconds_ = time.perf_counter() - t0
        if warm_start is not None:
            self.warm_start_ = False
        emit("fit", model=self, study=study)
        return self

    def _restore(self, spec, params, *, n_features_in, annotators, responsibilities, samples=None, objective=None):
        """Set the fitted state (from a fit or from a saved model)."""
        self.spec_ = spec
        scale = params.get("weight_scale")
        self.lowrank_spec_ = self._lowrank_spec(spec, None if scale is None else float(scale))
        self.weight_scale_ = self.lowrank_spec_.weight_scale
        self.params_ = {k: v.detach().cpu() for k, v in params.items()}
        self.n_features_in_ = int(n_features_in)
        self.annotators_ = pd.Index(annotators)
        self._resp = np.asarray(responsibilities, dtype=np.float64).reshape(len(self.annotators_), spec.n_types)
        self.posterior_samples_ = samples or None
        if self.weights == "free":
            self.weights_ = self.params_["mu"].double().numpy()
        else:
            w = self.params_["person_weights"].double().numpy()
            self.weights_ = w.mean(0) if len(w) else np.full(spec.n_types, 1.0 / spec.n_types)
        self._restore_common(objective)

    # ------------------------------------------------------------------ fitted views
    @property
    def basis_(self) -> dict:
        """The basis parameters (``theta`` (K, d) or the MLP's, ``tie``, ``alpha``)."""
        self._check_fitted()
        return {k: v for k, v in self.params_.items() if k in L.basis_shapes(self.lowrank_spec_, self.n_features_in_)}

    @property
    def annotator_weights_(self) -> pd.DataFrame:
        """Weights of every known annotator (trained on, then adapted), rows by original id."""
        self._check_fitted()
        return pd.DataFrame(self._resp, index=self.annotators_, columns=range(self.spec_.n_types))

    @property
    def population_weights_(self) -> np.ndarray:
        self._check_fitted()
        return self.weights_

    def personal_rewards(self, features, annotators=None) -> np.ndarray:
        """(A, n) rewards of the responses in ``features`` for each of ``annotators`` (default: all known)."""
        self._check_fitted()
        self._check_features(features)
        W = self._weights_of(annotators)
        return W @ self._type_rewards(features)

    def _weights_of(self, annotators):
        if annotators is None:
            return self._resp
        ids = list(annotators)
        pos = self.annotators_.get_indexer(pd.Index(ids))
        if (pos < 0).any():
            bad = ids[int(np.flatnonzero(pos < 0)[0])]
            raise DataError(f"annotators: {bad!r} is not known to the model (not in training and not adapted); "
                            "adapt the model to their comparisons first")
        return self._resp[pos]

    # ------------------------------------------------------------------ profiles
    def profile(self, data_or_candidates, features, voters="population", n_voters=100, random_state=0):
        """The population as voters over each prompt's candidates (a :class:`mixpref.Profile`).

        ``voters``: ``"population"`` (the atoms of the training persons' weights, weighted by
        their share), ``"annotators"`` (every known annotator, equal weight), ``"sample"``
        (``n_voters`` draws from the atoms, equal weight) or ``"basis"`` (the K basis rewards
        as a coarse view, weighted by the population weights; free weights: equally).
        """
        self._check_fitted()
        if voters == "basis":
            w = np.clip(self.weights_, 0, None) if self.weights == "simplex" else np.ones(self.spec_.n_types)
            W = np.eye(self.spec_.n_types)
        elif voters == "population":
            W = self.params_["atoms"].double().numpy()
            w = np.exp(self.params_["atom_logw"].double().numpy())
        elif voters == "annotators":
            if not len(self.annotators_):
                raise DataError("profile(voters='annotators'): the model knows no annotators (level='observation')")
            W, w = self._resp, np.ones(len(self._resp))
        elif voters == "sample":
            atoms = self.params_["atoms"].double().numpy()
            p = np.exp(self.params_["atom_logw"].double().numpy())
            rng = np.random.default_rng(random_state)
            W, w = atoms[rng.choice(len(atoms), size=int(n_voters), p=p / p.sum())], np.ones(int(n_voters))
        else:
            raise DataError(f"voters: got {voters!r}, expected 'population', 'annotators', 'sample' or 'basis'")
        # the base class builds the profile from per-"type" rewards and weights: hand it the
        # voters' rewards (the basis rewards under W, posterior draws of the basis included)
        view = copy.copy(self)
        base_rewards = self._type_rewards
        view._type_rewards = lambda feats, params=None: W @ base_rewards(feats, params)
        view.weights_ = w / w.sum()
        return PreferenceModel.profile(view, data_or_candidates, features)


def _atoms(person: torch.Tensor, n_atoms: int, seed) -> dict:
    """The population as weight atoms: every person, or a random sample of ``n_atoms`` of them.

    A sample of the persons is a Monte Carlo draw from the fitted population, equally
    weighted, and needs no fit: k-means centres (the first version) cost 1.6 s at 2,000
    persons, more than the low-rank polish itself.
    """
    P = person.detach()
    if P.shape[0] == 0:
        raise DataError("data: no annotator with observations to form the population from")
    if P.shape[0] > n_atoms:
        keep = np.sort(np.random.default_rng(int(seed)).choice(P.shape[0], size=n_atoms, replace=False))
        P = P[torch.as_tensor(keep)]
    return {"atoms": P.clone(), "atom_logw": torch.full((P.shape[0],), -float(np.log(P.shape[0])), dtype=P.dtype)}


class LowRankPL(LowRankBT):
    """Low-rank persons over policy-likelihood basis rewards (``LowRankBT`` with the base
    :class:`mixpref.PolicyLikelihood`: ``beta``, ``alpha`` and its other options).

    Examples
    --------
    >>> import mixpref as mp
    >>> from mixpref.models.lowrank import LowRankPL
    >>> pop = mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=30, dim=8)
    >>> LowRankPL(rank=2).fit(pop.data, pop.features).rewards(pop.features).shape
    (2, 1000)
    """

    _base_class = PolicyLikelihood
