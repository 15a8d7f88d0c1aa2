"""fit(..., warm_start=previous): one more start beside the restarts; the best objective wins."""

import numpy as np
import pytest

import mixpref as mp


@pytest.fixture(scope="module")
def pop():
    return mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=16, dim=5, logit_sd=2.0,
                                   random_state=7)


def test_a_fit_warm_started_at_its_own_optimum_keeps_it(pop):
    best = mp.MixtureBT(n_types=2, n_restarts=4, random_state=0).fit(pop.data, pop.features, study=False)
    # one unlucky-or-not restart plus the optimum as a start: never below the optimum
    got = mp.MixtureBT(n_types=2, n_restarts=1, random_state=5).fit(pop.data, pop.features, study=False,
                                                                     warm_start=best)
    assert got.objective_ >= best.objective_ - 1e-7
    np.testing.assert_allclose(np.sort(got.weights_), np.sort(best.weights_), atol=1e-3)


def test_a_warm_start_that_does_not_fit_the_spec_is_ignored(pop):
    other = mp.synthetic.population(n_types=2, n_annotators=10, comparisons_per_annotator=10, dim=3, random_state=1)
    previous = mp.MixtureBT(n_types=2, random_state=0).fit(other.data, other.features, study=False)
    got = mp.MixtureBT(n_types=2, random_state=0).fit(pop.data, pop.features, study=False, warm_start=previous)
    plain = mp.MixtureBT(n_types=2, random_state=0).fit(pop.data, pop.features, study=False)
    assert got.warm_start_ is False
    assert got.objective_ == pytest.approx(plain.objective_, abs=1e-12)
    np.testing.assert_allclose(got.coef_, plain.coef_)


def test_warm_start_wins_only_by_a_better_objective(pop):
    plain = mp.MixtureBT(n_types=2, n_restarts=1, random_state=3).fit(pop.data, pop.features, study=False)
    best = mp.MixtureBT(n_types=2, n_restarts=6, random_state=0).fit(pop.data, pop.features, study=False)
    got = mp.MixtureBT(n_types=2, n_restarts=1, random_state=3).fit(pop.data, pop.features, study=False,
                                                                     warm_start=best)
    # the same seeded restart runs in both fits: the warm one can only add a better start
    assert got.objective_ >= plain.objective_ - 1e-9
    assert got.warm_start_ == (got.objective_ > plain.objective_)
    assert not hasattr(plain, "warm_start_")


def test_lowrank_accepts_a_warm_start_but_starts_from_its_own_corner(pop):
    from mixpref.models.lowrank import LowRankBT

    previous = LowRankBT(rank=2, random_state=0).fit(pop.data, pop.features, study=False)
    got = LowRankBT(rank=2, random_state=0).fit(pop.data, pop.features, study=False, warm_start=previous)
    assert got.warm_start_ is False
    assert got.objective_ == pytest.approx(previous.objective_, abs=1e-12)
