import numpy as np
import pytest

import mixpref as mp


def test_population_matches_its_specification():
    pop = mp.synthetic.population(n_types=3, dim=32, n_annotators=300, comparisons_per_annotator=50, logit_sd=2.0, random_state=1)
    data, features, truth = pop
    assert len(data) == 15000 and features.dim == 32
    np.testing.assert_allclose(np.linalg.norm(features.embeddings, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(np.bincount(truth.annotator_types), [150, 90, 60])
    arr = data.arrays
    t = truth.annotator_types.to_numpy()[arr.annotator]
    logits = truth.rewards[t, arr.a] - truth.rewards[t, arr.b]
    assert abs(logits.std() - 2.0) < 0.15
    # labels follow the logits: agreement with the true sign well above chance
    agree = np.mean((logits > 0) == (arr.y == 1))
    assert 0.75 < agree < 0.95
    np.testing.assert_allclose(truth.rewards, truth.reward_vectors @ features.embeddings.T, atol=1e-5)


def test_seeded():
    a = mp.synthetic.population(dim=8, n_annotators=20, comparisons_per_annotator=5, random_state=7)
    b = mp.synthetic.population(dim=8, n_annotators=20, comparisons_per_annotator=5, random_state=7)
    np.testing.assert_array_equal(a.data.arrays.y, b.data.arrays.y)
    np.testing.assert_array_equal(a.features.embeddings, b.features.embeddings)


def test_ties_rankings_and_cycles():
    ties = mp.synthetic.population(dim=8, tie_rate=0.3, logit_sd=0.01, n_annotators=100, comparisons_per_annotator=50)
    assert abs(ties.data.summary().tie_rate - 0.3) < 0.03
    ranks = mp.synthetic.population(dim=8, ranking_size=4, n_annotators=10, comparisons_per_annotator=5)
    assert len(ranks.data.ranking_arrays) == 50 and ranks.data.ranking_arrays.items.shape[1] == 4
    cyc = mp.synthetic.population(condorcet_cycle=True, responses_per_prompt=3, dim=8, n_prompts=4,
                                  n_annotators=400, comparisons_per_annotator=60, logit_sd=4.0)
    assert len(cyc.data.summary().cyclic_prompts) == 4
    with pytest.raises(mp.DataError, match="condorcet_cycle"):
        mp.synthetic.population(condorcet_cycle=True)


def test_population_on_given_embeddings_keeps_them_and_scales_the_logits():
    rng = np.random.default_rng(0)
    # anisotropic "real-like" features: most variance in two directions
    emb = rng.standard_normal((8 * 5, 6)) * np.array([3.0, 2.0, 0.3, 0.3, 0.1, 0.1])
    pop = mp.synthetic.population(n_types=2, n_annotators=20, comparisons_per_annotator=30, n_prompts=8,
                                  responses_per_prompt=5, logit_sd=2.0, embeddings=emb, random_state=1)
    np.testing.assert_allclose(pop.features.embeddings, emb, rtol=1e-6)  # used as given (float32), not normalised
    assert pop.features.dim == 6 and pop.truth.reward_vectors.shape == (2, 6)
    np.testing.assert_allclose(pop.truth.rewards, (emb @ pop.truth.reward_vectors.T).T)
    # each type's logits between two responses of a prompt have sd logit_sd (the within-prompt scale)
    within = pop.truth.rewards.reshape(2, 8, 5)
    sd = np.sqrt(2.0) * within.std(axis=2, ddof=1).mean(axis=1)
    np.testing.assert_allclose(sd, 2.0, rtol=1e-12)
    with pytest.raises(mp.DataError, match=r"embeddings of shape \(39, 6\).*\(40, dim\)"):
        mp.synthetic.population(n_prompts=8, responses_per_prompt=5, embeddings=emb[:39])
    with pytest.raises(mp.DataError, match="finite"):
        mp.synthetic.population(n_prompts=8, responses_per_prompt=5, embeddings=np.where(emb > 5, np.nan, emb))
