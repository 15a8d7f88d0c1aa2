"""mixpref: heterogeneous human-preference models, social-choice aggregation, DPO targets.

The public API is flat (``import mixpref as mp``) and loaded lazily, so that importing
mixpref, or using one stage, never imports the heavy frameworks another stage needs
(aggregation never imports transformers or mlflow).

Examples
--------
>>> import mixpref as mp
>>> pop = mp.synthetic.population(n_annotators=20, comparisons_per_annotator=10, dim=8)
>>> len(pop.data)
200
"""

from importlib import import_module

from ._version import __version__ as __version__

# public name -> module that defines it
_EXPORTS = {
    # data
    "DataError": "mixpref.errors",
    "NotFittedError": "mixpref.errors",
    "PreferenceData": "mixpref.data.preference_data",
    "Features": "mixpref.data.features",
    "read": "mixpref.data.readers",
    "read_preflib": "mixpref.data.preflib",
    "read_lottery": "mixpref.aggregation.lottery_io",
    "write_lottery": "mixpref.aggregation.lottery_io",
    "embed_file": "mixpref.features.embed_file",
    # features
    "TextEncoder": "mixpref.features.text_encoder",
    "SequenceScorer": "mixpref.features.sequence_scorer",
    "CachedFeatures": "mixpref.features.cache",
    # models
    "BradleyTerry": "mixpref.models.bradley_terry",
    "PolicyLikelihood": "mixpref.models.policy_likelihood",
    "Mixture": "mixpref.models.mixture",
    "MixtureBT": "mixpref.models.mixture",
    "MixturePL": "mixpref.models.mixture",
    "LowRankBT": "mixpref.models.lowrank",
    "LowRankPL": "mixpref.models.lowrank",
    "select_n_types": "mixpref.models.selection",
    "load_model": "mixpref.models.persistence",
    # aggregation
    "Profile": "mixpref.aggregation.profile",
    "Lottery": "mixpref.aggregation.lottery",
    "aggregate": "mixpref.aggregation.rules",
    "RULES": "mixpref.aggregation.rules",
    "compare_rules": "mixpref.aggregation.diagnostics",
    "rule_table": "mixpref.aggregation.registry",
    "LotteryPosterior": "mixpref.aggregation.posterior",
    "aggregate_posterior": "mixpref.aggregation.posterior",
    "audit": "mixpref.aggregation.audit",
    "effective_profile": "mixpref.aggregation.effective",
    "get_rule": "mixpref.aggregation.registry",
    # targets
    "to_dpo_pairs": "mixpref.targets.dpo_pairs",
    "resample_soft_labels": "mixpref.targets.dpo_pairs",
    "to_jsonl": "mixpref.targets.writers",
    "to_parquet": "mixpref.targets.writers",
    "to_trl_dataset": "mixpref.targets.writers",
    # active elicitation
    "suggest": "mixpref.active",
    # training
    "PopulationReward": "mixpref.dpo.population_reward",
    # tracking
    "Study": "mixpref.tracking",
    "autolog": "mixpref.tracking",
    "disable_autolog": "mixpref.tracking",
}

# public submodules reached as attributes: mp.datasets.load(...), mp.synthetic..., mp.dpo.loss(...)
_SUBMODULES = {
    "datasets": "mixpref.data.datasets",
    "synthetic": "mixpref.data.synthetic",
    "dpo": "mixpref.dpo",
    "evaluate": "mixpref.evaluate",
    "distributed": "mixpref.distributed",
    "active": "mixpref.active",
}

__all__ = list(sorted([*_EXPORTS, *_SUBMODULES, "__version__"]))


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = import_module(_SUBMODULES[name])
    else:
        raise AttributeError(f"module 'mixpref' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
