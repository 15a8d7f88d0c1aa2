"""mixpref.dpo: the DPO backend.

Per-example losses of the likelihood/unlikelihood family (``loss``, ``LOSSES``), an exact
tabular-policy trainer for studies (``train_tabular``, also group-robust), a trainer for
small local causal LMs (``train_lm``), TRL's DPOTrainer with exact soft labels
(``SoftDPOTrainer``, ``train_with_trl``: the path to many GPUs with accelerate), a
population-and-rule reward for TRL's on-policy trainers (``PopulationReward``) and the
closed loop (``iterate``). Names load lazily, so ``import mixpref.dpo`` imports neither
transformers nor trl.

Examples
--------
>>> import mixpref as mp
>>> "sigmoid" in mp.dpo.LOSSES
True
"""

from importlib import import_module

_EXPORTS = {
    "loss": "mixpref.dpo.losses",
    "LOSSES": "mixpref.dpo.losses",
    "token_unlikelihood": "mixpref.dpo.losses",
    "train_tabular": "mixpref.dpo.tabular",
    "TabularPolicy": "mixpref.dpo.tabular",
    "train_lm": "mixpref.dpo.lm_trainer",
    "sequence_logprobs": "mixpref.dpo.lm_logprobs",
    "train_with_trl": "mixpref.dpo.trl_adapter",
    "tiny_causal_lm": "mixpref.dpo.tiny",
    "SoftDPOTrainer": "mixpref.dpo.soft_trainer",
    "check_trl_version": "mixpref.dpo.soft_trainer",
    "type_pairs": "mixpref.dpo.group_robust",
    "type_win_rates": "mixpref.dpo.group_robust",
    "GroupWeights": "mixpref.dpo.group_robust",
    "PairWinRates": "mixpref.dpo.group_robust",
    "PopulationReward": "mixpref.dpo.population_reward",
    "iterate": "mixpref.dpo.loop",
    "IterationResult": "mixpref.dpo.loop",
    "iterate_lm": "mixpref.dpo.loop_lm",
}

__all__ = list(sorted(_EXPORTS))


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mixpref.dpo' has no attribute {name!r}")


def __dir__():
    return __all__
