"""Mixtures of annotator types: K copies of a base model, the type a latent variable summed out exactly."""

from __future__ import annotations

from ..errors import DataError
from . import _engine as E
from ._base import PreferenceModel
from ._options import inference_names, resolve
from .bradley_terry import BradleyTerry
from .policy_likelihood import PolicyLikelihood, PolicyMethods

LEVELS = ("annotator", "observation")


class Mixture(PolicyMethods, PreferenceModel):
    """A mixture of ``n_types`` preference types over a base model.

    Each type k has its own reward parameters (and tie / α parameters); types have weights
    ``w`` (symmetric Dirichlet prior). At ``level="annotator"`` every annotator has one
    type; at ``level="observation"`` every observation draws its own. The type is a
    discrete latent variable enumerated exactly (Pyro ``config_enumerate`` /
    ``TraceEnum_ELBO``): the fit maximises the exact marginal likelihood, not hard EM.
    Several restarts are run and the one with the best training objective kept; types are
    ordered by decreasing weight.

    Comparisons without an annotator id under ``level="annotator"`` are each treated as
    their own annotator (a type is inferred for each from its single observation); they do
    not appear in ``responsibilities_``.

    Parameters
    ----------
    base : BradleyTerry or PolicyLikelihood
        The per-type model; its options (reward head, prior, ties, inference, device, ...)
        are used.
    n_types : int
    level : {"annotator", "observation"}
    n_restarts : int
        Up to this many starts from k-means on annotators' score vectors (different seeds; a
        start that repeats an earlier partition is skipped); the best objective is kept.
    concentration : float
        Symmetric Dirichlet concentration on the weights (1: flat).
    shrinkage : None, "auto" or float
        None: independent types. A number ``tau``: each type's reward parameters are the
        pooled parameters plus a deviation with prior sd ``tau``. ``"auto"``: ``tau`` chosen from
        the data (empirical-Bayes candidates scored on held-out comparisons,
        :mod:`mixpref.models.shrinkage`; linear rewards), so that weak type structure falls
        back to one model; the value is ``type_scale_``. Not the default: on the
        mixture-recovery grid (studies/results/mixture_recovery) it never lost more than
        0.0008 nats to the unshrunk mixture or 0.0001 to single BT, but its fit takes about
        5x as long (two held-out folds of the evidence path) and needs linear rewards.
    inference, device, random_state, progress : optional
        Override the base's settings.

    Attributes
    ----------
    weights_ : ndarray (K,)
    responsibilities_ : DataFrame (annotators x K), indexed by the original annotator ids
    params_ : dict of tensors (fitted parameters)

    Examples
    --------
    >>> import mixpref as mp
    >>> pop = mp.synthetic.population(n_types=2, n_annotators=40, comparisons_per_annotator=40, dim=8)
    >>> m = mp.Mixture(mp.BradleyTerry(), n_types=2).fit(pop.data, pop.features)
    >>> m.rewards(pop.features).shape, m.responsibilities_.shape
    ((2, 1000), (40, 2))
    """

    def __init__(self, base=None, n_types=2, level="annotator", n_restarts=4, concentration=1.0, inference=None,
                 device=None, random_state=None, progress=None, shrinkage=None):
        self.base = base
        self.shrinkage = shrinkage
        self.n_types = n_types
        self.level = level
        self.n_restarts = n_restarts
        self.concentration = concentration
        self.inference = inference
        self.device = device
        self.random_state = random_state
        self.progress = progress

    def _base_model(self):
        base = self.base if self.base is not None else BradleyTerry()
        if not isinstance(base, (BradleyTerry, PolicyLikelihood)):
            raise DataError(f"base: expected a BradleyTerry or PolicyLikelihood, got {type(base).__name__}")
        return base

    def _options(self):
        # the mixture's constructor parameters named like an inference option override the base's
        base = self._base_model()
        names = set(inference_names(type(base)))
        return resolve(base, overrides={k: getattr(self, k) for k in Mixture._param_names() if k in names})

    def _spec(self, data, features) -> E.Spec:
        if not (isinstance(self.n_types, int) and self.n_types >= 1):
            raise DataError(f"n_types: got {self.n_types!r}, expected a positive integer")
        if self.level not in LEVELS:
            raise DataError(f"level: got {self.level!r}, expected one of {LEVELS}")
        if not (self.concentration > 0):
            raise DataError(f"concentration: got {self.concentration!r}, expected a positive number")
        spec = self._base_model()._base_spec(data, features)
        spec.n_types = int(self.n_types)
        spec.level = self.level
        spec.concentration = float(self.concentration)
        spec.type_scale = self._type_scale()
        return spec

    def _type_scale(self):
        if self.shrinkage is None or self.shrinkage == "auto":
            # "auto": the scale fit() estimated (None while it estimates)
            return self.__dict__.get("_auto_type_scale") if self.shrinkage == "auto" else None
        if isinstance(self.shrinkage, bool) or not isinstance(self.shrinkage, (int, float)) or not self.shrinkage > 0:
            raise DataError(f"shrinkage: got {self.shrinkage!r}, expected None, 'auto' or a positive number")
        return float(self.shrinkage)

    def fit(self, data, features, study=None, warm_start=None):
        """Fit (see :meth:`PreferenceModel.fit`); with ``shrinkage="auto"`` the deviation scale is
        first chosen (``type_scale_``; the candidates and their held-out scores in ``type_scale_path_``)."""
        self.__dict__.pop("_auto_type_scale", None)
        if self.shrinkage == "auto":
            from .._device import resolve_device, resolve_dtype
            from ._problem import build_problem, check_data
            from .shrinkage import select_type_scale

            opts = self._options()
            check_data(data)
            spec = self._spec(data, features)
            problem = build_problem(data, features, level=spec.level, device=resolve_device(opts["device"]),
                                    dtype=resolve_dtype(opts["dtype"]))
            tau, path = select_type_scale(spec, problem, opts)
            self._auto_type_scale = tau
            self.type_scale_path_ = path
        super().fit(data, features, study=study, warm_start=warm_start)
        # None: independent types (no shrinkage was chosen, or asked for)
        self.type_scale_ = self.spec_.type_scale
        return self

    # a mixture always returns per-type arrays, even with one type
    _type_axis = True


class MixtureBT(Mixture):
    """Mixture of Bradley–Terry types: ``Mixture(BradleyTerry(**bt_options), n_types, ...)``.

    Examples
    --------
    >>> import mixpref as mp
    >>> pop = mp.synthetic.population(n_types=2, n_annotators=40, comparisons_per_annotator=40, dim=8)
    >>> m = mp.MixtureBT(n_types=2, prior_scale=2.0).fit(pop.data, pop.features)
    >>> m.weights_.round(1).tolist()
    [0.6, 0.4]
    """

    _base_class = BradleyTerry

    def __init__(self, n_types=2, level="annotator", n_restarts=4, concentration=1.0, shrinkage=None, **bt_options):
        super().__init__(self._base_class(**bt_options), n_types=n_types, level=level, n_restarts=n_restarts,
                         concentration=concentration, shrinkage=shrinkage)
        self.base_options = dict(bt_options)

    def get_params(self, deep=False):
        return {"n_types": self.n_types, "level": self.level, "n_restarts": self.n_restarts,
                "concentration": self.concentration, "shrinkage": self.shrinkage, **self.base_options}

    def set_params(self, **params):
        """Set mixture or base-model options (scikit-learn convention, so grid searches work)."""
        base_names = set(self._base_class._param_names())
        own = {k: v for k, v in params.items() if k not in base_names}
        base = {k: v for k, v in params.items() if k in base_names}
        super().set_params(**own)
        if base:
            self.base_options.update(base)
            self.base = self._base_class(**self.base_options)
        return self


class MixturePL(MixtureBT):
    """Mixture of policy-likelihood types: ``Mixture(PolicyLikelihood(**pl_options), n_types, ...)``.

    Examples
    --------
    >>> import mixpref as mp
    >>> pop = mp.synthetic.population(n_types=2, n_annotators=40, comparisons_per_annotator=40, dim=8)
    >>> m = mp.MixturePL(n_types=2).fit(pop.data, pop.features)
    >>> m.rewards(pop.features).shape
    (2, 1000)
    """

    _base_class = PolicyLikelihood
