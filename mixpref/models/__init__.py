"""mixpref.models: preference models and their inference.

- ``bradley_terry``: :class:`BradleyTerry` (Davidson ties, Plackett–Luce rankings)
- ``policy_likelihood``: :class:`PolicyLikelihood` (r = log pi_theta(y|x), normaliser, policy)
- ``mixture``: :class:`Mixture`, :class:`MixtureBT`, :class:`MixturePL` (annotator types,
  the type enumerated exactly)
- ``inference``: MAP (LBFGS on the exact marginal; Adam; minibatches), SVI, ensembles
- ``selection``: :func:`select_n_types`
- ``persistence``: :func:`load_model` (``model.save`` writes safetensors + JSON)

Nothing heavy is imported here; ``import mixpref as mp; mp.MixtureBT`` loads what it needs.
"""
