"""The examples in the public docstrings run and print what they claim."""

import doctest
import importlib

import pytest

MODULES = [
    "mixpref",
    "mixpref.errors",
    "mixpref._io",
    "mixpref.data.conversation",
    "mixpref.data.preference_data",
    "mixpref.data.features",
    "mixpref.data.readers",
    "mixpref.data.datasets",
    "mixpref.data.synthetic",
    "mixpref.data.preflib",
    "mixpref.reporting",
    "mixpref._device",
    "mixpref.events",
    "mixpref.data.labels",
    "mixpref.data.validation",
    "mixpref.models.options",
    "mixpref.models.inference.batching",
    "mixpref.tracking.uris",
    "mixpref.tracking.values",
    "mixpref.tracking.failures",
    "mixpref.tracking.registry",
    "mixpref.tracking.observer",
    "mixpref.aggregation.registry",
    "mixpref.aggregation.rules",
    "mixpref.aggregation.profile",
    "mixpref.aggregation.lottery",
    "mixpref.aggregation.diagnostics",
    "mixpref.aggregation.selfplay",
    "mixpref.aggregation.kemeny",
    "mixpref.aggregation.posterior",
    "mixpref.aggregation.audit",
    "mixpref.aggregation.effective",
    "mixpref.evaluate.calibration",
    "mixpref.aggregation.lottery_io",
    "mixpref.cli.options",
    "mixpref.cli.runlog",
    "mixpref.cli.models",
    "mixpref.cli.aggregate",
    "mixpref.targets.reference",
    "mixpref.targets.dpo_pairs",
    "mixpref.targets.conservative",
    "mixpref.models.lowrank",
    "mixpref.models.adapt",
    "mixpref.models.shrinkage",
    "mixpref.data.synthetic_persons",
    "mixpref.evaluate.personalization",
    "mixpref.models._rows",
    "mixpref.features.cache",
    "mixpref.features.text_encoder",
    "mixpref.distributed.comm",
    "mixpref.distributed.shard",
    "mixpref.distributed.fitting",
    "mixpref.active.outcomes",
    "mixpref.active.objectives",
    "mixpref.active.suggest",
    "mixpref.active.simulate",
    "mixpref.active.refit",
    "mixpref.dpo.group_robust",
    "mixpref.dpo.soft_trainer",
    "mixpref.dpo.population_reward",
    "mixpref.dpo.loop",
    "mixpref.dpo.trl_adapter",
    "mixpref.dpo.tabular",
    "mixpref.dpo.losses",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
