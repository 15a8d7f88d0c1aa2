"""suggest on fitted models: the type objective finds disagreement; new annotators; bad input."""

import numpy as np
import pandas as pd
import pytest

import mixpref as mp
from mixpref.active import onboard, simulate, suggest, truth_pool


@pytest.fixture(scope="module")
def two_types():
    pop = mp.synthetic.population(n_types=2, weights=(0.5, 0.5), n_annotators=40, comparisons_per_annotator=40,
                                  dim=6, n_prompts=10, responses_per_prompt=6, random_state=0)
    model = mp.MixtureBT(n_types=2, n_restarts=2).fit(pop.data, pop.features)
    return pop, model


def test_type_objective_prefers_a_pair_on_which_the_true_types_disagree(two_types):
    pop, model = two_types
    table = suggest(model, pop.data, pop.features, n=5, objective="type", annotator="newcomer")
    pos = pop.features.positions
    ra, rb = pos(table["response_a"]), pos(table["response_b"])
    d = pop.truth.rewards[:, ra] - pop.truth.rewards[:, rb]  # (2 true types, 5)
    # the true types order the chosen pairs oppositely (what identifies the type)
    assert (np.sign(d[0]) != np.sign(d[1])).mean() >= 0.8
    pool = pop.data.comparisons
    pa, pb = pos(pool["response_a"]), pos(pool["response_b"])
    dd = pop.truth.rewards[:, pa] - pop.truth.rewards[:, pb]
    assert (np.sign(dd[0]) != np.sign(dd[1])).mean() < 0.7  # the pool at large is not like that


def test_new_annotator_is_said_so_and_gets_the_population_prior(two_types):
    pop, model = two_types
    table = suggest(model, pop.data, pop.features, n=3, objective="uncertainty", annotator="stranger")
    assert table["new_annotator"].all() and table.attrs["new_annotator"] and "population prior" in table.attrs["note"]
    known = suggest(model, pop.data, pop.features, n=3, objective="uncertainty", annotator="a0")
    assert not known["new_annotator"].any() and not known.attrs["new_annotator"]
    # readable texts and best first
    assert table["text_a"].str.startswith("response").all()
    assert list(table["rank"]) == [1, 2, 3]


def test_greedy_batch_spreads_over_prompts_and_avoids_duplicates(two_types):
    pop, model = two_types
    pool = pop.data.comparisons.drop(columns=["label", "annotator"])
    pool = pd.concat([pool, pool], ignore_index=True)  # every pair twice
    top = suggest(model, pool, pop.features, n=10, objective="type", batch="top")
    greedy = suggest(model, pool, pop.features, n=10, objective="type", batch="greedy")
    key = lambda t: set(map(frozenset, zip(t["response_a"], t["response_b"])))
    assert len(key(greedy)) == 10 and len(key(top)) < 10
    assert greedy["prompt_id"].nunique() >= top["prompt_id"].nunique()


def test_bad_input_is_a_data_error_naming_it(two_types):
    pop, model = two_types
    with pytest.raises(mp.DataError, match="reward.*posterior draws"):
        suggest(model, pop.data, pop.features, objective="reward")
    with pytest.raises(mp.DataError, match="decision.*posterior draws"):
        suggest(model, pop.data, pop.features, objective="decision")
    small = pop.data.comparisons.head(4)
    with pytest.raises(mp.DataError, match="n: got 5.*only 4"):
        suggest(model, small, pop.features, n=5, objective="type")
    bad = small.copy()
    bad.loc[2, "response_b"] = "ghost"
    with pytest.raises(mp.DataError, match="ghost"):
        suggest(model, bad, pop.features, n=1, objective="type")
    with pytest.raises(mp.DataError, match="objective"):
        suggest(model, small, pop.features, n=1, objective="vibes")


def test_reward_objective_with_posterior_draws_runs_on_bradley_terry():
    pop = mp.synthetic.population(n_types=1, n_annotators=10, comparisons_per_annotator=10, dim=4, n_prompts=5,
                                  responses_per_prompt=4)
    bt = mp.BradleyTerry(inference="ensemble", n_members=4).fit(pop.data, pop.features)
    for objective in ("reward", "decision"):
        table = suggest(bt, pop.data, pop.features, n=4, objective=objective)
        assert len(table) == 4 and (table["score"] >= 0).all()


def test_onboarding_and_simulate_loop(two_types):
    pop, model = two_types
    pool = truth_pool(pop, 60, annotators=["new"], types=[1], random_state=2)
    got = onboard(model, pool, pop.features, "new", 1, objective="type", max_questions=30)
    assert got["questions"] <= 30 and got["posterior"][-1] >= 0.95
    curve = simulate(mp.BradleyTerry(), truth_pool(pop, 80, random_state=3), pop.features, objective="random",
                     budget=40, step=20, test=pop.data)
    assert curve["n_labels"].tolist() == [20, 40] and curve["log_likelihood"].notna().all()


def test_lowrank_model_new_adapted_and_trained_annotators():
    from mixpref.models.lowrank import LowRankBT

    pop = mp.synthetic.population(n_types=2, weights=(0.5, 0.5), n_annotators=30, comparisons_per_annotator=30,
                                  dim=6, n_prompts=8, responses_per_prompt=5, random_state=1)
    train = pop.data.select(annotators=[f"a{i}" for i in range(25)])
    model = LowRankBT(rank=2, n_atoms=8).fit(train, pop.features)
    new = suggest(model, pop.data, pop.features, n=3, objective="type", annotator="stranger")
    assert new["new_annotator"].all() and (new["score"] > 0).all()
    # a trained person is one point hypothesis: nothing left to learn about them
    trained = suggest(model, pop.data, pop.features, n=3, objective="type", annotator="a0", batch="top")
    assert not trained["new_annotator"].any() and np.allclose(trained["score"], 0)
    adapted = model.adapt(pop.data.select(annotators=["a29"]), pop.features)
    after = suggest(adapted, pop.data, pop.features, n=3, objective="type", annotator="a29")
    assert not after["new_annotator"].any()


def test_linear_draws_are_the_models_own_posterior_draws(two_types):
    from mixpref.active.belief import belief_of

    pop, _ = two_types
    model = mp.MixtureBT(n_types=2, n_restarts=1, inference="laplace", n_samples=20).fit(pop.data, pop.features)
    belief = belief_of(model, pop.features, [None], n_draws=7, random_state=3, need_draws=True)
    np.testing.assert_allclose(belief.basis, model.sample_rewards(7, pop.features, random_state=3), atol=1e-4)
