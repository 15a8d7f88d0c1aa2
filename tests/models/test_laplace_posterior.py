"""Laplace draws through the profile into ``mp.aggregate(..., posterior=True)``."""

import numpy as np
import pytest

import mixpref as mp
from mixpref.aggregation.posterior import LotteryPosterior, aggregate_posterior


@pytest.fixture(scope="module")
def fitted():
    pop = mp.synthetic.population(n_types=2, n_annotators=40, comparisons_per_annotator=30, dim=8, n_prompts=6,
                                  responses_per_prompt=4, random_state=3)
    m = mp.MixtureBT(n_types=2, n_restarts=1, inference="laplace", n_samples=60).fit(pop.data, pop.features)
    return pop, m


def test_aggregate_posterior_flag_reaches_the_posterior_rule(fitted):
    pop, m = fitted
    prof = m.profile(pop.data, pop.features)
    assert prof.samples.shape[:3] == (60, 6, 2)
    post = mp.aggregate(prof, "borda", posterior=True, study=False)
    assert isinstance(post, LotteryPosterior) and post.n_draws == 60
    # the same numbers as calling the posterior rule directly (the hook adds nothing)
    direct = aggregate_posterior(prof, "borda", study=False)
    np.testing.assert_array_equal(post.draws, direct.draws)
    # each draw's lottery is the point rule applied to that draw's matrices (an independent path)
    s = 7
    one = mp.Profile(prof.samples[s], prof.weights, mask=prof.mask)
    np.testing.assert_allclose(post.draws[s], mp.aggregate(one, "borda", study=False).probs, atol=1e-12)
    # options pass through
    ml = mp.aggregate(prof, "maximal_lottery", posterior=True, study=False, method="lp")
    assert ml.metadata["options"]["method"] == "lp"


def test_posterior_without_draws_names_the_inference_that_gives_them(fitted):
    pop, _ = fitted
    m = mp.BradleyTerry().fit(pop.data, pop.features)
    prof = m.profile(pop.data, pop.features)
    with pytest.raises(mp.DataError, match="inference='svi', 'ensemble' or 'laplace'"):
        mp.aggregate(prof, "borda", posterior=True)
    # without posterior=True the point aggregation is untouched
    assert mp.aggregate(prof, "borda", study=False).probs.shape == (6, 4)


def test_laplace_draws_survive_save_and_load(fitted, tmp_path):
    pop, m = fitted
    m.save(tmp_path / "m")
    back = mp.load_model(tmp_path / "m")
    np.testing.assert_allclose(back.sample_rewards(10, pop.features, random_state=1),
                               m.sample_rewards(10, pop.features, random_state=1), rtol=1e-6)
