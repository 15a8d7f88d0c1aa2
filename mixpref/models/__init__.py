"""mixpref.models: preference models and their inference.

- ``bradley_terry``: :class:`BradleyTerry` (Davidson ties, Plackett–Luce rankings)
- ``policy_likelihood``: :class:`PolicyLikelihood` (r = log pi_theta(y|x), normaliser, policy)
- ``mixture``: :class:`Mixture`, :class:`MixtureBT`, :class:`MixturePL` (annotator types,
  the type enumerated exactly)
- ``inference``: MAP (LBFGS on the exact marginal; Adam; minibatches), SVI, ensembles,
  Laplace, type alignment; ``inference.run`` is what ``fit`` calls
- ``options``: :func:`inference_options` (the inference options, from ``BradleyTerry``'s
  signature and docstring), ``INFERENCE_DEFAULTS``
- ``lowrank``: :class:`LowRankBT`, :class:`LowRankPL` (K basis rewards, a weight vector per
  annotator; private parts in ``_lowrank_engine``, ``_lowrank_fit``, ``_lowrank_predict``)
- ``shrinkage``: empirical Bayes for a mixture's types shrunk towards the pooled model (the
  prior in ``_shrinkage_prior``)
- ``adapt``: :func:`adapt` (new annotators of a fitted model, population frozen)
- ``selection``: :func:`select_n_types`
- ``persistence``: :func:`load_model` (``model.save`` writes safetensors + JSON)
- private: ``_base`` (:class:`PreferenceModel`), ``_predict`` (log-likelihoods, type
  posteriors), ``_engine`` (the likelihood), ``_problem`` (data as tensors), ``_rows``
  (design matrices read block by block), ``_options`` (resolving options), ``_registry``
  (model classes by name, for loading)

Nothing heavy is imported here; ``import mixpref as mp; mp.MixtureBT`` loads what it needs.
"""
