"""Per-type output shapes: a single model has no type axis, a mixture always has one (even K=1).

Checked for every per-type method and every inference method, and the values of a K=1
mixture equal the single model's (the shapes differ only by the type axis).
"""

import numpy as np
import pandas as pd
import pytest

import mixpref as mp

FAST = {"map": {}, "ensemble": {"n_members": 2}, "svi": {"svi_steps": 5, "n_samples": 3}}


@pytest.fixture(scope="module")
def pop():
    return mp.synthetic.population(n_types=2, n_annotators=12, comparisons_per_annotator=15, dim=4, random_state=1)


def _models(inference):
    opts = {"inference": inference, **FAST[inference]}
    return [
        (mp.BradleyTerry(**opts), None),
        (mp.PolicyLikelihood(**opts), None),
        (mp.MixtureBT(n_types=1, **opts), 1),
        (mp.MixtureBT(n_types=2, **opts), 2),
        (mp.MixturePL(n_types=1, **opts), 1),
    ]


@pytest.mark.parametrize("inference", ["map", "ensemble", "svi"])
def test_every_method_keeps_or_drops_the_type_axis(pop, inference):
    data, feats = pop.data, pop.features
    n, d = len(feats.ids), feats.dim
    for model, K in _models(inference):
        model.fit(data, feats)
        lead = () if K is None else (K,)
        name = f"{type(model).__name__}(K={K}, {inference})"
        assert model.rewards(feats).shape == lead + (n,), name
        assert model.coef_.shape == lead + (d,), name
        if inference == "map":
            with pytest.raises(mp.DataError, match="inference='map'"):
                model.sample_rewards(2, feats)
        else:
            assert model.sample_rewards(4, feats).shape == (4,) + lead + (n,), name
        if model.spec_.kind == "pl":
            logz = model.log_normalizer(data, feats)
            pol = model.policy(data, feats)
            if K is None:
                assert isinstance(logz, pd.Series) and "prob" in pol.columns, name
            else:
                assert isinstance(logz, pd.DataFrame) and list(logz.columns) == list(range(K)), name
                assert [c for c in pol.columns if c.startswith("prob")] == [f"prob_{k}" for k in range(K)], name


def test_one_type_mixture_equals_the_single_model_up_to_the_axis(pop):
    data, feats = pop.data, pop.features
    single = mp.BradleyTerry(inference="ensemble", n_members=2).fit(data, feats)
    mix = mp.MixtureBT(n_types=1, inference="ensemble", n_members=2).fit(data, feats)
    np.testing.assert_allclose(mix.rewards(feats)[0], single.rewards(feats), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mix.sample_rewards(3, feats)[:, 0], single.sample_rewards(3, feats), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mix.coef_[0], single.coef_, rtol=1e-5, atol=1e-6)
